//! A filter in front of the prefilter's substring searches, for a key
//! whose values are searched for several `contains` literals.
//!
//! The SigmaHQ cloud pack searches every `userAgent` for six literals
//! (`s3 browser`, `trufflehog`, `bav2ropc`, ...). One substring search per
//! literal is one pass over the value each, plus a call and the searcher's
//! set-up: in the WebAssembly guest that was the prefilter's most costly
//! step after tokenising (about 1 500 instructions per event). Nearly no
//! value holds any of the literals, so one pass that proves it, comparing
//! 16 positions at a time with the first four bytes of every literal,
//! replaces the searches for nearly every value; the searches run only
//! when some literal's first four bytes occur.
//!
//! Both read the value lower-cased ([`lower_padded`]), 16 bytes at a time:
//! the standard library's byte loop for the last bytes of each value cost
//! the guest more than the vector part.
//!
//! Four bytes, not two: with two, common pairs (`tr` in
//! `stratus-red-team`, `s3` in `aws-cli ... command/s3.cp`) let most values
//! through. The filter is exact about what it claims: false means no
//! literal occurs. It is built only with vector code (x86_64 SSE2, or
//! WebAssembly `simd128`); elsewhere the searches run as before.

use crate::scan::structural::ENABLED;

/// The first four bytes of up to [`ContainsFilter::MAX`] literals.
#[derive(Clone, Debug)]
pub(crate) struct ContainsFilter {
    /// `prefix[k][j]`: byte `j` of the `k`-th distinct prefix; unused
    /// slots repeat the first prefix, which changes no answer.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    prefix: [[u8; 4]; ContainsFilter::MAX],
    /// The same prefixes as nibble tables, one bit per prefix (bucket):
    /// bit `k` of `low[j][x]` is set when byte `j` of prefix `k` has low
    /// nibble `x`, and of `high[j][y]` when its high nibble is `y`. A byte
    /// `b` at offset `j` keeps bucket `k` alive when both
    /// `low[j][b & 15]` and `high[j][b >> 4]` have bit `k`, which holds
    /// exactly when `b` is that prefix's byte `j` (each bucket holds one
    /// prefix). The WebAssembly build looks them up with `i8x16.swizzle`:
    /// eight table lookups per 16 positions whatever the number of
    /// prefixes, where comparisons take four per prefix. (SSE2, the x86_64
    /// baseline, has no byte shuffle: natively the comparisons stay.)
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    low: [[u8; 16]; 4],
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    high: [[u8; 16]; 4],
}

impl ContainsFilter {
    /// The most distinct prefixes one filter compares.
    pub const MAX: usize = 8;

    /// Zero bytes that the text passed to [`ContainsFilter::any_in`] must
    /// carry after its end: the last window reads 19 bytes from a position
    /// below the end.
    pub const PADDING: usize = 32;

