//! The open groups of every correlation, under a cap on their number and on
//! their bytes.
//!
//! Groups are found by key in a B-tree rather than a hash map: keys come
//! from untrusted events, and a B-tree's cost cannot be driven up by
//! crafted collisions (the guest has no randomness to seed a hash with).
//! A second ordered set keeps the groups by the time their window expires,
//! which serves both jobs that need "the oldest group": closing windows the
//! watermark has passed, and evicting when a cap is reached. Its order is
//! kept lazily: a group's expiry only grows (entries come in time order), so
//! the set may hold an earlier expiry than the group's, and is corrected
//! when that entry reaches the front. Each match then costs the set nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::state::{Window, alloc_bytes};

/// One group: a correlation and the values of its group-by fields (both in `key`).
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub key: Arc<[u8]>,
    pub window: Window,
    /// When the newest entry leaves the window: last entry time + timespan.
    expires: i64,
    /// The expiry the group is filed under in `by_expiry` (at most `expires`).
    filed: i64,
    bytes: usize,
}

/// Bytes a group costs besides its window: the key (one allocation with
/// its reference counts, shared by the index), its slot, and its share of
/// the index's and the expiry set's B-tree nodes (about 1.5 × the entry,
/// for nodes about two-thirds full).
fn overhead(key: &[u8]) -> usize {
    alloc_bytes(key.len() + 16)
        + std::mem::size_of::<Option<Group>>()
        + 3 * std::mem::size_of::<(Arc<[u8]>, u32)>() / 2
        + 3 * std::mem::size_of::<(i64, u32)>() / 2
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Store {
    index: BTreeMap<Arc<[u8]>, u32>,
    slots: Vec<Option<Group>>,
    free: Vec<u32>,
    by_expiry: BTreeSet<(i64, u32)>,
    bytes: usize,
}

impl Store {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn find(&self, key: &[u8]) -> Option<u32> {
        self.index.get(key).copied()
    }

    pub fn group(&self, slot: u32) -> &Group {
        self.slots[slot as usize].as_ref().expect("a live slot")
    }

    pub fn window_mut(&mut self, slot: u32) -> &mut Window {
        &mut self.slots[slot as usize]
            .as_mut()
            .expect("a live slot")
            .window
    }

    /// Opens an empty group for `key` (not yet present).
    pub fn insert(&mut self, key: &[u8]) -> u32 {
        let key: Arc<[u8]> = Arc::from(key);
        let bytes = overhead(&key);
        let group = Group {
            key: key.clone(),
            window: Window::default(),
            expires: i64::MIN,
            filed: i64::MIN,
            bytes,
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(group);
                s
            }
            None => {
                self.slots.push(Some(group));
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, slot);
        self.by_expiry.insert((i64::MIN, slot));
        self.bytes += bytes;
        slot
    }

    /// Records that the window of `slot` changed: its bytes and expiry. An
    /// empty window closes the group.
    pub fn update(&mut self, slot: u32, timespan_ms: i64) {
        let g = self.slots[slot as usize].as_mut().expect("a live slot");
        if g.window.is_empty() {
            self.remove(slot);
            return;
        }
        // An aggregate window is tumbling: it closes `timespan` after it opened.
        let expires = match &g.window.agg {
            Some(a) => a.start.saturating_add(timespan_ms),
            None => g
                .window
                .last_ts()
                .unwrap_or(i64::MIN)
                .saturating_add(timespan_ms),
        };
        let bytes = overhead(&g.key) + g.window.bytes();
        self.bytes = self.bytes - g.bytes + bytes;
        g.bytes = bytes;
        g.expires = expires;
        if g.filed == i64::MIN {
            self.by_expiry.remove(&(g.filed, slot));
            self.by_expiry.insert((expires, slot));
            g.filed = expires;
        }
    }

    /// The group filed first in `by_expiry` (other than `keep`) after
    /// refiling the stale ones met on the way: the group closest to expiring.
    fn oldest(&mut self, keep: Option<u32>) -> Option<(i64, u32)> {
        loop {
            let &(filed, slot) = self.by_expiry.iter().find(|&&(_, s)| Some(s) != keep)?;
            let g = self.slots[slot as usize]
                .as_mut()
                .expect("a filed slot is live");
            if g.expires == filed {
                return Some((filed, slot));
            }
            self.by_expiry.remove(&(filed, slot));
            self.by_expiry.insert((g.expires, slot));
            g.filed = g.expires;
        }
    }

    pub fn remove(&mut self, slot: u32) {
        if let Some(g) = self.slots[slot as usize].take() {
            self.index.remove(&g.key);
            self.by_expiry.remove(&(g.filed, slot));
            self.bytes -= g.bytes;
            self.free.push(slot);
        }
    }

    /// Closes the groups whose window expired before `frontier`, in expiry
    /// order; hands each closing aggregate window to `closed` (with its key)
    /// so that its record can be emitted.
    pub fn expire(&mut self, frontier: i64, closed: &mut dyn FnMut(&[u8], &Window)) {
        while self
            .by_expiry
            .first()
            .is_some_and(|&(filed, _)| filed < frontier)
        {
            match self.oldest(None) {
                Some((expires, slot)) if expires < frontier => {
                    let g = self.group(slot);
                    if g.window.agg.is_some() {
                        closed(&g.key, &g.window);
                    }
                    self.remove(slot);
                }
                _ => break,
            }
        }
    }

    /// Evicts the group closest to expiring, other than `keep`; false when
    /// there is none.
    pub fn evict_oldest(&mut self, keep: Option<u32>) -> bool {
        match self.oldest(keep) {
            Some((_, s)) => {
                self.remove(s);
                true
            }
            None => false,
        }
    }

    pub fn clear(&mut self) {
        *self = Store::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::correlation::state::{Entry, Sample};

    fn touch(store: &mut Store, key: &[u8], ts: i64) -> u32 {
        let slot = store.find(key).unwrap_or_else(|| store.insert(key));
        store.window_mut(slot).push(
            Entry {
                ts,
                pos: 0,
                ids: Vec::new(),
                sample: Sample::None,
            },
            64,
        );
        store.update(slot, 10);
        slot
    }

    #[test]
    fn oldest_is_by_latest_entry_despite_lazy_filing() {
        let mut s = Store::default();
        touch(&mut s, b"a", 0);
        touch(&mut s, b"b", 5);
        touch(&mut s, b"a", 20); // a is now the newest, though filed at 10
        assert!(s.evict_oldest(None));
        assert!(s.find(b"b").is_none() && s.find(b"a").is_some());
        touch(&mut s, b"c", 25);
        s.expire(31, &mut |_, _| panic!("no aggregate window here"));
        assert!(
            s.find(b"a").is_none() && s.find(b"c").is_some(),
            "a expires at 30, c at 35"
        );
        s.expire(36, &mut |_, _| {});
        assert_eq!((s.len(), s.bytes()), (0, 0));
    }
}
