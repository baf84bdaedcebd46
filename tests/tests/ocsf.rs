//! `--format ocsf` against the OCSF schema: every record sigil writes over
//! the corpora (the Stratus captures, the seeds' SIEM rows, the Atomic Red
//! Team events) with the built-in pack, the seeds' parity pack and the
//! SigmaHQ cloud rules is a valid OCSF 1.8.0 Detection Finding, as the
//! schema's own source files define it (`tests/data/ocsf/`, see
//! `ocsf_validator`); there is one record per finding and per alert; and
//! the validator itself refuses what it must.

mod common;
mod ocsf_validator;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sigil_engine::{Engine, Options, RuleSource};
use sigil_stream::{Format, Framer, Output};

use ocsf_validator::Schema;

fn schema() -> Schema {
    Schema::load(
        &common::data_dir().join("ocsf"),
        &[
            "base_event.json",
            "findings/finding.json",
            "findings/detection_finding.json",
        ],
    )
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// What `sigil run --native --format FORMAT` writes for `input`, and the
/// run's counters.
fn run(
    rules: &[RuleSource],
    input: &[u8],
    format: Format,
    now_ms: i64,
) -> (Vec<u8>, sigil_stream::Counters) {
    let mut engine = Engine::load(rules, Options::default()).unwrap();
    run_on(&mut engine, input, format, now_ms)
}

/// As [`run`], on a loaded engine (its windows are flushed at the end, so
/// the next input starts afresh, as a new run would).
fn run_on(
    engine: &mut Engine,
    input: &[u8],
    format: Format,
    now_ms: i64,
) -> (Vec<u8>, sigil_stream::Counters) {
    let mut output = Output::new(engine.rules(), engine.options()).format(format, engine.rules());
    output.now_ms(now_ms);
    let mut framer = Framer::new();
    framer.push(input);
    framer.finish();
    let mut out = Vec::new();
    while let Some(block) = framer.next_block().unwrap() {
        let (mut entries, mut alerts) = (Vec::new(), Vec::new());
        engine.evaluate_batch(block, &mut entries, &mut alerts);
        let entries = entries.into_iter().map(|e| (e.index, e.outcome));
        output.block(&mut out, block, entries, alerts);
    }
    output.alerts(&mut out, &engine.flush());
    let counters = output.counters().clone();
    (out, counters)
}

/// The inputs: each Stratus capture, each seeds events file, the Atomic
/// Red Team events.
fn corpora() -> Vec<(String, Vec<u8>)> {
    let mut inputs: Vec<(String, Vec<u8>)> = common::stratus_captures()
        .into_iter()
        .map(|c| (c.file, c.bytes))
        .collect();
    for dir in ["seeds/events", "atomic"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(common::data_dir().join(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                matches!(
                    p.extension().and_then(|e| e.to_str()),
                    Some("ndjson" | "json")
                )
            })
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            inputs.push((format!("{dir}/{name}"), std::fs::read(&path).unwrap()));
        }
    }
    inputs
}

