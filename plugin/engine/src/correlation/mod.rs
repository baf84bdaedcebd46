//! Correlation rules: sequences and counts across events, kept as state in
//! the engine.
//!
//! A Sigma correlation (`correlation:` document, specification 2.x) names
//! detection rules (or other correlations) and says what their matches must
//! add up to within a `timespan`, per group of `group-by` values:
//! `event_count`, `value_count`, `temporal`, `temporal_ordered`, and the
//! numeric `value_sum`, `value_avg`, `value_percentile` (and `value_median`).
//! The engine keeps the windows itself, so the WebAssembly component finds
//! these patterns inline, across `evaluate-batch` calls.
//!
//! # Time
//!
//! Windows slide on the time each event records (CloudTrail `eventTime`,
//! Azure `time` or `eventTimestamp`, GCP `timestamp`, Microsoft 365
//! `CreationTime`; RFC 3339, millisecond precision), never on arrival:
//! audit logs arrive late and unsorted. A match is held back until the
//! **watermark** passes it, then all held matches are *committed* in
//! event-time order (ties broken by event id, then by content), and only
//! committed matches change windows. The watermark is the highest event time
//! seen minus [`Options::correlation_lateness_ms`](crate::Options) (default
//! 15 minutes), or what the host sets with
//! [`Engine::advance`](crate::Engine::advance);
//! [`Engine::flush`](crate::Engine::flush) commits everything. With
//! [`Options::LATENESS_END`](crate::Options::LATENESS_END) only `advance`,
//! `flush` and a full waiting room commit: for finite inputs (files, SIEM
//! exports) in any order.
//!
//! That makes the outcome independent of arrival order: if every event
//! arrives at most `lateness` behind the highest event time seen before it,
//! the alerts are exactly those of the same events sorted by time. A match
//! that arrives later than that is *late*: it is left out of correlation
//! (its finding, if any, is still reported) and counted in
//! [`CorrelationStats::late_events`], per correlation rule in
//! [`CorrelationStats::late_by_rule`], with the largest lag in
//! [`CorrelationStats::max_late_lag_ms`], so that a host can say which
//! detections the lateness cost and what lateness would have kept them.
//! The price is latency: an alert comes out once the watermark passes the
//! event that completes it, i.e. after an event `lateness` newer (or at
//! `advance` / `flush`). With a lateness of 0 an in-order stream gets its
//! alerts one event later; with the default, about 15 minutes of event time
//! later.
//!
//! The default is fitted to documented delivery delays: CloudTrail writes a
//! file about every 5 minutes and delivers it "within an average of about 5
//! minutes" of the call (earlier documented as within 15 minutes), files
//! unordered across each other; Azure Monitor documents 10 to 15 minutes
//! for the Activity Log's legacy integration. Only matched events wait, so
//! a long lateness costs little memory (the waiting room below bounds it).
//!
//! # Re-deliveries
//!
//! Log pipelines deliver at least once: a CloudTrail file, or a batch of a
//! Cloud Logging sink, may come twice. A match identical to one already
//! waiting (same event id, time, correlation, group, rule and value) is
//! dropped when its time is committed; one identical to an entry of its
//! group's window (the entries of the same time are compared) is not added.
//! Both are counted in [`CorrelationStats::duplicate_events`]. Matches of
//! events without an id are never merged. A re-delivery that arrives after
//! its group fired and was emptied counts as a new match.
//!
//! Only events the engine parses move the watermark: those the prefilter
//! lets through for some rule. Unparsed events cannot complete a
//! correlation, so this delays alerts at most until the next parsed event.
//!
//! An event without a readable timestamp takes the current time of the
//! stream (the highest event time seen, or the last watermark set by
//! `advance`); before any time is known it cannot be placed and is counted
//! in [`CorrelationStats::untimed_events`]. Hosts whose events carry no
//! time give the engine their clock with `advance`.
//!
//! # Detached evaluation
//!
//! Reading an event is pure; correlating it is not. The engine keeps the two
//! apart: what a parsed event brings to correlation (its time, its id, and
//! for each finding that feeds a correlation its group keys, counted values
//! and aggregate columns) is an [`Observation`], made without touching any
//! state; applying it waits its matches (an untimed event takes the
//! stream's current time only then), moves the watermark and commits.
//! `evaluate_batch` does both per event. With
//! [`Engine::evaluate_batch_detached`](crate::Engine::evaluate_batch_detached)
//! several engines evaluate blocks at once, and one engine's
//! [`Engine::correlate`](crate::Engine::correlate) applies their
//! observations in stream order: the alerts, the events they come out after
//! and the counters are those of one engine reading the stream in order.
//!
//! # When a correlation fires
//!
//! Each committed match is added to its group's window, which then holds
//! the matches of the last `timespan` (inclusive) up to this one, and the
//! condition is tested on the window's value, as the reference evaluator
//! (rsigma) does per event. When it holds, one [`Alert`] is produced and
//! the group's window is emptied: the matches are consumed, and the next
//! alert needs the condition met again from new matches (rsigma's `reset`
//! action; its default re-fires on every further match).
//!
//! - `event_count`: matches in the window.
//! - `value_count`: distinct values of `condition.field` (a tuple when it
//!   lists several fields; JSON null counts as the value `null`; events
//!   without the field are not counted).
//! - `temporal`: referenced rules with a match in the window.
//! - `temporal_ordered`: the longest run of referenced rules, from the
//!   first, matched in the listed order (each at or after the previous; the
//!   same second counts as in order, as audit logs often record a sequence
//!   within one second). Without a condition it must be all of them.
//! - `value_sum`, `value_avg`, `value_percentile` (`condition.percentile`,
//!   default 50; linear interpolation), `value_median`: over the numbers in
//!   `condition.field` (a JSON number or a string holding one).
//!
//! The condition is a map of `gt`, `gte`, `lt`, `lte`, `eq`, `neq`; all
//! must hold. `temporal` types default to "every referenced rule".
//!
//! # Groups
//!
//! `group-by` fields are read from each event, with `aliases` resolved for
//! the rule that matched (so a volume id can sit under `responseElements`
//! in one event and `requestParameters` in the next). An event that lacks a
//! group-by field joins no group. A field inside an array of objects is
//! written `a.items[].id` (or `a.items.id`; arrays are transparent): **an
//! event joins one group per distinct value**, so `StopInstances` of two
//! instances is one match in each instance's group. With several such
//! fields it joins one group per combination, at most 16 per event and
//! correlation (lexicographic order; the rest are counted in
//! [`CorrelationStats::fanout_truncated`]). The same holds for the values of
//! `condition.field`.
//!
//! # Chains and `generate`
//!
//! A correlation may reference other correlations: each of their alerts is
//! one match for it, at the alert's end time, grouped by the values of the
//! same-named group-by fields (loading fails if the referenced correlation
//! does not group by them). Per the specification, rules referenced by a
//! correlation are helpers: unless some correlation referencing them says
//! `generate: true`, a referenced detection rule reports no finding of its
//! own and a referenced correlation emits no alert of its own; both still
//! feed the correlations that reference them.
//!
//! # Limits
//!
//! State is bounded, whatever the events:
//!
//! - [`Options::max_groups`](crate::Options) open groups over all
//!   correlations (default 100 000), and as many matches waiting for the
//!   watermark;
//! - [`Options::max_events_per_group`](crate::Options) matches (and event
//!   ids) per group (default 64): when full, the oldest match of the
//!   referenced rule with the most matches goes, so a flood of one step
//!   cannot push out the others; counted in
//!   [`CorrelationStats::dropped_entries`];
//! - [`Options::max_correlation_bytes`](crate::Options) of state (default
//!   64 MiB): three quarters for groups, one quarter for waiting matches.
//!   Every string kept is cut to 128 bytes (a hash keeps long values
//!   distinct) and a key has at most 8 fields, so one group costs at most
//!   about 1.3 KiB plus 0.5 KiB per match it holds (33 KiB by default).
//!
//! Over a cap, the group closest to expiring is evicted and counted in
//! [`CorrelationStats::evicted_groups`]; over the waiting cap, the oldest
//! waiting matches are committed early ([`CorrelationStats::forced_commits`]).
//! Both can cost detections; neither can cost memory. The engine counts
//! what its state costs the allocator (queues, strings, B-tree nodes, with
//! malloc's rounding), so the worst case is the byte budget plus one group:
//! with the defaults, 64 MiB. The `correlation` benchmark checks the count
//! against a counting allocator: a million distinct group keys under the
//! default caps grow the heap by about 36 MiB, and the engine's count is a
//! little above that.
//!
//! State lives as long as the engine. A host that replaces an engine (the
//! `sigil` host does after a plugin traps) starts with empty windows.

