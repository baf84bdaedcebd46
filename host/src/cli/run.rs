//! `sigil run`: evaluate event streams.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sigil_engine::Options;
use sigil_host::{Detector, FuelLimits, HostConfig, Plugin, Runner};

use super::interrupt::Interrupt;

/// Flags of `sigil run`; each maps onto one field of `sigil_engine::Options`
/// or `sigil_host::HostConfig`.
#[derive(clap::Args)]
pub struct Args {
    /// Run this plugin component instead of the built-in one.
    #[arg(long, value_name = "FILE.wasm", conflicts_with = "native")]
    plugin: Option<PathBuf>,
    /// Refuse the --plugin file unless its SHA-256 is HEX (`sha256sum FILE`).
    #[arg(long, value_name = "HEX", requires = "plugin")]
    plugin_sha256: Option<String>,
    /// Run the engine natively (no sandbox): fastest, no time or memory limit.
    #[arg(long)]
    native: bool,
    /// Rule file or directory (recursive, *.yml/*.yaml); repeatable. Default: the built-in pack.
    #[arg(long, value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Rule or filter file or directory to load on top of the rules (the
    /// built-in pack when --rules is not given), e.g. a tuning filter from
    /// rules/tuning/; repeatable.
    #[arg(long, value_name = "PATH")]
    add_rules: Vec<PathBuf>,
    /// Leave invalid rules out (listed on stderr) instead of failing.
    #[arg(long)]
    skip_invalid: bool,
    /// Write only events that matched at least one rule.
    #[arg(long)]
    matched_only: bool,
    /// Write only events scoring at least N (0-100).
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_score: u8,
    /// Write only correlation alerts (`{"sigil_alert":...}` lines), no event.
    #[arg(long)]
    alerts_only: bool,
    /// How far behind the newest event time an event may arrive and still correlate.
    #[arg(long, value_name = "MS", default_value_t = Options::default().correlation_lateness_ms)]
    correlation_lateness_ms: u32,
    /// Most correlation groups open at once; past it the oldest is evicted.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_groups)]
    max_groups: u32,
    /// Most matches kept per correlation group; past it the oldest are dropped.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_events_per_group)]
    max_events_per_group: u32,
    /// Bytes of correlation state; past it the oldest groups are evicted.
    #[arg(long, value_name = "BYTES", default_value_t = Options::default().max_correlation_bytes)]
    max_correlation_bytes: u32,
    /// Time (wall-clock ms) a plugin call may take per MiB of events; a call over it fails alone.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().ms_per_mib)]
    ms_per_mib: u64,
    /// Shortest time (ms) a plugin call may take, however few its events.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().min_call_ms)]
    min_call_ms: u64,
    /// Time (ms) loading the rules into a plugin instance may take.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().load_ms)]
    load_ms: u64,
    /// Bound plugin calls by fuel instead of time: N per MiB of events (deterministic under any load).
    #[arg(long, value_name = "N", conflicts_with_all = ["ms_per_mib", "min_call_ms", "load_ms"])]
    fuel: Option<u64>,
    /// Memory cap of the plugin instance, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_memory)]
    max_memory: usize,
    /// Bytes the host copies out of one answer of the plugin; a larger answer is refused.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_answer_bytes)]
    max_answer_bytes: usize,
    /// Longest string (label, error text) accepted from the plugin; a longer one is refused.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_string_bytes)]
    max_string_bytes: usize,
    /// Plugin failures in a row that end the event-by-event retry of a block (0: no limit).
    #[arg(long, value_name = "N", default_value_t = HostConfig::default().max_failures_in_a_row)]
    max_failures_in_a_row: u32,
    /// Values for a `|expand` placeholder, as NAME=VALUE[,VALUE...]; repeatable.
    #[arg(long = "placeholder", value_name = "NAME=VALUES")]
    placeholders: Vec<String>,
    /// Input files: NDJSON, JSON arrays or CloudTrail Records files; `-` or none for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

/// Runs `sigil run`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let mut interrupt = Interrupt::install().context("cannot watch SIGINT and SIGTERM")?;
    let mut sources = if args.rules.is_empty() {
        sigil_host::builtin_rules()
    } else {
        sigil_host::rule_sources(&args.rules)?
    };
    sources.extend(sigil_host::rule_sources(&args.add_rules)?);
    let options = Options {
        min_score: args.min_score,
        matched_only: args.matched_only,
        skip_invalid: args.skip_invalid,
        placeholders: super::placeholders(&args.placeholders)?,
        correlation_lateness_ms: args.correlation_lateness_ms,
        max_groups: args.max_groups,
        max_events_per_group: args.max_events_per_group,
        max_correlation_bytes: args.max_correlation_bytes,
        ..Options::default()
    };
    let config = HostConfig {
        max_memory: args.max_memory,
        ms_per_mib: args.ms_per_mib,
        min_call_ms: args.min_call_ms,
        load_ms: args.load_ms,
        fuel: args.fuel.map(|per_mib| FuelLimits {
            per_mib,
            ..FuelLimits::default()
        }),
        max_answer_bytes: args.max_answer_bytes,
        max_string_bytes: args.max_string_bytes,
        max_failures_in_a_row: args.max_failures_in_a_row,
    };
    let mut detector = if args.native {
        Detector::Native(sigil_engine::Engine::load(&sources, options)?)
    } else {
        let plugin = match &args.plugin {
            Some(path) => {
                let wasm = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                match &args.plugin_sha256 {
                    Some(hex) => Plugin::new_pinned(&wasm, hex, config)
                        .with_context(|| format!("refusing {}", path.display()))?,
                    None => Plugin::new(&wasm, config)?,
                }
            }
            None => Plugin::builtin(config)?,
        };
        Detector::Component(plugin.session(&sources, &options)?)
    };
    for e in detector.skipped() {
        eprintln!("sigil: skipped {}:{}: {}", e.source, e.line, e.reason);
    }

    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, stdout);
    // Each cause once, when first seen (a stream may never end); the
    // counts come with the summary.
    let mut runner = Runner::new(&mut detector)
        .alerts_only(args.alerts_only)
        .on_plugin_fault(|f| eprintln!("sigil: plugin fault: {}", f.cause));
    let inputs = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs
    };
    for path in &inputs {
        if interrupt.received().is_some() {
            break;
        }
        if path.as_os_str() == "-" {
            let stdin = interrupt.stdin().context("cannot read stdin")?;
            runner.run(path, stdin, &mut out)?;
        } else {
            let file =
                File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
            runner.run(path, interrupt.file(file), &mut out)?;
        }
    }
    runner.finish(&mut out)?;
    out.flush().context("cannot write the output")?;

    let c = runner.counters().clone();
    drop(runner);
    let secs = started.elapsed().as_secs_f64();
    // Events read with warnings: only when there were some, as for restarts.
    let warned = match c.warned {
        0 => String::new(),
        n => format!(", warned {n}"),
    };
    let restarts = match (c.plugin_restarts, c.correlation_resets) {
        (0, _) => String::new(),
        (n, 0) => format!(", plugin restarts {n}"),
        (n, r) => format!(", plugin restarts {n} ({r} lost correlation state)"),
    };
    for f in &c.plugin_faults {
        eprintln!("sigil: plugin fault x{}: {}", f.count, f.cause);
    }
    let faults = match c.plugin_faults.iter().map(|f| f.count).sum::<u64>() {
        0 => String::new(),
        n => format!(", plugin faults {n}"),
    };
    let stats = detector.correlation_stats();
    let alerts = if stats.correlations > 0 {
        let mut s = format!(", alerts {}", c.alerts);
        for (name, n) in [
            ("late", stats.late_events),
            ("untimed", stats.untimed_events),
            ("evicted groups", stats.evicted_groups),
            ("dropped matches", stats.dropped_entries),
            ("forced commits", stats.forced_commits),
        ] {
            if n > 0 {
                s.push_str(&format!(", {name} {n}"));
            }
        }
        s
    } else {
        String::new()
    };
    let stopped = match interrupt.received() {
        Some(sig) => format!(", stopped by {}", Interrupt::name(sig)),
        None => String::new(),
    };
    eprintln!(
        "events in {}, out {}, matched {}, errors {}{warned}{alerts}{faults}{restarts}{stopped} ({secs:.3} s, {:.1} MB/s)",
        c.events_in,
        c.events_out,
        c.matched,
        c.errors,
        c.bytes_in as f64 / 1e6 / secs.max(1e-9),
    );
    // Stopped early, the run still says so as a killed process would:
    // the input was not read to its end.
    Ok(match interrupt.received() {
        Some(sig) => ExitCode::from(128 + sig as u8),
        None => ExitCode::SUCCESS,
    })
}
