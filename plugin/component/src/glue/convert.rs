//! WIT records ↔ engine values, one-to-one, for the `sigil:engine/plugin`
//! world's exports.
//!
//! A child of the module that runs `wit_bindgen::generate!` (it names the
//! generated types through `super`), so it is written once and included by
//! both guests that export the world: `plugin/component` and, by
//! `#[path]`, the test-only `tests/plugins/hostile`, which must convert
//! exactly as the real plugin does so that only its attacks differ.

use super::exports::sigil::engine::detector::{BatchAlert, BatchEntry, Observations};
use super::exports::sigil::engine::types as wit;

/// A block's entries, each verdict converted by `verdict` (the real plugin
/// passes [`verdict`]; the hostile one corrupts its result).
pub(super) fn entries(
    out: Vec<sigil_engine::BatchEntry>,
    verdict: impl Fn(sigil_engine::Verdict) -> wit::Verdict,
) -> Vec<BatchEntry> {
    out.into_iter()
        .map(|e| BatchEntry {
            index: e.index,
            outcome: e.outcome.map(&verdict).map_err(event_error),
        })
        .collect()
}

/// Alerts with the index of the event (or observation) after which each
/// came out.
pub(super) fn batch_alerts(alerts: Vec<sigil_engine::BatchAlert>) -> Vec<BatchAlert> {
    alerts
        .into_iter()
        .map(|a| BatchAlert {
            index: a.index,
            alert: alert(a.alert),
        })
        .collect()
}

pub(super) fn correlation_stats(s: sigil_engine::CorrelationStats) -> wit::CorrelationStats {
    wit::CorrelationStats {
        correlations: s.correlations,
        open_groups: s.open_groups,
        pending: s.pending,
        bytes: s.bytes,
        alerts: s.alerts,
        late_events: s.late_events,
        late_by_rule: s.late_by_rule,
        max_late_lag_ms: s.max_late_lag_ms,
        duplicate_events: s.duplicate_events,
        untimed_events: s.untimed_events,
        ungrouped_events: s.ungrouped_events,
        evicted_groups: s.evicted_groups,
        dropped_entries: s.dropped_entries,
        forced_commits: s.forced_commits,
        fanout_truncated: s.fanout_truncated,
        alerts_dropped: s.alerts_dropped,
    }
}

pub(super) fn unrecognised(u: sigil_engine::Unrecognised) -> wit::Unrecognised {
    let s = u.schema;
    wit::Unrecognised {
        schema: wit::SchemaUse {
            schema: s.schema.name().to_string(),
            markers: s.markers,
            time: s.time,
            raw: s
                .raw
                .into_iter()
                .map(|(source, time)| (source.name().to_string(), time))
                .collect(),
            rules: s.rules,
        },
        missed: u.missed,
        near: u.near,
    }
}

/// The observations of a block as they cross the boundary: every one's
/// bytes in one list, so the host copies one buffer per block, not one per
/// event.
pub(super) fn encode_observations(observed: &[(u32, sigil_engine::Observation)]) -> Observations {
    let mut events = Vec::with_capacity(observed.len());
    let mut bytes = Vec::new();
    for (index, obs) in observed {
        events.push(*index);
        obs.encode(&mut bytes);
    }
    Observations { events, bytes }
}

/// Reads every observation before any is applied, so bytes out of the
/// format change nothing.
pub(super) fn decode_observations(
    o: &Observations,
) -> Result<Vec<(u32, sigil_engine::Observation)>, wit::ObservationError> {
    let mut decoded = Vec::with_capacity(o.events.len().min(o.bytes.len()));
    let mut rest = &o.bytes[..];
    for &index in &o.events {
        let (obs, used) = sigil_engine::Observation::decode(rest).map_err(|e| match e {
            // The offset in the whole list, not in this observation.
            sigil_engine::ObservationError::Malformed { at, what } => {
                wit::ObservationError::Malformed(format!(
                    "malformed observation at byte {}: {what}",
                    o.bytes.len() - rest.len() + at
                ))
            }
            e => observation_error(e),
        })?;
        rest = rest.get(used..).unwrap_or_default();
        decoded.push((index, obs));
    }
    if !rest.is_empty() {
        return Err(wit::ObservationError::Malformed(format!(
            "{} bytes after the last of the {} observations named",
            rest.len(),
            o.events.len()
        )));
    }
    Ok(decoded)
}

pub(super) fn observation_error(e: sigil_engine::ObservationError) -> wit::ObservationError {
    use sigil_engine::ObservationError as E;
    match e {
        E::Version(v) => wit::ObservationError::Version(v),
        E::Truncated => wit::ObservationError::Truncated,
        E::Malformed { .. } => wit::ObservationError::Malformed(e.to_string()),
        E::OtherPack => wit::ObservationError::OtherPack,
        other => wit::ObservationError::Other(other.to_string()),
    }
}

pub(super) fn alert(a: sigil_engine::Alert) -> wit::Alert {
    wit::Alert {
        rule: a.rule,
        group: a.group,
        window_start_ms: a.window_start_ms,
        window_end_ms: a.window_end_ms,
        events: a.events,
        value: a.value,
        labels: a.labels,
    }
}

