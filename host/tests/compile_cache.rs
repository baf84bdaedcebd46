//! The compile cache: a second load is a hit; an entry that was tampered
//! with, truncated, or made by another wasmtime is compiled again and
//! replaced, never run; a directory others can write is not used.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sigil_engine::Options;
use sigil_host::compile_cache::CacheOutcome;
use sigil_host::{BUILTIN_COMPONENT, Detector, HostConfig, Plugin, run_to_vec};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sigil-cache-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn config(dir: &Path) -> HostConfig {
    HostConfig {
        compile_cache: Some(dir.to_path_buf()),
        ..HostConfig::default()
    }
}

/// The built-in pack over the sample through `plugin`: what it writes.
fn output(plugin: &Plugin) -> Vec<u8> {
    let session = plugin
        .session(&sigil_host::builtin_rules(), &Options::default())
        .unwrap();
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/data/sample.ndjson"
    ))
    .unwrap();
    run_to_vec(&mut Detector::Component(session), &sample)
        .unwrap()
        .0
}

fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
        .collect();
    v.sort();
    v
}

#[test]
fn second_load_is_a_hit_and_writes_the_same() {
    let d = dir("hit");
    let first = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_eq!(first.cache_outcome(), CacheOutcome::Stored);
    let mode = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700, "the cache directory is private");
    let second = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_eq!(second.cache_outcome(), CacheOutcome::Hit);
    assert_eq!(output(&first), output(&second));
    // Other engine settings (fuel instead of deadlines): another entry.
    let fuel = HostConfig {
        fuel: Some(Default::default()),
        ..config(&d)
    };
    assert_eq!(
        Plugin::new(BUILTIN_COMPONENT, fuel)
            .unwrap()
            .cache_outcome(),
        CacheOutcome::Stored
    );
    assert_eq!(entries(&d).len(), 2);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_tampered_or_foreign_entry_is_replaced_not_run() {
    let d = dir("tamper");
    let want = output(&Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap());
    let entry = entries(&d).pop().unwrap();
    let good = std::fs::read(&entry).unwrap();

    // One byte of code changed: the digest no longer matches.
    let mut bad = good.clone();
    let at = bad.len() / 2;
    bad[at] ^= 0x55;
    std::fs::write(&entry, &bad).unwrap();
    let p = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Replaced);
    assert_eq!(output(&p), want);
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        good,
        "the entry was rewritten"
    );

    // Truncated.
    std::fs::write(&entry, &good[..good.len() / 3]).unwrap();
    assert_eq!(
        Plugin::new(BUILTIN_COMPONENT, config(&d))
            .unwrap()
            .cache_outcome(),
        CacheOutcome::Replaced
    );

    // A sound digest over bytes no wasmtime made (as from another
    // version): wasmtime's own check refuses them.
    use sha2::Digest as _;
    let foreign = b"\0asm not a compiled artifact".to_vec();
    let mut entry_bytes = sha2::Sha256::digest(&foreign).to_vec();
    entry_bytes.extend_from_slice(&foreign);
    std::fs::write(&entry, &entry_bytes).unwrap();
    let p = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Replaced);
    assert_eq!(output(&p), want);
    std::fs::remove_dir_all(&d).unwrap();
}

#[test]
fn a_directory_others_can_write_is_not_used() {
    let d = dir("shared");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
    let p = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_eq!(p.cache_outcome(), CacheOutcome::Unused);
    assert!(entries(&d).is_empty());
    // Nor an entry others can write, in a private directory.
    std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).unwrap();
    assert_eq!(
        Plugin::new(BUILTIN_COMPONENT, config(&d))
            .unwrap()
            .cache_outcome(),
        CacheOutcome::Stored
    );
    let entry = entries(&d).pop().unwrap();
    std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
    let p = Plugin::new(BUILTIN_COMPONENT, config(&d)).unwrap();
    assert_ne!(p.cache_outcome(), CacheOutcome::Hit);
    std::fs::remove_dir_all(&d).unwrap();
}
