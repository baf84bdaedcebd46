//! `--threads N`: blocks evaluated by N detectors at once, correlated in
//! order by one, give the bytes one detector gives. Over the real corpora
//! and both packs with correlations (the built-in one, `rules/seeds`),
//! natively and in the component, `sigil run` with 1, 2 and 4 threads
//! writes byte-identical stdout and the same counters; `sigil serve` with
//! 1, 2 and 4 threads answers what `sigil run` writes.
//!
//! The stream: the Stratus captures, the seeds' SIEM-shaped events and the
//! correlation cases, minified to NDJSON, in eight copies whose years are
//! moved forward copy by copy (so every copy correlates anew and the
//! windows span block boundaries), each followed by a few broken lines:
//! about 4.3 MB, five blocks of 1 MiB. The
//! capture files themselves follow as inputs of their own (documents, one
//! block each).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use sigil_engine::input::{document_events, minify_into};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

fn captures() -> Vec<PathBuf> {
    files("tests/data/corpora/stratus-detonation-logs", "json")
}

/// The stream described in the module docs, written once per test binary.
fn stream() -> PathBuf {
    let path = root().join("target/tmp/threads/stream.ndjson");
    static WRITTEN: std::sync::Once = std::sync::Once::new();
    WRITTEN.call_once(|| {
        let mut one = Vec::new();
        for f in captures() {
            let text = std::fs::read(&f).unwrap();
            for event in document_events(&text).unwrap() {
                minify_into(event, &mut one);
                one.push(b'\n');
            }
        }
        for f in files("tests/data/seeds/events", "ndjson")
            .into_iter()
            .chain(files("tests/data/correlation", "ndjson"))
        {
            one.extend_from_slice(&std::fs::read(f).unwrap());
            if one.last() != Some(&b'\n') {
                one.push(b'\n');
            }
        }
        let one = String::from_utf8(one).unwrap();
        let mut all = Vec::new();
        for copy in 0..8 {
            // 2024 and 2026 move to 2030 + 3k and 2031 + 3k: order kept
            // within a copy, every copy after the one before.
            all.extend_from_slice(
                one.replace("\"2024-", &format!("\"{}-", 2030 + 3 * copy))
                    .replace("\"2026-", &format!("\"{}-", 2031 + 3 * copy))
                    .as_bytes(),
            );
            // Lines no reader wants: errors, repairs and warnings take the
            // same path as verdicts.
            all.extend_from_slice(
                b"not json\n{\"a\" 1}\n{\"eventName\":\"RunInstances\",\"x\":\"\xff\xfe\"}\n\
                  {\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"RunInstances\",\"eventTime\":\"2099-01-0\n",
            );
        }
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, all).unwrap();
    });
    path
}

/// The packs with correlations: the built-in one (no flag) and the seeds'.
fn packs() -> Vec<Vec<String>> {
    let seeds = root().join("rules/seeds").display().to_string();
    vec![vec![], vec!["--rules".into(), seeds]]
}

/// `sigil run` over the stream and the captures: stdout, and the summary
/// line without its timing.
fn run(threads: usize, extra: &[String]) -> (Vec<u8>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .arg("run")
        .args(["--threads", &threads.to_string()])
        .args(extra)
        .arg(stream())
        .args(captures())
        .output()
        .expect("sigil runs");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{extra:?} --threads {threads}: {err}");
    let summary = err
        .lines()
        .find(|l| l.starts_with("events in "))
        .unwrap_or_else(|| panic!("no summary: {err}"));
    let counters = summary.rsplit_once(" (").map_or(summary, |(c, _)| c);
    (out.stdout, counters.to_string())
}

#[test]
fn run_writes_the_same_bytes_and_counters_with_1_2_and_4_threads() {
    for pack in packs() {
        for engine in [Some("--native"), None] {
            let mut extra: Vec<String> = engine.map(String::from).into_iter().collect();
            extra.extend(pack.iter().cloned());
            let (want, counters) = run(1, &extra);
            assert!(
                counters.contains(", alerts ") && !counters.contains(", alerts 0"),
                "{extra:?}: the stream must correlate for this test to mean anything: {counters}"
            );
            assert!(want.len() > 4 << 20, "the stream must span several blocks");
            for threads in [2, 4] {
                let (got, got_counters) = run(threads, &extra);
                assert_eq!(got_counters, counters, "{extra:?} --threads {threads}");
                assert!(
                    got == want,
                    "{extra:?} --threads {threads}: stdout differs from --threads 1"
                );
            }
        }
    }
}

/// The stream's NDJSON in bodies of about 2.5 MiB, cut at newlines.
fn bodies() -> Vec<Vec<u8>> {
    let all = std::fs::read(stream()).unwrap();
    let mut out = Vec::new();
    let mut rest = &all[..];
    while !rest.is_empty() {
        let cut = rest
            .get(5 << 19..)
            .and_then(|tail| tail.iter().position(|&b| b == b'\n'))
            .map_or(rest.len(), |i| (5 << 19) + i + 1);
        let (body, tail) = rest.split_at(cut);
        out.push(body.to_vec());
        rest = tail;
    }
    out
}

