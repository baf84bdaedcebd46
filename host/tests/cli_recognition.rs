//! Rules written for a SIEM's rows that never ran because no row was
//! recognised say so at the end of `sigil run`, natively and through the
//! component (the answer crosses WIT); `sigil rules check` shows what each
//! schema's rows need (issue 18).

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn sigil(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(args)
        .output()
        .expect("sigil runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The seeds' QRadar rows, without `logsourcetypename` when `strip`: as
/// an AQL query returns them that selects `devicetype` but not
/// `LOGSOURCETYPENAME(devicetype)`. Written to a file of this test's own.
fn qradar_rows(strip: bool) -> PathBuf {
    let text =
        std::fs::read_to_string(root().join("tests/data/seeds/events/qradar.ndjson")).unwrap();
    let mut out = String::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut line = line.to_string();
        if strip {
            // `"logsourcetypename": "NAME", ` (the seeds' rows have it
            // in the middle, with a string value).
            let at = line
                .find("\"logsourcetypename\"")
                .expect("every row has it");
            let end = line[at..].find("\", ").expect("a string value") + at + 3;
            line.replace_range(at..end, "");
        }
        out.push_str(&line);
        out.push('\n');
    }
    let path = std::env::temp_dir().join(format!(
        "sigil-recognition-{}-{}.ndjson",
        std::process::id(),
        strip
    ));
    std::fs::write(&path, out).unwrap();
    path
}

#[test]
fn rules_for_rows_without_their_marker_say_so_at_the_end() {
    let rule = root().join("rules/seeds/qradar_cloud_instance_corrected.yml");
    let rule = rule.to_str().unwrap();
    let stripped = qradar_rows(true);
    let whole = qradar_rows(false);
    for mode in [&["--native"][..], &[][..]] {
        let mut args = vec!["run", "--rules", rule];
        args.extend_from_slice(mode);
        args.push(stripped.to_str().unwrap());
        let err = String::from_utf8(sigil(&args).stderr).unwrap();
        let said: Vec<&str> = err
            .lines()
            .filter(|l| !l.starts_with("events in"))
            .collect();
        assert_eq!(
            said,
            [
                "sigil: 1 rule for qradar rows never ran: no event that could match it was a \
                 qradar row or a raw aws.cloudtrail, azure.activity, azure.activity.rest \
                 record; qradar rows are recognised by `logsourcetypename`; 27 events that \
                 could match it were recognised as something else or nothing, 27 of them with \
                 `devicetype` (rows of qradar that lost `logsourcetypename`)",
                // 27: the prefilter let through the rows with the rule's
                // literals (the other 6 could not match it anyway).
                &format!("  {rule}:6: 8eaf75ce-3f61-4074-9e3f-88a1eb2dd652"),
            ],
            "{mode:?}"
        );
        // The same rows with the column: nothing to say.
        let mut args = vec!["run", "--rules", rule];
        args.extend_from_slice(mode);
        args.push(whole.to_str().unwrap());
        let err = String::from_utf8(sigil(&args).stderr).unwrap();
        assert!(!err.contains("never ran"), "{mode:?}: {err}");
    }
    std::fs::remove_file(stripped).ok();
    std::fs::remove_file(whole).ok();
}

#[test]
fn rules_check_shows_each_schemas_marker_and_time() {
    let seeds = root().join("rules/seeds");
    let out =
        String::from_utf8(sigil(&["rules", "check", seeds.to_str().unwrap()]).stdout).unwrap();
    for line in [
        "schema qradar (2 rules): rows recognised by `logsourcetypename`; time from `devicetime`, else `starttime`",
        "  also runs on raw aws.cloudtrail records (recognised by `eventSource: *.amazonaws.com`; time from `eventTime`)",
        "schema sentinel.AWSCloudTrail (2 rules): rows recognised by `Type: AWSCloudTrail`; time from `TimeGenerated`, else `TimeGenerated [UTC]`",
        "schema falcon (1 rules): rows recognised by `#event_simpleName`; time from `timestamp`, else `@timestamp`",
        "schema sumo (3 rules): rows recognised by `_sourceCategory`; time from `_messageTime`, else `_messagetime`, else `_receiptTime`, else `_receipttime`",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
}