pub(crate) mod clock;
mod key;
mod link;
mod observation;
mod state;
mod store;

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};

use crate::matching::matcher::{Lookup, Slots};
use crate::verdict::Finding;
use crate::vocab::logsource::Shape;
use crate::vocab::value::{Val, format_number};

pub(crate) use crate::rules::correlation::Def;
pub(crate) use link::{Plan, RuleName, link};

use clock::Clock;
use key::bounded;
use link::Locator;
use state::{Entry, Sample};
use store::Store;

pub use clock::{ID_FIELDS, all_time_columns};
pub use observation::Observation;

/// Most groups (or values) one event joins for one correlation.
const MAX_FANOUT: usize = 16;

/// Most waiting matches of one time a full waiting room commits at once:
/// bounds the work one event can cause (see `Correlator::wait`).
const FORCED_CHUNK: usize = 1024;

/// A correlation rule that fired: its own output record, not a finding on
/// an event.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    /// The correlation rule, as an index into `Engine::rules()`.
    pub rule: u32,
    /// The group: each `group-by` name (alias or field path) and its value.
    pub group: Vec<(String, String)>,
    /// Time of the oldest match in the window, in milliseconds since the epoch.
    pub window_start_ms: i64,
    /// Time of the match that completed the correlation.
    pub window_end_ms: i64,
    /// Ids of the contributing events (CloudTrail `eventID`, Azure
    /// `eventDataId` or `correlationId`, GCP `insertId`, Microsoft 365 `Id`),
    /// oldest first, each once, at most `Options::max_events_per_group`.
    /// Events without an id are counted but not listed.
    pub events: Vec<String>,
    /// The value that met the condition: a count, a sum, a mean, a
    /// percentile, or for temporal types the number of rules matched.
    pub value: f64,
    /// The columns of an aggregate record (`sigil.aggregate`), in the
    /// rule's order; empty for other correlations.
    pub labels: Vec<(String, String)>,
}

