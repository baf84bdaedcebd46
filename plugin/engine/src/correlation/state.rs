//! The window of one group: the events it holds and the value a correlation
//! type makes of them.
//!
//! Entries arrive in event-time order (the correlator commits them sorted),
//! so the window is a queue: old entries leave at the front. Its size is
//! capped; when full, the oldest entry of the busiest rule goes, so a flood
//! of one step of a sequence cannot push the other steps out.

use std::collections::{BTreeSet, VecDeque};

use crate::rules::correlation::{AggFn, Kind};

/// What an entry contributes besides being counted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Sample {
    None,
    /// A value (or tuple of values, joined by U+001F) for `value_count`.
    Text(Box<str>),
    /// A number for the numeric aggregations.
    Num(f64),
}

impl Sample {
    fn rank(&self) -> u8 {
        match self {
            Sample::None => 0,
            Sample::Text(_) => 1,
            Sample::Num(_) => 2,
        }
    }

    /// A total order, so that hits sort the same whatever their arrival.
    pub fn cmp(&self, other: &Sample) -> std::cmp::Ordering {
        match (self, other) {
            (Sample::Text(a), Sample::Text(b)) => a.cmp(b),
            (Sample::Num(a), Sample::Num(b)) => a.total_cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }

    fn heap(&self) -> usize {
        match self {
            Sample::Text(t) => alloc_bytes(t.len()),
            _ => 0,
        }
    }
}

/// What an allocation of `n` bytes costs the allocator: rounded up to 16,
/// plus a 16-byte header (glibc's malloc; close for others).
pub(crate) fn alloc_bytes(n: usize) -> usize {
    if n == 0 { 0 } else { n.div_ceil(16) * 16 + 16 }
}

/// One event (or one alert of a referenced correlation) in a window.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// Event time, in milliseconds since the epoch.
    pub ts: i64,
    /// Which entry of the correlation's `rules` it matched.
    pub pos: u16,
    /// Ids of the events behind it (one for an event; several for an alert).
    pub ids: Vec<Box<str>>,
    pub sample: Sample,
}

impl Entry {
    /// Heap bytes the entry owns (its id list and strings), for the memory
    /// budget; the entry itself lives in its window's queue.
    pub fn heap(&self) -> usize {
        alloc_bytes(self.ids.capacity() * std::mem::size_of::<Box<str>>())
            + self.ids.iter().map(|i| alloc_bytes(i.len())).sum::<usize>()
            + self.sample.heap()
    }
}

/// The entries of one group, oldest first; or, for an aggregate
/// correlation, the running columns of its window.
#[derive(Clone, Debug, Default)]
pub(crate) struct Window {
    entries: VecDeque<Entry>,
    ids: usize,
    /// Heap bytes of the entries (not of the queue itself).
    heap: usize,
    pub agg: Option<Box<Accum>>,
}

/// Most distinct values a `values(F)` column keeps.
const MAX_VALUES: usize = 64;

/// The running columns of an aggregate window (a tumbling window that opens
/// at its first match and lasts `timespan`).
#[derive(Clone, Debug)]
pub(crate) struct Accum {
    pub start: i64,
    pub last: i64,
    pub count: u64,
    pub ids: Vec<Box<str>>,
    pub cols: Vec<Col>,
}

/// One running column.
#[derive(Clone, Debug)]
pub(crate) enum Col {
    Count,
    Min(Option<Box<str>>),
    Max(Option<Box<str>>),
    Values(BTreeSet<Box<str>>),
}

impl Accum {
    pub fn new(start: i64, funcs: &[AggFn]) -> Accum {
        let cols = funcs
            .iter()
            .map(|f| match f {
                AggFn::Count => Col::Count,
                AggFn::Min => Col::Min(None),
                AggFn::Max => Col::Max(None),
                AggFn::Values => Col::Values(BTreeSet::new()),
            })
            .collect();
        Accum {
            start,
            last: start,
            count: 0,
            ids: Vec::new(),
            cols,
        }
    }

