//! `sigil run` as a pipeline member: a reader that goes away, a file
//! written by a Windows tool.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `sigil run ... | head -c 100`: once the reader has closed the pipe,
/// sigil ends quietly with the status of a process killed by SIGPIPE (141),
/// as `yes | head` does, and says nothing on stderr.
#[test]
fn a_closed_output_pipe_ends_quietly() {
    let sample = std::fs::read(root().join("examples/data/sample.ndjson")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sigil runs");
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 100];
    let mut stdin = child.stdin.take().unwrap();
    // Enough input to fill any pipe buffer, written from a thread so that
    // sigil's output can be closed while it still has work.
    let writer = std::thread::spawn(move || {
        for _ in 0..20_000 {
            if stdin.write_all(&sample).is_err() {
                break;
            }
        }
    });
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(141), "{:?}", out.status);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "");
}

/// A UTF-8 byte-order mark before the first event is not part of it.
#[test]
fn a_leading_byte_order_mark_is_skipped() {
    let mut input = b"\xEF\xBB\xBF".to_vec();
    input.extend_from_slice(&std::fs::read(root().join("examples/data/sample.ndjson")).unwrap());
    for framing in ["ndjson", "array"] {
        let input = if framing == "array" {
            let events: Vec<&[u8]> = input[3..]
                .split(|&b| b == b'\n')
                .filter(|l| !l.is_empty())
                .collect();
            let mut doc = b"\xEF\xBB\xBF[".to_vec();
            doc.extend_from_slice(&events.join(&b","[..]));
            doc.push(b']');
            doc
        } else {
            input.clone()
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["run", "--native", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.starts_with('{'), "{framing}: {text}");
        assert!(!text.contains("\"error\""), "{framing}: {text}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("events in 5, out 5, matched 4, errors 0"),
            "{framing}: {err}"
        );
    }
}

/// A file whose first line was cut (a shipper's line limit, a writer that
/// died) just after a backslash is still NDJSON: before, its first line
/// did not close, so the whole file was taken for a pretty-printed
/// document and lost to one framing error. Now every line comes out, the
/// cut one read up to its last complete member.
#[test]
fn a_file_whose_first_line_is_cut_is_still_read_line_by_line() {
    let sample = std::fs::read_to_string(root().join("examples/data/sample.ndjson")).unwrap();
    let matched: Vec<&str> = sample.lines().collect();
    // Cut the second event (a detection) in its user agent, after a backslash.
    let second = matched[1];
    let at = second.find("\"userAgent\":\"").expect("a userAgent") + 13;
    let mut input = format!("{}x\\\n", &second[..at]);
    for line in &matched {
        input.push_str(line);
        input.push('\n');
    }
    let dir = std::env::temp_dir().join(format!("sigil-cut-first-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("cut.ndjson");
    std::fs::write(&file, &input).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native"])
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("events in 6, out 6, matched 5, errors 0, warned 1"),
        "{err}"
    );
    let got = lines(&out.stdout);
    let whole = lines(
        &Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["run", "--native"])
            .arg(root().join("examples/data/sample.ndjson"))
            .output()
            .unwrap()
            .stdout,
    );
    assert_eq!(got[0]["sigil"]["findings"], whole[1]["sigil"]["findings"]);
    assert!(
        got[0]["sigil"]["warnings"]
            .to_string()
            .contains("truncated")
    );
    assert_eq!(got[1..], whole[..]);
}

/// `--plugin-sha256` runs the plugin whose digest it names and refuses any
/// other, saying both digests.
#[test]
fn plugin_sha256_pins_the_plugin() {
    use sha2::Digest as _;
    let wasm = root().join("target/sigil.wasm");
    let bytes = std::fs::read(&wasm).expect("scripts/build-component built target/sigil.wasm");
    let digest: String = sha2::Sha256::digest(&bytes)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    let run = |hex: &str| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .current_dir(root())
            .args([
                "run",
                "--plugin",
                "target/sigil.wasm",
                "--plugin-sha256",
                hex,
            ])
            .arg("examples/data/sample.ndjson")
            .output()
            .unwrap()
    };
    let ok = run(&digest);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The last digit changed (a fixed "0" once equalled the real one).
    let last = if digest.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &digest[..63]);
    let refused = run(&wrong);
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&digest.to_ascii_lowercase()), "{err}");
    assert!(err.contains(&wrong.to_ascii_lowercase()), "{err}");
}

/// Sends `signal` (`TERM`, `INT`) to `pid` with kill(1): the tests have no
/// libc binding of their own.
fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .expect("kill(1) runs");
    assert!(status.success());
}

/// The event lines of the output as JSON, each whole (alert lines are
/// checked as JSON and left out).
fn lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    assert!(
        stdout.is_empty() || stdout.ends_with(b"\n"),
        "a torn last line"
    );
    stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| {
            serde_json::from_slice::<serde_json::Value>(l)
                .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(l)))
        })
        .filter(|v| v.get("sigil_alert").is_none())
        .collect()
}

