//! `sigil run`: evaluate event streams.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sigil_host::Runner;

use super::detector_args::DetectorArgs;
use super::interrupt::Interrupt;
use super::lateness;

/// Flags of `sigil run`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    detector: DetectorArgs,
    /// Write only correlation alerts (`{"sigil_alert":...}` lines), no event.
    #[arg(long)]
    alerts_only: bool,
    /// Input files: NDJSON, JSON arrays or CloudTrail Records files; `-` or none for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

/// Runs `sigil run`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Files end, so correlation can wait for their end (see `lateness`).
    args.detector.finite_input =
        !args.inputs.is_empty() && args.inputs.iter().all(|p| p.as_os_str() != "-");
    let mut interrupt = Interrupt::install().context("cannot watch SIGINT and SIGTERM")?;
    let plugin = args.detector.plugin()?;
    let mut detector = args.detector.detector(plugin.as_ref())?;
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
            ("duplicates", stats.duplicate_events),
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
    for line in lateness::warnings(&stats, &detector.rules(), &detector.options()) {
        eprintln!("sigil: {line}");
    }
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