/// An alert produced while evaluating one event of a batch.
#[derive(Clone, Debug, PartialEq)]
pub struct BatchAlert {
    /// Position of the event in the batch after which the alert came out
    /// (the event whose arrival let the watermark pass the alert's matches).
    pub index: u32,
    /// The alert.
    pub alert: Alert,
}

/// Counters of the correlation state, for monitoring the limits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorrelationStats {
    /// Correlation rules loaded.
    pub correlations: u32,
    /// Groups with an open window now.
    pub open_groups: u64,
    /// Matches waiting for the watermark now.
    pub pending: u64,
    /// Approximate bytes of state now (groups and waiting matches).
    pub bytes: u64,
    /// Alerts produced (those emitted; helpers of a chain are not counted).
    pub alerts: u64,
    /// Matches left out because they arrived behind the watermark.
    pub late_events: u64,
    /// The late matches per correlation rule: its index into
    /// `Engine::rules()` and how many, in rule order, rules without late
    /// matches left out. Says which detections the lateness cost.
    pub late_by_rule: Vec<(u32, u64)>,
    /// How far behind the newest event time the latest late match was, in
    /// milliseconds (0 when none was late): the lateness that would have
    /// kept every match.
    pub max_late_lag_ms: u64,
    /// Matches not counted because the same event (same id, time, rule,
    /// group and value) was already waiting or in the window: a log
    /// delivered twice (CloudTrail, Cloud Logging sinks and Event Hubs
    /// deliver at least once) must not complete a count alone.
    pub duplicate_events: u64,
    /// Matching events left out because neither they nor the stream had a time.
    pub untimed_events: u64,
    /// Matching events left out because a group-by field was missing.
    pub ungrouped_events: u64,
    /// Groups evicted to stay within `max_groups` or the byte budget.
    pub evicted_groups: u64,
    /// Matches dropped from full groups (`max_events_per_group`).
    pub dropped_entries: u64,
    /// Waiting matches committed before the watermark reached them, because
    /// the waiting room was full.
    pub forced_commits: u64,
    /// Groups or values beyond the 16 one event may join per correlation.
    pub fanout_truncated: u64,
    /// Alerts of `Engine::evaluate` dropped because nobody took them
    /// (`Engine::take_alerts`) before `max_groups` piled up.
    pub alerts_dropped: u64,
}

/// A match waiting for the watermark.
#[derive(Clone, Debug)]
struct Hit {
    ts: i64,
    id: Option<Box<str>>,
    /// Correlation and group, see `key`.
    key: Box<[u8]>,
    pos: u16,
    sample: Sample,
    /// The arguments of an aggregate correlation's columns.
    cols: Box<[Option<Box<str>>]>,
}

impl Hit {
    /// Bytes it costs while waiting: its slot in the heap and its strings.
    fn bytes(&self) -> usize {
        let text = match &self.sample {
            Sample::Text(t) => state::alloc_bytes(t.len()),
            _ => 0,
        };
        std::mem::size_of::<Hit>()
            + state::alloc_bytes(self.cols.len() * std::mem::size_of::<Option<Box<str>>>())
            + self
                .cols
                .iter()
                .flatten()
                .map(|c| state::alloc_bytes(c.len()))
                .sum::<usize>()
            + state::alloc_bytes(self.key.len())
            + self.id.as_ref().map_or(0, |i| state::alloc_bytes(i.len()))
            + text
    }
}

