//! Compiled tests on one field and their evaluation against the values an
//! event holds (`rules::field` builds them from a field key's modifiers and
//! values).

use std::net::IpAddr;

use crate::vocab::timepart::{self, TimePart};
use crate::vocab::value::{self, Anchor, Piece, Val};

/// Comparison of the `lt`/`lte`/`gt`/`gte` modifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Eq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl Cmp {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Cmp::Eq => a == b,
            Cmp::Lt => a < b,
            Cmp::Lte => a <= b,
            Cmp::Gt => a > b,
            Cmp::Gte => a >= b,
        }
    }
}

/// A string pattern: anchored text or a general wildcard pattern.
#[derive(Clone, Debug)]
pub(crate) enum StrPat {
    Anchored(Anchor, String),
    Glob(Vec<Piece>),
}

/// One test on one value of a field.
#[derive(Clone, Debug)]
pub(crate) enum Test {
    Str {
        pat: StrPat,
        cased: bool,
    },
    /// A plain YAML number: a JSON number equal to it, or a string equal to
    /// its text. The specification treats values as strings, so `42` does
    /// not match the string `"042"`; a JSON number has no text of its own
    /// once parsed, so it is compared by value (`42.0` matches).
    Num {
        value: f64,
        text: String,
    },
    Bool(bool),
    Null,
    Exists(bool),
    Cmp {
        op: Cmp,
        value: f64,
    },
    TimePart {
        part: TimePart,
        op: Cmp,
        value: f64,
    },
    Re(regex_lite::Regex),
    Cidr {
        net: IpAddr,
        prefix: u8,
    },
    FieldRef {
        slot: u32,
        cased: bool,
    },
}

/// Every test of one `field|modifiers: values` entry.
#[derive(Clone, Debug)]
pub(crate) struct FieldCond {
    pub slot: u32,
    /// Alternatives; with `all`, every one must hold.
    pub tests: Vec<Test>,
    pub all: bool,
    /// `neq`: the field is present and no test holds.
    pub neq: bool,
}

/// Resolves the slot of a field path; lets the compiler intern paths.
pub(crate) trait Slots {
    fn slot(&mut self, path: &str) -> u32;
    /// A slot that sees the value at `path` as JSON text (see `Trie::json_slot`).
    fn json_slot(&mut self, path: &str) -> u32;
}

/// A lookup with no other fields, for evaluating a test on a constant.
pub(crate) struct NoLookup;

impl<'a> Lookup<'a> for NoLookup {
    fn values(&self, _: u32) -> &[(u32, Val<'a>)] {
        &[]
    }
}

/// What the evaluator needs besides the field's own values.
pub(crate) trait Lookup<'a> {
    fn values(&self, slot: u32) -> &[(u32, Val<'a>)];
}

impl FieldCond {
    pub fn eval<'a>(&self, values: &[(u32, Val<'a>)], ctx: &dyn Lookup<'a>) -> bool {
        let one = |t: &Test| test_field(t, values, ctx);
        if self.neq {
            return !values.is_empty() && !self.tests.iter().any(one);
        }
        if self.all {
            self.tests.iter().all(one)
        } else {
            self.tests.iter().any(one)
        }
    }
}

fn test_field<'a>(t: &Test, values: &[(u32, Val<'a>)], ctx: &dyn Lookup<'a>) -> bool {
    match t {
        Test::Null => values.is_empty() || values.iter().any(|(_, v)| matches!(v, Val::Null)),
        Test::Exists(want) => !values.is_empty() == *want,
        Test::FieldRef { slot, cased } => {
            let others = ctx.values(*slot);
            values.iter().any(|(_, v)| {
                let Some(a) = v.text() else { return false };
                others.iter().any(|(_, o)| {
                    o.text().is_some_and(|b| {
                        if *cased {
                            a == b
                        } else {
                            value::lower(&a) == value::lower(&b)
                        }
                    })
                })
            })
        }
        _ => values.iter().any(|(_, v)| test_value(t, v)),
    }
}

/// Whether one event value satisfies a test.
pub(crate) fn test_value(t: &Test, v: &Val<'_>) -> bool {
    match t {
        Test::Str { pat, cased } => {
            let Some(text) = v.text() else { return false };
            match pat {
                StrPat::Anchored(anchor, needle) => {
                    value::str_match(&text, needle, *anchor, *cased)
                }
                StrPat::Glob(pieces) => value::glob_match(&text, pieces, *cased),
            }
        }
        Test::Num { value, text } => match v {
            Val::Num(n) => n == value,
            Val::Str(s) => s.as_ref() == text,
            _ => false,
        },
        Test::Bool(b) => match v {
            Val::Bool(x) => x == b,
            Val::Str(s) => s.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
            _ => false,
        },
        Test::Cmp { op, value } => v.number().is_some_and(|n| op.holds(n, *value)),
        Test::TimePart { part, op, value } => {
            timepart::extract(v, *part).is_some_and(|n| op.holds(n as f64, *value))
        }
        Test::Re(re) => v.text().is_some_and(|t| re.is_match(&t)),
        Test::Cidr { net, prefix } => v
            .text()
            .and_then(|t| t.trim().parse::<IpAddr>().ok())
            .is_some_and(|ip| in_net(ip, *net, *prefix)),
        Test::Null | Test::Exists(_) | Test::FieldRef { .. } => false,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - prefix as u32)
            };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - prefix as u32)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}
