//! A plugin call that traps, runs out of time, fuel or memory costs only
//! its events: every event still reaches the output, marked and counted.

use sigil_engine::{Options, RuleSource};
use sigil_host::{Detector, Error, FuelLimits, HostConfig, Plugin, run_to_vec};

fn rule() -> RuleSource {
    RuleSource::new(
        "stop.yml",
        r#"
title: EC2 instance stopped
id: 6a3a7d0e-0000-4000-8000-000000000001
level: low
logsource: {product: aws, service: cloudtrail}
detection:
    selection:
        eventSource: ec2.amazonaws.com
        eventName: StopInstances
    condition: selection
"#,
    )
}

const EVENTS: &str = concat!(
    r#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#,
    "\n",
    r#"{"eventSource":"ec2.amazonaws.com","eventName":"StartInstances"}"#,
    "\n",
    "not json at all\n",
    r#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#,
    "\n",
);

/// Runs [`EVENTS`] through a plugin whose evaluation calls all fail and
/// checks that every event is still written, marked with `reason`.
fn every_call_fails(config: HostConfig, reason: &str) {
    let plugin = Plugin::builtin(config).unwrap();
    let mut detector = Detector::Component(plugin.session(&[rule()], &Options::default()).unwrap());
    let (out, counters) = run_to_vec(&mut detector, EVENTS.as_bytes()).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for line in &lines {
        let v: serde_json::Value = serde_json::from_str(line).expect("output stays NDJSON");
        let error = v["sigil"]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("not marked: {line}"));
        assert!(error.contains(reason), "{error}");
    }
    // Events are written in input order, the bad line wrapped with its text.
    assert!(lines[0].contains("StopInstances") && lines[1].contains("StartInstances"));
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(lines[2]).unwrap()["sigil"]["raw"],
        "not json at all"
    );
    assert_eq!(counters.events_in, 4);
    assert_eq!(counters.events_out, 4);
    assert_eq!(counters.errors, 4);
    assert_eq!(counters.matched, 0);
    // One restart for the batch, one per failed event.
    assert_eq!(counters.plugin_restarts, 5);
}

#[test]
fn out_of_time_marks_every_event_and_the_run_goes_on() {
    // A zero deadline for evaluation calls: the batch call fails, and so
    // does each per-event retry. Loading keeps its own deadline.
    let config = HostConfig {
        ms_per_mib: 0,
        min_call_ms: 0,
        ..HostConfig::default()
    };
    every_call_fails(config, "ran out of time");
}

#[test]
fn out_of_fuel_marks_every_event_and_the_run_goes_on() {
    // Fuel metering instead of deadlines, with no fuel for evaluation calls.
    let config = HostConfig {
        fuel: Some(FuelLimits {
            per_mib: 0,
            ..FuelLimits::default()
        }),
        ..HostConfig::default()
    };
    every_call_fails(config, "fuel");
}

#[test]
fn enough_time_gives_the_native_output() {
    gives_the_native_output(HostConfig::default());
}

#[test]
fn enough_fuel_gives_the_native_output() {
    gives_the_native_output(HostConfig {
        fuel: Some(FuelLimits::default()),
        ..HostConfig::default()
    });
}

fn gives_the_native_output(config: HostConfig) {
    let plugin = Plugin::builtin(config).unwrap();
    let mut component =
        Detector::Component(plugin.session(&[rule()], &Options::default()).unwrap());
    let mut native =
        Detector::Native(sigil_engine::Engine::load(&[rule()], Options::default()).unwrap());
    let (a, ca) = run_to_vec(&mut component, EVENTS.as_bytes()).unwrap();
    let (b, cb) = run_to_vec(&mut native, EVENTS.as_bytes()).unwrap();
    let out = String::from_utf8(a).unwrap();
    assert_eq!(out, String::from_utf8(b).unwrap());
    let garbage: serde_json::Value = serde_json::from_str(out.lines().nth(2).unwrap()).unwrap();
    assert_eq!(garbage["sigil"]["raw"], "not json at all");
    assert_eq!(ca, cb);
    assert_eq!(
        (ca.events_in, ca.matched, ca.errors, ca.plugin_restarts),
        (4, 2, 1, 0)
    );
}

#[test]
fn memory_cap_below_the_plugin_needs_fails_the_load() {
    let config = HostConfig {
        max_memory: 64 << 10,
        ..HostConfig::default()
    };
    let plugin = Plugin::builtin(config).unwrap();
    match plugin.session(&[rule()], &Options::default()) {
        Err(Error::PluginFailed(reason)) => assert!(!reason.is_empty()),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a 64 KiB cap cannot hold the plugin"),
    }
}

#[test]
fn load_fuel_exhaustion_fails_the_load() {
    let config = HostConfig {
        fuel: Some(FuelLimits {
            per_load: 0,
            ..FuelLimits::default()
        }),
        ..HostConfig::default()
    };
    let plugin = Plugin::builtin(config).unwrap();
    match plugin.session(&[rule()], &Options::default()) {
        Err(Error::PluginFailed(reason)) => assert!(reason.contains("fuel"), "{reason}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("no fuel, no load"),
    }
}

#[test]
fn load_deadline_fails_the_load() {
    let config = HostConfig {
        load_ms: 0,
        ..HostConfig::default()
    };
    let plugin = Plugin::builtin(config).unwrap();
    match plugin.session(&[rule()], &Options::default()) {
        Err(Error::PluginFailed(reason)) => assert!(reason.contains("time"), "{reason}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("no time, no load"),
    }
}

#[test]
fn the_deadline_timer_stops_a_long_call() {
    // A regular expression the engine must run over every event (no
    // literal to prefilter on), over long values: far more work in one
    // call than a 1 ms deadline (two ticks of the timer) allows, while
    // each event alone fits in it.
    let slow = RuleSource::new(
        "slow.yml",
        r#"
title: slow pattern
id: 6a3a7d0e-0000-4000-8000-000000000002
logsource: {product: aws}
detection:
    selection:
        eventName|re: '(a|b)*c'
    condition: selection
"#,
    );
    let event = format!("{{\"eventName\":\"{}\"}}\n", "a".repeat(32 << 10));
    let block = event.repeat(512);
    let config = HostConfig {
        ms_per_mib: 0,
        min_call_ms: 1,
        ..HostConfig::default()
    };
    let plugin = Plugin::builtin(config).unwrap();
    let mut session = plugin.session(&[slow], &Options::default()).unwrap();
    let started = std::time::Instant::now();
    let batch = session.evaluate_batch(block.as_bytes()).unwrap();
    assert!(session.restarts() >= 1, "the long call was not stopped");
    assert_eq!(session.restarts(), 1 + batch.entries.len() as u64);
    assert_eq!(batch.events, 512);
    for entry in &batch.entries {
        match &entry.outcome {
            Err(sigil_host::Failure::Plugin(reason)) => {
                assert!(reason.contains("ran out of time"), "{reason}")
            }
            other => panic!("event {} should not match: {other:?}", entry.index),
        }
    }
    // The retries mostly fit: a loaded machine may fail a few of them.
    assert!(batch.entries.len() < 512, "every retry timed out");
    assert!(started.elapsed().as_secs() < 60);
}