    /// A filter for `literals` (lower-cased, as the text will be); `None`
    /// when there are fewer than two (one search is as cheap as the
    /// filter), when one is shorter than four bytes or holds a zero byte
    /// (the padding), when they have more than [`ContainsFilter::MAX`]
    /// distinct prefixes, or when this build has no vector code.
    pub fn new<'l>(literals: impl IntoIterator<Item = &'l [u8]>) -> Option<ContainsFilter> {
        let mut prefixes: Vec<[u8; 4]> = Vec::new();
        let mut count = 0;
        for l in literals {
            count += 1;
            if l.contains(&0) {
                return None;
            }
            let p: [u8; 4] = *l.first_chunk::<4>()?;
            if !prefixes.contains(&p) {
                prefixes.push(p);
            }
        }
        if !ENABLED || count < 2 || prefixes.len() > ContainsFilter::MAX {
            return None;
        }
        let mut low = [[0u8; 16]; 4];
        let mut high = [[0u8; 16]; 4];
        for (k, p) in prefixes.iter().enumerate() {
            for ((low, high), &b) in low.iter_mut().zip(&mut high).zip(p) {
                // In bounds: `b & 15` and `b >> 4` (of a `u8`) are below 16,
                // the tables' length.
                #[allow(clippy::indexing_slicing)]
                let (l, h) = (
                    &mut low[usize::from(b & 15)],
                    &mut high[usize::from(b >> 4)],
                );
                *l |= 1 << k;
                *h |= 1 << k;
            }
        }
        let first = *prefixes.first()?;
        prefixes.resize(ContainsFilter::MAX, first);
        Some(ContainsFilter {
            prefix: prefixes.try_into().ok()?,
            low,
            high,
        })
    }

    /// Whether some literal's first four bytes occur in the first `len`
    /// bytes of `padded`, which holds at least [`ContainsFilter::PADDING`]
    /// zero bytes after them. False means that no literal occurs.
    pub fn any_in(&self, padded: &[u8], len: usize) -> bool {
        debug_assert!(
            padded
                .get(len..len + ContainsFilter::PADDING)
                .is_some_and(|pad| pad.iter().all(|&b| b == 0))
        );
        let mut i = 0;
        // A prefix starting past the end meets the padding's zeros, which
        // no literal holds, so whole windows need no mask.
        while i < len {
            // Without the padding (never, see `lower_padded`), true: the
            // searches then decide.
            let Some(window) = padded.get(i..).and_then(<[u8]>::first_chunk::<19>) else {
                return true;
            };
            if self.any16(window) {
                return true;
            }
            i += 16;
        }
        false
    }

    /// Whether a prefix starts at one of the first 16 positions of `w`.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    #[allow(unsafe_code)]
    fn any16(&self, w: &[u8; 19]) -> bool {
        use core::arch::x86_64::*;
        // SAFETY: the four loads read bytes 0..16, 1..17, 2..18 and 3..19
        // of `w`; `loadu` has no alignment requirement; SSE2 is part of
        // the x86_64 base ISA.
        unsafe {
            let [v0, v1, v2, v3]: [__m128i; 4] =
                std::array::from_fn(|j| _mm_loadu_si128(w.as_ptr().add(j).cast::<__m128i>()));
            let mut acc = _mm_setzero_si128();
            for &[p0, p1, p2, p3] in &self.prefix {
                let eq = |v: __m128i, b: u8| _mm_cmpeq_epi8(v, _mm_set1_epi8(b as i8));
                let all = _mm_and_si128(
                    _mm_and_si128(eq(v0, p0), eq(v1, p1)),
                    _mm_and_si128(eq(v2, p2), eq(v3, p3)),
                );
                acc = _mm_or_si128(acc, all);
            }
            _mm_movemask_epi8(acc) != 0
        }
    }

    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    #[inline(always)]
    #[allow(unsafe_code)]
    fn any16(&self, w: &[u8; 19]) -> bool {
        use core::arch::wasm32::*;
        // SAFETY (`load`): it reads the 16 bytes of the array it is given;
        // `v128_load` has no alignment requirement.
        let load = |b: &[u8; 16]| unsafe { v128_load(b.as_ptr().cast::<v128>()) };
        let mut alive = u8x16_splat(0xFF);
        for (j, (low, high)) in self.low.iter().zip(&self.high).enumerate() {
            // `w` has 19 bytes and `j < 4`: always 16 bytes from `j` (and
            // were there not, true: the searches then decide).
            let Some(bytes) = w.get(j..).and_then(<[u8]>::first_chunk::<16>) else {
                return true;
            };
            let v = load(bytes);
            let low = u8x16_swizzle(load(low), v128_and(v, u8x16_splat(15)));
            let high = u8x16_swizzle(load(high), u8x16_shr(v, 4));
            alive = v128_and(alive, v128_and(low, high));
        }
        v128_any_true(alive)
    }

    /// What the WebAssembly build's `any16` computes, a byte at a time:
    /// the tests hold the nibble tables to the definition with it.
    // In bounds: `i < 16` and `j < 4` by their ranges, so `i + j < 19`;
    // nibbles are below 16.
    #[cfg(test)]
    #[allow(clippy::indexing_slicing)]
    fn any16_by_nibbles(&self, w: &[u8; 19]) -> bool {
        (0..16).any(|i| {
            let alive = (0..4).fold(0xFFu8, |alive, j| {
                let b = w[i + j];
                alive & self.low[j][usize::from(b & 15)] & self.high[j][usize::from(b >> 4)]
            });
            alive != 0
        })
    }

    #[cfg(not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    )))]
    fn any16(&self, _: &[u8; 19]) -> bool {
        // Never built: `new` gives no filter without vector code.
        true
    }
}