impl Ord for Hit {
    fn cmp(&self, o: &Hit) -> Ordering {
        (self.ts, &self.id, &self.key, self.pos)
            .cmp(&(o.ts, &o.id, &o.key, o.pos))
            .then_with(|| self.sample.cmp(&o.sample))
    }
}

impl PartialOrd for Hit {
    fn partial_cmp(&self, o: &Hit) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

impl PartialEq for Hit {
    fn eq(&self, o: &Hit) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}

impl Eq for Hit {}

/// A match on its way into a window: a committed hit, or an alert of a
/// referenced correlation.
struct Work {
    key: Vec<u8>,
    pos: u16,
    ts: i64,
    ids: Vec<Box<str>>,
    sample: Sample,
    cols: Box<[Option<Box<str>>]>,
    /// An event's match (not an alert): one the window already holds is a
    /// re-delivery and is not counted again.
    event: bool,
}

/// Limits of the correlation state, from `Options`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// `None`: matches wait for `flush` (`Options::LATENESS_END`).
    pub lateness_ms: Option<i64>,
    pub max_groups: usize,
    pub max_events_per_group: usize,
    pub max_bytes: usize,
}

/// The correlation state of an engine.
#[derive(Clone, Debug)]
pub(crate) struct Correlator {
    plan: Plan,
    clock: Clock,
    limits: Limits,
    /// Waiting matches by event time (a match's hits share their time, so
    /// buckets are small and sorted only when committed).
    pending: BTreeMap<i64, Vec<Hit>>,
    pending_len: usize,
    pending_bytes: usize,
    store: Store,
    /// Highest event time seen.
    high: Option<i64>,
    /// Every match older than this is committed; newer ones wait.
    frontier: i64,
    stats: CorrelationStats,
    /// Late matches per correlation (index into `plan.corrs`).
    late: Vec<u64>,
}

impl Correlator {
    /// State for a linked pack; registers the time and id fields with the extractor.
    pub fn new(plan: Plan, limits: Limits, slots: &mut dyn Slots) -> Correlator {
        let stats = CorrelationStats {
            correlations: plan.corrs.len() as u32,
            ..CorrelationStats::default()
        };
        Correlator {
            late: vec![0; plan.corrs.len()],
            plan,
            clock: Clock::new(slots),
            limits,
            pending: BTreeMap::new(),
            pending_len: 0,
            pending_bytes: 0,
            store: Store::default(),
            high: None,
            frontier: i64::MIN,
            stats,
        }
    }

    /// Whether the findings or alerts of rule-table entry `rule` are reported.
    pub fn emits(&self, rule: u32) -> bool {
        self.plan.emits.get(rule as usize).copied().unwrap_or(true)
    }

    pub fn stats(&self) -> CorrelationStats {
        CorrelationStats {
            open_groups: self.store.len() as u64,
            pending: self.pending_len as u64,
            bytes: (self.store.bytes() + self.pending_bytes) as u64,
            late_by_rule: self
                .plan
                .corrs
                .iter()
                .zip(&self.late)
                .filter(|(_, n)| **n > 0)
                .map(|(c, n)| (c.rule, *n))
                .collect(),
            ..self.stats.clone()
        }
    }

    /// The stream's current time: the highest event time seen, or the last
    /// watermark if later.
    fn now(&self) -> Option<i64> {
        match self.high {
            Some(h) => Some(h.max(self.frontier)),
            None => (self.frontier > i64::MIN).then_some(self.frontier),
        }
    }

    /// Whether findings of detection rule `rule` feed some correlation.
    fn feeds(&self, rule: u32) -> bool {
        self.plan
            .rule_feeds
            .get(rule as usize)
            .is_some_and(|v| !v.is_empty())
    }

    /// Takes in one parsed event: the rules it matched become waiting
    /// matches of the correlations they feed, and its time moves the
    /// watermark. The same as [`Correlator::apply`] of
    /// [`Correlator::prepare`].
    pub fn observe(
        &mut self,
        matched: &[Finding],
        shape: Shape,
        values: &dyn Lookup<'_>,
        out: &mut Vec<Alert>,
    ) {
        let obs = self.prepare(matched, shape, values);
        self.apply(obs, out);
    }

    /// What one parsed event brings to correlation, read from the event
    /// alone: its time, its id, and the matches of every finding that
    /// feeds a correlation (their time left to [`Correlator::apply`], as
    /// an untimed event takes the stream's). Touches no state; allocates
    /// nothing when no finding feeds a correlation.
    pub fn prepare(
        &self,
        matched: &[Finding],
        shape: Shape,
        values: &dyn Lookup<'_>,
    ) -> Observation {
        let mut obs = Observation {
            time: self.clock.time(shape, values),
            ..Observation::default()
        };
        if !matched.iter().any(|f| self.feeds(f.rule)) {
            return obs;
        }
        obs.feeds = true;
        obs.id = self.clock.id(shape.product, values);
        for f in matched {
            let feeds = self
                .plan
                .rule_feeds
                .get(f.rule as usize)
                .map_or(&[][..], Vec::as_slice);
            for &(c, pos) in feeds {
                let (hits, ungrouped, cut) = self.make_hits(c, pos, &obs.id, f, values);
                obs.ungrouped += u64::from(ungrouped);
                obs.cut += cut;
                if obs.hits.is_empty() {
                    // Most events feed one correlation: no second vector.
                    obs.hits = hits;
                } else {
                    obs.hits.extend(hits);
                }
            }
        }
        obs
    }

