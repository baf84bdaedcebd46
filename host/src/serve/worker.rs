//! The detection thread: the one place a [`Detector`] lives.
//!
//! A detector is synchronous (a wasmtime store, or the native engine) and
//! holds correlation state that must see batches one at a time, in the
//! order they were accepted. So it runs on a thread of its own, and the
//! async side hands it jobs over a channel and awaits the answers: the
//! runtime's threads never block on evaluation.

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use sigil_engine::CorrelationStats;
use tokio::sync::oneshot;

use crate::detector::Detector;
use sigil_engine::export::InputFormat;

use crate::output::{Counters, Format, Runner};

/// One batch evaluated: the lines to deliver, what happened.
pub(crate) struct Evaluated {
    /// NDJSON, exactly as `sigil run` writes the same input (alerts that a
    /// reload released come first).
    pub output: Vec<u8>,
    pub counters: Counters,
    pub correlation: CorrelationStats,
    pub took: Duration,
}

pub(crate) enum Job {
    /// Evaluate a batch (NDJSON, a JSON array, a `Records` document, a
    /// SIEM export).
    Batch {
        body: Vec<u8>,
        reply: oneshot::Sender<Result<Evaluated, String>>,
    },
    /// Put a new detector in place; the old one's windows are flushed and
    /// their alerts delivered with the next batch (or at the end).
    Swap {
        detector: Box<Detector>,
        reply: oneshot::Sender<usize>,
    },
    /// The end: flush the windows; the alert lines still to deliver.
    Finish { reply: oneshot::Sender<Vec<u8>> },
}

/// Starts the thread; it ends when every sender is gone or after `Finish`.
/// Each batch's body is framed as `input_format` gives (`Auto`:
/// detected), its answer written as `format` says.
pub(crate) fn spawn(
    detector: Detector,
    format: Format,
    input_format: InputFormat,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name("sigil-detector".into())
        .spawn(move || run(detector, format, input_format, rx))?;
    Ok(tx)
}

fn run(
    mut detector: Detector,
    format: Format,
    input_format: InputFormat,
    jobs: mpsc::Receiver<Job>,
) {
    // Alert lines released outside a batch (a reload's flush), waiting
    // for the next answer.
    let mut pending: Vec<u8> = Vec::new();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Batch { body, reply } => {
                let started = Instant::now();
                let mut output = std::mem::take(&mut pending);
                output.reserve(body.len() + body.len() / 4);
                let mut runner = Runner::new(&mut detector)
                    .format(format)
                    .input_format(input_format);
                let result = runner.run(Path::new("<request>"), &body[..], &mut output);
                let counters = runner.counters().clone();
                drop(runner);
                let answer = match result {
                    Ok(()) => Ok(Evaluated {
                        output,
                        counters,
                        correlation: detector.correlation_stats(),
                        took: started.elapsed(),
                    }),
                    // Only a document that does not split gets here, and it
                    // fails before any event is written: the output is the
                    // waiting alerts alone, and they wait for the next answer.
                    Err(e) => {
                        pending = output;
                        Err(e.to_string())
                    }
                };
                // The requester may have gone (its client hung up): the
                // batch was still evaluated once, which is all it costs.
                let _ = reply.send(answer);
            }
            Job::Swap {
                detector: fresh,
                reply,
            } => {
                let mut runner = Runner::new(&mut detector).format(format);
                // Writing to a Vec cannot fail.
                let _ = runner.finish(&mut pending);
                drop(runner);
                detector = *fresh;
                let _ = reply.send(detector.rules().len());
            }
            Job::Finish { reply } => {
                let mut runner = Runner::new(&mut detector).format(format);
                let _ = runner.finish(&mut pending);
                let _ = reply.send(std::mem::take(&mut pending));
                return;
            }
        }
    }
}