    /// Adds one match: its time, ids and the argument of each column.
    pub fn add(&mut self, ts: i64, ids: Vec<Box<str>>, args: &[Option<Box<str>>], max_ids: usize) {
        self.last = self.last.max(ts);
        self.count += 1;
        for id in ids {
            if self.ids.len() < max_ids && !self.ids.contains(&id) {
                self.ids.push(id);
            }
        }
        for (col, arg) in self.cols.iter_mut().zip(args) {
            let Some(v) = arg else { continue };
            match col {
                Col::Count => {}
                Col::Min(m) => {
                    if m.as_ref().is_none_or(|cur| compare(v, cur).is_lt()) {
                        *m = Some(v.clone());
                    }
                }
                Col::Max(m) => {
                    if m.as_ref().is_none_or(|cur| compare(v, cur).is_gt()) {
                        *m = Some(v.clone());
                    }
                }
                Col::Values(set) => {
                    if set.len() < MAX_VALUES {
                        set.insert(v.clone());
                    }
                }
            }
        }
    }

    /// The columns as text: a count in decimal, min and max as they came,
    /// values as a compact JSON array; a min or max with no value is left out.
    pub fn render(&self, names: &[&str]) -> Vec<(String, String)> {
        let mut out = Vec::with_capacity(self.cols.len());
        for (name, col) in names.iter().zip(&self.cols) {
            let text = match col {
                Col::Count => Some(self.count.to_string()),
                Col::Min(v) | Col::Max(v) => v.as_ref().map(|v| v.to_string()),
                Col::Values(set) => {
                    let list: Vec<&str> = set.iter().map(|v| &**v).collect();
                    Some(serde_json::to_string(&list).unwrap_or_default())
                }
            };
            if let Some(t) = text {
                out.push((name.to_string(), t));
            }
        }
        out
    }

    /// Heap bytes it owns, for the memory budget.
    pub fn heap(&self) -> usize {
        let strings = |v: &str| alloc_bytes(v.len());
        std::mem::size_of::<Accum>()
            + alloc_bytes(self.ids.capacity() * std::mem::size_of::<Box<str>>())
            + self.ids.iter().map(|v| strings(v)).sum::<usize>()
            + alloc_bytes(self.cols.capacity() * std::mem::size_of::<Col>())
            + self
                .cols
                .iter()
                .map(|c| match c {
                    Col::Count => 0,
                    Col::Min(v) | Col::Max(v) => v.as_deref().map_or(0, strings),
                    // A B-tree entry costs about 1.5 × its size in nodes.
                    Col::Values(set) => set.iter().map(|v| strings(v) + 24).sum(),
                })
                .sum::<usize>()
    }
}

/// Numbers compare as numbers, anything else as text.
fn compare(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
        (Ok(x), Ok(y)) if x.is_finite() && y.is_finite() => x.total_cmp(&y),
        _ => a.cmp(b),
    }
}

