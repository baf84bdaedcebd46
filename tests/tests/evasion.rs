//! Bytes an attacker controls lower sigil's confidence, never its detection.
//!
//! Every real Stratus Red Team event that some rule detects is damaged the
//! ways an attacker who writes one field (`userAgent`) or adds one can:
//! an invalid UTF-8 byte, a raw control character, a lone surrogate escape,
//! a stray backslash, megabytes of padding, thousands of extra fields, a
//! byte-order mark, a duplicated key. Each damaged event must still be
//! detected by exactly
//! the rules that detected the clean one, with a warning saying what was
//! damaged; and the sandboxed component must write the same bytes as the
//! native engine for all of them.

mod common;

use std::collections::BTreeSet;

use serde_json::Value;
use sigil_engine::{Engine, EventWarning, Options, RuleSource};
use sigil_host::{Detector, HostConfig, Plugin, run_to_vec};

fn pack() -> Vec<RuleSource> {
    let mut sources = common::rule_sources(&common::sigmahq_dir());
    let builtin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/cloud-compute");
    sources.extend(common::rule_sources(&builtin));
    sources
}

/// Every event of the corpus that some rule of `engine` detects, minified.
fn detected_events(engine: &mut Engine) -> Vec<(String, BTreeSet<u32>)> {
    let mut out = Vec::new();
    for capture in common::stratus_captures() {
        let events: Vec<Value> = serde_json::from_slice(&capture.bytes).unwrap();
        for event in events {
            let line = serde_json::to_string(&event).unwrap();
            let v = engine.evaluate(line.as_bytes()).unwrap();
            if v.matched() && line.contains("\"userAgent\":\"") {
                out.push((line, v.findings.iter().map(|f| f.rule).collect()));
            }
        }
    }
    assert!(out.len() >= 20, "only {} detected events", out.len());
    out
}

