//! Request and answer buffers used again from batch to batch.
//!
//! A batch is about a mebibyte in and as much out, and a fresh buffer of
//! that size comes from the allocator as untouched pages: `perf` of
//! `sigil serve --native` put 8 % of all samples in page faults on those
//! buffers, spread over the HTTP, dispatching and correlating threads. So
//! the body a request is read into and the answer a batch is written to
//! come from here, and come back when the detector has framed the body and
//! when hyper has sent the answer (a [`Bytes`] whose owner returns it).
//!
//! Bounded: at most [`KEPT`] buffers of at most [`LARGEST`] bytes each
//! wait here (32 MiB in all); larger ones (batches over 4 MiB) are freed
//! as before, and when more are in use than kept, the extra are freed.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;

/// Idle buffers kept at most: a few batches in flight, each with a body
/// and an answer.
const KEPT: usize = 8;

/// Largest buffer kept (its capacity).
const LARGEST: usize = 4 << 20;

/// The idle buffers.
#[derive(Default)]
pub(crate) struct Buffers {
    idle: Mutex<Vec<Vec<u8>>>,
}

impl Buffers {
    /// An empty buffer of at least `capacity`: one used before when one
    /// is that large (growing a smaller one would copy it and touch fresh
    /// pages anyway), else a new one.
    pub fn take(&self, capacity: usize) -> Vec<u8> {
        let kept = self.idle.lock().ok().and_then(|mut idle| {
            let at = idle.iter().position(|b| b.capacity() >= capacity)?;
            Some(idle.swap_remove(at))
        });
        kept.unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// Keeps `buf` for a later [`Buffers::take`], in place of the smallest
    /// kept when there are enough (so the kept ones grow to what batches
    /// need), or frees it: too large, or no smaller one kept.
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > LARGEST {
            return;
        }
        buf.clear();
        let Ok(mut idle) = self.idle.lock() else {
            return;
        };
        if idle.len() < KEPT {
            idle.push(buf);
            return;
        }
        if let Some(smallest) = idle.iter_mut().min_by_key(|b| b.capacity())
            && smallest.capacity() < buf.capacity()
        {
            *smallest = buf;
        }
    }

    /// `buf` as [`Bytes`] (no copy) that gives it back here once the last
    /// clone is dropped: an answer's body, a forwarded batch.
    pub fn bytes(self: &Arc<Buffers>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returned {
            buf,
            home: Arc::clone(self),
        })
    }
}

/// A buffer lent out as [`Bytes`].
struct Returned {
    buf: Vec<u8>,
    home: Arc<Buffers>,
}

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        self.home.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::{Buffers, KEPT, LARGEST};
    use std::sync::Arc;

    #[test]
    fn a_buffer_lent_as_bytes_comes_back_empty_with_its_capacity() {
        let buffers = Arc::new(Buffers::default());
        let mut buf = buffers.take(1000);
        buf.extend_from_slice(&[7; 1000]);
        let cap = buf.capacity();
        let at = buf.as_ptr();
        let bytes = buffers.bytes(buf);
        let copy = bytes.clone();
        assert_eq!(&copy[..], &[7; 1000][..]);
        drop(bytes);
        let other = buffers.take(1);
        assert_ne!(other.as_ptr(), at, "a clone still holds it");
        drop(other);
        drop(copy);
        let again = buffers.take(1000);
        assert!(again.is_empty());
        assert_eq!((again.as_ptr(), again.capacity()), (at, cap));
    }

    #[test]
    fn takes_a_kept_buffer_only_when_large_enough() {
        let buffers = Buffers::default();
        buffers.give(Vec::with_capacity(100));
        assert!(buffers.take(200).capacity() >= 200);
        assert_eq!(buffers.take(50).capacity(), 100);
    }

    #[test]
    fn keeps_a_bounded_number_of_bounded_buffers_the_largest() {
        let buffers = Buffers::default();
        buffers.give(Vec::with_capacity(LARGEST + 1));
        assert!(buffers.take(1).capacity() <= 1);
        for _ in 0..KEPT {
            buffers.give(Vec::with_capacity(16));
        }
        for _ in 0..3 {
            buffers.give(Vec::with_capacity(64));
        }
        let mut kept = Vec::new();
        loop {
            let b = buffers.take(1);
            if b.capacity() < 16 {
                break;
            }
            kept.push(b.capacity());
        }
        kept.sort();
        assert_eq!(kept.len(), KEPT);
        assert_eq!(kept[KEPT - 3..], [64, 64, 64]);
    }
}
