//! The correlation types, windows, limits and load errors, through the
//! engine's public API.

use super::*;
use crate::{Engine, Options, RuleSource};

const BASE: &str = r#"
title: Stop
name: stop
id: 00000000-0000-4000-8000-000000000001
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: StopInstances}, condition: sel}
---
title: Start
name: start
id: 00000000-0000-4000-8000-000000000002
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: StartInstances}, condition: sel}
---
title: Login
name: login
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: ConsoleLogin}, condition: sel}
"#;

fn load_with(corr: &str, options: Options) -> Result<Engine, crate::LoadError> {
    Engine::load(
        &[
            RuleSource::new("base.yml", BASE),
            RuleSource::new("corr.yml", corr),
        ],
        options,
    )
}

fn load(corr: &str) -> Engine {
    load_with(
        corr,
        Options {
            correlation_lateness_ms: 0,
            ..Options::default()
        },
    )
    .unwrap()
}

/// A CloudTrail event at `secs` seconds past 2024-08-01T12:00:00Z.
fn ev(secs: u32, id: &str, name: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(",{extra}")
    };
    format!(
        r#"{{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventTime":"2024-08-01T12:{:02}:{:02}Z","eventID":"{id}","eventName":"{name}"{extra}}}"#,
        secs / 60,
        secs % 60
    )
}

const T0: i64 = 1_722_513_600_000;

/// Every alert of the events, in order, then those of `flush`.
fn run(engine: &mut Engine, events: &[String]) -> Vec<Alert> {
    let mut out = Vec::new();
    for e in events {
        engine.evaluate(e.as_bytes()).unwrap();
        out.extend(engine.take_alerts());
    }
    out.extend(engine.flush());
    out
}

fn ids(a: &Alert) -> Vec<&str> {
    a.events.iter().map(String::as_str).collect()
}

const USER: &str = r#""userIdentity":{"arn":"arn:aws:iam::1:user/alice"}"#;
const BOB: &str = r#""userIdentity":{"arn":"arn:aws:iam::1:user/bob"}"#;

#[test]
fn event_count_fires_once_per_burst() {
    let mut e = load(
        "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 3}}\n",
    );
    let events = [
        ev(0, "a", "StopInstances", USER),
        ev(4, "b", "StopInstances", USER),
        ev(5, "x", "StopInstances", BOB),
        ev(9, "c", "StopInstances", USER),
        ev(10, "d", "StopInstances", USER),
        ev(30, "e", "StopInstances", USER),
        ev(41, "f", "StopInstances", USER),
        ev(52, "g", "StopInstances", USER),
    ];
    let alerts = run(&mut e, &events);
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(e.rules()[a.rule as usize].title, "Burst");
    assert_eq!(
        a.group,
        vec![(
            "userIdentity.arn".to_string(),
            "arn:aws:iam::1:user/alice".to_string()
        )]
    );
    assert_eq!((a.window_start_ms, a.window_end_ms), (T0, T0 + 9000));
    assert_eq!(ids(a), ["a", "b", "c"]);
    assert_eq!(a.value, 3.0);
}

#[test]
fn value_count_counts_distinct_values() {
    let mut e = load(
        "title: Many IPs\ncorrelation: {type: value_count, rules: [login], group-by: [userIdentity.arn], timespan: 1m, condition: {field: sourceIPAddress, gte: 3}}\n",
    );
    let ip = |i: u8| format!(r#"{USER},"sourceIPAddress":"10.0.0.{i}""#);
    let events = [
        ev(0, "a", "ConsoleLogin", &ip(1)),
        ev(1, "b", "ConsoleLogin", &ip(1)),
        ev(2, "c", "ConsoleLogin", &ip(2)),
        ev(3, "n", "ConsoleLogin", USER),
        ev(4, "d", "ConsoleLogin", &ip(3)),
    ];
    let alerts = run(&mut e, &events);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].value, 3.0);
    // The event without the field is in no count, and not listed.
    assert_eq!(ids(&alerts[0]), ["a", "b", "c", "d"]);
}

