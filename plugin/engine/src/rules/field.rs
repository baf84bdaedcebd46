//! From a field key's modifiers and its values to the compiled tests of
//! `matching::matcher`: modifiers chained in order, placeholders expanded,
//! wildcards and escapes turned into pieces, each value's fastest test shape.

use std::net::IpAddr;

use crate::matching::matcher::{Cmp, FieldCond, Slots, StrPat, Test};
use crate::rules::modifier::{self, Modifier};
use crate::rules::yaml::{Node, Scalar};
use crate::vocab::timepart::TimePart;
use crate::vocab::value::{self, Anchor, Piece};

/// Options the compiler needs from the engine's.
pub(crate) struct CompileCtx<'o> {
    pub max_regex_bytes: u32,
    pub placeholders: &'o [(String, Vec<String>)],
    /// When compiling a schema rule for a raw source: where its columns are.
    pub mapping: Option<&'o crate::rules::schema::Mapping>,
    /// The schema's columns that hold JSON.
    pub dynamic: &'o [String],
}

/// Compiles `modifiers` and `values` (a scalar or a list) into a [`FieldCond`]
/// on `slot`. The error says which modifier or value is wrong.
pub(crate) fn compile(
    slot: u32,
    modifiers: &[Modifier],
    values: &Node,
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<FieldCond, String> {
    use Modifier::*;
    let has = |m: Modifier| modifiers.contains(&m);
    let anchor = match (has(Contains), has(StartsWith), has(EndsWith)) {
        (false, false, false) => Anchor::Exact,
        (true, false, false) => Anchor::Contains,
        (false, true, false) => Anchor::Prefix,
        (false, false, true) => Anchor::Suffix,
        _ => return Err("use only one of contains, startswith and endswith".into()),
    };
    let cmp = [
        (Lt, Cmp::Lt),
        (Lte, Cmp::Lte),
        (Gt, Cmp::Gt),
        (Gte, Cmp::Gte),
    ]
    .into_iter()
    .filter(|(m, _)| has(*m))
    .map(|(_, c)| c)
    .collect::<Vec<_>>();
    if cmp.len() > 1 {
        return Err("use only one of lt, lte, gt and gte".into());
    }
    let time_part = [
        (Minute, TimePart::Minute),
        (Hour, TimePart::Hour),
        (Day, TimePart::Day),
        (Week, TimePart::Week),
        (Month, TimePart::Month),
        (Year, TimePart::Year),
    ]
    .into_iter()
    .find(|(m, _)| has(*m))
    .map(|(_, p)| p);
    for flag in [ReI, ReM, ReS] {
        if has(flag) && !has(Re) {
            return Err("the i, m and s modifiers only apply after re".into());
        }
    }
    let transforms: Vec<Modifier> = modifiers
        .iter()
        .copied()
        .filter(|m| {
            matches!(
                m,
                Base64 | Base64Offset | Utf16Le | Utf16Be | Utf16 | WinDash
            )
        })
        .collect();

    let items: Vec<&Node> = match values.as_seq() {
        Some([]) => return Err("the value list is empty".into()),
        Some(seq) => seq.iter().collect(),
        None if values.as_map().is_some() => return Err("a field's value cannot be a map".into()),
        None => vec![values],
    };

    let mut tests = Vec::new();
    for item in items {
        let scalar = item.scalar().ok_or("a field's values must be scalars")?;
        let text = item.text().unwrap_or("");
        if has(Exists) {
            match scalar {
                Scalar::Bool(b) => tests.push(Test::Exists(b)),
                _ => return Err("exists takes true or false".into()),
            }
            continue;
        }
        if has(FieldRef) {
            let other = item.as_str().ok_or("fieldref takes a field name")?;
            tests.push(Test::FieldRef {
                slot: slots.slot(other),
                cased: has(Cased),
            });
            continue;
        }
        if let Some(part) = time_part {
            let n = number(&scalar).ok_or("time-part modifiers take a number")?;
            tests.push(Test::TimePart {
                part,
                op: cmp.first().copied().unwrap_or(Cmp::Eq),
                value: n,
            });
            continue;
        }
        if let Some(op) = cmp.first() {
            let n = number(&scalar).ok_or("lt, lte, gt and gte take a number")?;
            tests.push(Test::Cmp { op: *op, value: n });
            continue;
        }
        if has(Cidr) {
            tests.push(cidr(text)?);
            continue;
        }
        if has(Re) {
            let re = regex_lite::RegexBuilder::new(text)
                .case_insensitive(has(ReI))
                .multi_line(has(ReM))
                .dot_matches_new_line(has(ReS))
                .size_limit(cx.max_regex_bytes as usize)
                .build()
                .map_err(|e| format!("invalid regular expression `{text}`: {e}"))?;
            tests.push(Test::Re(re));
            continue;
        }
        match scalar {
            Scalar::Null if modifiers.is_empty() => {
                tests.push(Test::Null);
                continue;
            }
            Scalar::Bool(b) if modifiers.is_empty() => {
                tests.push(Test::Bool(b));
                continue;
            }
            Scalar::Int(_) | Scalar::Float(_) if modifiers.is_empty() || modifiers == [Neq] => {
                tests.push(Test::Num {
                    value: number(&scalar).unwrap_or(f64::NAN),
                    text: text.to_string(),
                });
                continue;
            }
            Scalar::Null => return Err("null cannot take modifiers other than none".into()),
            _ => {}
        }
        let texts = if has(Expand) {
            expand(text, cx.placeholders)?
        } else {
            vec![text.to_string()]
        };
        for t in texts {
            push_strings(&t, &transforms, anchor, has(Cased), &mut tests)?;
        }
    }
    Ok(FieldCond {
        slot,
        tests,
        all: has(All),
        neq: has(Neq),
    })
}

fn number(s: &Scalar<'_>) -> Option<f64> {
    match s {
        Scalar::Int(i) => Some(*i as f64),
        Scalar::Float(f) => Some(*f),
        Scalar::Str(t) => t.trim().parse().ok(),
        _ => None,
    }
}

fn cidr(text: &str) -> Result<Test, String> {
    let bad = || format!("`{text}` is not a CIDR network such as 10.0.0.0/8 or fd00::/8");
    let (addr, prefix) = text.split_once('/').ok_or_else(bad)?;
    let net: IpAddr = addr.trim().parse().map_err(|_| bad())?;
    let prefix: u8 = prefix.trim().parse().map_err(|_| bad())?;
    let max = if net.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(bad());
    }
    Ok(Test::Cidr { net, prefix })
}

