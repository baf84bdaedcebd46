//! An exact-match table for short byte strings, for the per-key lookups
//! of the prefilter and of the extraction's trie.
//!
//! The prefilter looks up every key of every event (most are in no rule)
//! and every value under a key some rule tests for equality; the trie
//! looks up every key of a candidate event. A general hash map hashes the
//! whole string, probes, then compares bytes (a call to a byte-by-byte
//! `memcmp` in WebAssembly). Here a string of `n` bytes is summarised by
//! two words that, with `n`, identify it exactly when `n <= 16` (its first
//! and last 8 bytes, or 4 and 4 when shorter, which may overlap); one
//! multiply picks a slot of a table kept at most a quarter full, so a
//! string that is not there usually meets an empty slot at once. Longer
//! strings are confirmed with a full comparison.
//!
//! A table built with `fold` compares ASCII case-insensitively (its
//! entries are stored lower-cased, and lookups lower-case the two words
//! instead of copying the string).

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// What a table maps its strings to: a dense index given at insertion.
pub(crate) type Id = u32;

const EMPTY: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Slot {
    first: u64,
    last: u64,
    len: u32,
    id: Id,
}

const VACANT: Slot = Slot {
    first: 0,
    last: 0,
    len: EMPTY,
    id: EMPTY,
};

/// A set of byte strings, each with an [`Id`].
#[derive(Clone, Debug)]
pub(crate) struct WordTable {
    slots: Box<[Slot]>,
    shift: u32,
    fold: bool,
    /// Every string, as stored (lower-cased when folding), by id: the full
    /// comparison of strings over 16 bytes.
    strings: Vec<Box<[u8]>>,
}

impl WordTable {
    /// An empty table; `fold` makes it ASCII case-insensitive.
    pub fn new(fold: bool) -> WordTable {
        WordTable {
            slots: vec![VACANT; 4].into(),
            shift: 62,
            fold,
            strings: Vec::new(),
        }
    }

    /// The id of `s`, inserting it with the next id if it is new.
    pub fn insert(&mut self, s: &[u8]) -> Id {
        if let Some(id) = self.get(s) {
            return id;
        }
        let s: Box<[u8]> = if self.fold {
            s.to_ascii_lowercase().into()
        } else {
            s.into()
        };
        self.strings.push(s);
        if self.strings.len() * 4 > self.slots.len() {
            let size = (self.strings.len() * 4).next_power_of_two();
            self.slots = vec![VACANT; size].into();
            self.shift = 64 - size.trailing_zeros();
            for id in 0..self.strings.len() {
                self.place(id as Id);
            }
        } else {
            self.place((self.strings.len() - 1) as Id);
        }
        (self.strings.len() - 1) as Id
    }

