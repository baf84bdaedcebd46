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

impl Batch {
    /// The answer for a block whose events could not be evaluated (not
    /// even a fresh plugin instance could be made): the stream goes on,
    /// the block passes through with every event marked with `why`.
    pub(crate) fn unevaluated(block: &[u8], why: &dyn fmt::Display) -> Batch {
        let reason = format!("event not evaluated: {why}");
        let entries: Vec<_> = sigil_engine::input::ndjson_events(block)
            .enumerate()
            .map(|(i, _)| BatchEntry {
                index: i as u32,
                outcome: Err(Failure::Plugin(reason.clone())),
            })
            .collect();
        Batch {
            events: entries.len() as u32,
            entries,
            alerts: Vec::new(),
        }
    }
}

/// One reason plugin calls failed (defined beside the counters that carry
/// it, in `sigil-stream`).
pub use sigil_stream::Fault;

/// What the events of one block bring to correlation, detached from the
/// correlation state they feed (made by `Detector::evaluate_detached`,
/// applied by `Detector::correlate`). Opaque: a native engine's
/// observations stay Rust values, a component's stay the bytes it wrote,
/// which the host moves to the correlating instance without reading.
#[derive(Debug, Default)]
pub struct Observations(pub(crate) Observed);

/// The two forms of [`Observations`].
#[derive(Debug)]
pub(crate) enum Observed {
    /// From the native engine: each observed event's index and observation.
    Native(Vec<(u32, sigil_engine::Observation)>),
    /// From a component: the observed events' indexes, and their encoded
    /// observations one after the other (WIT `observations`).
    Encoded {
        /// Index of each observed event in its block, strictly increasing.
        events: Vec<u32>,
        /// `sigil_engine::Observation::encode`'s bytes, one per index.
        bytes: Vec<u8>,
    },
}

impl Default for Observed {
    fn default() -> Observed {
        Observed::Native(Vec::new())
    }
}

impl Observations {
    /// How many events were observed.
    pub fn len(&self) -> usize {
        match &self.0 {
            Observed::Native(v) => v.len(),
            Observed::Encoded { events, .. } => events.len(),
        }
    }

    /// Whether no event was observed (always so for a pack without
    /// correlation rules).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The answer for one block evaluated without touching correlation state:
/// a [`Batch`] with the block's [`Observations`] in place of its alerts.
#[derive(Debug, Default)]
pub struct Detached {
    /// How many events the block held.
    pub events: u32,
    /// One entry per event that matched or failed, in index order: those
    /// `Detector::evaluate_block` gives for the block.
    pub entries: Vec<BatchEntry>,
    /// What the block's events bring to correlation.
    pub observations: Observations,
}
