//! Throughput of the native engine on real CloudTrail, next to the reference
//! evaluator and to the floor any JSON-reading engine stands on.
//!
//! Input: the 35 Stratus Red Team captures (`tests/data/corpora`), each event
//! minified onto one line, the whole repeated until it reaches
//! `SIGIL_BENCH_MB` mebibytes (default 100). Rules: the 225 SigmaHQ cloud
//! rules (`tests/data/rules/sigmahq-cloud`). `SIGIL_SHARED_DIR` overrides
//! where the shared material is.
//!
//! Groups, each measured over the whole input (`Throughput::Bytes`):
//!
//! - `sigil`: `Engine::evaluate_batch` over 1 MiB NDJSON blocks.
//! - `rsigma`: `serde_json::from_slice::<Value>` per line, then
//!   `rsigma_eval::Engine::evaluate`, once with the 57 `product: aws` rules
//!   (like for like: sigil lets a CloudTrail event meet only those) and once
//!   with all 225.
//! - `baseline`: a newline scan with memchr (the cost of framing), and
//!   `serde_json::from_slice::<Value>` per line (the cost of a DOM parse).
//!
//! Before each benchmark one timed pass prints events/s and how many events
//! matched, so the engines can be checked against each other at a glance.
//! The component build is measured by the host, not here.
//!
//! Run: `cargo bench -p sigil-engine --bench throughput`
//! (`SIGIL_BENCH_MB=10` for a quick look).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use serde_json::Value;
use sigil_engine::{Engine, Options, RuleSource};

mod common;

use common::MIB;

/// The benchmark input and the rules, built once.
struct Corpus {
    /// NDJSON, `copies` times the minified Stratus corpus.
    ndjson: Vec<u8>,
    /// `ndjson` cut into blocks of about 1 MiB, each ending at a newline.
    blocks: Vec<(usize, usize)>,
    events: usize,
    rules: Vec<RuleSource>,
}

impl Corpus {
    fn build() -> Corpus {
        let shared = common::shared_dir();

        let files = common::stratus_files();
        let (one_copy, per_copy) = common::stratus_ndjson(&files);
        let copies = common::target_bytes(100).div_ceil(one_copy.len()).max(1);
        let ndjson = one_copy.repeat(copies);
        let blocks = common::blocks(&ndjson);

        let rules = common::rule_sources(&shared.join("rules/sigmahq-cloud"));
        eprintln!(
            "input: {} files, {per_copy} events, {} bytes per copy (FNV-1a {:016x}); \
             {copies} copies = {} events, {:.1} MiB in {} blocks; {} rule files",
            files.len(),
            one_copy.len(),
            common::fnv1a(&one_copy),
            per_copy * copies,
            ndjson.len() as f64 / MIB as f64,
            blocks.len(),
            rules.len(),
        );
        Corpus {
            events: per_copy * copies,
            ndjson,
            blocks,
            rules,
        }
    }

    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        sigil_engine::input::ndjson_events(&self.ndjson)
    }
}

/// rsigma-eval with the same rule files; `aws_only` keeps the rules whose
/// `logsource.product` is `aws`.
fn rsigma_engine(rules: &[RuleSource], aws_only: bool) -> rsigma_eval::Engine {
    let mut parsed = Vec::new();
    for source in rules {
        let collection = rsigma_parser::parse_sigma_yaml(&source.text)
            .unwrap_or_else(|e| panic!("rsigma cannot parse {}: {e}", source.name));
        parsed.extend(
            collection
                .rules
                .into_iter()
                .filter(|r| !aws_only || r.logsource.product.as_deref() == Some("aws")),
        );
    }
    let mut engine = rsigma_eval::Engine::new();
    let errors = engine.add_rules(parsed.iter());
    eprintln!(
        "rsigma ({}): {} rules, {} refused",
        if aws_only { "aws" } else { "all" },
        engine.rule_count(),
        errors.len()
    );
    engine
}

