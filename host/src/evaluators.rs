//! The threads of a [`crate::Pool`] that evaluate blocks, and the
//! counting of every detector's failures. Apart from `pool.rs` so that the
//! `Runner`, which takes the blocks back, and the pool, which makes the
//! runner, do not import each other.

use std::sync::{Arc, Barrier, Mutex, mpsc};

use sigil_engine::Unrecognised;
use sigil_stream::{LineWriter, Lines};

use crate::batch::{Batch, Detached, Fault};
use crate::detector::Detector;
use crate::error::Error;

/// The evaluating threads of a [`crate::Pool`]. Dropping it lets each thread
/// finish the blocks already handed to it, then end.
pub(crate) struct Evaluators {
    jobs: mpsc::Sender<Work>,
    threads: usize,
}

/// What an evaluator is asked.
enum Work {
    /// One block, and where its answer goes.
    Block {
        block: Arc<Vec<u8>>,
        /// How to write its event lines, and where.
        lines: Option<Render>,
        reply: mpsc::SyncSender<Answer>,
    },
    /// Its detector's unrecognised schemas. Every thread takes exactly
    /// one such request of a round: having answered, it waits at the
    /// barrier until all have.
    Unrecognised {
        reply: mpsc::Sender<Vec<Unrecognised>>,
        round: Arc<Barrier>,
    },
}

/// What an evaluator needs to write a block's event lines: the output's
/// writer, a buffer to write into, and the OCSF time of events without one.
pub(crate) struct Render {
    pub writer: LineWriter,
    pub lines: Lines,
    pub now_ms: i64,
}

/// An evaluator's answer for one block, with its failure counters as
/// they stand after it (they travel with the answers, so they are read in
/// block order, where the output is).
pub(crate) struct Answer {
    /// The evaluation; when the block's lines were written, its entries
    /// are in them and no longer here.
    result: Result<Detached, Error>,
    /// The block's event lines, when asked for.
    lines: Option<Lines>,
    /// Which evaluator answered (0-based).
    worker: usize,
    restarts: u64,
    faults: Vec<Fault>,
}

/// A block handed to the evaluators, not yet taken back.
pub(crate) struct Pending {
    /// The block (its lines are written from it). The evaluator lets go
    /// of it before it answers, so the buffer can be had back for the
    /// next block (`Arc::try_unwrap`).
    pub block: Arc<Vec<u8>>,
    answer: mpsc::Receiver<Answer>,
}

impl Pending {
    /// Waits for the block's answer. `None` when the evaluator's thread
    /// ended before it answered.
    pub(crate) fn wait(self) -> (Arc<Vec<u8>>, Option<Answer>) {
        let answer = self.answer.recv().ok();
        (self.block, answer)
    }
}

impl Answer {
    /// The evaluation and the block's event lines (when asked for), after
    /// handing the evaluator's counters to `tally`.
    pub(crate) fn counted(self, tally: &mut Tally) -> (Result<Detached, Error>, Option<Lines>) {
        tally.update(1 + self.worker, self.restarts, &self.faults);
        (self.result, self.lines)
    }
}

/// Evaluates `block` on `detector` and, when asked, writes its event
/// lines there too: the part of the output that does not depend on the
/// order of the stream, done on the evaluating thread.
fn evaluate(
    detector: &mut Detector,
    block: &[u8],
    render: Option<Render>,
) -> (Result<Detached, Error>, Option<Lines>) {
    let mut result = detector.evaluate_detached(block);
    let Some(Render {
        writer,
        mut lines,
        now_ms,
    }) = render
    else {
        return (result, None);
    };
    let entries = match &mut result {
        Ok(d) => std::mem::take(&mut d.entries),
        Err(e) => Batch::unevaluated(block, e).entries,
    };
    let entries = entries.into_iter().map(|e| (e.index, e.outcome));
    writer.write(&mut lines, block, entries, now_ms);
    (result, Some(lines))
}

