//! The compiled form of a detection: a boolean tree over field tests.
//!
//! Rule loading (`rules`) builds it, the prefilter (`scan`) derives its
//! atoms from it, and the engine evaluates it over an event's values.

use crate::matching::matcher::FieldCond;

/// Slot 0 gathers every string value of the event, for keyword searches.
pub(crate) const KEYWORDS: u32 = 0;

/// A compiled detection: a boolean tree over field tests.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// At least `n` of the children hold.
    AtLeast(usize, Vec<Expr>),
    Field(FieldCond),
    /// Keyword search over every string value of the event.
    Keywords(FieldCond),
}
