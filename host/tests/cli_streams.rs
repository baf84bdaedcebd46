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
    let wrong = format!("{}0", &digest[..63]);
    let refused = run(&wrong);
    assert_eq!(refused.status.code(), Some(2));
    assert!(refused.stdout.is_empty());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains(&digest.to_ascii_lowercase()), "{err}");
    assert!(err.contains(&wrong.to_ascii_lowercase()), "{err}");
}
