//! sigil-fluent-bit: the sigil engine as a Fluent Bit `filter_wasm` module.
//!
//! ```
//! use sigil_fluent_bit::{Filter, Keep};
//!
//! let mut filter = Filter::embedded(); // the built-in pack, compiled in
//! let record = br#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","eventTime":"2024-08-01T12:03:30Z"}"#;
//! let answer = filter.answer(Some(record), record.len() as u32, Keep::All);
//! let answer = std::str::from_utf8(answer).unwrap();
//! assert!(answer.starts_with(r#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","eventTime":"2024-08-01T12:03:30Z","sigil":{"score":10,"level":"informational","findings":[{"rule":"1222b6a4-bff5-429a-93b2-37242dd836a7""#));
//! assert!(answer.ends_with("\"source\":\"aws.cloudtrail\"}}\0"));
//! ```
//!
//! Built for `wasm32-unknown-unknown` by `scripts/build-fluent-bit` into
//! `target/sigil-fluent-bit.wasm`, a core module (Fluent Bit refuses
//! components) that imports nothing. Point `filter_wasm` at it with
//! `event_format json` and one of these `function_name`s, which choose the
//! records it hands back ([`Keep`]):
//!
//! | `function_name` | keeps | as `sigil run` |
//! |---|---|---|
//! | `sigil_filter` | every record | (default) |
//! | `sigil_filter_matched` | records with findings | `--matched-only` |
//! | `sigil_filter_min_score_30`, `_50`, `_75`, `_100` | records scoring at least that (low, medium, high, critical) | `--min-score N` |
//! | `sigil_filter_alerts` | records that carry correlation alerts | `--alerts-only` |
//!
//! (`sigil_passthrough` hands every record back untouched, without
//! detection: the cost of crossing into WebAssembly, for benchmarks.)
//!
//! A record whose verdict is an error, or that carries alerts, is kept
//! whatever the function. The rule pack is compiled in (the built-in
//! `rules/cloud-compute/`, or the files `SIGIL_RULES` names at build time);
//! the engine's limits are its defaults, those of `sigil run`.
//!
//! # Guarantees
//!
//! - Each record comes back as `sigil run --native` writes that event: the
//!   record's text with `"sigil":{"score","level","findings","source",
//!   "warnings"}` spliced in before its final `}` (`sigil_render`), never
//!   re-serialised.
//! - Correlation state lives in the instance. A filter cannot emit a record
//!   of its own, so an alert travels on the record whose arrival released
//!   it, as `"alerts":[{...}]`, the last member of `"sigil"`: the same
//!   objects `sigil run` writes as `{"sigil_alert":{...}}` records.
//! - Every answer is one NUL-terminated JSON object from a buffer the module
//!   owns and reuses (no growth per record), or an empty string (a drop
//!   the policy asked for). A record that is not a JSON object comes back
//!   wrapped, `{"sigil":{"error":...,"raw":"<its text>"}}`; a record the
//!   engine refuses comes back whole with `"sigil":{"error":...}`; one that
//!   Fluent Bit could not copy in (`record_ptr = 0`) comes back as
//!   `{"sigil":{"error":...}}` naming its size (its fields never reached
//!   the module). No answer trips Fluent Bit's double free (an invalid
//!   answer after a valid one in a chunk) or its sticky out-of-bounds
//!   exception.
//! - `malloc` and `free` are exported, so WAMR copies records into the
//!   module's own heap instead of its 8 KiB app heap: `wasm_heap_size`
//!   does not limit record size.
//!
//! # Untrusted input
//!
//! Records are events: the engine's bounds apply (1 MiB, deeper than 64
//! read as `null`; past them the verdict carries a warning). Their text is
//! trusted to be the JSON object Fluent Bit rendered (from its own msgpack,
//! so valid by construction, with no NUL byte): a record the engine did not
//! need to parse is spliced into when its first and last bytes are braces,
//! as `sigil run` does.
//!
//! # Panics
//!
//! None by design; the module is built with `panic = "abort"`, so one would
//! trap: Fluent Bit drops that record and logs the trap, and the next call
//! loads the rule pack afresh (correlation windows start empty).
//!
//! # Limits
//!
//! - WAMR's interpreter runs the module on a stack of `wasm_stack_size`
//!   (8 KiB by default), which is too small: a call that overflows it traps
//!   and Fluent Bit drops the record. Measured in Fluent Bit 5.1.1: 9 KiB
//!   for loading the pack and for records of any size (1 KB to 2 MB),
//!   42 KiB for the most deeply nested (any depth: the engine stops
//!   descending at 64 levels); ahead-of-time compiled, 5 KiB.
//!   `examples/fluent-bit/` sets 64k.
//! - Memory: the instance's linear memory is 1.75 MiB for CloudTrail-sized
//!   records, flat record after record; the largest record seen sets a
//!   high-water mark of seven to eight times its size (its copy, the
//!   answer, the engine's reading of it).
//! - Correlation windows live as long as the instance: since Fluent Bit
//!   4.1.0, as long as the filter. `filter_wasm` calls nothing at shutdown,
//!   so matches still waiting for the watermark then (the last
//!   `correlation_lateness_ms`, 15 minutes by default, of event time)
//!   never complete an
//!   alert: `sigil run` would write those at the end of its input. Before
//!   4.1.0 Fluent Bit re-creates the instance for every chunk: each chunk
//!   reloads the pack and starts with empty windows, so sequences spanning
//!   chunks are missed (use 4.1.2 or later; 4.1.0 and 4.1.1 leak every
//!   record's copy).
//!
//! # Non-goals
//!
//! `event_format msgpack`; reading rules or settings at run time (the
//! module has no WASI import, so it can read no file: a pack is chosen when
//! the module is built).
#![deny(unsafe_code)]
#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod abi;
mod filter;

pub use filter::{Filter, Keep, embedded_rules};