/// SIGTERM or SIGINT on `tail -F | sigil run -` while no byte arrives: the
/// events read are evaluated and written whole, the one cut mid-line is
/// read up to its last member (with a `truncated` warning), the counters
/// say why the run stopped, and the status is the signal's (128 + n).
#[test]
fn a_signal_on_an_idle_stream_flushes_what_was_read() {
    let sample = std::fs::read(root().join("examples/data/sample.ndjson")).unwrap();
    let mut input = sample.clone();
    // The next event, cut by the signal's arrival inside its padding.
    let stop = r#"{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com","eventID":"cut-1","zz":"AAAA"#;
    input.extend_from_slice(stop.as_bytes());
    for (signal, status) in [("TERM", 143), ("INT", 130)] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["run", "--native", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sigil runs");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&input).unwrap();
        stdin.flush().unwrap();
        // The input stays open, as `tail -F`'s does: only the signal ends
        // the run. Time for sigil to start and read what was written.
        std::thread::sleep(std::time::Duration::from_millis(1500));
        kill(child.id(), signal);
        let out = child.wait_with_output().unwrap();
        drop(stdin);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(status), "{err}");
        assert!(err.contains(&format!("stopped by SIG{signal}")), "{err}");
        let got = lines(&out.stdout);
        let want = sample
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count()
            + 1;
        assert_eq!(got.len(), want, "{err}");
        let last = got.last().unwrap();
        // Not JSON as it came: the verdict carries the raw line.
        let raw = last["sigil"]["raw"].as_str().unwrap_or_default();
        assert!(raw.ends_with(r#""eventID":"cut-1","zz":"AAAA"#), "{last}");
        assert_eq!(
            last["sigil"]["findings"][0]["title"],
            "AWS EC2 Instance Stopped"
        );
        let warning = last["sigil"]["warnings"][0].as_str().unwrap_or_default();
        assert!(warning.starts_with("truncated"), "{last}");
        assert!(
            err.contains(&format!("events in {want}, out {want}")),
            "{err}"
        );
    }
}

/// A signal while input pours in: what comes out is exactly the first
/// events of the input, in order, each once and whole, however far the
/// reading had got.
#[test]
fn a_signal_mid_stream_writes_a_prefix_of_whole_lines() {
    let sample = std::fs::read(root().join("examples/data/sample.ndjson")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sigil runs");
    let mut stdin = child.stdin.take().unwrap();
    // Writes until sigil has gone (the pipe breaks).
    let writer = std::thread::spawn(move || {
        for i in 0.. {
            // Each copy's events numbered, to check order and uniqueness.
            let numbered = String::from_utf8_lossy(&sample)
                .replace("\"eventID\":\"", &format!("\"eventID\":\"{i}-"));
            if stdin.write_all(numbered.as_bytes()).is_err() {
                return;
            }
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(1500));
    kill(child.id(), "TERM");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{err}");
    let got = lines(&out.stdout);
    assert!(!got.is_empty(), "{err}");
    let per_copy = 5;
    for (k, event) in got.iter().enumerate() {
        match event["eventID"].as_str() {
            Some(id) => {
                let copy = id.split('-').next().unwrap();
                assert_eq!(copy, (k / per_copy).to_string(), "line {k}: {id}");
            }
            // The last line read was cut: it is still written, with its
            // raw text (read up to its last member, or an error).
            None => {
                assert_eq!(k, got.len() - 1, "line {k}: {event}");
                assert!(event["sigil"]["raw"].is_string(), "{event}");
            }
        }
    }
    assert!(
        err.contains(&format!("events in {}, out {}", got.len(), got.len())),
        "{err}"
    );
    writer.join().unwrap();
}

/// `tail -F log | sigil run -`: each event comes out while the input is
/// still open, within moments, not once 1 MiB has arrived; a line not yet
/// complete waits for its end.
#[test]
fn a_live_stream_is_written_as_it_comes() {
    let sample = std::fs::read(root().join("examples/data/sample.ndjson")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sigil runs");
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let lines: Vec<&[u8]> = sample.split_inclusive(|&b| b == b'\n').collect();
    let next = || rx.recv_timeout(std::time::Duration::from_secs(10));
    for (i, line) in lines.iter().enumerate() {
        // The line in two writes: the first half alone gives nothing.
        let (a, b) = line.split_at(line.len() / 2);
        stdin.write_all(a).unwrap();
        stdin.flush().unwrap();
        assert!(
            rx.recv_timeout(std::time::Duration::from_millis(600))
                .is_err(),
            "half of line {i} was written out"
        );
        stdin.write_all(b).unwrap();
        stdin.flush().unwrap();
        let out =
            next().unwrap_or_else(|_| panic!("line {i} did not come out while the input is open"));
        let event: serde_json::Value = serde_json::from_str(&out).unwrap();
        let want: serde_json::Value = serde_json::from_slice(line).unwrap();
        assert_eq!(event["eventID"], want["eventID"]);
        assert!(event["sigil"]["score"].is_u64(), "{out}");
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success());
}

/// SIEM exports are detected and read as rows, counted on the summary
/// line; `--input-format` forces a reading (the Ariel response as the one
/// JSON event it also is), and an unknown one is refused with the list.
#[test]
fn exports_are_read_as_rows_and_counted() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["run", "--native", "--rules"])
            .arg(root().join("rules/seeds"))
            .args(args)
            .output()
            .unwrap()
    };
    let exports = root().join("tests/data/exports");
    for (file, rows) in [
        ("qradar_ariel.json", 33),
        ("qradar_ariel.csv", 33),
        ("log_analytics_azureactivity.json", 24),
        ("sumo_search_job.json", 33),
        ("logscale_falcon.csv", 28),
    ] {
        let out = run(&[exports.join(file).to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{file}: {err}");
        assert!(
            err.contains(&format!("events in {rows}, out {rows}, matched "))
                && err.contains(&format!(", export rows {rows}")),
            "{file}: {err}"
        );
        assert!(
            !err.contains("ragged") && !err.contains("errors 1"),
            "{file}: {err}"
        );
    }
    let ariel = exports.join("qradar_ariel.json");
    let out = run(&["--input-format", "ndjson", ariel.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    // Pretty-printed, each line of the response is a line of NDJSON: none
    // is an event, and none is lost.
    assert!(!err.contains("export rows"), "{err}");
    let out = run(&["--input-format", "json", ariel.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("events in 1, out 1"), "{err}");
    let out = run(&["--input-format", "xml", ariel.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("sumo-search"),
        "{err}"
    );
}
