//! `sigil serve`: the detection service (see `sigil_host::serve`).

use sigil_engine::export::InputFormat;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use sigil_host::serve::{Loader, ServeConfig, Server};
use tokio::signal::unix::{SignalKind, signal};

use super::detector_args::DetectorArgs;
use super::run::FormatArg;

/// Flags of `sigil serve`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    detector: DetectorArgs,
    #[command(flatten)]
    format: FormatArg,
    /// Address for `POST /v1/events`, `GET /health` and `GET /metrics`.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8686")]
    listen: SocketAddr,
    /// Also take NDJSON over plain TCP here (Vector's socket sink, nc): at most
    /// once across a crash, see the docs; lines go to --forward, or stdout.
    #[arg(long, value_name = "ADDR")]
    listen_tcp: Option<SocketAddr>,
    /// Loopback address for `POST /admin/reload` (and health, metrics); none by default.
    #[arg(long, value_name = "ADDR")]
    admin_listen: Option<SocketAddr>,
    /// POST each annotated batch to this http:// URL as NDJSON and acknowledge
    /// the sender only once it answered 2xx (at-least-once delivery).
    #[arg(long, value_name = "URL")]
    forward: Option<String>,
    /// Content-Type of forwarded batches (Fluent Bit's http input: application/json).
    #[arg(long, value_name = "TYPE", default_value_t = ServeConfig::default().forward_content_type)]
    forward_content_type: String,
    /// Time (ms) the downstream may take to accept one batch.
    #[arg(long, value_name = "MS", default_value_t = ServeConfig::default().forward_timeout.as_millis() as u64)]
    forward_timeout_ms: u64,
    /// How a batch's body is framed: `auto` passes NDJSON untouched and
    /// splits a JSON array, `Records` file or SIEM export posted whole
    /// (`qradar-ariel`, `log-analytics`, `sumo-search`, `csv`) into its
    /// events first; one of those names forces it.
    #[arg(long, value_name = "FORMAT", default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
    /// Largest batch, decompressed; a larger one gets 413.
    #[arg(long, value_name = "BYTES", default_value_t = ServeConfig::default().max_request_bytes)]
    max_request_bytes: usize,
    /// Bytes of batches in flight (and kept for retries); past it a batch gets 429.
    #[arg(long, value_name = "BYTES", default_value_t = ServeConfig::default().max_inflight_bytes)]
    max_inflight_bytes: usize,
    /// TCP connections served at once; more wait in the listen queue (never refused).
    #[arg(long, value_name = "N", default_value_t = ServeConfig::default().max_tcp_connections)]
    max_tcp_connections: usize,
}

/// Runs `sigil serve` until SIGTERM or SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let plugin = args.detector.plugin()?;
    let detector_args = args.detector.clone();
    let loader: Loader = Box::new(move || {
        let d = detector_args
            .detector(plugin.as_ref())
            .map_err(|e| format!("{e:#}"))?;
        for e in d.skipped() {
            eprintln!(
                "level=warn msg=\"rule skipped\" rule={:?} line={} reason={:?}",
                e.source, e.line, e.reason
            );
        }
        Ok(d)
    });
    let config = ServeConfig {
        input_format: args.input_format,
        forward: args.forward.clone(),
        forward_timeout: Duration::from_millis(args.forward_timeout_ms),
        forward_content_type: args.forward_content_type.clone(),
        max_request_bytes: args.max_request_bytes,
        max_inflight_bytes: args.max_inflight_bytes,
        max_tcp_connections: args.max_tcp_connections,
        format: args.format.format,
        ..ServeConfig::default()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sigil-serve")
        .build()
        .context("cannot start the async runtime")?;
    let leftover = runtime.block_on(async move {
        let server = Server::start(config, loader)?;
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|source| sigil_host::Error::Listen {
                addr: args.listen,
                source,
            })?;
        let admin = match args.admin_listen {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| sigil_host::Error::Listen { addr, source })?,
            ),
            None => None,
        };
        let tcp = match args.listen_tcp {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .map_err(|source| sigil_host::Error::Listen { addr, source })?,
            ),
            None => None,
        };
        let at = listener.local_addr().context("no local address")?;
        let admin_at = admin.as_ref().and_then(|a| a.local_addr().ok());
        let tcp_at = tcp.as_ref().and_then(|a| a.local_addr().ok());
        eprintln!(
            "level=info msg=listening addr={at}{}{}{}",
            admin_at.map(|a| format!(" admin={a}")).unwrap_or_default(),
            tcp_at.map(|a| format!(" tcp={a}")).unwrap_or_default(),
            args.forward
                .as_ref()
                .map(|f| format!(" forward={f}"))
                .unwrap_or_default()
        );
        // SIGHUP: reload the rules, the old pack running until the new one loads.
        let mut hup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        let reloader = server.clone();
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                match reloader.reload().await {
                    Ok(r) => eprintln!("level=info msg=\"rules reloaded\" rules={}", r.rules),
                    Err(e) => eprintln!(
                        "level=error msg=\"reload failed, the old rules keep running\" error={e:?}"
                    ),
                }
            }
        });
        let mut term = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let shutdown = async move {
            let which = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            eprintln!("level=info msg=\"shutting down\" signal={which}");
        };
        let leftover = server.run(listener, admin, tcp, shutdown).await?;
        anyhow::Ok(leftover)
    })?;
    if !leftover.is_empty() {
        // The windows' last alerts, with nowhere else to go.
        let mut out = std::io::stdout().lock();
        out.write_all(&leftover)
            .context("cannot write the output")?;
        out.flush().context("cannot write the output")?;
    }
    eprintln!("level=info msg=stopped");
    Ok(ExitCode::SUCCESS)
}
