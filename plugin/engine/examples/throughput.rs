//! Quick throughput check: the stratus corpus as NDJSON, repeated to N MB,
//! through `evaluate_batch` in 1 MiB blocks, with every rule of a directory.
//! The criterion benchmark (`benches/throughput.rs`) is the reference; this
//! is for profiling (`perf record`) and a fast look.
//!
//! ```text
//! cargo run --release -p sigil-engine --example throughput -- RULES_DIR CORPUS_DIR [MB]
//! ```

use std::path::{Path, PathBuf};
use std::time::Instant;

use sigil_engine::{Engine, Options, RuleSource, input};

fn files(dir: &Path, ext: &[&str], out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("a directory").flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| ext.iter().any(|e| x == *e)) {
            out.push(p);
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut rule_files = Vec::new();
    files(Path::new(&args[0]), &["yml", "yaml"], &mut rule_files);
    rule_files.sort();
    let sources: Vec<_> = rule_files
        .iter()
        .map(|p| RuleSource::new(p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let mut engine = Engine::load(
        &sources,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )
    .unwrap();
    let mut corpus = Vec::new();
    files(Path::new(&args[1]), &["json"], &mut corpus);
    corpus.sort();
    let mut one = Vec::new();
    for f in &corpus {
        let doc = std::fs::read(f).unwrap();
        for ev in input::document_events(&doc).unwrap() {
            input::minify_into(ev, &mut one);
            one.push(b'\n');
        }
    }
    let mb: usize = args.get(2).map_or(100, |s| s.parse().unwrap());
    let mut data = Vec::with_capacity(mb << 20);
    while data.len() < mb << 20 {
        data.extend_from_slice(&one);
    }
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    let (mut events, mut matched) = (0u64, 0u64);
    let start = Instant::now();
    let mut rest = &data[..];
    while !rest.is_empty() {
        let cut = rest.len().min(1 << 20);
        let cut = memchr_last_newline(&rest[..cut]).map_or(rest.len(), |i| i + 1);
        out.clear();
        events += engine.evaluate_batch(&rest[..cut], &mut out, &mut alerts) as u64;
        matched += out.len() as u64;
        rest = &rest[cut..];
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{:?}\n{} events ({} matched or failed), {:.1} MB in {:.3} s: {:.0} MB/s, {:.0} events/s",
        engine.stats(),
        events,
        matched,
        data.len() as f64 / 1e6,
        secs,
        data.len() as f64 / 1e6 / secs,
        events as f64 / secs
    );
}

fn memchr_last_newline(b: &[u8]) -> Option<usize> {
    b.iter().rposition(|&c| c == b'\n')
}
