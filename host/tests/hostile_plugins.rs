//! Hostile plugins (issue 14): for each way a plugin from a stranger can
//! misbehave, the host's stated answer. The run goes on, every input event
//! comes out exactly once (`events in = events out`), and the cause is in
//! the counters and, for `sigil run`, on stderr.
//!
//! The plugin is `target/hostile-plugin.wasm` (tests/plugins/hostile/, built
//! by `scripts/build-hostile-plugin`): the real engine, misbehaving as a
//! marker in the rule pack (`# sigil-hostile: MODE`) asks. Components that
//! are wrong as a whole (another version of the contract, another world)
//! are written here as text.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;
use sigil_engine::{Options, RuleSource};
use sigil_host::{Counters, Detector, Error, HostConfig, Plugin, Runner};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn hostile_path() -> PathBuf {
    root().join("target/hostile-plugin.wasm")
}

fn hostile_wasm() -> Vec<u8> {
    std::fs::read(hostile_path()).unwrap_or_else(|e| {
        panic!(
            "\n\ntarget/hostile-plugin.wasm is missing ({e}): build it with \
             `bash scripts/build-hostile-plugin` (scripts/test does it first).\n\n"
        )
    })
}

/// The hostile plugin under the default limits, compiled once for every
/// test of this file (compiling takes seconds; sessions are cheap).
fn hostile() -> &'static Plugin {
    static PLUGIN: OnceLock<Plugin> = OnceLock::new();
    PLUGIN.get_or_init(|| Plugin::new(&hostile_wasm(), HostConfig::default()).unwrap())
}

/// The two real captures the built-in pack finds something in (4 matches,
/// one correlation alert): 38 events in two inputs, so two blocks.
const CAPTURES: [&str; 2] = [
    "aws.execution.ec2-user-data.json",
    "aws.execution.ec2-launch-unusual-instances.json",
];

fn capture_paths() -> Vec<PathBuf> {
    let dir = root().join("tests/data/corpora/stratus-detonation-logs");
    CAPTURES.iter().map(|name| dir.join(name)).collect()
}

/// The events of the captures, in input order.
fn capture_events() -> Vec<Value> {
    let mut events = Vec::new();
    for path in capture_paths() {
        let doc: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        match doc {
            Value::Array(items) => events.extend(items),
            Value::Object(mut o) => match o.remove("Records") {
                Some(Value::Array(items)) => events.extend(items),
                _ => events.push(Value::Object(o)),
            },
            other => panic!("unexpected capture shape: {other}"),
        }
    }
    events
}

/// The built-in pack with the marker on top.
fn pack(mode: &str) -> Vec<RuleSource> {
    let mut rules = sigil_host::builtin_rules();
    rules.push(RuleSource::new(
        "hostile.yml",
        format!("# sigil-hostile: {mode}\n"),
    ));
    rules
}

/// Runs the captures through `detector` as `sigil run` does (one input
/// after the other, then the end of input).
fn run(detector: &mut Detector) -> (String, Counters) {
    let mut out = Vec::new();
    let mut runner = Runner::new(detector);
    for path in capture_paths() {
        let file = std::fs::File::open(&path).unwrap();
        runner.run(&path, file, &mut out).unwrap();
    }
    runner.finish(&mut out).unwrap();
    let counters = runner.counters().clone();
    (String::from_utf8(out).unwrap(), counters)
}

/// Checks the accounting: one line per input event, in order, each valid
/// JSON holding that event; returns the event lines (alerts left out).
fn every_event_once(out: &str, counters: &Counters) -> Vec<Value> {
    let events = capture_events();
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l:.200}")))
        .filter(|v: &Value| v.get("sigil_alert").is_none())
        .collect();
    assert_eq!(lines.len(), events.len(), "one line per event");
    for (line, event) in lines.iter().zip(&events) {
        let mut bare = line.clone();
        bare.as_object_mut().unwrap().remove("sigil");
        assert_eq!(&bare, event, "the right event, in input order");
    }
    assert_eq!(counters.events_in, events.len() as u64);
    assert_eq!(counters.events_out, counters.events_in, "in = out");
    lines
}

