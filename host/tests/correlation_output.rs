//! Correlation alerts in the output stream: their own NDJSON records, right
//! after the event that released them, flushed at the end of input, alone
//! with `alerts_only`; and what a plugin restart does to correlation state.

use serde_json::Value;
use sigil_engine::{Options, RuleSource};
use sigil_host::{Detector, HostConfig, Plugin, Runner, run_to_vec};

const RULES: &str = r#"
title: Stop
name: stop
logsource: {product: aws}
detection: {sel: {eventName: StopInstances}, condition: sel}
---
title: Start
name: start
logsource: {product: aws}
detection: {sel: {eventName: StartInstances}, condition: sel}
---
title: Stop then start
id: 11111111-2222-4333-8444-555555555555
level: high
tags: [attack.t1578.004]
correlation:
    type: temporal_ordered
    rules: [stop, start]
    group-by: ['requestParameters.instancesSet.items[].instanceId']
    timespan: 10m
"#;

fn ev(time: &str, id: &str, name: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"{name}","eventTime":"2024-08-01T{time}Z","eventID":"{id}","requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"i-1"}}]}}}}}}"#
    )
}

fn input() -> String {
    [
        ev("12:00:00", "a", "StopInstances"),
        ev("12:00:30", "b", "StartInstances"),
        ev("12:01:00", "c", "DescribeInstances"),
        ev("12:05:00", "d", "StopInstances"),
        ev("12:05:10", "e", "StartInstances"),
    ]
    .join("\n")
}

fn detectors(options: &Options) -> Vec<Detector> {
    let rules = [RuleSource::new("corr.yml", RULES)];
    let plugin = Plugin::builtin(HostConfig::default()).unwrap();
    vec![
        Detector::Native(sigil_engine::Engine::load(&rules, options.clone()).unwrap()),
        Detector::Component(plugin.session(&rules, options).unwrap()),
    ]
}

#[test]
fn alerts_follow_the_event_that_released_them() {
    let options = Options {
        correlation_lateness_ms: 60_000,
        ..Options::default()
    };
    for mut d in detectors(&options) {
        let (out, counters) = run_to_vec(&mut d, input().as_bytes()).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        // 5 events, then 2 alerts. The first sequence is final only once the
        // watermark (newest time - 60 s) passes 12:00:30: at the 12:05:00
        // event. The second waits for the end of input.
        assert_eq!(lines.len(), 7, "{out}");
        assert!(lines[3].contains(r#""eventID":"d""#), "{out}");
        let alert: Value = serde_json::from_str(lines[4]).unwrap();
        assert_eq!(
            alert,
            serde_json::json!({"sigil_alert": {
                "rule": "11111111-2222-4333-8444-555555555555",
                "title": "Stop then start",
                "level": "high",
                "score": 75,
                "tags": ["attack.t1578.004"],
                "group": {"requestParameters.instancesSet.items.instanceId": "i-1"},
                "window": {"start": "2024-08-01T12:00:00Z", "end": "2024-08-01T12:00:30Z"},
                "events": ["a", "b"],
                "value": 2
            }})
        );
        assert!(lines[5].contains(r#""eventID":"e""#), "{out}");
        let last: Value = serde_json::from_str(lines[6]).unwrap();
        assert_eq!(last["sigil_alert"]["events"], serde_json::json!(["d", "e"]));
        assert_eq!((counters.events_out, counters.alerts), (5, 2));
        // The base rules only feed the correlation.
        assert_eq!(counters.matched, 0);
    }
}

#[test]
fn alerts_only_writes_nothing_else() {
    for mut d in detectors(&Options::default()) {
        let mut out = Vec::new();
        let mut runner = Runner::new(&mut d).alerts_only(true);
        runner
            .run(std::path::Path::new("-"), input().as_bytes(), &mut out)
            .unwrap();
        runner.finish(&mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(
            out.lines().all(|l| l.starts_with(r#"{"sigil_alert":{"#)),
            "{out}"
        );
        assert_eq!(runner.counters().events_in, 5);
        assert_eq!(runner.counters().events_out, 0);
    }
}

#[test]
fn advance_releases_alerts_and_flush_ends_the_stream() {
    for mut d in detectors(&Options::default()) {
        let block = format!(
            "{}\n{}\n",
            ev("12:00:00", "a", "StopInstances"),
            ev("12:00:30", "b", "StartInstances")
        );
        let batch = d.evaluate_block(block.as_bytes()).unwrap();
        assert!(batch.alerts.is_empty());
        assert!(
            d.advance(1_722_513_630_000).unwrap().is_empty(),
            "12:00:30 is not yet passed"
        );
        let alerts = d.advance(1_722_513_630_001).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].events, ["a", "b"]);
        assert!(d.flush().unwrap().is_empty());
        assert_eq!(d.correlation_stats().open_groups, 0);
    }
}

#[test]
fn a_restart_loses_correlation_state_and_says_so() {
    let rules = [RuleSource::new("corr.yml", RULES)];
    let config = HostConfig {
        ms_per_mib: 0,
        min_call_ms: 0,
        ..HostConfig::default()
    };
    let plugin = Plugin::builtin(config).unwrap();
    let mut d = Detector::Component(plugin.session(&rules, &Options::default()).unwrap());
    let (_, counters) = run_to_vec(&mut d, input().as_bytes()).unwrap();
    assert!(counters.plugin_restarts > 0);
    assert_eq!(counters.correlation_resets, counters.plugin_restarts);
    assert_eq!(
        counters.alerts, 0,
        "every evaluation failed, nothing was correlated"
    );
}
