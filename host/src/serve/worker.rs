//! The detection threads: where the detectors live.
//!
//! A detector is synchronous (a wasmtime store, or the native engine) and
//! holds correlation state that must see batches one at a time, in the
//! order they were accepted. So it runs on a thread of its own, and the
//! async side hands it jobs over a channel and awaits the answers: the
//! runtime's threads never block on evaluation.
//!
//! With `--threads N` (a [`Pool`] with evaluators) that thread only frames
//! each batch into blocks and hands them to the N evaluating threads as
//! soon as it is accepted, so the blocks of several batches in flight are
//! evaluated at once; a second thread, `sigil-correlator`, takes the blocks
//! back in acceptance order, has the pool's lead detector correlate them
//! and writes each batch's answer. Correlation is still one ordered
//! stream: exactly what `sigil run` over the batches in that order gives.

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use sigil_engine::CorrelationStats;
use sigil_stream::Framer;
use tokio::sync::oneshot;

use crate::detector::Detector;
use crate::error::Error;
use crate::evaluators::{Evaluators, Pending, Tally};
use crate::output::{Counters, Format, Runner};
use crate::pool::Pool;
use sigil_engine::export::InputFormat;

use super::buffers::Buffers;

/// One batch evaluated: the lines to deliver, what happened.
pub(crate) struct Evaluated {
    /// NDJSON, exactly as `sigil run` writes the same input (alerts that a
    /// reload released come first).
    pub output: Vec<u8>,
    /// The batch's counters; its `plugin_restarts` and
    /// `correlation_resets` too are this batch's, not the detector's
    /// totals (see [`Restarts`]).
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
    /// Put a new pool in place (of as many threads); the old one's windows
    /// are flushed and their alerts delivered with the next batch (or at
    /// the end).
    Swap {
        detector: Box<Pool>,
        reply: oneshot::Sender<usize>,
    },
    /// The end: flush the windows; the alert lines still to deliver.
    Finish { reply: oneshot::Sender<Vec<u8>> },
}

/// Starts the thread (and, over a pool of several threads, the
/// correlating one); they end when every sender is gone or after `Finish`.
/// Each batch's body is framed as `input_format` gives (`Auto`:
/// detected), its answer written as `format` says; bodies go back to
/// `buffers` once read, answers are written into buffers from there.
pub(crate) fn spawn(
    pool: Pool,
    format: Format,
    input_format: InputFormat,
    buffers: Arc<Buffers>,
) -> std::io::Result<mpsc::Sender<Job>> {
    let (tx, rx) = mpsc::channel::<Job>();
    let (lead, evaluators, tally) = pool.into_parts();
    let Some(evaluators) = evaluators else {
        std::thread::Builder::new()
            .name("sigil-detector".into())
            .spawn(move || run(lead, format, input_format, rx, buffers))?;
        return Ok(tx);
    };
    let (staged_tx, staged_rx) = mpsc::channel::<Staged>();
    let answers = Arc::clone(&buffers);
    std::thread::Builder::new()
        .name("sigil-correlator".into())
        .spawn(move || correlate(lead, tally, format, staged_rx, answers))?;
    std::thread::Builder::new()
        .name("sigil-detector".into())
        .spawn(move || dispatch(Some(evaluators), input_format, rx, staged_tx, buffers))?;
    Ok(tx)
}

/// A job on its way from the dispatching thread to the correlating one,
/// in acceptance order.
enum Staged {
    Batch {
        blocks: Vec<Block>,
        /// The body's size (the bytes read).
        bytes: usize,
        /// A document that does not split (after its blocks, if any).
        error: Option<String>,
        reply: oneshot::Sender<Result<Evaluated, String>>,
        started: Instant,
    },
    Swap {
        lead: Box<Detector>,
        reply: oneshot::Sender<usize>,
    },
    Finish {
        reply: oneshot::Sender<Vec<u8>>,
    },
}