    fn place(&mut self, id: Id) {
        let Some(s) = self.strings.get(id as usize) else {
            return;
        };
        let (first, last) = words(s, false);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.slot(first, last, s.len());
        // The table is at most a quarter full: a vacant slot comes.
        while let Some(slot) = self.slots.get_mut(i) {
            if slot.id == EMPTY {
                *slot = Slot {
                    first,
                    last,
                    len: s.len() as u32,
                    id,
                };
                return;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline(always)]
    fn slot(&self, first: u64, last: u64, len: usize) -> usize {
        let h = (first ^ last.rotate_left(31) ^ len as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> self.shift) as usize
    }

    /// The id of `s`, if the table holds it.
    #[inline(always)]
    pub fn get(&self, s: &[u8]) -> Option<Id> {
        let (first, last) = words(s, self.fold);
        let mask = self.slots.len().wrapping_sub(1);
        let mut i = self.slot(first, last, s.len());
        loop {
            let slot = self.slots.get(i)?;
            if slot.id == EMPTY {
                return None;
            }
            if slot.first == first && slot.last == last && slot.len as usize == s.len() {
                let found = s.len() <= 16
                    || self.strings.get(slot.id as usize).is_some_and(|stored| {
                        if self.fold {
                            s.eq_ignore_ascii_case(stored)
                        } else {
                            same(s, stored)
                        }
                    });
                if found {
                    return Some(slot.id);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

/// A [`WordTable`] of keys with a filter in front: for each first byte, bit
/// `n` is set when some key starts with it and has `n` bytes (63: 63 or
/// more). Most keys of an event are in no rule, and this rules them out
/// before any lookup. (The empty key, which a path ending in `.` names,
/// has no first byte: it is always looked up.)
#[derive(Clone, Debug)]
pub(crate) struct KeyTable {
    table: WordTable,
    shapes: Box<[u64; 256]>,
}

impl KeyTable {
    /// An empty, case-sensitive table.
    pub fn new() -> KeyTable {
        KeyTable {
            table: WordTable::new(false),
            shapes: Box::new([0; 256]),
        }
    }

    /// The id of `key`, inserting it with the next id if it is new.
    pub fn insert(&mut self, key: &[u8]) -> Id {
        if let Some(&b) = key.first() {
            // In bounds: a `u8` indexes a table of 256.
            #[allow(clippy::indexing_slicing)]
            let shape = &mut self.shapes[usize::from(b)];
            *shape |= len_bit(key.len());
        }
        self.table.insert(key)
    }

    /// Whether `key` may be in the table (false: certainly not).
    // In bounds: a `u8` indexes a table of 256.
    #[allow(clippy::indexing_slicing)]
    #[inline(always)]
    pub fn may_hold(&self, key: &[u8]) -> bool {
        key.first()
            .is_none_or(|&b| self.shapes[usize::from(b)] & len_bit(key.len()) != 0)
    }

    /// The id of `key`, if the table holds it.
    #[inline(always)]
    pub fn get(&self, key: &[u8]) -> Option<Id> {
        if self.may_hold(key) {
            self.table.get(key)
        } else {
            None
        }
    }
}

/// Bit `n` of a length set (63: 63 or more).
#[inline(always)]
pub(crate) fn len_bit(n: usize) -> u64 {
    1 << n.min(63)
}

/// `a == b`, a word at a time. In WebAssembly a slice comparison is a
/// call to a byte-by-byte `memcmp`, which key lookups would pay for every
/// key.
#[inline(always)]
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    if a.len() <= 16 {
        return words(a, false) == words(b, false);
    }
    let (wa, _) = a.as_chunks::<8>();
    let (wb, _) = b.as_chunks::<8>();
    wa.iter().zip(wb).all(|(x, y)| x == y) && a.last_chunk::<8>() == b.last_chunk::<8>()
}

/// The two words that, with its length, identify a string of up to 16
/// bytes: its first and last 8 bytes (4 when shorter than 8; the bytes
/// themselves when shorter than 4). Lower-cased when `fold`.
#[inline(always)]
fn words(s: &[u8], fold: bool) -> (u64, u64) {
    let (first, last) = if let (Some(f), Some(l)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) {
        (u64::from_le_bytes(*f), u64::from_le_bytes(*l))
    } else if let (Some(f), Some(l)) = (s.first_chunk::<4>(), s.last_chunk::<4>()) {
        (
            u64::from(u32::from_le_bytes(*f)),
            u64::from(u32::from_le_bytes(*l)),
        )
    } else {
        let mut w = 0;
        for (i, &b) in s.iter().enumerate() {
            w |= (b as u64) << (8 * i);
        }
        (w, 0)
    };
    if fold {
        (lower(first), lower(last))
    } else {
        (first, last)
    }
}

/// `w`'s bytes in ASCII lower case (bytes over 0x7F are left alone, as
/// `u8::to_ascii_lowercase` does).
#[inline(always)]
fn lower(w: u64) -> u64 {
    let seven = w & !HI;
    // Per byte, bit 7 of `seven + c` is set when `seven >= 0x80 - c`; no
    // carry crosses bytes since `seven` and `c` are both below 0x80.
    let at_least_a = seven.wrapping_add(LO * (0x80 - b'A') as u64);
    let past_z = seven.wrapping_add(LO * (0x80 - b'Z' - 1) as u64);
    let upper = at_least_a & !past_z & !w & HI;
    w | upper >> 2
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
    fn lower_matches_the_standard_library_on_every_byte() {
        for b in 0..=255u8 {
            let w = u64::from_le_bytes([b, b'A', b'z', b, 0x80 | b, b'@', b'[', b]);
            let want = u64::from_le_bytes(w.to_le_bytes().map(|c| c.to_ascii_lowercase()));
            assert_eq!(lower(w), want, "byte {b:#04x}");
        }
    }

    #[test]
    fn finds_exactly_what_was_inserted() {
        let keys: Vec<Vec<u8>> = (0..40)
            .flat_map(|n| {
                [
                    vec![b'k'; n],
                    (0..n).map(|i| b'a' + (i % 26) as u8).collect(),
                ]
            })
            .chain([
                b"eventName".to_vec(),
                b"eventTime".to_vec(),
                b"a.b".to_vec(),
            ])
            .collect();
        let mut t = WordTable::new(false);
        let ids: Vec<Id> = keys.iter().map(|k| t.insert(k)).collect();
        for (k, id) in keys.iter().zip(&ids) {
            assert_eq!(t.get(k), Some(*id), "{:?}", String::from_utf8_lossy(k));
        }
        // Same first and last words and length, different middle.
        let mut long = vec![b'k'; 30];
        long[15] = b'x';
        for miss in [&b"eventname"[..], b"eventTim", b"", b"kk\0", &long, b"a.c"] {
            let expect = keys.iter().position(|k| k == miss).map(|i| ids[i]);
            assert_eq!(t.get(miss), expect, "{:?}", String::from_utf8_lossy(miss));
        }
    }

    #[test]
    fn same_is_slice_equality() {
        for n in 0..40 {
            let a: Vec<u8> = (0..n).map(|i| b'a' + (i % 26) as u8).collect();
            assert!(same(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same(&a, &b), "{n} {at}");
            }
            assert!(!same(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
    }

    #[test]
    fn folding_tables_ignore_ascii_case_only() {
        let mut t = WordTable::new(true);
        let id = t.insert(b"CreateSnapshot");
        let long = t.insert(b"ModifyInstanceAttributeOfSomething");
        assert_eq!(t.get(b"createsnapshot"), Some(id));
        assert_eq!(t.get(b"CREATESNAPSHOT"), Some(id));
        assert_eq!(t.get(b"modifyinstanceattributeofsomething"), Some(long));
        assert_eq!(t.get(b"CreateSnapshoT\xc3"), None);
        assert_eq!(t.get(b"Create_napshot"), None);
        assert_eq!(t.strings.len(), 2);
    }
}
