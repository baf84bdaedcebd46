//! Where a JSON text's quotes and structural characters are, 64 bytes at a
//! time (and, within one short string, a word at a time:
//! [`quote_or_backslash`], [`has_dot`]).
//!
//! The prefilter reads every byte of every event, and most events are
//! dropped by it, so its tokeniser is the engine's hot loop. Scanning for
//! the end of each string a byte or a word at a time costs a loop turn per
//! word and a branch per string; classifying a whole 64-byte block with
//! vector compares and then walking the set bits of the result costs a few
//! instructions per block plus one turn per token. The same holds in the
//! WebAssembly build, where Cranelift turns 128-bit SIMD into SSE almost
//! one to one but compiles scalar loops less well than LLVM does natively
//! (and checks the epoch deadline at every loop turn), so a loop with fewer
//! turns narrows the gap between the component and native code.
//!
//! Only texts without backslashes are indexed here: an escaped quote would
//! need the odd-length-backslash-run arithmetic of simdjson, and events
//! with escapes are rare (5 of the 310 Stratus CloudTrail events). The
//! caller falls back to its byte-wise scanner when [`Masks::escape`] is
//! set, which also flags the lead bytes of the two characters whose lower
//! case is ASCII (the prefilter's scan gives up on those, after a closer
//! look that the byte-wise path makes).
//!
//! [`printable_ascii`] serves the extraction's fast path the same way: one
//! vector pass proves a text needs no UTF-8 decoding and holds no control
//! character, where the standard library's check runs a word (4 bytes in
//! WebAssembly) at a time.
//!
//! The vector code is for `x86_64` (SSE2, part of the base ISA) and
//! `wasm32` with `simd128` (the guest is built with it, see
//! `.cargo/config.toml`); [`ENABLED`] is false elsewhere and the caller
//! keeps its scalar scanner.

/// Whether this build classifies blocks with vector instructions.
pub(crate) const ENABLED: bool = cfg!(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
));

/// The classes of one 64-byte block, one bit per byte (bit `i` for byte `i`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Masks {
    /// `"`.
    pub quote: u64,
    /// `\`, and 0xC4 and 0xE2, the lead bytes of `İ` (U+0130) and the
    /// Kelvin sign (U+212A).
    pub escape: u64,
    /// `{`, `[`, `}` and `]`. (The prefilter tells a key by the `:` after
    /// it, which it reads directly, and needs no commas.)
    pub structural: u64,
}

/// Classifies the 64 bytes of `block`.
#[inline(always)]
pub(crate) fn classify(block: &[u8; 64]) -> Masks {
    let mut m = Masks::default();
    for (k, chunk) in block.as_chunks::<16>().0.iter().enumerate() {
        let (q, b, s) = classify16(chunk);
        m.quote |= (q as u64) << (16 * k);
        m.escape |= (b as u64) << (16 * k);
        m.structural |= (s as u64) << (16 * k);
    }
    m
}

/// What [`index`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Index<'a> {
    /// The position of every quote, and of every bracket outside a
    /// string, in order. An opening quote is always followed by its
    /// closing quote (brackets inside strings are left out), so a reader
    /// takes a string in one step.
    Tokens(&'a [u32]),
    /// The last string does not end.
    Unterminated,
    /// The text cannot be indexed: it has a byte of [`Masks::escape`], it
    /// is longer than [`MAX_INDEXED`], or this build has no vector code.
    Unindexed,
}

/// The longest text [`index`] takes (4 MiB, four times the default largest
/// event): its buffer holds 4 bytes per byte of text. Longer ones go to
/// the byte-wise scanner.
pub(crate) const MAX_INDEXED: usize = 4 << 20;

