//! sigil-engine: Sigma detection for cloud audit logs.
//!
//! ```
//! use sigil_engine::{Engine, Options, RuleSource};
//!
//! let rule = RuleSource::new("stop.yml", r#"
//! title: EC2 instance stopped
//! id: 6a3a7d0e-0000-4000-8000-000000000001
//! level: low
//! tags: [attack.t1578.004]
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!     selection:
//!         eventSource: ec2.amazonaws.com
//!         eventName: StopInstances
//!     condition: selection
//! "#);
//! let mut engine = Engine::load(&[rule], Options::default()).unwrap();
//! let event = br#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#;
//! let verdict = engine.evaluate(event).unwrap();
//! assert_eq!(verdict.score, 30);
//! assert_eq!(engine.rules()[verdict.findings[0].rule as usize].title, "EC2 instance stopped");
//! ```
//!
//! The engine loads Sigma rules (specification 2.x) once, compiles them
//! into a matcher, and then judges raw JSON events: for each event, keep or
//! drop, a score from 0 to 100, a level, and the findings (rule, score,
//! labels). Correlation rules (sequences and counts across events) are kept
//! as state in the engine and produce [`Alert`]s of their own; see the
//! [`correlation`] module. It has no I/O and no WebAssembly-only dependency: the same code
//! runs natively, inside the `sigil-component` WebAssembly component, and
//! behind every adapter, which is why their outputs are identical.
//!
//! # Guarantees
//!
//! - Rules are parsed and compiled once, at [`Engine::load`]; evaluation
//!   never re-parses a rule or recompiles a regex.
//! - An event is read where it lies: only the fields the loaded rules name
//!   are extracted, strings without escapes are borrowed from the input, and
//!   no tree is built. An event that cannot match any rule is rejected by a
//!   scan of its raw bytes before any parsing, and nothing is allocated for
//!   it.
//! - That prefilter is sound: it never rejects an event that full
//!   evaluation would match, whatever its escapes or letter case (the
//!   `prefilter` module explains how; a property test holds it to that).
//! - Matching follows the specification: strings are case-insensitive
//!   (Unicode lower case) unless `|cased`; `field: null` means absent or
//!   null; a dotted path goes into nested objects and through arrays, where
//!   any element may match; a YAML number matches a JSON number of that
//!   value or a string of that text.
//! - Rules run only on events of their `logsource.product`, recognised from
//!   the event's shape: CloudTrail (`eventSource` of `*.amazonaws.com`), GCP
//!   Cloud Audit Logs (`protoPayload`), Microsoft 365 (`Workload` and
//!   `Operation`), Azure (`operationName`). An event of no known shape meets
//!   every rule.
//!
//! # Untrusted input
//!
//! Events are untrusted: size and nesting depth are bounded
//! ([`Options::max_event_bytes`], [`Options::max_depth`] on the fields the
//! rules read, and serde_json's recursion limit of 128 elsewhere; the fast
//! extraction path hands anything nested deeper than 100 to serde_json, so
//! the stack stays bounded), and regular expressions run in linear time
//! (`regex-lite`). Bytes an attacker controls lower confidence, never
//! detection: an event that cannot be read as it came (invalid UTF-8, raw
//! control characters, lone surrogates, stray backslashes, over the size or
//! depth limit) is evaluated on the nearest event that can be read, and its
//! [`Verdict::warnings`] say what was damaged ([`EventWarning`]). Only text
//! that is no event at all gets an [`EventError`]; nothing panics.
//!
//! Rules may come from an untrusted source too: their count and regex size
//! are bounded ([`Options::max_rules`], [`Options::max_regex_bytes`]),
//! `windash` and `expand` expansions are capped, a rule file is at most
//! 1 MiB and 200 000 YAML nodes with aliases expanded (so the "billion
//! laughs" shape is refused in milliseconds), and a bad rule is an error
//! naming its file and line, not a panic.
//!
//! Validation is lazy: an event the prefilter rejects is not parsed. Its
//! scan checks that brackets pair up, strings end and the text holds one
//! value (so a truncated or spliced line is an error whatever the rules),
//! but not the grammar between them: a malformed event that passes that
//! check and that no rule could match (`{"a" 1}`) gets the no-match
//! verdict rather than an error. Hosts that must flag every malformed line
//! check framing themselves (the `sigil` CLI flags every line that cannot
//! be an object).
//!
//! # Panics
//!
//! No function panics on any rule text or event bytes.
//!
//! # Limits
//!
//! Every limit is an [`Options`] field with a documented default: event
//! bytes (1 MiB), nesting depth (64), rules per pack (10 000), compiled regex
//! size (1 MiB), and for correlation state: open groups (100 000), matches
//! per group (64) and bytes (64 MiB).
//!
//! # Non-goals
//!
//! The deprecated Sigma 1.x aggregation syntax (`| count()`) is rejected
//! with a pointer to correlation rules; correlation conditions written as
//! expressions over rule names (an rsigma extension) are not supported. Regular expressions are `regex-lite`'s
//! dialect: Unicode classes such as `\p{L}` are not supported, and `\w`,
//! `\d`, `\s` and case-insensitive matching are ASCII-only inside `|re`.
// One exception, in `structural`: the 16-byte unaligned vector loads of
// the prefilter's block classifier.
#![deny(unsafe_code)]
#![deny(missing_docs)]

// The rooms, in the order an event flows (ARCHITECTURE.md): each imports
// only rooms listed before it (`tests/tests/layers.rs` checks it).
pub mod correlation;
mod engine;
mod error;
pub mod export;
mod matching;
mod options;
mod rules;
mod scan;
mod verdict;
mod vocab;

pub use correlation::{Alert, BatchAlert, CorrelationStats, Observation};
pub use engine::{BatchEntry, Engine, EngineStats, RuleSource, SchemaUse, Unrecognised};
pub use error::{EventError, EventWarning, LoadError, ObservationError, RuleError};
pub use options::Options;
pub use rules::rule::RuleTest;
pub use scan::input;
pub use verdict::{Finding, RuleInfo, Verdict};
pub use vocab::level::Level;
pub use vocab::logsource::Source;
pub use vocab::timepart::{format_rfc3339_ms, parse_rfc3339_ms};
