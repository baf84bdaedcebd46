//! One filter instance: the engine, its renderer and the answer buffer.

use sigil_engine::{Engine, Options, RuleSource};
use sigil_render::{Outcome, Renderer};

include!(concat!(env!("OUT_DIR"), "/rules.rs"));

/// The answer that drops a record: an empty string (Fluent Bit's
/// convention; it logs the drop at debug level only).
const DROP: &[u8] = b"\0";

/// Which records a filter hands back to Fluent Bit; the others are dropped.
/// Chosen by the exported function that Fluent Bit's `function_name` names
/// (see the crate docs).
///
/// Whatever the policy, a record whose verdict is an error, or that carries
/// correlation alerts, is always kept: a filter cannot emit records of its
/// own, so dropping it would lose the error or the alerts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keep {
    /// Every record (`sigil_filter`), as `sigil run` writes every event.
    All,
    /// Records with at least one finding (`sigil_filter_matched`), as
    /// `sigil run --matched-only`.
    Matched,
    /// Records scoring at least this much (`sigil_filter_min_score_30`,
    /// `_50`, `_75`, `_100`: the scores of the levels low, medium, high and
    /// critical), as `sigil run --min-score N`.
    MinScore(u8),
    /// Only records that carry alerts (`sigil_filter_alerts`), as
    /// `sigil run --alerts-only` writes only alerts.
    Alerts,
}

impl Keep {
    /// Whether a verdict with findings (`matched`) and this `score` passes.
    pub fn keeps(self, matched: bool, score: u8) -> bool {
        match self {
            Keep::All => true,
            Keep::Matched => matched,
            Keep::MinScore(min) => score >= min,
            Keep::Alerts => false,
        }
    }
}

/// A loaded rule pack and what renders its verdicts.
struct Loaded {
    engine: Engine,
    renderer: Renderer,
}

/// The state of one Fluent Bit filter instance: a rule pack loaded once,
/// its correlation windows, and the buffer each answer is written to.
///
/// [`Filter::answer`] takes one record as Fluent Bit passes it (JSON text)
/// and returns the record Fluent Bit is to keep: the same text with
/// `"sigil":{...}` spliced in, NUL-terminated, or an empty string to drop
/// it. The answer lives in the filter's own buffer, which the next call
/// reuses: nothing grows per record.
pub struct Filter {
    /// The pack, or why it did not load (then every record carries it as
    /// its error).
    loaded: Result<Loaded, String>,
    answer: Vec<u8>,
}

impl Filter {
    /// A filter over `sources`, loaded with `options`. A pack that does not
    /// load makes a filter whose every answer carries the load error.
    pub fn new(sources: &[RuleSource], options: Options) -> Filter {
        let loaded = Engine::load(sources, options)
            .map(|engine| Loaded {
                renderer: Renderer::new(engine.rules()),
                engine,
            })
            .map_err(|e| format!("the filter's rule pack did not load: {e}"));
        Filter {
            loaded,
            answer: Vec::new(),
        }
    }

    /// A filter over the rule pack compiled into this build (the built-in
    /// pack, or `SIGIL_RULES` at build time), with the engine's default
    /// [`Options`]: the limits and correlation lateness of `sigil run`.
    pub fn embedded() -> Filter {
        Filter::new(&embedded_rules(), Options::default())
    }

