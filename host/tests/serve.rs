//! `sigil serve` on loopback, driven the way pipelines drive it: batches,
//! gzip, retries on 429/503 with backoff (what Vector's `http` sink and
//! Fluent Bit's `http` output do), a downstream that fails and is slow,
//! signals. The law: what arrives is what `sigil run --native` writes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn corpus() -> Vec<PathBuf> {
    let dir = root().join("tests/data/corpora/stratus-detonation-logs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

/// A `sigil serve` process and the address it listens on.
struct Serve {
    child: Child,
    addr: String,
    admin: Option<String>,
    tcp: Option<String>,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    fn start(extra: &[&str]) -> Serve {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sigil"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("sigil serve runs");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().expect("a first log line").unwrap();
        let field = |name: &str| {
            first
                .split(' ')
                .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                .map(str::to_string)
        };
        let addr = field("addr").unwrap_or_else(|| panic!("no address in {first}"));
        let admin = field("admin");
        let tcp = field("tcp");
        let stderr = Arc::new(Mutex::new(format!("{first}\n")));
        let log = Arc::clone(&stderr);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                log.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Serve {
            child,
            addr,
            admin,
            tcp,
            stderr,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// SIGTERM, then the exit status and what it wrote to stdout.
    fn stop(mut self) -> (i32, Vec<u8>, String) {
        self.signal("TERM");
        let mut out = Vec::new();
        std::io::Read::read_to_end(self.child.stdout.as_mut().unwrap(), &mut out).unwrap();
        let status = self.child.wait().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().unwrap().clone();
        (status.code().unwrap_or(-1), out, err)
    }
}

fn native_run(files: &[PathBuf], extra: &[&str]) -> Vec<u8> {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(["run", "--native"])
        .args(extra)
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Without a downstream, each answer is the batch as `sigil run` writes
/// it: every corpus file POSTed in order (every other one gzipped, as a
/// JSON array, as NDJSON) gives, with the alerts written at shutdown, the
/// same bytes as `sigil run --native` over the same files. Correlation
/// spans batches as it spans files.
#[test]
fn answers_are_what_sigil_run_writes() {
    let files = corpus();
    let want = native_run(&files, &[]);
    // `--threads 1` too: the default is the machine's cores, and one
    // detector frames and evaluates on its own (the `worker` module).
    for mode in [
        ["--native"].as_slice(),
        &[],
        &["--native", "--threads", "1"],
        &["--threads", "1"],
    ] {
        let serve = Serve::start(mode);
        let client = reqwest::Client::new();
        let mut got = Vec::new();
        runtime().block_on(async {
            for (i, f) in files.iter().enumerate() {
                let body = std::fs::read(f).unwrap();
                let mut req = client.post(serve.url("/v1/events"));
                req = if i % 2 == 0 {
                    req.header("content-encoding", "gzip").body(gzip(&body))
                } else {
                    req.body(body)
                };
                let answer = req.send().await.unwrap();
                assert_eq!(answer.status(), 200, "{}", f.display());
                got.extend_from_slice(&answer.bytes().await.unwrap());
            }
        });
        let (status, tail, err) = serve.stop();
        assert_eq!(status, 0, "{err}");
        got.extend_from_slice(&tail);
        assert!(
            got == want,
            "serve {mode:?} differs from sigil run --native\n{err}"
        );
    }
}

/// A SIEM export POSTed whole is read as `sigil run` reads the file: the
/// same answer, byte for byte; `--input-format` forces a reading there too.
#[test]
fn exports_posted_whole_are_what_sigil_run_writes() {
    let exports = root().join("tests/data/exports");
    let rules = root().join("rules/seeds");
    let rules = ["--rules", rules.to_str().unwrap()];
    for file in [
        "qradar_ariel.csv",
        "sumo_search_job.json",
        "log_analytics_awscloudtrail.json",
    ] {
        let path = exports.join(file);
        let want = native_run(std::slice::from_ref(&path), &rules);
        for threads in ["1", "2"] {
            let serve = Serve::start(&[&["--native", "--threads", threads][..], &rules].concat());
            let got = runtime().block_on(async {
                let answer = reqwest::Client::new()
                    .post(serve.url("/v1/events"))
                    .body(std::fs::read(&path).unwrap())
                    .send()
                    .await
                    .unwrap();
                assert_eq!(answer.status(), 200, "{file}");
                answer.bytes().await.unwrap().to_vec()
            });
            let (status, tail, err) = serve.stop();
            assert_eq!(status, 0, "{err}");
            assert!(
                [got, tail].concat() == want,
                "{file}: serve --threads {threads} differs from sigil run\n{err}"
            );
        }
    }
    let serve =
        Serve::start(&[&["--native", "--input-format", "qradar-ariel"][..], &rules].concat());
    let status = runtime().block_on(async {
        reqwest::Client::new()
            .post(serve.url("/v1/events"))
            .body(r#"[{"devicetime": 1}]"#)
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 400);
    serve.stop();
}

/// A downstream that refuses every `fail_every`th batch (never with 0)
/// and is slow now and then.
#[derive(Default)]
struct Downstream {
    received: Mutex<Vec<u8>>,
    calls: AtomicUsize,
    fail_every: usize,
}

async fn downstream_post(State(d): State<Arc<Downstream>>, body: Bytes) -> StatusCode {
    let n = d.calls.fetch_add(1, Ordering::SeqCst);
    if n % 5 == 1 {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    if d.fail_every > 0 && n % d.fail_every == d.fail_every - 1 {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    d.received.lock().unwrap().extend_from_slice(&body);
    StatusCode::OK
}

/// Starts `down` on loopback; its URL.
fn start_downstream(rt: &tokio::runtime::Runtime, down: &Arc<Downstream>) -> String {
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/in", post(downstream_post))
        .with_state(Arc::clone(down));
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/in")
}

/// The corpus as NDJSON batches of about `size` bytes, minified as `sigil
/// run` minifies array members (a re-serialisation would reorder keys).
fn ndjson_batches(size: usize) -> Vec<Vec<u8>> {
    let mut batches = Vec::new();
    let mut batch = Vec::new();
    for f in corpus() {
        let doc = std::fs::read(f).unwrap();
        for e in sigil_engine::input::document_events(&doc).unwrap() {
            sigil_engine::input::minify_into(e, &mut batch);
            batch.push(b'\n');
            if batch.len() > size {
                batches.push(std::mem::take(&mut batch));
            }
        }
    }
    batches.push(batch);
    batches
}

/// Sends `batches` like Vector's `http` sink: `concurrency` at a time,
/// gzip, retrying 429 and 5xx with backoff until acknowledged. Returns how
/// many answers were 429 and 503.
async fn send_like_vector(
    url: String,
    batches: Vec<Vec<u8>>,
    concurrency: usize,
) -> (usize, usize) {
    let client = reqwest::Client::new();
    let queue = Arc::new(Mutex::new(batches));
    let busy = Arc::new(AtomicUsize::new(0));
    let failing = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, queue, url) = (client.clone(), Arc::clone(&queue), url.clone());
        let (busy, failing) = (Arc::clone(&busy), Arc::clone(&failing));
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(batch) = queue.lock().unwrap().pop() else {
                    return;
                };
                let body = gzip(&batch);
                let mut backoff = Duration::from_millis(20);
                loop {
                    let answer = client
                        .post(&url)
                        .header("content-encoding", "gzip")
                        .body(body.clone())
                        .send()
                        .await;
                    match answer.map(|a| a.status().as_u16()) {
                        Ok(200) => break,
                        Ok(429) => {
                            busy.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(503) => {
                            failing.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(other) => {
                            panic!("sigil answered {other}: not retriable, the batch would be lost")
                        }
                        Err(_) => {}
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    (busy.load(Ordering::SeqCst), failing.load(Ordering::SeqCst))
}

/// Event lines (not alerts), with how many times each came.
fn event_lines(ndjson: &[u8]) -> BTreeMap<Vec<u8>, usize> {
    let mut lines = BTreeMap::new();
    for l in ndjson.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if !l.starts_with(b"{\"sigil_alert\"") {
            *lines.entry(l.to_vec()).or_insert(0) += 1;
        }
    }
    lines
}

/// With `--forward`, a downstream that fails a third of the batches and a
/// sender that overruns the in-flight budget: every event of the corpus
/// arrives downstream, exactly as `sigil run` writes it, none lost; a
/// retried batch is delivered from its kept output, never evaluated twice.
#[test]
fn forwarded_batches_all_arrive_despite_failures_and_overload() {
    let files = corpus();
    let rt = runtime();
    let down = Arc::new(Downstream {
        fail_every: 3,
        ..Downstream::default()
    });
    let down_url = start_downstream(&rt, &down);
    // Small budgets, so that four senders overrun them.
    let serve = Serve::start(&[
        "--native",
        "--forward",
        &down_url,
        "--max-request-bytes",
        "100000",
        "--max-inflight-bytes",
        "150000",
    ]);
    let all = native_run(&files, &[]);
    let batches = ndjson_batches(64 << 10);
    let (busy, failing) = rt.block_on(send_like_vector(serve.url("/v1/events"), batches, 4));
    let metrics = rt
        .block_on(async { reqwest::get(serve.url("/metrics")).await?.text().await })
        .unwrap();
    let (status, _, err) = serve.stop();
    assert_eq!(status, 0, "{err}");
    assert!(
        failing > 0,
        "the downstream never failed: the test proves nothing"
    );
    let received = down.received.lock().unwrap().clone();
    // `sigil run` over the same events as one NDJSON stream: the events'
    // verdicts do not depend on batch order, only alerts do.
    let want = event_lines(&all);
    let got = event_lines(&received);
    let missing: Vec<_> = want.keys().filter(|k| !got.contains_key(*k)).collect();
    assert!(
        missing.is_empty(),
        "{} events never arrived\n{err}",
        missing.len()
    );
    let strange: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(
        strange.is_empty(),
        "{} lines differ from sigil run",
        strange.len()
    );
    // No duplicates here: a failed delivery is answered 503 and its retry
    // delivers the kept output, which the downstream had not taken.
    let duplicated = got.iter().filter(|(k, n)| **n > want[*k]).count();
    assert_eq!(duplicated, 0);
    let replayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sigil_retries_replayed_total "))
        .and_then(|v| v.parse().ok())
        .unwrap();
    // Every batch the downstream refused was retried from its kept output.
    assert_eq!(replayed as usize, failing, "{metrics}");
    eprintln!("429 answers: {busy}, 503 answers: {failing}, replayed: {replayed}");
}

/// POSTs `body` to `/v1/events` in chunks of 64 KiB, with no
/// `Content-Length` (as a streaming sender does); the answer's status.
async fn post_chunked(addr: &str, body: &[u8]) -> u16 {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nhost: {addr}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in body.chunks(64 << 10) {
        let sent = async {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            s.write_all(chunk).await?;
            s.write_all(b"\r\n").await
        };
        // The server may answer and close before the whole body is sent.
        if sent.await.is_err() {
            break;
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    answer
        .strip_prefix("HTTP/1.1 ")
        .and_then(|a| a.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer:?}"))
}

/// Refusals a sender can act on: 413 past the request size (gzip bombs
/// included), 415 for an encoding sigil does not decode, 400 for a body
/// that is not the gzip it claims; /health and /metrics answer.
#[test]
fn refusals_say_what_to_do() {
    let serve = Serve::start(&[
        "--native",
        "--max-request-bytes",
        "100000",
        "--max-inflight-bytes",
        "1000000",
    ]);
    let rt = runtime();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let post = |body: Vec<u8>, encoding: Option<&str>| {
            let mut r = client.post(serve.url("/v1/events")).body(body);
            if let Some(e) = encoding {
                r = r.header("content-encoding", e);
            }
            r.send()
        };
        let big = vec![b' '; 200_000];
        assert_eq!(post(big.clone(), None).await.unwrap().status(), 413);
        // No declared length (chunked): refused while reading.
        assert_eq!(post_chunked(&serve.addr, &big).await, 413);
        // 200 KB of spaces gzip to a few hundred bytes: refused once decoded.
        let bomb = post(gzip(&big), Some("gzip")).await.unwrap();
        assert_eq!(bomb.status(), 413);
        assert!(bomb.text().await.unwrap().contains("--max-request-bytes"));
        assert_eq!(
            post(b"{}".to_vec(), Some("br")).await.unwrap().status(),
            415
        );
        assert_eq!(
            post(b"not gzip".to_vec(), Some("gzip"))
                .await
                .unwrap()
                .status(),
            400
        );
        let health = client.get(serve.url("/health")).send().await.unwrap();
        assert_eq!(health.status(), 200);
        assert!(health.text().await.unwrap().contains(r#""status":"ok""#));
        let metrics = client
            .get(serve.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains(r#"sigil_batches_total{outcome="too_large"} 3"#),
            "{metrics}"
        );
    });
    let (status, _, err) = serve.stop();
    assert_eq!(status, 0, "{err}");
}

fn copy_rules(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    let stop = "title: EC2 instance stopped\nid: 11111111-1111-4111-8111-111111111111\nlevel: high\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel: {eventName: StopInstances}\n  condition: sel\n";
    std::fs::write(to.join("stop.yml"), stop).unwrap();
}

/// SIGHUP with a pack that does not load keeps the old pack serving, and
/// says why; the admin route (loopback) answers 422 with the error; a
/// pack that loads is swapped in.
#[test]
fn reload_with_a_broken_pack_keeps_the_old_one() {
    let dir = std::env::temp_dir().join(format!("sigil-serve-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_rules(&dir);
    let rules = dir.to_string_lossy().to_string();
    let serve = Serve::start(&[
        "--native",
        "--rules",
        &rules,
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let admin = format!(
        "http://{}/admin/reload",
        serve.admin.clone().expect("admin address")
    );
    let event = br#"{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com"}"#.to_vec();
    let rt = runtime();
    let client = reqwest::Client::new();
    let evaluate = |client: &reqwest::Client| {
        let r = client
            .post(serve.url("/v1/events"))
            .body(event.clone())
            .send();
        async move { r.await.unwrap().text().await.unwrap() }
    };
    rt.block_on(async {
        assert!(evaluate(&client).await.contains("EC2 instance stopped"));
        std::fs::write(
            dir.join("broken.yml"),
            "title: broken\ndetection:\n  sel: {a: 1}\n  condition: nosuch\n",
        )
        .unwrap();
        serve.signal("HUP");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(evaluate(&client).await.contains("EC2 instance stopped"));
        let answer = client.post(&admin).send().await.unwrap();
        assert_eq!(answer.status(), 422);
        assert!(answer.text().await.unwrap().contains("broken.yml"));
        // Fixed: the new title comes through.
        std::fs::remove_file(dir.join("broken.yml")).unwrap();
        std::fs::write(
            dir.join("stop.yml"),
            std::fs::read_to_string(dir.join("stop.yml"))
                .unwrap()
                .replace("EC2 instance stopped", "EC2 instance halted"),
        )
        .unwrap();
        let answer = client.post(&admin).send().await.unwrap();
        assert_eq!(answer.status(), 200);
        assert!(evaluate(&client).await.contains("EC2 instance halted"));
    });
    let (status, _, err) = serve.stop();
    assert_eq!(status, 0, "{err}");
    assert!(
        err.contains("reload failed, the old rules keep running"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A non-loopback admin address is refused at start.
#[test]
fn the_admin_listener_must_be_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args([
            "serve",
            "--native",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "0.0.0.0:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}

/// SIGTERM while senders are sending: every batch a sender saw
/// acknowledged is downstream, whole; the service stops accepting, finishes
/// what it took, and exits 0.
#[test]
fn sigterm_mid_stream_loses_nothing_acknowledged() {
    let rt = runtime();
    let down = Arc::new(Downstream::default());
    let down_url = start_downstream(&rt, &down);
    let serve = Serve::start(&["--native", "--forward", &down_url]);
    // The corpus four times over: more than can be sent before the signal.
    let one = ndjson_batches(16 << 10);
    let batches: Vec<Vec<u8>> = (0..4).flat_map(|_| one.iter().cloned()).collect();
    let url = serve.url("/v1/events");
    let acked: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let senders: Vec<_> = (0..4)
        .map(|k| {
            let (url, acked) = (url.clone(), Arc::clone(&acked));
            let mine: Vec<Vec<u8>> = batches.iter().skip(k).step_by(4).cloned().collect();
            rt.spawn(async move {
                let client = reqwest::Client::new();
                for batch in mine {
                    match client.post(&url).body(batch.clone()).send().await {
                        Ok(a) if a.status() == 200 => acked.lock().unwrap().push(batch),
                        // Refused or cut off by the shutdown: not
                        // acknowledged, so a real sender would retry it
                        // elsewhere; this one stops.
                        _ => return,
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(700));
    let (status, _, err) = serve.stop();
    for s in senders {
        rt.block_on(s).unwrap();
    }
    assert_eq!(status, 0, "{err}");
    let acked = acked.lock().unwrap().clone();
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the signal: {err}"
    );
    let received = down.received.lock().unwrap().clone();
    let got = event_lines(&received);
    // Each acknowledged event arrived, verdict spliced in (the line starts
    // as the event did).
    let mut checked = 0;
    for batch in &acked {
        for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let stem = &line[..line.len() - 1];
            assert!(
                got.keys().any(|k| k.starts_with(stem)),
                "acknowledged and lost: {}",
                String::from_utf8_lossy(&line[..line.len().min(200)])
            );
            checked += 1;
        }
    }
    assert!(err.contains("shutting down"), "{err}");
    eprintln!(
        "{} batches, {checked} events acknowledged before SIGTERM",
        acked.len()
    );
}

/// NDJSON over plain TCP (Vector's `socket` sink): two connections write
/// the corpus, a downstream refuses every other batch; every event
/// arrives, as `sigil run` writes it, exactly once (TCP has no sender
/// retry, so no duplicates), once the connections close; then without a
/// downstream the lines come out on stdout.
#[test]
fn tcp_lines_are_all_forwarded() {
    let rt = runtime();
    let down = Arc::new(Downstream {
        fail_every: 2,
        ..Downstream::default()
    });
    let down_url = start_downstream(&rt, &down);
    let files = corpus();
    let want = event_lines(&native_run(&files, &[]));
    let batches = ndjson_batches(16 << 10);
    for forward in [true, false] {
        let mut flags = vec!["--native", "--listen-tcp", "127.0.0.1:0"];
        if forward {
            flags.extend(["--forward", down_url.as_str()]);
        }
        let serve = Serve::start(&flags);
        let tcp = serve.tcp.clone().expect("a tcp address");
        let writers: Vec<_> = [0, 1]
            .map(|k| {
                let (tcp, mine) = (
                    tcp.clone(),
                    batches
                        .iter()
                        .skip(k)
                        .step_by(2)
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                std::thread::spawn(move || {
                    let mut socket = std::net::TcpStream::connect(tcp).unwrap();
                    for b in mine {
                        socket.write_all(&b).unwrap();
                    }
                })
            })
            .into_iter()
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        if forward {
            // Delivered while sigil runs, retries included.
            for _ in 0..100 {
                if event_lines(&down.received.lock().unwrap())
                    .values()
                    .sum::<usize>()
                    >= want.values().sum::<usize>()
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        // Without a downstream, SIGTERM comes at once: what the senders
        // wrote is still taken, since a stop reads open connections until
        // they go quiet.
        let (status, stdout, err) = serve.stop();
        assert_eq!(status, 0, "{err}");
        let got = if forward {
            event_lines(&down.received.lock().unwrap())
        } else {
            event_lines(&stdout)
        };
        assert!(
            got == want,
            "forward {forward}: {} distinct lines, want {}\n{err}",
            got.len(),
            want.len()
        );
        if forward {
            assert!(
                err.contains("retrying"),
                "the downstream never failed: {err}"
            );
        }
    }
}

/// One counter of `/metrics` (its `_total` sample for counters).
fn metric(rt: &tokio::runtime::Runtime, serve: &Serve, name: &str) -> u64 {
    let text = rt
        .block_on(async { reqwest::get(serve.url("/metrics")).await?.text().await })
        .unwrap();
    text.lines()
        .find_map(|l| {
            let (key, value) = l.split_once(' ')?;
            (key == name || key == format!("{name}_total")).then(|| value.parse().ok())?
        })
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// Past `--max-tcp-connections`, a sender waits (its connection sits in
/// the listen queue) and loses nothing: its lines are read once a slot
/// frees, and come out as `sigil run` writes them.
#[test]
fn tcp_connections_past_the_limit_wait_and_lose_nothing() {
    let rt = runtime();
    let files = corpus();
    let want = event_lines(&native_run(&files, &[]));
    let batches = ndjson_batches(16 << 10);
    let serve = Serve::start(&[
        "--native",
        "--listen-tcp",
        "127.0.0.1:0",
        "--max-tcp-connections",
        "1",
    ]);
    let tcp = serve.tcp.clone().expect("a tcp address");
    let holder = std::net::TcpStream::connect(&tcp).unwrap();
    // The holder is accepted before the second sender connects.
    for _ in 0..50 {
        if metric(&rt, &serve, "sigil_tcp_connections") == 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let writer = std::thread::spawn(move || {
        let mut socket = std::net::TcpStream::connect(tcp).unwrap();
        for b in batches {
            socket.write_all(&b).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        metric(&rt, &serve, "sigil_events_in"),
        0,
        "read past the limit"
    );
    assert!(metric(&rt, &serve, "sigil_tcp_accept_waits") >= 1);
    drop(holder);
    writer.join().unwrap();
    let total = want.values().sum::<usize>() as u64;
    for _ in 0..100 {
        if metric(&rt, &serve, "sigil_events_in") >= total {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, stdout, err) = serve.stop();
    assert_eq!(status, 0, "{err}");
    assert!(event_lines(&stdout) == want, "lines differ\n{err}");
}

/// A TCP line longer than `--max-request-bytes` (a sender with no line
/// limit, or padding meant to hide what follows) is cut there: its head
/// is evaluated with `truncated` and keeps its finding, the rest of the
/// line is skipped, counted, and the next line is read whole.
#[test]
fn a_tcp_line_over_the_limit_is_cut_and_the_next_read_whole() {
    let rt = runtime();
    // A real detection (StopInstances of the corpus) with padding added
    // after its members, then an ordinary event.
    let events = String::from_utf8(native_run(&corpus(), &["--matched-only"])).unwrap();
    let hit: serde_json::Value = serde_json::from_str(
        events
            .lines()
            .find(|l| l.contains("\"StopInstances\""))
            .expect("a StopInstances finding in the corpus"),
    )
    .unwrap();
    let mut event = hit.clone();
    event.as_object_mut().unwrap().remove("sigil");
    let plain = serde_json::to_string(&event).unwrap();
    let mut long = plain.trim_end_matches('}').to_string();
    long.push_str(",\"padding\":\"");
    long.push_str(&"A".repeat(64 << 10));
    long.push_str("\"}\n");
    let next = "{\"eventVersion\":\"1.08\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"ListBuckets\",\"eventTime\":\"2024-08-01T12:00:00Z\"}\n";

    let serve = Serve::start(&[
        "--native",
        "--listen-tcp",
        "127.0.0.1:0",
        "--max-request-bytes",
        "32768",
    ]);
    let tcp = serve.tcp.clone().expect("a tcp address");
    {
        let mut socket = std::net::TcpStream::connect(&tcp).unwrap();
        socket.write_all(long.as_bytes()).unwrap();
        socket.write_all(next.as_bytes()).unwrap();
    }
    for _ in 0..100 {
        if metric(&rt, &serve, "sigil_events_in") >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&rt, &serve, "sigil_tcp_lines_cut"), 1);
    let (status, stdout, err) = serve.stop();
    assert_eq!(status, 0, "{err}");
    let out = String::from_utf8(stdout).unwrap();
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 2, "stdout: {out}\nstderr: {err}");
    let cut = &lines[0]["sigil"];
    assert_eq!(
        cut["findings"], hit["sigil"]["findings"],
        "the cut line keeps its finding"
    );
    assert!(
        cut.to_string().contains("truncated"),
        "the cut is said: {cut}"
    );
    assert_eq!(lines[1]["eventName"], "ListBuckets");
    assert!(lines[1]["sigil"].get("warnings").is_none(), "{}", lines[1]);
}
