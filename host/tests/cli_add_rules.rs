//! `sigil run --add-rules`: a tuning filter loads on top of the built-in
//! pack, so enabling one does not mean naming the pack.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The `matched` counter of a `sigil run --native --matched-only` over `input`.
fn matched(extra: &[&str], input: &str) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .current_dir(root())
        .args(["run", "--native", "--matched-only"])
        .args(extra)
        .arg(input)
        .output()
        .expect("sigil runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    let counters = err.lines().last().unwrap_or_default();
    counters
        .split(", ")
        .find_map(|c| c.strip_prefix("matched "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no matched counter in {counters:?}"))
}

#[test]
fn a_tuning_filter_adds_to_the_built_in_pack() {
    let input = "tests/data/atomic/fp_automation.ndjson";
    let pack = matched(&[], input);
    let tuned = matched(
        &[
            "--add-rules",
            "rules/tuning/filter_azure_automation_runbook.yml",
        ],
        input,
    );
    assert!(
        pack > tuned,
        "the runbook's look-alike is spared: {pack} -> {tuned}"
    );
    // The same with the pack named explicitly.
    let named = matched(
        &[
            "--rules",
            "rules/cloud-compute",
            "--add-rules",
            "rules/tuning/filter_azure_automation_runbook.yml",
        ],
        input,
    );
    assert_eq!(named, tuned);
    // A filter that names no loaded rule is an error, not silence.
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .current_dir(root())
        .args([
            "run",
            "--native",
            "--rules",
            "rules/seeds",
            "--add-rules",
            "rules/tuning/filter_azure_automation_runbook.yml",
        ])
        .arg(input)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no loaded rule"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
