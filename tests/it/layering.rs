//! Modules point one way (the table in `src/lib.rs`): every `crate::<module>`
//! a module's code names must be one it may use. Reads the sources, so a new
//! upward dependency fails here, not in review.

use std::collections::BTreeSet;
use std::path::Path;

/// What each top-level module may use besides itself.
const ALLOWED: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("table", &[]),
    ("npy", &[]),
    ("device", &[]),
    ("lock", &[]),
    ("bundle", &["device"]),
    ("criteria", &[]),
    ("layer_file", &["npy"]),
    (
        "report",
        &["bundle", "criteria", "layer_file", "npy", "table"],
    ),
    ("data", &["util"]),
    ("layers", &["util", "device"]),
    ("models", &["layers", "util"]),
    (
        "train",
        &[
            "models", "layers", "bundle", "criteria", "data", "device", "util", "table", "lock",
        ],
    ),
    (
        "experiments",
        &[
            "train", "models", "layers", "bundle", "criteria", "data", "device", "util", "table",
            "lock",
        ],
    ),
    (
        "plots",
        &["train", "experiments", "report", "table", "util"],
    ),
    ("figures", &["plots", "train", "experiments", "report"]),
];

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Top-level modules named as `crate::name` (or `$crate::name`) outside comments.
fn uses(source: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        for (i, _) in code.match_indices("crate::") {
            let rest = &code[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            // Exported macros live at the crate root; count them for their module.
            let name = match name.as_str() {
                "show_tables" => "table".to_string(),
                "with_device" => "device".to_string(),
                _ => name,
            };
            if !name.is_empty() {
                found.insert(name);
            }
        }
    }
    found
}

#[test]
fn no_module_uses_one_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let rel = file.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if module == "bin" || module == "lib" || module == "prelude" {
            continue; // the CLI and the prelude sit on top; lib.rs only declares modules
        }
        let Some((_, allowed)) = ALLOWED.iter().find(|(m, _)| *m == module) else {
            problems.push(format!(
                "{}: module {module} is not in the table",
                rel.display()
            ));
            continue;
        };
        checked += 1;
        for used in uses(&std::fs::read_to_string(file).unwrap()) {
            if used != module && !allowed.contains(&used.as_str()) {
                problems.push(format!("{}: {module} uses crate::{used}", rel.display()));
            }
        }
    }
    assert!(checked > 30, "only {checked} files checked");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_checker_sees_a_use_and_ignores_comments() {
    let u = uses("use crate::train::Trainer; // crate::plots\n$crate::device::cpu()");
    assert_eq!(u.into_iter().collect::<Vec<_>>(), ["device", "train"]);
}
