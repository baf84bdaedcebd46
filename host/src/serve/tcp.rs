//! A plain TCP listener for NDJSON: Vector's `socket` sink (`mode: tcp`,
//! newline-delimited), `nc`, anything that writes lines to a socket.
//!
//! TCP has no acknowledgement a sender's pipeline can see: once bytes are
//! written to the socket, the sender counts them as delivered. So the
//! guarantees are weaker than HTTP's, and precisely these:
//!
//! - **Backpressure, not loss.** Lines are cut into batches (at most
//!   1 MiB, or what arrived before the connection went quiet for
//!   [`IDLE`]), each admitted against the in-flight budget; while none
//!   fits, sigil stops reading the socket and TCP's flow control stops the
//!   sender. No queue grows in sigil.
//! - **Delivered while sigil runs.** A batch read from the socket is
//!   retried against the downstream, with backoff, until it is accepted
//!   (the socket is not read meanwhile). At shutdown, reading stops, and
//!   what was read is delivered; what the downstream still refuses after
//!   a few tries goes to stdout with a log line, not lost silently.
//! - **Lost on a crash.** What sigil had read but not delivered when it was
//!   killed (SIGKILL, a power cut), and what sat in the kernel's buffers,
//!   is gone: across a crash, TCP delivery is at most once. Use HTTP
//!   (`POST /v1/events`) where that matters.
//! - **No duplicates**: nothing is retried by the sender.
//! - Without `forward`, the annotated lines go to stdout, batch by batch
//!   (a socket in, a pipe out).
//! - A line longer than `max_request_bytes` is cut there: its head is
//!   evaluated (the verdict says `truncated`), the rest skipped to the next
//!   newline and counted.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, watch};

use super::metrics::{BatchLabels, Outcome};
use super::{Server, log, worker};

/// How long a connection may stay quiet before what it sent is evaluated.
pub const IDLE: Duration = Duration::from_millis(200);

/// The batch size a connection's lines are cut into.
const BATCH_BYTES: usize = 1 << 20;

/// Accepts connections until `stop` turns true, then waits for every
/// connection to deliver what it read. Alert-free leftovers (batches the
/// downstream never took) are appended to `leftover`.
pub(super) async fn serve(
    server: Server,
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    leftover: Arc<Mutex<Vec<u8>>>,
) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    let (server, stop, leftover) = (server.clone(), stop.clone(), Arc::clone(&leftover));
                    connections.spawn(async move {
                        connection(server, stream, stop, leftover).await;
                        log("info", "tcp connection closed", &[("peer", &peer)]);
                    });
                }
                Err(e) => log("warn", "tcp accept failed", &[("error", &e)]),
            },
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    server: Server,
    stream: TcpStream,
    mut stop: watch::Receiver<bool>,
    leftover: Arc<Mutex<Vec<u8>>>,
) {
    let limit = server.shared.config.max_request_bytes.min(BATCH_BYTES * 16);
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    let mut batch: Vec<u8> = Vec::with_capacity(BATCH_BYTES);
    // Inside a line cut at the limit: bytes up to its newline are skipped.
    let mut skipping = false;
    loop {
        let mut end = false;
        let mut idle = false;
        tokio::select! {
            _ = stop.changed() => end = true,
            read = tokio::time::timeout(IDLE, reader.fill_buf()) => match read {
                Err(_) => idle = true,
                Ok(Ok([])) => end = true,
                Ok(Ok(bytes)) => {
                    let mut bytes = bytes;
                    let n = bytes.len();
                    if skipping {
                        match memchr::memchr(b'\n', bytes) {
                            Some(p) => {
                                skipping = false;
                                bytes = bytes.get(p + 1..).unwrap_or_default();
                            }
                            None => bytes = &[],
                        }
                    }
                    batch.extend_from_slice(bytes);
                    reader.consume(n);
                }
                Ok(Err(e)) => {
                    log("warn", "tcp read failed", &[("error", &e)]);
                    end = true;
                }
            },
        }
        // Where to cut: everything at the end, complete lines otherwise.
        let cut = if end {
            batch.len()
        } else if batch.len() >= BATCH_BYTES || idle {
            match memchr::memrchr(b'\n', &batch) {
                Some(p) => p + 1,
                None if batch.len() >= limit => {
                    // One line over the limit: its head goes as it is.
                    skipping = true;
                    server.shared.metrics.tcp_lines_cut.inc();
                    batch.len()
                }
                None => 0,
            }
        } else {
            0
        };
        if cut > 0 {
            let rest = batch.split_off(cut);
            let full = std::mem::replace(&mut batch, rest);
            if let Err(undelivered) = deliver(&server, full, &stop).await {
                leftover.lock().await.extend_from_slice(&undelivered);
            }
        }
        if end {
            return;
        }
    }
}

