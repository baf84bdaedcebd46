//! The host's answer for one block of events, whichever way the engine ran:
//! the words both the detector and the plugin speak, kept below both so
//! that neither has to import the other.

use std::fmt;

use sigil_engine::{BatchAlert, EventError, Verdict};

/// Why one event has no verdict. The event still reaches the output, marked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Failure {
    /// The engine refused the event (invalid JSON, too large, too deep...).
    Event(EventError),
    /// The plugin trapped, ran out of time, fuel or memory, or answered out of
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

/// The answer for one block of events.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    /// How many events the block held.
    pub events: u32,
    /// One entry per event that matched or failed, in index order.
    pub entries: Vec<BatchEntry>,
    /// Correlation alerts, each with the index of the event after which it
    /// came out, in index order.
    pub alerts: Vec<BatchAlert>,
}

/// One reason plugin calls failed (defined beside the counters that carry
/// it, in `sigil-stream`).
pub use sigil_stream::Fault;