#[test]
fn temporal_any_order_and_ordered() {
    let inst = |i: &str| {
        format!(r#""requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"{i}"}}]}}}}"#)
    };
    let corr = |kind: &str| {
        format!(
            "title: Cycle\ncorrelation: {{type: {kind}, rules: [stop, start], group-by: ['requestParameters.instancesSet.items[].instanceId'], timespan: 5m}}\n"
        )
    };
    let backwards = [
        ev(0, "s1", "StartInstances", &inst("i-1")),
        ev(10, "s2", "StopInstances", &inst("i-1")),
    ];
    assert_eq!(run(&mut load(&corr("temporal")), &backwards).len(), 1);
    assert!(run(&mut load(&corr("temporal_ordered")), &backwards).is_empty());
    let forwards = [
        ev(0, "p1", "StopInstances", &inst("i-1")),
        ev(5, "q1", "StartInstances", &inst("i-2")),
        ev(10, "p2", "StartInstances", &inst("i-1")),
    ];
    let alerts = run(&mut load(&corr("temporal_ordered")), &forwards);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].group[0].1, "i-1");
    assert_eq!(ids(&alerts[0]), ["p1", "p2"]);
    assert_eq!(alerts[0].value, 2.0);
    // Outside the timespan.
    let late = [
        ev(0, "p1", "StopInstances", &inst("i-1")),
        ev(301, "p2", "StartInstances", &inst("i-1")),
    ];
    assert!(run(&mut load(&corr("temporal_ordered")), &late).is_empty());
}

#[test]
fn array_group_by_joins_one_group_per_element() {
    let mut e = load(
        "title: Cycle\ncorrelation: {type: temporal_ordered, rules: [stop, start], group-by: ['requestParameters.instancesSet.items[].instanceId'], timespan: 5m}\n",
    );
    let two = r#""requestParameters":{"instancesSet":{"items":[{"instanceId":"i-2"},{"instanceId":"i-1"},{"instanceId":"i-2"}]}}"#;
    let one = r#""requestParameters":{"instancesSet":{"items":[{"instanceId":"i-1"}]}}"#;
    let alerts = run(
        &mut e,
        &[
            ev(0, "stop", "StopInstances", two),
            ev(9, "start", "StartInstances", one),
        ],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].group[0].1, "i-1");
    // The other instance's group is still open until the flush closed it.
    assert_eq!(e.correlation_stats().open_groups, 0);
    let mut e = load(
        "title: Cycle\ncorrelation: {type: temporal_ordered, rules: [stop, start], group-by: ['requestParameters.instancesSet.items[].instanceId'], timespan: 5m}\n",
    );
    e.evaluate(ev(0, "stop", "StopInstances", two).as_bytes())
        .unwrap();
    e.evaluate(ev(5, "x", "StopInstances", one).as_bytes())
        .unwrap();
    assert_eq!(e.correlation_stats().open_groups, 2);
}

