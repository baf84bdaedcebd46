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
    /// An empty buffer, with the capacity of one used before when there
    /// is one.
    pub fn take(&self) -> Vec<u8> {
        self.idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop())
            .unwrap_or_default()
    }

    /// Keeps `buf` for a later [`Buffers::take`] (or frees it: too large,
    /// or enough kept).
    pub fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > LARGEST {
            return;
        }
        buf.clear();
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < KEPT
        {
            idle.push(buf);
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
        let mut buf = buffers.take();
        buf.extend_from_slice(&[7; 1000]);
        let cap = buf.capacity();
        let bytes = buffers.bytes(buf);
        let copy = bytes.clone();
        assert_eq!(&copy[..], &[7; 1000][..]);
        drop(bytes);
        assert_eq!(buffers.take().capacity(), 0, "a clone still holds it");
        drop(copy);
        let again = buffers.take();
        assert!(again.is_empty());
        assert_eq!(again.capacity(), cap);
    }

    #[test]
    fn keeps_a_bounded_number_of_bounded_buffers() {
        let buffers = Buffers::default();
        buffers.give(Vec::with_capacity(LARGEST + 1));
        assert_eq!(buffers.take().capacity(), 0);
        for _ in 0..KEPT + 3 {
            buffers.give(Vec::with_capacity(16));
        }
        let mut taken = 0;
        while buffers.take().capacity() > 0 {
            taken += 1;
        }
        assert_eq!(taken, KEPT);
    }
}
