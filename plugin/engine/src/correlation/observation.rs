//! What one parsed event brings to correlation, detached from the state it
//! feeds, and its binary form.
//!
//! Evaluating an event is pure; correlating it is not (windows, the
//! watermark). An [`Observation`] is the line between the two: engines
//! evaluate blocks in parallel and hand their observations, in stream
//! order, to the one engine that correlates
//! ([`Engine::evaluate_batch_detached`](crate::Engine::evaluate_batch_detached),
//! [`Engine::correlate`](crate::Engine::correlate)). Its bytes may cross a
//! process or sandbox boundary, so [`Observation::decode`] reads them as
//! hostile.
//!
//! # Format, version 1
//!
//! All integers little-endian; `varint` is unsigned LEB128 of at most 10
//! bytes; `str` is a `varint` length of at most 128 (the bound on every
//! string correlation keeps) and that many bytes of UTF-8.
//!
//! ```text
//! u8      version (1)
//! u8      flags: 1 time, 2 feeds a correlation, 4 id
//! i64     time in ms since the epoch            (if flag 1)
//! str     event id                              (if flag 4)
//! varint  events without a group-by field, varint groups cut, varint hits
//! per hit:
//!   varint key length (at most 1044), key: u32 BE correlation, then per
//!          group value u16 BE length and UTF-8 (at most 8 values of 128)
//!   u16    position among the correlation's rules
//!   u8     sample: 0 none, 1 text (then str), 2 number (then f64 bits)
//!   varint aggregate columns, each u8 0 (absent) or 1 (then str)
//! ```
//!
//! Without flag 2 the counts and the hit count are 0. Every count is also
//! bounded by the bytes left, so a decode allocates at most a small
//! multiple of its input.

// The bytes decoded here come from anywhere: no index, no unwrap, no panic.
#![deny(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

use crate::error::ObservationError;
use crate::rules::correlation::MAX_GROUP_FIELDS;

use super::Hit;
use super::key::MAX_VALUE_BYTES;
use super::state::Sample;

/// The format version written by [`Observation::encode`].
const VERSION: u8 = 1;
const TIME: u8 = 1;
const FEEDS: u8 = 2;
const ID: u8 = 4;
/// Longest group key: the correlation index and every group value with
/// its length.
const MAX_KEY_BYTES: usize = 4 + MAX_GROUP_FIELDS * (2 + MAX_VALUE_BYTES);

/// What one parsed event brings to correlation, read from the event alone:
/// its time, its id, and for each finding that feeds a correlation the
/// matches it makes (group keys, the values counted or summed, aggregate
/// columns).
///
/// Made by [`Engine::evaluate_batch_detached`](crate::Engine::evaluate_batch_detached)
/// for every event the engine parses (its time moves the watermark even
/// when it matched nothing), and consumed, in stream order, by
/// [`Engine::correlate`](crate::Engine::correlate) of an engine loaded
/// with the same rules. An observation of an event that feeds no
/// correlation owns no heap memory. Opaque; its bytes are
/// [`Observation::encode`]'s.
#[derive(Clone, Debug, Default)]
pub struct Observation {
    /// The event's own time; `None` for an untimed event.
    pub(super) time: Option<i64>,
    /// Whether a finding feeds a correlation (an untimed one is counted).
    pub(super) feeds: bool,
    /// The event id every hit carries.
    pub(super) id: Option<Box<str>>,
    /// The matches, their time 0 until applied.
    pub(super) hits: Vec<Hit>,
    /// Feeding findings that joined no group (a group-by field missing).
    pub(super) ungrouped: u64,
    /// Group or value combinations cut beyond the fan-out limit.
    pub(super) cut: u64,
}

