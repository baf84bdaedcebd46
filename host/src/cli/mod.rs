//! The command line: flags are defined once here and in the subcommand
//! files; their doc comments are the help text.

mod detector_args;
mod interrupt;
mod lateness;
mod progress;
pub mod rules_check;
pub mod rules_test;
pub mod run;
pub mod serve;
mod unrecognised;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Sigma detection for cloud audit logs, in a WebAssembly sandbox.
#[derive(Parser)]
#[command(name = "sigil", version)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate events and write each one, with its verdict under "sigil", as NDJSON
    /// (or OCSF findings: --format ocsf).
    Run(run::Args),
    /// Serve detection over HTTP: POST /v1/events, GET /health, GET /metrics.
    Serve(serve::Args),
    /// Work with rule packs.
    #[command(subcommand)]
    Rules(Rules),
}

#[derive(Subcommand)]
enum Rules {
    /// Load rule files and report every invalid rule; exit 1 if any.
    Check(rules_check::Args),
    /// Run the examples rules carry (`sigil: {tests: [...]}`); exit 1 on any failure.
    Test(rules_test::Args),
}

/// Parses `--placeholder NAME=V1,V2` into the engine's placeholder table
/// (values for `|expand` rules).
pub fn placeholders(flags: &[String]) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for flag in flags {
        let (name, values) = flag.split_once('=').ok_or_else(|| {
            anyhow::anyhow!("--placeholder takes NAME=VALUE[,VALUE...], not `{flag}`")
        })?;
        let values = values.split(',').map(str::to_string);
        match out.iter_mut().find(|(n, _)| n == name) {
            Some((_, v)) => v.extend(values),
            None => out.push((name.to_string(), values.collect())),
        }
    }
    Ok(out)
}

/// Runs the chosen subcommand.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Rules(Rules::Check(args)) => rules_check::run(args),
        Command::Rules(Rules::Test(args)) => rules_test::run(args),
    }
}