/// Evaluates and forwards one batch, retrying the downstream with backoff
/// until it takes it (a few tries only once shutting down); `Err` holds
/// the output no downstream took.
async fn deliver(
    server: &Server,
    batch: Vec<u8>,
    stop: &watch::Receiver<bool>,
) -> Result<(), Vec<u8>> {
    let s = &server.shared;
    let bytes = batch.len();
    // Waiting here is the backpressure: the socket is not read meanwhile.
    let permits = u32::try_from(bytes.min(s.config.max_inflight_bytes)).unwrap_or(u32::MAX);
    let _permit = Arc::clone(&s.inflight).acquire_many_owned(permits).await;
    s.metrics.inflight_bytes.inc_by(bytes as i64);
    let (reply, answer) = tokio::sync::oneshot::channel();
    let sent = server.send(worker::Job::Batch { body: batch, reply });
    let evaluated = match sent {
        Ok(()) => answer.await.ok().and_then(Result::ok),
        Err(_) => None,
    };
    let Some(e) = evaluated else {
        s.metrics.inflight_bytes.dec_by(bytes as i64);
        log(
            "error",
            "tcp batch not evaluated: the detector thread has stopped",
            &[],
        );
        return Ok(());
    };
    s.metrics.evaluated(&e, bytes);
    let output = e.output;
    let result = match &s.downstream {
        // Socket in, stdout out: each batch's lines whole, in turn.
        None => {
            use tokio::io::AsyncWriteExt as _;
            let _turn = s.stdout.lock().await;
            let mut out = tokio::io::stdout();
            match out.write_all(&output).await.and(out.flush().await) {
                Ok(()) => {
                    s.metrics
                        .batches
                        .get_or_create(&BatchLabels {
                            outcome: Outcome::delivered,
                        })
                        .inc();
                    Ok(())
                }
                Err(e) => {
                    log(
                        "error",
                        "cannot write a tcp batch to stdout",
                        &[("error", &e)],
                    );
                    Err(output)
                }
            }
        }
        Some(d) => {
            let mut backoff = Duration::from_millis(100);
            let mut tries_left_after_stop = 5;
            loop {
                let started = std::time::Instant::now();
                match d.send(output.clone()).await {
                    Ok(()) => {
                        s.metrics
                            .forward_seconds
                            .observe(started.elapsed().as_secs_f64());
                        s.metrics
                            .batches
                            .get_or_create(&BatchLabels {
                                outcome: Outcome::delivered,
                            })
                            .inc();
                        break Ok(());
                    }
                    Err(why) => {
                        s.metrics
                            .batches
                            .get_or_create(&BatchLabels {
                                outcome: Outcome::downstream_failed,
                            })
                            .inc();
                        log(
                            "warn",
                            "downstream did not accept a tcp batch; retrying",
                            &[("error", &why)],
                        );
                        if *stop.borrow() {
                            tries_left_after_stop -= 1;
                            if tries_left_after_stop == 0 {
                                log(
                                    "error",
                                    "shutting down with a tcp batch the downstream refused: it goes to stdout",
                                    &[],
                                );
                                break Err(output);
                            }
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    };
    s.metrics.inflight_bytes.dec_by(bytes as i64);
    result
}
