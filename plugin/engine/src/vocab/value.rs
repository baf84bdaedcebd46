//! Values taken out of an event, and case-insensitive text comparison.
//!
//! An event's fields are never copied into a tree: the extractor records
//! only the fields the loaded rules name, as borrowed slices of the input
//! whenever the JSON string has no escapes.

use std::borrow::Cow;

/// One value of a field of an event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Val<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Null,
    /// An object or array: present, not null, not comparable as text.
    Compound,
}

impl Val<'_> {
    /// The value as text, the way a Sigma string pattern sees it: numbers
    /// in their shortest form (`42`, `1.5`), booleans as `true`/`false`.
    pub fn text(&self) -> Option<Cow<'_, str>> {
        match self {
            Val::Str(s) => Some(Cow::Borrowed(s)),
            Val::Num(n) => Some(Cow::Owned(format_number(*n))),
            Val::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Val::Null | Val::Compound => None,
        }
    }

    /// The value as a number: a JSON number, or a string holding one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

pub(crate) fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// Lower-cases for case-insensitive matching: Unicode's full lower-case
/// mapping, so `É` matches `é`. Borrows when nothing changes.
pub(crate) fn lower(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase() || b >= 0x80) {
        Cow::Owned(s.to_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// How a string pattern is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// `hay` against `needle` with `anchor`. `needle` is already lower-cased
/// when `cased` is false. ASCII text, by far the common case, is compared
/// in place without allocating.
pub(crate) fn str_match(hay: &str, needle: &str, anchor: Anchor, cased: bool) -> bool {
    if cased {
        return anchored(hay.as_bytes(), needle.as_bytes(), anchor, false);
    }
    if hay.is_ascii() && needle.is_ascii() {
        return anchored(hay.as_bytes(), needle.as_bytes(), anchor, true);
    }
    let hay = lower(hay);
    anchored(hay.as_bytes(), needle.as_bytes(), anchor, false)
}

fn anchored(h: &[u8], n: &[u8], anchor: Anchor, ci: bool) -> bool {
    let eq = |a: &[u8], b: &[u8]| {
        if ci {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    };
    match anchor {
        Anchor::Exact => h.len() == n.len() && eq(h, n),
        Anchor::Prefix => h.len() >= n.len() && eq(&h[..n.len()], n),
        Anchor::Suffix => h.len() >= n.len() && eq(&h[h.len() - n.len()..], n),
        Anchor::Contains => {
            if ci {
                find_ci(h, n).is_some()
            } else {
                memchr::memmem::find(h, n).is_some()
            }
        }
    }
}

/// ASCII case-insensitive substring search; `n` is lower-case.
pub(crate) fn find_ci(h: &[u8], n: &[u8]) -> Option<usize> {
    if n.is_empty() {
        return Some(0);
    }
    if h.len() < n.len() {
        return None;
    }
    let (first_lo, first_up) = (n[0].to_ascii_lowercase(), n[0].to_ascii_uppercase());
    let last = h.len() - n.len();
    let mut i = 0;
    while i <= last {
        let off = memchr::memchr2(first_lo, first_up, &h[i..=last])?;
        let at = i + off;
        if h[at..at + n.len()].eq_ignore_ascii_case(n) {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

/// A pattern with `*` and `?` wildcards, split into pieces.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Piece {
    Lit(String),
    Star,
    One,
}

/// Matches `hay` against wildcard `pieces` (literals already lower-cased
/// unless `cased`), by characters.
pub(crate) fn glob_match(hay: &str, pieces: &[Piece], cased: bool) -> bool {
    let hay = if cased {
        Cow::Borrowed(hay)
    } else {
        lower(hay)
    };
    glob_at(&hay, pieces)
}

fn glob_at(hay: &str, pieces: &[Piece]) -> bool {
    match pieces.split_first() {
        None => hay.is_empty(),
        Some((Piece::Lit(l), rest)) => hay
            .strip_prefix(l.as_str())
            .is_some_and(|h| glob_at(h, rest)),
        Some((Piece::One, rest)) => {
            let mut chars = hay.chars();
            chars.next().is_some() && glob_at(chars.as_str(), rest)
        }
        Some((Piece::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            // Try every split point; patterns are short and stars few.
            let mut h = hay;
            loop {
                if glob_at(h, rest) {
                    return true;
                }
                let mut chars = h.chars();
                if chars.next().is_none() {
                    return false;
                }
                h = chars.as_str();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_insensitive_anchors() {
        assert!(str_match(
            "StopInstances",
            "stopinstances",
            Anchor::Exact,
            false
        ));
        assert!(!str_match(
            "StopInstances",
            "stopinstances",
            Anchor::Exact,
            true
        ));
        assert!(str_match(
            "arn:aws:iam::1:ROOT",
            "root",
            Anchor::Suffix,
            false
        ));
        assert!(str_match("xxAbCxx", "abc", Anchor::Contains, false));
        assert!(str_match("ÉCOLE", "école", Anchor::Prefix, false));
        assert!(!str_match("ab", "abc", Anchor::Contains, false));
    }

    #[test]
    fn globs() {
        let p = [
            Piece::Lit("a".into()),
            Piece::Star,
            Piece::Lit("c".into()),
            Piece::One,
        ];
        assert!(glob_match("AxxCd", &p, false));
        assert!(!glob_match("AxxC", &p, false));
        assert!(glob_match("ac!", &p, false));
    }

    #[test]
    fn numbers_as_text() {
        assert_eq!(Val::Num(42.0).text().unwrap(), "42");
        assert_eq!(Val::Num(1.5).text().unwrap(), "1.5");
        assert_eq!(Val::Str("7".into()).number(), Some(7.0));
    }
}
