//! The labels a finding carries: constants, columns projected from the
//! event, and CASE columns.
//!
//! SIEM queries output more than "matched": QRadar's `SELECT` projects
//! `"Operation" AS CloudOperation`, its `CASE WHEN ... THEN 90 ... ELSE 40 END
//! AS RiskScore` scores, KQL's `extend` adds columns. A rule reproduces that
//! with `sigil.labels`, whose values are one of:
//!
//! - a scalar: a constant label;
//! - `{field: PATH}` (optionally `format: 'yyyy-MM-dd HH:mm:ss'` to print a
//!   time): the event's value, as text; absent or null leaves the label out,
//!   as SQL's NULL;
//! - `{case: [{when: ..., then: VALUE}, ..., {else: VALUE}]}`: the `then` of
//!   the first arm whose `when` holds, else the `else` (without an `else`,
//!   and no arm holding, the label is left out). A `when` is a condition
//!   over the rule's own searches (`selection_delete or selection_destroy`)
//!   or a search written in place (`{Operation|contains: snapshot}`).
//!
//! Labels are computed only for rules that matched, so they cost nothing on
//! the events a pipeline drops.

use crate::matching::column::Column;
use crate::matching::expr::Expr;
use crate::matching::matcher::Lookup;
use crate::vocab::timepart::{self, DatePiece};
use crate::vocab::value::Val;

/// One label of a rule.
#[derive(Clone, Debug)]
pub(crate) struct Label {
    pub name: String,
    pub value: LabelValue,
}

/// How a label's value is found.
#[derive(Clone, Debug)]
pub(crate) enum LabelValue {
    Const(String),
    Field {
        /// Where the value is read, after schema mapping (locations are
        /// field slots).
        from: Column<u32>,
        pattern: Option<regex_lite::Regex>,
        format: Option<Vec<DatePiece>>,
    },
    Case(Vec<Arm>),
}

/// One arm of a CASE: `when` is `None` for the `else` arm.
#[derive(Clone, Debug)]
pub(crate) struct Arm {
    pub when: Option<Expr>,
    /// A constant or a field, never another case.
    pub then: LabelValue,
}

impl Label {
    /// The label's value for an event, or `None` to leave it out.
    pub fn value<'a>(&self, ctx: &dyn Lookup<'a>, holds: &dyn Fn(&Expr) -> bool) -> Option<String> {
        self.value.eval(ctx, holds)
    }
}

impl LabelValue {
    fn eval<'a>(&self, ctx: &dyn Lookup<'a>, holds: &dyn Fn(&Expr) -> bool) -> Option<String> {
        match self {
            LabelValue::Const(v) => Some(v.clone()),
            LabelValue::Case(arms) => arms
                .iter()
                .find(|a| a.when.as_ref().is_none_or(holds))
                .and_then(|a| a.then.eval(ctx, holds)),
            LabelValue::Field {
                from,
                pattern,
                format,
            } => {
                let text = match from {
                    Column::Value(v) => Some(v.clone()),
                    Column::First(slots) => slots
                        .iter()
                        .map(|&s| ctx.values(s))
                        .find(|v| !v.is_empty())
                        .and_then(first_text),
                    Column::Renamed { at: slot, values } => {
                        first_text(ctx.values(*slot)).map(|raw| {
                            values
                                .iter()
                                .find(|(r, _)| *r == raw)
                                .map_or(raw, |(_, col)| col.clone())
                        })
                    }
                    Column::Derived { at: slot, pattern } => first_text(ctx.values(*slot))
                        .and_then(|raw| {
                            pattern
                                .captures(&raw)
                                .and_then(|c| c.get(1))
                                .map(|m| m.as_str().to_string())
                        }),
                }?;
                let text = match pattern {
                    None => text,
                    Some(p) => p.captures(&text)?.get(1)?.as_str().to_string(),
                };
                match format {
                    None => Some(text),
                    // A time the pattern cannot read is printed as it came,
                    // rather than lost.
                    Some(pattern) => Some(
                        timepart::epoch_ms(&text)
                            .map_or(text, |ms| timepart::format_date(ms, pattern)),
                    ),
                }
            }
        }
    }
}

/// The text of the first value that has one (see [`Val::text`]; a
/// dynamic column's object or array already is its JSON text). Null has none.
fn first_text(values: &[(u32, Val<'_>)]) -> Option<String> {
    values
        .iter()
        .find_map(|(_, v)| v.text().map(|t| t.into_owned()))
}
