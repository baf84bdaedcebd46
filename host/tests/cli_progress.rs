//! The progress line of `sigil run`: on a terminal (a pseudo-terminal made
//! by util-linux's `script`), one line redrawn in place and erased before
//! the summary; on a pipe, nothing but the summary, as before the line
//! existed.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The summary line, whatever the timing: `events in 10, out 10, ...`.
fn is_summary(line: &str) -> bool {
    // The sample read twice: its correlated events are re-deliveries the
    // second time, counted and not correlated again.
    line.starts_with("events in 10, out 10, matched 8, errors 0, alerts 1, duplicates 2 (")
        && line.ends_with(" MB/s)")
}

/// Runs `shell` (a `sh -c` command line) with a pseudo-terminal as its
/// standard streams; returns what the terminal showed.
fn on_a_terminal(shell: &str) -> String {
    let out = Command::new("script")
        .args(["-qfec", shell, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("util-linux's `script` runs (the test needs a pseudo-terminal)");
    assert!(out.status.success(), "{shell}: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn on_a_terminal_progress_is_one_line_erased_before_the_summary() {
    let dir = std::env::temp_dir().join(format!("sigil-progress-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let sample = root().join("examples/data/sample.ndjson");
    let sigil = env!("CARGO_BIN_EXE_sigil");
    let out = dir.join("out.ndjson");
    // The input pauses: the first half is evaluated (stdin went quiet for
    // 200 ms) well after the line's first redraw is due.
    let shell = format!(
        "(cat {s}; sleep 0.7; cat {s}) | {sigil} run --native - > {o}",
        s = sample.display(),
        o = out.display()
    );
    let screen = on_a_terminal(&shell);
    let (progress, summary) = screen
        .rsplit_once("\r\x1b[2K")
        .unwrap_or_else(|| panic!("no line erased: {screen:?}"));
    assert!(
        progress.contains("\r\x1b[2Ksigil: ") || progress.starts_with("sigil: "),
        "{screen:?}"
    );
    assert!(progress.contains(" MB, "), "{screen:?}");
    assert!(progress.contains(" events/s, matched "), "{screen:?}");
    assert!(
        !progress.contains('\n'),
        "the progress is one line: {screen:?}"
    );
    // The terminal turns `\n` into `\r\n`.
    let summary = summary.strip_suffix("\r\n").unwrap_or(summary);
    assert!(is_summary(summary), "{summary:?}");

    // What was written is what a run without a terminal writes.
    let input = [
        std::fs::read(&sample).unwrap(),
        std::fs::read(&sample).unwrap(),
    ]
    .concat();
    let piped = Command::new(sigil)
        .args(["run", "--native", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut piped.stdin.as_ref().unwrap(), &input).unwrap();
    let piped = piped.wait_with_output().unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), piped.stdout);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn when_the_output_is_the_terminal_there_is_no_progress_line() {
    let sample = root().join("examples/data/sample.ndjson");
    let shell = format!(
        "(cat {s}; sleep 0.7; cat {s}) | {sigil} run --native -",
        s = sample.display(),
        sigil = env!("CARGO_BIN_EXE_sigil")
    );
    let screen = on_a_terminal(&shell);
    assert!(!screen.contains("events/s"), "{screen:?}");
    assert!(!screen.contains('\x1b'), "{screen:?}");
    assert!(screen.contains("\"sigil\":{"), "{screen:?}");
}

#[test]
fn when_stderr_is_not_a_terminal_it_holds_the_summary_alone() {
    let sample = root().join("examples/data/sample.ndjson");
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native"])
        .arg(&sample)
        .arg(&sample)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let summary = stderr
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("{stderr:?}"));
    assert!(is_summary(summary), "{stderr:?}");
    assert!(!summary.contains(['\r', '\n', '\x1b']), "{stderr:?}");
}
