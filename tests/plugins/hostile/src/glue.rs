//! The WIT exports: `plugin/component`'s glue, with the mode's attack
//! applied to what goes back to the host.

use std::cell::{Cell, RefCell};

use exports::sigil::engine::detector::{
    self, BatchEntry, BatchResult, DetachedResult, Observations,
};
use exports::sigil::engine::types as wit;

use crate::mode::{Mode, exhaust_memory, spin};

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../wit",
});

struct Component;

export!(Component);

impl detector::Guest for Component {
    type Engine = Engine;
}

struct Engine {
    engine: RefCell<sigil_engine::Engine>,
    mode: Mode,
    rules: u32,
    /// Evaluation calls so far (for `trap-every:N`); an instance the host
    /// makes afresh starts at 0 again.
    calls: Cell<u64>,
}

impl Engine {
    /// What every evaluation call does first: the attacks that do not
    /// depend on the answer.
    fn on_call(&self) {
        let n = self.calls.get() + 1;
        self.calls.set(n);
        match self.mode {
            Mode::Loop => spin(),
            Mode::Alloc => exhaust_memory(),
            Mode::TrapEvery(every) if n.is_multiple_of(every) => {
                panic!("sigil-hostile: trap on call {n}")
            }
            _ => {}
        }
    }

    /// A verdict as the mode wants the host to see it.
    fn corrupt(&self, mut v: wit::Verdict) -> wit::Verdict {
        let finding = |rule, labels| wit::Finding {
            rule,
            score: 50,
            labels,
        };
        match self.mode {
            Mode::HugeLabel => {
                // On an otherwise consistent verdict, so that only the
                // string's size is wrong: in a finding's labels when there
                // is a finding, else in a warning's text.
                let huge = "x".repeat(100 << 20);
                match v.findings.first_mut() {
                    Some(f) => f.labels.push(("payload".to_string(), huge)),
                    None => v.warnings.push(wit::EventWarning::Other(huge)),
                }
            }
            Mode::HugeAnswer => {
                v.findings = (0..4_000_000u32)
                    .map(|i| finding(i % self.rules.max(1), Vec::new()))
                    .collect();
            }
            Mode::ScoreOutOfRange => {
                v.score = 200;
                v.findings.push(finding(0, Vec::new()));
                for f in &mut v.findings {
                    f.score = 200;
                }
            }
            Mode::RuleIndexPastTable => v.findings.push(finding(self.rules + 7, Vec::new())),
            Mode::KeepFalse => v.keep = false,
            _ => {}
        }
        v
    }
}

impl Engine {
    /// The mode's attack on a block's entries; returns the event count to
    /// claim.
    fn corrupt_entries(&self, events: u32, entries: &mut Vec<BatchEntry>) -> u32 {
        let mut events_said = events;
        match self.mode {
            Mode::IndexOutOfRange => entries.push(no_match(events)),
            Mode::IndexDuplicated => {
                let first = entries.first().cloned().unwrap_or_else(|| no_match(0));
                entries.insert(0, first);
            }
            Mode::IndexOutOfOrder if events >= 2 => {
                if entries.len() < 2 {
                    *entries = vec![no_match(0), no_match(1)];
                }
                entries.reverse();
            }
            Mode::IndexMissing => entries.clear(),
            Mode::CountWrong => events_said += 1,
            _ => {}
        }
        events_said
    }
}

fn observation_error(e: sigil_engine::ObservationError) -> wit::ObservationError {
    use sigil_engine::ObservationError as E;
    match e {
        E::Version(v) => wit::ObservationError::Version(v),
        E::Truncated => wit::ObservationError::Truncated,
        E::Malformed { .. } => wit::ObservationError::Malformed(e.to_string()),
        E::OtherPack => wit::ObservationError::OtherPack,
        other => wit::ObservationError::Other(other.to_string()),
    }
}

/// An entry that claims event `index` matched nothing, for modes that need
/// entries to reorder or repeat when the block matched nothing.
fn no_match(index: u32) -> BatchEntry {
    BatchEntry {
        index,
        outcome: Ok(wit::Verdict {
            keep: true,
            score: 0,
            level: None,
            findings: Vec::new(),
            source: None,
            warnings: Vec::new(),
        }),
    }
}

impl detector::GuestEngine for Engine {
    fn load(
        rules: Vec<wit::RuleSource>,
        options: wit::Options,
    ) -> Result<detector::Engine, wit::LoadError> {
        let mode = Mode::from_sources(rules.iter().map(|r| r.text.as_str()));
        match mode {
            Mode::LoadTrap => panic!("sigil-hostile: trap in load"),
            Mode::LoadLoop => spin(),
            _ => {}
        }
        let sources: Vec<sigil_engine::RuleSource> = rules
            .into_iter()
            .map(|r| sigil_engine::RuleSource::new(r.name, r.text))
            .collect();
        let engine =
            sigil_engine::Engine::load(&sources, options_from(options)).map_err(load_error)?;
        let rules = engine.rules().len() as u32;
        Ok(detector::Engine::new(Engine {
            engine: RefCell::new(engine),
            mode,
            rules,
            calls: Cell::new(0),
        }))
    }

    fn rules(&self) -> Vec<wit::RuleInfo> {
        self.engine.borrow().rules().iter().map(rule_info).collect()
    }

    fn skipped(&self) -> Vec<wit::RuleError> {
        let engine = self.engine.borrow();
        engine.skipped().iter().cloned().map(rule_error).collect()
    }