impl Window {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.agg.is_none()
    }

    /// Heap bytes held: the queue and what its entries own.
    pub fn bytes(&self) -> usize {
        alloc_bytes(self.entries.capacity() * std::mem::size_of::<Entry>())
            + self.heap
            + self.agg.as_ref().map_or(0, |a| a.heap())
    }

    pub fn first_ts(&self) -> Option<i64> {
        self.entries.front().map(|e| e.ts)
    }

    pub fn last_ts(&self) -> Option<i64> {
        self.entries.back().map(|e| e.ts)
    }

    /// Whether the window already holds `entry`: the same event ids at the
    /// same time, for the same rule and with the same value (a log
    /// delivered twice). Entries are in time order and `entry` is no older
    /// than the newest, so only the entries of its time are looked at.
    pub fn holds(&self, entry: &Entry) -> bool {
        self.entries
            .iter()
            .rev()
            .take_while(|e| e.ts == entry.ts)
            .any(|e| e.pos == entry.pos && e.ids == entry.ids && e.sample == entry.sample)
    }

    /// Drops the entries older than `cutoff`.
    pub fn evict_before(&mut self, cutoff: i64) {
        while self.entries.front().is_some_and(|e| e.ts < cutoff) {
            self.remove(0);
        }
    }

    fn remove(&mut self, index: usize) {
        if let Some(e) = self.entries.remove(index) {
            self.ids -= e.ids.len();
            self.heap -= e.heap();
        }
    }

    /// Appends `entry` (no older than the newest entry) and keeps at most
    /// `cap` entries and `cap` event ids. Returns how many entries had to go.
    pub fn push(&mut self, mut entry: Entry, cap: usize) -> u64 {
        let cap = cap.max(1);
        let mut dropped = 0;
        while self.entries.len() >= cap {
            self.remove(self.busiest_oldest());
            dropped += 1;
        }
        // An alert of a referenced correlation brings its own events; keep
        // the ids within the same budget.
        let room = cap.saturating_sub(self.ids);
        if entry.ids.len() > room {
            entry.ids.truncate(room);
            entry.ids.shrink_to_fit();
        }
        self.ids += entry.ids.len();
        self.heap += entry.heap();
        if self.entries.capacity() == 0 {
            // Most groups never see a second match: start with room for one.
            self.entries.reserve_exact(1);
        }
        self.entries.push_back(entry);
        dropped
    }

    /// Index of the oldest entry of the position holding the most entries.
    fn busiest_oldest(&self) -> usize {
        let mut counts: Vec<usize> = Vec::new();
        for e in &self.entries {
            let p = e.pos as usize;
            if counts.len() <= p {
                counts.resize(p + 1, 0);
            }
            counts[p] += 1;
        }
        let busiest = counts
            .iter()
            .enumerate()
            .max_by_key(|&(p, n)| (*n, std::cmp::Reverse(p)))
            .map_or(0, |(p, _)| p);
        self.entries
            .iter()
            .position(|e| e.pos as usize == busiest)
            .unwrap_or(0)
    }

    /// The value the correlation type makes of the window, or `None` when it
    /// has none (no numbers to aggregate).
    pub fn measure(&self, kind: Kind, positions: usize) -> Option<f64> {
        let nums = || {
            self.entries.iter().filter_map(|e| match e.sample {
                Sample::Num(n) if n.is_finite() => Some(n),
                _ => None,
            })
        };
        match kind {
            Kind::EventCount => Some(self.entries.len() as f64),
            Kind::ValueCount => {
                let distinct: BTreeSet<&str> = self
                    .entries
                    .iter()
                    .filter_map(|e| match &e.sample {
                        Sample::Text(t) => Some(&**t),
                        _ => None,
                    })
                    .collect();
                Some(distinct.len() as f64)
            }
            Kind::Temporal => {
                let mut seen = vec![false; positions];
                for e in &self.entries {
                    if let Some(s) = seen.get_mut(e.pos as usize) {
                        *s = true;
                    }
                }
                Some(seen.iter().filter(|s| **s).count() as f64)
            }
            Kind::TemporalOrdered => Some(self.ordered_prefix(positions) as f64),
            Kind::ValueSum => {
                let mut any = false;
                let sum = nums().inspect(|_| any = true).sum();
                any.then_some(sum)
            }
            Kind::ValueAvg => {
                let (n, sum) = nums().fold((0usize, 0.0), |(n, s), x| (n + 1, s + x));
                (n > 0).then(|| sum / n as f64)
            }
            Kind::ValuePercentile(p) => {
                let mut v: Vec<f64> = nums().collect();
                percentile(&mut v, p)
            }
        }
    }

    /// How many of the positions, from the first, matched in order: each at
    /// or after the one before (equal times count as in order, since audit
    /// logs often record a sequence within one second).
    fn ordered_prefix(&self, positions: usize) -> usize {
        let mut previous = i64::MIN;
        for p in 0..positions {
            // Entries are in time order: the first of this position at or
            // after the previous step is the earliest, which leaves the most
            // room for the steps after it.
            match self
                .entries
                .iter()
                .find(|e| e.pos as usize == p && e.ts >= previous)
            {
                Some(e) => previous = e.ts,
                None => return p,
            }
        }
        positions
    }

    /// The ids of the events in the window, oldest first, each once, at most `cap`.
    pub fn event_ids(&self, cap: usize) -> Vec<String> {
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for id in self.entries.iter().flat_map(|e| &e.ids) {
            if out.len() >= cap {
                break;
            }
            if seen.insert(&**id) {
                out.push(id.to_string());
            }
        }
        out
    }
}