    /// Applies what [`Correlator::prepare`] read from one event: its
    /// matches wait for the watermark (at the event's time, or the
    /// stream's current time for an untimed event), and its time moves
    /// the watermark, committing what that passes.
    pub fn apply(&mut self, obs: Observation, out: &mut Vec<Alert>) {
        if obs.feeds {
            match obs.time.or_else(|| self.now()) {
                None => self.stats.untimed_events += 1,
                Some(ts) => {
                    // Counts from a decoded observation may be anything
                    // (a plugin made it): they must not overflow.
                    self.stats.ungrouped_events =
                        self.stats.ungrouped_events.saturating_add(obs.ungrouped);
                    self.stats.fanout_truncated =
                        self.stats.fanout_truncated.saturating_add(obs.cut);
                    for mut hit in obs.hits {
                        hit.ts = ts;
                        self.wait(hit, out);
                    }
                }
            }
        }
        if let Some(t) = obs.time {
            let high = self.high.map_or(t, |h| h.max(t));
            self.high = Some(high);
            if let Some(lateness) = self.limits.lateness_ms {
                self.commit(high.saturating_sub(lateness), out);
            }
        }
    }

    /// Whether every match of `obs` names a correlation and position of
    /// this pack, with as many group values and aggregate columns as it
    /// has: an observation decoded from bytes may come from another pack,
    /// or from anyone.
    pub fn fits(&self, obs: &Observation) -> bool {
        obs.hits.iter().all(|h| {
            let Some(corr) = h
                .key
                .get(..4)
                .and_then(|_| self.plan.corrs.get(key::corr_of(&h.key) as usize))
            else {
                return false;
            };
            (h.pos as usize) < corr.positions.len()
                && h.cols.len() == corr.aggregate.len()
                && key::values(&h.key).len() == corr.group_names.len()
        })
    }

    /// The hits, whether a group-by field was missing, and how many
    /// combinations were cut. Their time is left at 0 for `apply` to set:
    /// an untimed event takes the stream's current time.
    fn make_hits(
        &self,
        c: u32,
        pos: u16,
        id: &Option<Box<str>>,
        finding: &Finding,
        values: &dyn Lookup<'_>,
    ) -> (Vec<Hit>, bool, u64) {
        let corr = &self.plan.corrs[c as usize];
        // An aggregate column reads a label of the finding, else the field.
        let cols: Box<[Option<Box<str>>]> = corr
            .aggregate
            .iter()
            .map(|(col, slot)| {
                let arg = col.arg.as_deref()?;
                if let Some((_, v)) = finding.labels.iter().find(|(n, _)| n == arg) {
                    return Some(bounded(v));
                }
                slot.and_then(|s| values.values(s).iter().find_map(|(_, v)| group_text(v)))
            })
            .collect();
        let position = &corr.positions[pos as usize];
        let mut groups: Vec<Vec<Box<str>>> = Vec::with_capacity(position.group.len());
        for (i, loc) in position.group.iter().enumerate() {
            let Locator::Slot(slot) = *loc else {
                return (Vec::new(), false, 0);
            };
            // A label of the finding named like the group-by field wins: a
            // schema rule's labels are already mapped to the event's source.
            let label = corr
                .group_names
                .get(i)
                .and_then(|g| finding.labels.iter().find(|(n, _)| n == g));
            let texts = match label {
                Some((_, v)) => vec![bounded(v)],
                None => distinct(
                    values
                        .values(slot)
                        .iter()
                        .filter_map(|(_, v)| group_text(v)),
                ),
            };
            if texts.is_empty() {
                return (Vec::new(), true, 0);
            }
            groups.push(texts);
        }
        let mut cut = 0;
        let samples: Vec<Sample> = if !corr.kind.needs_field() {
            vec![Sample::None]
        } else if corr.kind.numeric() {
            let Some(Locator::Slot(slot)) = position.value.first().copied() else {
                return (Vec::new(), false, 0);
            };
            let mut nums: Vec<f64> = values
                .values(slot)
                .iter()
                .filter_map(|(_, v)| v.number())
                .filter(|n| n.is_finite())
                .collect();
            nums.sort_by(f64::total_cmp);
            nums.into_iter().map(Sample::Num).collect()
        } else {
            let mut fields = Vec::with_capacity(position.value.len());
            for loc in &position.value {
                let Locator::Slot(slot) = *loc else {
                    return (Vec::new(), false, 0);
                };
                fields.push(distinct(
                    values
                        .values(slot)
                        .iter()
                        .filter_map(|(_, v)| count_text(v)),
                ));
            }
            let (tuples, n) = product(&fields);
            cut += n;
            tuples
                .into_iter()
                .map(|t| Sample::Text(bounded(&t.join("\u{1f}"))))
                .collect()
        };
        let (combos, n) = product(&groups);
        cut += n;
        let mut hits = Vec::new();
        let mut key = Vec::new();
        for combo in &combos {
            for sample in &samples {
                if hits.len() == MAX_FANOUT {
                    cut += 1;
                    continue;
                }
                key::encode(c, combo, &mut key);
                hits.push(Hit {
                    ts: 0,
                    id: id.clone(),
                    key: key.as_slice().into(),
                    pos,
                    sample: sample.clone(),
                    cols: cols.clone(),
                });
            }
        }
        (hits, false, cut)
    }

