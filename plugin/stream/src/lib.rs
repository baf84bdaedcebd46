//! sigil-stream: from a stream of input bytes to the NDJSON `sigil run` writes.
//!
//! ```
//! use sigil_engine::{Engine, Options, RuleSource};
//! use sigil_stream::{Framer, Output};
//!
//! let rule = RuleSource::new("stop.yml", r#"
//! title: EC2 instance stopped
//! id: 6a3a7d0e-0000-4000-8000-000000000001
//! level: low
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!     selection: {eventSource: ec2.amazonaws.com, eventName: StopInstances}
//!     condition: selection
//! "#);
//! let mut engine = Engine::load(&[rule], Options::default()).unwrap();
//! let mut output = Output::new(engine.rules(), engine.options());
//! let mut framer = Framer::new();
//! // A CloudTrail delivery file, pushed in two pieces.
//! framer.push(br#"{"Records":[{"eventSource":"ec2.amazonaws.com","#);
//! framer.push(br#" "eventName":"StopInstances"}]}"#);
//! framer.finish();
//! let mut out = Vec::new();
//! while let Some(block) = framer.next_block().unwrap() {
//!     let (mut entries, mut alerts) = (Vec::new(), Vec::new());
//!     engine.evaluate_batch(block, &mut entries, &mut alerts);
//!     let entries = entries.into_iter().map(|e| (e.index, e.outcome));
//!     output.block(&mut out, block, entries, alerts);
//! }
//! output.alerts(&mut out, &engine.flush());
//! assert!(out.starts_with(br#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances","sigil":{"score":30"#));
//! assert_eq!(output.counters().matched, 1);
//! ```
//!
//! Every host that reads files or streams (the `sigil` CLI, natively or
//! through the component, and the JavaScript package's `sigil-js run`)
//! must write the same bytes for the same input. The decisions that make
//! those bytes (how the input is framed, where a byte-order mark is
//! skipped, which events are kept, where an alert goes, what a line that
//! is no object becomes) therefore live here once, below the hosts, and
//! not in any one of them. Hosts only move bytes in (their files, stdin,
//! a browser's `File`) and out.
//!
//! The crate is push-based and does no I/O: a host hands it the input in
//! pieces of any size ([`Framer::push`]), takes the blocks it cuts
//! ([`Framer::next_block`]), evaluates each block its own way (natively,
//! in a component, in wasm-bindgen) and hands the answers to an
//! [`Output`], which writes the lines.
//!
//! # Guarantees
//!
//! - Every event read gives exactly one line (unless the pack's options
//!   drop it, `keep = false`), in input order; correlation alerts are lines
//!   of their own right after the event that released them.
//! - The output does not depend on how the input was cut into pieces, nor
//!   on where the blocks are cut: the engine's state runs across blocks.
//!
//! # Untrusted input
//!
//! Bytes are framed, never interpreted beyond the framing: a line that is
//! not JSON stays one line and comes out wrapped (`sigil-render`). A
//! document (array, `Records` file, a SIEM API's export) that does not
//! split into events is a [`FramingError`], given once at the end, since it
//! cannot be split before it is whole. A SIEM export's rows
//! (`sigil_engine::export`) each come out once, as one line, whatever is
//! wrong with them; [`Framer::export_stats`] counts what was.
//!
//! # Panics
//!
//! None.
//!
//! # Limits
//!
//! NDJSON is held one block at a time (about [`BLOCK_BYTES`], more for a
//! single longer line); a document is held whole, as it must be to split
//! it; a CSV export one row at a time (at most
//! `sigil_engine::export::MAX_ROW_BYTES`) plus the rows not yet handed out.
//!
//! # Non-goals
//!
//! Reading files or sockets, and evaluation itself: both belong to hosts.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod framer;
mod output;

pub use framer::{BLOCK_BYTES, Framer};
pub use output::{Counters, Fault, Format, LineWriter, Lines, Output};
pub use sigil_engine::input::FramingError;
