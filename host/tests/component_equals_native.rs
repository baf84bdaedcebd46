//! The key law: the component and the native engine, loaded with the same
//! rules, write byte-identical output for every input, correlation alerts
//! included.
//!
//! Runs every file of the Stratus Red Team detonation logs with every rule
//! of the SigmaHQ cloud pack (invalid rules skipped), then again with the
//! correlation rules of `tests/data/correlation/` added, over the corpus and
//! those rules' own event streams. The locations can be moved with
//! `SIGIL_CORPUS_DIR` and `SIGIL_RULES_DIR`.

use std::path::PathBuf;

use sigil_engine::{Engine, Options};
use sigil_host::{Detector, HostConfig, Plugin, run_to_vec};

fn dir(var: &str, default: &str) -> PathBuf {
    let dir = PathBuf::from(std::env::var(var).unwrap_or_else(|_| default.to_string()));
    assert!(
        dir.is_dir(),
        "{} is missing: set {var} to the directory",
        dir.display()
    );
    dir
}

/// Where this crate's sibling keeps the correlation rules and streams.
fn correlation_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/data/correlation")
}

fn files_with(dir: &std::path::Path, ext: &[&str]) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| ext.iter().any(|x| e == *x)))
        .collect();
    files.sort();
    files
}

#[test]
fn component_output_is_byte_identical_to_native() {
    // The third-party corpora and rules copied into `tests/data`.
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
    let corpus = dir(
        "SIGIL_CORPUS_DIR",
        &format!("{shared}/corpora/stratus-detonation-logs"),
    );
    let rules = dir("SIGIL_RULES_DIR", &format!("{shared}/rules/sigmahq-cloud"));
    let sources = sigil_host::rule_sources(&[rules]).unwrap();
    let files = files_with(&corpus, &["json", "ndjson"]);
    assert!(!files.is_empty(), "no .json file in {}", corpus.display());
    let alerts = compare(&sources, &files);
    assert_eq!(alerts, 0, "the SigmaHQ pack has no correlation rule");
}

#[test]
fn component_output_is_byte_identical_to_native_with_correlations() {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
    let corpus = dir(
        "SIGIL_CORPUS_DIR",
        &format!("{shared}/corpora/stratus-detonation-logs"),
    );
    let rules = dir("SIGIL_RULES_DIR", &format!("{shared}/rules/sigmahq-cloud"));
    let sources = sigil_host::rule_sources(&[rules, correlation_dir()]).unwrap();
    let mut files = files_with(&corpus, &["json", "ndjson"]);
    files.extend(files_with(&correlation_dir(), &["ndjson"]));
    let alerts = compare(&sources, &files);
    // The Stratus stop/start and the seeds' sequences.
    assert!(alerts >= 6, "{alerts} alerts");
}

/// The repository's own packs (curated and seeds' parity) over the SIEM-shaped
/// events of the seed oracle and the Atomic Red Team corpus: labels, CASE
/// columns, sources and aggregate records cross the WIT boundary unchanged.
#[test]
fn component_output_is_byte_identical_to_native_with_the_repository_packs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = sigil_host::rule_sources(&[root.join("rules")]).unwrap();
    let mut files = files_with(&root.join("tests/data/seeds/events"), &["ndjson"]);
    files.extend(files_with(&root.join("tests/data/atomic"), &["ndjson"]));
    let alerts = compare(&sources, &files);
    assert!(
        alerts > 10,
        "{alerts} alerts: aggregate records and the curated sequences"
    );
}

/// Runs every file through both detectors and checks their output is the
/// same; returns how many alerts were written.
fn compare(sources: &[sigil_engine::RuleSource], files: &[PathBuf]) -> u64 {
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut native = Detector::Native(Engine::load(sources, options.clone()).unwrap());
    let plugin = Plugin::builtin(HostConfig::default()).unwrap();
    let mut component = Detector::Component(plugin.session(sources, &options).unwrap());
    assert_eq!(native.rules(), component.rules());
    assert_eq!(native.skipped(), component.skipped());
    let mut alerts = 0;
    for file in files {
        let input = std::fs::read(file).unwrap();
        let (a, ca) = run_to_vec(&mut native, &input).unwrap();
        let (b, cb) = run_to_vec(&mut component, &input).unwrap();
        if a != b {
            let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
            let (n, (la, lb)) = a
                .lines()
                .zip(b.lines())
                .enumerate()
                .find(|(_, (x, y))| x != y)
                .unwrap_or((0, ("<length>", "<length>")));
            panic!(
                "{}: line {}:\nnative:    {la}\ncomponent: {lb}",
                file.display(),
                n + 1
            );
        }
        assert_eq!(ca, cb, "{}", file.display());
        assert!(ca.events_in > 0, "{}", file.display());
        alerts += ca.alerts;
    }
    assert_eq!(native.correlation_stats(), component.correlation_stats());
    alerts
}

