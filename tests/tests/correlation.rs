//! Correlation rules, end to end on the engine.
//!
//! - The Stratus capture `aws.execution.ec2-user-data.json` holds a real
//!   StopInstances → StartInstances of one instance (its records newest
//!   first): a `temporal_ordered` rule finds it, in file order, sorted, and
//!   in any order within the lateness.
//! - Each multi-event Atomic Red Team test of the seeds has a correlation
//!   rule and a stream written from the seed's "Expected signal" and
//!   CloudTrail's documented record shapes (`tests/data/correlation/`), with
//!   near misses (another instance or principal, outside the window, the
//!   wrong order, a failed call) whose event ids start with `miss-`.
//!   `expected.json` holds the alerts, reviewed by hand.
//! - Differential: rsigma-eval 0.26's `CorrelationEngine` on the same rules
//!   and events (the seeds' streams, the capture, and random streams over
//!   ten correlations of every counting type and a chain); every difference
//!   in alerts is listed in [`DEVIATIONS`] with its reason.
//!
//! Where the two engines differ by design, and how the comparison copes:
//!
//! - Time: sigil windows on event time with a lateness bound and applies
//!   matches in event-time order; rsigma windows on arrival order. They
//!   meet on input sorted by event time, which is what rsigma is fed.
//! - Firing: sigil fires once per occurrence and empties the group; rsigma
//!   by default fires again on every further match while the condition
//!   holds. rsigma runs with `action_on_match: Reset`, its equivalent.
//! - Group-by through arrays: see [`DEVIATIONS`]. `items[]` is sigil's
//!   spelling of "every element" (rsigma reads a literal key `items[]`, so
//!   it gets the path without `[]`); rsigma's positional `items[0]` is
//!   refused by sigil with a pointer to `items[]`.
//! - Not compared: rsigma's extensions. sigil refuses condition expressions
//!   over rule names and `correlation.window`/`gap` at load, with a reason;
//!   root-level `rsigma.*` attributes are custom attributes, which sigil,
//!   like other Sigma tools, ignores. Not exercised: `temporal_ordered` with a
//!   threshold below the number of rules (sigil counts the longest ordered
//!   prefix; rsigma requires every rule in order, else counts 0).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::{data_dir, shared_dir};
use serde_json::Value;
use sigil_engine::input::{document_events, minify_into};
use sigil_engine::{Alert, Engine, Options, RuleSource};

fn corr_dir() -> PathBuf {
    data_dir().join("correlation")
}

