//! sigil-render: the JSON every sigil host writes for an event.
//!
//! ```
//! use sigil_engine::{Engine, Options, RuleSource};
//! use sigil_render::{Outcome, Renderer};
//!
//! let rule = RuleSource::new("stop.yml", r#"
//! title: EC2 instance stopped
//! id: 6a3a7d0e-0000-4000-8000-000000000001
//! level: low
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!     selection: {eventSource: ec2.amazonaws.com, eventName: StopInstances}
//!     condition: selection
//! "#);
//! let mut engine = Engine::load(&[rule], Options::default()).unwrap();
//! let renderer = Renderer::new(engine.rules());
//! let event = br#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#;
//! let verdict = engine.evaluate(event).unwrap();
//! let mut line = Vec::new();
//! renderer.event(&mut line, event, Outcome::Verdict(&verdict), &[]);
//! assert_eq!(
//!     String::from_utf8(line).unwrap(),
//!     r#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","sigil":{"score":30,"level":"low","findings":[{"rule":"6a3a7d0e-0000-4000-8000-000000000001","title":"EC2 instance stopped","level":"low","score":30,"tags":[],"labels":{}}],"source":"aws.cloudtrail"}}"#
//! );
//! ```
//!
//! One shape for one idea across every host: the `sigil` CLI (natively or
//! through the component) and the Fluent Bit filter write an event's
//! verdict with this crate, so a `"sigil"` object means the same bytes
//! wherever it comes from. It sits between the engine and the hosts: it
//! depends on `sigil-engine` (for its types) and `serde_json` (for string
//! escaping), never on a runtime, so it builds for WebAssembly too.
//!
//! # Guarantees
//!
//! - The event is never re-serialised: its bytes are copied as they came and
//!   `"sigil":{...}` is spliced in before its final `}`.
//! - An event that is not a JSON object comes out wrapped,
//!   `{"sigil":{"error":...,"raw":"<its text>"}}`, so the output is one JSON
//!   object per event whatever the input.
//! - Correlation alerts inside the `"sigil"` object (hosts that cannot emit
//!   records of their own) are the last member, `"alerts":[...]`, each the
//!   object that [`Renderer::alert`] writes and the CLI wraps in
//!   `{"sigil_alert":...}`.
//!
//! # Untrusted input
//!
//! Event bytes are copied or escaped, never interpreted beyond the checks
//! that choose between splicing and wrapping: [`looks_like_object`] for
//! events the engine read cleanly (it parsed them, or its scan saw
//! brackets and strings pair up), a full parse ([`is_json_object`]) for
//! events it read with warnings or refused.
//!
//! # Panics
//!
//! None.
//!
//! # Formats
//!
//! sigil's own JSON (the event with `"sigil"` spliced in: [`Renderer`]),
//! and OCSF Detection Finding records, one per finding ([`ocsf::Ocsf`]).
//!
//! # Non-goals
//!
//! I/O (callers own their buffers).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;
use std::io::Write as _;

use serde_json::value::RawValue;
use sigil_engine::{Alert, RuleInfo, Verdict};

pub mod ocsf;

/// The members of the `"sigil"` object of an event that matched nothing and
/// was read cleanly: `"score":0,"level":null,"findings":[]`. Batches do not
/// return such events, so no host knows their source; none is written.
pub const NO_MATCH: &[u8] = b"\"score\":0,\"level\":null,\"findings\":[]";

/// The reason given for a line the engine did not parse and that cannot be a
/// JSON object (it does not start with `{` and end with `}`).
pub const NOT_AN_OBJECT: &str = "invalid JSON: the line is not a JSON object";

/// What the engine said about one event, as a host holds it.
#[derive(Clone, Copy)]
pub enum Outcome<'a> {
    /// Matched nothing and was read cleanly: what a batch leaves out.
    Unmatched,
    /// A verdict (usually one with findings or warnings).
    Verdict(&'a Verdict),
    /// No verdict; the reason, as it is to be written.
    Failed(&'a dyn fmt::Display),
}

/// What [`Renderer::event`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// The event was written with `"sigil":{"error":...}`: it failed, or it
    /// was [`Outcome::Unmatched`] but cannot be a JSON object.
    pub failed: bool,
}

/// The pre-rendered JSON of one rule's findings and alerts.
struct RenderedRule {
    /// `{"rule":ID,"title":T,"level":L,"score":`
    head: Vec<u8>,
    /// `,"tags":[...],"labels":`
    tail: Vec<u8>,
    /// `{"rule":ID,"title":T,"level":L,"score":S,"tags":[...],`
    alert: Vec<u8>,
}

