//! The WIT exports: `plugin/component`'s glue, with the mode's attack
//! applied to what goes back to the host. The conversions are the real
//! plugin's own file, included, so only the attacks live here.

use std::cell::{Cell, RefCell};

use exports::sigil::engine::detector::{
    self, BatchEntry, BatchResult, DetachedResult, Observations,
};
use exports::sigil::engine::types as wit;

use convert::{
    alert, batch_alerts, correlation_stats, decode_observations, encode_observations, entries,
    event_error, load_error, observation_error, options_from, rule_error, rule_info, unrecognised,
    verdict,
};

use crate::mode::{Mode, exhaust_memory, spin};

#[path = "../../../../plugin/component/src/glue/convert.rs"]
mod convert;

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit",
});

struct Component;

export!(Component);

impl detector::Guest for Component {
    type Engine = Engine;
}

struct Engine {
    engine: RefCell<sigil_engine::Engine>,
    mode: Mode,
    rules: u32,
    /// Evaluation calls so far (for `trap-every:N`); an instance the host
    /// makes afresh starts at 0 again.
    calls: Cell<u64>,
}

impl Engine {
    /// What every evaluation call does first: the attacks that do not
    /// depend on the answer.
    fn on_call(&self) {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        match self.mode {
            Mode::Loop => spin(),
            Mode::Alloc => exhaust_memory(),
            Mode::TrapEvery(every) if n.is_multiple_of(every) => {
                panic!("sigil-hostile: trap on call {n}")
            }
            _ => {}
        }
    }

    /// A verdict as the mode wants the host to see it.
    fn corrupt(&self, mut v: wit::Verdict) -> wit::Verdict {
        let finding = |rule, labels| wit::Finding {
            rule,
            score: 50,
            labels,
        };
        match self.mode {
            Mode::HugeLabel => {
                // On an otherwise consistent verdict, so that only the
                // string's size is wrong: in a finding's labels when there
                // is a finding, else in a warning's text.
                let huge = "x".repeat(100 << 20);
                match v.findings.first_mut() {
                    Some(f) => f.labels.push(("payload".to_string(), huge)),
                    None => v.warnings.push(wit::EventWarning::Other(huge)),
                }
            }
            Mode::HugeAnswer => {
                v.findings = (0..4_000_000u32)
                    .map(|i| finding(i % self.rules.max(1), Vec::new()))
                    .collect();
            }
            Mode::ScoreOutOfRange => {
                v.score = 200;
                v.findings.push(finding(0, Vec::new()));
                for f in &mut v.findings {
                    f.score = 200;
                }
            }
            Mode::RuleIndexPastTable => v.findings.push(finding(self.rules + 7, Vec::new())),
            Mode::KeepFalse => v.keep = false,
            _ => {}
        }
        v
    }
}

impl Engine {
    /// The mode's attack on a block's entries; returns the event count to
    /// claim.
    fn corrupt_entries(&self, events: u32, entries: &mut Vec<BatchEntry>) -> u32 {
        let mut events_said = events;
        match self.mode {
            Mode::IndexOutOfRange => entries.push(no_match(events)),
            Mode::IndexDuplicated => {
                let first = entries.first().cloned().unwrap_or_else(|| no_match(0));
                entries.insert(0, first);
            }
            Mode::IndexOutOfOrder if events >= 2 => {
                if entries.len() < 2 {
                    *entries = vec![no_match(0), no_match(1)];
                }
                entries.reverse();
            }
            Mode::IndexMissing => entries.clear(),
            Mode::CountWrong => events_said += 1,
            _ => {}
        }
        events_said
    }
}

/// An entry that claims event `index` matched nothing, for modes that need
/// entries to reorder or repeat when the block matched nothing.
fn no_match(index: u32) -> BatchEntry {
    BatchEntry {
        index,
        outcome: Ok(wit::Verdict {
            keep: true,
            score: 0,
            level: None,
            findings: Vec::new(),
            source: None,
            warnings: Vec::new(),
        }),
    }
}

