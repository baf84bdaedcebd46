//! What the benchmarks share: where the shared material is, the Stratus
//! corpus as minified NDJSON, its cut into 1 MiB blocks, the rule files, and
//! a hash of the input. The engine's benches use it as `mod common;`, the
//! host's with `#[path]`, so both measure the very same bytes.

#![allow(dead_code)] // each bench uses a different part

use std::path::{Path, PathBuf};

use sigil_engine::RuleSource;

pub const MIB: usize = 1 << 20;

/// The third-party corpora and rules, `tests/data` of the repository (found
/// from the bench's crate upward, at the directory holding
/// `rust-toolchain.toml`); `SIGIL_SHARED_DIR` points at another folder of
/// that layout.
pub fn shared_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SIGIL_SHARED_DIR") {
        return PathBuf::from(dir);
    }
    let mut dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    while !dir.join("rust-toolchain.toml").is_file() {
        dir = dir.parent().expect("the bench sits inside the repository");
    }
    dir.join("tests/data")
}

/// `SIGIL_BENCH_MB`, else `default`, in bytes.
pub fn target_bytes(default_mib: usize) -> usize {
    match std::env::var("SIGIL_BENCH_MB") {
        Ok(v) => {
            v.parse::<usize>()
                .expect("SIGIL_BENCH_MB must be a whole number of MiB")
                * MIB
        }
        Err(_) => default_mib * MIB,
    }
}

/// The Stratus captures, sorted by file name.
pub fn stratus_files() -> Vec<PathBuf> {
    let dir = shared_dir().join("corpora/stratus-detonation-logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("json"))
        .collect();
    files.sort();
    files
}

/// Every event of the captures, minified, one per line, in file order; and
/// how many events that is.
pub fn stratus_ndjson(files: &[PathBuf]) -> (Vec<u8>, usize) {
    let mut out = Vec::new();
    let mut events = 0;
    for file in files {
        let bytes = std::fs::read(file).unwrap();
        for event in sigil_engine::input::document_events(&bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", file.display()))
        {
            sigil_engine::input::minify_into(event, &mut out);
            out.push(b'\n');
            events += 1;
        }
    }
    (out, events)
}

/// `ndjson` cut into blocks of about 1 MiB, each ending at a newline (as
/// the CLI's `Runner` cuts a stream).
pub fn blocks(ndjson: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < ndjson.len() {
        let want = (start + MIB).min(ndjson.len());
        let end = match memchr::memrchr(b'\n', &ndjson[start..want]) {
            Some(i) if want < ndjson.len() => start + i + 1,
            _ => want,
        };
        out.push((start, end));
        start = end;
    }
    out
}

/// Every `*.yml` / `*.yaml` under `dir`, recursively, sorted by path.
pub fn rule_sources(dir: &Path) -> Vec<RuleSource> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in
            std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yml" | "yaml")
            ) {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(dir, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            RuleSource::new(
                p.display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// A 64-bit FNV-1a hash, printed by the benches so that they can be seen to
/// read the same input.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