/// Both detectors cut a block into the same lines wherever the newlines
/// fall: the guest's line search takes 128 bytes at a time, so lines of
/// every length around those boundaries, blank lines, `\r\n` endings and
/// a last line without a newline are all here.
#[test]
fn lines_are_cut_alike_wherever_the_newlines_fall() {
    let mut input = Vec::new();
    let mut events = 0;
    for n in 0..300 {
        let pad = "x".repeat(n);
        input.extend_from_slice(
            format!(
                r#"{{"eventSource":"ec2.amazonaws.com","eventName":"DeleteTrail","pad":"{pad}"}}"#
            )
            .as_bytes(),
        );
        input.extend_from_slice(match n % 5 {
            0 => b"\r\n",
            1 => b"\n\n",
            2 => b"\n   \n",
            _ => b"\n",
        });
        events += 1;
    }
    input.extend_from_slice(
        br#"{"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"}"#,
    );
    events += 1;

    let ca = same_output_of(&sigmahq_sources(), &input);
    assert_eq!(ca.events_in, events);
    assert!(ca.matched > 0, "the rules must see the events: {ca:?}");
}

/// A value searched for several `contains` literals (the SigmaHQ pack has
/// six for `userAgent`) first goes through a filter of the literals' first
/// four bytes, 16 positions at a time, written with each build's own vector
/// code: both builds find a literal at every offset around those windows,
/// in any case, and neither takes a near miss for one.
#[test]
fn contains_literals_are_found_alike_at_every_offset() {
    // The call each rule names, and user agents that hold its literal or
    // nearly do.
    let calls: [(&str, &[(&str, bool)]); 2] = [
        (
            r#""eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity""#,
            &[
                ("TruffleHog", true),
                ("TRUFFLEHOG", true),
                ("trufflehog/3.63", true),
                ("TruffleHo", false),
                ("Truffle Hog", false),
            ],
        ),
        (
            r#""eventSource":"iam.amazonaws.com","eventName":"GetLoginProfile""#,
            &[
                ("S3 Browser 11.4", true),
                ("s3 BROWSER", true),
                ("S3 Browse", false),
                ("S3-Browser", false),
            ],
        ),
    ];
    let mut input = String::new();
    let mut want = 0;
    for offset in 0..40 {
        let pad: String = "aws-cli/2 ".chars().cycle().take(offset).collect();
        for (call, agents) in calls {
            for &(agent, hit) in agents {
                input += &format!("{{{call},\"userAgent\":\"{pad}{agent}\"}}\n");
                want += u64::from(hit);
            }
        }
    }
    let counters = same_output_of(&sigmahq_sources(), input.as_bytes());
    assert_eq!(counters.matched, want, "{counters:?}");
}

/// The SigmaHQ cloud rules of `tests/data` (or `SIGIL_RULES_DIR`).
fn sigmahq_sources() -> Vec<sigil_engine::RuleSource> {
    let shared = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/data");
    let rules = dir("SIGIL_RULES_DIR", &format!("{shared}/rules/sigmahq-cloud"));
    sigil_host::rule_sources(&[rules]).unwrap()
}

/// Runs one input through both detectors loaded with `sources`, checks
/// that they write the same lines, and returns the counters.
fn same_output_of(sources: &[sigil_engine::RuleSource], input: &[u8]) -> sigil_host::Counters {
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut native = Detector::Native(Engine::load(sources, options.clone()).unwrap());
    let plugin = Plugin::builtin(HostConfig::default()).unwrap();
    let mut component = Detector::Component(plugin.session(sources, &options).unwrap());
    let (a, ca) = run_to_vec(&mut native, input).unwrap();
    let (b, cb) = run_to_vec(&mut component, input).unwrap();
    let (a, b) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
    if let Some((n, (la, lb))) = a
        .lines()
        .zip(b.lines())
        .enumerate()
        .find(|(_, (x, y))| x != y)
    {
        panic!("line {}:\nnative:    {la}\ncomponent: {lb}", n + 1);
    }
    assert_eq!(a.lines().count(), b.lines().count());
    assert_eq!(ca, cb);
    assert!(ca.matched > 0, "the rules must see the events: {ca:?}");
    ca
}

/// Texts the WebAssembly build does not index go to the byte-wise scanner,
/// which decodes escapes, as natively: a literal spelt with `\u` escapes or
/// `\/`, and a Kelvin sign (U+212A, whose lower case is `k`), are found
/// alike at every offset; an escaped quote is not taken for the string's
/// end.
#[test]
fn escaped_and_unscannable_texts_are_read_alike() {
    let sts = r#""eventSource":"sts.amazonaws.com","eventName":"GetCallerIdentity""#;
    let agents: [(&str, bool); 4] = [
        (r"\u0054ruffleHog", true),
        (r"Truffle\u0048og\/3", true),
        (r#"Truffle\"Hog"#, false),
        (r#"x\" TruffleHog"#, true),
    ];
    let mut input = String::new();
    let mut want = 0;
    for offset in 0..40 {
        let pad: String = "aws-cli/2 ".chars().cycle().take(offset).collect();
        for (agent, hit) in agents {
            input += &format!("{{{sts},\"userAgent\":\"{pad}{agent}\"}}\n");
            want += u64::from(hit);
        }
        // The Kelvin sign, raw, in a value a rule compares exactly.
        input += &format!(
            "{{\"eventSource\":\"\u{212A}ms.amazonaws.com\",\"eventName\":\"ImportKeyMaterial\",\"pad\":\"{pad}\"}}\n"
        );
        want += 1;
    }
    let counters = same_output_of(&sigmahq_sources(), input.as_bytes());
    assert_eq!(counters.matched, want, "{counters:?}");
}
