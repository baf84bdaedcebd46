//! SIGINT and SIGTERM during `sigil run`: stop reading, finish what was
//! read, exit with the signal's status.
//!
//! The default action of both signals kills the process at once: the
//! output buffer (up to 1 MiB) is lost, the last line written may be torn
//! in half, and the correlation windows never release their alerts. A
//! pipeline being stopped (`systemctl stop`, Ctrl-C on `tail -F | sigil
//! run -`) deserves better: every event read is evaluated and written as a
//! whole line, the windows are flushed, the counters printed, and the exit
//! status is still the one a killed process has (128 + signal number), so
//! the shell and supervisors know the run did not reach the end of its
//! input.
//!
//! The hard part is stdin: the main thread is usually blocked in `read`
//! on a pipe that may never deliver another byte, and a signal handler
//! cannot safely make it return. So stdin is read on a thread of its own
//! that hands chunks over a channel, and the signal thread sends its own
//! message on that same channel: the main thread wakes whichever arrives.
//! Files are read directly and only check the flag between reads.
//!
//! A second signal means "now": the default action is carried out (the
//! process dies of it, with whatever was not yet written).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::time::Duration;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Chunks of stdin in flight between the reader thread and the run: with
/// 64 KiB pipe reads, at most about 1 MiB read and not yet evaluated.
const CHUNKS_IN_FLIGHT: usize = 16;

/// The size of one read from stdin.
const CHUNK_BYTES: usize = 64 << 10;

/// After the signal, how long to wait for each chunk the reader thread had
/// already read.
const DRAIN: Duration = Duration::from_millis(50);

/// How long stdin may stay quiet before the lines read so far are
/// evaluated and written (`tail -F log | sigil run -` shows each event
/// within this, instead of once 1 MiB has arrived).
const PAUSE: Duration = Duration::from_millis(200);

/// What the stdin reader and the signal thread tell the run.
enum Message {
    Data(Vec<u8>),
    Eof,
    Failed(io::Error),
    Signal,
}

/// The signals watched during a run.
pub struct Interrupt {
    /// The first signal received, 0 before any.
    signal: Arc<AtomicI32>,
    /// Where the signal thread sends [`Message::Signal`]; stdin's reader
    /// thread sends its chunks on a clone.
    tx: SyncSender<Message>,
    /// Taken by [`Interrupt::stdin`] (stdin is read at most once).
    rx: Option<Receiver<Message>>,
}

impl Interrupt {
    /// Installs the handlers for SIGINT and SIGTERM and starts the thread
    /// that waits for them.
    ///
    /// # Errors
    ///
    /// When the handlers cannot be installed or the thread started.
    pub fn install() -> io::Result<Interrupt> {
        let signal = Arc::new(AtomicI32::new(0));
        let (tx, rx) = sync_channel(CHUNKS_IN_FLIGHT);
        let mut signals = Signals::new([SIGINT, SIGTERM])?;
        let first = Arc::clone(&signal);
        let wake = tx.clone();
        std::thread::Builder::new()
            .name("sigil-signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if first
                        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
                        .is_err()
                    {
                        // The second one: die of it, as without a handler.
                        let _ = signal_hook::low_level::emulate_default_handler(sig);
                        std::process::exit(128 + sig);
                    }
                    // Nobody may be reading stdin: never block on the wake.
                    // When the channel is full the wake is dropped, and
                    // the reader sees the flag with its next chunk.
                    let _ = wake.try_send(Message::Signal);
                }
            })?;
        Ok(Interrupt {
            signal,
            tx,
            rx: Some(rx),
        })
    }

    /// The signal that stopped the run, if one did.
    pub fn received(&self) -> Option<i32> {
        match self.signal.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }

    /// The signal's name, for the summary line.
    pub fn name(sig: i32) -> &'static str {
        match sig {
            SIGINT => "SIGINT",
            SIGTERM => "SIGTERM",
            _ => "a signal",
        }
    }

    /// Stdin, read on a thread of its own so that a signal ends the run
    /// even while no byte arrives. Reading ends (end of file) at the
    /// signal, after the chunks already read.
    ///
    /// # Errors
    ///
    /// When the reader thread cannot be started, or stdin was taken.
    pub fn stdin(&mut self) -> io::Result<Stdin> {
        let rx = self
            .rx
            .take()
            .ok_or_else(|| io::Error::other("stdin can be read only once"))?;
        let tx = self.tx.clone();
        std::thread::Builder::new()
            .name("sigil-stdin".into())
            .spawn(move || {
                let mut stdin = io::stdin().lock();
                loop {
                    let mut chunk = vec![0; CHUNK_BYTES];
                    let message = match stdin.read(&mut chunk) {
                        Ok(0) => Message::Eof,
                        Ok(n) => {
                            chunk.truncate(n);
                            Message::Data(chunk)
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => Message::Failed(e),
                    };
                    let last = !matches!(message, Message::Data(_));
                    if tx.send(message).is_err() || last {
                        return;
                    }
                }
            })?;
        Ok(Stdin {
            rx,
            signal: Arc::clone(&self.signal),
            chunk: Vec::new(),
            at: 0,
            done: false,
        })
    }

    /// `input`, ending (end of file) at the first signal.
    pub fn file<R: Read>(&self, input: R) -> Stoppable<R> {
        Stoppable {
            input,
            signal: Arc::clone(&self.signal),
        }
    }
}