    fn evaluate(&self, event: Vec<u8>) -> Result<wit::Verdict, wit::EventError> {
        self.on_call();
        let outcome = self.engine.borrow_mut().evaluate(&event);
        outcome
            .map(|v| self.corrupt(verdict(v)))
            .map_err(event_error)
    }

    fn take_alerts(&self) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().take_alerts();
        alerts.into_iter().map(alert).collect()
    }

    fn evaluate_batch(&self, block: Vec<u8>) -> BatchResult {
        self.on_call();
        let mut out = Vec::new();
        let mut alerts = Vec::new();
        let events = self
            .engine
            .borrow_mut()
            .evaluate_batch(&block, &mut out, &mut alerts);
        let mut entries: Vec<BatchEntry> = out
            .into_iter()
            .map(|e| BatchEntry {
                index: e.index,
                outcome: e
                    .outcome
                    .map(|v| self.corrupt(verdict(v)))
                    .map_err(event_error),
            })
            .collect();
        let events_said = self.corrupt_entries(events, &mut entries);
        let alerts = alerts
            .into_iter()
            .map(|a| detector::BatchAlert {
                index: a.index,
                alert: alert(a.alert),
            })
            .collect();
        BatchResult {
            events: events_said,
            entries,
            alerts,
        }
    }

    // The same attacks as `evaluate-batch`: the host's parallel path
    // evaluates with this call, and must meet them there too.
    fn evaluate_batch_detached(&self, block: Vec<u8>) -> DetachedResult {
        self.on_call();
        let mut out = Vec::new();
        let mut observed = Vec::new();
        let events =
            self.engine
                .borrow_mut()
                .evaluate_batch_detached(&block, &mut out, &mut observed);
        let mut entries: Vec<BatchEntry> = out
            .into_iter()
            .map(|e| BatchEntry {
                index: e.index,
                outcome: e
                    .outcome
                    .map(|v| self.corrupt(verdict(v)))
                    .map_err(event_error),
            })
            .collect();
        let events_said = self.corrupt_entries(events, &mut entries);
        let mut bytes = Vec::new();
        let events_observed = observed
            .iter()
            .map(|(index, obs)| {
                obs.encode(&mut bytes);
                *index
            })
            .collect();
        DetachedResult {
            events: events_said,
            entries,
            observations: Observations {
                events: events_observed,
                bytes,
            },
        }
    }

    // A plain pass-through (as plugin/component's, without its error
    // offsets): no mode attacks correlation yet.
    fn correlate(
        &self,
        observations: Observations,
    ) -> Result<Vec<detector::BatchAlert>, wit::ObservationError> {
        let mut decoded = Vec::new();
        let mut rest = &observations.bytes[..];
        for &index in &observations.events {
            let (obs, used) = sigil_engine::Observation::decode(rest).map_err(observation_error)?;
            rest = rest.get(used..).unwrap_or_default();
            decoded.push((index, obs));
        }
        if !rest.is_empty() {
            return Err(wit::ObservationError::Malformed("trailing bytes".into()));
        }
        let mut alerts = Vec::new();
        self.engine
            .borrow_mut()
            .correlate(decoded, &mut alerts)
            .map_err(observation_error)?;
        Ok(alerts
            .into_iter()
            .map(|a| detector::BatchAlert {
                index: a.index,
                alert: alert(a.alert),
            })
            .collect())
    }

    fn advance(&self, watermark_ms: i64) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().advance(watermark_ms);
        alerts.into_iter().map(alert).collect()
    }

    fn flush(&self) -> Vec<wit::Alert> {
        let alerts = self.engine.borrow_mut().flush();
        alerts.into_iter().map(alert).collect()
    }

    fn correlation_stats(&self) -> wit::CorrelationStats {
        let s = self.engine.borrow().correlation_stats();
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

    fn unrecognised(&self) -> Vec<wit::Unrecognised> {
        self.engine.borrow().unrecognised().into_iter().map(unrecognised).collect()
    }
}

// The conversions below are plugin/component's, one-to-one.

fn unrecognised(u: sigil_engine::Unrecognised) -> wit::Unrecognised {
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

fn alert(a: sigil_engine::Alert) -> wit::Alert {
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

fn options_from(o: wit::Options) -> sigil_engine::Options {
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

fn rule_info(r: &sigil_engine::RuleInfo) -> wit::RuleInfo {
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

fn rule_error(e: sigil_engine::RuleError) -> wit::RuleError {
    wit::RuleError {
        source: e.source,
        line: e.line,
        rule_id: e.rule_id,
        reason: e.reason,
    }
}

fn load_error(e: sigil_engine::LoadError) -> wit::LoadError {
    match e {
        sigil_engine::LoadError::InvalidRule(r) => wit::LoadError::InvalidRule(rule_error(r)),
        sigil_engine::LoadError::EmptyPack { skipped } => {
            wit::LoadError::EmptyPack(skipped.into_iter().map(rule_error).collect())
        }
        sigil_engine::LoadError::TooManyRules { limit } => wit::LoadError::TooManyRules(limit),
        other => wit::LoadError::Other(other.to_string()),
    }
}

fn event_error(e: sigil_engine::EventError) -> wit::EventError {
    match e {
        sigil_engine::EventError::InvalidJson(s) => wit::EventError::InvalidJson(s),
        sigil_engine::EventError::InvalidUtf8 => wit::EventError::InvalidUtf8,
        sigil_engine::EventError::TooLarge(n) => wit::EventError::TooLarge(n),
        sigil_engine::EventError::TooDeep => wit::EventError::TooDeep,
        other => wit::EventError::Other(other.to_string()),
    }
}

fn verdict(v: sigil_engine::Verdict) -> wit::Verdict {
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