/// The structural index of `text`, built in `buf` (reused from text to
/// text; it only grows).
///
/// The WebAssembly build's prefilter reads events through this rather
/// than walking each block's bits as it classifies them: in one loop with
/// the per-string work, Cranelift kept the block state and its own values
/// (the linear memory's base, the epoch deadline) in stack slots and
/// reloaded them around every token. Out of line, this loop holds them in
/// registers, and the token loop that reads the index has fewer values
/// live. Natively the one-loop form is faster (LLVM allocates registers
/// well; the x86-64 baseline has no `popcnt`), see `Prefilter::scan_blocks`.
#[inline(never)]
pub(crate) fn index<'a>(text: &[u8], buf: &'a mut Vec<u32>) -> Index<'a> {
    if !ENABLED || text.len() > MAX_INDEXED {
        return Index::Unindexed;
    }
    // Room for a token per byte and a block's worth of stores past the
    // last: no growth (a call) inside the loop.
    if buf.len() < text.len() + 64 {
        buf.resize(text.len() + 64, 0);
    }
    let mut carry = 0;
    let mut n = 0;
    let (blocks, tail) = text.as_chunks::<64>();
    let mut base = 0;
    for block in blocks {
        let Some((quote, structural)) = tokens_of(block) else {
            return Index::Unindexed;
        };
        if !index_block(quote, structural, base, &mut carry, buf, &mut n) {
            return Index::Unindexed;
        }
        base += 64;
    }
    if !tail.is_empty() {
        // Spaces are in no class.
        let mut last = [b' '; 64];
        for (d, &c) in last.iter_mut().zip(tail) {
            *d = c;
        }
        let Some((quote, structural)) = tokens_of(&last) else {
            return Index::Unindexed;
        };
        if !index_block(quote, structural, base, &mut carry, buf, &mut n) {
            return Index::Unindexed;
        }
    }
    if carry != 0 {
        return Index::Unterminated;
    }
    let buf: &'a [u32] = buf;
    match buf.get(..n) {
        Some(tokens) => Index::Tokens(tokens),
        None => Index::Unindexed,
    }
}

/// Appends the tokens of one block at `buf[*n..]`. Eight positions are
/// written whether or not the block has eight tokens (most have fewer), and
/// eight more when it has more: fixed runs of stores rather than a loop turn
/// and a branch per token; `*n` advances by the true count and the rest is
/// overwritten later. False, with nothing written, when `buf` has fewer
/// than 64 slots from `*n` (never: [`index`] sizes it for a token per byte
/// and one block more).
#[inline(always)]
fn index_block(
    quote: u64,
    structural: u64,
    base: u32,
    carry: &mut u64,
    buf: &mut [u32],
    n: &mut usize,
) -> bool {
    let Some(dst) = buf.get_mut(*n..).and_then(<[u32]>::first_chunk_mut::<64>) else {
        return false;
    };
    let inside = inside_strings(quote, carry);
    let mut bits = quote | structural & !inside;
    let count = bits.count_ones() as usize;
    for slot in &mut dst[..8] {
        *slot = base + bits.trailing_zeros();
        bits &= bits.wrapping_sub(1);
    }
    // Four blocks in ten of CloudTrail text have more than eight tokens,
    // nearly none more than sixteen: eight more stores for those, and the
    // loop (a turn and an epoch check per token) only past sixteen.
    if count > 8 {
        for slot in &mut dst[8..16] {
            *slot = base + bits.trailing_zeros();
            bits &= bits.wrapping_sub(1);
        }
        let mut k = 16;
        while bits != 0 {
            // In bounds: `k & 63 <= 63`, and `dst` is a `[u32; 64]`.
            #[allow(clippy::indexing_slicing)]
            let slot = &mut dst[k & 63];
            *slot = base + bits.trailing_zeros();
            bits &= bits - 1;
            k += 1;
        }
    }
    *n += count;
    true
}