fn errors(lines: &[Value]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l["sigil"]["error"].as_str())
        .collect()
}

fn faults(counters: &Counters) -> String {
    let causes: Vec<String> = counters
        .plugin_faults
        .iter()
        .map(|f| format!("{} x{}", f.cause, f.count))
        .collect();
    causes.join("; ")
}

/// Runs `mode`; checks the accounting and that the faults name `cause`.
fn hostile_run(mode: &str, cause: &str) -> (Vec<Value>, Counters) {
    let session = hostile().session(&pack(mode), &Options::default()).unwrap();
    let mut detector = Detector::Component(session);
    let (out, counters) = run(&mut detector);
    let lines = every_event_once(&out, &counters);
    assert!(
        counters
            .plugin_faults
            .iter()
            .any(|f| f.cause.contains(cause)),
        "{mode}: the faults should name {cause:?}: {}",
        faults(&counters)
    );
    assert!(counters.plugin_restarts > 0, "{mode}");
    (lines, counters)
}

/// The event lines of the honest plugin, for modes whose retry recovers
/// every verdict.
fn honest_lines() -> Vec<Value> {
    let session = hostile()
        .session(&pack("honest"), &Options::default())
        .unwrap();
    let mut detector = Detector::Component(session);
    let (out, counters) = run(&mut detector);
    assert_eq!(counters.matched, 4);
    assert!(counters.plugin_faults.is_empty());
    every_event_once(&out, &counters)
}

/// A verdict-corrupting mode corrupts every verdict, also on retry: every
/// event is written marked with the error, none is lost.
fn every_event_marked(mode: &str, cause: &str) {
    let (lines, counters) = hostile_run(mode, cause);
    let errors = errors(&lines);
    assert_eq!(errors.len(), lines.len(), "{mode}: every event marked");
    assert_eq!(counters.errors, lines.len() as u64);
    assert_eq!(counters.matched, 0);
    // The first block (35 events): its call, 4 events in a row, the rest
    // not retried; the second (3 events): its call and each event.
    assert!(
        errors.iter().any(|e| e.contains(cause)),
        "{mode}: {errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("not retried")),
        "{mode}: {errors:?}"
    );
    assert_eq!(
        counters.plugin_restarts,
        1 + 4 + 1 + 3,
        "{mode}: {}",
        faults(&counters)
    );
}

/// A mode the batch check catches and the event-by-event retry recovers:
/// the same verdicts as the honest plugin, the cause counted once a block.
fn recovered_by_retry(mode: &str, cause: &str) {
    let (lines, counters) = hostile_run(mode, cause);
    assert_eq!(
        lines,
        honest_lines(),
        "{mode}: the retry gives the real verdicts"
    );
    assert_eq!(counters.errors, 0);
    assert_eq!(counters.matched, 4);
    assert_eq!(faults(&counters), format!("{cause} x2"));
    // The fresh instances lost the correlation windows: counted.
    assert_eq!(counters.correlation_resets, 2);
}

#[test]
fn the_hostile_plugin_is_honest_without_a_marker() {
    let lines = honest_lines();
    let builtin = Plugin::builtin(HostConfig::default()).unwrap();
    let session = builtin
        .session(&pack("honest"), &Options::default())
        .unwrap();
    let mut detector = Detector::Component(session);
    let (out, counters) = run(&mut detector);
    assert_eq!(every_event_once(&out, &counters), lines);
}

#[test]
fn an_entry_past_the_block_is_refused_and_retried() {
    recovered_by_retry(
        "index-out-of-range",
        "plugin broke the batch protocol: an entry names an event past the block",
    );
}

#[test]
fn an_event_answered_twice_is_refused_and_retried() {
    recovered_by_retry(
        "index-duplicated",
        "plugin broke the batch protocol: entries repeat an event or are out of order",
    );
}

#[test]
fn entries_out_of_order_are_refused_and_retried() {
    recovered_by_retry(
        "index-out-of-order",
        "plugin broke the batch protocol: entries repeat an event or are out of order",
    );
}

