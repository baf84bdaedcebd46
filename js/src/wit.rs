//! The engine's types as the JavaScript values of the WIT records
//! (`wit/types.wit`), written as JSON that the package's JavaScript parses.
//!
//! The shapes are jco's, so that code written against the component
//! transpiled with `jco` reads the same fields here: record fields in
//! camelCase (`window-start-ms` is `windowStartMs`), enum cases as their
//! kebab-case strings (`"aws-cloudtrail"`), variants as `{tag, val}`,
//! `result` inside a record as `{tag: "ok" | "err", val}`, an absent
//! `option` as a missing member, `list<tuple<string, string>>` as arrays
//! of pairs. One difference, said in `index.d.ts`: 64-bit integers
//! (`timestamp-ms`, the counters) are numbers, not `BigInt`s; milliseconds
//! since 1970 and counts stay exact far beyond any log's range.
//!
//! JSON rather than objects built through `js-sys`: one string crosses the
//! boundary per call, `JSON.parse` builds the objects faster than
//! property-by-property calls would, and the glue stays small.

use serde::Deserialize;
use serde_json::{Value, json};
use sigil_engine::{
    Alert, BatchAlert, BatchEntry, CorrelationStats, EventError, EventWarning, Level, LoadError,
    Options, RuleError, RuleInfo, Source, Verdict,
};

/// The WIT `level` enum case.
pub fn level(l: Level) -> &'static str {
    l.as_str()
}

/// The WIT `source` enum case (the verdict's `source`; the CLI's JSON
/// writes `Source::name`, `aws.cloudtrail`, instead).
pub fn source(s: Source) -> &'static str {
    match s {
        Source::AwsCloudTrail => "aws-cloudtrail",
        Source::AzureActivity => "azure-activity",
        Source::AzureActivityRest => "azure-activity-rest",
        Source::Azure => "azure",
        Source::GcpAudit => "gcp-audit",
        Source::M365 => "m365-management",
        Source::SentinelAwsCloudTrail => "sentinel-aws-cloudtrail",
        Source::SentinelAzureActivity => "sentinel-azure-activity",
        Source::QRadar => "qradar",
        Source::Falcon => "falcon",
        Source::Sumo => "sumo",
    }
}

fn pairs(p: &[(String, String)]) -> Value {
    Value::Array(p.iter().map(|(k, v)| json!([k, v])).collect())
}

/// A WIT `rule-info`.
pub fn rule_info(r: &RuleInfo) -> Value {
    json!({
        "id": r.id, "title": r.title, "level": level(r.level), "score": r.score,
        "tags": r.tags, "source": r.source, "line": r.line,
    })
}

/// A WIT `rule-error`.
pub fn rule_error(e: &RuleError) -> Value {
    let mut v = json!({"source": e.source, "line": e.line, "reason": e.reason});
    if let Some(id) = &e.rule_id {
        v["ruleId"] = json!(id);
    }
    v
}

/// A WIT `load-error`, with `message`: the engine's sentence for it.
pub fn load_error(e: &LoadError) -> Value {
    let (tag, val) = match e {
        LoadError::InvalidRule(r) => ("invalid-rule", rule_error(r)),
        LoadError::EmptyPack { skipped } => (
            "empty-pack",
            Value::Array(skipped.iter().map(rule_error).collect()),
        ),
        LoadError::TooManyRules { limit } => ("too-many-rules", json!(limit)),
        other => ("other", json!(other.to_string())),
    };
    json!({"tag": tag, "val": val, "message": e.to_string()})
}

/// A WIT `event-error`, with `message`: the text `sigil run` writes for it.
pub fn event_error(e: &EventError) -> Value {
    let (tag, val) = match e {
        EventError::InvalidJson(s) => ("invalid-json", Some(json!(s))),
        EventError::InvalidUtf8 => ("invalid-utf8", None),
        EventError::TooLarge(n) => ("too-large", Some(json!(n))),
        EventError::TooDeep => ("too-deep", None),
        other => ("other", Some(json!(other.to_string()))),
    };
    let mut v = json!({"tag": tag, "message": e.to_string()});
    if let Some(val) = val {
        v["val"] = val;
    }
    v
}

/// A WIT `event-warning`.
pub fn warning(w: &EventWarning) -> Value {
    match w {
        EventWarning::Truncated { bytes } => json!({"tag": "truncated", "val": bytes}),
        EventWarning::DuplicateKey(k) => json!({"tag": "duplicate-key", "val": k}),
        EventWarning::Other(t) => json!({"tag": "other", "val": t}),
        other => json!({"tag": other.code()}),
    }
}