#[test]
fn every_record_over_the_corpora_is_a_valid_detection_finding() {
    let schema = schema();
    assert_eq!(schema.version(), sigil_render::ocsf::OCSF_VERSION);
    let packs = [
        (
            "built-in",
            common::rule_sources(&repo().join("rules/cloud-compute")),
        ),
        ("seeds", common::rule_sources(&repo().join("rules/seeds"))),
        ("sigmahq", common::rule_sources(&common::sigmahq_dir())),
    ];
    let inputs = corpora();
    let (mut records, mut alerts, mut cloud) = (0, 0, 0);
    for (pack, rules) in &packs {
        let mut ocsf_engine = Engine::load(rules, Options::default()).unwrap();
        let mut json_engine = Engine::load(rules, Options::default()).unwrap();
        for (file, bytes) in &inputs {
            let (out, counters) = run_on(&mut ocsf_engine, bytes, Format::Ocsf, 1_700_000_000_000);
            // The same run in sigil's JSON: one OCSF record per finding
            // there, and per alert.
            let (json_out, json_counters) = run_on(&mut json_engine, bytes, Format::Json, 0);
            let mut expected = 0;
            for line in json_out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                let v: Value = serde_json::from_slice(line).unwrap();
                expected += match v.get("sigil_alert") {
                    Some(_) => 1,
                    None => v["sigil"]["findings"].as_array().map_or(0, Vec::len),
                };
            }
            let lines: Vec<&[u8]> = out
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(lines.len(), expected, "{pack} on {file}: records");
            assert_eq!(counters.matched, json_counters.matched, "{pack} on {file}");
            assert_eq!(counters.alerts, json_counters.alerts, "{pack} on {file}");
            assert_eq!(counters.errors, json_counters.errors, "{pack} on {file}");
            for line in lines {
                let record: Value = serde_json::from_slice(line).unwrap();
                let errors = schema.validate(&record);
                assert!(
                    errors.is_empty(),
                    "{pack} on {file}: {errors:#?}\n{}",
                    serde_json::to_string_pretty(&record).unwrap()
                );
                records += 1;
                if record["finding_info"]["types"][0] == "Sigma correlation" {
                    alerts += 1;
                }
                if record.get("cloud").is_some() {
                    cloud += 1;
                }
            }
        }
    }
    // The corpora give findings of every kind the mapping writes.
    eprintln!("{records} records valid ({alerts} alerts, {cloud} with the cloud profile)");
    assert!(records > 500, "only {records} records");
    assert!(alerts > 0, "no alert record");
    assert!(cloud > 0, "no record with the cloud profile");
}

#[test]
fn findings_carry_the_rule_the_event_and_its_time() {
    let rules = common::rule_sources(&repo().join("rules/cloud-compute"));
    let input = std::fs::read(repo().join("examples/data/sample.ndjson")).unwrap();
    let (out, counters) = run(&rules, &input, Format::Ocsf, 0);
    let records: Vec<Value> = out
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    // Four events with one finding each, then the stop-then-start alert.
    assert_eq!(records.len(), 5);
    assert_eq!((counters.events_in, counters.events_out), (5, 4));
    let start = &records[0];
    assert_eq!(start["time"], 1_722_513_859_000_i64); // 2024-08-01T12:04:19Z
    assert_eq!(start["severity_id"], 1);
    assert_eq!(start["is_alert"], false);
    assert_eq!(start["risk_score"], 10);
    assert_eq!(
        start["finding_info"]["analytic"]["uid"],
        "8cae882f-c62c-4510-8cc7-b51cd9e92375"
    );
    assert_eq!(
        start["finding_info"]["attacks"],
        json!([{
            "technique": {"uid": "T1578"},
            "sub_technique": {"uid": "T1578.004"},
            "tactic": {"uid": "TA0005", "name": "Defense Evasion"}
        }])
    );
    assert_eq!(
        start["finding_info"]["related_events"][0]["uid"],
        "55e470c0-611d-4549-ad87-a7c830a75063"
    );
    assert_eq!(start["evidences"][0]["api"]["operation"], "StartInstances");
    assert_eq!(start["cloud"]["provider"], "AWS");
    let raw: Value = serde_json::from_str(start["raw_data"].as_str().unwrap()).unwrap();
    assert_eq!(raw["eventName"], "StartInstances");
    let denied = &records[3];
    assert_eq!(denied["severity_id"], 3);
    assert_eq!(
        denied["evidences"][0]["api"]["response"]["error"],
        "Client.UnauthorizedOperation"
    );
    let alert = &records[4];
    assert_eq!(alert["finding_info"]["types"], json!(["Sigma correlation"]));
    assert_eq!(
        alert["finding_info"]["first_seen_time"],
        1_722_513_810_000_i64
    );
    assert_eq!(alert["end_time"], 1_722_513_859_000_i64);
    assert_eq!(
        alert["finding_info"]["related_events"],
        json!([
            {"uid": "d373b5dd-6a82-439d-bdcf-4e6c7c7a9292"},
            {"uid": "55e470c0-611d-4549-ad87-a7c830a75063"}
        ])
    );
    // Writing the same input twice gives the same uids.
    let (again, _) = run(&rules, &input, Format::Ocsf, 0);
    assert_eq!(out, again);
}

