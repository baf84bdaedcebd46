//! Errors of the host library.

use std::io;
use std::path::PathBuf;

/// Why the host could not load a plugin or rule pack, or run a stream.
///
/// Per-event failures are not errors of this type: they become
/// [`crate::Failure`] on the event, and the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The rule pack did not load (an invalid rule without skip-invalid, an
    /// empty pack, too many rules).
    #[error(transparent)]
    Load(#[from] sigil_engine::LoadError),
    /// The plugin refused the rule pack for a reason the engine's error type
    /// cannot express (WIT `load-error.other`).
    #[error("the plugin refused the rule pack: {0}")]
    PluginLoad(String),
    /// The bytes are not a usable sigil component: not a component (a core
    /// module, other bytes), it imports something, it does not export
    /// `sigil:engine/detector@0.2.0` (another version of the contract,
    /// another world), or its detector has another shape. The text says
    /// which, and what it exports instead.
    #[error("invalid plugin: {0} (build one with scripts/build-component)")]
    InvalidPlugin(String),
    /// The plugin trapped, ran out of time, fuel or memory while loading the
    /// rule pack, could not be instantiated, or gave a rule table the host
    /// refuses (a score over 100, an overlong string, over
    /// `HostConfig::max_answer_bytes`).
    #[error(
        "the plugin failed while loading the rule pack: {0} (a large pack may need more time, fuel or memory)"
    )]
    PluginFailed(String),
    /// The thread that enforces call deadlines could not be started.
    #[error(
        "cannot start the plugin's deadline timer: {0} (or use fuel: HostConfig::fuel, --fuel)"
    )]
    Timer(io::Error),
    /// A rule file or input could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file (`-` for standard input).
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// A JSON document (array, `Records` file, pretty-printed objects) could
    /// not be split into events.
    #[error("{}: {source}", path.display())]
    Framing {
        /// The input it came from.
        path: PathBuf,
        /// What is wrong with it.
        source: sigil_engine::input::FramingError,
    },
    /// The plugin's SHA-256 is not the one the caller trusts.
    #[error(
        "the plugin's SHA-256 is {actual}, not the expected {expected}: make sure this is the \
         file you meant to trust, or update the expected digest"
    )]
    DigestMismatch {
        /// The digest asked for (lower-case hex).
        expected: String,
        /// The plugin's digest (lower-case hex).
        actual: String,
    },
    /// The output could not be written.
    #[error("cannot write the output: {0}")]
    Write(io::Error),
    /// `sigil serve` could not listen where it was told to.
    #[error("cannot listen on {addr}: {source} (is another process using it?)")]
    Listen {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The I/O error.
        source: io::Error,
    },
    /// The native engine refused observations to correlate (see
    /// `sigil_engine::Engine::correlate`): they were made with other rules.
    #[error("cannot correlate: {0}")]
    Observation(sigil_engine::ObservationError),
    /// A thread evaluating blocks for `--threads` stopped before it
    /// answered (a bug in sigil: run with `--threads 1` and report it).
    #[error(
        "an evaluation thread stopped before it answered (run with --threads 1 and report this)"
    )]
    EvaluatorStopped,
    /// The threads of `--threads N` could not be started.
    #[error("cannot start the evaluation threads: {0} (or run with --threads 1)")]
    Threads(io::Error),
    /// The service's configuration is not usable (an admin address that
    /// is not loopback, a downstream URL that is not `http://`).
    #[error("{0}")]
    Config(String),
}