    /// Holds `hit` until the watermark passes it.
    fn wait(&mut self, hit: Hit, out: &mut Vec<Alert>) {
        if hit.ts < self.frontier {
            self.stats.late_events += 1;
            if let Some(n) = self.late.get_mut(key::corr_of(&hit.key) as usize) {
                *n += 1;
            }
            let lag = self.now().unwrap_or(self.frontier).saturating_sub(hit.ts);
            self.stats.max_late_lag_ms = self.stats.max_late_lag_ms.max(lag.max(0) as u64);
            return;
        }
        self.pending_bytes += hit.bytes();
        self.pending_len += 1;
        self.pending.entry(hit.ts).or_default().push(hit);
        while self.pending_len > self.limits.max_groups
            || self.pending_bytes > self.limits.max_bytes / 4
        {
            let Some(mut bucket) = self.pending.first_entry() else {
                break;
            };
            let oldest = *bucket.key();
            let before = self.pending_len;
            if bucket.get().len() <= FORCED_CHUNK {
                self.commit(oldest.saturating_add(1), out);
            } else {
                // One time holds more than a chunk (a flood of untimed
                // events all take the stream's time): commit a chunk of it
                // and leave the rest waiting, so that one event never pays
                // for committing the whole room. Which of one time's
                // matches go first then depends on arrival; over the cap
                // the outcome already does.
                let hits = bucket.get_mut();
                let first = hits.split_off(hits.len() - FORCED_CHUNK);
                self.frontier = self.frontier.max(oldest);
                self.commit_bucket(oldest, first, out);
            }
            self.stats.forced_commits += (before - self.pending_len) as u64;
        }
    }

    /// Commits, in order, every waiting match older than `upto`, and closes
    /// the windows that can no longer change.
    fn commit(&mut self, upto: i64, out: &mut Vec<Alert>) {
        if upto <= self.frontier {
            return;
        }
        while let Some(bucket) = self.pending.first_entry() {
            if *bucket.key() >= upto {
                break;
            }
            let ts = *bucket.key();
            let hits = bucket.remove();
            self.commit_bucket(ts, hits, out);
        }
        self.frontier = upto;
        self.expire(upto, out);
    }

    /// Commits the waiting matches `hits` of time `ts` (taken out of
    /// `pending`), in order, after closing the windows that end before it.
    fn commit_bucket(&mut self, ts: i64, mut hits: Vec<Hit>, out: &mut Vec<Alert>) {
        // Windows that end before this time can no longer change: close
        // them now, so that committing a long wait (`flush` after
        // `LATENESS_END`) holds no more groups than a stream would.
        self.expire(ts, out);
        // Within one time, in an order that does not depend on arrival;
        // a re-delivered event's hits sort next to the first delivery's.
        hits.sort_unstable();
        let (mut dup, mut dup_bytes) = (0, 0);
        hits.dedup_by(|later, first| {
            // Events without an id cannot be told apart: both count.
            let same = later.id.is_some() && later == first;
            if same {
                dup += 1;
                dup_bytes += later.bytes();
            }
            same
        });
        self.pending_len -= dup;
        self.pending_bytes -= dup_bytes;
        self.stats.duplicate_events += dup as u64;
        for hit in hits {
            self.pending_len -= 1;
            self.pending_bytes -= hit.bytes();
            let work = Work {
                key: hit.key.into_vec(),
                pos: hit.pos,
                ts: hit.ts,
                ids: hit.id.into_iter().collect(),
                sample: hit.sample,
                cols: hit.cols,
                event: true,
            };
            self.apply_work(work, out);
        }
    }

