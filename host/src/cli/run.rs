//! `sigil run`: evaluate event streams.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use sigil_engine::export::InputFormat;
use sigil_host::Format;

use super::detector_args::DetectorArgs;
use super::interrupt::Interrupt;
use super::lateness;
use super::progress::Progress;

/// Flags of `sigil run`.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    detector: DetectorArgs,
    /// Write only correlation alerts (`{"sigil_alert":...}` lines), no event.
    #[arg(long)]
    alerts_only: bool,
    #[command(flatten)]
    format: FormatArg,
    /// How inputs are framed: `auto` detects each one's from its start;
    /// `ndjson`, `json` (arrays), `cloudtrail` (`Records` files),
    /// `qradar-ariel`, `log-analytics`, `sumo-search` (the SIEMs' search
    /// API responses) and `csv` (a console's export, with a header row)
    /// force one. Exports become rows of the SIEM's schema (README).
    #[arg(long, value_name = "FORMAT", default_value_t = InputFormat::Auto)]
    input_format: InputFormat,
    /// Input files: NDJSON, JSON arrays, CloudTrail Records files or SIEM exports; `-` or none for stdin.
    #[arg(value_name = "INPUT")]
    inputs: Vec<PathBuf>,
}

/// The bytes the inputs hold, when every one is a regular file.
fn total_bytes(inputs: &[PathBuf]) -> Option<u64> {
    inputs
        .iter()
        .map(|path| match path.as_os_str() == "-" {
            true => None,
            false => std::fs::metadata(path)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len()),
        })
        .sum()
}

/// `--format`, shared by `sigil run` and `sigil serve`.
#[derive(clap::Args)]
pub struct FormatArg {
    /// Output format: `json` (every kept event with its verdict under
    /// "sigil") or `ocsf` (one OCSF 1.8.0 Detection Finding record per
    /// finding and per correlation alert; events without findings write
    /// nothing, errors are only counted).
    #[arg(long, value_name = "FORMAT", default_value = "json", value_parser = parse_format)]
    pub format: Format,
}

fn parse_format(name: &str) -> Result<Format, String> {
    Format::parse(name).ok_or_else(|| format!("unknown format {name:?}: use json or ocsf"))
}

/// Runs `sigil run`.
pub fn run(mut args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    // Files end, so correlation can wait for their end (see `lateness`).
    args.detector.finite_input =
        !args.inputs.is_empty() && args.inputs.iter().all(|p| p.as_os_str() != "-");
    args.detector.input_bytes = total_bytes(&args.inputs).filter(|_| args.detector.finite_input);
    let mut interrupt = Interrupt::install().context("cannot watch SIGINT and SIGTERM")?;
    let plugin = args.detector.plugin()?;
    let mut pool = args.detector.pool(plugin.as_ref())?;
    for e in pool.lead().skipped() {
        eprintln!("sigil: skipped {}:{}: {}", e.source, e.line, e.reason);
    }

    let inputs = if args.inputs.is_empty() {
        vec![PathBuf::from("-")]
    } else {
        args.inputs
    };
    // On a terminal only; the summary below is the same either way.
    let progress = std::cell::RefCell::new(Progress::new(started, total_bytes(&inputs)));
    let stdout = io::stdout().lock();
    let mut out = BufWriter::with_capacity(1 << 20, stdout);
    // Each cause once, when first seen (a stream may never end); the
    // counts come with the summary.
    let mut runner = pool
        .runner()
        .alerts_only(args.alerts_only)
        .format(args.format.format)
        .input_format(args.input_format)
        .on_plugin_fault(|f| {
            if let Some(p) = progress.borrow_mut().as_mut() {
                p.clear();
            }
            eprintln!("sigil: plugin fault: {}", f.cause);
        })
        .on_block(|c| {
            if let Some(p) = progress.borrow_mut().as_mut() {
                p.update(c);
            }
        });
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
    if let Some(p) = progress.borrow_mut().as_mut() {
        p.clear();
    }
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
    let stats = pool.lead_mut().correlation_stats();
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
    for line in lateness::warnings(&stats, &pool.lead().rules(), &pool.lead().options()) {
        eprintln!("sigil: {line}");
    }
    // Exports: only when some were read, and what was wrong with them.
    let export = match c.export {
        e if e.rows == 0 => String::new(),
        e => {
            let mut s = format!(", export rows {}", e.rows);
            for (name, n) in [
                ("ragged", e.ragged_rows),
                ("cut", e.cut_rows),
                ("not rows", e.not_rows),
            ] {
                if n > 0 {
                    s.push_str(&format!(", {name} {n}"));
                }
            }
            s
        }
    };
    let stopped = match interrupt.received() {
        Some(sig) => format!(", stopped by {}", Interrupt::name(sig)),
        None => String::new(),
    };
    eprintln!(
        "events in {}, out {}, matched {}, errors {}{warned}{export}{alerts}{faults}{restarts}{stopped} ({secs:.3} s, {:.1} MB/s)",
        c.events_in,
        c.events_out,
        c.matched,
        c.errors,
        c.bytes_in as f64 / 1e6 / secs.max(1e-9),
    );
    let gaps = pool.unrecognised();
    for line in super::unrecognised::lines(&gaps, &pool.lead().rules(), c.plugin_restarts) {
        eprintln!("{line}");
    }
    // Stopped early, the run still says so as a killed process would:
    // the input was not read to its end.
    Ok(match interrupt.received() {
        Some(sig) => ExitCode::from(128 + sig as u8),
        None => ExitCode::SUCCESS,
    })
}