/// Replaces `%name%` placeholders with each of their supplied values.
fn expand(text: &str, placeholders: &[(String, Vec<String>)]) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        let Some(len) = rest[start + 1..].find('%') else {
            break;
        };
        let name = &rest[start + 1..start + 1 + len];
        let values = placeholders
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .ok_or_else(|| format!("placeholder %{name}% has no values: supply them in the engine options (`placeholders`; `--placeholder NAME=VALUES` on the command line)"))?;
        let prefix = &rest[..start];
        out = out
            .iter()
            .flat_map(|o| values.iter().map(move |v| format!("{o}{prefix}{v}")))
            .collect();
        rest = &rest[start + len + 2..];
    }
    out.iter_mut().for_each(|o| o.push_str(rest));
    Ok(out)
}

/// Turns one string value into string tests, through the transformation chain.
fn push_strings(
    text: &str,
    transforms: &[Modifier],
    anchor: Anchor,
    cased: bool,
    tests: &mut Vec<Test>,
) -> Result<(), String> {
    if transforms.is_empty() {
        tests.push(string_test(text, anchor, cased, true));
        return Ok(());
    }
    // Work on escape-free literal text: wildcards are not meaningful inside
    // an encoded value.
    let mut variants: Vec<Vec<u8>> = vec![unescape(text).into_bytes()];
    let mut encoded = false;
    for m in transforms {
        variants = match m {
            Modifier::WinDash => {
                let mut out = Vec::new();
                for v in &variants {
                    let s = String::from_utf8(v.clone())
                        .map_err(|_| "windash must come before encodings")?;
                    out.extend(modifier::windash(&s)?.into_iter().map(String::into_bytes));
                }
                out
            }
            Modifier::Utf16 | Modifier::Utf16Le | Modifier::Utf16Be => {
                let mut out = Vec::new();
                for v in &variants {
                    let s = std::str::from_utf8(v).map_err(|_| "utf16 modifiers apply to text")?;
                    out.push(modifier::utf16(s, *m));
                }
                out
            }
            Modifier::Base64 => {
                encoded = true;
                variants
                    .iter()
                    .map(|v| modifier::base64(v).into_bytes())
                    .collect()
            }
            Modifier::Base64Offset => {
                encoded = true;
                variants
                    .iter()
                    .flat_map(|v| modifier::base64_offsets(v))
                    .map(String::into_bytes)
                    .collect()
            }
            _ => unreachable!("only transformations are passed here"),
        };
    }
    for v in variants {
        let s = String::from_utf8(v).map_err(|_| {
            "utf16 modifiers must be followed by base64 or base64offset: JSON text cannot hold raw UTF-16"
        })?;
        tests.push(string_test(&s, anchor, cased, !encoded));
    }
    Ok(())
}