impl Observation {
    /// Appends the observation's bytes to `out` (format in the module docs).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        let flags = u8::from(self.time.is_some()) * TIME
            + u8::from(self.feeds) * FEEDS
            + u8::from(self.id.is_some()) * ID;
        out.push(flags);
        if let Some(t) = self.time {
            out.extend_from_slice(&t.to_le_bytes());
        }
        if let Some(id) = &self.id {
            put_str(id, out);
        }
        if !self.feeds {
            return;
        }
        put_varint(self.ungrouped, out);
        put_varint(self.cut, out);
        put_varint(self.hits.len() as u64, out);
        for hit in &self.hits {
            put_varint(hit.key.len() as u64, out);
            out.extend_from_slice(&hit.key);
            out.extend_from_slice(&hit.pos.to_le_bytes());
            match &hit.sample {
                Sample::None => out.push(0),
                Sample::Text(t) => {
                    out.push(1);
                    put_str(t, out);
                }
                Sample::Num(n) => {
                    out.push(2);
                    out.extend_from_slice(&n.to_bits().to_le_bytes());
                }
            }
            put_varint(hit.cols.len() as u64, out);
            for col in &hit.cols {
                match col {
                    None => out.push(0),
                    Some(c) => {
                        out.push(1);
                        put_str(c, out);
                    }
                }
            }
        }
    }

    /// Reads one observation from the front of `bytes`; returns it and how
    /// many bytes it took, so observations can be concatenated.
    ///
    /// # Errors
    ///
    /// [`ObservationError::Version`] for a version this build does not
    /// read, [`ObservationError::Truncated`] when `bytes` end inside the
    /// observation, [`ObservationError::Malformed`] for anything else out
    /// of the format (a string over its bound, invalid UTF-8, a bad key).
    /// Never panics, and allocates at most a small multiple of
    /// `bytes.len()`, whatever the bytes.
    pub fn decode(bytes: &[u8]) -> Result<(Observation, usize), ObservationError> {
        let mut r = Reader { bytes, at: 0 };
        let version = r.byte()?;
        if version != VERSION {
            return Err(ObservationError::Version(version));
        }
        let flags = r.byte()?;
        if flags & !(TIME | FEEDS | ID) != 0 {
            return Err(r.malformed("unknown flags"));
        }
        let mut obs = Observation::default();
        if flags & TIME != 0 {
            obs.time = Some(i64::from_le_bytes(r.array()?));
        }
        if flags & ID != 0 {
            obs.id = Some(r.str()?);
        }
        if flags & FEEDS == 0 {
            return Ok((obs, r.at));
        }
        obs.feeds = true;
        obs.ungrouped = r.varint()?;
        obs.cut = r.varint()?;
        // A hit takes at least 8 bytes (a 4-byte key and its length, a
        // position, a sample tag, a column count).
        let n = r.count(8)?;
        obs.hits = Vec::with_capacity(n);
        for _ in 0..n {
            let key_len = r.varint()?;
            if key_len > MAX_KEY_BYTES as u64 {
                return Err(r.malformed("group key over its bound"));
            }
            let start = r.at;
            let key = r.take(key_len as usize)?;
            if !key_is_valid(key) {
                return Err(ObservationError::Malformed {
                    at: start,
                    what: "not a group key",
                });
            }
            let pos = u16::from_le_bytes(r.array()?);
            let sample = match r.byte()? {
                0 => Sample::None,
                1 => Sample::Text(r.str()?),
                2 => Sample::Num(f64::from_bits(u64::from_le_bytes(r.array()?))),
                _ => return Err(r.malformed("unknown sample kind")),
            };
            let ncols = r.count(1)?;
            let mut cols = Vec::with_capacity(ncols);
            for _ in 0..ncols {
                cols.push(match r.byte()? {
                    0 => None,
                    1 => Some(r.str()?),
                    _ => return Err(r.malformed("unknown column tag")),
                });
            }
            obs.hits.push(Hit {
                ts: 0,
                id: obs.id.clone(),
                key: key.into(),
                pos,
                sample,
                cols: cols.into(),
            });
        }
        Ok((obs, r.at))
    }
}

/// Whether `key` is a group key as `key::encode` writes it: 4 bytes of
/// correlation, then at most [`MAX_GROUP_FIELDS`] values of at most
/// [`MAX_VALUE_BYTES`] bytes of UTF-8, each after its length.
fn key_is_valid(key: &[u8]) -> bool {
    let Some(mut rest) = key.get(4..) else {
        return false;
    };
    let mut fields = 0;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = u16::from_be_bytes(*len) as usize;
        let Some((value, tail)) = tail.split_at_checked(len) else {
            return false;
        };
        if len > MAX_VALUE_BYTES || std::str::from_utf8(value).is_err() {
            return false;
        }
        fields += 1;
        rest = tail;
    }
    rest.is_empty() && fields <= MAX_GROUP_FIELDS
}

fn put_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn put_str(s: &str, out: &mut Vec<u8>) {
    put_varint(s.len() as u64, out);
    out.extend_from_slice(s.as_bytes());
}

/// A cursor over hostile bytes.
struct Reader<'b> {
    bytes: &'b [u8],
    at: usize,
}

impl<'b> Reader<'b> {
    fn malformed(&self, what: &'static str) -> ObservationError {
        ObservationError::Malformed { at: self.at, what }
    }

    fn take(&mut self, n: usize) -> Result<&'b [u8], ObservationError> {
        let rest = self.bytes.get(self.at..).unwrap_or_default();
        let Some((taken, _)) = rest.split_at_checked(n) else {
            return Err(ObservationError::Truncated);
        };
        self.at += n;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ObservationError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn byte(&mut self) -> Result<u8, ObservationError> {
        let [b] = self.array()?;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, ObservationError> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                return Err(self.malformed("varint over 64 bits"));
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(self.malformed("varint over 10 bytes"))
    }

    /// A count of items taking at least `min` bytes each: refused when the
    /// bytes left cannot hold them, so no allocation outgrows the input.
    fn count(&mut self, min: usize) -> Result<usize, ObservationError> {
        let n = self.varint()?;
        let left = self.bytes.len().saturating_sub(self.at);
        if n > (left / min.max(1)) as u64 {
            return Err(ObservationError::Truncated);
        }
        Ok(n as usize)
    }

    fn str(&mut self) -> Result<Box<str>, ObservationError> {
        let n = self.varint()?;
        if n > MAX_VALUE_BYTES as u64 {
            return Err(self.malformed("string over 128 bytes"));
        }
        let start = self.at;
        let bytes = self.take(n as usize)?;
        std::str::from_utf8(bytes)
            .map(Box::from)
            .map_err(|_| ObservationError::Malformed {
                at: start,
                what: "string not UTF-8",
            })
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_refuse_overlong() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut b = Vec::new();
            put_varint(n, &mut b);
            let mut r = Reader { bytes: &b, at: 0 };
            assert_eq!(r.varint().unwrap(), n);
            assert_eq!(r.at, b.len());
        }
        let over = [0xff; 11];
        assert!(
            Reader {
                bytes: &over,
                at: 0
            }
            .varint()
            .is_err()
        );
        let big = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02];
        assert!(Reader { bytes: &big, at: 0 }.varint().is_err());
    }

    #[test]
    fn keys_are_checked() {
        let mut k = Vec::new();
        super::super::key::encode(2, &["a", "é"], &mut k);
        assert!(key_is_valid(&k));
        assert!(!key_is_valid(&k[..k.len() - 1]));
        assert!(!key_is_valid(&k[..3]));
        super::super::key::encode(0, &["x"; 9], &mut k);
        assert!(!key_is_valid(&k));
    }
}