    /// Closes the windows the watermark has passed; aggregate windows emit
    /// their record.
    fn expire(&mut self, frontier: i64, out: &mut Vec<Alert>) {
        let mut closed = Vec::new();
        self.store.expire(frontier, &mut |key, window| {
            if let Some(acc) = &window.agg {
                closed.push((key.to_vec(), acc.clone()));
            }
        });
        for (key, acc) in closed {
            self.close_aggregate(&key, &acc, out);
        }
    }

    /// Emits the record of an aggregate window if its condition holds.
    fn close_aggregate(&mut self, key: &[u8], acc: &state::Accum, out: &mut Vec<Alert>) {
        let c = key::corr_of(key);
        let corr = &self.plan.corrs[c as usize];
        let value = acc.count as f64;
        if !corr.condition.holds(value) {
            return;
        }
        let names: Vec<&str> = corr
            .aggregate
            .iter()
            .map(|(col, _)| col.name.as_str())
            .collect();
        let alert = Alert {
            rule: corr.rule,
            group: group_labels(corr, key),
            window_start_ms: acc.start,
            window_end_ms: acc.last,
            events: acc.ids.iter().map(|i| i.to_string()).collect(),
            value,
            labels: acc.render(&names),
        };
        let mut chained = VecDeque::new();
        for &(p, ppos) in &self.plan.corr_feeds[c as usize] {
            chained.push_back(self.chained(&alert, p, ppos));
        }
        if self.plan.emits[corr.rule as usize] {
            self.stats.alerts += 1;
            out.push(alert);
        }
        for w in chained {
            self.apply_work(w, out);
        }
    }

    /// Adds one match to its window, fires the correlation if its condition
    /// holds, and passes the alert on to the correlations that reference it.
    fn apply_work(&mut self, first: Work, out: &mut Vec<Alert>) {
        let mut work = VecDeque::from([first]);
        let budget = self.limits.max_bytes / 4 * 3;
        while let Some(w) = work.pop_front() {
            let c = key::corr_of(&w.key);
            let corr = &self.plan.corrs[c as usize];
            let slot = match self.store.find(&w.key) {
                Some(s) => s,
                None => {
                    while self.store.len() >= self.limits.max_groups || self.store.bytes() > budget
                    {
                        if !self.store.evict_oldest(None) {
                            break;
                        }
                        self.stats.evicted_groups += 1;
                    }
                    self.store.insert(&w.key)
                }
            };
            if !corr.aggregate.is_empty() {
                self.aggregate(slot, w, out);
                continue;
            }
            let window = self.store.window_mut(slot);
            window.evict_before(w.ts.saturating_sub(corr.timespan_ms));
            let entry = Entry {
                ts: w.ts,
                pos: w.pos,
                ids: w.ids,
                sample: w.sample,
            };
            if w.event && !entry.ids.is_empty() && window.holds(&entry) {
                // Delivered again after the first delivery was committed.
                self.stats.duplicate_events += 1;
                self.store.update(slot, corr.timespan_ms);
                continue;
            }
            self.stats.dropped_entries += window.push(entry, self.limits.max_events_per_group);
            let value = window
                .measure(corr.kind, corr.positions.len())
                .filter(|v| corr.condition.holds(*v));
            let Some(value) = value else {
                self.store.update(slot, corr.timespan_ms);
                while self.store.bytes() > budget {
                    if !self.store.evict_oldest(Some(slot)) {
                        break;
                    }
                    self.stats.evicted_groups += 1;
                }
                continue;
            };
            let window = &self.store.group(slot).window;
            let alert = Alert {
                rule: corr.rule,
                group: group_labels(corr, &w.key),
                window_start_ms: window.first_ts().unwrap_or(w.ts),
                window_end_ms: w.ts,
                events: window.event_ids(self.limits.max_events_per_group),
                value,
                labels: Vec::new(),
            };
            self.store.remove(slot);
            for &(p, ppos) in &self.plan.corr_feeds[c as usize] {
                work.push_back(self.chained(&alert, p, ppos));
            }
            if self.plan.emits[corr.rule as usize] {
                self.stats.alerts += 1;
                out.push(alert);
            }
        }
    }

