//! What correlation rules cost: throughput with them loaded versus without,
//! and memory with a million distinct group keys under the caps.
//!
//! Inputs (both NDJSON in event-time order, so every match takes the full
//! correlation path rather than being dropped as late):
//!
//! - `stratus`: the 35 Stratus Red Team captures, minified, sorted by
//!   `eventTime`, repeated to `SIGIL_BENCH_MB` MiB (default 50), each copy
//!   moved one year later so that windows never mix copies.
//! - `ec2`: a generated stream of the EC2 control-plane calls the
//!   correlation rules read (StopInstances, StartInstances, CreateVolume,
//!   AttachVolume, CreateSnapshot, RegisterImage, RunInstances) by 50
//!   principals over 500 instances, 20 events a second: nearly every event
//!   feeds a correlation.
//!
//! Rule packs: `without` is the SigmaHQ cloud pack
//! (`tests/data/rules/sigmahq-cloud`); `with` adds every file of
//! `tests/data/correlation/` (the seeds' four sequences and the differential
//! set: 10 correlations of every counting type and a chain, on 13 rules);
//! `rules` adds those files' detection rules only, as plain rules, which
//! separates what the correlations cost from what their rules cost.
//!
//! `memory/1M-keys`: one event_count correlation grouped by
//! `userIdentity.arn`, fed 1 000 000 StopInstances of 1 000 000 distinct
//! principals (100 a second, so an hour's window would hold 360 000 groups)
//! under the default caps (100 000 groups, 64 MiB). Before the benchmark a
//! pass prints the peak heap growth during the run, measured by a counting
//! global allocator, next to the engine's own estimate and its counters.
//!
//! Run: `cargo bench -p sigil-engine --bench correlation`
//! (`SIGIL_BENCH_MB=10` for a quick look).

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use sigil_engine::{Engine, Options, RuleSource};

mod common;

use common::MIB;

/// The system allocator, counting live bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every call forwards to `System` with the caller's arguments; the
// counters are only arithmetic on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as the caller guarantees for `GlobalAlloc::alloc`.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as the caller guarantees for `GlobalAlloc::dealloc`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: as the caller guarantees for `GlobalAlloc::realloc`.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
            grew(new_size);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The Stratus captures in event-time order, one year later per copy.
fn stratus_stream() -> Vec<u8> {
    let files = common::stratus_files();
    let mut events: Vec<(String, Vec<u8>)> = Vec::new();
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for event in sigil_engine::input::document_events(&bytes).unwrap() {
            let mut line = Vec::new();
            sigil_engine::input::minify_into(event, &mut line);
            let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
            events.push((v["eventTime"].as_str().unwrap().to_string(), line));
        }
    }
    events.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Vec::new();
    let mut year = 2024;
    while out.len() < common::target_bytes(50) {
        let from = b"\"eventTime\":\"2024-";
        let to = format!("\"eventTime\":\"{year}-");
        for (_, line) in &events {
            let at = memchr::memmem::find(line, from).expect("every capture has an eventTime");
            out.extend_from_slice(&line[..at]);
            out.extend_from_slice(to.as_bytes());
            out.extend_from_slice(&line[at + from.len()..]);
            out.push(b'\n');
        }
        year += 1;
    }
    out
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

fn time(ms: u64) -> String {
    let secs = ms / 1000;
    let (d, s) = (secs / 86_400, secs % 86_400);
    format!(
        "2024-08-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        1 + d,
        s / 3600,
        s / 60 % 60,
        s % 60,
        ms % 1000
    )
}