impl RenderedRule {
    fn new(r: &RuleInfo) -> RenderedRule {
        let mut head = b"{\"rule\":".to_vec();
        json_string(&mut head, &r.id);
        head.extend_from_slice(b",\"title\":");
        json_string(&mut head, &r.title);
        head.extend_from_slice(b",\"level\":");
        json_string(&mut head, r.level.as_str());
        head.extend_from_slice(b",\"score\":");
        let mut tail = b",\"tags\":[".to_vec();
        for (i, tag) in r.tags.iter().enumerate() {
            if i > 0 {
                tail.push(b',');
            }
            json_string(&mut tail, tag);
        }
        tail.extend_from_slice(b"],");
        let mut alert = head.clone();
        push_u64(&mut alert, r.score.into());
        alert.extend_from_slice(&tail);
        tail.extend_from_slice(b"\"labels\":");
        RenderedRule { head, tail, alert }
    }
}

/// Writes verdicts and alerts for one loaded rule pack: rule indexes become
/// ids, titles, levels and tags, rendered once here.
pub struct Renderer {
    rules: Vec<RenderedRule>,
}

impl Renderer {
    /// A renderer for the rule table `rules` (`Engine::rules()`).
    pub fn new(rules: &[RuleInfo]) -> Renderer {
        Renderer {
            rules: rules.iter().map(RenderedRule::new).collect(),
        }
    }

    /// Writes `event` with its `"sigil"` object, without a newline, and
    /// says what it wrote.
    ///
    /// The members come from `outcome`: [`NO_MATCH`], [`Renderer::verdict`],
    /// or `"error":REASON`; an unmatched event that cannot be a JSON object
    /// gets [`NOT_AN_OBJECT`]. `alerts` non-empty adds `"alerts":[...]` as
    /// the last member. The event is spliced into when it is a JSON object
    /// (trusted from its first and last bytes when the engine read it
    /// cleanly, checked by a full parse otherwise), else wrapped with its
    /// `"raw"` text.
    pub fn event(
        &self,
        out: &mut Vec<u8>,
        event: &[u8],
        outcome: Outcome<'_>,
        alerts: &[Alert],
    ) -> Written {
        let unmatched_object = looks_like_object(event);
        let (object, failed) = match outcome {
            Outcome::Unmatched => (unmatched_object, !unmatched_object),
            // An event read with warnings may not be JSON as it came
            // (invalid UTF-8, a raw control character): then it goes out
            // wrapped, with its raw text.
            Outcome::Verdict(v) if v.warnings.is_empty() => (unmatched_object, false),
            Outcome::Verdict(_) => (is_json_object(event), false),
            Outcome::Failed(_) => (is_json_object(event), true),
        };
        // Only an event that ends with `}` is spliced into.
        let body = event.trim_ascii_end().strip_suffix(b"}").filter(|_| object);
        match body {
            Some(body) => {
                out.extend_from_slice(body);
                // `{}` (any spacing) takes no comma.
                let inside = body.trim_ascii_start().get(1..).unwrap_or_default();
                if sigil_engine::input::is_blank(inside) {
                    out.extend_from_slice(b"\"sigil\":{");
                } else {
                    out.extend_from_slice(b",\"sigil\":{");
                }
            }
            None => out.extend_from_slice(b"{\"sigil\":{"),
        }
        match outcome {
            Outcome::Unmatched if unmatched_object => out.extend_from_slice(NO_MATCH),
            Outcome::Unmatched => error(out, &NOT_AN_OBJECT),
            Outcome::Verdict(v) => self.verdict(out, v),
            Outcome::Failed(reason) => error(out, reason),
        }
        if body.is_none() {
            out.extend_from_slice(b",\"raw\":");
            json_string(out, &String::from_utf8_lossy(event));
        }
        if !alerts.is_empty() {
            out.extend_from_slice(b",\"alerts\":[");
            let mut first = true;
            for alert in alerts {
                let mark = out.len();
                if !first {
                    out.push(b',');
                }
                if self.alert(out, alert) {
                    first = false;
                } else {
                    out.truncate(mark);
                }
            }
            out.push(b']');
        }
        out.extend_from_slice(b"}}");
        Written { failed }
    }