#[test]
fn a_wrong_event_count_is_refused_and_retried() {
    recovered_by_retry(
        "count-wrong",
        "plugin broke the batch protocol: it counted another number of events than the block holds",
    );
}

/// The batch answer is sparse (an event without an entry matched nothing),
/// so a plugin that leaves entries out is one that evaluates wrongly: the
/// host cannot tell. Every line still comes out, as a no-match.
#[test]
fn missing_entries_read_as_no_match() {
    let session = hostile()
        .session(&pack("index-missing"), &Options::default())
        .unwrap();
    let mut detector = Detector::Component(session);
    let (out, counters) = run(&mut detector);
    let lines = every_event_once(&out, &counters);
    assert_eq!(counters.matched, 0);
    assert_eq!(counters.errors, 0);
    assert!(lines.iter().all(|l| l["sigil"]["score"] == 0), "{out:.500}");
}

#[test]
fn a_score_over_100_is_refused() {
    every_event_marked(
        "score-out-of-range",
        "plugin broke the protocol: a finding's score is over 100",
    );
}

#[test]
fn a_rule_index_past_the_table_is_refused() {
    every_event_marked(
        "rule-index-past-table",
        "plugin broke the protocol: a finding names a rule outside the rule table",
    );
}

#[test]
fn keep_false_cannot_drop_lines() {
    every_event_marked(
        "keep-false",
        "plugin broke the protocol: a verdict's keep does not follow the options",
    );
}

/// 100 MB in one label: the copy out of the guest stops at
/// `max_answer_bytes` (64 MiB), nothing larger is allocated or written.
#[test]
fn a_100_mb_label_is_refused() {
    every_event_marked("huge-label", "plugin's answer is over --max-answer-bytes");
}

/// A label over `max_string_bytes` but within the answer's bound.
#[test]
fn a_label_over_the_string_limit_is_refused() {
    let config = HostConfig {
        max_answer_bytes: 256 << 20,
        ..HostConfig::default()
    };
    let plugin = Plugin::new(&hostile_wasm(), config).unwrap();
    let session = plugin
        .session(&pack("huge-label"), &Options::default())
        .unwrap();
    let mut detector = Detector::Component(session);
    let (out, counters) = run(&mut detector);
    let lines = every_event_once(&out, &counters);
    assert_eq!(errors(&lines).len(), lines.len());
    assert!(
        faults(&counters)
            .contains("a string of its answer is over --max-string-bytes (1048576 bytes)"),
        "{}",
        faults(&counters)
    );
    assert!(out.len() < 1 << 20, "no 100 MB line: {} bytes", out.len());
}

/// Four million findings in every verdict.
#[test]
fn millions_of_findings_are_refused() {
    every_event_marked("huge-answer", "plugin's answer is over --max-answer-bytes");
}

/// A plugin that traps on every 2nd call: the first block passes, the
/// second fails and is retried; on retry every 2nd event's call traps, and
/// only those events are marked.
#[test]
fn a_plugin_that_traps_every_nth_call_costs_only_those_events() {
    let (lines, counters) = hostile_run("trap-every:2", "unreachable");
    let honest = honest_lines();
    let marked: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i]["sigil"].get("error").is_some())
        .collect();
    // The second input (3 events) is the second block: its 2nd event is the
    // 2nd call of the fresh instance.
    assert_eq!(marked, vec![36], "{}", faults(&counters));
    for (i, (line, honest)) in lines.iter().zip(&honest).enumerate() {
        if i != 36 {
            assert_eq!(line, honest, "line {i}");
        }
    }
    assert_eq!(counters.errors, 1);
}

/// A plugin that never returns: each block costs its deadline plus
/// `max_failures_in_a_row` event deadlines, not one per event.
#[test]
fn a_plugin_that_loops_is_stopped_in_bounded_time() {
    let started = Instant::now();
    let (lines, counters) = hostile_run("loop", "plugin ran out of time");
    let took = started.elapsed();
    assert_eq!(errors(&lines).len(), lines.len());
    // Two blocks: 2 x (0.5 s + 4 x 0.5 s) at the default limits, plus the
    // restarts; before the bound, 38 x 0.5 s.
    assert!(took < Duration::from_secs(15), "took {took:?}");
    assert_eq!(
        counters.plugin_restarts,
        1 + 4 + 1 + 3,
        "{}",
        faults(&counters)
    );
}

