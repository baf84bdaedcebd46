//! Group keys and the bound on every string correlation state keeps.
//!
//! A key is the correlation's index followed by each group-by value with its
//! length in front, so that no value can be confused with a pair of values
//! (`("a\u{1f}b", "c")` and `("a", "b\u{1f}c")` differ), and keys compare as
//! bytes.

/// Longest string kept from an event (a group-by value, an event id, a
/// `value_count` value), in bytes. Longer strings are cut and marked with a
/// hash of the whole, so distinct long values stay distinct: memory per
/// group is bounded whatever the event holds.
pub(crate) const MAX_VALUE_BYTES: usize = 128;

/// A string of at most [`MAX_VALUE_BYTES`] bytes standing for `s`: `s`
/// itself when short enough, else its start, `…`, `#` and 16 hex digits of
/// a 64-bit FNV-1a hash of the whole.
pub(crate) fn bounded(s: &str) -> Box<str> {
    if s.len() <= MAX_VALUE_BYTES {
        return s.into();
    }
    let mut cut = MAX_VALUE_BYTES - 24;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    let hash = s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}…#{hash:016x}", &s[..cut]).into()
}

/// Appends the key of correlation `corr` for `values` to `out` (cleared first).
pub(crate) fn encode(corr: u32, values: &[&str], out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&corr.to_be_bytes());
    for v in values {
        // Values are bounded, so their length fits in two bytes.
        out.extend_from_slice(&(v.len() as u16).to_be_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}

/// The correlation index of a key.
pub(crate) fn corr_of(key: &[u8]) -> u32 {
    u32::from_be_bytes([key[0], key[1], key[2], key[3]])
}

/// The group-by values of a key, in order.
pub(crate) fn values(key: &[u8]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = &key[4..];
    while rest.len() >= 2 {
        let n = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        let Some(v) = rest.get(2..2 + n) else { break };
        out.push(std::str::from_utf8(v).unwrap_or(""));
        rest = &rest[2 + n..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_do_not_collide() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        encode(3, &["a\u{1f}b", "c"], &mut a);
        encode(3, &["a", "b\u{1f}c"], &mut b);
        assert_ne!(a, b);
        assert_eq!(values(&a), vec!["a\u{1f}b", "c"]);
        assert_eq!(corr_of(&a), 3);
        encode(0, &[], &mut a);
        assert!(values(&a).is_empty());
    }

    #[test]
    fn long_values_are_bounded_and_distinct() {
        let x = "é".repeat(200);
        let y = format!("{}x", "é".repeat(199));
        let (bx, by) = (bounded(&x), bounded(&y));
        assert!(bx.len() <= MAX_VALUE_BYTES && by.len() <= MAX_VALUE_BYTES);
        assert_ne!(bx, by);
        assert_eq!(&*bounded("short"), "short");
    }
}
