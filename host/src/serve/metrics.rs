//! What `GET /metrics` says, in the OpenMetrics text format Prometheus
//! scrapes; names follow its conventions (`sigil_` prefix, `_total` on
//! counters, base units).

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use sigil_engine::CorrelationStats;

use super::worker::Evaluated;

/// How a batch request ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum Outcome {
    /// Evaluated and delivered (answered, or accepted downstream).
    delivered,
    /// 429: over the in-flight bytes.
    busy,
    /// 413: over the request size.
    too_large,
    /// 400: not gzip as it said, or a document that does not split.
    bad_request,
    /// 503: the downstream refused or did not answer.
    downstream_failed,
    /// 503: shutting down.
    shutting_down,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct BatchLabels {
    pub outcome: Outcome,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct ReloadLabels {
    pub result: ReloadResult,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub(crate) enum ReloadResult {
    ok,
    failed,
}

/// Every metric of the service.
pub(crate) struct Metrics {
    pub registry: Registry,
    events_in: Counter,
    events_out: Counter,
    events_matched: Counter,
    events_errors: Counter,
    events_warned: Counter,
    alerts: Counter,
    input_bytes: Counter,
    pub batches: Family<BatchLabels, Counter>,
    pub reloads: Family<ReloadLabels, Counter>,
    /// Retries of a batch that was evaluated but not delivered, answered
    /// from the kept output instead of evaluated again.
    pub retries_replayed: Counter,
    /// TCP lines longer than the request limit, cut there.
    pub tcp_lines_cut: Counter,
    /// TCP connections open now.
    pub tcp_connections: Gauge,
    /// Times the TCP listener paused accepting because
    /// `max_tcp_connections` were open.
    pub tcp_accept_waits: Counter,
    plugin_restarts: Counter<u64, AtomicU64>,
    correlation_resets: Counter<u64, AtomicU64>,
    batch_seconds: Histogram,
    pub forward_seconds: Histogram,
    pub inflight_bytes: Gauge,
    pub rules: Gauge,
    correlation_groups: Gauge,
    correlation_pending: Gauge,
    correlation_late: Gauge,
    correlation_untimed: Gauge,
    correlation_evicted: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let m = Metrics {
            events_in: Counter::default(),
            events_out: Counter::default(),
            events_matched: Counter::default(),
            events_errors: Counter::default(),
            events_warned: Counter::default(),
            alerts: Counter::default(),
            input_bytes: Counter::default(),
            batches: Family::default(),
            reloads: Family::default(),
            retries_replayed: Counter::default(),
            tcp_lines_cut: Counter::default(),
            tcp_connections: Gauge::default(),
            tcp_accept_waits: Counter::default(),
            plugin_restarts: Counter::default(),
            correlation_resets: Counter::default(),
            // 1 ms to ~16 s.
            batch_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            forward_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
            inflight_bytes: Gauge::default(),
            rules: Gauge::default(),
            correlation_groups: Gauge::default(),
            correlation_pending: Gauge::default(),
            correlation_late: Gauge::default(),
            correlation_untimed: Gauge::default(),
            correlation_evicted: Gauge::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register("sigil_events_in", "Events read", m.events_in.clone());
        r.register(
            "sigil_events_out",
            "Event lines written",
            m.events_out.clone(),
        );
        r.register(
            "sigil_events_matched",
            "Events with at least one finding",
            m.events_matched.clone(),
        );
        r.register(
            "sigil_events_errors",
            "Events written with an error instead of a verdict",
            m.events_errors.clone(),
        );
        r.register(
            "sigil_events_warned",
            "Events evaluated on what could be read, with warnings",
            m.events_warned.clone(),
        );
        r.register(
            "sigil_alerts",
            "Correlation alerts written",
            m.alerts.clone(),
        );
        r.register_with_unit(
            "sigil_input",
            "Decoded request bytes evaluated",
            Unit::Bytes,
            m.input_bytes.clone(),
        );
        r.register(
            "sigil_batches",
            "Batch requests by outcome",
            m.batches.clone(),
        );
        r.register(
            "sigil_reloads",
            "Rule pack reloads by result",
            m.reloads.clone(),
        );
        r.register(
            "sigil_retries_replayed",
            "Retried batches answered from their kept output, not evaluated again",
            m.retries_replayed.clone(),
        );
        r.register(
            "sigil_tcp_lines_cut",
            "TCP lines longer than --max-request-bytes, cut there (the head evaluated, the rest skipped)",
            m.tcp_lines_cut.clone(),
        );
        r.register(
            "sigil_tcp_connections",
            "TCP connections open",
            m.tcp_connections.clone(),
        );
        r.register(
            "sigil_tcp_accept_waits",
            "Times the TCP listener paused accepting (senders wait in the listen queue) because --max-tcp-connections were open",
            m.tcp_accept_waits.clone(),
        );
        r.register(
            "sigil_plugin_restarts",
            "Plugin instances replaced after a trap, timeout or bad answer",
            m.plugin_restarts.clone(),
        );
        r.register(
            "sigil_correlation_resets",
            "Plugin restarts that lost correlation windows",
            m.correlation_resets.clone(),
        );
        r.register_with_unit(
            "sigil_batch_duration",
            "Time to evaluate one batch",
            Unit::Seconds,
            m.batch_seconds.clone(),
        );
        r.register_with_unit(
            "sigil_forward_duration",
            "Time the downstream took to accept one batch",
            Unit::Seconds,
            m.forward_seconds.clone(),
        );
        r.register_with_unit(
            "sigil_inflight",
            "Decoded bytes of batches accepted and not yet answered",
            Unit::Bytes,
            m.inflight_bytes.clone(),
        );
        r.register(
            "sigil_rules",
            "Rules loaded (detection and correlation)",
            m.rules.clone(),
        );
        r.register(
            "sigil_correlation_groups",
            "Correlation groups open",
            m.correlation_groups.clone(),
        );
        r.register(
            "sigil_correlation_pending",
            "Matches waiting for the watermark",
            m.correlation_pending.clone(),
        );
        r.register(
            "sigil_correlation_late_events",
            "Matches that arrived too late to correlate (since the pack loaded)",
            m.correlation_late.clone(),
        );
        r.register(
            "sigil_correlation_untimed_events",
            "Matches without a time to place them (since the pack loaded)",
            m.correlation_untimed.clone(),
        );
        r.register(
            "sigil_correlation_evicted_groups",
            "Groups evicted by the state limits (since the pack loaded)",
            m.correlation_evicted.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Counts one evaluated batch.
    pub fn evaluated(&self, e: &Evaluated, input_bytes: usize) {
        let c = &e.counters;
        self.events_in.inc_by(c.events_in);
        self.events_out.inc_by(c.events_out);
        self.events_matched.inc_by(c.matched);
        self.events_errors.inc_by(c.errors);
        self.events_warned.inc_by(c.warned);
        self.alerts.inc_by(c.alerts);
        self.input_bytes.inc_by(input_bytes as u64);
        self.plugin_restarts.inc_by(c.plugin_restarts);
        self.correlation_resets.inc_by(c.correlation_resets);
        self.batch_seconds.observe(e.took.as_secs_f64());
        self.correlation(&e.correlation);
    }

    fn correlation(&self, s: &CorrelationStats) {
        let g = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.correlation_groups.set(g(s.open_groups));
        self.correlation_pending.set(g(s.pending));
        self.correlation_late.set(g(s.late_events));
        self.correlation_untimed.set(g(s.untimed_events));
        self.correlation_evicted.set(g(s.evicted_groups));
    }

    /// The text a scrape gets.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}