#[test]
fn a_plugin_that_allocates_without_bound_is_stopped_by_the_memory_cap() {
    let (lines, _) = hostile_run("alloc", "");
    assert_eq!(errors(&lines).len(), lines.len());
    let e = errors(&lines).join("\n");
    assert!(
        e.contains("ran out of memory (--max-memory 268435456 bytes)")
            || e.contains("ran out of time"),
        "{e}"
    );
}

#[test]
fn a_plugin_that_traps_in_load_is_refused_with_the_cause() {
    match hostile().session(&pack("load-trap"), &Options::default()) {
        Err(Error::PluginFailed(reason)) => assert!(reason.contains("unreachable"), "{reason}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a load that traps gives no session"),
    }
}

#[test]
fn a_plugin_that_loops_in_load_is_stopped_by_the_load_deadline() {
    let config = HostConfig {
        load_ms: 300,
        ..HostConfig::default()
    };
    let plugin = Plugin::new(&hostile_wasm(), config).unwrap();
    let started = Instant::now();
    match plugin.session(&pack("load-loop"), &Options::default()) {
        Err(Error::PluginFailed(reason)) => {
            assert!(reason.contains("ran out of time (--load-ms)"), "{reason}")
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a load that never returns gives no session"),
    }
    assert!(started.elapsed() < Duration::from_secs(5));
}

// Components wrong as a whole: refused by `Plugin::new`, saying what is
// wrong and what to do.

fn refused(wat: &str) -> String {
    let wasm = wat::parse_str(wat).unwrap();
    match Plugin::new(&wasm, HostConfig::default()) {
        Err(Error::InvalidPlugin(reason)) => {
            let shown = Error::InvalidPlugin(reason.clone()).to_string();
            assert!(shown.contains("scripts/build-component"), "{shown}");
            reason
        }
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("accepted: {wat}"),
    }
}

#[test]
fn a_plugin_of_another_contract_version_is_refused_by_name() {
    let reason = refused(
        r#"(component
            (instance $detector)
            (export "sigil:engine/detector@0.1.0" (instance $detector)))"#,
    );
    assert!(
        reason.contains("it exports sigil:engine/detector@0.1.0")
            && reason.contains("sigil:engine/detector@0.2.0")
            && reason.contains("rebuild the plugin"),
        "{reason}"
    );
}

#[test]
fn a_component_of_another_world_is_refused() {
    let reason = refused(
        r#"(component
            (instance $scanner)
            (export "acme:scanner/detector@1.0.0" (instance $scanner)))"#,
    );
    assert!(
        reason.contains("acme:scanner/detector@1.0.0")
            && reason.contains("but not sigil:engine/detector@0.2.0"),
        "{reason}"
    );
    let reason = refused("(component)");
    assert!(reason.contains("it exports nothing"), "{reason}");
}

#[test]
fn a_plugin_whose_detector_has_the_wrong_shape_is_refused() {
    let reason = refused(
        r#"(component
            (instance $detector)
            (export "sigil:engine/detector@0.2.0" (instance $detector)))"#,
    );
    assert!(
        reason.contains("does not match this sigil's") && reason.contains("rebuild"),
        "{reason}"
    );
}

#[test]
fn a_plugin_with_an_import_is_refused() {
    let reason = refused(
        r#"(component
            (import "wasi:cli/environment@0.2.0" (instance)))"#,
    );
    assert!(
        reason.contains("imports wasi:cli/environment@0.2.0") && reason.contains("import nothing"),
        "{reason}"
    );
}

#[test]
fn a_core_module_is_refused_with_how_to_wrap_it() {
    let reason = refused("(module)");
    assert!(reason.contains("wasm-tools component new"), "{reason}");
}

// The CLI: the cause on stderr once, the counts in the summary, the exit
// status.

