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
//!   (the socket is not read meanwhile). At shutdown, sigil stops
//!   accepting, reads each open connection until its sender has been
//!   quiet for [`IDLE`] (so what was written before the stop is taken,
//!   for at most 2 s), and delivers what it read; what the downstream
//!   still refuses after a few tries goes to stdout with a log line, not
//!   lost silently. Connections the kernel completed before the stop are
//!   accepted and read the same way, as far as `max_tcp_connections`
//!   allows; later ones are not.
//! - **Lost on a crash.** What sigil had read but not delivered when it was
//!   killed (SIGKILL, a power cut), and what sat in the kernel's buffers,
//!   is gone: across a crash, TCP delivery is at most once. Use HTTP
//!   (`POST /v1/events`) where that matters.
//! - **No duplicates**: nothing is retried by the sender.
//! - Without `forward`, the annotated lines go to stdout, batch by batch
//!   (a socket in, a pipe out).
//! - A line longer than `max_request_bytes` is cut there: its head is
//!   evaluated (the verdict says `truncated`), the rest skipped to the next
//!   newline and counted (`sigil_tcp_lines_cut`).
//! - At most [`ServeConfig::max_tcp_connections`](super::ServeConfig)
//!   connections are served at once; the next ones wait in the listen
//!   queue (counted in `sigil_tcp_accept_waits`) rather than being
//!   refused, because a sender that wrote into a refused socket has lost
//!   those bytes. So the memory TCP senders hold is bounded too.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, watch};

use super::metrics::{BatchLabels, Outcome};
use super::{Server, log, worker};

/// How long a connection may stay quiet before what it sent is evaluated.
pub const IDLE: Duration = Duration::from_millis(200);

/// How long a connection is still read after a stop, at most.
const DRAIN: Duration = Duration::from_secs(2);

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
    let open = Arc::new(Semaphore::new(server.shared.config.max_tcp_connections));
    // Each connection watches its own copy of the stop.
    let watch = stop.clone();
    let spawn = |connections: &mut tokio::task::JoinSet<()>, slot, (stream, peer)| {
        let (server, stop, leftover) = (server.clone(), watch.clone(), Arc::clone(&leftover));
        connections.spawn(async move {
            server.shared.metrics.tcp_connections.inc();
            connection(&server, stream, stop, leftover).await;
            server.shared.metrics.tcp_connections.dec();
            drop::<OwnedSemaphorePermit>(slot);
            log("info", "tcp connection closed", &[("peer", &peer)]);
        });
    };
    loop {
        // A slot before `accept`: past the limit, connections wait in the
        // kernel's queue and their senders block, instead of being refused.
        let slot = match Arc::clone(&open).try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                server.shared.metrics.tcp_accept_waits.inc();
                tokio::select! {
                    _ = stop.changed() => break,
                    slot = Arc::clone(&open).acquire_owned() => match slot {
                        Ok(slot) => slot,
                        Err(_) => break,
                    },
                }
            }
        };
        tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(connection) => spawn(&mut connections, slot, connection),
                Err(e) => log("warn", "tcp accept failed", &[("error", &e)]),
            },
        }
    }
    // Connections the kernel completed before the stop have senders that
    // already wrote: take them too, as far as there are slots. (`timeout`
    // polls `accept` once before its zero delay.)
    while let Ok(slot) = Arc::clone(&open).try_acquire_owned() {
        match tokio::time::timeout(Duration::ZERO, listener.accept()).await {
            Ok(Ok(connection)) => spawn(&mut connections, slot, connection),
            _ => break,
        }
    }
    while connections.join_next().await.is_some() {}
}

