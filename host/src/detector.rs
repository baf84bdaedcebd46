//! One interface over the two ways to run the engine.

use sigil_engine::{
    Alert, BatchAlert, CorrelationStats, Engine, Observation, Options, RuleError, RuleInfo,
    Unrecognised,
};

use crate::batch::{Batch, BatchEntry, Detached, Failure, Fault, Observations, Observed};
use crate::error::Error;
use crate::plugin::Session;

/// A loaded rule pack, evaluated natively or inside a WebAssembly component.
///
/// An enum rather than a trait: there are exactly two ways to run the
/// engine, and the output code must not be able to tell them apart (the
/// component ≡ native law), so both return `sigil_engine` types.
pub enum Detector {
    /// The engine linked into the host: fastest, no isolation.
    Native(sigil_engine::Engine),
    /// The engine in a component instance with time (or fuel) and memory limits.
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

    /// Why plugin calls failed, each cause once with its count (see
    /// [`Session::faults`]; always empty for native).
    pub fn faults(&self) -> &[Fault] {
        match self {
            Detector::Native(_) => &[],
            Detector::Component(s) => s.faults(),
        }
    }

    /// Evaluates a block of NDJSON: how many events it held, an entry per
    /// event that matched or failed, and the correlation alerts that came
    /// out, each in index order.
    ///
    /// # Errors
    ///
    /// Only when a failed plugin instance cannot be replaced
    /// ([`Error::PluginFailed`]); failures of single events are entries.
    pub fn evaluate_block(&mut self, block: &[u8]) -> Result<Batch, Error> {
        match self {
            Detector::Native(engine) => {
                let (events, entries, alerts) = native(engine, block, Engine::evaluate_batch);
                Ok(Batch {
                    events,
                    entries,
                    alerts,
                })
            }
            Detector::Component(session) => session.evaluate_batch(block),
        }
    }

    /// Evaluates a block as [`Detector::evaluate_block`] does (same
    /// entries) but touches no correlation state: what the events bring to
    /// correlation comes back as [`Observations`], for the
    /// [`Detector::correlate`] of the detector that correlates the stream.
    /// So several detectors loaded with the same rules and options can
    /// evaluate the blocks of one stream at once (`--threads`).
    ///
    /// # Errors
    ///
    /// As [`Detector::evaluate_block`].
    pub fn evaluate_detached(&mut self, block: &[u8]) -> Result<Detached, Error> {
        match self {
            Detector::Native(engine) => {
                let (events, entries, observed) =
                    native(engine, block, Engine::evaluate_batch_detached);
                Ok(Detached {
                    events,
                    entries,
                    observations: Observations(Observed::Native(observed)),
                })
            }
            Detector::Component(session) => session.evaluate_detached(block),
        }
    }

    /// Applies one block's observations (from [`Detector::evaluate_detached`]
    /// of a detector with the same rules and options) to this detector's
    /// correlation state; returns the alerts that came out, each with the
    /// index of the event after which it did. Called for every block in
    /// stream order, it gives exactly the alerts, after the same events,
    /// and the [`Detector::correlation_stats`] that
    /// [`Detector::evaluate_block`] over the stream gives.
    ///
    /// # Errors
    ///
    /// [`Error::Observation`] when the native engine refuses them (made
    /// with other rules); for a component, as [`Detector::evaluate_block`]
    /// (a refusal is a plugin fault, see [`Session::correlate`]).
    pub fn correlate(&mut self, observations: Observations) -> Result<Vec<BatchAlert>, Error> {
        match self {
            Detector::Native(engine) => {
                let mut alerts = Vec::new();
                let applied = match observations.0 {
                    Observed::Native(observed) => engine.correlate(observed, &mut alerts),
                    Observed::Encoded { events, bytes } => {
                        decode_all(&events, &bytes).and_then(|o| engine.correlate(o, &mut alerts))
                    }
                };
                applied.map_err(Error::Observation)?;
                Ok(alerts)
            }
            Detector::Component(session) => session.correlate(observations),
        }
    }

