//! The load client of `scripts/bench-serve`: posts a file to `sigil serve`
//! the way Vector's `http` sink does, and says how fast it went.
//!
//! Vector's sink keeps its connections alive, has a few requests in flight
//! at once (its adaptive concurrency settles near the server's cores),
//! cuts NDJSON batches of about 1 MB at a newline, may gzip them, and reads
//! every answer to its end before the next request on that connection.
//! This client does the same with the host's own HTTP stack (reqwest over
//! hyper, on tokio), so that what the benchmark measures is the server:
//! the Python `http.client` sender it replaces spent more of the two shared
//! cores than `sigil serve --native` did and was the bound
//! (BENCHMARKS.md, issue 16).
//!
//! It is an example, not a bench target: `cargo test` builds examples, so
//! CI keeps it compiling, and the script runs it as a plain binary. The
//! batches are cut (and gzipped, with `--gzip`) before the clock starts:
//! Vector compresses on its own threads, and a sender's compression cost
//! says nothing about sigil (level 6, Vector's default). The senders are
//! tasks on one runtime thread unless told otherwise: on the benchmark's
//! two shared cores a second client thread measured 5-10 % slower (it
//! takes a core from the server), and one thread keeps up with loopback.
//!
//! ```text
//! cargo +1.99.1 run --release -p sigil-host --example serve_load -- \
//!     http://127.0.0.1:18686/v1/events FILE [--senders 2] [--batch-bytes 1048576] [--gzip] [--client-threads 1]
//! ```
//!
//! Prints one line: MB/s of input (10^6 bytes), the p50 and p99 batch
//! latency (request written to answer read whole), the answers' bytes and
//! how many `429`/`503` answers were retried (after their `Retry-After`,
//! as Vector does). Any other answer than `200` ends the run with an error.

use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What the command line asks for.
struct Args {
    url: String,
    file: String,
    senders: usize,
    batch_bytes: usize,
    gzip: bool,
    client_threads: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: serve_load URL FILE [--senders N] [--batch-bytes N] [--gzip] [--client-threads N]"
    );
    std::process::exit(2);
}

fn parse() -> Args {
    let mut rest = std::env::args().skip(1);
    let mut positional = Vec::new();
    let mut args = Args {
        url: String::new(),
        file: String::new(),
        senders: 2,
        batch_bytes: 1 << 20,
        gzip: false,
        client_threads: 1,
    };
    let number = |v: Option<String>| -> usize {
        match v.and_then(|v| v.parse().ok()) {
            Some(n) if n > 0 => n,
            _ => usage(),
        }
    };
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--senders" => args.senders = number(rest.next()),
            "--batch-bytes" => args.batch_bytes = number(rest.next()),
            "--client-threads" => args.client_threads = number(rest.next()),
            "--gzip" => args.gzip = true,
            _ if a.starts_with("--") => usage(),
            _ => positional.push(a),
        }
    }
    let [url, file] = <[String; 2]>::try_from(positional).unwrap_or_else(|_| usage());
    args.url = url;
    args.file = file;
    args
}