pub(super) fn options_from(o: wit::Options) -> sigil_engine::Options {
    sigil_engine::Options {
        min_score: o.min_score,
        matched_only: o.matched_only,
        skip_invalid: o.skip_invalid,
        max_event_bytes: o.max_event_bytes,
        max_depth: o.max_depth,
        max_rules: o.max_rules,
        max_regex_bytes: o.max_regex_bytes,
        placeholders: o.placeholders,
        correlation_lateness_ms: o.correlation_lateness_ms,
        max_groups: o.max_groups,
        max_events_per_group: o.max_events_per_group,
        max_correlation_bytes: o.max_correlation_bytes,
    }
}

fn level(l: sigil_engine::Level) -> wit::Level {
    match l {
        sigil_engine::Level::Informational => wit::Level::Informational,
        sigil_engine::Level::Low => wit::Level::Low,
        sigil_engine::Level::Medium => wit::Level::Medium,
        sigil_engine::Level::High => wit::Level::High,
        sigil_engine::Level::Critical => wit::Level::Critical,
    }
}

pub(super) fn rule_info(r: &sigil_engine::RuleInfo) -> wit::RuleInfo {
    wit::RuleInfo {
        id: r.id.clone(),
        title: r.title.clone(),
        level: level(r.level),
        score: r.score,
        tags: r.tags.clone(),
        source: r.source.clone(),
        line: r.line,
    }
}

pub(super) fn rule_error(e: sigil_engine::RuleError) -> wit::RuleError {
    wit::RuleError {
        source: e.source,
        line: e.line,
        rule_id: e.rule_id,
        reason: e.reason,
    }
}

pub(super) fn load_error(e: sigil_engine::LoadError) -> wit::LoadError {
    match e {
        sigil_engine::LoadError::InvalidRule(r) => wit::LoadError::InvalidRule(rule_error(r)),
        sigil_engine::LoadError::EmptyPack { skipped } => {
            wit::LoadError::EmptyPack(skipped.into_iter().map(rule_error).collect())
        }
        sigil_engine::LoadError::TooManyRules { limit } => wit::LoadError::TooManyRules(limit),
        other => wit::LoadError::Other(other.to_string()),
    }
}

pub(super) fn event_error(e: sigil_engine::EventError) -> wit::EventError {
    match e {
        sigil_engine::EventError::InvalidJson(s) => wit::EventError::InvalidJson(s),
        sigil_engine::EventError::InvalidUtf8 => wit::EventError::InvalidUtf8,
        sigil_engine::EventError::TooLarge(n) => wit::EventError::TooLarge(n),
        sigil_engine::EventError::TooDeep => wit::EventError::TooDeep,
        other => wit::EventError::Other(other.to_string()),
    }
}

pub(super) fn verdict(v: sigil_engine::Verdict) -> wit::Verdict {
    wit::Verdict {
        keep: v.keep,
        score: v.score,
        level: v.level.map(level),
        findings: v
            .findings
            .into_iter()
            .map(|f| wit::Finding {
                rule: f.rule,
                score: f.score,
                labels: f.labels,
            })
            .collect(),
        source: v.source.map(source),
        warnings: v.warnings.into_iter().map(warning).collect(),
    }
}

fn warning(w: sigil_engine::EventWarning) -> wit::EventWarning {
    use sigil_engine::EventWarning as W;
    match w {
        W::InvalidUtf8 => wit::EventWarning::InvalidUtf8,
        W::ControlCharacters => wit::EventWarning::ControlCharacters,
        W::LoneSurrogate => wit::EventWarning::LoneSurrogate,
        W::InvalidEscape => wit::EventWarning::InvalidEscape,
        W::Truncated { bytes } => wit::EventWarning::Truncated(bytes),
        W::TooDeep => wit::EventWarning::TooDeep,
        W::DuplicateKey(key) => wit::EventWarning::DuplicateKey(key),
        other => wit::EventWarning::Other(other.to_string()),
    }
}

fn source(s: sigil_engine::Source) -> wit::Source {
    match s {
        sigil_engine::Source::AwsCloudTrail => wit::Source::AwsCloudtrail,
        sigil_engine::Source::AzureActivity => wit::Source::AzureActivity,
        sigil_engine::Source::AzureActivityRest => wit::Source::AzureActivityRest,
        sigil_engine::Source::Azure => wit::Source::Azure,
        sigil_engine::Source::GcpAudit => wit::Source::GcpAudit,
        sigil_engine::Source::M365 => wit::Source::M365Management,
        sigil_engine::Source::SentinelAwsCloudTrail => wit::Source::SentinelAwsCloudtrail,
        sigil_engine::Source::SentinelAzureActivity => wit::Source::SentinelAzureActivity,
        sigil_engine::Source::QRadar => wit::Source::Qradar,
        sigil_engine::Source::Falcon => wit::Source::Falcon,
        sigil_engine::Source::Sumo => wit::Source::Sumo,
    }
}