    /// The answer for one record: `record` is its JSON text, or `None` when
    /// Fluent Bit could not copy it into the module (`record_ptr = 0`; then
    /// `record_len` is all that is known of it). The returned bytes end with
    /// a NUL; a lone NUL drops the record.
    ///
    /// The answer is always one JSON object: the record with its verdict
    /// spliced in, exactly as `sigil run` writes that event, plus the
    /// correlation alerts it released as `"alerts":[...]`, the last member
    /// of `"sigil"`; a record that is not a JSON object comes back wrapped,
    /// `{"sigil":{"error":...,"raw":"<its text>"}}`.
    pub fn answer(&mut self, record: Option<&[u8]>, record_len: u32, keep: Keep) -> &[u8] {
        self.answer.clear();
        let Some(record) = record else {
            self.answer.extend_from_slice(b"{\"sigil\":{");
            sigil_render::error(
                &mut self.answer,
                &format_args!(
                    "Fluent Bit could not copy this record ({record_len} bytes) into the filter's \
                     memory: its fields are lost (the module's memory cannot grow further)"
                ),
            );
            self.answer.extend_from_slice(b"}}\0");
            return &self.answer;
        };
        let loaded = match &mut self.loaded {
            Ok(loaded) => loaded,
            Err(reason) => {
                let renderer = Renderer::new(&[]);
                renderer.event(&mut self.answer, record, Outcome::Failed(reason), &[]);
                self.answer.push(0);
                return &self.answer;
            }
        };
        let verdict = loaded.engine.evaluate(record);
        let alerts = loaded.engine.take_alerts();
        let (outcome, kept) = match &verdict {
            // What `evaluate_batch` leaves out, so `sigil run` writes the
            // no-match verdict without a source: the same here.
            Ok(v) if !v.matched() && v.warnings.is_empty() => (
                Outcome::Unmatched,
                keep.keeps(false, 0) || !sigil_render::looks_like_object(record),
            ),
            Ok(v) => (Outcome::Verdict(v), keep.keeps(v.matched(), v.score)),
            Err(e) => (Outcome::Failed(e), true),
        };
        if !kept && alerts.is_empty() {
            return DROP;
        }
        loaded
            .renderer
            .event(&mut self.answer, record, outcome, &alerts);
        self.answer.push(0);
        &self.answer
    }
}

/// The rule pack compiled into this build, in the order it was embedded.
pub fn embedded_rules() -> Vec<RuleSource> {
    RULES
        .iter()
        .map(|(name, text)| RuleSource::new(*name, *text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STOP: &[u8] = br#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","eventTime":"2024-08-01T12:03:30Z","eventID":"a","requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"}]}}}"#;
    const OTHER: &[u8] =
        br#"{"eventVersion":"1.09","eventSource":"s3.amazonaws.com","eventName":"GetObject"}"#;

    fn text(answer: &[u8]) -> &str {
        std::str::from_utf8(answer.strip_suffix(b"\0").unwrap()).unwrap()
    }

    #[test]
    fn every_answer_is_one_nul_terminated_json_object() {
        let mut f = Filter::embedded();
        for record in [
            STOP,
            OTHER,
            b"{}",
            b"[1]",
            b"{\"a\":\"cut",
            b"{\"a\":\"\xff\"}",
        ] {
            let answer = f.answer(Some(record), record.len() as u32, Keep::All);
            let (body, nul) = answer.split_at(answer.len() - 1);
            assert_eq!(nul, b"\0");
            // Invalid UTF-8 passes through as it came (Fluent Bit's parser
            // reads it as U+FFFD, as the engine does).
            let body = String::from_utf8_lossy(body);
            let v: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert!(v["sigil"].is_object(), "{body}");
        }
    }

    #[test]
    fn policies_drop_what_they_must_and_never_an_error() {
        let mut f = Filter::embedded();
        let n = |r: &[u8]| r.len() as u32;
        assert_eq!(f.answer(Some(OTHER), n(OTHER), Keep::Matched), DROP);
        assert_eq!(f.answer(Some(OTHER), n(OTHER), Keep::MinScore(30)), DROP);
        assert_eq!(f.answer(Some(STOP), n(STOP), Keep::MinScore(75)), DROP);
        assert_ne!(f.answer(Some(STOP), n(STOP), Keep::MinScore(10)), DROP);
        assert_ne!(f.answer(Some(STOP), n(STOP), Keep::Matched), DROP);
        assert_eq!(f.answer(Some(STOP), n(STOP), Keep::Alerts), DROP);
        assert!(text(f.answer(Some(b"[1]"), 3, Keep::Alerts)).contains("\"error\""));
    }

    #[test]
    fn a_record_fluent_bit_could_not_copy_comes_back_marked() {
        let mut f = Filter::embedded();
        let answer = text(f.answer(None, 900_000, Keep::Matched)).to_string();
        let v: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(
            v["sigil"]["error"]
                .as_str()
                .unwrap()
                .contains("900000 bytes")
        );
    }

    #[test]
    fn a_pack_that_does_not_load_marks_every_record() {
        let mut f = Filter::new(
            &[RuleSource::new("bad.yml", "title: [")],
            Options::default(),
        );
        let answer = text(f.answer(Some(OTHER), OTHER.len() as u32, Keep::Matched));
        assert!(answer.starts_with("{\"eventVersion\""), "{answer}");
        assert!(answer.contains("rule pack did not load"), "{answer}");
    }
}