/// Times one pass of `run` (which returns how many events matched, if it
/// evaluates rules) and prints events/s and MiB/s.
fn one_pass(name: &str, corpus: &Corpus, run: impl FnOnce() -> Option<usize>) {
    let start = Instant::now();
    let matched = run();
    let secs = start.elapsed().as_secs_f64();
    let matched = match matched {
        Some(n) => format!("{n} of {} events matched, ", corpus.events),
        None => String::new(),
    };
    eprintln!(
        "{name}: {:.0} events/s, {:.1} MiB/s ({matched}one pass {secs:.2} s)",
        corpus.events as f64 / secs,
        corpus.ndjson.len() as f64 / MIB as f64 / secs,
    );
}

fn rsigma_pass(engine: &rsigma_eval::Engine, corpus: &Corpus) -> usize {
    let mut matched = 0;
    for line in corpus.lines() {
        let value: Value = serde_json::from_slice(line).unwrap();
        let event = rsigma_eval::JsonEvent::borrow(&value);
        matched += usize::from(!black_box(engine.evaluate(&event)).is_empty());
    }
    matched
}

fn sigil_pass(
    engine: &mut Engine,
    corpus: &Corpus,
    out: &mut Vec<sigil_engine::BatchEntry>,
) -> usize {
    let mut matched = 0;
    let mut alerts = Vec::new();
    for &(start, end) in &corpus.blocks {
        out.clear();
        alerts.clear();
        black_box(engine.evaluate_batch(&corpus.ndjson[start..end], out, &mut alerts));
        matched += out
            .iter()
            .filter(|e| e.outcome.as_ref().is_ok_and(|v| v.matched()))
            .count();
    }
    matched
}

fn throughput(c: &mut Criterion) {
    let corpus = Corpus::build();
    let bytes = Throughput::Bytes(corpus.ndjson.len() as u64);

    // Baselines first, then the reference, then sigil: the cheap groups
    // report even if a later one fails.
    let mut group = c.benchmark_group("baseline");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(bytes.clone());
    one_pass("baseline/memchr-newlines", &corpus, || {
        black_box(memchr::memchr_iter(b'\n', &corpus.ndjson).count());
        None
    });
    group.bench_function("memchr-newlines", |b| {
        b.iter(|| memchr::memchr_iter(b'\n', black_box(&corpus.ndjson)).count())
    });
    one_pass("baseline/serde-value-per-line", &corpus, || {
        corpus
            .lines()
            .for_each(|l| drop(black_box(serde_json::from_slice::<Value>(l).unwrap())));
        None
    });
    group.bench_function("serde-value-per-line", |b| {
        b.iter(|| {
            corpus
                .lines()
                .for_each(|l| drop(black_box(serde_json::from_slice::<Value>(l).unwrap())))
        })
    });
    group.finish();

    let mut group = c.benchmark_group("rsigma");
    group
        .sampling_mode(SamplingMode::Flat)
        .throughput(bytes.clone());
    for (name, aws_only) in [("aws-rules", true), ("all-rules", false)] {
        let engine = rsigma_engine(&corpus.rules, aws_only);
        one_pass(&format!("rsigma/{name}"), &corpus, || {
            Some(rsigma_pass(&engine, &corpus))
        });
        group.bench_function(name, |b| b.iter(|| rsigma_pass(&engine, &corpus)));
    }
    group.finish();

    let mut group = c.benchmark_group("sigil");
    group.sampling_mode(SamplingMode::Flat).throughput(bytes);
    let mut engine = Engine::load(
        &corpus.rules,
        Options {
            skip_invalid: true,
            ..Default::default()
        },
    )
    .expect("sigil loads the SigmaHQ cloud pack");
    eprintln!(
        "sigil: {} rules, {} skipped",
        engine.rules().len(),
        engine.skipped().len()
    );
    let mut out = Vec::new();
    one_pass("sigil/evaluate-batch-1MiB", &corpus, || {
        Some(sigil_pass(&mut engine, &corpus, &mut out))
    });
    group.bench_function("evaluate-batch-1MiB", |b| {
        b.iter(|| sigil_pass(&mut engine, &corpus, &mut out))
    });
    group.finish();
}

criterion_group! {
    name = benches;
    // Each iteration is a pass over the whole input (~1 s at 100 MiB), so ten
    // samples and a short warm-up keep the full run to a couple of minutes.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    targets = throughput
}
criterion_main!(benches);
