//! Throughput of sigil as users run it, native and as a component, next to
//! the reference evaluator and to the floor any JSON-reading engine stands
//! on, all in one run over the same bytes.
//!
//! Input: the Stratus Red Team captures (`tests/data/corpora/stratus-detonation-logs/*.json`,
//! sorted), each event minified onto one line with
//! `sigil_engine::input::minify_into`, the whole repeated until it reaches
//! `SIGIL_BENCH_MB` mebibytes (default 100). Rules: every rule of
//! `tests/data/rules/sigmahq-cloud` (sorted, invalid ones skipped).
//! `SIGIL_SHARED_DIR` overrides where the shared material is;
//! `SIGIL_BENCH_DUMP=FILE` writes one copy of the corpus (the unit that is
//! repeated) to FILE, so that `BENCHMARKS.md` can name it by its SHA-256;
//! `SIGIL_BENCH_PLUGIN=FILE.wasm` measures that component instead of the
//! built-in one (to compare guest builds).
//!
//! Groups, each measured over the whole input (`Throughput::Bytes`):
//!
//! - `baseline/memchr-newlines`: a newline scan (the cost of framing).
//! - `baseline/serde-value-per-line`: `serde_json::from_slice::<Value>` per
//!   line (the cost of a DOM parse).
//! - `rsigma/aws-rules`, `rsigma/all-rules`: rsigma-eval 0.26, each line
//!   parsed to a `Value` and evaluated; once with the `product: aws` rules
//!   only (like for like: every event is CloudTrail, and sigil's logsource
//!   gate lets a CloudTrail event meet only those rules), once with all.
//! - `sigil/native`, `sigil/component`: `Detector::evaluate_batch` (what the
//!   CLI's `Runner` calls) over 1 MiB blocks cut at a newline; the
//!   component under the default limits (epoch deadlines).
//! - `sigil/component-fuel`: the same under fuel metering (`--fuel`).
//! - `sigil-output/native`, `sigil-output/component`: `run_to_vec`, i.e.
//!   evaluate and write the annotated NDJSON into a fresh `Vec`: what a
//!   user of the CLI gets, minus the pipe (plus the page faults of a new
//!   130 MB buffer on every pass, which the CLI does not pay).
//! - `sigil-output/native-runner`, `sigil-output/component-runner`: the
//!   same through `Runner::run` into one `Vec` reused across passes: the
//!   CLI's loop without the page faults and without the pipe.
//!
//! Every pass that criterion times is also timed here; at the end a summary
//! prints, per variant, the median pass in MB/s (10^6 bytes; criterion's own
//! lines are in MiB/s) and events/s, how many events matched (the engines
//! can be checked against each other at a glance) and the component/native
//! ratio.
//!
//! Run: `cargo +1.99.1 bench -p sigil-host --bench throughput`
//! (`SIGIL_BENCH_MB=10` for a quick look; a trailing filter such as
//! `-- sigil/` runs a subset).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{
    BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use serde_json::Value;
use sigil_engine::{Engine, Options, RuleSource};
use sigil_host::{Detector, FuelLimits, HostConfig, Plugin, Runner, run_to_vec};

#[path = "../../plugin/engine/benches/common/mod.rs"]
mod common;

use common::MIB;

/// The benchmark input and the rules, built once.
struct Corpus {
    /// NDJSON, `copies` times the minified Stratus corpus.
    ndjson: Vec<u8>,
    /// `ndjson` cut into blocks of about 1 MiB, each ending at a newline
    /// (as the CLI's `Runner` cuts a stream).
    blocks: Vec<(usize, usize)>,
    events: usize,
    rules: Vec<RuleSource>,
}

