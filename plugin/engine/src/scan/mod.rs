//! From raw bytes to the values the plan is evaluated on: framing of NDJSON,
//! arrays and `Records` files (`input`), the structural index of quotes and
//! brackets (`structural`), key and value tables (`wordtable`), the
//! `contains` filter (`contains_filter`), the prefilter that rejects events
//! no rule can match (`prefilter`), field extraction (`extract`), and the
//! rewrite of events that cannot be read as they are (`repair`).
//!
//! This is where hostile bytes arrive first: nothing here may panic, loop
//! or allocate without bound on any input.
//!
//! May import: `matching`, `vocab`, `error`, `options`.

// The panicking forms are refused in every module of this room: indexing
// and slicing (of bytes and of text), `unwrap`, `expect` and explicit
// panics. Each remaining index carries an `#[allow(clippy::indexing_slicing)]`
// on the smallest item around it and, next to it, the proof of its bound
// (`// In bounds: ...`), established right there. Test modules opt out: a
// panic there is a failed test.
#![deny(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable,
    clippy::todo,
    clippy::unimplemented
)]

pub(crate) mod contains_filter;
pub(crate) mod extract;
pub mod input;
pub(crate) mod prefilter;
pub(crate) mod repair;
pub(crate) mod structural;
pub(crate) mod wordtable;