/// A WIT `verdict`.
pub fn verdict(v: &Verdict) -> Value {
    let findings: Vec<Value> = v
        .findings
        .iter()
        .map(|f| json!({"rule": f.rule, "score": f.score, "labels": pairs(&f.labels)}))
        .collect();
    let mut out = json!({
        "keep": v.keep, "score": v.score, "findings": findings,
        "warnings": v.warnings.iter().map(warning).collect::<Vec<_>>(),
    });
    if let Some(l) = v.level {
        out["level"] = json!(level(l));
    }
    if let Some(s) = v.source {
        out["source"] = json!(source(s));
    }
    out
}

/// A WIT `alert`.
pub fn alert(a: &Alert) -> Value {
    json!({
        "rule": a.rule, "group": pairs(&a.group),
        "windowStartMs": a.window_start_ms, "windowEndMs": a.window_end_ms,
        "events": a.events, "value": a.value, "labels": pairs(&a.labels),
    })
}

/// A WIT `batch-result`.
pub fn batch_result(events: u32, entries: &[BatchEntry], alerts: &[BatchAlert]) -> Value {
    let entries: Vec<Value> = entries
        .iter()
        .map(|e| {
            let outcome = match &e.outcome {
                Ok(v) => json!({"tag": "ok", "val": verdict(v)}),
                Err(err) => json!({"tag": "err", "val": event_error(err)}),
            };
            json!({"index": e.index, "outcome": outcome})
        })
        .collect();
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|a| json!({"index": a.index, "alert": alert(&a.alert)}))
        .collect();
    json!({"events": events, "entries": entries, "alerts": alerts})
}

/// A WIT `correlation-stats`.
pub fn correlation_stats(s: &CorrelationStats) -> Value {
    json!({
        "correlations": s.correlations, "openGroups": s.open_groups, "pending": s.pending,
        "bytes": s.bytes, "alerts": s.alerts, "lateEvents": s.late_events,
        "untimedEvents": s.untimed_events, "ungroupedEvents": s.ungrouped_events,
        "evictedGroups": s.evicted_groups, "droppedEntries": s.dropped_entries,
        "forcedCommits": s.forced_commits, "fanoutTruncated": s.fanout_truncated,
        "alertsDropped": s.alerts_dropped,
    })
}

/// A WIT `rule-source`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSource {
    /// Where the text came from; errors name it.
    pub name: String,
    /// The YAML text.
    pub text: String,
}

/// The WIT `options` record, every field optional (the engine's default
/// where absent), names in camelCase.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase", default)]
pub struct OptionsIn {
    min_score: Option<u8>,
    matched_only: Option<bool>,
    skip_invalid: Option<bool>,
    max_event_bytes: Option<u32>,
    max_depth: Option<u32>,
    max_rules: Option<u32>,
    max_regex_bytes: Option<u32>,
    placeholders: Option<Vec<(String, Vec<String>)>>,
    correlation_lateness_ms: Option<u32>,
    max_groups: Option<u32>,
    max_events_per_group: Option<u32>,
    max_correlation_bytes: Option<u32>,
}

impl OptionsIn {
    /// The engine's options: these values over the defaults.
    pub fn options(self) -> Options {
        let d = Options::default();
        Options {
            min_score: self.min_score.unwrap_or(d.min_score),
            matched_only: self.matched_only.unwrap_or(d.matched_only),
            skip_invalid: self.skip_invalid.unwrap_or(d.skip_invalid),
            max_event_bytes: self.max_event_bytes.unwrap_or(d.max_event_bytes),
            max_depth: self.max_depth.unwrap_or(d.max_depth),
            max_rules: self.max_rules.unwrap_or(d.max_rules),
            max_regex_bytes: self.max_regex_bytes.unwrap_or(d.max_regex_bytes),
            placeholders: self.placeholders.unwrap_or(d.placeholders),
            correlation_lateness_ms: self
                .correlation_lateness_ms
                .unwrap_or(d.correlation_lateness_ms),
            max_groups: self.max_groups.unwrap_or(d.max_groups),
            max_events_per_group: self.max_events_per_group.unwrap_or(d.max_events_per_group),
            max_correlation_bytes: self
                .max_correlation_bytes
                .unwrap_or(d.max_correlation_bytes),
        }
    }
}