impl Corpus {
    fn build() -> Corpus {
        let shared = common::shared_dir();

        let files = common::stratus_files();
        let (unit, per_copy) = common::stratus_ndjson(&files);
        if let Some(path) = std::env::var_os("SIGIL_BENCH_DUMP") {
            std::fs::write(&path, &unit).expect("writing SIGIL_BENCH_DUMP");
        }

        let copies = common::target_bytes(100).div_ceil(unit.len()).max(1);
        let ndjson = unit.repeat(copies);
        let blocks = common::blocks(&ndjson);

        let rules = sigil_host::rule_sources(&[shared.join("rules/sigmahq-cloud")])
            .expect("reading the SigmaHQ cloud rules");
        eprintln!(
            "input: {} files, {per_copy} events, {} bytes per copy (FNV-1a {:016x}); \
             {copies} copies = {} events, {:.1} MiB in {} blocks; {} rule files",
            files.len(),
            unit.len(),
            common::fnv1a(&unit),
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

    fn blocks(&self) -> impl Iterator<Item = &[u8]> {
        self.blocks.iter().map(|&(s, e)| &self.ndjson[s..e])
    }
}

/// The options both sigil detectors load with: the CLI's `--skip-invalid`.
fn sigil_options() -> Options {
    Options {
        skip_invalid: true,
        ..Options::default()
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

/// One pass of rsigma: parse, evaluate; returns how many events matched.
fn rsigma_pass(engine: &rsigma_eval::Engine, corpus: &Corpus) -> u64 {
    let mut matched = 0;
    for line in corpus.lines() {
        let value: Value = serde_json::from_slice(line).unwrap();
        let event = rsigma_eval::JsonEvent::borrow(&value);
        matched += u64::from(!black_box(engine.evaluate(&event)).is_empty());
    }
    matched
}

/// One pass of a detector over the 1 MiB blocks; returns how many events
/// matched.
fn detector_pass(detector: &mut Detector, corpus: &Corpus) -> u64 {
    let mut matched = 0;
    let mut events = 0;
    for block in corpus.blocks() {
        let (n, entries) = detector
            .evaluate_batch(block)
            .expect("a fresh plugin instance can always be made");
        events += n as usize;
        matched += entries
            .iter()
            .filter(|e| e.outcome.as_ref().is_ok_and(|v| v.matched()))
            .count() as u64;
        black_box(entries);
    }
    assert_eq!(events, corpus.events, "the detector miscounted the events");
    matched
}

/// One pass of the CLI's path into memory; returns how many events matched.
fn output_pass(detector: &mut Detector, corpus: &Corpus) -> u64 {
    let (ndjson, counters) = run_to_vec(detector, &corpus.ndjson).expect("run_to_vec");
    assert_eq!(counters.events_in as usize, corpus.events);
    assert_eq!(counters.errors, 0, "no event of the corpus should fail");
    black_box(ndjson);
    counters.matched
}

/// One pass of the CLI's loop into `out` (cleared first, capacity kept);
/// returns how many events matched.
fn runner_pass(detector: &mut Detector, corpus: &Corpus, out: &mut Vec<u8>) -> u64 {
    out.clear();
    let mut runner = Runner::new(detector);
    runner
        .run(Path::new("<bench>"), &corpus.ndjson[..], out)
        .expect("Runner::run");
    let counters = runner.counters();
    assert_eq!(counters.events_in as usize, corpus.events);
    assert_eq!(counters.errors, 0, "no event of the corpus should fail");
    black_box(&out);
    counters.matched
}

/// What one variant measured: every timed pass and the last match count.
struct Row {
    name: String,
    passes: Vec<Duration>,
    matched: Option<u64>,
}

impl Row {
    fn sorted(&self) -> Vec<Duration> {
        let mut p = self.passes.clone();
        p.sort();
        p
    }

    fn median(&self) -> Duration {
        let p = self.sorted();
        p[p.len() / 2]
    }

    /// The fastest pass: on a shared machine, noise only ever adds time.
    fn best(&self) -> Duration {
        self.sorted()[0]
    }
}

/// A criterion group that also keeps each timed pass for the summary.
struct Group<'c, 'r> {
    inner: BenchmarkGroup<'c, WallTime>,
    name: &'static str,
    rows: &'r mut Vec<Row>,
}

impl<'c, 'r> Group<'c, 'r> {
    fn new(c: &'c mut Criterion, name: &'static str, bytes: u64, rows: &'r mut Vec<Row>) -> Self {
        let mut inner = c.benchmark_group(name);
        inner
            .sampling_mode(SamplingMode::Flat)
            .throughput(Throughput::Bytes(bytes));
        Group { inner, name, rows }
    }

    /// Benchmarks `pass` (one pass over the whole input; it returns how many
    /// events matched, if it evaluates rules) and records each pass's time.
    fn measure(&mut self, bench: &str, mut pass: impl FnMut() -> Option<u64>) {
        let mut passes = Vec::new();
        let mut matched = None;
        self.inner.bench_function(bench, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    matched = black_box(pass());
                    let took = start.elapsed();
                    passes.push(took);
                    total += took;
                }
                total
            })
        });
        // Filtered out (`cargo bench -- sigil/`): nothing to report.
        if !passes.is_empty() {
            self.rows.push(Row {
                name: format!("{}/{bench}", self.name),
                passes,
                matched,
            });
        }
    }

    fn finish(self) {
        self.inner.finish();
    }
}

