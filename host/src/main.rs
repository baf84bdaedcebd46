//! `sigil`: Sigma detection over cloud audit logs, from the command line.
//!
//! A thin layer over the `sigil_host` library: one file per subcommand in
//! `cli/`.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::dispatch(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sigil: {e:#}");
            ExitCode::from(2)
        }
    }
}