    /// Writes the members of a verdict's `"sigil"` object:
    /// `"score":S,"level":L,"findings":[{"rule","title","level","score","tags","labels"}...]`,
    /// then `"source"` when the engine recognised one and `"warnings"` when
    /// it read the event with some. A finding of a rule index outside the
    /// table is left out.
    pub fn verdict(&self, out: &mut Vec<u8>, v: &Verdict) {
        out.extend_from_slice(b"\"score\":");
        push_u64(out, v.score.into());
        out.extend_from_slice(b",\"level\":");
        match v.level {
            Some(l) => json_string(out, l.as_str()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"findings\":[");
        let mut first = true;
        for f in &v.findings {
            // The component's answers are checked; the native engine's
            // indexes are in range by construction.
            let Some(rule) = self.rules.get(f.rule as usize) else {
                continue;
            };
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&rule.head);
            push_u64(out, f.score.into());
            out.extend_from_slice(&rule.tail);
            json_object(out, &f.labels);
            out.push(b'}');
        }
        out.push(b']');
        if let Some(source) = v.source {
            out.extend_from_slice(b",\"source\":");
            json_string(out, source.name());
        }
        if !v.warnings.is_empty() {
            out.extend_from_slice(b",\"warnings\":[");
            for (i, w) in v.warnings.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, &w.to_string());
            }
            out.push(b']');
        }
    }

    /// Writes one correlation alert as a JSON object and returns true, or
    /// writes nothing and returns false when its rule index is outside the
    /// table:
    ///
    /// ```text
    /// {"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"group":{"field":"value"},"window":{"start":"2024-08-01T12:03:30Z","end":"2024-08-01T12:04:19Z"},"events":["<eventID>",...],"value":2}
    /// (an aggregate record adds "labels":{"OpCount":"3",...} after "value")
    /// ```
    pub fn alert(&self, out: &mut Vec<u8>, a: &Alert) -> bool {
        let Some(rule) = self.rules.get(a.rule as usize) else {
            return false;
        };
        out.extend_from_slice(&rule.alert);
        out.extend_from_slice(b"\"group\":");
        json_object(out, &a.group);
        out.extend_from_slice(b",\"window\":{\"start\":");
        json_string(out, &sigil_engine::format_rfc3339_ms(a.window_start_ms));
        out.extend_from_slice(b",\"end\":");
        json_string(out, &sigil_engine::format_rfc3339_ms(a.window_end_ms));
        out.extend_from_slice(b"},\"events\":[");
        for (i, id) in a.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json_string(out, id);
        }
        out.extend_from_slice(b"],\"value\":");
        if !a.value.is_finite() {
            out.extend_from_slice(b"null");
        } else if a.value.fract() == 0.0 && a.value.abs() < 1e15 {
            let _ = write!(out, "{}", a.value as i64);
        } else {
            let _ = write!(out, "{}", a.value);
        }
        // Aggregate records (`sigil.aggregate`) carry their columns.
        if !a.labels.is_empty() {
            out.extend_from_slice(b",\"labels\":");
            json_object(out, &a.labels);
        }
        out.push(b'}');
        true
    }
}

/// Writes the member `"error":REASON`.
pub fn error(out: &mut Vec<u8>, reason: &dyn fmt::Display) {
    out.extend_from_slice(b"\"error\":");
    json_string(out, &reason.to_string());
}

/// Cheap check for events the engine read cleanly: it starts with `{` and
/// ends with `}` (surrounding whitespace aside).
pub fn looks_like_object(event: &[u8]) -> bool {
    let t = event.trim_ascii();
    t.len() >= 2 && t[0] == b'{' && t[t.len() - 1] == b'}'
}

/// Full check for events read with warnings or refused: only a valid JSON
/// object is spliced into.
pub fn is_json_object(event: &[u8]) -> bool {
    looks_like_object(event) && serde_json::from_slice::<&RawValue>(event).is_ok()
}

/// Writes `{"name":"value",...}`, in the pairs' order.
pub fn json_object(out: &mut Vec<u8>, pairs: &[(String, String)]) {
    out.push(b'{');
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json_string(out, name);
        out.push(b':');
        json_string(out, value);
    }
    out.push(b'}');
}

/// Writes `s` as a JSON string, quoted and escaped.
pub fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn push_u64(out: &mut Vec<u8>, n: u64) {
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line for an event the engine refused.
    fn line(event: &[u8]) -> String {
        let mut buf = Vec::new();
        Renderer::new(&[]).event(&mut buf, event, Outcome::Failed(&"x"), &[]);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn splices_before_the_final_brace() {
        assert_eq!(
            line(br#"{"a":1}  "#),
            "{\"a\":1,\"sigil\":{\"error\":\"x\"}}"
        );
        assert_eq!(line(b"{}"), "{\"sigil\":{\"error\":\"x\"}}");
        assert_eq!(line(b"{ \t}"), "{ \t\"sigil\":{\"error\":\"x\"}}");
    }

    #[test]
    fn garbage_is_wrapped_with_its_raw_text() {
        assert!(!is_json_object(b"{not json}"));
        assert!(!is_json_object(b"[1]"));
        assert_eq!(
            line(b"oops \"\xff"),
            "{\"sigil\":{\"error\":\"x\",\"raw\":\"oops \\\"\u{fffd}\"}}"
        );
        assert_eq!(line(b""), "{\"sigil\":{\"error\":\"x\",\"raw\":\"\"}}");
    }

    #[test]
    fn alerts_are_the_last_member_of_the_sigil_object() {
        let renderer = Renderer::new(&[]);
        let mut out = Vec::new();
        // An alert of an unknown rule is left out, commas and all.
        let unknown = Alert {
            rule: 7,
            group: Vec::new(),
            window_start_ms: 0,
            window_end_ms: 0,
            events: Vec::new(),
            value: 1.0,
            labels: Vec::new(),
        };
        renderer.event(&mut out, b"{\"a\":1}", Outcome::Unmatched, &[unknown]);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"a":1,"sigil":{"score":0,"level":null,"findings":[],"alerts":[]}}"#
        );
        let mut out = Vec::new();
        let w = renderer.event(&mut out, b"[1]", Outcome::Unmatched, &[]);
        assert!(w.failed);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"sigil":{"error":"invalid JSON: the line is not a JSON object","raw":"[1]"}}"#
        );
    }
}
