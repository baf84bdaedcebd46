//! `sigil rules check`: validate rule packs.

use std::path::PathBuf;
use std::process::ExitCode;

use sigil_engine::{Engine, Options};

/// Flags of `sigil rules check`.
#[derive(clap::Args)]
pub struct Args {
    /// Rule files or directories (recursive, *.yml/*.yaml).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
}

/// Runs `sigil rules check`: loads the pack natively with skip-invalid,
/// prints each invalid rule as `file:line: reason` and a summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = sigil_host::rule_sources(&args.paths)?;
    let engine = Engine::load(
        &sources,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )?;
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
