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
    let skipped = engine.skipped().len();
    println!("{} rules loaded, {skipped} skipped", engine.rules().len());
    Ok(if skipped > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
