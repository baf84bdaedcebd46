//! sigil-host: run the sigil detection component (or the engine natively)
//! over streams of cloud audit events, with hard limits.
//!
//! ```
//! use sigil_engine::{Options, RuleSource};
//! use sigil_host::{Detector, HostConfig, Plugin, run_to_vec};
//!
//! let rule = RuleSource::new("stop.yml", r#"
//! title: EC2 instance stopped
//! level: high
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!     selection: {eventSource: ec2.amazonaws.com, eventName: StopInstances}
//!     condition: selection
//! "#);
//! let plugin = Plugin::builtin(HostConfig::default())?;
//! let mut detector = Detector::Component(plugin.session(&[rule], &Options::default())?);
//! let events = b"{\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"StopInstances\"}\n";
//! let (ndjson, counters) = run_to_vec(&mut detector, events)?;
//! assert_eq!(counters.matched, 1);
//! assert!(ndjson.starts_with(b"{\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"StopInstances\",\"sigil\":{\"score\":75,\"level\":\"high\""));
//! # Ok::<(), sigil_host::Error>(())
//! ```
//!
//! The library is the embedder API; the `sigil` binary is a thin CLI over it.
//!
//! # Guarantees
//!
//! - Every event read reaches the output exactly once, in input order,
//!   unless the engine marks it `keep = false` (`--matched-only`,
//!   `--min-score`). Events that cannot be evaluated are written too, marked
//!   with `"sigil":{"error":...}`, and counted in [`Counters::errors`].
//! - Events are never re-serialised: the output line is the input line with
//!   the verdict spliced in before its final `}`.
//! - Correlation alerts are records of their own,
//!   `{"sigil_alert":{...}}` (see [`Runner`]), written right after the event
//!   whose arrival released them, and at [`Runner::finish`] for the rest;
//!   `--alerts-only` writes nothing else. Correlation windows span every
//!   input of a run, read as one stream in order.
//! - A [`Detector::Component`] and a [`Detector::Native`] loaded with the same
//!   rules write byte-identical output, alerts included.
//!
//! # Untrusted input
//!
//! A plugin component is treated as untrusted code: it is linked with no
//! import at all (no WASI, no host function), so it can only compute. Each
//! call runs under a deadline proportional to its input (epoch
//! interruption; deterministic fuel metering on request) and its memory
//! under a cap (see [`HostConfig`]); a call that traps, runs out of time,
//! fuel or memory, or returns a malformed
//! answer costs only the events it was evaluating: the instance is thrown
//! away, a fresh one is loaded with the same rules, and the batch is retried
//! event by event so that only the culprit events are marked with an error.
//! The fresh instance starts with empty correlation windows: a sequence that
//! spans the failure is not found. Such losses are counted
//! ([`Counters::correlation_resets`]) and reported by `sigil run`.
//!
//! Nothing a plugin returns is trusted: every answer is checked before it
//! is used (indexes in range, each event at most once and in order, rules
//! within the rule table and in its order, scores within 0 to 100 and
//! consistent with the findings, `keep` as the options say, strings and the
//! whole answer within [`HostConfig::max_string_bytes`] and
//! [`HostConfig::max_answer_bytes`]); an answer that fails a check is
//! handled like a trap. The event-by-event retry of a failed block stops
//! after [`HostConfig::max_failures_in_a_row`] failures in a row, so a
//! plugin that fails every call costs bounded time per block. Every cause
//! is counted ([`Counters::plugin_faults`]); the table of misbehaviours and
//! answers is in the README's "Security model".
//!
//! Events are untrusted data: the engine bounds their size and depth
//! (`sigil_engine::Options`).
//!
//! # Panics
//!
//! No panic on any input or plugin behaviour. The native engine runs in the
//! host process: a bug in it is not isolated (use the component for that).
//!
//! # Limits
//!
//! See [`HostConfig`]: memory per plugin instance, time per MiB of events
//! (at least a floor per call) and time per rule-pack load, or fuel for
//! both when deterministic limits are wanted.
//!
//! Validation is as lazy as the engine's: an event its prefilter rules out
//! is not parsed. The host flags every line that cannot be a JSON object
//! (it does not start with `{` and end with `}`) as an error, but a broken
//! line shaped like an object that no rule could match passes through
//! unflagged, with the no-match verdict spliced in.
//!
//! # Non-goals
//!
//! Output sinks other than NDJSON, persisting correlation state across runs,
//! and plugins that need host capabilities.
// One `unsafe` block in the crate: loading a compiled plugin from the
// compile cache (`compile_cache.rs` says why it is sound).
#![deny(unsafe_code)]
#![deny(missing_docs)]

mod batch;
pub mod compile_cache;
mod config;
mod detector;
mod error;
mod output;
mod plugin;
mod rules;
pub mod serve;

pub use batch::{Batch, BatchEntry, Failure, Fault};
pub use config::{FuelLimits, HostConfig};
pub use detector::Detector;
pub use error::Error;
pub use output::{Counters, Format, Runner, run_to_vec};
pub use plugin::{Plugin, Session};
pub use rules::{builtin_rules, rule_sources};

/// The default plugin: the component built from `plugin/component` by
/// `scripts/build-component`, embedded at build time.
pub static BUILTIN_COMPONENT: &[u8] = include_bytes!(env!("SIGIL_COMPONENT_PATH"));