/// EC2 control-plane calls, 20 a second.
fn ec2_stream() -> Vec<u8> {
    let mut rng = Rng(0x5eed_cafe_f00d_0001);
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < common::target_bytes(50) {
        let who = rng.below(50);
        let inst = rng.below(500);
        let (vol, snap, ami) = (rng.below(2000), rng.below(2000), rng.below(200));
        let (name, req, resp) = match rng.below(7) {
            0 => (
                "StopInstances",
                format!(
                    r#"{{"instancesSet":{{"items":[{{"instanceId":"i-{inst}"}}]}},"force":false}}"#
                ),
                "null".into(),
            ),
            1 => (
                "StartInstances",
                format!(r#"{{"instancesSet":{{"items":[{{"instanceId":"i-{inst}"}}]}}}}"#),
                "null".into(),
            ),
            2 => (
                "CreateVolume",
                format!(
                    r#"{{"size":{},"snapshotId":"snap-{snap}","availabilityZone":"us-east-1a"}}"#,
                    rng.below(100)
                ),
                format!(r#"{{"volumeId":"vol-{vol}","status":"creating"}}"#),
            ),
            3 => (
                "AttachVolume",
                format!(
                    r#"{{"volumeId":"vol-{vol}","instanceId":"i-{inst}","device":"/dev/sdf"}}"#
                ),
                "null".into(),
            ),
            4 => (
                "CreateSnapshot",
                format!(r#"{{"volumeId":"vol-{vol}"}}"#),
                format!(r#"{{"snapshotId":"snap-{snap}","status":"pending"}}"#),
            ),
            5 => (
                "RegisterImage",
                format!(
                    r#"{{"name":"img","blockDeviceMapping":{{"items":[{{"deviceName":"/dev/xvda","ebs":{{"snapshotId":"snap-{snap}"}}}}]}}}}"#
                ),
                format!(r#"{{"imageId":"ami-{ami}"}}"#),
            ),
            _ => (
                "RunInstances",
                format!(
                    r#"{{"instancesSet":{{"items":[{{"imageId":"ami-{ami}","minCount":1,"maxCount":1}}]}},"instanceType":"t3.micro","blockDeviceMapping":{{"items":[{{"deviceName":"/dev/sdh","ebs":{{"snapshotId":"snap-{snap}"}}}}]}}}}"#
                ),
                "null".into(),
            ),
        };
        let line = format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/u{who}","accountId":"111122223333"}},"eventTime":"{}","eventSource":"ec2.amazonaws.com","eventName":"{name}","awsRegion":"us-east-1","sourceIPAddress":"10.0.{}.{}","requestParameters":{req},"responseElements":{resp},"eventID":"e{i:012}","eventType":"AwsApiCall","recipientAccountId":"111122223333"}}"#,
            time(i * 50),
            rng.below(4),
            rng.below(250),
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
        i += 1;
    }
    out
}

/// One pass: every block, then a flush. Returns (events, matched, alerts).
fn pass(engine: &mut Engine, ndjson: &[u8], blocks: &[(usize, usize)]) -> (u64, u64, u64) {
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    let (mut events, mut matched, mut alerted) = (0u64, 0u64, 0u64);
    for &(s, e) in blocks {
        out.clear();
        alerts.clear();
        events += u64::from(engine.evaluate_batch(&ndjson[s..e], &mut out, &mut alerts));
        matched += out
            .iter()
            .filter(|e| e.outcome.as_ref().is_ok_and(|v| v.matched()))
            .count() as u64;
        alerted += alerts.len() as u64;
    }
    alerted += engine.flush().len() as u64;
    (events, matched, alerted)
}

fn throughput(c: &mut Criterion) {
    let sigmahq = common::rule_sources(&common::shared_dir().join("rules/sigmahq-cloud"));
    let corr = common::rule_sources(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/correlation"),
    );
    let with: Vec<RuleSource> = sigmahq.iter().chain(&corr).cloned().collect();
    // The same detection rules as plain rules, without the correlation
    // documents: what the correlations themselves cost, apart from their rules.
    let plain: Vec<RuleSource> = sigmahq
        .iter()
        .cloned()
        .chain(corr.iter().map(|r| {
            let docs: Vec<&str> = r
                .text
                .split("\n---\n")
                .filter(|d| !d.contains("\ncorrelation:"))
                .collect();
            RuleSource::new(r.name.clone(), docs.join("\n---\n"))
        }))
        .collect();
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut group = c.benchmark_group("correlation");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (input, ndjson) in [("stratus", stratus_stream()), ("ec2", ec2_stream())] {
        let cuts = common::blocks(&ndjson);
        group.throughput(Throughput::Bytes(ndjson.len() as u64));
        for (pack, rules) in [("without", &sigmahq), ("rules", &plain), ("with", &with)] {
            let mut engine = Engine::load(rules, options.clone()).unwrap();
            let start = Instant::now();
            let (events, matched, alerts) = pass(&mut engine, &ndjson, &cuts);
            let secs = start.elapsed().as_secs_f64();
            eprintln!(
                "{input}/{pack}: {} rules ({} correlations), {events} events, {:.1} MiB: {:.0} events/s, {:.1} MiB/s; \
                 {matched} matched, {alerts} alerts; {:?}",
                engine.rules().len(),
                engine.stats().correlations,
                ndjson.len() as f64 / MIB as f64,
                events as f64 / secs,
                ndjson.len() as f64 / MIB as f64 / secs,
                engine.correlation_stats(),
            );
            group.bench_function(format!("{input}/{pack}"), |b| {
                b.iter(|| black_box(pass(&mut engine, &ndjson, &cuts)))
            });
        }
    }
    group.finish();
}

const KEYS_RULES: &str = r#"
title: Stop
name: stop
logsource: {product: aws}
detection: {sel: {eventName: StopInstances}, condition: sel}
---
title: Many stops by one principal
correlation:
    type: event_count
    rules: [stop]
    group-by: [userIdentity.arn]
    timespan: 1h
    condition: {gte: 1000}
"#;

/// A million StopInstances by a million principals, 100 a second.
fn distinct_keys() -> Vec<u8> {
    let mut out = Vec::with_capacity(1_000_000 * 260);
    for i in 0..1_000_000u64 {
        let line = format!(
            r#"{{"eventVersion":"1.09","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/user-{i:07}"}},"eventTime":"{}","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","eventID":"00000000-0000-4000-8000-{i:012}"}}"#,
            time(i * 10)
        );
        out.extend_from_slice(line.as_bytes());
        out.push(b'\n');
    }
    out
}

fn memory(c: &mut Criterion) {
    let ndjson = distinct_keys();
    let cuts = common::blocks(&ndjson);
    let rules = [RuleSource::new("keys.yml", KEYS_RULES)];
    let options = Options::default();

    let mut engine = Engine::load(&rules, options.clone()).unwrap();
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let start = Instant::now();
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    let mut most_groups = 0;
    for &(s, e) in &cuts {
        out.clear();
        engine.evaluate_batch(&ndjson[s..e], &mut out, &mut alerts);
        most_groups = most_groups.max(engine.correlation_stats().open_groups);
    }
    let secs = start.elapsed().as_secs_f64();
    let before_flush = engine.correlation_stats();
    let peak = PEAK.load(Ordering::Relaxed) - base;
    eprintln!(
        "memory/1M-keys: 1 000 000 events, {:.1} MiB, in {secs:.2} s ({:.0} events/s); caps {} groups, {} MiB; \
         most groups open {most_groups}; peak heap growth {:.1} MiB (engine estimate at the end {:.1} MiB); {before_flush:?}",
        ndjson.len() as f64 / MIB as f64,
        1e6 / secs,
        options.max_groups,
        options.max_correlation_bytes >> 20,
        peak as f64 / MIB as f64,
        before_flush.bytes as f64 / MIB as f64,
    );
    engine.flush();

    let mut group = c.benchmark_group("memory");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(1_000_000));
    group.bench_function("1M-keys", |b| {
        b.iter(|| black_box(pass(&mut engine, &ndjson, &cuts)))
    });
    group.finish();
}

criterion_group!(benches, throughput, memory);
criterion_main!(benches);
