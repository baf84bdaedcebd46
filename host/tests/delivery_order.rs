//! `sigil run DIR/*.json` over CloudTrail delivery files finds what the
//! time-sorted stream finds (issue 18, "Ordering" and "CloudTrail
//! re-deliveries").
//!
//! The files are built from the real Stratus captures of 2024-08-01
//! (`tests/data/corpora/stratus-detonation-logs/`) the way CloudTrail
//! delivers them: `{"Records": [...]}`, one file per 5 minutes of event
//! time, named `ACCOUNT_CloudTrail_REGION_YYYYMMDDTHHmmZ_UNIQUE.json` after
//! its delivery time (the documented log file name format), records not
//! sorted within a file, and some records held back into a later file, as
//! a delivery "within an average of about 5 minutes ... not guaranteed"
//! does. The capture `aws.execution.ec2-user-data.json` holds one real
//! StopInstances → StartInstances of one instance by one principal
//! (12:03:30 → 12:04:19); a second run of the same records 21 minutes
//! later, with their own event ids, is the principal's second sequence.
//! Its StopInstances is delivered two files late, after the StartInstances
//! and records of 12:28; within each file the records are newest first, as
//! in the capture.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const MIN: i64 = 60_000;
const SLOT: i64 = 5 * MIN;
/// The principal's second sequence: the capture's records this much later.
const SECOND_RUN: i64 = 21 * MIN;

fn time_ms(e: &Value) -> i64 {
    let t = e["eventTime"].as_str().expect("a CloudTrail record");
    // 2024-08-01THH:MM:SSZ, all on that day.
    assert!(t.starts_with("2024-08-01T") && t.len() == 20, "{t}");
    let n = |r: std::ops::Range<usize>| t[r].parse::<i64>().unwrap();
    ((n(11..13) * 60 + n(14..16)) * 60 + n(17..19)) * 1000
}

fn time_text(ms: i64) -> String {
    let s = ms / 1000;
    format!(
        "2024-08-01T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Every record of the captures detonated on 2024-08-01 between 11:00 and
/// 14:00, and the second run of the stop/start capture.
fn records() -> Vec<Value> {
    let dir = root().join("tests/data/corpora/stratus-detonation-logs");
    let mut out = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    names.sort();
    for path in names {
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let records = doc.as_array().cloned().unwrap_or_default();
        let on_the_day = |e: &Value| {
            e["eventTime"]
                .as_str()
                .is_some_and(|t| ("2024-08-01T11".."2024-08-01T14").contains(&t))
        };
        if !records.iter().all(on_the_day) {
            continue;
        }
        let again = path.ends_with("aws.execution.ec2-user-data.json");
        for e in records {
            if again {
                let mut copy = e.clone();
                copy["eventTime"] = Value::from(time_text(time_ms(&e) + SECOND_RUN));
                let id = format!("{}-2", e["eventID"].as_str().unwrap());
                copy["eventID"] = Value::from(id);
                out.push(copy);
            }
            out.push(e);
        }
    }
    out
}

/// The delivery files of `records`, as (file name, records): each record in
/// the file of its 5-minute slot, newest first, except every seventh record
/// (in time order) one file late, and the second run's StopInstances two
/// files late.
fn deliveries(records: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|e| (time_ms(e), e["eventID"].as_str().unwrap().to_string()));
    let mut files: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for (i, e) in sorted.iter().enumerate() {
        let t = time_ms(e);
        let late_stop =
            e["eventName"] == "StopInstances" && e["eventID"].as_str().unwrap().ends_with("-2");
        let held = if late_stop { 2 } else { i64::from(i % 7 == 3) };
        // Delivered about 5 minutes after its slot closes.
        let delivery = (t / SLOT + 1 + held) * SLOT + 5 * MIN;
        files.entry(delivery).or_default().push(e.clone());
    }
    files
        .into_iter()
        .map(|(at, mut recs)| {
            recs.sort_by_key(|e| std::cmp::Reverse(time_ms(e)));
            let stamp = time_text(at).replace([':', '-'], "");
            let name = format!(
                "123456789012_CloudTrail_us-east-1_{}Z_{:016x}.json",
                &stamp[..13],
                at
            );
            (name, recs)
        })
        .collect()
}

/// A fresh directory for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sigil-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write_files(dir: &Path, files: &BTreeMap<String, Vec<Value>>) -> Vec<PathBuf> {
    files
        .iter()
        .map(|(name, recs)| {
            let path = dir.join(name);
            let doc = serde_json::json!({ "Records": recs });
            std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
            path
        })
        .collect()
}

/// `sigil run --alerts-only ARGS`: the alerts and stderr.
fn sigil(args: &[&str], inputs: &[PathBuf], stdin: Option<&[u8]>) -> (Vec<Value>, String) {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sigil"));
    cmd.args(["run", "--alerts-only"]).args(args).args(inputs);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("sigil runs");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let alerts = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["sigil_alert"].clone())
        .collect();
    (alerts, stderr)
}

/// The records in time order, one per line: the time-sorted stream.
fn sorted_stream(records: &[Value]) -> Vec<u8> {
    let mut sorted = records.to_vec();
    sorted.sort_by_key(|e| (time_ms(e), e["eventID"].as_str().unwrap().to_string()));
    let mut out = Vec::new();
    for e in sorted {
        out.extend_from_slice(&serde_json::to_vec(&e).unwrap());
        out.push(b'\n');
    }
    out
}