/// The `p`th percentile (0-100) by linear interpolation between closest
/// ranks (rank = p/100 × (n − 1)), as the reference evaluator computes it.
pub(crate) fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = p.clamp(0.0, 100.0) / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    Some(values[lo] + (rank - lo as f64) * (values[hi] - values[lo]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ts: i64, pos: u16, sample: Sample) -> Entry {
        Entry {
            ts,
            pos,
            ids: vec![format!("e{ts}").into()],
            sample,
        }
    }

    #[test]
    fn ordered_prefix_needs_each_step_at_or_after_the_last() {
        let mut w = Window::default();
        w.push(entry(5, 1, Sample::None), 64);
        w.push(entry(6, 0, Sample::None), 64);
        assert_eq!(w.measure(Kind::TemporalOrdered, 2), Some(1.0));
        assert_eq!(w.measure(Kind::Temporal, 2), Some(2.0));
        w.push(entry(6, 1, Sample::None), 64);
        assert_eq!(w.measure(Kind::TemporalOrdered, 2), Some(2.0));
    }

    #[test]
    fn counts_and_aggregates() {
        let mut w = Window::default();
        for (ts, v) in [(1, "a"), (2, "b"), (3, "a")] {
            w.push(entry(ts, 0, Sample::Text(v.into())), 64);
        }
        assert_eq!(w.measure(Kind::EventCount, 1), Some(3.0));
        assert_eq!(w.measure(Kind::ValueCount, 1), Some(2.0));
        let mut n = Window::default();
        for (ts, v) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 10.0)] {
            n.push(entry(ts, 0, Sample::Num(v)), 64);
        }
        assert_eq!(n.measure(Kind::ValueSum, 1), Some(17.0));
        assert_eq!(n.measure(Kind::ValueAvg, 1), Some(4.25));
        assert_eq!(n.measure(Kind::ValuePercentile(50.0), 1), Some(3.0));
        assert_eq!(n.measure(Kind::ValuePercentile(100.0), 1), Some(10.0));
        assert_eq!(Window::default().measure(Kind::ValueSum, 1), None);
    }

    #[test]
    fn eviction_and_cap_keep_the_bytes_right() {
        let mut w = Window::default();
        for ts in 0..10 {
            w.push(entry(ts, 0, Sample::Text("x".into())), 64);
        }
        w.evict_before(7);
        assert_eq!(w.first_ts(), Some(7));
        let expected: usize = w.entries.iter().map(Entry::heap).sum();
        assert_eq!(w.heap, expected);
        assert!(w.bytes() > expected);
        // The busiest position loses its oldest entry; the lone first step stays.
        let mut s = Window::default();
        s.push(entry(0, 0, Sample::None), 3);
        for ts in 1..10 {
            s.push(entry(ts, 1, Sample::None), 3);
        }
        assert_eq!(s.entries.len(), 3);
        assert_eq!(s.first_ts(), Some(0));
        assert_eq!(s.event_ids(10), vec!["e0", "e8", "e9"]);
    }
}
