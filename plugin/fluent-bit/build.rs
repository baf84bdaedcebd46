//! Embeds the rule pack into the module: the built-in pack
//! (`rules/cloud-compute/**/*.yml`, as the `sigil` CLI embeds it), or the
//! rule files and directories listed in `SIGIL_RULES` (separated by `:`,
//! relative to the repository root),
//! so that a Fluent Bit operator can build a module with their own pack.
//! The module reads no file at run time.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest
        .parent()
        .and_then(Path::parent)
        .expect("plugin/fluent-bit/ sits two levels below the repository root");
    println!("cargo:rerun-if-env-changed=SIGIL_RULES");
    let mut files = Vec::new();
    match env::var("SIGIL_RULES") {
        Ok(list) if !list.trim().is_empty() => {
            for path in list.split(':').filter(|p| !p.is_empty()) {
                let path = PathBuf::from(path);
                let path = if path.is_absolute() {
                    path
                } else {
                    root.join(path)
                };
                assert!(
                    path.exists(),
                    "SIGIL_RULES names {}, which does not exist",
                    path.display()
                );
                println!("cargo:rerun-if-changed={}", path.display());
                let mut found = Vec::new();
                if path.is_dir() {
                    collect_rules(&path, &mut found);
                    found.sort();
                } else {
                    found.push(path.clone());
                }
                files.extend(found.into_iter().map(|f| (f.display().to_string(), f)));
            }
        }
        _ => {
            let dir = root.join("rules").join("cloud-compute");
            // Cargo scans a directory given to rerun-if-changed recursively.
            println!("cargo:rerun-if-changed={}", dir.display());
            let mut found = Vec::new();
            collect_rules(&dir, &mut found);
            found.sort();
            for file in found {
                let name = Path::new("rules/cloud-compute").join(file.strip_prefix(&dir).unwrap());
                files.push((name.to_string_lossy().replace('\\', "/"), file));
            }
        }
    }
    assert!(
        !files.is_empty(),
        "the rule pack to embed holds no rule file"
    );
    let mut code = String::from("/// The embedded rule pack: (name, YAML text).\n");
    code.push_str("static RULES: &[(&str, &str)] = &[\n");
    for (name, file) in &files {
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("rules.rs");
    fs::write(out, code).unwrap();
}

fn collect_rules(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rules(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
}