impl detector::GuestEngine for Engine {
    fn load(
        rules: Vec<wit::RuleSource>,
        options: wit::Options,
    ) -> Result<detector::Engine, wit::LoadError> {
        let mode = Mode::from_sources(rules.iter().map(|r| r.text.as_str()));
        match mode {
            Mode::LoadTrap => panic!("sigil-hostile: trap in load"),
            Mode::LoadLoop => spin(),
            _ => {}
        }
        let sources: Vec<sigil_engine::RuleSource> = rules
            .into_iter()
            .map(|r| sigil_engine::RuleSource::new(r.name, r.text))
            .collect();
        let engine =
            sigil_engine::Engine::load(&sources, options_from(options)).map_err(load_error)?;
        let rules = engine.rules().len() as u32;
        Ok(detector::Engine::new(Engine {
            engine: RefCell::new(engine),
            mode,
            rules,
            calls: Cell::new(0),
        }))
    }

    fn rules(&self) -> Vec<wit::RuleInfo> {
        self.engine.borrow().rules().iter().map(rule_info).collect()
    }

    fn skipped(&self) -> Vec<wit::RuleError> {
        let engine = self.engine.borrow();
        engine.skipped().iter().cloned().map(rule_error).collect()
    }

    fn evaluate(&self, event: Vec<u8>) -> Result<wit::Verdict, wit::EventError> {
        self.on_call();
        let outcome = self.engine.borrow_mut().evaluate(&event);
        outcome
            .map(|v| self.corrupt(verdict(v)))
            .map_err(event_error)
    }

    fn take_alerts(&self) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().take_alerts();
        alerts.into_iter().map(alert).collect()
    }

    fn evaluate_batch(&self, block: Vec<u8>) -> BatchResult {
        self.on_call();
        let mut out = Vec::new();
        let mut alerts = Vec::new();
        let events = self
            .engine
            .borrow_mut()
            .evaluate_batch(&block, &mut out, &mut alerts);
        let mut entries = entries(out, |v| self.corrupt(verdict(v)));
        let events_said = self.corrupt_entries(events, &mut entries);
        BatchResult {
            events: events_said,
            entries,
            alerts: batch_alerts(alerts),
        }
    }

    // The same attacks as `evaluate-batch`: the host's parallel path
    // evaluates with this call, and must meet them there too.
    fn evaluate_batch_detached(&self, block: Vec<u8>) -> DetachedResult {
        self.on_call();
        let mut out = Vec::new();
        let mut observed = Vec::new();
        let events =
            self.engine
                .borrow_mut()
                .evaluate_batch_detached(&block, &mut out, &mut observed);
        let mut entries = entries(out, |v| self.corrupt(verdict(v)));
        let events_said = self.corrupt_entries(events, &mut entries);
        DetachedResult {
            events: events_said,
            entries,
            observations: encode_observations(&observed),
        }
    }

    // A plain pass-through: no mode attacks correlation yet.
    fn correlate(
        &self,
        observations: Observations,
    ) -> Result<Vec<detector::BatchAlert>, wit::ObservationError> {
        let decoded = decode_observations(&observations)?;
        let mut alerts = Vec::new();
        self.engine
            .borrow_mut()
            .correlate(decoded, &mut alerts)
            .map_err(observation_error)?;
        Ok(batch_alerts(alerts))
    }

    fn advance(&self, watermark_ms: i64) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().advance(watermark_ms);
        alerts.into_iter().map(alert).collect()
    }

    fn flush(&self) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().flush();
        alerts.into_iter().map(alert).collect()
    }

    fn correlation_stats(&self) -> wit::CorrelationStats {
        correlation_stats(self.engine.borrow().correlation_stats())
    }

    fn unrecognised(&self) -> Vec<wit::Unrecognised> {
        self.engine
            .borrow()
            .unrecognised()
            .into_iter()
            .map(unrecognised)
            .collect()
    }
}