/// Stdin as read by its thread; see [`Interrupt::stdin`]. A read fails with
/// `ErrorKind::WouldBlock` when nothing came for [`PAUSE`]: the runner
/// takes it as "the input paused" (see `Runner::run`).
pub struct Stdin {
    rx: Receiver<Message>,
    signal: Arc<AtomicI32>,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

impl Stdin {
    /// The next chunk, or `None` at the end (of input, or at a signal).
    fn next_chunk(&mut self) -> io::Result<Option<Vec<u8>>> {
        if self.done {
            return Ok(None);
        }
        let message = match self.rx.recv_timeout(PAUSE) {
            Ok(m) => Ok(m),
            // Quiet: the runner evaluates what it has, then reads again.
            Err(RecvTimeoutError::Timeout) => {
                return Err(io::Error::from(io::ErrorKind::WouldBlock));
            }
            Err(RecvTimeoutError::Disconnected) => Err(()),
        };
        match message {
            Ok(Message::Data(chunk)) if self.signal.load(Ordering::SeqCst) == 0 => Ok(Some(chunk)),
            Ok(Message::Data(chunk)) => Ok(Some(self.drain(chunk))),
            Ok(Message::Failed(e)) => {
                self.done = true;
                Err(e)
            }
            Ok(Message::Signal) => {
                let rest = self.drain(Vec::new());
                Ok((!rest.is_empty()).then_some(rest))
            }
            Ok(Message::Eof) | Err(_) => {
                self.done = true;
                Ok(None)
            }
        }
    }
}

impl Stdin {
    /// After the signal: `first` and the chunks the reader thread had
    /// already read (they are "what was read" and must not be lost), as
    /// many as the channel holds, then the end. Bounded, so that a
    /// producer that keeps writing cannot keep the run alive.
    fn drain(&mut self, mut first: Vec<u8>) -> Vec<u8> {
        self.done = true;
        for _ in 0..=CHUNKS_IN_FLIGHT {
            match self.rx.recv_timeout(DRAIN) {
                Ok(Message::Data(chunk)) => first.extend_from_slice(&chunk),
                Ok(_) | Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        first
    }
}

impl Read for Stdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.next_chunk()? {
                Some(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                None => return Ok(0),
            }
        }
        let rest = self.chunk.get(self.at..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.at += n;
        Ok(n)
    }
}

/// A reader that reports end of file once a signal has been received.
pub struct Stoppable<R> {
    input: R,
    signal: Arc<AtomicI32>,
}

impl<R: Read> Read for Stoppable<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.signal.load(Ordering::SeqCst) != 0 {
            return Ok(0);
        }
        self.input.read(buf)
    }
}