/// The quote and bracket masks of `block` ([`Masks::quote`],
/// [`Masks::structural`]); `None` when it has a byte of [`Masks::escape`].
///
/// The WebAssembly build, the one that indexes, needs no escape positions:
/// it ors the four chunks' escape bytes as vectors and tests once, rather
/// than gathering a 64-bit mask it only compares with zero (three bitmask
/// extractions, shifts and ors per block). Elsewhere, [`classify`].
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn tokens_of(block: &[u8; 64]) -> Option<(u64, u64)> {
    use core::arch::wasm32::*;
    let (mut quote, mut structural) = (0u64, 0u64);
    let mut escape = u8x16_splat(0);
    for (k, chunk) in block.as_chunks::<16>().0.iter().enumerate() {
        let (q, e, s) = classes16(chunk);
        quote |= u64::from(u8x16_bitmask(q)) << (16 * k);
        structural |= u64::from(u8x16_bitmask(s)) << (16 * k);
        escape = v128_or(escape, e);
    }
    (!v128_any_true(escape)).then_some((quote, structural))
}

#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
fn tokens_of(block: &[u8; 64]) -> Option<(u64, u64)> {
    let m = classify(block);
    (m.escape == 0).then_some((m.quote, m.structural))
}

/// Bit `i` set when byte `i` of the block is a string's opening quote or
/// inside the string (its closing quote is not), given that no quote is
/// escaped; `carry` is all ones when the previous block ended inside a
/// string, and is updated for the next block.
#[inline(always)]
pub(crate) fn inside_strings(quote: u64, carry: &mut u64) -> u64 {
    let mut x = quote;
    x ^= x << 1;
    x ^= x << 2;
    x ^= x << 4;
    x ^= x << 8;
    x ^= x << 16;
    x ^= x << 32;
    let inside = x ^ *carry;
    *carry = ((inside as i64) >> 63) as u64;
    inside
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn classify16(chunk: &[u8; 16]) -> (u16, u16, u16) {
    use core::arch::x86_64::*;
    // SAFETY: `chunk` is 16 readable bytes and `loadu` has no alignment
    // requirement; SSE2 is part of the x86_64 base ISA.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        // `{` 0x7B and `[` 0x5B differ only in bit 0x20, as do `}` and `]`.
        let folded = _mm_or_si128(v, _mm_set1_epi8(0x20));
        let open = _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'{' as i8));
        let close = _mm_cmpeq_epi8(folded, _mm_set1_epi8(b'}' as i8));
        let structural = _mm_or_si128(open, close);
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let escape = _mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8)),
            _mm_or_si128(
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0xC4u8 as i8)),
                _mm_cmpeq_epi8(v, _mm_set1_epi8(0xE2u8 as i8)),
            ),
        );
        (
            _mm_movemask_epi8(quote) as u16,
            _mm_movemask_epi8(escape) as u16,
            _mm_movemask_epi8(structural) as u16,
        )
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn classify16(chunk: &[u8; 16]) -> (u16, u16, u16) {
    use core::arch::wasm32::*;
    let (quote, escape, structural) = classes16(chunk);
    (
        u8x16_bitmask(quote),
        u8x16_bitmask(escape),
        u8x16_bitmask(structural),
    )
}

/// The classes of [`Masks`] for 16 bytes, as vectors of all-ones bytes:
/// quote, escape, structural.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
#[allow(unsafe_code)]
fn classes16(
    chunk: &[u8; 16],
) -> (
    core::arch::wasm32::v128,
    core::arch::wasm32::v128,
    core::arch::wasm32::v128,
) {
    use core::arch::wasm32::*;
    // SAFETY: `chunk` is 16 readable bytes; `v128_load` has no alignment
    // requirement.
    let v = unsafe { v128_load(chunk.as_ptr().cast::<v128>()) };
    let eq = |b: u8| u8x16_eq(v, u8x16_splat(b));
    // `{` 0x7B and `[` 0x5B differ only in bit 0x20, as do `}` and `]`.
    let folded = v128_or(v, u8x16_splat(0x20));
    let open = u8x16_eq(folded, u8x16_splat(b'{'));
    let close = u8x16_eq(folded, u8x16_splat(b'}'));
    (
        eq(b'"'),
        v128_or(eq(b'\\'), v128_or(eq(0xC4), eq(0xE2))),
        v128_or(open, close),
    )
}

