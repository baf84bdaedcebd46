//! `sigil run --format ocsf`: the records come out of the CLI the same
//! through the component as natively, the counters say what happened, and
//! an unknown format is refused with the choices; `sigil serve --format
//! ocsf` answers with the records `sigil run` writes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};

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

/// `POST /v1/events` with `body`, over plain HTTP/1.1; the answer's body.
fn post(addr: &str, body: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(body).unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&answer[..split]).to_string();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length"),
        "{head}"
    );
    answer[split + 4..].to_vec()
}

#[test]
fn serve_answers_with_the_records_sigil_run_writes() {
    let dir = root().join("tests/data/corpora/stratus-detonation-logs");
    let files: Vec<PathBuf> = [
        "aws.execution.ec2-user-data.json",
        "aws.discovery.ec2-download-user-data.json",
    ]
    .iter()
    .map(|f| dir.join(f))
    .collect();
    let mut args = vec!["run", "--native", "--format", "ocsf"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let want = sigil(&args).stdout;
    assert!(!want.is_empty());

    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args([
            "serve",
            "--native",
            "--format",
            "ocsf",
            "--listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = log.next().unwrap().unwrap();
    let addr = first
        .split(' ')
        .find_map(|kv| kv.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no address in {first}"))
        .to_string();
    let mut got = Vec::new();
    for f in &files {
        got.extend(post(&addr, &std::fs::read(f).unwrap()));
    }
    // The windows flushed at shutdown go to stdout.
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut tail = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut tail).unwrap();
    assert!(child.wait().unwrap().success());
    got.extend(tail);
    assert!(
        got == want,
        "{}\n---\n{}",
        String::from_utf8_lossy(&got),
        String::from_utf8_lossy(&want)
    );
}