fn sigil_run(mode: &str, extra: &[&str]) -> (std::process::Output, Duration) {
    let dir = root().join("target/tmp/hostile-plugins");
    std::fs::create_dir_all(&dir).unwrap();
    let marker = dir.join(format!("{}.yml", mode.replace(':', "-")));
    std::fs::write(&marker, format!("# sigil-hostile: {mode}\n")).unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .arg("run")
        .arg("--plugin")
        .arg(hostile_path())
        .arg("--add-rules")
        .arg(&marker)
        .args(extra)
        .args(capture_paths())
        .output()
        .expect("sigil runs");
    (out, started.elapsed())
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Checks a completed run: status 0, every event once, the cause on
/// stderr when first seen and with its count at the end.
fn cli_run_goes_on(mode: &str, cause: &str) -> String {
    hostile_wasm();
    let (out, took) = sigil_run(mode, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{mode}: {err}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines = stdout
        .lines()
        .filter(|l| !l.starts_with("{\"sigil_alert\""))
        .count();
    assert_eq!(lines, capture_events().len(), "{mode}");
    assert_eq!(
        err.matches(&format!("sigil: plugin fault: {cause}"))
            .count(),
        1,
        "{mode}: the cause once when first seen: {err}"
    );
    assert!(err.contains("sigil: plugin fault x"), "{mode}: {err}");
    assert!(err.contains(", plugin faults "), "{mode}: {err}");
    assert!(err.contains("events in 38, out 38"), "{mode}: {err}");
    eprintln!("{mode}: {took:?}\n{err}");
    err
}

#[test]
fn cli_a_looping_plugin_is_reported_and_the_run_ends() {
    let err = cli_run_goes_on("loop", "plugin ran out of time");
    assert!(err.contains("errors 38"), "{err}");
}

#[test]
fn cli_a_broken_batch_answer_is_reported_though_no_line_is_marked() {
    let err = cli_run_goes_on(
        "index-duplicated",
        "plugin broke the batch protocol: entries repeat an event or are out of order",
    );
    assert!(err.contains("errors 0"), "{err}");
}

#[test]
fn cli_a_huge_label_is_reported() {
    cli_run_goes_on("huge-label", "plugin's answer is over --max-answer-bytes");
}

#[test]
fn cli_a_plugin_that_traps_in_load_ends_the_run_with_status_2() {
    hostile_wasm();
    let (out, _) = sigil_run("load-trap", &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("the plugin failed while loading the rule pack: plugin trapped"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn the_hostile_plugin_is_where_the_tests_expect_it() {
    assert!(
        Path::new(&hostile_path()).is_file(),
        "target/hostile-plugin.wasm is missing: run `bash scripts/build-hostile-plugin`"
    );
}

/// `--threads`: evaluators meet every attack through
/// `evaluate-batch-detached` as the single path does through
/// `evaluate-batch`: the run goes on, every line comes out once, the cause
/// is reported and counted.
#[test]
fn cli_every_thread_count_meets_the_attacks_the_same_way() {
    hostile_wasm();
    for threads in ["1", "2", "4"] {
        for (mode, cause) in [
            ("trap-every:1", "plugin trapped"),
            ("index-out-of-order", "plugin broke the batch protocol"),
            ("count-wrong", "plugin broke the batch protocol"),
            ("score-out-of-range", "plugin broke the protocol"),
        ] {
            let (out, _) = sigil_run(mode, &["--threads", threads]);
            let err = stderr(&out);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{mode} --threads {threads}: {err}"
            );
            let lines = String::from_utf8(out.stdout)
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with("{\"sigil_alert\""))
                .count();
            assert_eq!(lines, capture_events().len(), "{mode} --threads {threads}");
            assert!(
                err.contains(&format!("sigil: plugin fault: {cause}")),
                "{mode} --threads {threads}: {err}"
            );
            assert!(
                err.contains(", plugin faults "),
                "{mode} --threads {threads}: {err}"
            );
            assert!(
                err.contains("events in 38, out 38"),
                "{mode} --threads {threads}: {err}"
            );
        }
    }
}
