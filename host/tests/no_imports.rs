//! The plugin component imports nothing: no WASI, no host function.

use std::path::PathBuf;
use std::process::Command;

fn component_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/sigil.wasm")
}

#[test]
fn wit_of_the_component_has_no_import() {
    let path = component_path();
    let out = Command::new("wasm-tools")
        .arg("component")
        .arg("wit")
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run wasm-tools ({e}): install it with scripts/setup"));
    assert!(
        out.status.success(),
        "wasm-tools component wit failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wit = String::from_utf8(out.stdout).unwrap();
    let imports: Vec<&str> = wit
        .lines()
        .filter(|l| l.trim_start().starts_with("import "))
        .collect();
    assert!(imports.is_empty(), "{} imports {imports:?}", path.display());
    assert!(
        wit.contains("export sigil:engine/detector"),
        "no detector export in:\n{wit}"
    );
}

#[test]
fn wasmtime_sees_no_import() {
    let engine = wasmtime::Engine::default();
    let wasm =
        std::fs::read(component_path()).expect("target/sigil.wasm: run scripts/build-component");
    let component = wasmtime::component::Component::new(&engine, &wasm).unwrap();
    assert_eq!(component.component_type().imports(&engine).count(), 0);
    // The same bytes are what the host embeds.
    assert_eq!(wasm, sigil_host::BUILTIN_COMPONENT);
    let plugin = sigil_host::Plugin::builtin(sigil_host::HostConfig::default()).unwrap();
    assert!(plugin.imports().is_empty());
}