#[test]
fn numeric_aggregations() {
    let n = |v: &str| format!(r#"{USER},"bytes":{v}"#);
    let events = [
        ev(0, "a", "ConsoleLogin", &n("10")),
        ev(1, "b", "ConsoleLogin", &n("\"30\"")),
        ev(2, "c", "ConsoleLogin", &n("50")),
    ];
    let corr = |kind: &str, cond: &str| {
        format!(
            "title: Agg\ncorrelation: {{type: {kind}, rules: [login], group-by: [userIdentity.arn], timespan: 1m, condition: {{field: bytes, {cond}}}}}\n"
        )
    };
    let sum = run(&mut load(&corr("value_sum", "gte: 90")), &events);
    assert_eq!((sum.len(), sum[0].value), (1, 90.0));
    let avg = run(&mut load(&corr("value_avg", "gt: 29, lt: 31")), &events);
    // 10, then 20, then 30: the third event brings the mean into range.
    assert_eq!(
        (avg.len(), avg[0].value, avg[0].window_end_ms),
        (1, 30.0, T0 + 2000)
    );
    let p = run(
        &mut load(&corr("value_percentile", "percentile: 75, gte: 40")),
        &events,
    );
    assert_eq!((p.len(), p[0].value), (1, 40.0));
    let med = run(&mut load(&corr("value_median", "eq: 20")), &events);
    assert_eq!(med.len(), 1);
}

#[test]
fn aliases_join_fields_that_differ_per_rule() {
    let rules = r#"
title: Volume from snapshot
name: create_volume
logsource: {product: aws}
detection: {sel: {eventName: CreateVolume, requestParameters.snapshotId|startswith: snap-}, condition: sel}
---
title: Attach volume
name: attach_volume
logsource: {product: aws}
detection: {sel: {eventName: AttachVolume}, condition: sel}
---
title: Restored volume attached
correlation:
    type: temporal_ordered
    rules: [create_volume, attach_volume]
    group-by: [volume]
    timespan: 1h
    aliases:
        volume:
            create_volume: responseElements.volumeId
            attach_volume: requestParameters.volumeId
"#;
    let mut e = load(rules);
    let create = ev(
        0,
        "c",
        "CreateVolume",
        r#""requestParameters":{"snapshotId":"snap-1"},"responseElements":{"volumeId":"vol-1"}"#,
    );
    let other = ev(
        1,
        "o",
        "AttachVolume",
        r#""requestParameters":{"volumeId":"vol-2"}"#,
    );
    let attach = ev(
        2,
        "a",
        "AttachVolume",
        r#""requestParameters":{"volumeId":"vol-1"}"#,
    );
    let alerts = run(&mut e, &[create, other, attach]);
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].group,
        vec![("volume".to_string(), "vol-1".to_string())]
    );
    assert_eq!(ids(&alerts[0]), ["c", "a"]);
}

#[test]
fn chains_and_generate() {
    let rules = r#"
title: Many stops
name: many_stops
correlation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 1m, condition: {gte: 2}}
---
title: Many stops then a start
correlation: {type: temporal_ordered, rules: [many_stops, start], group-by: [userIdentity.arn], timespan: 5m}
level: high
"#;
    let mut e = load(rules);
    let verdict = e
        .evaluate(ev(0, "a", "StopInstances", USER).as_bytes())
        .unwrap();
    // `stop` is only referenced by a correlation without `generate`.
    assert!(!verdict.matched());
    let events = [
        ev(1, "b", "StopInstances", USER),
        ev(2, "c", "StartInstances", USER),
    ];
    let alerts = run(&mut e, &events);
    // The helper correlation emits nothing; the outer one lists all three events.
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(
        e.rules()[alerts[0].rule as usize].title,
        "Many stops then a start"
    );
    assert_eq!(ids(&alerts[0]), ["a", "b", "c"]);
    assert_eq!(e.stats().correlations, 2);

    let mut g = load(
        "title: Pair\ngenerate: true\ncorrelation: {type: temporal, rules: [stop, start], group-by: [userIdentity.arn], timespan: 5m}\n",
    );
    assert!(
        g.evaluate(ev(0, "a", "StopInstances", USER).as_bytes())
            .unwrap()
            .matched()
    );
    assert_eq!(
        g.matching_rules(ev(0, "a", "StopInstances", USER).as_bytes())
            .unwrap(),
        vec![0]
    );
    assert_eq!(
        e.matching_rules(ev(0, "a", "StopInstances", USER).as_bytes())
            .unwrap(),
        vec![0]
    );
}