/// `sigil serve` answering each body (POSTed one after the other), then
/// the alerts it writes at shutdown: the bytes of `sigil run` over the
/// stream, with 1, 2 and 4 threads.
#[test]
fn serve_answers_what_run_writes_with_1_2_and_4_threads() {
    let bodies = bodies();
    assert!(bodies.len() >= 2);
    for pack in packs() {
        for engine in [Some("--native"), None] {
            let mut extra: Vec<String> = engine.map(String::from).into_iter().collect();
            extra.extend(pack.iter().cloned());
            // A stream's lateness for both (`sigil run` over a file
            // defaults to `end`, serve to 15 minutes).
            extra.extend(["--lateness".to_string(), "15m".to_string()]);
            let want = Command::new(env!("CARGO_BIN_EXE_sigil"))
                .args(["run", "--threads", "1"])
                .args(&extra)
                .arg(stream())
                .output()
                .unwrap();
            assert!(want.status.success());
            for threads in [1, 2, 4] {
                let got = serve(threads, &extra, &bodies);
                assert!(
                    got == want.stdout,
                    "serve {extra:?} --threads {threads} differs from sigil run"
                );
            }
        }
    }
}

/// Starts `sigil serve`, POSTs `bodies` in turn and stops it: the answers
/// and what it wrote at shutdown.
fn serve(threads: usize, extra: &[String], bodies: &[Vec<u8>]) -> Vec<u8> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--threads", &threads.to_string()])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("sigil serve runs");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().expect("a first log line").unwrap();
    let addr = first
        .split(' ')
        .find_map(|kv| kv.strip_prefix("addr="))
        .unwrap_or_else(|| panic!("no address in {first}"))
        .to_string();
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let mut got = Vec::new();
    for body in bodies {
        got.extend_from_slice(&post(&addr, body));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    let log = log.join().unwrap().join("\n");
    assert!(out.status.success(), "{log}");
    got.extend_from_slice(&out.stdout);
    got
}

/// One `POST /v1/events` over a plain socket (HTTP/1.1, the connection
/// closed after): the answer's body.
fn post(addr: &str, body: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/x-ndjson\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let head_end = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer")
        + 4;
    let head = String::from_utf8_lossy(&answer[..head_end]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let body = &answer[head_end..];
    if head.contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_vec()
    }
}

/// The body of a chunked HTTP answer.
fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let eol = chunked.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = std::str::from_utf8(&chunked[..eol]).unwrap();
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap();
        chunked = &chunked[eol + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&chunked[..size]);
        chunked = &chunked[size + 2..];
    }
}

/// Sanity of the harness: the stream is where the tests expect it.
#[test]
fn the_stream_is_several_blocks_of_ndjson() {
    let s = std::fs::read(stream()).unwrap();
    assert!(s.len() > 4 << 20, "{} bytes", s.len());
    assert!(Path::new(&stream()).is_file());
}

/// A pool whose detectors `make` makes (natively, the built-in pack),
/// over the stream: its output and counters.
fn pooled(
    threads: usize,
    make: impl Fn() -> Result<sigil_host::Detector, sigil_host::Error> + Send + Sync + 'static,
) -> (Vec<u8>, sigil_host::Counters) {
    let mut pool = sigil_host::Pool::parallel_making(threads, make).unwrap();
    pool.run_to_vec(&std::fs::read(stream()).unwrap()).unwrap()
}

fn native() -> Result<sigil_host::Detector, sigil_host::Error> {
    let options = sigil_engine::Options {
        correlation_lateness_ms: sigil_engine::Options::LATENESS_END,
        ..Default::default()
    };
    let engine = sigil_engine::Engine::load(&sigil_host::builtin_rules(), options)?;
    Ok(sigil_host::Detector::Native(engine))
}

/// Whether the caller is one of a pool's threads (the evaluators' or the
/// helper's loader), not the test's own, which makes the lead.
fn on(prefix: &str) -> bool {
    std::thread::current()
        .name()
        .is_some_and(|n| n.starts_with(prefix))
}

/// Detectors made on their threads (as the component's are) give the
/// bytes of one detector; one that cannot be made is no block lost: the
/// helper's blocks go to the threads, a thread's come out marked.
#[test]
fn detectors_made_on_their_threads_lose_no_block() {
    let (one, one_counters) = pooled(1, native);
    let single = {
        let mut pool = sigil_host::Pool::single(native().unwrap());
        pool.run_to_vec(&std::fs::read(stream()).unwrap()).unwrap()
    };
    assert_eq!(
        String::from_utf8_lossy(&one),
        String::from_utf8_lossy(&single.0)
    );
    for threads in [2, 3] {
        let (many, counters) = pooled(threads, native);
        assert_eq!(many, one, "{threads} threads");
        assert_eq!(counters, one_counters);
        // The helper cannot be made: the threads evaluate everything.
        let (many, counters) = pooled(threads, || match on("sigil-load") {
            true => Err(sigil_host::Error::Config("no helper".into())),
            false => native(),
        });
        assert_eq!(many, one, "{threads} threads, no helper");
        assert_eq!(counters, one_counters);
    }
    // No evaluator can be made: every event still comes out once, marked.
    let (none, counters) = pooled(2, || match on("sigil-") {
        true => Err(sigil_host::Error::Config("out of instances".into())),
        false => native(),
    });
    let lines = none
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .count() as u64;
    assert_eq!(counters.events_in, one_counters.events_in);
    assert_eq!(
        (counters.errors, counters.events_out, lines),
        (counters.events_in, counters.events_in, counters.events_in)
    );
    assert!(
        none.split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .all(|l| String::from_utf8_lossy(l).contains("event not evaluated: out of instances")),
    );
}
