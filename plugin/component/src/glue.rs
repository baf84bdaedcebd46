//! The WIT exports, forwarded to `sigil_engine`.

use std::cell::RefCell;

use exports::sigil::engine::detector::{
    self, BatchAlert, BatchResult, DetachedResult, Observations,
};
use exports::sigil::engine::types as wit;

use convert::{
    alert, batch_alerts, correlation_stats, decode_observations, encode_observations, entries,
    event_error, load_error, observation_error, options_from, rule_error, rule_info, unrecognised,
    verdict,
};

mod convert;

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

struct Component;

export!(Component);

impl detector::Guest for Component {
    type Engine = Engine;
}

/// The `engine` resource. `evaluate` takes `&mut` in the engine (it reuses
/// scratch buffers) while resource methods get `&self`, hence the `RefCell`;
/// a component instance is single-threaded and never re-entered.
struct Engine(RefCell<sigil_engine::Engine>);

impl detector::GuestEngine for Engine {
    fn load(
        rules: Vec<wit::RuleSource>,
        options: wit::Options,
    ) -> Result<detector::Engine, wit::LoadError> {
        let sources: Vec<sigil_engine::RuleSource> = rules
            .into_iter()
            .map(|r| sigil_engine::RuleSource::new(r.name, r.text))
            .collect();
        let engine =
            sigil_engine::Engine::load(&sources, options_from(options)).map_err(load_error)?;
        Ok(detector::Engine::new(Engine(RefCell::new(engine))))
    }

    fn rules(&self) -> Vec<wit::RuleInfo> {
        self.0.borrow().rules().iter().map(rule_info).collect()
    }

    fn skipped(&self) -> Vec<wit::RuleError> {
        self.0
            .borrow()
            .skipped()
            .iter()
            .cloned()
            .map(rule_error)
            .collect()
    }

    fn evaluate(&self, event: Vec<u8>) -> Result<wit::Verdict, wit::EventError> {
        self.0
            .borrow_mut()
            .evaluate(&event)
            .map(verdict)
            .map_err(event_error)
    }

    fn take_alerts(&self) -> Vec<wit::Alert> {
        self.0
            .borrow_mut()
            .take_alerts()
            .into_iter()
            .map(alert)
            .collect()
    }

    fn evaluate_batch(&self, block: Vec<u8>) -> BatchResult {
        let mut out = Vec::new();
        let mut alerts = Vec::new();
        let events = self
            .0
            .borrow_mut()
            .evaluate_batch(&block, &mut out, &mut alerts);
        BatchResult {
            events,
            entries: entries(out, verdict),
            alerts: batch_alerts(alerts),
        }
    }

    fn evaluate_batch_detached(&self, block: Vec<u8>) -> DetachedResult {
        let mut out = Vec::new();
        let mut observed = Vec::new();
        let events = self
            .0
            .borrow_mut()
            .evaluate_batch_detached(&block, &mut out, &mut observed);
        DetachedResult {
            events,
            entries: entries(out, verdict),
            observations: encode_observations(&observed),
        }
    }

    fn correlate(
        &self,
        observations: Observations,
    ) -> Result<Vec<BatchAlert>, wit::ObservationError> {
        let decoded = decode_observations(&observations)?;
        let mut alerts = Vec::new();
        self.0
            .borrow_mut()
            .correlate(decoded, &mut alerts)
            .map_err(observation_error)?;
        Ok(batch_alerts(alerts))
    }

    fn advance(&self, watermark_ms: i64) -> Vec<wit::Alert> {
        self.0
            .borrow_mut()
            .advance(watermark_ms)
            .into_iter()
            .map(alert)
            .collect()
    }

    fn flush(&self) -> Vec<wit::Alert> {
        self.0.borrow_mut().flush().into_iter().map(alert).collect()
    }

    fn correlation_stats(&self) -> wit::CorrelationStats {
        correlation_stats(self.0.borrow().correlation_stats())
    }

    fn unrecognised(&self) -> Vec<wit::Unrecognised> {
        self.0
            .borrow()
            .unrecognised()
            .into_iter()
            .map(unrecognised)
            .collect()
    }
}
