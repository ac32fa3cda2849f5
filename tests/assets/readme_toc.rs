//! The README's table of contents lists every section and subsection, in order, each linking
//! to its heading's anchor: the list is derived from the headings, so a stale one fails here.

use std::fs;

use crate::common::root;

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces as `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The `##` and `###` headings outside code fences, with their level, in order.
fn headings(text: &str) -> Vec<(usize, String)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let level = line.chars().take_while(|c| *c == '#').count();
        if !fenced && (2..=3).contains(&level) && line[level..].starts_with(' ') {
            out.push((level, line[level + 1..].to_string()));
        }
    }
    out
}

#[test]
fn the_readme_contents_list_every_section_in_order() {
    let readme = fs::read_to_string(root().join("README.md")).expect("README.md");
    let all = headings(&readme);
    assert_eq!(
        all.first().map(|(_, h)| h.as_str()),
        Some("Contents"),
        "the README's first section is its table of contents"
    );
    let contents_end = readme
        .find("\n## ")
        .and_then(|start| readme[start + 1..].find("\n## ").map(|e| start + 1 + e))
        .expect("a section after Contents");
    let contents = &readme[..contents_end];
    let link = regex::Regex::new(r"^( *)- \[([^\]]+)\]\(#([^)]+)\)$").expect("regex");
    let listed: Vec<(usize, String, String)> = contents
        .lines()
        .filter_map(|l| link.captures(l))
        .map(|c| (c[1].len() / 2 + 2, c[2].to_string(), c[3].to_string()))
        .collect();
    let want: Vec<(usize, String, String)> = all[1..]
        .iter()
        .map(|(level, h)| (*level, h.clone(), anchor(h)))
        .collect();
    assert_eq!(listed, want, "README Contents vs its headings");
    assert_eq!(
        all.get(1).map(|(_, h)| h.as_str()),
        Some("Try it in five minutes"),
        "the five-minute path comes first"
    );
}