#[test]
fn out_of_order_within_lateness_gives_the_same_alerts() {
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 2}}\n";
    let sorted: Vec<String> = [0, 3, 20, 21, 22, 40, 45, 46]
        .iter()
        .map(|&t| ev(t, &format!("e{t}"), "StopInstances", USER))
        .collect();
    let options = Options {
        correlation_lateness_ms: 30_000,
        ..Options::default()
    };
    let expected = run(&mut load_with(corr, options.clone()).unwrap(), &sorted);
    assert_eq!(expected.len(), 3);
    let shuffled: Vec<String> = [3, 20, 0, 22, 21, 46, 40, 45]
        .iter()
        .map(|&t| ev(t, &format!("e{t}"), "StopInstances", USER))
        .collect();
    let mut got = run(&mut load_with(corr, options.clone()).unwrap(), &shuffled);
    got.sort_by_key(|a| a.window_end_ms);
    assert_eq!(got, expected);
    // Beyond the lateness an event is left out, and counted.
    let mut e = load_with(corr, options).unwrap();
    for t in [0, 100, 3] {
        e.evaluate(ev(t, &format!("e{t}"), "StopInstances", USER).as_bytes())
            .unwrap();
    }
    assert_eq!(e.correlation_stats().late_events, 1);
    assert!(e.flush().is_empty());
}

#[test]
fn alerts_wait_for_the_watermark() {
    let corr = "title: Pair\ncorrelation: {type: temporal_ordered, rules: [stop, start], group-by: [userIdentity.arn], timespan: 5m}\n";
    let options = Options {
        correlation_lateness_ms: 60_000,
        ..Options::default()
    };
    let mut e = load_with(corr, options.clone()).unwrap();
    let mut block = String::new();
    for line in [
        ev(0, "a", "StopInstances", USER),
        ev(1, "b", "StartInstances", USER),
        ev(30, "c", "DescribeInstances", USER),
    ] {
        block.push_str(&line);
        block.push('\n');
    }
    let (mut out, mut alerts) = (Vec::new(), Vec::new());
    e.evaluate_batch(block.as_bytes(), &mut out, &mut alerts);
    assert!(
        alerts.is_empty(),
        "within the 60 s lateness nothing is final"
    );
    assert!(
        e.advance(T0 + 1000).is_empty(),
        "the watermark must pass the start, not reach it"
    );
    let done = e.advance(T0 + 1001);
    assert_eq!(done.len(), 1);
    // A later event that moves the watermark releases alerts inline, after itself.
    let mut e = load_with(corr, options).unwrap();
    block.push_str(&ev(62, "d", "StopInstances", BOB));
    block.push('\n');
    alerts.clear();
    e.evaluate_batch(block.as_bytes(), &mut out, &mut alerts);
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].index, 3);
}

#[test]
fn events_without_time_take_the_stream_time() {
    let corr = "title: Pair\ncorrelation: {type: temporal, rules: [stop, start], group-by: [userIdentity.arn], timespan: 5m}\n";
    let mut e = load(corr);
    let untimed = r#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StartInstances","userIdentity":{"arn":"u"}}"#;
    e.evaluate(untimed.as_bytes()).unwrap();
    assert_eq!(e.correlation_stats().untimed_events, 1, "no time known yet");
    e.evaluate(ev(0, "a", "StopInstances", r#""userIdentity":{"arn":"u"}"#).as_bytes())
        .unwrap();
    e.evaluate(untimed.as_bytes()).unwrap();
    let alerts = e.flush();
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        (alerts[0].window_start_ms, alerts[0].window_end_ms),
        (T0, T0)
    );
}

#[test]
fn limits_evict_and_count() {
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 100}}\n";
    let options = Options {
        correlation_lateness_ms: 0,
        max_groups: 10,
        max_events_per_group: 4,
        ..Options::default()
    };
    let mut e = load_with(corr, options).unwrap();
    for i in 0..50u32 {
        let user = format!(r#""userIdentity":{{"arn":"u{i}"}}"#);
        e.evaluate(ev(i, &format!("e{i}"), "StopInstances", &user).as_bytes())
            .unwrap();
    }
    for i in 0..10u32 {
        e.evaluate(ev(100 + i, &format!("f{i}"), "StopInstances", USER).as_bytes())
            .unwrap();
    }
    let s = e.correlation_stats();
    assert!(s.open_groups <= 10, "{s:?}");
    assert!(s.evicted_groups >= 40, "{s:?}");
    assert_eq!(s.dropped_entries, 5, "{s:?}");

    // A byte budget far below one group's worth still holds.
    let options = Options {
        correlation_lateness_ms: 0,
        max_correlation_bytes: 4096,
        ..Options::default()
    };
    let mut e = load_with(corr, options).unwrap();
    for i in 0..1000u32 {
        let user = format!(r#""userIdentity":{{"arn":"{}{i}"}}"#, "x".repeat(100));
        e.evaluate(ev(i % 3600, &format!("e{i}"), "StopInstances", &user).as_bytes())
            .unwrap();
        assert!(
            e.correlation_stats().bytes <= 4096 + 2048,
            "{:?}",
            e.correlation_stats()
        );
    }
}

#[test]
fn waiting_room_is_bounded() {
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 1h, condition: {gte: 1000}}\n";
    let options = Options {
        max_groups: 5,
        ..Options::default()
    };
    let mut e = load_with(corr, options).unwrap();
    for i in 0..20u32 {
        e.evaluate(ev(i, &format!("e{i}"), "StopInstances", USER).as_bytes())
            .unwrap();
    }
    let s = e.correlation_stats();
    assert_eq!(s.pending, 5);
    assert_eq!(s.forced_commits, 15);
}