impl Evaluators {
    /// One thread per detector, each taking blocks from one queue.
    pub(crate) fn spawn(detectors: Vec<Detector>) -> std::io::Result<Evaluators> {
        let (jobs, queue) = mpsc::channel::<Work>();
        // One queue for all: a block goes to whichever thread is free.
        let queue = Arc::new(Mutex::new(queue));
        let threads = detectors.len();
        for (worker, mut detector) in detectors.into_iter().enumerate() {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("sigil-evaluate-{worker}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for work.
                        let work = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let (block, render, reply) = match work {
                            Ok(Work::Block {
                                block,
                                lines,
                                reply,
                            }) => (block, lines, reply),
                            Ok(Work::Unrecognised { reply, round }) => {
                                let _ = reply.send(detector.unrecognised());
                                round.wait();
                                continue;
                            }
                            Err(_) => return,
                        };
                        let (result, lines) = evaluate(&mut detector, &block, render);
                        drop(block);
                        // The runner may have gone (an output error): the
                        // answer is dropped.
                        let _ = reply.send(Answer {
                            result,
                            lines,
                            worker,
                            restarts: detector.restarts(),
                            faults: detector.faults().to_vec(),
                        });
                    }
                })?;
        }
        Ok(Evaluators { jobs, threads })
    }

    /// How many threads evaluate.
    pub(crate) fn len(&self) -> usize {
        self.threads
    }

    /// Hands `block` to the first free evaluator, which writes its event
    /// lines too when `lines` says how.
    pub(crate) fn submit(&self, block: Vec<u8>, lines: Option<Render>) -> Pending {
        let block = Arc::new(block);
        let (reply, answer) = mpsc::sync_channel(1);
        // If every thread has ended the work is dropped with its reply
        // sender, and `Pending::wait` says so.
        let _ = self.jobs.send(Work::Block {
            block: Arc::clone(&block),
            lines,
            reply,
        });
        Pending { block, answer }
    }

    /// Each evaluator's unrecognised schemas, after the blocks handed
    /// out before this call (the queue is in order, and a thread answers
    /// only between blocks). Fewer lists than threads when some ended.
    pub(crate) fn unrecognised(&self) -> Vec<Vec<Unrecognised>> {
        let (reply, answers) = mpsc::channel();
        let round = Arc::new(Barrier::new(self.threads));
        for _ in 0..self.threads {
            let _ = self.jobs.send(Work::Unrecognised {
                reply: reply.clone(),
                round: Arc::clone(&round),
            });
        }
        drop(reply);
        answers.iter().take(self.threads).collect()
    }
}

/// Restarts and fault causes of several detectors (the lead is source 0,
/// evaluator `i` source `i + 1`), merged: each cause once, in the order
/// first seen, at most 16 (as a [`crate::Session`] keeps them).
#[derive(Default)]
pub(crate) struct Tally {
    restarts: Vec<u64>,
    /// Each source's faults as last seen, to count only what is new.
    seen: Vec<Vec<Fault>>,
    merged: Vec<Fault>,
}

/// The lead's source number in a [`Tally`].
pub(crate) const LEAD: usize = 0;

/// Distinct causes kept, as `Session` keeps them.
const MAX_CAUSES: usize = 16;

impl Tally {
    /// Takes `source`'s counters as they stand now (cumulative).
    pub(crate) fn update(&mut self, source: usize, restarts: u64, faults: &[Fault]) {
        if self.restarts.len() <= source {
            self.restarts.resize(source + 1, 0);
            self.seen.resize(source + 1, Vec::new());
        }
        self.restarts[source] = restarts;
        if self.seen[source] == faults {
            return;
        }
        for f in faults {
            let before = self.seen[source]
                .iter()
                .find(|s| s.cause == f.cause)
                .map_or(0, |s| s.count);
            self.add(&f.cause, f.count.saturating_sub(before));
        }
        self.seen[source] = faults.to_vec();
    }

    /// Counts `n` failures of `cause` seen by the host itself.
    pub(crate) fn add(&mut self, cause: &str, n: u64) {
        if n == 0 {
            return;
        }
        if let Some(f) = self.merged.iter_mut().find(|f| f.cause == cause) {
            f.count += n;
        } else if self.merged.len() < MAX_CAUSES {
            self.merged.push(Fault {
                cause: cause.to_string(),
                count: n,
            });
        } else if let Some(last) = self.merged.last_mut() {
            last.cause = "other causes (more than 16 kinds of failure)".into();
            last.count += n;
        }
    }

    /// Restarts of every source.
    pub(crate) fn restarts(&self) -> u64 {
        self.restarts.iter().sum()
    }

    /// Every source's faults, merged.
    pub(crate) fn faults(&self) -> &[Fault] {
        &self.merged
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(cause: &str, count: u64) -> Fault {
        Fault {
            cause: cause.into(),
            count,
        }
    }

    #[test]
    fn a_tally_counts_what_is_new_per_source_in_the_order_first_seen() {
        let mut t = Tally::default();
        t.update(2, 1, &[fault("trap", 1)]);
        t.update(LEAD, 0, &[]);
        t.update(1, 2, &[fault("time", 2)]);
        // The same snapshot again adds nothing; a grown one adds the rest.
        t.update(2, 1, &[fault("trap", 1)]);
        t.update(2, 3, &[fault("trap", 2), fault("time", 1)]);
        assert_eq!(t.faults(), &[fault("trap", 2), fault("time", 3)]);
        assert_eq!(t.restarts(), 5);
    }

    #[test]
    fn a_tally_keeps_at_most_16_causes() {
        let mut t = Tally::default();
        for i in 0..20 {
            t.add(&format!("cause {i}"), 1);
        }
        assert_eq!(t.faults().len(), 16);
        assert_eq!(t.faults().iter().map(|f| f.count).sum::<u64>(), 20);
        assert!(t.faults()[15].cause.starts_with("other causes"));
    }
}
