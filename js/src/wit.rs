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

use serde::{Deserialize, Serialize};
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

/// A WIT `finding`.
#[derive(Serialize)]
struct FindingOut<'a> {
    rule: u32,
    score: u8,
    labels: &'a [(String, String)],
}

/// A WIT `verdict`. Serialised straight from the engine's values (no
/// `Value` tree in between): `evaluateBatch` writes one per match, and on
/// a broad pack a quarter of the events match.
#[derive(Serialize)]
struct VerdictOut<'a> {
    keep: bool,
    score: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    level: Option<&'static str>,
    findings: Vec<FindingOut<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'static str>,
    warnings: Vec<Value>,
}

impl<'a> VerdictOut<'a> {
    fn new(v: &'a Verdict) -> Self {
        VerdictOut {
            keep: v.keep,
            score: v.score,
            level: v.level.map(level),
            findings: v
                .findings
                .iter()
                .map(|f| FindingOut {
                    rule: f.rule,
                    score: f.score,
                    labels: &f.labels,
                })
                .collect(),
            source: v.source.map(source),
            warnings: v.warnings.iter().map(warning).collect(),
        }
    }
}

/// A WIT `verdict`, as JSON text.
pub fn verdict(v: &Verdict) -> String {
    to_json(&VerdictOut::new(v))
}

/// A WIT `alert`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlertOut<'a> {
    rule: u32,
    group: &'a [(String, String)],
    window_start_ms: i64,
    window_end_ms: i64,
    events: &'a [String],
    value: f64,
    labels: &'a [(String, String)],
}

impl<'a> AlertOut<'a> {
    fn new(a: &'a Alert) -> Self {
        AlertOut {
            rule: a.rule,
            group: &a.group,
            window_start_ms: a.window_start_ms,
            window_end_ms: a.window_end_ms,
            events: &a.events,
            value: a.value,
            labels: &a.labels,
        }
    }
}

/// A WIT `list<alert>`, as JSON text.
pub fn alerts(alerts: &[Alert]) -> String {
    to_json(&alerts.iter().map(AlertOut::new).collect::<Vec<_>>())
}

/// A WIT `result<verdict, event-error>` inside a record: `{tag, val}`.
#[derive(Serialize)]
#[serde(tag = "tag", content = "val", rename_all = "lowercase")]
enum OutcomeOut<'a> {
    Ok(VerdictOut<'a>),
    Err(Value),
}

#[derive(Serialize)]
struct EntryOut<'a> {
    index: u32,
    outcome: OutcomeOut<'a>,
}

#[derive(Serialize)]
struct BatchAlertOut<'a> {
    index: u32,
    alert: AlertOut<'a>,
}

#[derive(Serialize)]
struct BatchOut<'a> {
    events: u32,
    entries: Vec<EntryOut<'a>>,
    alerts: Vec<BatchAlertOut<'a>>,
}

/// A WIT `batch-result`, as JSON text.
pub fn batch_result(events: u32, entries: &[BatchEntry], alerts: &[BatchAlert]) -> String {
    to_json(&BatchOut {
        events,
        entries: entries
            .iter()
            .map(|e| EntryOut {
                index: e.index,
                outcome: match &e.outcome {
                    Ok(v) => OutcomeOut::Ok(VerdictOut::new(v)),
                    Err(err) => OutcomeOut::Err(event_error(err)),
                },
            })
            .collect(),
        alerts: alerts
            .iter()
            .map(|a| BatchAlertOut {
                index: a.index,
                alert: AlertOut::new(&a.alert),
            })
            .collect(),
    })
}

/// JSON text of a value whose serialisation cannot fail (strings, numbers,
/// lists and records of them; a non-finite `f64` becomes `null`).
fn to_json(v: &impl Serialize) -> String {
    serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// A WIT `correlation-stats`.
pub fn correlation_stats(s: &CorrelationStats) -> Value {
    json!({
        "correlations": s.correlations, "openGroups": s.open_groups, "pending": s.pending,
        "bytes": s.bytes, "alerts": s.alerts, "lateEvents": s.late_events,
        "lateByRule": s.late_by_rule, "maxLateLagMs": s.max_late_lag_ms,
        "duplicateEvents": s.duplicate_events,
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
