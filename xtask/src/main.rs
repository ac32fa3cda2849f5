//! `cargo xtask`: the repository's own tasks (the rust-analyzer pattern).
//!
//! - `cargo xtask gen` writes the files derived from the code ([`gen`]);
//!   `cargo xtask gen --check` writes nothing and fails when one of them is stale.
//! - `cargo xtask alerts --config FILE` prints the alerting rules rendered with the parameters
//!   of FILE (each key it leaves out keeps the default of alerts/config.yml).

mod gen;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let result = match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["gen"] => gen::write(&root).map(|changed| {
            for path in &changed {
                println!("wrote {path}");
            }
            if changed.is_empty() {
                println!("every generated file is up to date");
            }
        }),
        ["gen", "--check"] => gen::stale(&root).and_then(|stale| {
            if stale.is_empty() {
                Ok(())
            } else {
                Err(format!(
                    "stale generated files (run `cargo xtask gen` and commit them): {}",
                    stale.join(", ")
                ))
            }
        }),
        ["alerts", "--config", file] => alerts(&root, file),
        _ => Err("usage: cargo xtask gen [--check] | cargo xtask alerts --config FILE".into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the rules rendered with the defaults overridden by `file`.
fn alerts(root: &Path, file: &str) -> Result<(), String> {
    let mut params =
        gen::alerts::config(&gen::read(root, gen::alerts::CONFIG)?, gen::alerts::CONFIG)?;
    let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
    for (k, v) in gen::alerts::config(&text, file)? {
        if !params.contains_key(&k) {
            return Err(format!(
                "{file}: unknown parameter {k}; {} has {:?}",
                gen::alerts::CONFIG,
                params.keys().collect::<Vec<_>>()
            ));
        }
        params.insert(k, v);
    }
    let (_, panels) = gen::dashboards::generate(root)?;
    print!("{}", gen::alerts::render(root, &params, file, &panels)?);
    Ok(())
}
