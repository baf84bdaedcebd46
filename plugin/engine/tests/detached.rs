//! The law of detached evaluation: blocks evaluated by several engines with
//! `evaluate_batch_detached`, their observations applied in stream order by
//! one more engine's `correlate` (through their bytes), give exactly the
//! entries and alerts, after the same events, of one engine reading the
//! stream with `evaluate_batch`; and the same correlation counters.
//!
//! The stream: the real CloudTrail corpus and the correlation cases' events,
//! replayed in rounds with their times jittered (some beyond the lateness),
//! some untimed (a few before any time is known), some with numeric times,
//! no id, or damaged bytes, and group values varied.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sigil_engine::input::{document_events, minify_into, ndjson_events};
use sigil_engine::{
    Alert, BatchAlert, BatchEntry, CorrelationStats, Engine, Observation, ObservationError,
    Options, RuleSource,
};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn sources(paths: &[PathBuf]) -> Vec<RuleSource> {
    paths
        .iter()
        .map(|p| RuleSource::new(p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect()
}

/// The built-in pack (six correlations) and the correlation test cases.
fn packs() -> Vec<(&'static str, Vec<RuleSource>)> {
    let mut builtin = Vec::new();
    files(&repo().join("rules/cloud-compute"), "yml", &mut builtin);
    builtin.sort();
    let cases: Vec<PathBuf> = [
        "ami_from_snapshot",
        "ephemeral_reset",
        "snapshot_staging",
        "volume_restore",
        "differential",
    ]
    .iter()
    .map(|c| repo().join(format!("tests/data/correlation/{c}.yml")))
    .collect();
    vec![
        ("cloud-compute", sources(&builtin)),
        ("correlation cases", sources(&cases)),
    ]
}

fn option_sets() -> Vec<Options> {
    vec![
        Options::default(),
        // No lateness, and full groups.
        Options {
            correlation_lateness_ms: 0,
            max_events_per_group: 3,
            ..Options::default()
        },
        // Caps small enough that forced commits and evictions happen.
        Options {
            max_groups: 6,
            max_events_per_group: 3,
            ..Options::default()
        },
    ]
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
}

fn rfc3339(ms: i64) -> String {
    sigil_engine::format_rfc3339_ms(ms)
}

fn parse_time(v: &Value) -> Option<i64> {
    let s = v.get("eventTime")?.as_str()?;
    // Every time in these files is `YYYY-MM-DDTHH:MM:SS[.mmm]Z`.
    let secs = |a: usize, b: usize| s.get(a..b).and_then(|x| x.parse::<i64>().ok());
    let days = secs(8, 10)? - 1;
    let (h, m, sec) = (secs(11, 13)?, secs(14, 16)?, secs(17, 19)?);
    Some(T0 + (((days * 24 + h - 12) * 60 + m) * 60 + sec) * 1000)
}

/// 2024-08-01T12:00:00Z.
const T0: i64 = 1_722_513_600_000;
const HOUR: i64 = 3_600_000;

/// The stream, one event a line.
fn stream() -> Vec<Vec<u8>> {
    let mut corpus: Vec<Value> = Vec::new();
    let mut paths = Vec::new();
    files(
        &repo().join("tests/data/corpora/stratus-detonation-logs"),
        "json",
        &mut paths,
    );
    paths.sort();
    for p in &paths {
        let bytes = std::fs::read(p).unwrap();
        for e in document_events(&bytes).unwrap() {
            let mut line = Vec::new();
            minify_into(e, &mut line);
            corpus.push(serde_json::from_slice(&line).unwrap());
        }
    }
    // Each case file is a timeline of its own from 12:00 (at most 2 h
    // 10 min): they follow each other, 3 h apart.
    let mut cases: Vec<(i64, Value)> = Vec::new();
    let mut paths = Vec::new();
    files(&repo().join("tests/data/correlation"), "ndjson", &mut paths);
    paths.sort();
    for (k, p) in paths.iter().enumerate() {
        let bytes = std::fs::read(p).unwrap();
        cases.extend(ndjson_events(&bytes).map(|l| {
            (
                k as i64 * 3 * HOUR,
                serde_json::from_slice::<Value>(l).unwrap(),
            )
        }));
    }
    let span = paths.len() as i64 * 3 * HOUR;
    assert!(corpus.len() > 300 && cases.len() > 40);

    let mut rng = Rng(0x5eed_0123_4567_89ab);
    let mut out: Vec<Vec<u8>> = Vec::new();
    // Untimed before any time is known: they cannot be placed.
    for (_, v) in cases.iter().take(3) {
        let mut v = v.clone();
        v.as_object_mut().unwrap().remove("eventTime");
        out.push(serde_json::to_vec(&v).unwrap());
    }
    let mut seq = 0u32;
    let rounds = 6;
    for round in 0..rounds {
        let round_base = round * span;
        let (mut ci, mut si) = (0usize, rng.below(corpus.len() as u64) as usize);
        let mut now = T0 + round_base;
        let mut corpus_left = 250;
        while ci < cases.len() || corpus_left > 0 {
            let take_case = ci < cases.len() && (corpus_left == 0 || rng.below(3) != 0);
            let mut v = if take_case {
                let (offset, v) = cases[ci].clone();
                ci += 1;
                now = parse_time(&v).unwrap() + round_base + offset;
                v
            } else {
                corpus_left -= 1;
                si = (si + 1 + rng.below(7) as usize) % corpus.len();
                corpus[si].clone()
            };
            seq += 1;
            let obj = v.as_object_mut().unwrap();
            let mut time = if take_case {
                now
            } else {
                now + rng.range(-30_000, 30_000)
            };
            match rng.below(10) {
                // Out of order: within the default lateness, and beyond it.
                0 | 1 => time += rng.range(-150_000, 150_000),
                _ => {}
            }
            match rng.below(25) {
                0 => {
                    obj.remove("eventTime");
                }
                1 => {
                    obj.insert("eventTime".into(), Value::from(time / 1000));
                }
                _ => {
                    obj.insert("eventTime".into(), Value::from(rfc3339(time)));
                }
            }
            if rng.below(20) == 0 {
                obj.remove("eventID");
            } else {
                obj.insert("eventID".into(), Value::from(format!("ev-{seq}")));
            }
            let mut text = serde_json::to_string(&v).unwrap();
            // Other groups now and then.
            if rng.below(5) == 0 {
                for (from, to) in [
                    ("\"i-0", "\"i-9"),
                    ("\"vol-", "\"vol-9"),
                    ("\"snap-", "\"snap-9"),
                    ("\"ami-", "\"ami-9"),
                ] {
                    text = text.replace(from, to);
                }
            }
            let mut line = text.into_bytes();
            // Damaged bytes, which the engine repairs and warns about.
            if rng.below(40) == 0
                && let Some(at) = line.windows(10).position(|w| w == b"\"eventID\":")
            {
                line.insert(at + 11, 0xff);
            }
            out.push(line);
            if rng.below(150) == 0 {
                out.push(b"{\"eventName\":\"StopInstances\",".to_vec());
            }
        }
    }
    // The stop-then-start case up to its last start, so that the stream
    // ends with alerts only `flush` releases.
    let tail = paths
        .iter()
        .position(|p| p.ends_with("ephemeral_reset.ndjson"))
        .unwrap();
    for (i, (_, v)) in cases
        .iter()
        .filter(|(offset, _)| *offset == tail as i64 * 3 * HOUR)
        .take(11)
        .enumerate()
    {
        let mut v = v.clone();
        let time = parse_time(&v).unwrap() + rounds * span;
        let obj = v.as_object_mut().unwrap();
        obj.insert("eventTime".into(), Value::from(rfc3339(time)));
        obj.insert("eventID".into(), Value::from(format!("tail-{i}")));
        out.push(serde_json::to_vec(&v).unwrap());
    }
    out
}

/// The stream cut into NDJSON blocks of about `bytes` bytes, at newlines.
fn blocks(lines: &[Vec<u8>], bytes: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for l in lines {
        cur.extend_from_slice(l);
        cur.push(b'\n');
        if cur.len() >= bytes {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Everything a run gives, indexes as stream positions.
#[derive(Debug, PartialEq)]
struct Outcome {
    entries: Vec<BatchEntry>,
    alerts: Vec<BatchAlert>,
    flushed: Vec<Alert>,
    stats: CorrelationStats,
}

fn load(rules: &[RuleSource], options: &Options) -> Engine {
    Engine::load(rules, options.clone()).unwrap()
}

/// One engine reading the stream with `evaluate_batch`.
fn reference(rules: &[RuleSource], options: &Options, blocks: &[Vec<u8>]) -> Outcome {
    let mut engine = load(rules, options);
    let (mut entries, mut alerts) = (Vec::new(), Vec::new());
    let mut at = 0u32;
    for block in blocks {
        let (mut e, mut a) = (Vec::new(), Vec::new());
        let n = engine.evaluate_batch(block, &mut e, &mut a);
        entries.extend(e.into_iter().map(|mut x| {
            x.index += at;
            x
        }));
        alerts.extend(a.into_iter().map(|mut x| {
            x.index += at;
            x
        }));
        at += n;
    }
    let flushed = engine.flush();
    Outcome {
        entries,
        alerts,
        flushed,
        stats: engine.correlation_stats(),
    }
}

/// `workers` engines evaluating blocks in turn, detached; one more
/// correlating every observation, in stream order, from its bytes.
fn detached(
    rules: &[RuleSource],
    options: &Options,
    blocks: &[Vec<u8>],
    workers: usize,
) -> Outcome {
    let mut engines: Vec<Engine> = (0..workers).map(|_| load(rules, options)).collect();
    let mut entries = Vec::new();
    let mut wire = Vec::new();
    let mut count = 0usize;
    let mut at = 0u32;
    for (b, block) in blocks.iter().enumerate() {
        let (mut e, mut obs) = (Vec::new(), Vec::new());
        let n = engines[b % workers].evaluate_batch_detached(block, &mut e, &mut obs);
        entries.extend(e.into_iter().map(|mut x| {
            x.index += at;
            x
        }));
        for (i, o) in obs {
            assert!(i < n);
            wire.extend_from_slice(&(i + at).to_le_bytes());
            o.encode(&mut wire);
            count += 1;
        }
        at += n;
    }
    // Every detached engine left its correlation state alone.
    for e in &engines {
        let s = e.correlation_stats();
        assert_eq!((s.pending, s.open_groups, s.alerts), (0, 0, 0));
    }
    let mut rest = wire.as_slice();
    let mut observations = Vec::with_capacity(count);
    while let Some((index, tail)) = rest.split_first_chunk::<4>() {
        let (obs, used) = Observation::decode(tail).unwrap();
        observations.push((u32::from_le_bytes(*index), obs));
        rest = &tail[used..];
    }
    assert_eq!(observations.len(), count);
    let mut correlator = load(rules, options);
    let mut alerts = Vec::new();
    correlator.correlate(observations, &mut alerts).unwrap();
    let flushed = correlator.flush();
    Outcome {
        entries,
        alerts,
        flushed,
        stats: correlator.correlation_stats(),
    }
}

#[test]
fn detached_engines_give_one_engines_entries_and_alerts() {
    let lines = stream();
    let mut fired = 0;
    let mut untimed = 0;
    let mut late = 0;
    let mut forced = 0;
    let mut evicted = 0;
    let mut flushed = 0;
    for (name, rules) in packs() {
        for options in option_sets() {
            for size in [1, 3000, 64 << 10, usize::MAX] {
                let blocks = blocks(&lines, size);
                let want = reference(&rules, &options, &blocks);
                fired += want.alerts.len() + want.flushed.len();
                untimed += want.stats.untimed_events;
                late += want.stats.late_events;
                forced += want.stats.forced_commits;
                evicted += want.stats.evicted_groups;
                flushed += want.flushed.len();
                for workers in [1, 2, 4] {
                    let got = detached(&rules, &options, &blocks, workers);
                    assert!(
                        got == want,
                        "{name}, lateness {} ms, blocks of {size} bytes, {workers} engines:\n\
                         entries equal: {}, alerts {} vs {}, flushed {} vs {}\nstats {:?}\nvs    {:?}",
                        options.correlation_lateness_ms,
                        got.entries == want.entries,
                        got.alerts.len(),
                        want.alerts.len(),
                        got.flushed.len(),
                        want.flushed.len(),
                        got.stats,
                        want.stats,
                    );
                }
            }
        }
    }
    // The law is not vacuous: correlations fired, and the stream had
    // untimed, late and forced matches.
    assert!(fired > 50, "{fired} alerts");
    assert!(
        untimed > 0 && late > 0 && forced > 0 && evicted > 0 && flushed > 0,
        "{untimed} {late} {forced} {evicted} {flushed}"
    );
}

/// Observations of the correlation cases under the built-in pack, encoded.
fn sample_encodings() -> Vec<Vec<u8>> {
    let (_, rules) = packs().remove(0);
    let mut engine = load(&rules, &Options::default());
    let lines = stream();
    let block = blocks(&lines, usize::MAX).remove(0);
    let (mut entries, mut obs) = (Vec::new(), Vec::new());
    engine.evaluate_batch_detached(&block, &mut entries, &mut obs);
    let mut out: Vec<Vec<u8>> = obs
        .iter()
        .map(|(_, o)| {
            let mut b = Vec::new();
            o.encode(&mut b);
            b
        })
        .collect();
    // The largest first: they hold hits, samples and columns.
    out.sort_by_key(|b| std::cmp::Reverse(b.len()));
    out.truncate(40);
    out
}

#[test]
fn observations_round_trip_and_are_send() {
    fn send<T: Send + Sync + 'static>() {}
    send::<Observation>();
    for bytes in sample_encodings() {
        let (obs, used) = Observation::decode(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        let mut again = Vec::new();
        obs.encode(&mut again);
        assert_eq!(again, bytes);
        // Concatenated, each takes its own bytes.
        let mut two = bytes.clone();
        two.extend_from_slice(&bytes);
        let (_, used) = Observation::decode(&two).unwrap();
        assert_eq!(used, bytes.len());
    }
}

#[test]
fn hostile_bytes_never_panic() {
    let (_, rules) = packs().remove(0);
    let mut engine = load(&rules, &Options::default());
    let mut feed = |obs: Observation| {
        let mut alerts = Vec::new();
        match engine.correlate([(0, obs)], &mut alerts) {
            Ok(()) | Err(ObservationError::OtherPack) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    };
    let samples = sample_encodings();
    assert!(samples[0].len() > 40, "{:?}", samples[0]);
    for bytes in &samples {
        // Every truncation is refused.
        for cut in 0..bytes.len() {
            assert!(Observation::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }
    let mut rng = Rng(0x0bad_cafe_f00d_d00d);
    for round in 0..20_000 {
        // Mutations of real encodings...
        let mut bytes = samples[round % samples.len()].clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(bytes.len() as u64) as usize;
            match rng.below(3) {
                0 => bytes[at] = rng.next() as u8,
                1 => bytes[at] ^= 1 << rng.below(8),
                _ => bytes.insert(at, rng.next() as u8),
            }
        }
        if let Ok((obs, used)) = Observation::decode(&bytes) {
            assert!(used <= bytes.len());
            feed(obs);
        }
        // ...and random bytes behind a valid version.
        let n = rng.below(64) as usize;
        let mut random: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        if rng.below(2) == 0 && !random.is_empty() {
            random[0] = 1;
        }
        if let Ok((obs, _)) = Observation::decode(&random) {
            feed(obs);
        }
    }
    // Counts no input could hold are refused before any allocation.
    let huge = [
        1u8, 2, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ];
    assert_eq!(
        Observation::decode(&huge).unwrap_err(),
        ObservationError::Truncated
    );
    assert!(matches!(
        Observation::decode(&[9, 0]),
        Err(ObservationError::Version(9))
    ));
}

#[test]
fn observations_of_another_pack_are_refused() {
    let (_, builtin) = packs().remove(0);
    let mut engine = load(&builtin, &Options::default());
    let lines = stream();
    let block = blocks(&lines, usize::MAX).remove(0);
    let (mut entries, mut obs) = (Vec::new(), Vec::new());
    engine.evaluate_batch_detached(&block, &mut entries, &mut obs);
    // One correlation only: the built-in pack's others are not there.
    let one = sources(&[repo().join("tests/data/correlation/ephemeral_reset.yml")]);
    let mut other = load(&one, &Options::default());
    let mut alerts = Vec::new();
    let result = other.correlate(obs, &mut alerts);
    assert_eq!(result, Err(ObservationError::OtherPack));
}