#[test]
fn load_errors_name_the_problem() {
    let err = |corr: &str| match load_with(corr, Options::default()) {
        Err(crate::LoadError::InvalidRule(e)) => e.reason,
        other => panic!("{other:?}"),
    };
    assert!(
        err("title: x\ncorrelation: {type: temporal, rules: [nope], timespan: 1m}\n")
            .contains("no loaded rule")
    );
    let cycle = "title: a\nname: a\ncorrelation: {type: temporal, rules: [b, stop], timespan: 1m}\n---\ntitle: b\nname: b\ncorrelation: {type: temporal, rules: [a], timespan: 1m}\n";
    assert!(err(cycle).contains("cycle"));
    let alias = "title: x\ncorrelation: {type: temporal, rules: [stop], group-by: [v], timespan: 1m, aliases: {v: {nope: a}}}\n";
    assert!(err(alias).contains("not among this correlation's rules"));
    let chain = "title: a\nname: a\ncorrelation: {type: event_count, rules: [stop], group-by: [x], timespan: 1m, condition: {gte: 1}}\n---\ntitle: b\ncorrelation: {type: temporal, rules: [a], group-by: [y], timespan: 1m}\n";
    assert!(err(chain).contains("does not group by"));
    // With skip_invalid, the bad correlation and those that need it are left out.
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let e = load_with(
        &format!(
            "{chain}---\ntitle: c\ncorrelation: {{type: temporal, rules: [nope], timespan: 1m}}\n"
        ),
        options,
    )
    .unwrap();
    assert_eq!(e.skipped().len(), 2);
    assert_eq!(e.correlation_stats().correlations, 1);
}

#[test]
fn too_many_rules_counts_correlations() {
    let options = Options {
        max_rules: 3,
        ..Options::default()
    };
    let corr = "title: x\ncorrelation: {type: temporal, rules: [stop, start], timespan: 1m}\n";
    assert!(matches!(
        load_with(corr, options),
        Err(crate::LoadError::TooManyRules { limit: 3 })
    ));
}