/// The first `\n` in `b`: where an NDJSON line ends.
///
/// memchr everywhere but in the WebAssembly build, where memchr's `simd128`
/// loop takes 64 bytes per turn and reloads its splatted needle from the
/// stack on each; this one takes 128 bytes per turn (and per epoch check)
/// and lets memchr find the byte only in the 128 that hold it.
#[inline]
pub(crate) fn newline(b: &[u8]) -> Option<usize> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        // 128-byte chunks as eight 16-byte vectors each.
        let (vectors, rest) = b.as_chunks::<16>();
        let (chunks, rest_vectors) = vectors.as_chunks::<8>();
        for (k, chunk) in chunks.iter().enumerate() {
            if has_newline128(chunk) {
                return memchr::memchr(b'\n', chunk.as_flattened()).map(|i| k * 128 + i);
            }
        }
        let tail = chunks.len() * 128;
        let rest_at = tail + rest_vectors.len() * 16;
        memchr::memchr(b'\n', rest_vectors.as_flattened())
            .map(|i| tail + i)
            .or_else(|| memchr::memchr(b'\n', rest).map(|i| rest_at + i))
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    memchr::memchr(b'\n', b)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
#[allow(unsafe_code)]
fn has_newline128(v: &[[u8; 16]; 8]) -> bool {
    use core::arch::wasm32::*;
    let nl = u8x16_splat(b'\n');
    // SAFETY: `c` is 16 readable bytes; `v128_load` has no alignment
    // requirement.
    let eq = |c: &[u8; 16]| u8x16_eq(unsafe { v128_load(c.as_ptr().cast::<v128>()) }, nl);
    let any = v128_or(
        v128_or(v128_or(eq(&v[0]), eq(&v[1])), v128_or(eq(&v[2]), eq(&v[3]))),
        v128_or(v128_or(eq(&v[4]), eq(&v[5])), v128_or(eq(&v[6]), eq(&v[7]))),
    );
    v128_any_true(any)
}

/// Whether every byte of `b` is printable ASCII or a space (0x20..=0x7F).
#[inline]
pub(crate) fn printable_ascii(b: &[u8]) -> bool {
    let (chunks, rest) = b.as_chunks::<16>();
    // Or-ing the chunks' flags and testing once keeps the loop branch-free.
    let mut bad = false;
    for chunk in chunks {
        bad |= !printable16(chunk);
    }
    !bad && rest.iter().all(|&c| (0x20..0x80).contains(&c))
}

