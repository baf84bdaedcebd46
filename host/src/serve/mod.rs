//! `sigil serve`: detection as a long-running HTTP service, beside Vector,
//! Fluent Bit's `http` output, Logstash or anything that can POST a batch.
//!
//! Vector has no WebAssembly runtime, and most pipelines can already send
//! batches over HTTP and retry them; so sigil sits beside the pipeline as a
//! hop: a sender POSTs a batch, sigil evaluates it and either answers with
//! the annotated batch or passes it on to a downstream and answers only once
//! the downstream took it.
//!
//! # Delivery: at least once
//!
//! sigil keeps no disk queue. With a downstream (`forward`), a batch is
//! acknowledged (`200`) only after the downstream answered `2xx`; any other
//! outcome is a `503` (downstream failing) or `429` (sigil busy) with
//! `Retry-After`, and the sender retries: nothing is lost as long as the
//! sender retries what was not acknowledged, which Vector's and Fluent
//! Bit's HTTP outputs do. A batch the downstream took but whose answer
//! never reached the sender is sent again: duplicates are possible, losses
//! are not.
//!
//! A retried batch is not evaluated twice. The output of a batch that was
//! evaluated but not delivered is kept (up to the in-flight budget), keyed
//! by the SHA-256 of its decoded body; the retry delivers that output. So a
//! retry neither counts its events twice in correlation windows nor loses
//! the alerts its first evaluation released.
//!
//! # Bounded memory
//!
//! Decoded request bytes in flight (accepted, not yet answered) are bounded
//! by [`ServeConfig::max_inflight_bytes`]: past it a request gets `429`
//! with `Retry-After` at once, never a queue. One request's decoded body is
//! bounded by [`ServeConfig::max_request_bytes`] (`413` past it, gzip
//! included: the decoder stops at the limit). Beside them, the buffers
//! kept for the next batches (the `buffers` module) hold at most 32 MiB.
//!
//! # Order and correlation
//!
//! Batches are correlated one at a time, in the order they were accepted,
//! by one detector: correlation windows span every batch, as they span
//! every input file of `sigil run`. With `--threads N` the blocks of the
//! batches in flight are evaluated by N detectors at once and correlated
//! in that order (the `worker` module), so the answers are the bytes one
//! detector would give. Alerts are records of their own in the answer (or
//! the forwarded batch) of the batch that released them.
//!
//! # Reload
//!
//! [`Server::reload`] (SIGHUP, or `POST /admin/reload` on the loopback-only
//! admin listener) builds the new pack beside the running one; when it
//! loads, the detector is swapped between two batches, the old pack's
//! correlation windows are flushed and their alerts go out with the next
//! answer; the new pack starts with empty windows. A pack that does not
//! load leaves the old one running, and the error is the reload's answer.
//!
//! # Shutdown
//!
//! [`Server::run`] ends when its `shutdown` future does: it stops
//! accepting, lets the requests in flight finish (and be delivered), then
//! flushes the correlation windows; their alerts are forwarded (or, without
//! a downstream, returned to the caller, which writes them to stdout).

mod buffers;
mod forward;
mod http;
mod metrics;
mod tcp;
mod worker;

use sigil_engine::export::InputFormat;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Mutex, Semaphore, oneshot};

use crate::error::Error;
use crate::output::Format;
use crate::pool::Pool;

pub use forward::Downstream;

/// Builds the detectors with the rule pack as it is now: at start and on
/// every reload (so edited rule files are read again). Every pool it
/// builds has the same number of threads.
pub type Loader = Box<dyn Fn() -> Result<Pool, String> + Send + Sync>;

/// Where `sigil serve` listens, where it delivers, and its bounds.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The downstream that takes annotated batches (`POST`, NDJSON), or
    /// `None` to answer each request with its annotated batch.
    pub forward: Option<String>,
    /// How long the downstream may take to accept one batch.
    pub forward_timeout: Duration,
    /// The `Content-Type` of forwarded batches. Default
    /// `application/x-ndjson` (Vector's `http_server` source with
    /// newline-delimited framing); Fluent Bit's `http` input wants
    /// `application/json` for the same lines.
    pub forward_content_type: String,
    /// Largest decoded request body. Default 16 MiB (Vector's `http` sink
    /// sends up to 10 MB).
    pub max_request_bytes: usize,
    /// Decoded bytes accepted and not yet answered, across requests.
    /// Default 64 MiB. The outputs kept for retries have a budget of the
    /// same size (the oldest is dropped past it, and its retry evaluated
    /// again).
    pub max_inflight_bytes: usize,
    /// What `Retry-After` tells a sender turned away (`429`, `503`).
    /// Default 1 s.
    pub retry_after: Duration,
    /// TCP connections served at once (`--listen-tcp`). Default 64. Past
    /// it, new connections wait in the kernel's listen queue until one
    /// closes: a wait, never a refusal, since bytes written to a refused
    /// socket are lost. Each connection holds at most one line of
    /// `max_request_bytes` (plus a 64 KiB read buffer) before admission,
    /// so this bounds the memory TCP senders can take beside the
    /// in-flight budget.
    pub max_tcp_connections: usize,
    /// What a batch's answer holds: sigil's JSON lines (the default) or
    /// OCSF Detection Finding records (`--format ocsf`).
    pub format: Format,
    /// How a batch's body is framed, as `sigil run` frames a file
    /// (`sigil_stream::Framer`). Default `Auto`, detected per body: NDJSON
    /// (what pipelines send), a JSON array or `Records` file, or a SIEM
    /// export (QRadar, Log Analytics, Sumo, CSV) posted whole, which
    /// becomes its rows (`sigil_engine::export`). A body that does not
    /// split is refused with `400`.
    pub input_format: InputFormat,
}

