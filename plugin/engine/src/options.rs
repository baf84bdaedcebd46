//! Load-time options and limits.

/// What the host asks of an engine. Every field has a safe default.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Events scoring below this get `keep = false`. Default 0.
    pub min_score: u8,
    /// Events without findings get `keep = false`. Default false.
    pub matched_only: bool,
    /// Skip invalid rules (and list them) instead of failing the load. Default false.
    pub skip_invalid: bool,
    /// Largest event evaluated as it came, in bytes. Default 1 MiB:
    /// CloudTrail's largest records are a few hundred KiB. A bigger event is
    /// not refused (padding would then hide it from every rule): it is
    /// evaluated on a copy cut under this size (long strings to their head
    /// and tail, then the members past the limit), with
    /// `EventWarning::Truncated`, so one event cannot stall the stream.
    pub max_event_bytes: u32,
    /// Deepest JSON nesting evaluated. Default 64: enough for every cloud
    /// audit schema, and it bounds the parser's stack against crafted input.
    /// Values deeper are read as `null` (`EventWarning::TooDeep`). Read as
    /// at most 127, the JSON reader's own limit.
    pub max_depth: u32,
    /// Largest number of rules a pack may hold. Default 10 000; bounds load
    /// time and memory for a pack from an untrusted source.
    pub max_rules: u32,
    /// Largest compiled size of one `|re` pattern, in bytes. Default 1 MiB;
    /// stops a hostile rule from exhausting memory at load time.
    pub max_regex_bytes: u32,
    /// Values for `|expand` placeholders: `("admins", ["alice", "bob"])`
    /// turns `%admins%` into each name. A rule using a placeholder that has
    /// no values here is rejected. Default: none.
    pub placeholders: Vec<(String, Vec<String>)>,
    /// How far behind the newest event time an event may arrive and still
    /// correlate, in milliseconds, or [`Options::LATENESS_END`]: every match
    /// waits for [`Engine::flush`](crate::Engine::flush) (the end of the
    /// input), so any arrival order gives the alerts of the time-sorted
    /// stream. Default 900 000 (15 minutes), fitted to the delivery delays
    /// of the cloud audit logs: AWS documented CloudTrail delivery "within
    /// 15 minutes" of the call (now "an average of about 5 minutes ... not
    /// guaranteed", in files about every 5 minutes that are not ordered
    /// across each other), and Azure Monitor documents 10 to 15 minutes for
    /// the Activity Log's legacy integration. Only matches wait, so memory
    /// stays small; the price is latency: an alert comes out once an event
    /// this much newer than the one completing it arrives (or at
    /// `Engine::advance` / `Engine::flush`). A match behind that is *late*,
    /// left out and counted per rule in
    /// [`CorrelationStats::late_by_rule`](crate::CorrelationStats). See the
    /// `correlation` module docs.
    pub correlation_lateness_ms: u32,
    /// Most correlation groups (distinct group-by values over all correlation
    /// rules) open at once, and most matches waiting for the watermark.
    /// Default 100 000. Past it the group closest to expiring is evicted (and
    /// counted): events crafted to open endless groups cannot exhaust memory.
    pub max_groups: u32,
    /// Most matches (and event ids) kept per correlation group. Default 64;
    /// past it the oldest match of the busiest rule is dropped (and counted).
    /// Bounds a group's memory and an alert's size.
    pub max_events_per_group: u32,
    /// Bytes of correlation state, all groups and waiting matches together.
    /// Default 64 MiB, a quarter of the host's default plugin memory. Past
    /// it the oldest groups are evicted (and counted).
    pub max_correlation_bytes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_score: 0,
            matched_only: false,
            skip_invalid: false,
            max_event_bytes: 1 << 20,
            max_depth: 64,
            max_rules: 10_000,
            max_regex_bytes: 1 << 20,
            placeholders: Vec::new(),
            correlation_lateness_ms: 15 * 60_000,
            max_groups: 100_000,
            max_events_per_group: 64,
            max_correlation_bytes: 64 << 20,
        }
    }
}

impl Options {
    /// The [`Options::correlation_lateness_ms`] that means "until the end of
    /// the input": matches wait for `Engine::flush` (or `Engine::advance`),
    /// bounded only by the waiting room (`max_groups` matches, a quarter of
    /// `max_correlation_bytes`; over it the oldest are committed early and
    /// counted in `CorrelationStats::forced_commits`). For finite inputs
    /// (files, query results), whose order may be anything.
    pub const LATENESS_END: u32 = u32::MAX;

    /// Whether a verdict with these findings and this score is forwarded.
    pub fn keeps(&self, matched: bool, score: u8) -> bool {
        (matched || !self.matched_only) && score >= self.min_score
    }
}