/// `b` as text, when every byte is printable ASCII (see [`printable_ascii`]).
#[inline]
#[allow(unsafe_code)]
pub(crate) fn printable_ascii_str(b: &[u8]) -> Option<&str> {
    // SAFETY: ASCII is valid UTF-8.
    printable_ascii(b).then(|| unsafe { std::str::from_utf8_unchecked(b) })
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
#[allow(unsafe_code)]
fn printable16(chunk: &[u8; 16]) -> bool {
    use core::arch::x86_64::*;
    // SAFETY: as in `classify16`.
    unsafe {
        let v = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
        // As signed bytes, 0x80 and above are negative: one comparison
        // catches both them and the control characters.
        _mm_movemask_epi8(_mm_cmplt_epi8(v, _mm_set1_epi8(0x20))) == 0
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
#[allow(unsafe_code)]
fn printable16(chunk: &[u8; 16]) -> bool {
    use core::arch::wasm32::*;
    // SAFETY: as in `classify16`.
    let v = unsafe { v128_load(chunk.as_ptr().cast::<v128>()) };
    !v128_any_true(i8x16_lt(v, i8x16_splat(0x20)))
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
#[inline(always)]
fn printable16(chunk: &[u8; 16]) -> bool {
    chunk.iter().all(|&c| (0x20..0x80).contains(&c))
}

/// The first `"` or `\` in `b`. JSON strings are short (keys, ids, names),
/// where a word-at-a-time scan beats the set-up of a vector search; long
/// strings go to memchr. Always inlined: the WebAssembly build otherwise
/// keeps it a call (with an epoch check) per string.
#[inline(always)]
pub(crate) fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    for _ in 0..4 {
        let Some(chunk) = b.get(i..).and_then(<[u8]>::first_chunk::<8>) else {
            break;
        };
        let w = u64::from_le_bytes(*chunk);
        let q = w ^ (LO * b'"' as u64);
        let s = w ^ (LO * b'\\' as u64);
        let found = (q.wrapping_sub(LO) & !q | s.wrapping_sub(LO) & !s) & HI;
        if found != 0 {
            return Some(i + (found.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr2(b'"', b'\\', b.get(i..)?).map(|k| i + k)
}

/// Whether `b` holds a `.`, a word at a time. Keys are short and rarely
/// dotted, and this runs on every key that no rule names: up to 16 bytes
/// take two overlapping loads and no loop (a loop turn is also an epoch
/// check in the WebAssembly build).
#[inline]
pub(crate) fn has_dot(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Zero bytes, which the short loads below pad with, are not dots.
    let dot = |w: u64| {
        let x = w ^ (LO * b'.' as u64);
        x.wrapping_sub(LO) & !x & HI != 0
    };
    let word = |w: &[u8; 8]| u64::from_le_bytes(*w);
    let half = |h: &[u8; 4]| u64::from(u32::from_le_bytes(*h));
    if b.len() > 16 {
        // Whole words, then the last 8 bytes (overlapping the previous word).
        let (words, rest) = b.as_chunks::<8>();
        return words.iter().any(|w| dot(word(w)))
            || !rest.is_empty() && b.last_chunk::<8>().is_some_and(|w| dot(word(w)));
    }
    if let (Some(first), Some(last)) = (b.first_chunk::<8>(), b.last_chunk::<8>()) {
        return dot(word(first)) || dot(word(last));
    }
    if let (Some(first), Some(last)) = (b.first_chunk::<4>(), b.last_chunk::<4>()) {
        return dot(half(first) | half(last) << 32);
    }
    b.first() == Some(&b'.') || b.get(1) == Some(&b'.') || b.get(2) == Some(&b'.')
}

/// The portable definition, which the vector versions must equal.
#[cfg_attr(
    any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ),
    allow(dead_code)
)]
fn classify16_scalar(chunk: &[u8; 16]) -> (u16, u16, u16) {
    let (mut q, mut b, mut s) = (0u16, 0u16, 0u16);
    for (i, &c) in chunk.iter().enumerate() {
        q |= u16::from(c == b'"') << i;
        b |= u16::from(matches!(c, b'\\' | 0xC4 | 0xE2)) << i;
        s |= u16::from(matches!(c, b'{' | b'[' | b'}' | b']')) << i;
    }
    (q, b, s)
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
#[inline(always)]
fn classify16(chunk: &[u8; 16]) -> (u16, u16, u16) {
    classify16_scalar(chunk)
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

    #[test]
    fn quote_or_backslash_finds_the_first() {
        for len in 0..80 {
            for at in 0..len {
                for c in *b"\"\\" {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    if at + 1 < len {
                        b[at + 1] = b'"';
                    }
                    assert_eq!(quote_or_backslash(&b), Some(at), "len {len} at {at}");
                }
            }
            assert_eq!(quote_or_backslash(&vec![0xFFu8; len]), None);
        }
    }

    #[test]
    fn has_dot_finds_any_dot() {
        // Neighbours of `.` and the zero byte the short loads pad with.
        for fill in [b'a', 0, 0xFF, b'-', b'/', b'.' ^ 0x80] {
            for len in 0..40 {
                assert!(!has_dot(&vec![fill; len]), "fill {fill:#x} len {len}");
                for at in 0..len {
                    let mut b = vec![fill; len];
                    b[at] = b'.';
                    assert!(has_dot(&b), "fill {fill:#x} len {len} at {at}");
                }
            }
        }
    }

    #[test]
    fn every_byte_is_classified_as_the_scalar_definition_says() {
        for c in 0..=255u8 {
            for at in [0, 7, 15] {
                let mut chunk = [b'a'; 16];
                chunk[at] = c;
                assert_eq!(
                    classify16(&chunk),
                    classify16_scalar(&chunk),
                    "byte {c:#04x} at {at}"
                );
            }
        }
    }

    #[test]
    fn printable_ascii_is_0x20_to_0x7f() {
        for c in 0..=255u8 {
            for len in [1, 15, 16, 17, 40] {
                for at in [0, len / 2, len - 1] {
                    let mut b = vec![b'a'; len];
                    b[at] = c;
                    let want = (0x20..0x80).contains(&c);
                    assert_eq!(printable_ascii(&b), want, "byte {c:#04x} at {at} of {len}");
                }
            }
        }
        assert!(printable_ascii(b""));
        assert_eq!(printable_ascii_str(b"{\"a\": 1}"), Some("{\"a\": 1}"));
        assert_eq!(printable_ascii_str("é".as_bytes()), None);
    }

    #[test]
    fn blocks_put_bit_i_on_byte_i() {
        let mut block = [b' '; 64];
        for (i, c) in [(0, b'"'), (17, b'\\'), (33, b'['), (48, b']'), (63, b'}')] {
            block[i] = c;
        }
        let m = classify(&block);
        assert_eq!(m.quote, 1);
        assert_eq!(m.escape, 1 << 17);
        assert_eq!(m.structural, 1 << 33 | 1 << 48 | 1 << 63);
    }

    #[test]
    fn strings_span_blocks() {
        let mut carry = 0;
        // Quotes at 2 and 5, then one at 60 that stays open.
        let inside = inside_strings(1 << 2 | 1 << 5 | 1 << 60, &mut carry);
        assert_eq!(inside, 0b111 << 2 | u64::MAX << 60);
        assert_eq!(carry, u64::MAX);
        // Closed at 3 of the next block.
        let inside = inside_strings(1 << 3, &mut carry);
        assert_eq!(inside, 0b111);
        assert_eq!(carry, 0);
    }

    /// The index by its definition: every quote, and every bracket outside
    /// a string.
    fn naive_index(text: &[u8]) -> Option<Vec<u32>> {
        let mut inside = false;
        let mut out = Vec::new();
        for (i, &b) in text.iter().enumerate() {
            match b {
                b'\\' | 0xC4 | 0xE2 => return None,
                b'"' => {
                    inside = !inside;
                    out.push(i as u32);
                }
                b'{' | b'[' | b'}' | b']' if !inside => out.push(i as u32),
                _ => {}
            }
        }
        // A string that does not end: a marker no position can equal.
        Some(if inside { vec![u32::MAX] } else { out })
    }

    #[test]
    fn index_holds_every_quote_and_every_bracket_outside_strings() {
        if !ENABLED {
            return;
        }
        // Token counts per block from none to all 64, strings across block
        // ends, brackets inside strings, lengths around the 64-byte tail.
        let pieces: [&[u8]; 8] = [
            b"\"",
            b"{",
            b"]",
            b"a",
            b"\"[}\"",
            b"xyz",
            b"[[[[[[[[[[",
            b"\"\"",
        ];
        let mut buf = Vec::new();
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        for len in 0..300 {
            let mut text = Vec::new();
            while text.len() < len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.extend_from_slice(pieces[(seed % 8) as usize]);
            }
            let got = match index(&text, &mut buf) {
                Index::Tokens(t) => Some(t.to_vec()),
                Index::Unterminated => Some(vec![u32::MAX]),
                Index::Unindexed => None,
            };
            let want = naive_index(&text);
            assert_eq!(got, want, "{:?}", String::from_utf8_lossy(&text));
        }
        let all_quotes = vec![b'"'; 64 * 3];
        assert_eq!(
            index(&all_quotes, &mut buf),
            Index::Tokens(&(0..192).collect::<Vec<u32>>())
        );
        assert_eq!(index(b"{\"a\\\"\"}", &mut buf), Index::Unindexed);
        assert_eq!(index(b"{\"a}", &mut buf), Index::Unterminated);
        assert_eq!(
            index(&vec![b' '; MAX_INDEXED + 1], &mut buf),
            Index::Unindexed
        );
    }
}