/// The literal text of a Sigma string: wildcard escapes removed.
fn unescape(text: &str) -> String {
    pieces(text).into_iter().fold(String::new(), |mut acc, p| {
        match p {
            Piece::Lit(l) => acc.push_str(&l),
            Piece::Star => acc.push('*'),
            Piece::One => acc.push('?'),
        }
        acc
    })
}

/// Splits a Sigma string into literals and wildcards. `\*`, `\?` and `\\`
/// are escapes; any other backslash is a literal backslash.
pub(crate) fn pieces(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    lit.push(n);
                    chars.next();
                }
                _ => lit.push('\\'),
            },
            '*' | '?' => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                // Consecutive stars are one star.
                if c == '*' && out.last() == Some(&Piece::Star) {
                    continue;
                }
                out.push(if c == '*' { Piece::Star } else { Piece::One });
            }
            c => lit.push(c),
        }
    }
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

fn string_test(text: &str, anchor: Anchor, cased: bool, wildcards: bool) -> Test {
    let fold = |s: &str| {
        if cased {
            s.to_string()
        } else {
            value::lower(s).into_owned()
        }
    };
    let mut ps = if wildcards {
        pieces(text)
    } else {
        vec![Piece::Lit(text.to_string())]
    };
    if matches!(anchor, Anchor::Contains | Anchor::Suffix) && ps.first() != Some(&Piece::Star) {
        ps.insert(0, Piece::Star);
    }
    if matches!(anchor, Anchor::Contains | Anchor::Prefix) && ps.last() != Some(&Piece::Star) {
        ps.push(Piece::Star);
    }
    let pat = match ps.as_slice() {
        [] => StrPat::Anchored(Anchor::Exact, String::new()),
        [Piece::Lit(l)] => StrPat::Anchored(Anchor::Exact, fold(l)),
        [Piece::Lit(l), Piece::Star] => StrPat::Anchored(Anchor::Prefix, fold(l)),
        [Piece::Star, Piece::Lit(l)] => StrPat::Anchored(Anchor::Suffix, fold(l)),
        [Piece::Star, Piece::Lit(l), Piece::Star] => StrPat::Anchored(Anchor::Contains, fold(l)),
        _ => StrPat::Glob(
            ps.into_iter()
                .map(|p| match p {
                    Piece::Lit(l) => Piece::Lit(fold(&l)),
                    p => p,
                })
                .collect(),
        ),
    };
    Test::Str { pat, cased }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::matcher::test_value;
    use crate::vocab::value::Val;

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(
            pieces(r"a\*b*c\\d\x?"),
            vec![
                Piece::Lit(r"a*b".into()),
                Piece::Star,
                Piece::Lit(r"c\d\x".into()),
                Piece::One
            ]
        );
        assert_eq!(
            pieces("a**b"),
            vec![Piece::Lit("a".into()), Piece::Star, Piece::Lit("b".into())]
        );
    }

    #[test]
    fn string_tests_pick_fast_shapes() {
        let t = string_test("Foo", Anchor::Contains, false, true);
        assert!(
            matches!(t, Test::Str { pat: StrPat::Anchored(Anchor::Contains, ref s), .. } if s == "foo")
        );
        let t = string_test("a*b", Anchor::Exact, false, true);
        assert!(matches!(
            t,
            Test::Str {
                pat: StrPat::Glob(_),
                ..
            }
        ));
        assert!(test_value(&t, &Val::Str("AxxB".into())));
    }

    #[test]
    fn cidr_networks() {
        let t = cidr("10.0.0.0/8").unwrap();
        assert!(test_value(&t, &Val::Str("10.2.3.4".into())));
        assert!(!test_value(&t, &Val::Str("11.2.3.4".into())));
        let t = cidr("fd00::/8").unwrap();
        assert!(test_value(&t, &Val::Str("fd12::1".into())));
        assert!(cidr("10.0.0.0/33").is_err());
    }

    #[test]
    fn placeholders_expand_or_fail() {
        let ph = vec![(
            "admins".to_string(),
            vec!["alice".to_string(), "bob".to_string()],
        )];
        assert_eq!(
            expand("x-%admins%-y", &ph).unwrap(),
            vec!["x-alice-y", "x-bob-y"]
        );
        assert!(expand("%nobody%", &ph).unwrap_err().contains("no values"));
    }
}
