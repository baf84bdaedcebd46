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

pub(crate) mod contains_filter;
pub(crate) mod extract;
pub mod input;
pub(crate) mod prefilter;
pub(crate) mod repair;
pub(crate) mod structural;
pub(crate) mod wordtable;
