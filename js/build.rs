//! Embeds the built-in rule pack (`rules/cloud-compute/**/*.yml`, the pack
//! the `sigil` CLI and the Fluent Bit module embed, from the same files) so
//! that the npm package ships it inside its `.wasm` and fetches nothing.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest.parent().expect("js/ sits in the repository root");
    let dir = root.join("rules").join("cloud-compute");
    // Cargo scans a directory given to rerun-if-changed recursively.
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = Vec::new();
    collect_rules(&dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "{} holds no rule file", dir.display());
    let mut code = String::from("/// The built-in rule pack: (name, YAML text), sorted by name.\n");
    code.push_str("pub static BUILTIN_RULES: &[(&str, &str)] = &[\n");
    for file in &files {
        let name = Path::new("rules/cloud-compute").join(file.strip_prefix(&dir).unwrap());
        let name = name.to_string_lossy().replace('\\', "/");
        writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            file.display().to_string()
        )
        .unwrap();
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("builtin_rules.rs");
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
