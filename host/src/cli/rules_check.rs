//! `sigil rules check`: validate rule packs.

use std::path::PathBuf;
use std::process::ExitCode;

use sigil_engine::{Engine, LoadError, Options};

/// Flags of `sigil rules check`.
#[derive(clap::Args)]
pub struct Args {
    /// Rule files or directories (recursive, *.yml/*.yaml).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
    /// Values for a `|expand` placeholder, as NAME=VALUE[,VALUE...]; repeatable.
    #[arg(long = "placeholder", value_name = "NAME=VALUES")]
    placeholders: Vec<String>,
}

/// Runs `sigil rules check`: loads the pack natively with skip-invalid,
/// prints each invalid rule as `file:line: reason` and a summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = sigil_host::rule_sources(&args.paths)?;
    let loaded = Engine::load(
        &sources,
        Options {
            skip_invalid: true,
            placeholders: super::placeholders(&args.placeholders)?,
            ..Options::default()
        },
    );
    let engine = match loaded {
        Ok(engine) => engine,
        Err(LoadError::EmptyPack { skipped }) if !skipped.is_empty() => {
            for e in &skipped {
                println!("{}:{}: {}", e.source, e.line, e.reason);
            }
            println!("0 rules loaded, {} skipped", skipped.len());
            return Ok(ExitCode::FAILURE);
        }
        Err(e) => return Err(e.into()),
    };
    for e in engine.skipped() {
        println!("{}:{}: {}", e.source, e.line, e.reason);
    }
    let unfiltered = engine.unfiltered_rules();
    if !unfiltered.is_empty() {
        // Not an error: these rules just cost the most (evaluated on every event).
        println!(
            "note: {} rules have no literal for the prefilter:",
            unfiltered.len()
        );
        for &i in unfiltered {
            let r = &engine.rules()[i as usize];
            println!("  {}:{}: {}", r.source, r.line, r.id);
        }
    }
    // What each SIEM schema's rows need to be recognised, and where their
    // time is read: rules for rows that lack the marker never run.
    for s in engine.schemas() {
        let quoted = |cols: &[String]| {
            cols.iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", else ")
        };
        let markers: Vec<String> = s.markers.iter().map(|m| format!("`{m}`")).collect();
        println!(
            "schema {} ({} rules): rows recognised by {}; time from {}",
            s.schema.name(),
            s.rules.len(),
            markers.join(" and "),
            quoted(&s.time),
        );
        for (raw, time) in &s.raw {
            println!(
                "  also runs on raw {} records (recognised by {}; time from {})",
                raw.name(),
                raw.markers()
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(" and "),
                quoted(time),
            );
        }
    }
    let skipped = engine.skipped().len();
    println!("{} rules loaded, {skipped} skipped", engine.rules().len());
    Ok(if skipped > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