#[test]
fn an_event_without_a_time_or_an_id_gets_the_hosts_clock_and_a_stable_uid() {
    let rules = [RuleSource::new(
        "any.yml",
        "title: Any stop\nid: 00000000-0000-4000-8000-000000000001\nlevel: high\ntags: [attack.impact, attack.t1529]\nlogsource: {product: aws}\ndetection:\n    selection: {eventName: StopInstances}\n    condition: selection\n",
    )];
    let event = br#"{"eventName":"StopInstances","userAgent":"x\u0000"}"#;
    let (out, _) = run(&rules, event, Format::Ocsf, 1_234);
    let record: Value = serde_json::from_slice(out.trim_ascii_end()).unwrap();
    assert_eq!(record["time"], 1_234);
    assert!(
        record["finding_info"]["uid"]
            .as_str()
            .unwrap()
            .starts_with("00000000-0000-4000-8000-000000000001/fnv64:")
    );
    assert_eq!(record["severity_id"], 4);
    assert_eq!(
        record["finding_info"]["attacks"],
        json!([{"technique": {"uid": "T1529"}, "tactic": {"uid": "TA0040", "name": "Impact"}}])
    );
    // No CloudTrail context and no labels: no evidence, no cloud profile.
    assert!(record.get("evidences").is_none() && record.get("cloud").is_none());
    assert!(schema().validate(&record).is_empty(), "{record}");
}

#[test]
fn unmatched_and_failed_events_write_nothing_but_errors_are_counted() {
    let rules = common::rule_sources(&repo().join("rules/cloud-compute"));
    let input = b"{\"eventName\":\"DescribeInstances\"}\nnot json\n";
    let (out, counters) = run(&rules, input, Format::Ocsf, 0);
    assert!(out.is_empty(), "{}", String::from_utf8_lossy(&out));
    assert_eq!((counters.events_in, counters.events_out), (2, 0));
    assert_eq!(counters.errors, 1);
}

/// A valid record to break, field by field.
fn valid_record() -> Value {
    let rules = common::rule_sources(&repo().join("rules/cloud-compute"));
    let input = std::fs::read(repo().join("examples/data/sample.ndjson")).unwrap();
    let (out, _) = run(&rules, &input, Format::Ocsf, 0);
    let first = out.split(|&b| b == b'\n').next().unwrap();
    let record: Value = serde_json::from_slice(first).unwrap();
    assert_eq!(schema().validate(&record), Vec::<String>::new());
    record
}

/// `record` broken by `edit` must give an error that contains `expected`.
fn refused(edit: impl FnOnce(&mut Value), expected: &str) {
    let mut record = valid_record();
    edit(&mut record);
    let errors = schema().validate(&record);
    assert!(
        errors.iter().any(|e| e.contains(expected)),
        "expected an error with {expected:?}, got {errors:#?}"
    );
}

#[test]
fn the_validator_refuses_a_wrong_type() {
    refused(
        |r| r["time"] = json!("2024-08-01T12:04:19Z"),
        "time: expected timestamp_t",
    );
    refused(|r| r["is_alert"] = json!(1), "is_alert: expected boolean_t");
    refused(
        |r| r["risk_score"] = json!(1.5),
        "risk_score: expected integer_t",
    );
    refused(
        |r| r["risk_score"] = json!(1_i64 << 40),
        "risk_score: expected integer_t",
    );
    refused(
        |r| r["finding_info"]["types"] = json!("Sigma rule"),
        "finding_info.types: expected an array",
    );
    refused(
        |r| r["metadata"]["product"] = json!("sigil"),
        "metadata.product: expected object product",
    );
    refused(
        |r| r["evidences"][0]["api"]["operation"] = json!(7),
        "evidences[0].api.operation: expected string_t",
    );
}

#[test]
fn the_validator_refuses_a_missing_required_attribute() {
    refused(
        |r| drop(r.as_object_mut().unwrap().remove("severity_id")),
        "severity_id: required",
    );
    refused(
        |r| drop(r["finding_info"].as_object_mut().unwrap().remove("uid")),
        "finding_info.uid: required",
    );
    refused(
        |r| r["metadata"]["version"] = Value::Null,
        "metadata.version: required",
    );
    // The cloud profile makes `cloud` required.
    refused(
        |r| drop(r.as_object_mut().unwrap().remove("cloud")),
        "cloud: required",
    );
    refused(
        |r| drop(r["cloud"].as_object_mut().unwrap().remove("provider")),
        "cloud.provider: required",
    );
}