#[test]
fn delivery_files_in_name_order_give_the_sorted_streams_alerts() {
    let records = records();
    let files = deliveries(&records);
    assert!(files.len() >= 10, "{} files", files.len());
    let dir = scratch("delivery-order");
    let paths = write_files(&dir, &files);

    // The time-sorted stream, read from stdin under the stream default.
    let (expected, _) = sigil(&["--native"], &[], Some(&sorted_stream(&records)));
    let sequences: Vec<(&str, &str)> = expected
        .iter()
        .map(|a| {
            (
                a["window"]["start"].as_str().unwrap(),
                a["window"]["end"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sequences,
        [
            ("2024-08-01T12:03:30Z", "2024-08-01T12:04:19Z"),
            ("2024-08-01T12:24:30Z", "2024-08-01T12:25:19Z"),
        ],
        "the principal's two sequences"
    );

    // The files in name order, as `sigil run DIR/*.json` reads them: the
    // same alerts, in the sandbox and natively, nothing late.
    for engine in [&[][..], &["--native"][..]] {
        let (got, stderr) = sigil(engine, &paths, None);
        assert_eq!(got, expected, "{engine:?}: {stderr}");
        assert!(!stderr.contains("late"), "{stderr}");
    }
    // So does a stream with the default lateness (15 minutes).
    let mut concatenated = Vec::new();
    for recs in files.values() {
        for e in recs {
            concatenated.extend_from_slice(&serde_json::to_vec(e).unwrap());
            concatenated.push(b'\n');
        }
    }
    let (got, stderr) = sigil(&["--native"], &[], Some(&concatenated));
    assert_eq!(got, expected, "{stderr}");

    // With a lateness shorter than a stop's delay behind the newest event
    // that correlation reads (its start, 49 s newer, comes first: the
    // capture's records are newest first, and the second stop is two files
    // late; the other records of those files interest no rule and move
    // nothing), both stops are late: left out, and the run says which rule
    // lost what, and what to change.
    let (got, stderr) = sigil(&["--native", "--lateness", "30s"], &paths, None);
    assert!(got.is_empty(), "{stderr}");
    assert!(
        stderr.contains("late 2")
            && stderr.contains(
                "sigil: 2 matches arrived up to 49s behind the newest event and were left out of correlation (AWS EC2 Instance Stopped Then Started (Ephemeral Storage Reset): 2): raise --lateness to 50s, or use --lateness end for files"
            ),
        "{stderr}"
    );
    // The hidden name of the flag still works.
    let (got, _) = sigil(
        &["--native", "--correlation-lateness-ms", "30000"],
        &paths,
        None,
    );
    assert!(got.is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_redelivered_file_does_not_count_twice() {
    // A burst rule that one re-delivered StopInstances would complete: the
    // principal stops an instance at 12:03:30 and again 21 minutes later.
    let rules = r#"
title: Stop
name: stop
logsource: {product: aws, service: cloudtrail}
detection: {sel: {eventName: StopInstances}, condition: sel}
---
title: Two stops in 15 minutes
id: 6c0e7a52-3f0b-4d44-9a51-2d1f2b0f5e11
level: medium
correlation:
    type: event_count
    rules: [stop]
    group-by: [userIdentity.arn]
    timespan: 15m
    condition: {gte: 2}
"#;
    let records = records();
    let mut files = deliveries(&records);
    let dir = scratch("redelivery");
    std::fs::write(dir.join("rules.yml"), rules).unwrap();
    // CloudTrail delivers the file holding the first stop a second time,
    // under another unique string (it sorts right after the first).
    let (name, recs) = files
        .iter()
        .find(|(_, recs)| recs.iter().any(|e| e["eventName"] == "StopInstances"))
        .map(|(n, r)| (n.clone(), r.clone()))
        .unwrap();
    files.insert(name.replace(".json", "-again.json"), recs);
    let paths = write_files(&dir, &files);
    let rules_flag = dir.join("rules.yml");
    let rules_arg = rules_flag.to_str().unwrap();
    // In the sandbox and natively; waiting for the end of the files, and
    // as a stream with the default lateness.
    for args in [
        vec!["--rules", rules_arg],
        vec!["--native", "--rules", rules_arg],
        vec!["--native", "--rules", rules_arg, "--lateness", "15m"],
    ] {
        let (got, stderr) = sigil(&args, &paths, None);
        assert!(got.is_empty(), "{args:?}: {got:?}");
        assert!(stderr.contains("duplicates 1"), "{args:?}: {stderr}");
    }
    // Without the re-delivery the same files hold one stop per 15 minutes,
    // and with a third, real stop the rule fires: it can.
    let mut third = records.clone();
    let mut stop = records
        .iter()
        .find(|e| e["eventName"] == "StopInstances")
        .unwrap()
        .clone();
    stop["eventID"] = Value::from("another-stop");
    stop["eventTime"] = Value::from("2024-08-01T12:10:00Z");
    third.push(stop);
    let paths = write_files(&dir, &deliveries(&third));
    let (got, stderr) = sigil(&["--native", "--rules", rules_arg], &paths, None);
    assert_eq!(got.len(), 1, "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