/// One way to damage a detected event's line: its name, the rewrite, and
/// the warning the damaged event must carry.
type Damage = (&'static str, Box<dyn Fn(&str) -> Vec<u8>>, EventWarning);

/// The damage an attacker can do by writing the start of `userAgent` or by
/// adding a field, and the warning each must give.
fn damages() -> Vec<Damage> {
    fn in_user_agent(line: &str, text: &[u8]) -> Vec<u8> {
        let at = line.find("\"userAgent\":\"").unwrap() + "\"userAgent\":\"".len();
        let mut out = line.as_bytes()[..at].to_vec();
        out.extend_from_slice(text);
        out.extend_from_slice(&line.as_bytes()[at..]);
        out
    }
    fn added_field(line: &str, text: &[u8]) -> Vec<u8> {
        let mut out = line.as_bytes()[..line.len() - 1].to_vec();
        out.extend_from_slice(b",\"zzAttacker\":\"");
        out.extend_from_slice(text);
        out.extend_from_slice(b"\"}");
        out
    }
    fn first_member(line: &str, text: &str) -> Vec<u8> {
        format!("{{{text},{}", &line[1..]).into_bytes()
    }
    let pad = "A".repeat(2 << 20);
    let pad2 = pad.clone();
    let truncated = EventWarning::Truncated { bytes: 0 };
    vec![
        (
            "invalid UTF-8 in userAgent",
            Box::new(|l: &str| in_user_agent(l, b"\xff")),
            EventWarning::InvalidUtf8,
        ),
        (
            "invalid UTF-8 in an added field",
            Box::new(|l: &str| added_field(l, b"\xc3\x28")),
            EventWarning::InvalidUtf8,
        ),
        (
            "raw control character in userAgent",
            Box::new(|l: &str| in_user_agent(l, b"\x01")),
            EventWarning::ControlCharacters,
        ),
        (
            "lone surrogate in userAgent",
            Box::new(|l: &str| in_user_agent(l, br"\ud800")),
            EventWarning::LoneSurrogate,
        ),
        (
            "lone surrogate in an added field",
            Box::new(|l: &str| added_field(l, br"\udc00")),
            EventWarning::LoneSurrogate,
        ),
        (
            "stray backslash in userAgent",
            Box::new(|l: &str| in_user_agent(l, br"\q")),
            EventWarning::InvalidEscape,
        ),
        (
            "2 MiB padding in userAgent",
            Box::new(move |l: &str| in_user_agent(l, pad.as_bytes())),
            truncated.clone(),
        ),
        (
            "2 MiB padding in an added field",
            Box::new(move |l: &str| added_field(l, pad2.as_bytes())),
            truncated.clone(),
        ),
        (
            // Grown three times by the rewrite (each byte becomes U+FFFD):
            // past the size limit once read, cut like padding.
            "400 KB of invalid UTF-8 in userAgent",
            Box::new(|l: &str| in_user_agent(l, &[0xff; 400_000])),
            EventWarning::InvalidUtf8,
        ),
        (
            // A shipper's line limit cut the line inside the padding an
            // attacker added last: the members before the cut are read.
            "a line cut in a padded field added last",
            Box::new(|l: &str| {
                let mut out = added_field(l, &[b'A'; 20_000]);
                out.truncate(out.len() - 10_000);
                out
            }),
            truncated.clone(),
        ),
        (
            // The last value wins, as in serde_json and SIEMs: the event's
            // own name, written after the attacker's.
            "a duplicated eventName before the real one",
            Box::new(|l: &str| first_member(l, r#""eventName":"DescribeInstances""#)),
            EventWarning::DuplicateKey("eventName".into()),
        ),
        (
            "100 000 added fields",
            Box::new(|l: &str| {
                let mut out = l.as_bytes()[..l.len() - 1].to_vec();
                for i in 0..100_000 {
                    out.extend_from_slice(format!(",\"zz{i}\":[{i},{i}]").as_bytes());
                }
                out.push(b'}');
                out
            }),
            truncated,
        ),
    ]
}

#[test]
fn damaged_events_are_still_detected_with_a_warning() {
    let sources = pack();
    let mut engine = common::load_sigil(&sources);
    let events = detected_events(&mut engine);
    let mut failures = Vec::new();
    for (name, damage, warning) in damages() {
        for (line, want) in &events {
            let damaged = damage(line);
            let v = match engine.evaluate(&damaged) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{name}: error {e}"));
                    continue;
                }
            };
            let got: BTreeSet<u32> = v.findings.iter().map(|f| f.rule).collect();
            if &got != want {
                failures.push(format!("{name}: rules {got:?}, clean event {want:?}"));
            }
            let warned = v.warnings.iter().any(|w| match (w, &warning) {
                (EventWarning::Truncated { bytes }, EventWarning::Truncated { .. }) => {
                    *bytes as usize == damaged.len()
                }
                _ => w == &warning,
            });
            if !warned {
                failures.push(format!("{name}: warnings {:?}", v.warnings));
            }
        }
    }
    failures.dedup();
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

/// A byte-order mark before the first event of a stream (files written by
/// Windows tools) is not part of the event.
#[test]
fn a_leading_byte_order_mark_is_not_an_error() {
    let mut engine = common::load_sigil(&pack());
    let (line, want) = detected_events(&mut engine).swap_remove(0);
    let mut with_bom = b"\xEF\xBB\xBF".to_vec();
    with_bom.extend_from_slice(line.as_bytes());
    let v = engine.evaluate(&with_bom).unwrap();
    let got: BTreeSet<u32> = v.findings.iter().map(|f| f.rule).collect();
    assert_eq!(got, want);
}

/// Only text that is no event at all stays an error. (A line that is not an
/// object at all, `[...]`, is flagged by the host when no rule could match
/// it; see `host/src/output.rs`.)
#[test]
fn what_is_not_an_event_stays_an_error() {
    let mut engine = common::load_sigil(&pack());
    for bad in [
        &b"{\"eventName\":\"StopInst"[..],
        b"{\"eventName\":",
        b"\"eventName StopInstances\"",
    ] {
        assert!(
            engine.evaluate(bad).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

/// The law `component == native` holds on damaged events too: the same
/// lines, verdicts, warnings and counters.
#[test]
fn component_equals_native_on_damaged_events() {
    let sources = pack();
    let mut native_engine = common::load_sigil(&sources);
    let events = detected_events(&mut native_engine);
    let mut input = Vec::new();
    for (_, damage, _) in damages() {
        // A few events per damage keep the input small (the padded ones
        // are 2 MiB each).
        for (line, _) in events.iter().step_by(7).take(3) {
            input.extend_from_slice(&damage(line));
            input.push(b'\n');
        }
    }
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut native = Detector::Native(Engine::load(&sources, options.clone()).unwrap());
    let plugin = Plugin::builtin(HostConfig::default()).unwrap();
    let mut component = Detector::Component(plugin.session(&sources, &options).unwrap());
    let (a, ca) = run_to_vec(&mut native, &input).unwrap();
    let (b, cb) = run_to_vec(&mut component, &input).unwrap();
    assert_eq!(ca.errors, 0, "{ca:?}");
    assert_eq!(ca.warned, ca.events_in, "{ca:?}");
    assert_eq!(ca.events_in, ca.events_out);
    assert_eq!(format!("{ca:?}"), format!("{cb:?}"));
    assert!(a == b, "component output differs from native");
}