    /// Adds a match to an aggregate window: a match past the window's end
    /// closes it (emitting its record) and opens the next.
    fn aggregate(&mut self, slot: u32, w: Work, out: &mut Vec<Alert>) {
        let c = key::corr_of(&w.key);
        let corr = &self.plan.corrs[c as usize];
        let timespan = corr.timespan_ms;
        let funcs: Vec<crate::rules::correlation::AggFn> =
            corr.aggregate.iter().map(|(col, _)| col.func).collect();
        let cap = self.limits.max_events_per_group;
        let window = self.store.window_mut(slot);
        let ended = window
            .agg
            .as_ref()
            .is_some_and(|a| w.ts > a.start.saturating_add(timespan));
        let done = if ended { window.agg.take() } else { None };
        let acc = window
            .agg
            .get_or_insert_with(|| Box::new(state::Accum::new(w.ts, &funcs)));
        acc.add(w.ts, w.ids, &w.cols, cap);
        self.store.update(slot, timespan);
        if let Some(done) = done {
            self.close_aggregate(&w.key, &done, out);
        }
        let budget = self.limits.max_bytes / 4 * 3;
        while self.store.bytes() > budget {
            if !self.store.evict_oldest(Some(slot)) {
                break;
            }
            self.stats.evicted_groups += 1;
        }
    }

    /// The match an alert makes for position `pos` of correlation `parent`.
    fn chained(&self, alert: &Alert, parent: u32, pos: u16) -> Work {
        let corr = &self.plan.corrs[parent as usize];
        let position = &corr.positions[pos as usize];
        let pick = |loc: &Locator| match *loc {
            Locator::Group(i) => alert.group.get(i).map_or("", |(_, v)| v.as_str()),
            _ => "",
        };
        let values: Vec<&str> = position.group.iter().map(pick).collect();
        let mut key = Vec::new();
        key::encode(parent, &values, &mut key);
        let sample = if !corr.kind.needs_field() {
            Sample::None
        } else if corr.kind.numeric() {
            Sample::Num(alert.value)
        } else {
            let parts: Vec<&str> = position.value.iter().map(pick).collect();
            Sample::Text(bounded(&parts.join("\u{1f}")))
        };
        Work {
            key,
            pos,
            ts: alert.window_end_ms,
            ids: alert.events.iter().map(|e| e.as_str().into()).collect(),
            sample,
            cols: corr.aggregate.iter().map(|_| None).collect(),
            event: false,
        }
    }

    /// Commits every match older than `watermark`: the host says no older event will come.
    pub fn advance(&mut self, watermark: i64, out: &mut Vec<Alert>) {
        self.commit(watermark, out);
    }

    /// Commits every waiting match, then closes every window and forgets the
    /// stream's time: the next event starts a new stream.
    pub fn flush(&mut self, out: &mut Vec<Alert>) {
        self.commit(i64::MAX, out);
        self.store.clear();
        self.pending.clear();
        self.pending_len = 0;
        self.pending_bytes = 0;
        self.high = None;
        self.frontier = i64::MIN;
    }
}

/// A group-by value as text: strings as they are, numbers and booleans as
/// JSON writes them; null, objects and arrays are no value.
fn group_text(v: &Val<'_>) -> Option<Box<str>> {
    match v {
        Val::Str(s) => Some(bounded(s)),
        Val::Num(n) => Some(format_number(*n).into()),
        Val::Bool(b) => Some(if *b { "true" } else { "false" }.into()),
        Val::Null | Val::Compound => None,
    }
}

/// A `value_count` value as text: as a group value, and null as `null`.
fn count_text(v: &Val<'_>) -> Option<Box<str>> {
    match v {
        Val::Null => Some("null".into()),
        v => group_text(v),
    }
}

/// The distinct values, sorted.
fn distinct(values: impl Iterator<Item = Box<str>>) -> Vec<Box<str>> {
    let mut v: Vec<Box<str>> = values.collect();
    v.sort();
    v.dedup();
    v
}

/// Every combination taking one value per field, in lexicographic order, at
/// most [`MAX_FANOUT`]; also how many were left out. No field may be empty
/// (then there is no combination).
fn product(fields: &[Vec<Box<str>>]) -> (Vec<Vec<&str>>, u64) {
    if fields.iter().any(Vec::is_empty) {
        return (Vec::new(), 0);
    }
    let total = fields.iter().fold(1usize, |n, f| n.saturating_mul(f.len()));
    let mut out = Vec::with_capacity(total.min(MAX_FANOUT));
    let mut at = vec![0usize; fields.len()];
    loop {
        out.push(fields.iter().zip(&at).map(|(f, &i)| &*f[i]).collect());
        if out.len() == MAX_FANOUT {
            break;
        }
        // Advance the odometer from the last field.
        let mut k = fields.len();
        loop {
            if k == 0 {
                return (out, 0);
            }
            k -= 1;
            at[k] += 1;
            if at[k] < fields[k].len() {
                break;
            }
            at[k] = 0;
        }
    }
    (out, (total - MAX_FANOUT) as u64)
}

/// An alert's group: the group-by names with the values of the group key.
fn group_labels(corr: &link::Corr, key: &[u8]) -> Vec<(String, String)> {
    corr.group_names
        .iter()
        .cloned()
        .zip(key::values(key).into_iter().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests;
