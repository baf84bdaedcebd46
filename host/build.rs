//! Embeds the default plugin (`target/sigil.wasm`) and the built-in rule pack
//! (`rules/cloud-compute/**/*.yml`, the curated pack) into the host. Other
//! packs under `rules/` (the seeds' parity pack) are loaded with `--rules`.

use std::env;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest
        .parent()
        .expect("host/ sits in the repository root");

    let component = root.join("target").join("sigil.wasm");
    println!("cargo:rerun-if-changed={}", component.display());
    if !component.is_file() {
        panic!(
            "\n\n{} is missing: the host embeds the sigil component.\n\
             Build it first with `scripts/build-component` (or `scripts/setup` on a fresh machine).\n\n",
            component.display()
        );
    }
    println!(
        "cargo:rustc-env=SIGIL_COMPONENT_PATH={}",
        component.display()
    );

    let rules_dir = root.join("rules").join("cloud-compute");
    // Cargo scans a directory given to rerun-if-changed recursively.
    println!("cargo:rerun-if-changed={}", rules_dir.display());
    let mut files = Vec::new();
    if rules_dir.is_dir() {
        collect_rules(&rules_dir, &mut files);
    }
    files.sort();
    let mut code = String::from("/// The built-in rule pack: (name, YAML text), sorted by name.\n");
    code.push_str("pub static BUILTIN_RULES: &[(&str, &str)] = &[\n");
    for file in &files {
        let name = Path::new("rules/cloud-compute").join(file.strip_prefix(&rules_dir).unwrap());
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
