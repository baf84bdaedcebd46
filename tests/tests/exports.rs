//! SIEM exports read directly (`sigil_engine::export`, through
//! `sigil_stream::Framer` as `sigil run` reads a file): each fixture of
//! `tests/data/exports/` holds the rows of one file of the seeds' SIEM rows
//! (`tests/data/seeds/events/`, the T1578.004 / T1578.002 scenario) in the
//! shape the vendor's API or console writes them, and must give, row for
//! row, the same verdicts under the parity pack (`rules/seeds/`), and the
//! same correlation alerts where the pack has them (LogScale, Sumo).
//!
//! `tests/data/exports/build.py --check` (run here) keeps the fixtures in
//! step with the seed rows they are built from.

mod common;

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;
use sigil_engine::export::InputFormat;
use sigil_engine::input::ndjson_events;
use sigil_engine::{Alert, Engine, Options, Verdict};
use sigil_stream::Framer;

fn exports_dir() -> PathBuf {
    common::data_dir().join("exports")
}

fn pack() -> Engine {
    let dir = common::data_dir().join("../../rules/seeds");
    Engine::load(&common::rule_sources(&dir), Options::default()).expect("the parity pack loads")
}

/// The seed rows of `file`, less `_test_id` (the fixtures do not carry it),
/// as NDJSON; `as_csv`: also less the members that are null or the empty
/// string, which a CSV cell cannot tell apart (an empty cell is read as no
/// value).
fn seed_rows(file: &str, as_csv: bool) -> Vec<u8> {
    let path = common::data_dir().join("seeds/events").join(file);
    let mut out = Vec::new();
    for line in std::fs::read_to_string(&path).unwrap().lines() {
        if line.trim().is_empty() {
            continue;
        }
        let mut v: Value = serde_json::from_str(line).unwrap();
        let row = v.as_object_mut().unwrap();
        row.remove("_test_id");
        if as_csv {
            row.retain(|_, v| !(v.is_null() || v == ""));
        }
        out.extend_from_slice(v.to_string().as_bytes());
        out.push(b'\n');
    }
    out
}

/// `bytes` framed as `sigil run` frames a file, in pieces of `piece`
/// bytes: the NDJSON handed to the engine, and the format read.
fn framed(bytes: &[u8], format: InputFormat, piece: usize) -> (Vec<u8>, InputFormat) {
    let mut framer = Framer::with_format(format);
    let mut out = Vec::new();
    for chunk in bytes.chunks(piece) {
        framer.push(chunk);
        while let Some(b) = framer.next_block().unwrap() {
            out.extend_from_slice(b);
        }
    }
    framer.finish();
    while let Some(b) = framer.next_block().unwrap() {
        out.extend_from_slice(b);
    }
    (out, framer.format())
}

/// Every event's verdict, and every alert, of `ndjson` on a fresh pack.
fn run(ndjson: &[u8]) -> (Vec<Verdict>, Vec<Alert>) {
    let mut engine = pack();
    let mut verdicts = Vec::new();
    let mut alerts = Vec::new();
    for event in ndjson_events(ndjson) {
        verdicts.push(
            engine
                .evaluate(event)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(event))),
        );
        alerts.extend(engine.take_alerts());
    }
    alerts.extend(engine.flush());
    (verdicts, alerts)
}

/// What one fixture gave.
struct Outcome {
    /// Rows with a finding.
    matched: usize,
    alerts: usize,
    /// CSV only: the seed rows (0-based) whose verdict differs once their
    /// empty and null members are dropped, as CSV drops them.
    csv_differs: Vec<usize>,
    /// CSV only: the seeds' alerts not given once those members are dropped.
    csv_alerts_lost: usize,
}