#[test]
fn the_validator_refuses_an_unknown_attribute() {
    refused(
        |r| r["sigil"] = json!({}),
        "sigil: attribute not defined in detection_finding",
    );
    refused(
        |r| r["finding_info"]["labels"] = json!({}),
        "finding_info.labels: attribute not defined in finding_info",
    );
    // A profile's attribute is unknown unless the record names the profile.
    refused(
        |r| r["metadata"]["profiles"] = json!([]),
        "cloud: attribute not defined in detection_finding",
    );
    // `unmapped` takes anything.
    let mut record = valid_record();
    record["unmapped"] = json!({"anything": [1, {"at": "all"}]});
    assert_eq!(schema().validate(&record), Vec::<String>::new());
}

#[test]
fn the_validator_refuses_enums_constraints_and_classes_it_does_not_know() {
    refused(
        |r| r["severity_id"] = json!(7),
        "severity_id: 7 is not one of",
    );
    refused(
        |r| r["severity"] = json!("High"),
        "severity: Some(String(\"High\")) is not the caption",
    );
    refused(
        |r| r["type_uid"] = json!(200407),
        "type_uid: 200407 is not one of",
    );
    refused(
        |r| r["type_uid"] = json!(200402),
        "expected class_uid * 100 + activity_id",
    );
    refused(
        |r| r["finding_info"]["attacks"] = json!([{}]),
        "constraint at_least_one",
    );
    refused(
        |r| r["metadata"]["profiles"] = json!(["nope"]),
        "unknown profile",
    );
    refused(
        |r| r["metadata"]["version"] = json!("1.7.0"),
        "metadata.version",
    );
    refused(
        |r| r["class_uid"] = json!(2003),
        "is no class of this schema",
    );
}

/// Damaged events (bytes flipped, invalid UTF-8, control characters,
/// stray quotes and backslashes) still give valid records: the damage
/// lowers what a record can say about its event, never its validity.
#[test]
fn damaged_events_still_give_valid_records() {
    let schema = schema();
    let mut events = Vec::new();
    for capture in common::stratus_captures() {
        let doc: Value = serde_json::from_slice(&capture.bytes).unwrap();
        let records = doc.get("Records").cloned().unwrap_or(doc);
        for r in records.as_array().unwrap() {
            events.push(serde_json::to_vec(r).unwrap());
        }
    }
    // xorshift64*, fixed seed: the same damage on every run.
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    const DAMAGE: &[u8] = b"\"\\\x00\x01\x1f\xff\xc3\xed\xa0\x80{}[]:,";
    let mut input = Vec::new();
    for round in 0..4 {
        for event in &events {
            let mut e = event.clone();
            for _ in 0..=round {
                let at = (next() % e.len() as u64) as usize;
                let byte = DAMAGE[(next() % DAMAGE.len() as u64) as usize];
                if next() % 2 == 0 {
                    e[at] = byte;
                } else {
                    e.insert(at, byte);
                }
            }
            e.retain(|&b| b != b'\n');
            input.extend_from_slice(&e);
            input.push(b'\n');
        }
    }
    for rules in [
        common::rule_sources(&repo().join("rules/cloud-compute")),
        common::rule_sources(&common::sigmahq_dir()),
    ] {
        let (out, counters) = run(&rules, &input, Format::Ocsf, 1);
        let (_, json_counters) = run(&rules, &input, Format::Json, 1);
        assert_eq!(counters.events_in, json_counters.events_in);
        assert_eq!(counters.errors, json_counters.errors);
        assert_eq!(counters.warned, json_counters.warned);
        assert!(counters.matched > 0 && counters.warned > 0, "{counters:?}");
        let mut warned = 0;
        for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let record: Value = serde_json::from_slice(line)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(line)));
            let errors = schema.validate(&record);
            assert!(errors.is_empty(), "{errors:#?}\n{record}");
            warned += usize::from(record["unmapped"]["warnings"].is_array());
        }
        // Findings on damaged events say so.
        assert!(warned > 0);
    }
}
