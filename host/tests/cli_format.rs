//! `sigil run --format ocsf`: the records come out of the CLI the same
//! through the component as natively, the counters say what happened, and
//! an unknown format is refused with the choices.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sigil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

#[test]
fn ocsf_records_are_the_same_through_the_component_and_natively() {
    let input = "tests/data/corpora/stratus-detonation-logs/aws.execution.ec2-user-data.json";
    let native = sigil(&["run", "--native", "--format", "ocsf", input]);
    let component = sigil(&["run", "--format", "ocsf", input]);
    assert!(native.status.success() && component.status.success());
    assert_eq!(native.stdout, component.stdout);
    let records: Vec<serde_json::Value> = native
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert!(records.len() >= 4, "{records:?}");
    for r in &records {
        assert_eq!(r["class_uid"], 2004);
        assert_eq!(r["metadata"]["version"], "1.8.0");
    }
    // The stop-then-start alert of the built-in pack is a record too.
    assert!(
        records
            .iter()
            .any(|r| r["finding_info"]["types"][0] == "Sigma correlation")
    );
    let stderr = String::from_utf8(native.stderr).unwrap();
    assert!(stderr.starts_with("events in "), "{stderr}");
    assert!(stderr.contains(", alerts 1"), "{stderr}");
}

#[test]
fn alerts_only_writes_only_the_alert_records() {
    let out = sigil(&[
        "run",
        "--native",
        "--format",
        "ocsf",
        "--alerts-only",
        "examples/data/sample.ndjson",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains("\"Sigma correlation\""), "{text}");
}

#[test]
fn an_unknown_format_is_refused_with_the_choices() {
    let out = sigil(&["run", "--format", "cef", "examples/data/sample.ndjson"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("use json or ocsf"), "{stderr}");
}
