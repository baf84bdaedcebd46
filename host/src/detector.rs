//! One interface over the two ways to run the engine.

use std::fmt;

use sigil_engine::{EventError, Options, RuleError, RuleInfo, Verdict};

use crate::error::Error;
use crate::plugin::Session;

/// Why one event has no verdict. The event still reaches the output, marked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The engine refused the event (invalid JSON, too large, too deep...).
    Event(EventError),
    /// The plugin trapped, ran out of fuel or memory, or answered out of
    /// protocol while evaluating this event; the text says which.
    Plugin(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Event(e) => e.fmt(f),
            Failure::Plugin(s) => f.write_str(s),
        }
    }
}

/// The outcome for one event of a batch that matched or failed (the host's
/// `sigil_engine::BatchEntry`, with plugin failures added).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    /// Position of the event in the batch (as `sigil_engine::input::ndjson_events` counts).
    pub index: u32,
    /// The verdict, or why the event has none.
    pub outcome: Result<Verdict, Failure>,
}

/// A loaded rule pack, evaluated natively or inside a WebAssembly component.
///
/// An enum rather than a trait: there are exactly two ways to run the
/// engine, and the output code must not be able to tell them apart (the
/// component ≡ native law), so both return `sigil_engine` types.
pub enum Detector {
    /// The engine linked into the host: fastest, no isolation.
    Native(sigil_engine::Engine),
    /// The engine in a component instance with fuel and memory limits.
    Component(Session),
}

impl Detector {
    /// The rule table; `Finding::rule` indexes it.
    pub fn rules(&self) -> Vec<RuleInfo> {
        match self {
            Detector::Native(e) => e.rules().to_vec(),
            Detector::Component(s) => s.rules().to_vec(),
        }
    }

    /// Rules left out at load time because they were invalid.
    pub fn skipped(&self) -> Vec<RuleError> {
        match self {
            Detector::Native(e) => e.skipped().to_vec(),
            Detector::Component(s) => s.skipped().to_vec(),
        }
    }

    /// The options the pack was loaded with.
    pub fn options(&self) -> Options {
        match self {
            Detector::Native(e) => e.options().clone(),
            Detector::Component(s) => s.options().clone(),
        }
    }

    /// How many times a component instance was replaced after a failure
    /// (always 0 for native).
    pub fn restarts(&self) -> u64 {
        match self {
            Detector::Native(_) => 0,
            Detector::Component(s) => s.restarts(),
        }
    }

    /// Evaluates a block of NDJSON: returns how many events it held and an
    /// entry per event that matched or failed, in index order.
    ///
    /// # Errors
    ///
    /// Only when a failed plugin instance cannot be replaced
    /// ([`Error::PluginFailed`]); failures of single events are entries.
    pub fn evaluate_batch(&mut self, block: &[u8]) -> Result<(u32, Vec<BatchEntry>), Error> {
        match self {
            Detector::Native(engine) => {
                let mut out = Vec::new();
                let n = engine.evaluate_batch(block, &mut out);
                let entries = out
                    .into_iter()
                    .map(|e| BatchEntry {
                        index: e.index,
                        outcome: e.outcome.map_err(Failure::Event),
                    })
                    .collect();
                Ok((n, entries))
            }
            Detector::Component(session) => session.evaluate_batch(block),
        }
    }
}
