//! README.md's generated blocks, each between `<!-- BEGIN GENERATED: <name> … -->` and
//! `<!-- END GENERATED: <name> -->`; the prose around them is written by hand.
//!
//! - `iam-policy`: the least-privilege policy and its table, from every registered operation's
//!   [`Permission`]. Calls that only read go in the first statement; calls that change state
//!   (not idempotent: running a command on a phone) in a second one, so they can be left out.
//! - `metrics`: the metrics table, from every declared [`Family`]: the core's, each service's
//!   in registry order, then the self metrics.

use std::path::Path;

use huaweicloud_exporter::metrics::{Family, SELF_FAMILIES};
use huaweicloud_exporter::scrape::FAMILIES;
use huaweicloud_exporter::transport::{Operation, Permission};

use super::{read, replace_block, services, Generated};

/// The README.
const README: &str = "README.md";

/// README.md with its generated blocks rewritten.
pub fn generate(root: &Path) -> Result<Generated, String> {
    let text = read(root, README)?;
    let text = replace_block(&text, README, "iam-policy", &iam_policy(&operations()))?;
    let text = replace_block(&text, README, "metrics", &metrics_table(&families())?)?;
    Ok(Generated {
        path: README.into(),
        text,
    })
}

/// Every family the exporter serves: the core's, each service's, the self metrics.
pub fn families() -> Vec<&'static Family> {
    let own = services()
        .into_iter()
        .flat_map(|(_, s)| s.families().iter().copied());
    FAMILIES
        .iter()
        .copied()
        .chain(own)
        .chain(SELF_FAMILIES.iter().copied())
        .collect()
}

/// The metrics table: name, type, labels and help of each family; a name declared twice is
/// an error.
pub fn metrics_table(families: &[&'static Family]) -> Result<String, String> {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    let mut seen = std::collections::BTreeSet::new();
    for f in families {
        if !seen.insert(f.name) {
            return Err(format!("metric family {} is declared twice", f.name));
        }
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            f.name,
            f.kind.as_str(),
            f.labels.join(", "),
            // `<state>` would be read as an HTML tag.
            f.help
                .replace('|', "\\|")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ));
    }
    Ok(out)
}

/// Every operation of every registered service, in registry order.
pub fn operations() -> Vec<&'static Operation> {
    services()
        .into_iter()
        .flat_map(|(_, s)| s.operations().iter().copied())
        .collect()
}

/// The policy (a JSON block) and the table that explains each action.
pub fn iam_policy(ops: &[&'static Operation]) -> String {
    // action -> the permissions that name it, in first-seen order.
    let mut actions: Vec<(&str, Vec<&Permission>, bool)> = Vec::new();
    for op in ops {
        let Some(p) = &op.iam else { continue };
        match actions.iter_mut().find(|(a, _, _)| *a == p.action) {
            Some((_, perms, reads)) => {
                perms.push(p);
                *reads |= op.idempotent;
            }
            None => actions.push((p.action, vec![p], op.idempotent)),
        }
    }
    let list = |reads: bool| -> Vec<&str> {
        actions
            .iter()
            .filter(|(_, _, r)| *r == reads)
            .map(|(a, _, _)| *a)
            .collect()
    };
    // Written out rather than serialised: a reader expects `Version` first and `Effect` before
    // `Action`, and serde_json sorts keys.
    let statements: Vec<String> = [list(true), list(false)]
        .into_iter()
        .filter(|a| !a.is_empty())
        .map(|a| {
            let actions: Vec<String> = a
                .iter()
                .map(|x| format!("        {}", serde_json::Value::from(*x)))
                .collect();
            format!(
                "    {{\n      \"Effect\": \"Allow\",\n      \"Action\": [\n{}\n      ]\n    }}",
                actions.join(",\n")
            )
        })
        .collect();
    let mut out = format!(
        "```json\n{{\n  \"Version\": \"1.1\",\n  \"Statement\": [\n{}\n  ]\n}}\n```\n\n\
         | action | API | used by |\n|---|---|---|\n",
        statements.join(",\n")
    );
    for (action, perms, _) in &actions {
        let apis: Vec<String> = perms.iter().map(|p| format!("`{}`", p.api)).collect();
        let used: Vec<&str> = perms.iter().map(|p| p.used_by).collect();
        out.push_str(&format!(
            "| `{action}` | {} | {} |\n",
            apis.join(", "),
            used.join("; ")
        ));
    }
    out
}