/// The fixture `name`, detected as `format`, gives the verdicts and alerts
/// of the seed rows of `seeds` (for CSV, as CSV can write them: see
/// [`seed_rows`]; but a Sumo CSV carries each record whole in `_raw`).
fn same_as_seeds(name: &str, format: InputFormat, seeds: &str) -> Outcome {
    let bytes = std::fs::read(exports_dir().join(name)).unwrap();
    let (rows, detected) = framed(&bytes, InputFormat::Auto, 1 << 20);
    assert_eq!(detected, format, "{name} is detected as {format}");
    for piece in [1, 7, 4096] {
        assert_eq!(
            framed(&bytes, format, piece).0,
            rows,
            "{name}: pieces of {piece}"
        );
    }
    let (got, got_alerts) = run(&rows);
    let as_csv = format == InputFormat::Csv && !name.starts_with("sumo");
    let (want, want_alerts) = run(&seed_rows(seeds, as_csv));
    assert_eq!(got.len(), want.len(), "{name}: one row per seed row");
    let lines: Vec<&[u8]> = ndjson_events(&rows).collect();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(
            g.findings,
            w.findings,
            "{name}, row {i}: {}",
            String::from_utf8_lossy(lines[i])
        );
        assert_eq!(
            (g.score, g.level, g.source),
            (w.score, w.level, w.source),
            "{name}, row {i}"
        );
        assert!(g.warnings.is_empty(), "{name}, row {i}: {:?}", g.warnings);
    }
    assert_eq!(got_alerts, want_alerts, "{name}: the same alerts");
    let (csv_differs, csv_alerts_lost) = if as_csv {
        let (exact, exact_alerts) = run(&seed_rows(seeds, false));
        let lost = exact_alerts
            .iter()
            .filter(|a| !want_alerts.contains(a))
            .count();
        (
            (0..want.len()).filter(|&i| want[i] != exact[i]).collect(),
            lost,
        )
    } else {
        (Vec::new(), 0)
    };
    Outcome {
        matched: got.iter().filter(|v| !v.findings.is_empty()).count(),
        alerts: got_alerts.len(),
        csv_differs,
        csv_alerts_lost,
    }
}

#[test]
fn fixtures_are_built_from_the_seed_rows() {
    let status = Command::new("python3")
        .arg(exports_dir().join("build.py"))
        .arg("--check")
        .status()
        .expect("python3 runs");
    assert!(
        status.success(),
        "tests/data/exports/ is stale: run python3 tests/data/exports/build.py"
    );
}

#[test]
fn qradar_ariel_json_and_csv() {
    let json = same_as_seeds(
        "qradar_ariel.json",
        InputFormat::QRadarAriel,
        "qradar.ndjson",
    );
    assert!(json.matched > 0);
    let csv = same_as_seeds("qradar_ariel.csv", InputFormat::Csv, "qradar.ndjson");
    // AQL tells NULL from '': `username NOT ILIKE '%backup%service%'` is
    // true on '' and unknown on NULL, so the seed row whose username is ''
    // is found from the API's JSON and, an empty cell, not from CSV.
    assert_eq!(csv.csv_differs, [30]);
    assert_eq!(csv.matched, json.matched - 1);
}

#[test]
fn log_analytics_api_and_portal_csv() {
    for table in ["awscloudtrail", "azureactivity"] {
        let seeds = format!("sentinel_{table}.ndjson");
        let api = same_as_seeds(
            &format!("log_analytics_{table}.json"),
            InputFormat::LogAnalytics,
            &seeds,
        );
        assert!(api.matched > 0, "{table}");
        let csv = same_as_seeds(
            &format!("log_analytics_{table}.csv"),
            InputFormat::Csv,
            &seeds,
        );
        // KQL's isempty() is true on null and '' alike: CSV loses nothing.
        assert_eq!(
            (csv.csv_differs.len(), csv.csv_alerts_lost),
            (0, 0),
            "{table}"
        );
        assert_eq!(csv.matched, api.matched, "{table}");
    }
}

#[test]
fn sumo_search_job_and_csv() {
    // The pack's Sumo rules only feed their `stats ... by` correlations.
    let api = same_as_seeds(
        "sumo_search_job.json",
        InputFormat::SumoSearch,
        "sumo.ndjson",
    );
    assert!(api.alerts > 0);
    let csv = same_as_seeds("sumo_messages.csv", InputFormat::Csv, "sumo.ndjson");
    assert_eq!((csv.alerts, csv.csv_differs.len()), (api.alerts, 0));
}

#[test]
fn logscale_csv() {
    let csv = same_as_seeds("logscale_falcon.csv", InputFormat::Csv, "falcon.ndjson");
    assert!(csv.alerts > 0);
    // The row whose ActorUserName is '' is grouped under '' by LogScale's
    // groupBy, and under no user from CSV, which cannot tell '' from no
    // value: that group's alert is not given.
    assert_eq!((csv.csv_differs.len(), csv.csv_alerts_lost), (0, 1));
}