#[test]
fn azure_and_gcp_events_take_their_own_time_and_id_fields() {
    let rules = r#"
title: Azure disk write
name: azure_disk
logsource: {product: azure}
detection: {sel: {operationName: MICROSOFT.COMPUTE/DISKS/WRITE}, condition: sel}
---
title: GCP instance insert
name: gcp_insert
logsource: {product: gcp}
detection: {sel: {protoPayload.methodName: v1.compute.instances.insert}, condition: sel}
---
title: Azure writes
correlation: {type: event_count, rules: [azure_disk], group-by: [caller], timespan: 1m, condition: {gte: 2}}
---
title: GCP inserts
correlation: {type: event_count, rules: [gcp_insert], group-by: [protoPayload.authenticationInfo.principalEmail], timespan: 1m, condition: {gte: 2}}
"#;
    let mut e = Engine::load(&[RuleSource::new("x.yml", rules)], Options::default()).unwrap();
    let azure = |t: &str, id: &str| {
        format!(
            r#"{{"time":"2024-08-01T12:00:{t}.250Z","operationName":"MICROSOFT.COMPUTE/DISKS/WRITE","caller":"a@b.c","correlationId":"{id}","eventTimestamp":"1999-01-01T00:00:00Z"}}"#
        )
    };
    let gcp = |t: &str, id: &str| {
        format!(
            r#"{{"timestamp":"2024-08-01T12:00:{t}Z","insertId":"{id}","protoPayload":{{"methodName":"v1.compute.instances.insert","authenticationInfo":{{"principalEmail":"x@y.z"}}}}}}"#
        )
    };
    let alerts = run(
        &mut e,
        &[
            azure("00", "az1"),
            gcp("01", "g1"),
            azure("02", "az2"),
            gcp("03", "g2"),
        ],
    );
    let got: Vec<(i64, i64, Vec<&str>)> = alerts
        .iter()
        .map(|a| (a.window_start_ms, a.window_end_ms, ids(a)))
        .collect();
    assert_eq!(
        got,
        vec![
            (T0 + 250, T0 + 2250, vec!["az1", "az2"]),
            (T0 + 1000, T0 + 3000, vec!["g1", "g2"])
        ],
        "Azure reads `time` (not the REST `eventTimestamp`) and `correlationId`; GCP `timestamp` and `insertId`"
    );
}

#[test]
fn lateness_end_gives_the_sorted_alerts_in_any_order() {
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 2}}\n";
    let times = [0, 3, 20, 21, 22, 40, 45, 46, 1800, 1805, 3500];
    let sorted: Vec<String> = times
        .iter()
        .map(|&t| ev(t, &format!("e{t}"), "StopInstances", USER))
        .collect();
    let end = Options {
        correlation_lateness_ms: Options::LATENESS_END,
        ..Options::default()
    };
    let expected = run(&mut load(corr), &sorted);
    assert_eq!(expected.len(), 4, "{expected:#?}");
    // Newest first, as a SIEM lists results: hours behind the newest event.
    let mut newest_first = sorted.clone();
    newest_first.reverse();
    let mut e = load_with(corr, end.clone()).unwrap();
    for line in &newest_first {
        e.evaluate(line.as_bytes()).unwrap();
        assert!(
            e.take_alerts().is_empty(),
            "nothing is final before the end"
        );
    }
    assert_eq!(e.correlation_stats().pending, times.len() as u64);
    let got = e.flush();
    assert_eq!(got, expected);
    let stats = e.correlation_stats();
    assert_eq!((stats.late_events, stats.forced_commits), (0, 0));
}

#[test]
fn a_full_waiting_room_commits_the_oldest_early() {
    // With `LATENESS_END` only the waiting room bounds memory: over it the
    // oldest matches are committed early and counted, and what comes
    // behind them afterwards is late.
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 2}}\n";
    let mut e = load_with(
        corr,
        Options {
            correlation_lateness_ms: Options::LATENESS_END,
            max_groups: 10,
            ..Options::default()
        },
    )
    .unwrap();
    for i in 0..60u32 {
        let who = format!(r#""userIdentity":{{"arn":"u{i}"}}"#);
        e.evaluate(ev(i * 60, &format!("e{i}"), "StopInstances", &who).as_bytes())
            .unwrap();
    }
    assert_eq!(e.correlation_stats().pending, 10);
    e.evaluate(ev(0, "old", "StopInstances", USER).as_bytes())
        .unwrap();
    e.flush();
    let s = e.correlation_stats();
    assert_eq!((s.evicted_groups, s.forced_commits), (0, 50));
    assert_eq!((s.late_events, s.open_groups, s.pending), (1, 0, 0));
}