/// A block of a batch: handed to the evaluators, or (after a reload to a
/// pool of one) left for the lead to evaluate.
enum Block {
    Pending(Pending),
    Raw(Vec<u8>),
}

/// The dispatching thread of a pool: frames each batch and hands its
/// blocks to the evaluators at once, then passes the job on in order.
fn dispatch(
    mut evaluators: Option<Evaluators>,
    input_format: InputFormat,
    jobs: mpsc::Receiver<Job>,
    staged: mpsc::Sender<Staged>,
    buffers: Arc<Buffers>,
) {
    while let Ok(job) = jobs.recv() {
        let next = match job {
            Job::Batch { body, reply } => {
                let started = Instant::now();
                let mut framer = Framer::with_format(input_format);
                framer.push(&body);
                framer.finish();
                let bytes = body.len();
                buffers.give(body);
                let mut blocks = Vec::new();
                let mut error = None;
                loop {
                    match framer.next_block() {
                        Ok(Some(block)) => {
                            // Into a buffer used before when there is one:
                            // a fresh one costs this thread page faults.
                            let mut copy = buffers.take(block.len());
                            copy.extend_from_slice(block);
                            blocks.push(match &evaluators {
                                Some(e) => Block::Pending(e.submit(copy, None)),
                                None => Block::Raw(copy),
                            });
                        }
                        Ok(None) => break,
                        Err(source) => {
                            let e = Error::Framing {
                                path: "<request>".into(),
                                source,
                            };
                            error = Some(e.to_string());
                            break;
                        }
                    }
                }
                Staged::Batch {
                    blocks,
                    bytes,
                    error,
                    reply,
                    started,
                }
            }
            Job::Swap { detector, reply } => {
                let (lead, fresh, _) = detector.into_parts();
                // The old evaluators finish the blocks they were given,
                // then end.
                evaluators = fresh;
                Staged::Swap {
                    lead: Box::new(lead),
                    reply,
                }
            }
            Job::Finish { reply } => {
                let _ = staged.send(Staged::Finish { reply });
                return;
            }
        };
        if staged.send(next).is_err() {
            return;
        }
    }
}

/// The correlating thread of a pool: takes each batch's blocks back in
/// order, correlates them on the lead and answers.
fn correlate(
    mut lead: Detector,
    mut tally: Tally,
    format: Format,
    staged: mpsc::Receiver<Staged>,
    buffers: Arc<Buffers>,
) {
    // As in `run`: alert lines released outside a batch.
    let mut pending: Vec<u8> = Vec::new();
    let mut restarts = Restarts::default();
    while let Ok(job) = staged.recv() {
        match job {
            Staged::Batch {
                blocks,
                bytes,
                error,
                reply,
                started,
            } => {
                let mut output = answer_buffer(&mut pending, &buffers, bytes + bytes / 4);
                let mut runner = Runner::pooled(&mut lead, None, &mut tally).format(format);
                runner.count_bytes(bytes);
                for block in blocks {
                    // Writing to a Vec cannot fail.
                    let _ = match block {
                        Block::Pending(p) => runner.complete(p, &mut output),
                        Block::Raw(b) => runner.run_block(&b, &mut output),
                    };
                }
                let mut counters = runner.counters().clone();
                // The blocks' buffers, for the next bodies.
                runner.take_spare_buffers().for_each(|b| buffers.give(b));
                drop(runner);
                restarts.of_batch(&mut counters);
                let answer = match error {
                    None => Ok(Evaluated {
                        output,
                        counters,
                        correlation: lead.correlation_stats(),
                        took: started.elapsed(),
                    }),
                    // As in `run`: what was written waits for the next answer.
                    Some(e) => {
                        pending = output;
                        Err(e)
                    }
                };
                let _ = reply.send(answer);
            }
            Staged::Swap { lead: fresh, reply } => {
                let _ = Runner::new(&mut lead).format(format).finish(&mut pending);
                lead = *fresh;
                tally = Tally::default();
                restarts = Restarts::default();
                let _ = reply.send(lead.rules().len());
            }
            Staged::Finish { reply } => {
                let _ = Runner::new(&mut lead).format(format).finish(&mut pending);
                let _ = reply.send(std::mem::take(&mut pending));
                return;
            }
        }
    }
}

