//! The compiled plan and its evaluation: the boolean tree of a detection
//! (`expr`), the tests on one field (`matcher`), labels and CASE columns
//! (`label`), and where a value comes from (`column`).
//!
//! Nothing here reads rule text or raw bytes: `rules` builds the plan,
//! `scan` finds the values it is evaluated on.
//!
//! May import: `vocab`, `error`, `options`.

pub(crate) mod column;
pub(crate) mod expr;
pub(crate) mod label;
pub(crate) mod matcher;