async fn connection(
    server: &Server,
    stream: TcpStream,
    mut stop: watch::Receiver<bool>,
    leftover: Arc<Mutex<Vec<u8>>>,
) {
    let mut lines = Lines {
        limit: server.shared.config.max_request_bytes.min(BATCH_BYTES * 16),
        batch: Vec::with_capacity(BATCH_BYTES),
        line_len: 0,
        skipping: false,
    };
    let mut reader = BufReader::with_capacity(64 << 10, stream);
    // Once stopping: read on until the sender goes quiet (what it wrote
    // before the stop is in the socket's buffers), for at most `DRAIN`.
    let mut drain_until: Option<tokio::time::Instant> = None;
    loop {
        let mut end = false;
        let mut idle = false;
        if drain_until.is_none() && *stop.borrow() {
            drain_until = Some(tokio::time::Instant::now() + DRAIN);
        }
        if drain_until.is_some_and(|t| tokio::time::Instant::now() >= t) {
            end = true;
        }
        tokio::select! {
            changed = stop.changed(), if drain_until.is_none() && !end => {
                // The server dropped its side: a stop all the same.
                if changed.is_err() {
                    drain_until = Some(tokio::time::Instant::now() + DRAIN);
                }
            }
            read = tokio::time::timeout(IDLE, reader.fill_buf()), if !end => match read {
                Err(_) if drain_until.is_some() => end = true,
                Err(_) => idle = true,
                Ok(Ok([])) => end = true,
                Ok(Ok(bytes)) => {
                    let n = bytes.len();
                    let cuts = lines.take(bytes);
                    server.shared.metrics.tcp_lines_cut.inc_by(cuts);
                    reader.consume(n);
                }
                Ok(Err(e)) => {
                    log("warn", "tcp read failed", &[("error", &e)]);
                    end = true;
                }
            },
            else => {}
        }
        let batch = &mut lines.batch;
        // Where to cut: everything at the end, complete lines otherwise.
        let cut = if end {
            batch.len()
        } else if batch.len() >= BATCH_BYTES || idle {
            memchr::memrchr(b'\n', batch).map_or(0, |p| p + 1)
        } else {
            0
        };
        if cut > 0 {
            let rest = batch.split_off(cut);
            let full = std::mem::replace(batch, rest);
            if let Err(undelivered) = deliver(server, full, &stop).await {
                leftover.lock().await.extend_from_slice(&undelivered);
            }
        }
        if end {
            return;
        }
    }
}

/// A connection's bytes gathered into lines of at most `limit` bytes.
struct Lines {
    limit: usize,
    /// Complete lines, then the start of the next one.
    batch: Vec<u8>,
    /// Bytes of the line being read that are in `batch`.
    line_len: usize,
    /// Inside a line cut at the limit: bytes up to its newline are skipped.
    skipping: bool,
}

impl Lines {
    /// Appends what was read; returns how many lines were cut at the
    /// limit (a head ends with a newline of its own, so it goes out as a
    /// line, and the rest up to the sender's newline is dropped).
    fn take(&mut self, mut bytes: &[u8]) -> u64 {
        let mut cuts = 0;
        while !bytes.is_empty() {
            let newline = memchr::memchr(b'\n', bytes);
            let (part, rest) = match newline {
                Some(p) => (bytes.get(..p).unwrap_or_default(), bytes.get(p + 1..)),
                None => (bytes, None),
            };
            if !self.skipping {
                let room = self.limit.saturating_sub(self.line_len);
                if part.len() > room {
                    self.batch
                        .extend_from_slice(part.get(..room).unwrap_or_default());
                    self.batch.push(b'\n');
                    self.line_len = 0;
                    self.skipping = true;
                    cuts += 1;
                } else {
                    self.batch.extend_from_slice(part);
                    self.line_len += part.len();
                }
            }
            match rest {
                Some(rest) => {
                    if !self.skipping {
                        self.batch.push(b'\n');
                    }
                    self.skipping = false;
                    self.line_len = 0;
                    bytes = rest;
                }
                None => bytes = &[],
            }
        }
        cuts
    }
}

/// Evaluates and forwards one batch, retrying the downstream with backoff
/// until it takes it (a few tries only once shutting down); `Err` holds
/// the output no downstream took.
async fn deliver(
    server: &Server,
    batch: Vec<u8>,
    stop: &watch::Receiver<bool>,
) -> Result<(), axum::body::Bytes> {
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
    let output = s.buffers.bytes(e.output);
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

#[cfg(test)]
mod tests {
    use super::Lines;

    fn lines(limit: usize, chunks: &[&[u8]]) -> (String, usize) {
        let mut l = Lines {
            limit,
            batch: Vec::new(),
            line_len: 0,
            skipping: false,
        };
        let cuts = chunks.iter().map(|c| l.take(c) as usize).sum();
        (String::from_utf8(l.batch).unwrap(), cuts)
    }

    #[test]
    fn lines_up_to_the_limit_pass_whole() {
        assert_eq!(
            lines(4, &[b"abcd\nab", b"cd\n"]),
            ("abcd\nabcd\n".into(), 0)
        );
    }

    #[test]
    fn a_longer_line_is_cut_and_its_rest_skipped_across_reads() {
        assert_eq!(
            lines(4, &[b"ab", b"cdef", b"gh", b"ij\nxy\n"]),
            ("abcd\nxy\n".into(), 1)
        );
        assert_eq!(lines(2, &[b"abc\nabc\n"]), ("ab\nab\n".into(), 2));
        // The cut line's newline is the next byte read.
        assert_eq!(lines(2, &[b"abc", b"\nz"]), ("ab\nz".into(), 1));
    }
}