fn run(
    mut detector: Detector,
    format: Format,
    input_format: InputFormat,
    jobs: mpsc::Receiver<Job>,
    buffers: Arc<Buffers>,
) {
    // Alert lines released outside a batch (a reload's flush), waiting
    // for the next answer.
    let mut pending: Vec<u8> = Vec::new();
    let mut restarts = Restarts::default();
    while let Ok(job) = jobs.recv() {
        match job {
            Job::Batch { body, reply } => {
                let started = Instant::now();
                let mut output = answer_buffer(&mut pending, &buffers, body.len() + body.len() / 4);
                let mut runner = Runner::new(&mut detector).format(format);
                runner.count_bytes(body.len());
                // Framed here, as `dispatch` does, not by `Runner::run`:
                // that reads through a fresh 1 MiB buffer of its own, one
                // more copy and its page faults, for bytes already here.
                let mut framer = Framer::with_format(input_format);
                framer.push(&body);
                framer.finish();
                buffers.give(body);
                let result = loop {
                    match framer.next_block() {
                        Ok(Some(block)) => {
                            if let Err(e) = runner.run_block(block, &mut output) {
                                break Err(e);
                            }
                        }
                        Ok(None) => break Ok(()),
                        Err(source) => {
                            break Err(Error::Framing {
                                path: "<request>".into(),
                                source,
                            });
                        }
                    }
                };
                let mut counters = runner.counters().clone();
                drop(runner);
                restarts.of_batch(&mut counters);
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
                // A pool of one, as this one (the threads do not change on
                // a reload).
                detector = fresh.into_parts().0;
                restarts = Restarts::default();
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

/// Where a batch's answer is written, with room for `capacity` bytes:
/// after the alert lines waiting in `pending` when there are any, else
/// into a buffer used before.
fn answer_buffer(pending: &mut Vec<u8>, buffers: &Buffers, capacity: usize) -> Vec<u8> {
    if pending.is_empty() {
        return buffers.take(capacity);
    }
    let mut output = std::mem::take(pending);
    output.reserve(capacity);
    output
}

/// The detector's restart totals already reported, so that each answer
/// carries the restarts of its own batch: a `Runner` is made per batch,
/// but the counts it copies are the detector's (the pool's) since it was
/// loaded, and the metrics add answers up.
#[derive(Default)]
struct Restarts {
    restarts: u64,
    resets: u64,
}

impl Restarts {
    /// Turns `c`'s totals into the batch's share.
    fn of_batch(&mut self, c: &mut Counters) {
        let (restarts, resets) = (c.plugin_restarts, c.correlation_resets);
        c.plugin_restarts = restarts.saturating_sub(self.restarts);
        c.correlation_resets = resets.saturating_sub(self.resets);
        self.restarts = restarts;
        self.resets = resets;
    }
}

#[cfg(test)]
mod tests {
    use super::{Counters, Restarts};

    /// Answers add up to the detector's totals: the metrics once counted
    /// the totals again with every batch.
    #[test]
    fn each_answer_carries_its_own_batch_restarts() {
        let mut baseline = Restarts::default();
        let shares: Vec<(u64, u64)> = [(0, 0), (2, 1), (2, 1), (5, 1)]
            .into_iter()
            .map(|(restarts, resets)| {
                let mut c = Counters {
                    plugin_restarts: restarts,
                    correlation_resets: resets,
                    ..Counters::default()
                };
                baseline.of_batch(&mut c);
                (c.plugin_restarts, c.correlation_resets)
            })
            .collect();
        assert_eq!(shares, [(0, 0), (2, 1), (0, 0), (3, 0)]);
    }
}