impl Default for ServeConfig {
    fn default() -> ServeConfig {
        ServeConfig {
            forward: None,
            forward_timeout: Duration::from_secs(10),
            forward_content_type: "application/x-ndjson".to_string(),
            max_request_bytes: 16 << 20,
            max_inflight_bytes: 64 << 20,
            retry_after: Duration::from_secs(1),
            max_tcp_connections: 64,
            format: Format::Json,
            input_format: InputFormat::Auto,
        }
    }
}

/// The state every request handler shares.
struct Shared {
    config: ServeConfig,
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<worker::Job>>,
    inflight: Arc<Semaphore>,
    downstream: Option<Downstream>,
    metrics: metrics::Metrics,
    loader: Loader,
    /// Outputs evaluated and not delivered, by body digest (see the module
    /// docs); bounded with the in-flight budget.
    undelivered: Mutex<forward::Undelivered>,
    /// Set once shutdown began: new batches get `503`.
    closing: AtomicBool,
    /// One reload at a time.
    reloading: Mutex<()>,
    /// Whole batches to stdout, one at a time (TCP without a downstream).
    stdout: Mutex<()>,
    /// Request bodies and answers, used again (see the module).
    buffers: Arc<buffers::Buffers>,
}

/// A running service: a detector thread and the state its listeners share.
#[derive(Clone)]
pub struct Server {
    shared: Arc<Shared>,
}

/// What a reload did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    /// Rules (detection and correlation) in the new pack.
    pub rules: usize,
}

impl Server {
    /// Loads the pack (with `loader`) and starts the detector thread.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] when the pack does not load, the downstream URL is
    /// not `http://`, or the detector thread cannot start.
    pub fn start(config: ServeConfig, loader: Loader) -> Result<Server, Error> {
        let pool = loader().map_err(Error::Config)?;
        let rules = pool.lead().rules().len();
        let buffers = Arc::new(buffers::Buffers::default());
        let jobs = worker::spawn(
            pool,
            config.format,
            config.input_format,
            Arc::clone(&buffers),
        )
        .map_err(|e| Error::Config(format!("cannot start the detector thread: {e}")))?;
        let downstream = match &config.forward {
            Some(url) => Some(Downstream::new(
                url,
                config.forward_timeout,
                &config.forward_content_type,
            )?),
            None => None,
        };
        let metrics = metrics::Metrics::new();
        metrics.rules.set(rules as i64);
        if config.max_request_bytes > config.max_inflight_bytes {
            return Err(Error::Config(format!(
                "--max-request-bytes ({}) is over --max-inflight-bytes ({}): no batch that large could ever be taken",
                config.max_request_bytes, config.max_inflight_bytes
            )));
        }
        if config.max_tcp_connections == 0 {
            return Err(Error::Config(
                "--max-tcp-connections is 0: no TCP sender could ever connect; give at least 1"
                    .to_string(),
            ));
        }
        let permits = config.max_inflight_bytes.min(Semaphore::MAX_PERMITS);
        Ok(Server {
            shared: Arc::new(Shared {
                inflight: Arc::new(Semaphore::new(permits)),
                undelivered: Mutex::new(forward::Undelivered::new(config.max_inflight_bytes)),
                config,
                jobs: std::sync::Mutex::new(jobs),
                downstream,
                metrics,
                loader,
                closing: AtomicBool::new(false),
                reloading: Mutex::new(()),
                stdout: Mutex::new(()),
                buffers,
            }),
        })
    }

