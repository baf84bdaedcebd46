//! Errors of the engine: rules that do not load, events that cannot be evaluated.

use std::fmt;

/// A rule that failed to load: where, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleError {
    /// Name of the rule source (usually a file path).
    pub source: String,
    /// 1-based line of the offending YAML node; 0 when unknown.
    pub line: u32,
    /// The rule's `id`, when it could be read.
    pub rule_id: Option<String>,
    /// What is wrong, phrased so the author knows what to change.
    pub reason: String,
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: ", self.source, self.line)?;
        if let Some(id) = &self.rule_id {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.reason)
    }
}

impl std::error::Error for RuleError {}

/// Why a rule pack failed to load.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A rule is invalid and `Options::skip_invalid` is off.
    #[error("invalid rule: {0} (fix the rule, or load with skip-invalid to leave it out)")]
    InvalidRule(RuleError),
    /// No rule loaded: the sources held none, or (with `skip_invalid`)
    /// every one was invalid; `skipped` lists those.
    #[error("{}", empty_pack(skipped))]
    EmptyPack {
        /// The invalid rules, when `skip_invalid` was on.
        skipped: Vec<RuleError>,
    },
    /// The pack has more rules than `Options::max_rules`.
    #[error("the rule pack has more than {limit} rules; raise max-rules if this is intended")]
    TooManyRules {
        /// The limit that was hit.
        limit: u32,
    },
}

fn empty_pack(skipped: &[RuleError]) -> String {
    match skipped {
        [] => "the rule pack holds no rule: give at least one Sigma rule file".into(),
        [one] => format!("the rule pack holds no valid rule: {one}"),
        [first, rest @ ..] => format!(
            "the rule pack holds no valid rule: {first} (and {} more invalid rules)",
            rest.len()
        ),
    }
}

/// Why an event's verdict is less certain than usual: the event could not
/// be read as it came, so it was evaluated on what could be read (see the
/// `scan::repair` module: bytes an attacker controls may lower confidence,
/// never detection). The verdict carries one per kind of damage.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventWarning {
    /// Bytes that are not UTF-8 were read as U+FFFD.
    InvalidUtf8,
    /// Raw control characters inside strings were read as they are.
    ControlCharacters,
    /// A `\u` escape of half a surrogate pair was read as U+FFFD.
    LoneSurrogate,
    /// A backslash before a character JSON does not escape was read as a
    /// backslash.
    InvalidEscape,
    /// The event was not read whole. Either it was over
    /// `Options::max_event_bytes` (as it came, or once its damaged bytes
    /// were rewritten): long strings were cut to their head and tail and,
    /// if still too long, the members after the limit were left out. Or it
    /// ended before its closing brace (a line cut on the way): it was read
    /// up to its last complete member.
    Truncated {
        /// The event's size as it came.
        bytes: u32,
    },
    /// Values nested deeper than `Options::max_depth` were read as `null`.
    TooDeep,
    /// A key the rules read appears more than once in one object; the last
    /// value was evaluated, as JSON parsers and SIEMs read it.
    DuplicateKey(String),
    /// A warning this build has no case for (from a newer plugin); the
    /// text is for humans.
    Other(String),
}

impl EventWarning {
    /// The warning's stable name, the case name of the WIT `event-warning`
    /// (`invalid-utf8`, `truncated`, ...), for filters and counters.
    pub fn code(&self) -> &'static str {
        match self {
            EventWarning::InvalidUtf8 => "invalid-utf8",
            EventWarning::ControlCharacters => "control-characters",
            EventWarning::LoneSurrogate => "lone-surrogate",
            EventWarning::InvalidEscape => "invalid-escape",
            EventWarning::Truncated { .. } => "truncated",
            EventWarning::TooDeep => "too-deep",
            EventWarning::DuplicateKey(_) => "duplicate-key",
            EventWarning::Other(_) => "other",
        }
    }
}

impl fmt::Display for EventWarning {
    /// `code`, then `: detail` where there is one (`truncated: 2097152
    /// bytes`, `duplicate-key: eventName`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())?;
        match self {
            EventWarning::Truncated { bytes } => write!(f, ": {bytes} bytes"),
            EventWarning::DuplicateKey(key) => write!(f, ": {key}"),
            EventWarning::Other(text) => write!(f, ": {text}"),
            _ => Ok(()),
        }
    }
}

/// Why one event could not be evaluated. The event is not lost: hosts pass it
/// through marked with this error.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event is not valid JSON, or not a JSON object.
    #[error("invalid JSON: {0}")]
    InvalidJson(String),
    /// The event is not valid UTF-8.
    #[error("event is not valid UTF-8")]
    InvalidUtf8,
    /// The event is larger than `Options::max_event_bytes`.
    #[error("event of {0} bytes is over the max-event-bytes limit")]
    TooLarge(u32),
    /// The event nests deeper than `Options::max_depth`.
    #[error("event nests deeper than the max-depth limit")]
    TooDeep,
}

/// Why bytes are no [`Observation`](crate::correlation::Observation), or
/// why an observation does not fit the engine asked to correlate it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ObservationError {
    /// The bytes are of a format version this build does not read: the
    /// engine that wrote them is of another sigil version.
    #[error(
        "observation format version {0} is not known to this build; use one sigil version for every engine"
    )]
    Version(u8),
    /// The bytes end inside the observation (or declare more items than
    /// they can hold).
    #[error("observation truncated; pass the bytes whole")]
    Truncated,
    /// The bytes break the format at byte offset `at`.
    #[error("malformed observation at byte {at}: {what}")]
    Malformed {
        /// Offset of the offending item in the bytes decoded.
        at: usize,
        /// What is wrong there.
        what: &'static str,
    },
    /// The observation names a correlation, position or column the engine
    /// has not: it was made by an engine with other rules.
    #[error("observation does not fit this rule pack; load every engine with the same rules")]
    OtherPack,
}