#[test]
fn late_matches_are_counted_per_rule_with_their_lag() {
    let corr = "title: Burst\nid: 00000000-0000-4000-8000-0000000000b1\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 2}}\n---\ntitle: Pair\nid: 00000000-0000-4000-8000-0000000000b2\ncorrelation: {type: temporal, rules: [stop, start], group-by: [userIdentity.arn], timespan: 5m}\n";
    let mut e = load_with(
        corr,
        Options {
            correlation_lateness_ms: 60_000,
            ..Options::default()
        },
    )
    .unwrap();
    for (t, name) in [
        (600, "StopInstances"),
        (0, "StopInstances"),
        (432, "StartInstances"),
    ] {
        e.evaluate(ev(t, &format!("e{t}"), name, USER).as_bytes())
            .unwrap();
    }
    let s = e.correlation_stats();
    // The stop at 0 is late for both correlations it feeds; the start at
    // 7m12s, 168 s behind, for the one it feeds.
    assert_eq!(s.late_events, 3);
    let burst = e.rules().iter().position(|r| r.title == "Burst").unwrap() as u32;
    let pair = e.rules().iter().position(|r| r.title == "Pair").unwrap() as u32;
    assert_eq!(s.late_by_rule, vec![(burst, 1), (pair, 2)]);
    assert_eq!(s.max_late_lag_ms, 600_000);
}

#[test]
fn a_redelivered_event_does_not_count_twice() {
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10m, condition: {gte: 2}}\n";
    let once = ev(0, "same-id", "StopInstances", USER);
    // Waiting together (one delivery file, then the same file again).
    for lateness in [Options::LATENESS_END, 60_000, 0] {
        let mut e = load_with(
            corr,
            Options {
                correlation_lateness_ms: lateness,
                ..Options::default()
            },
        )
        .unwrap();
        let other = ev(120, "other", "DescribeInstances", USER);
        let alerts = run(&mut e, &[once.clone(), other, once.clone()]);
        assert!(alerts.is_empty(), "lateness {lateness}: {alerts:?}");
        assert_eq!(
            e.correlation_stats().duplicate_events,
            1,
            "lateness {lateness}"
        );
    }
    // Two events, even at the same time, are two: the id tells them apart.
    let mut e = load(corr);
    let alerts = run(
        &mut e,
        &[once.clone(), ev(0, "another-id", "StopInstances", USER)],
    );
    assert_eq!(alerts.len(), 1);
    assert_eq!(e.correlation_stats().duplicate_events, 0);
    // Events without an id cannot be told apart: both count.
    let no_id = r#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventTime":"2024-08-01T12:00:00Z","eventName":"StopInstances","userIdentity":{"arn":"u"}}"#;
    let mut e = load(corr);
    assert_eq!(run(&mut e, &[no_id.into(), no_id.into()]).len(), 1);
}

#[test]
fn a_crowded_time_is_committed_a_chunk_at_a_time() {
    // Untimed events all take the stream's time: one time can fill the
    // waiting room. The event that overflows it commits a chunk of that
    // time, not the whole room (regression: fuzz/regressions/observation/
    // forced-commit-of-one-crowded-time).
    let corr = "title: Burst\ncorrelation: {type: event_count, rules: [stop], group-by: [userIdentity.arn], timespan: 10s, condition: {gte: 1000000}}\n";
    let cap = 3 * super::FORCED_CHUNK;
    let mut e = load_with(
        corr,
        Options {
            max_groups: cap as u32,
            ..Options::default()
        },
    )
    .unwrap();
    e.evaluate(ev(0, "first", "StopInstances", BOB).as_bytes())
        .unwrap();
    for i in 0..cap {
        let untimed = format!(
            r#"{{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","eventID":"u{i}",{USER}}}"#
        );
        e.evaluate(untimed.as_bytes()).unwrap();
    }
    let s = e.correlation_stats();
    assert_eq!(s.forced_commits, super::FORCED_CHUNK as u64, "{s:?}");
    assert_eq!(s.pending, (cap + 1 - super::FORCED_CHUNK) as u64);
    assert_eq!((s.late_events, s.untimed_events), (0, 0));
    // What waits at that time still commits, at the end.
    e.flush();
    assert_eq!(e.correlation_stats().pending, 0);
}
