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
        // The reader of our output went away (`sigil run ... | head`):
        // end quietly with the status a process killed by SIGPIPE has, as
        // tools in a pipeline do. Rust ignores SIGPIPE, so it arrives here
        // as a write error.
        Err(e) if broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            eprintln!("sigil: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `e` comes from writing to a closed pipe.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let io = cause.downcast_ref::<std::io::Error>().or_else(|| {
            match cause.downcast_ref::<sigil_host::Error>() {
                Some(sigil_host::Error::Write(io)) => Some(io),
                _ => None,
            }
        });
        io.is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