fn print_summary(corpus: &Corpus, rows: &[Row]) {
    let mb = corpus.ndjson.len() as f64 / 1e6;
    let rate = |d: Duration| mb / d.as_secs_f64();
    eprintln!(
        "\nsummary: {mb:.1} MB, {} events, every pass criterion timed (warm-up included); \
         MB = 10^6 bytes",
        corpus.events
    );
    eprintln!(
        "{:<30} {:>6} {:>10} {:>12} {:>10} {:>10}  matched",
        "variant", "passes", "MB/s", "events/s", "best MB/s", "s/pass"
    );
    for r in rows {
        let median = r.median();
        eprintln!(
            "{:<30} {:>6} {:>10.1} {:>12.0} {:>10.1} {:>10.3}  {}",
            r.name,
            r.passes.len(),
            rate(median),
            corpus.events as f64 / median.as_secs_f64(),
            rate(r.best()),
            median.as_secs_f64(),
            r.matched.map_or("-".to_string(), |m| m.to_string()),
        );
    }
    eprintln!("(MB/s, events/s and s/pass are of the median pass)");
    let find = |name: &str| rows.iter().find(|r| r.name == name);
    for (native, component) in [
        ("sigil/native", "sigil/component"),
        ("sigil/native", "sigil/component-fuel"),
        ("sigil-output/native", "sigil-output/component"),
        (
            "sigil-output/native-runner",
            "sigil-output/component-runner",
        ),
    ] {
        if let (Some(n), Some(c)) = (find(native), find(component)) {
            eprintln!(
                "{component} / {native}: {:.0} % median, {:.0} % best \
                 (target: component >= 60 % of native)",
                100.0 * rate(c.median()) / rate(n.median()),
                100.0 * rate(c.best()) / rate(n.best()),
            );
            if n.matched != c.matched {
                eprintln!("WARNING: {native} and {component} disagree on the matched count");
            }
        }
    }
    if let Some(n) = find("sigil/native") {
        eprintln!(
            "sigil/native: {:.2} GB/s median, {:.2} GB/s best (target: >= 1 GB/s on one core)",
            rate(n.median()) / 1000.0,
            rate(n.best()) / 1000.0
        );
    }
}

fn throughput(c: &mut Criterion) {
    let corpus = Corpus::build();
    let bytes = corpus.ndjson.len() as u64;
    let mut rows = Vec::new();

    // Cheap groups first: they report even if a later one fails.
    let mut g = Group::new(c, "baseline", bytes, &mut rows);
    g.measure("memchr-newlines", || {
        black_box(memchr::memchr_iter(b'\n', black_box(&corpus.ndjson)).count());
        None
    });
    g.measure("serde-value-per-line", || {
        corpus
            .lines()
            .for_each(|l| drop(black_box(serde_json::from_slice::<Value>(l).unwrap())));
        None
    });
    g.finish();

    let mut g = Group::new(c, "rsigma", bytes, &mut rows);
    for (name, aws_only) in [("aws-rules", true), ("all-rules", false)] {
        let engine = rsigma_engine(&corpus.rules, aws_only);
        g.measure(name, || Some(rsigma_pass(&engine, &corpus)));
    }
    g.finish();

    let options = sigil_options();
    let mut native = Detector::Native(
        Engine::load(&corpus.rules, options.clone()).expect("sigil loads the SigmaHQ cloud pack"),
    );
    let wasm = match std::env::var_os("SIGIL_BENCH_PLUGIN") {
        Some(path) => {
            eprintln!("component: {}", Path::new(&path).display());
            std::fs::read(&path).expect("reading SIGIL_BENCH_PLUGIN")
        }
        None => sigil_host::BUILTIN_COMPONENT.to_vec(),
    };
    let component_with = |config: HostConfig| {
        let plugin = Plugin::new(&wasm, config).expect("the component compiles");
        Detector::Component(
            plugin
                .session(&corpus.rules, &options)
                .expect("the component loads the SigmaHQ cloud pack"),
        )
    };
    let mut component = component_with(HostConfig::default());
    let mut component_fuel = component_with(HostConfig {
        fuel: Some(FuelLimits::default()),
        ..HostConfig::default()
    });
    for (name, d) in [("native", &native), ("component", &component)] {
        eprintln!(
            "sigil {name}: {} rules, {} skipped",
            d.rules().len(),
            d.skipped().len()
        );
    }

    let mut g = Group::new(c, "sigil", bytes, &mut rows);
    g.measure("native", || Some(detector_pass(&mut native, &corpus)));
    g.measure("component", || Some(detector_pass(&mut component, &corpus)));
    g.measure("component-fuel", || {
        Some(detector_pass(&mut component_fuel, &corpus))
    });
    g.finish();

    let mut g = Group::new(c, "sigil-output", bytes, &mut rows);
    g.measure("native", || Some(output_pass(&mut native, &corpus)));
    g.measure("component", || Some(output_pass(&mut component, &corpus)));
    let mut out = Vec::new();
    g.measure("native-runner", || {
        Some(runner_pass(&mut native, &corpus, &mut out))
    });
    g.measure("component-runner", || {
        Some(runner_pass(&mut component, &corpus, &mut out))
    });
    g.finish();

    for d in [&component, &component_fuel] {
        assert_eq!(d.restarts(), 0, "the component failed during the run");
    }
    print_summary(&corpus, &rows);
}

criterion_group! {
    name = benches;
    // Each iteration is a pass over the whole input (0.1 to 1 s at 100 MiB),
    // so ten samples and a short warm-up keep the run to a couple of minutes.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = throughput
}
criterion_main!(benches);