/// Writes `text`, ASCII lower-cased, to the start of `out`, followed by
/// [`ContainsFilter::PADDING`] zero bytes: the text of
/// [`ContainsFilter::any_in`], and of the searches as `&out[..text.len()]`.
/// `out` only grows (what lies past the padding is left as it was), so a
/// buffer reused from value to value is not cleared each time.
#[inline]
pub(crate) fn lower_padded(text: &[u8], out: &mut Vec<u8>) {
    let n = text.len();
    if out.len() < n + ContainsFilter::PADDING {
        out.resize(n + ContainsFilter::PADDING, 0);
    }
    // Never `None`: `out` was just made long enough.
    let Some((dst, rest)) = out.split_at_mut_checked(n) else {
        return;
    };
    let (chunks, tail) = text.as_chunks::<16>();
    for (chunk, d) in chunks.iter().zip(dst.as_chunks_mut::<16>().0) {
        lower16(chunk, d);
    }
    if !tail.is_empty() {
        if let (Some(last), Some(d)) = (text.last_chunk::<16>(), dst.last_chunk_mut::<16>()) {
            // The last 16 bytes again, overlapping the last whole chunk:
            // one vector step instead of a byte loop.
            lower16(last, d);
        } else {
            // Shorter than 16 bytes: `tail` is the whole text.
            for (d, &c) in dst.iter_mut().zip(tail) {
                *d = c.to_ascii_lowercase();
            }
        }
    }
    if let Some(pad) = rest.get_mut(..ContainsFilter::PADDING) {
        pad.fill(0);
    }
}

