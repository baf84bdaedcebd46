//! The engine: a compiled rule pack and the evaluation of events against it.

use crate::error::{EventError, LoadError, RuleError};
use crate::options::Options;
use crate::verdict::{RuleInfo, Verdict};

/// One rule file handed to [`Engine::load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    /// Where the text came from (a file path or any label); errors name it.
    pub name: String,
    /// YAML text: one or more Sigma documents separated by `---`.
    pub text: String,
}

impl RuleSource {
    /// A source from a name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> RuleSource {
        RuleSource { name: name.into(), text: text.into() }
    }
}

/// The outcome for one event of a batch that matched or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    /// Position of the event in the batch (see [`crate::input::ndjson_events`]).
    pub index: u32,
    /// The verdict, or why the event could not be evaluated.
    pub outcome: Result<Verdict, EventError>,
}

/// A compiled rule pack.
pub struct Engine {
    _todo: (),
}

impl Engine {
    /// Parses and compiles every rule of `sources`.
    pub fn load(sources: &[RuleSource], options: Options) -> Result<Engine, LoadError> {
        let _ = (sources, options);
        unimplemented!()
    }

    /// The rule table; [`crate::Finding::rule`] indexes it.
    pub fn rules(&self) -> &[RuleInfo] {
        unimplemented!()
    }

    /// Rules left out at load time (only with `Options::skip_invalid`).
    pub fn skipped(&self) -> &[RuleError] {
        unimplemented!()
    }

    /// The options the engine was loaded with.
    pub fn options(&self) -> &Options {
        unimplemented!()
    }

    /// The verdict for an event that matched nothing: what hosts write for
    /// events a batch did not return.
    pub fn no_match_verdict(&self) -> Verdict {
        Verdict { keep: self.options().keeps(false, 0), ..Verdict::default() }
    }

    /// Evaluates one event, a JSON object as UTF-8 bytes.
    pub fn evaluate(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        let _ = event;
        unimplemented!()
    }

    /// Evaluates every event of an NDJSON block; appends an entry to `out` for
    /// each event that matched or failed and returns how many events the
    /// block held.
    pub fn evaluate_batch(&mut self, block: &[u8], out: &mut Vec<BatchEntry>) -> u32 {
        let mut n = 0u32;
        for event in crate::input::ndjson_events(block) {
            match self.evaluate(event) {
                Ok(v) if !v.matched() => {}
                outcome => out.push(BatchEntry { index: n, outcome }),
            }
            n += 1;
        }
        n
    }
}