fn rule_file(name: &str) -> RuleSource {
    let path = corr_dir().join(format!("{name}.yml"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    RuleSource::new(format!("{name}.yml"), text)
}

/// The events of a JSON document or NDJSON file, one line each.
fn events_of(bytes: &[u8]) -> Vec<Vec<u8>> {
    let trimmed = bytes.trim_ascii_start();
    if trimmed.first() == Some(&b'[') {
        document_events(bytes)
            .unwrap()
            .into_iter()
            .map(|e| {
                let mut line = Vec::new();
                minify_into(e, &mut line);
                line
            })
            .collect()
    } else {
        sigil_engine::input::ndjson_events(bytes)
            .map(<[u8]>::to_vec)
            .collect()
    }
}

fn case_events(name: &str) -> Vec<Vec<u8>> {
    let path = corr_dir().join(format!("{name}.ndjson"));
    events_of(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

fn stratus(file: &str) -> Vec<Vec<u8>> {
    let path = shared_dir()
        .join("corpora/stratus-detonation-logs")
        .join(file);
    events_of(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// An alert as the tests compare it.
#[derive(Clone, Debug, PartialEq, PartialOrd)]
struct Seen {
    rule: String,
    group: Vec<(String, String)>,
    start_ms: i64,
    end_ms: i64,
    events: Vec<String>,
    value: f64,
}

fn seen(engine: &Engine, alerts: &[Alert]) -> Vec<Seen> {
    let mut out: Vec<Seen> = alerts
        .iter()
        .map(|a| Seen {
            rule: engine.rules()[a.rule as usize].id.clone(),
            group: a.group.clone(),
            start_ms: a.window_start_ms,
            end_ms: a.window_end_ms,
            events: a.events.clone(),
            value: a.value,
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

/// sigil's alerts for `events` arriving in this order, in 3 batches, then a
/// flush; sorted. Also the engine, for its counters.
fn sigil(rules: &[RuleSource], events: &[Vec<u8>], options: Options) -> (Vec<Seen>, Engine) {
    let mut engine = Engine::load(rules, options).unwrap_or_else(|e| panic!("{e}"));
    let mut alerts = Vec::new();
    for chunk in events.chunks(events.len().div_ceil(3).max(1)) {
        let mut block = Vec::new();
        for e in chunk {
            block.extend_from_slice(e);
            block.push(b'\n');
        }
        let (mut out, mut batch_alerts) = (Vec::new(), Vec::new());
        engine.evaluate_batch(&block, &mut out, &mut batch_alerts);
        alerts.extend(batch_alerts.into_iter().map(|a| a.alert));
    }
    alerts.extend(engine.flush());
    (seen(&engine, &alerts), engine)
}

fn event_time_ms(event: &[u8]) -> i64 {
    let v: Value = serde_json::from_slice(event).unwrap();
    let t = v["eventTime"].as_str().unwrap();
    let secs = t[17..19].parse::<i64>().unwrap()
        + 60 * t[14..16].parse::<i64>().unwrap()
        + 3600 * t[11..13].parse::<i64>().unwrap();
    assert!(t.starts_with("2024-08-01T") && t.ends_with('Z'), "{t}");
    1_722_470_400_000 + secs * 1000
}

/// A small deterministic generator (xorshift64*), so shuffles are reproducible.
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
}

/// `events` in an arrival order where each event is less than `lateness_ms`
/// behind the newest event time before it: sorted by event time plus a
/// random delay below the lateness.
fn jittered(events: &[Vec<u8>], lateness_ms: i64, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut keyed: Vec<(i64, u64, &Vec<u8>)> = events
        .iter()
        .map(|e| {
            (
                event_time_ms(e) + rng.below(lateness_ms as u64) as i64,
                rng.next(),
                e,
            )
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, e)| e.clone()).collect()
}

fn shuffled(events: &[Vec<u8>], seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = events.to_vec();
    for i in (1..out.len()).rev() {
        out.swap(i, rng.below(i as u64 + 1) as usize);
    }
    out
}

// ---------------------------------------------------------------------------
// The Stratus capture

#[test]
fn stratus_stop_then_start_of_one_instance() {
    let rules = [rule_file("ephemeral_reset")];
    let events = stratus("aws.execution.ec2-user-data.json");
    assert_eq!(events.len(), 35);
    let (alerts, engine) = sigil(&rules, &events, Options::default());
    let expected = vec![Seen {
        rule: "145d2cd8-1db2-48d5-8aea-7d72349a66ae".into(),
        group: vec![(
            "requestParameters.instancesSet.items.instanceId".into(),
            "i-DDd6c7B0e18F0E35f".into(),
        )],
        start_ms: 1_722_513_810_000, // 12:03:30 StopInstances
        end_ms: 1_722_513_859_000,   // 12:04:19 StartInstances
        events: vec![
            "d373b5dd-6a82-439d-bdcf-4e6c7c7a9292".into(),
            "55e470c0-611d-4549-ad87-a7c830a75063".into(),
        ],
        value: 2.0,
    }];
    assert_eq!(alerts, expected);
    assert_eq!(engine.correlation_stats().late_events, 0);
    // The base rules only feed the correlation: no finding of their own.
    let mut e = Engine::load(&rules, Options::default()).unwrap();
    assert!(events.iter().all(|ev| !e.evaluate(ev).unwrap().matched()));

    // The capture spans 54 s, inside the default lateness: every order
    // of its events gives the same alert.
    let mut sorted = events.clone();
    sorted.sort_by_key(|e| event_time_ms(e));
    assert_eq!(sigil(&rules, &sorted, Options::default()).0, expected);
    for seed in 0..40 {
        assert_eq!(
            sigil(&rules, &shuffled(&events, seed), Options::default()).0,
            expected,
            "shuffle {seed}"
        );
    }

    // With a lateness shorter than the StopInstances' delay in the file
    // (49 s behind the StartInstances), the stop is late: left out, counted.
    let short = Options {
        correlation_lateness_ms: 10_000,
        ..Options::default()
    };
    let (alerts, engine) = sigil(&rules, &events, short.clone());
    assert!(alerts.is_empty());
    assert_eq!(engine.correlation_stats().late_events, 1);
    // Within that shorter bound, any arrival order still finds it.
    for seed in 0..20 {
        assert_eq!(
            sigil(&rules, &jittered(&events, 10_000, seed), short.clone()).0,
            expected,
            "jitter {seed}"
        );
    }
}

// ---------------------------------------------------------------------------
// The seeds' sequences

/// Expected alerts of `tests/data/correlation/expected.json`, as `Seen`.
fn expected_alerts(case: &str, engine: &Engine) -> Vec<Seen> {
    let text = std::fs::read_to_string(corr_dir().join("expected.json")).unwrap();
    let all: BTreeMap<String, Vec<Value>> = serde_json::from_str(&text).unwrap();
    let emitting: Vec<&str> = engine
        .rules()
        .iter()
        .filter(|r| r.level != sigil_engine::Level::Informational)
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(emitting.len(), 1, "{case}: one correlation per file");
    let mut out: Vec<Seen> = all[case]
        .iter()
        .map(|a| {
            let window = a["window"].as_array().unwrap();
            let ms = |v: &Value| event_time_ms(format!(r#"{{"eventTime":{v}}}"#).as_bytes());
            Seen {
                rule: emitting[0].to_string(),
                group: a["group"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                start_ms: ms(&window[0]),
                end_ms: ms(&window[1]),
                events: a["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap().to_string())
                    .collect(),
                value: a["value"].as_f64().unwrap(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.partial_cmp(b).unwrap());
    out
}

const CASES: [&str; 4] = [
    "ephemeral_reset",
    "volume_restore",
    "ami_from_snapshot",
    "snapshot_staging",
];

fn check_case(case: &str) {
    let rules = [rule_file(case)];
    let events = case_events(case);
    let (alerts, engine) = sigil(&rules, &events, Options::default());
    let expected = expected_alerts(case, &engine);
    assert_eq!(alerts, expected, "{case}");
    assert!(
        alerts
            .iter()
            .flat_map(|a| &a.events)
            .all(|id| !id.starts_with("miss-")),
        "{case}"
    );
    let stats = engine.correlation_stats();
    assert_eq!(
        (
            stats.late_events,
            stats.evicted_groups,
            stats.dropped_entries
        ),
        (0, 0, 0),
        "{case}: {stats:?}"
    );
    // Any arrival order within the lateness gives the same alerts.
    for seed in 0..20 {
        let order = jittered(&events, 60_000, seed);
        assert_eq!(
            sigil(&rules, &order, Options::default()).0,
            expected,
            "{case}, jitter {seed}"
        );
    }
    // Each near miss, alone with the sequence it imitates, stays silent.
    let misses: BTreeMap<String, Vec<Vec<u8>>> = events.iter().fold(BTreeMap::new(), |mut m, e| {
        let v: Value = serde_json::from_slice(e).unwrap();
        let id = v["eventID"].as_str().unwrap();
        if let Some(rest) = id.strip_prefix("miss-") {
            let kind = rest.split('-').next().unwrap().to_string();
            m.entry(kind).or_default().push(e.clone());
        }
        m
    });
    assert!(!misses.is_empty(), "{case} has near misses");
    for (kind, miss) in misses {
        assert!(
            sigil(&rules, &miss, Options::default()).0.is_empty(),
            "{case}: near miss `{kind}` fired"
        );
    }
}

#[test]
fn seed_t1578_004_stop_then_start() {
    check_case("ephemeral_reset");
}

#[test]
fn seed_t1578_004_volume_from_snapshot_then_attach() {
    check_case("volume_restore");
}

#[test]
fn seed_t1578_004_ami_from_snapshot_then_launch() {
    check_case("ami_from_snapshot");
}

#[test]
fn seed_t1578_002_volume_snapshot_launch_by_one_principal() {
    check_case("snapshot_staging");
}

// ---------------------------------------------------------------------------
// Differential: rsigma-eval's CorrelationEngine

/// An alert as both engines can report it: rule id, group, the time of the
/// event that completed it (whole seconds) and the value.
type Key = (String, Vec<(String, String)>, i64, String);

fn sigil_keys(alerts: &[Seen]) -> Vec<Key> {
    let mut out: Vec<Key> = alerts
        .iter()
        .map(|a| {
            (
                a.rule.clone(),
                a.group.clone(),
                a.end_ms / 1000,
                format!("{}", a.value),
            )
        })
        .collect();
    out.sort();
    out
}

/// rsigma's alerts for `events` fed in event-time order (ties by eventID):
/// the order in which sigil commits them. rsigma windows on arrival order, so
/// sorted input is where the two semantics meet.
///
/// Configuration, chosen so like is compared with like:
/// - `action_on_match: Reset`: sigil empties a group's window when it fires
///   (one alert per occurrence); rsigma's default keeps the window and fires
///   again on every further match while the condition holds.
/// - timestamps are given explicitly (`process_event_at`), from `eventTime`.
/// - rule text has `[]` removed from field paths: sigil reads `items[]` as
///   "every element" (like `items`), rsigma as a literal key `items[]`.
fn rsigma_keys(rules: &[RuleSource], events: &[Vec<u8>]) -> Vec<Key> {
    use rsigma_eval::{CorrelationAction, CorrelationConfig, CorrelationEngine, JsonEvent};
    let config = CorrelationConfig {
        action_on_match: CorrelationAction::Reset,
        ..CorrelationConfig::default()
    };
    let mut engine = CorrelationEngine::new(config);
    for r in rules {
        let text = r.text.replace("[]", "");
        let collection = rsigma_parser::parse_sigma_yaml(&text)
            .unwrap_or_else(|e| panic!("rsigma: {}: {e}", r.name));
        engine
            .add_collection(&collection)
            .unwrap_or_else(|e| panic!("rsigma: {}: {e}", r.name));
    }
    let mut sorted: Vec<(i64, String, Value)> = events
        .iter()
        .map(|e| {
            let v: Value = serde_json::from_slice(e).unwrap();
            (
                event_time_ms(e) / 1000,
                v["eventID"].as_str().unwrap_or("").to_string(),
                v,
            )
        })
        .collect();
    sorted.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let mut out = Vec::new();
    for (ts, _, v) in &sorted {
        for r in engine.process_event_at(&JsonEvent::borrow(v), *ts) {
            if let Some(c) = r.as_correlation() {
                let rule = r
                    .header
                    .rule_id
                    .clone()
                    .unwrap_or_else(|| r.header.rule_title.clone());
                out.push((
                    rule,
                    c.group_key.clone(),
                    *ts,
                    format!("{}", c.aggregated_value),
                ));
            }
        }
    }
    out.sort();
    out
}

/// A difference between the engines: an alert only one of them gives.
struct Deviation {
    case: &'static str,
    /// The value of the alert's first group-by field.
    group: &'static str,
    sigil_only: bool,
    why: &'static str,
}

const DEVIATIONS: &[Deviation] = &[Deviation {
    case: "ephemeral_reset",
    group: "i-1b",
    sigil_only: true,
    why: "StopInstances of two instances: the group-by path crosses an array with two \
          elements. rsigma reads the path as one array value, which is no group key, so the \
          event joins no group; sigil joins one group per distinct element (correlation \
          module docs, Groups), so the later StartInstances of i-1b completes the sequence. \
          The seed's own path, items[0].instanceId, shows the array; the specification does \
          not say how group-by treats arrays.",
}];

fn diff(case: &'static str, rules: &[RuleSource], events: &[Vec<u8>]) {
    let options = Options {
        max_events_per_group: 100_000,
        ..Options::default()
    };
    let (alerts, _) = sigil(rules, events, options);
    let ours = sigil_keys(&alerts);
    let theirs = rsigma_keys(rules, events);
    let only_sigil: Vec<&Key> = ours.iter().filter(|k| !theirs.contains(k)).collect();
    let only_rsigma: Vec<&Key> = theirs.iter().filter(|k| !ours.contains(k)).collect();
    let explained = |k: &Key, sigil_only: bool| {
        DEVIATIONS.iter().any(|d| {
            d.case == case
                && d.sigil_only == sigil_only
                && k.1.first().is_some_and(|(_, v)| v == d.group)
        })
    };
    for k in &only_sigil {
        assert!(
            explained(k, true),
            "{case}: only sigil alerts {k:?}\nsigil: {ours:#?}\nrsigma: {theirs:#?}"
        );
    }
    for k in &only_rsigma {
        assert!(
            explained(k, false),
            "{case}: only rsigma alerts {k:?}\nsigil: {ours:#?}\nrsigma: {theirs:#?}"
        );
    }
    // Every listed deviation is observed: a fixed one must leave the list.
    for d in DEVIATIONS.iter().filter(|d| d.case == case) {
        let list = if d.sigil_only {
            &only_sigil
        } else {
            &only_rsigma
        };
        assert!(
            list.iter()
                .any(|k| k.1.first().is_some_and(|(_, v)| v == d.group)),
            "{case}: deviation {} not observed ({})",
            d.group,
            d.why
        );
    }
}

#[test]
fn same_alerts_as_rsigma_on_the_seeds_and_the_capture() {
    for case in CASES {
        diff(case, &[rule_file(case)], &case_events(case));
    }
    diff(
        "stratus",
        &[rule_file("ephemeral_reset")],
        &stratus("aws.execution.ec2-user-data.json"),
    );
}

/// A random stream of the EC2 calls the rules read: four principals, a few
/// instances, volumes, snapshots, images and addresses, three hours; sorted
/// by event time.
fn random_stream(seed: u64, n: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let secs = rng.below(3 * 3600);
        let time = format!(
            "2024-08-01T{:02}:{:02}:{:02}Z",
            12 + secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        let who = ["alice", "bob", "carol", "dave"][rng.below(4) as usize];
        let inst = format!("i-{}", rng.below(6));
        let vol = format!("vol-{}", rng.below(8));
        let snap = format!("snap-{}", rng.below(8));
        let ami = format!("ami-{}", rng.below(5));
        let ip = format!("10.0.0.{}", rng.below(5));
        let error = if rng.below(10) == 0 {
            r#","errorCode":"Client.UnauthorizedOperation""#
        } else {
            ""
        };
        let (name, req, resp) = match rng.below(7) {
            0 => (
                "StopInstances",
                format!(r#"{{"instancesSet":{{"items":[{{"instanceId":"{inst}"}}]}}}}"#),
                "null".to_string(),
            ),
            1 => (
                "StartInstances",
                format!(r#"{{"instancesSet":{{"items":[{{"instanceId":"{inst}"}}]}}}}"#),
                "null".to_string(),
            ),
            2 => {
                let size = rng.below(60);
                let from = if rng.below(2) == 0 {
                    format!(r#","snapshotId":"{snap}""#)
                } else {
                    String::new()
                };
                (
                    "CreateVolume",
                    format!(r#"{{"size":{size}{from}}}"#),
                    format!(r#"{{"volumeId":"{vol}"}}"#),
                )
            }
            3 => (
                "AttachVolume",
                format!(r#"{{"volumeId":"{vol}","instanceId":"{inst}"}}"#),
                "null".to_string(),
            ),
            4 => (
                "CreateSnapshot",
                format!(r#"{{"volumeId":"{vol}"}}"#),
                format!(r#"{{"snapshotId":"{snap}"}}"#),
            ),
            5 => (
                "RegisterImage",
                format!(
                    r#"{{"blockDeviceMapping":{{"items":[{{"deviceName":"/dev/xvda","ebs":{{"snapshotId":"{snap}"}}}}]}}}}"#
                ),
                format!(r#"{{"imageId":"{ami}"}}"#),
            ),
            _ => {
                let bdm = if rng.below(2) == 0 {
                    format!(
                        r#"{{"items":[{{"deviceName":"/dev/sdh","ebs":{{"snapshotId":"{snap}"}}}}]}}"#
                    )
                } else {
                    "{}".to_string()
                };
                (
                    "RunInstances",
                    format!(
                        r#"{{"instancesSet":{{"items":[{{"imageId":"{ami}"}}]}},"blockDeviceMapping":{bdm}}}"#
                    ),
                    "null".to_string(),
                )
            }
        };
        out.push(
            format!(
                r#"{{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"{name}","eventTime":"{time}","eventID":"r{i}","userIdentity":{{"arn":"arn:aws:iam::1:user/{who}"}},"sourceIPAddress":"{ip}","requestParameters":{req},"responseElements":{resp}{error}}}"#
            )
            .into_bytes(),
        );
    }
    out.sort_by_key(|e| event_time_ms(e));
    out
}

#[test]
fn same_alerts_as_rsigma_on_random_streams() {
    let mut rules: Vec<RuleSource> = CASES.iter().map(|c| rule_file(c)).collect();
    rules.push(rule_file("differential"));
    let mut per_rule: BTreeMap<String, usize> = BTreeMap::new();
    for seed in 1..=6 {
        let events = random_stream(seed, 1500);
        let (alerts, _) = sigil(
            &rules,
            &events,
            Options {
                max_events_per_group: 100_000,
                ..Options::default()
            },
        );
        for a in &alerts {
            *per_rule.entry(a.rule.clone()).or_default() += 1;
        }
        diff("random", &rules, &events);
        // Arrival order within the lateness does not matter either.
        let options = Options {
            max_events_per_group: 100_000,
            ..Options::default()
        };
        assert_eq!(
            sigil(&rules, &jittered(&events, 60_000, seed), options).0,
            alerts,
            "seed {seed}"
        );
    }
    // Every emitting correlation fires often: all seven types and the chain are exercised.
    assert_eq!(per_rule.len(), 9, "{per_rule:?}");
    assert!(per_rule.values().all(|&n| n >= 50), "{per_rule:?}");
}