    /// Loads the pack again (the loader reads the rule files anew) beside
    /// the running one and swaps it in between two batches.
    ///
    /// # Errors
    ///
    /// The load error; the old pack keeps running.
    pub async fn reload(&self) -> Result<Reloaded, String> {
        let shared = &self.shared;
        let _one = shared.reloading.lock().await;
        let s = Arc::clone(shared);
        let loaded = tokio::task::spawn_blocking(move || (s.loader)())
            .await
            .map_err(|e| format!("the reload task failed: {e}"))?;
        let detector = match loaded {
            Ok(d) => d,
            Err(e) => {
                shared
                    .metrics
                    .reloads
                    .get_or_create(&metrics::ReloadLabels {
                        result: metrics::ReloadResult::failed,
                    })
                    .inc();
                return Err(e);
            }
        };
        let (reply, answer) = oneshot::channel();
        self.send(worker::Job::Swap {
            detector: Box::new(detector),
            reply,
        })?;
        let rules = answer
            .await
            .map_err(|_| "the detector thread has stopped".to_string())?;
        shared.metrics.rules.set(rules as i64);
        shared
            .metrics
            .reloads
            .get_or_create(&metrics::ReloadLabels {
                result: metrics::ReloadResult::ok,
            })
            .inc();
        Ok(Reloaded { rules })
    }

    fn send(&self, job: worker::Job) -> Result<(), String> {
        let jobs = self
            .shared
            .jobs
            .lock()
            .map_err(|_| "the detector thread has stopped".to_string())?;
        jobs.send(job)
            .map_err(|_| "the detector thread has stopped".to_string())
    }

    /// Serves HTTP on `listener` (and the admin routes on `admin`, which
    /// must be a loopback address; NDJSON over plain TCP on `tcp`, see the
    /// `tcp` module's guarantees) until `shutdown` completes, then drains
    /// and flushes (see the module docs). Returns what could not be
    /// delivered at the end (the windows' last alerts without a downstream,
    /// or those the downstream refused), for the caller to write somewhere.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] for a non-loopback admin address; [`Error::Listen`]
    /// when serving fails.
    pub async fn run(
        self,
        listener: TcpListener,
        admin: Option<TcpListener>,
        tcp: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<Vec<u8>, Error> {
        let addr = local(&listener)?;
        let admin_task = match admin {
            Some(admin) => {
                let at = local(&admin)?;
                if !at.ip().is_loopback() {
                    return Err(Error::Config(format!(
                        "the admin listener must be on a loopback address (127.0.0.1, ::1), not {at}: it can reload the rules"
                    )));
                }
                let app = http::admin(self.clone());
                let (stop_tx, stop_rx) = oneshot::channel::<()>();
                let task = tokio::spawn(async move {
                    let _ = axum::serve(admin, app)
                        .with_graceful_shutdown(async {
                            let _ = stop_rx.await;
                        })
                        .await;
                });
                Some((task, stop_tx))
            }
            None => None,
        };
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let leftover = Arc::new(Mutex::new(Vec::new()));
        let tcp_task = tcp.map(|listener| {
            tokio::spawn(tcp::serve(
                self.clone(),
                listener,
                stop_rx,
                Arc::clone(&leftover),
            ))
        });
        let app = http::app(self.clone());
        let shared = Arc::clone(&self.shared);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                shutdown.await;
                shared.closing.store(true, Ordering::SeqCst);
                let _ = stop_tx.send(true);
            })
            .await
            .map_err(|source| Error::Listen { addr, source })?;
        if let Some(task) = tcp_task {
            let _ = task.await;
        }
        if let Some((task, stop)) = admin_task {
            let _ = stop.send(());
            let _ = task.await;
        }
        // Every request has been answered: the windows' last alerts.
        let (reply, answer) = oneshot::channel();
        self.send(worker::Job::Finish { reply })
            .map_err(Error::Config)?;
        let alerts = answer.await.unwrap_or_default();
        let mut undelivered = std::mem::take(&mut *leftover.lock().await);
        if alerts.is_empty() {
            return Ok(undelivered);
        }
        match &self.shared.downstream {
            Some(d) => {
                // The last delivery: a few tries, then hand them back.
                let alerts = axum::body::Bytes::from(alerts);
                for attempt in 0..5u32 {
                    if d.send(alerts.clone()).await.is_ok() {
                        return Ok(undelivered);
                    }
                    tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
                }
                undelivered.extend_from_slice(&alerts);
                Ok(undelivered)
            }
            None => {
                undelivered.extend_from_slice(&alerts);
                Ok(undelivered)
            }
        }
    }
}

/// One structured log line on stderr (logfmt: `level=... msg="..." k=v`),
/// what log shippers and `journalctl` parse.
pub(crate) fn log(level: &str, msg: &str, fields: &[(&str, &dyn std::fmt::Display)]) {
    use std::fmt::Write as _;
    let mut line = format!("level={level} msg={msg:?}");
    for (k, v) in fields {
        let v = v.to_string();
        if v.bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=')
        {
            let _ = write!(line, " {k}={v}");
        } else {
            let _ = write!(line, " {k}={v:?}");
        }
    }
    eprintln!("{line}");
}

fn local(listener: &TcpListener) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::Listen {
        addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        source,
    })
}