/// `src`, ASCII lower-cased, into `dst`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn lower16(src: &[u8; 16], dst: &mut [u8; 16]) {
    use core::arch::x86_64::*;
    // SAFETY: one unaligned load of the 16 bytes of `src` and one store to
    // the 16 bytes of `dst`; SSE2 is part of the x86_64 base ISA.
    unsafe {
        let v = _mm_loadu_si128(src.as_ptr().cast::<__m128i>());
        // `A`..=`Z` moved to -128..=-103, the only bytes below -102 as
        // signed (SSE2 has no unsigned comparison).
        let shifted = _mm_add_epi8(v, _mm_set1_epi8((0x80u8 - b'A') as i8));
        let upper = _mm_cmplt_epi8(shifted, _mm_set1_epi8(-128 + 26));
        let lower = _mm_or_si128(v, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
        _mm_storeu_si128(dst.as_mut_ptr().cast::<__m128i>(), lower);
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
#[allow(unsafe_code)]
fn lower16(src: &[u8; 16], dst: &mut [u8; 16]) {
    use core::arch::wasm32::*;
    // SAFETY: one load of the 16 bytes of `src` and one store to the 16
    // bytes of `dst`; neither has an alignment requirement.
    unsafe {
        let v = v128_load(src.as_ptr().cast::<v128>());
        let upper = u8x16_lt(u8x16_sub(v, u8x16_splat(b'A')), u8x16_splat(26));
        let lower = v128_or(v, v128_and(upper, u8x16_splat(0x20)));
        v128_store(dst.as_mut_ptr().cast::<v128>(), lower);
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
#[inline(always)]
fn lower16(src: &[u8; 16], dst: &mut [u8; 16]) {
    for (d, c) in dst.iter_mut().zip(src) {
        *d = c.to_ascii_lowercase();
    }
}

#[cfg(test)]
// A panic in a test is a failed test.
#[allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    fn padded(text: &[u8]) -> Vec<u8> {
        let mut v = text.to_vec();
        v.resize(text.len() + ContainsFilter::PADDING, 0);
        v
    }

    #[test]
    fn lower_padded_lowers_every_byte_and_pads_with_zeros() {
        let all: Vec<u8> = (0..=255u8).collect();
        // Reused, and dirty past what each call writes.
        let mut out = vec![0xAA; 400];
        for start in 0..40 {
            for len in 0..=(all.len() - start).min(90) {
                let text = &all[start..start + len];
                lower_padded(text, &mut out);
                assert_eq!(&out[..len], &text.to_ascii_lowercase()[..], "{start}+{len}");
                assert!(
                    out[len..len + ContainsFilter::PADDING]
                        .iter()
                        .all(|&b| b == 0)
                );
                out[len..].fill(0xAA);
            }
        }
        let mut fresh = Vec::new();
        lower_padded(b"S3 Browser", &mut fresh);
        assert_eq!(
            fresh,
            [&b"s3 browser"[..], &[0; ContainsFilter::PADDING]].concat()
        );
    }

    #[test]
    fn refuses_what_it_cannot_filter() {
        assert!(
            ContainsFilter::new([&b"trufflehog"[..]]).is_none(),
            "one literal"
        );
        assert!(
            ContainsFilter::new([&b"abcd"[..], b"xyz"]).is_none(),
            "short"
        );
        assert!(
            ContainsFilter::new([&b"abcd"[..], b"ab\0d"]).is_none(),
            "zero byte"
        );
        let many: Vec<Vec<u8>> = (0..=ContainsFilter::MAX as u8)
            .map(|k| vec![b'a' + k; 4])
            .collect();
        assert!(
            ContainsFilter::new(many.iter().map(|l| &l[..])).is_none(),
            "too many"
        );
        // The same prefix counts once.
        let same: Vec<Vec<u8>> = (0..20u8)
            .map(|k| [b"cbai".as_slice(), &[b'a' + k]].concat())
            .collect();
        assert_eq!(
            ContainsFilter::new(same.iter().map(|l| &l[..])).is_some(),
            ENABLED
        );
    }

    /// Against its definition, on random texts over an alphabet that
    /// makes near misses common, at every length around the windows.
    #[test]
    fn says_false_exactly_when_no_prefix_occurs() {
        if !ENABLED {
            return;
        }
        let literals: [&[u8]; 4] = [b"s3 browser", b"trufflehog", b"bav2ropc", b"cbainprod"];
        let filter = ContainsFilter::new(literals).unwrap();
        let alphabet = b"s3 btrufbav2cio";
        let mut seed = 0x2545_F491_4F6C_DD1Du64;
        for len in 0..70 {
            for _ in 0..60 {
                let text: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        alphabet[(seed % alphabet.len() as u64) as usize]
                    })
                    .collect();
                let want = text
                    .windows(4)
                    .any(|w| literals.iter().any(|l| l[..4] == *w));
                let padded = padded(&text);
                assert_eq!(
                    filter.any_in(&padded, len),
                    want,
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
                let by_nibbles = (0..len)
                    .step_by(16)
                    .any(|i| filter.any16_by_nibbles(padded[i..i + 19].try_into().unwrap()));
                assert_eq!(
                    by_nibbles,
                    want,
                    "nibbles: {:?}",
                    String::from_utf8_lossy(&text)
                );
            }
            // A prefix at the very end, at every offset, and one cut short
            // by the end (which must not count).
            for l in literals {
                let mut text = vec![b'.'; len];
                text.extend_from_slice(&l[..4]);
                assert!(filter.any_in(&padded(&text), text.len()), "len {len}");
                let cut = &text[..text.len() - 1];
                assert!(!filter.any_in(&padded(cut), cut.len()), "cut, len {len}");
            }
        }
    }
}
