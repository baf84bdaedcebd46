//! The progress line of `sigil run` on a terminal.
//!
//! A long run over gigabytes of logs says nothing until its summary; on a
//! terminal that looks like a hang. So when stderr is a terminal, one line
//! is kept up to date there (bytes read, of how many when the inputs are
//! files, events per second, events matched), redrawn at most every
//! [`EVERY`] and erased before the summary, which stays what it was (and
//! before an error, which would otherwise follow it on the same line).
//! When stderr is not a terminal (a pipe, a file, a service's journal)
//! nothing is written: logs must not fill with carriage returns. Nor when
//! stdout is the same terminal: the lines themselves show the progress
//! there, and a half-drawn line would break them.
//!
//! It is driven from the block loop (`Runner::on_block`, once per block of
//! about 1 MiB, or per pause of a live stream), never per event, so it
//! costs one clock read per block.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use sigil_host::Counters;

/// How often the line is redrawn at most.
pub const EVERY: Duration = Duration::from_millis(250);

/// The progress line, when stderr is a terminal.
pub struct Progress {
    started: Instant,
    /// The last redraw, or `None` before the first.
    drawn: Option<Instant>,
    /// Bytes the inputs hold, when all of them are files.
    total_bytes: Option<u64>,
}

impl Progress {
    /// A progress line for inputs of `total_bytes` (when known), or `None`
    /// when stderr is not a terminal or stdout is one.
    pub fn new(started: Instant, total_bytes: Option<u64>) -> Option<Progress> {
        let shown = std::io::stderr().is_terminal() && !std::io::stdout().is_terminal();
        shown.then_some(Progress {
            started,
            drawn: None,
            total_bytes,
        })
    }

    /// Redraws the line from `c` if [`EVERY`] has passed since the run
    /// started or since the last redraw.
    pub fn update(&mut self, c: &Counters) {
        let now = Instant::now();
        let since = self.drawn.unwrap_or(self.started);
        if now.duration_since(since) < EVERY {
            return;
        }
        self.drawn = Some(now);
        let secs = now.duration_since(self.started).as_secs_f64().max(1e-9);
        let read = match self.total_bytes {
            Some(total) if total > 0 => format!(
                "{} of {} ({:.0} %)",
                mb(c.bytes_in),
                mb(total),
                (c.bytes_in as f64 / total as f64 * 100.0).min(100.0)
            ),
            _ => mb(c.bytes_in),
        };
        let line = format!(
            "sigil: {read}, {:.0} events/s, matched {}",
            c.events_in as f64 / secs,
            c.matched
        );
        // `\r` and erase-line: the line is rewritten in place. A terminal
        // that went away is no reason to stop the run.
        let _ = write!(std::io::stderr().lock(), "\r\x1b[2K{line}");
    }

    /// Erases the line, if one was drawn, so the summary starts clean.
    pub fn clear(&mut self) {
        if self.drawn.take().is_some() {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

impl Drop for Progress {
    /// A run that fails ends with its error on a clean line.
    fn drop(&mut self) {
        self.clear();
    }
}

/// `12.3 MB`, in the summary's units (10^6 bytes).
fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