/// `data` in batches of at most `max` bytes, each cut after a newline (a
/// line longer than `max` is a batch of its own, as Vector sends it).
fn batches(data: &'static [u8], max: usize) -> Vec<&'static [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < data.len() {
        let limit = start.saturating_add(max);
        let end = if limit >= data.len() {
            data.len()
        } else {
            match memchr::memrchr(b'\n', &data[start..limit]) {
                Some(at) => start + at + 1,
                // No newline in the window: up to the next one.
                None => {
                    memchr::memchr(b'\n', &data[limit..]).map_or(data.len(), |at| limit + at + 1)
                }
            }
        };
        out.push(&data[start..end]);
        start = end;
    }
    out
}

fn gzip(batch: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = z.write_all(batch);
    z.finish().unwrap_or_default()
}

/// What one sender saw.
#[derive(Default)]
struct Seen {
    latencies: Vec<Duration>,
    answer_bytes: usize,
    retried: usize,
}

async fn sender(
    client: reqwest::Client,
    url: Arc<str>,
    bodies: Arc<Vec<&'static [u8]>>,
    gzip: bool,
    next: Arc<AtomicUsize>,
) -> Result<Seen, String> {
    let mut seen = Seen::default();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(&body) = bodies.get(i) else {
            return Ok(seen);
        };
        loop {
            let t = Instant::now();
            let mut request = client
                .post(&*url)
                .header("content-type", "application/x-ndjson")
                .body(body);
            if gzip {
                request = request.header("content-encoding", "gzip");
            }
            let answer = request
                .send()
                .await
                .map_err(|e| format!("POST {url}: {e}"))?;
            let status = answer.status();
            let retry_after = answer
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let bytes = answer
                .bytes()
                .await
                .map_err(|e| format!("reading the answer of batch {i}: {e}"))?;
            if status == 200 {
                seen.latencies.push(t.elapsed());
                seen.answer_bytes += bytes.len();
                break;
            }
            if status == 429 || status == 503 {
                seen.retried += 1;
                tokio::time::sleep(Duration::from_secs(retry_after.unwrap_or(1))).await;
                continue;
            }
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned();
            return Err(format!("batch {i}: the server answered {status}: {head}"));
        }
    }
}

fn main() {
    let args = parse();
    let data = match std::fs::read(&args.file) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("serve_load: cannot read {}: {e}", args.file);
            std::process::exit(1);
        }
    };
    // The input lives as long as the process: the bodies are slices of it,
    // handed to reqwest without a copy.
    let data: &'static [u8] = Vec::leak(data);
    let plain = batches(data, args.batch_bytes);
    let bodies: Vec<&'static [u8]> = if args.gzip {
        plain.iter().map(|b| &*Vec::leak(gzip(b))).collect()
    } else {
        plain.clone()
    };
    let wire: usize = bodies.iter().map(|b| b.len()).sum();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.client_threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("serve_load: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let client = match reqwest::Client::builder()
        .pool_max_idle_per_host(args.senders)
        .tcp_nodelay(true)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("serve_load: cannot make the HTTP client: {e}");
            std::process::exit(1);
        }
    };
    let url: Arc<str> = args.url.into();
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let results = runtime.block_on(async {
        let tasks: Vec<_> = (0..args.senders)
            .map(|_| {
                tokio::spawn(sender(
                    client.clone(),
                    Arc::clone(&url),
                    Arc::clone(&bodies),
                    args.gzip,
                    Arc::clone(&next),
                ))
            })
            .collect();
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.map_err(|e| format!("a sender failed: {e}")));
        }
        results
    });
    let secs = started.elapsed().as_secs_f64();
    let mut latencies = Vec::new();
    let (mut answer_bytes, mut retried) = (0, 0);
    for r in results {
        match r.and_then(|r| r) {
            Ok(seen) => {
                latencies.extend(seen.latencies);
                answer_bytes += seen.answer_bytes;
                retried += seen.retried;
            }
            Err(e) => {
                eprintln!("serve_load: {e}");
                std::process::exit(1);
            }
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        let at = ((p * latencies.len() as f64) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e3)
    };
    let mb = data.len() as f64 / 1e6;
    let gz = if args.gzip {
        format!(" (gzip: {:.1} MB on the wire)", wire as f64 / 1e6)
    } else {
        String::new()
    };
    println!(
        "serve: {mb:.1} MB in {} batches{gz}, {} senders, {secs:.2} s, {:.1} MB/s; \
         batch latency p50 {:.1} ms, p99 {:.1} ms; answers {:.1} MB; retried {retried}",
        plain.len(),
        args.senders,
        mb / secs,
        pct(0.5),
        pct(0.99),
        answer_bytes as f64 / 1e6,
    );
}
