//! Sigma value modifiers (specification appendix "Modifiers").
//!
//! A field key `field|m1|m2` carries a chain read left to right: value
//! transformations (`wide`, `utf16*`, `base64`, `base64offset`, `windash`)
//! rewrite the rule's value into the alternatives to look for; then one
//! match kind (`contains`, `startswith`, `endswith`, `re`, `cidr`,
//! comparisons, time parts, `exists`, `fieldref`) says how to compare; and
//! flags (`all`, `cased`, `neq`, `expand`, `re`'s `i`/`m`/`s`) adjust it.

/// One parsed modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Cased,
    Re,
    ReI,
    ReM,
    ReS,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    WinDash,
    Cidr,
    Exists,
    FieldRef,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Expand,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Modifier {
    pub fn parse(name: &str) -> Option<Modifier> {
        use Modifier::*;
        Some(match name {
            "contains" => Contains,
            "startswith" => StartsWith,
            "endswith" => EndsWith,
            "all" => All,
            "cased" => Cased,
            "re" => Re,
            "i" => ReI,
            "m" => ReM,
            "s" => ReS,
            "base64" => Base64,
            "base64offset" => Base64Offset,
            "utf16le" | "wide" => Utf16Le,
            "utf16be" => Utf16Be,
            "utf16" => Utf16,
            "windash" => WinDash,
            "cidr" => Cidr,
            "exists" => Exists,
            "fieldref" => FieldRef,
            "neq" => Neq,
            "lt" => Lt,
            "lte" => Lte,
            "gt" => Gt,
            "gte" => Gte,
            "expand" => Expand,
            "minute" => Minute,
            "hour" => Hour,
            "day" => Day,
            "week" => Week,
            "month" => Month,
            "year" => Year,
            _ => return None,
        })
    }
}

/// The dash characters `windash` treats as interchangeable at the start of
/// a command-line option: hyphen, slash, en dash, em dash, horizontal bar.
const DASHES: [char; 5] = ['-', '/', '\u{2013}', '\u{2014}', '\u{2015}'];

/// Every variant of `s` with each option dash (a `-` or `/` at the start of
/// the string or after a space) replaced by each of [`DASHES`]. The count is
/// capped so a hostile rule cannot explode the pattern set.
pub(crate) fn windash(s: &str) -> Result<Vec<String>, String> {
    let mut out = vec![String::new()];
    let mut prev_space = true;
    for c in s.chars() {
        if prev_space && (c == '-' || c == '/') {
            if out.len() * DASHES.len() > 4096 {
                return Err("windash would expand this value into more than 4096 variants".into());
            }
            out = out
                .into_iter()
                .flat_map(|v| DASHES.iter().map(move |d| format!("{v}{d}")))
                .collect();
        } else {
            out.iter_mut().for_each(|v| v.push(c));
        }
        prev_space = c == ' ';
    }
    Ok(out)
}

/// UTF-16 encodings of the `wide`/`utf16*` modifiers.
pub(crate) fn utf16(s: &str, m: Modifier) -> Vec<u8> {
    let mut out = Vec::new();
    if m == Modifier::Utf16 {
        out.extend_from_slice(&[0xFF, 0xFE]);
    }
    for unit in s.encode_utf16() {
        let bytes = if m == Modifier::Utf16Be {
            unit.to_be_bytes()
        } else {
            unit.to_le_bytes()
        };
        out.extend_from_slice(&bytes);
    }
    out
}

/// `base64`: the standard encoding with padding.
pub(crate) fn base64(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// `base64offset`: the three encodings of `b` as it can appear at each
/// offset modulo 3 inside a larger encoded text, with the characters that
/// depend on the unknown neighbours cut off.
pub(crate) fn base64_offsets(b: &[u8]) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    (0..3)
        .map(|i| {
            let mut padded = vec![b' '; i];
            padded.extend_from_slice(b);
            let enc = base64(&padded);
            // Trailing characters that mix in padding or the next byte.
            let cut = match (b.len() + i) % 3 {
                0 => 0,
                1 => 3,
                _ => 2,
            };
            let end = enc.len() - cut;
            enc.get(START[i]..end).unwrap_or("").to_string()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64offset_matches_reference_values() {
        // pySigma's documented example: "/bin/bash" in three alignments.
        assert_eq!(
            base64_offsets(b"/bin/bash"),
            vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
    }

    #[test]
    fn windash_variants() {
        let v = windash("-enc x").unwrap();
        assert_eq!(v.len(), 5);
        assert!(v.contains(&"/enc x".to_string()));
        assert!(v.contains(&"\u{2013}enc x".to_string()));
        assert_eq!(windash("a-b").unwrap(), vec!["a-b"]);
    }

    #[test]
    fn utf16_forms() {
        assert_eq!(utf16("ab", Modifier::Utf16Le), vec![b'a', 0, b'b', 0]);
        assert_eq!(utf16("a", Modifier::Utf16Be), vec![0, b'a']);
        assert_eq!(utf16("a", Modifier::Utf16), vec![0xFF, 0xFE, b'a', 0]);
    }
}