    /// [`Detector::evaluate_block`] without the alerts: how many events the
    /// block held and an entry per event that matched or failed. Kept for
    /// callers that load no correlation rule; alerts are dropped.
    ///
    /// # Errors
    ///
    /// As [`Detector::evaluate_block`].
    pub fn evaluate_batch(&mut self, block: &[u8]) -> Result<(u32, Vec<BatchEntry>), Error> {
        let batch = self.evaluate_block(block)?;
        Ok((batch.events, batch.entries))
    }

    /// Moves the correlation watermark to `watermark_ms` (milliseconds since
    /// the epoch, event time) and returns the alerts that completes (see
    /// `sigil_engine::Engine::advance`).
    ///
    /// # Errors
    ///
    /// As [`Detector::evaluate_block`].
    pub fn advance(&mut self, watermark_ms: i64) -> Result<Vec<Alert>, Error> {
        match self {
            Detector::Native(engine) => Ok(engine.advance(watermark_ms)),
            Detector::Component(session) => session.advance(watermark_ms),
        }
    }

    /// Ends the stream for correlation: returns the alerts of every waiting
    /// match and closes every window (see `sigil_engine::Engine::flush`).
    ///
    /// # Errors
    ///
    /// As [`Detector::evaluate_block`].
    pub fn flush(&mut self) -> Result<Vec<Alert>, Error> {
        match self {
            Detector::Native(engine) => Ok(engine.flush()),
            Detector::Component(session) => session.flush(),
        }
    }

    /// Counters of the correlation state (of the current instance, for a
    /// component).
    pub fn correlation_stats(&mut self) -> CorrelationStats {
        match self {
            Detector::Native(engine) => engine.correlation_stats(),
            Detector::Component(session) => session.correlation_stats(),
        }
    }

    /// The schemas whose rules never ran: no event evaluated (since the
    /// last restart, for a component) was recognised as one of their
    /// sources (see `sigil_engine::Engine::unrecognised`).
    pub fn unrecognised(&mut self) -> Vec<Unrecognised> {
        match self {
            Detector::Native(engine) => engine.unrecognised(),
            Detector::Component(session) => session.unrecognised(),
        }
    }

    /// How many times correlation state was lost: a component instance
    /// replaced after a failure starts with empty windows (always 0 for
    /// native, and for packs without correlation rules).
    pub fn correlation_resets(&self) -> u64 {
        match self {
            Detector::Native(_) => 0,
            Detector::Component(s) => s.correlation_resets(),
        }
    }
}

/// One of the engine's block calls (`evaluate_batch`, whose second list
/// is alerts, or `evaluate_batch_detached`, observations) run natively:
/// the block's event count, its entries in the host's words, and that list.
fn native<T>(
    engine: &mut Engine,
    block: &[u8],
    call: impl FnOnce(&mut Engine, &[u8], &mut Vec<sigil_engine::BatchEntry>, &mut Vec<T>) -> u32,
) -> (u32, Vec<BatchEntry>, Vec<T>) {
    let (mut out, mut beside) = (Vec::new(), Vec::new());
    let events = call(engine, block, &mut out, &mut beside);
    let entries = out
        .into_iter()
        .map(|e| BatchEntry {
            index: e.index,
            outcome: e.outcome.map_err(Failure::Event),
        })
        .collect();
    (events, entries, beside)
}

/// A component's observations read for the native engine, every one
/// before any is applied.
fn decode_all(
    events: &[u32],
    bytes: &[u8],
) -> Result<Vec<(u32, Observation)>, sigil_engine::ObservationError> {
    let mut rest = bytes;
    let mut out = Vec::with_capacity(events.len());
    for &index in events {
        let (obs, used) = Observation::decode(rest)?;
        rest = rest.get(used..).unwrap_or_default();
        out.push((index, obs));
    }
    Ok(out)
}
