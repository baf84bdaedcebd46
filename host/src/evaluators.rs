//! The threads of a [`crate::Pool`] that evaluate blocks, and the
//! counting of every detector's failures. Apart from `pool.rs` so that the
//! `Runner`, which takes the blocks back, and the pool, which makes the
//! runner, do not import each other.

use std::sync::{Arc, Barrier, Mutex, Weak, mpsc};

use sigil_engine::Unrecognised;
use sigil_stream::{LineWriter, Lines};

use crate::batch::{Batch, Detached, Fault};
use crate::detector::Detector;
use crate::error::Error;

/// The evaluating threads of a [`crate::Pool`]. Dropping it lets each thread
/// finish the blocks already handed to it, then end.
pub(crate) struct Evaluators {
    jobs: mpsc::Sender<Work>,
    /// The queue the threads take work from, for threads added later.
    /// Weak: once every thread has ended, work sent is dropped with its
    /// reply sender, and `Pending::wait` says so instead of waiting.
    queue: Weak<Mutex<mpsc::Receiver<Work>>>,
    threads: usize,
}

/// Makes an evaluator's detector, on the thread that will use it: a
/// component instance loads its rules there, beside the others, while the
/// caller's thread reads and evaluates.
pub(crate) type Make = Arc<dyn Fn() -> Result<Detector, Error> + Send + Sync>;

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

/// A block handed to the evaluators, or evaluated by the caller's helper
/// ([`evaluate_here`]), not yet taken back.
pub(crate) struct Pending {
    /// The block (its lines are written from it). The evaluator lets go
    /// of it before it answers, so the buffer can be had back for the
    /// next block (`Arc::try_unwrap`).
    pub block: Arc<Vec<u8>>,
    answer: Reply,
}

/// Where a [`Pending`] block's answer is.
enum Reply {
    /// Coming from an evaluator's thread.
    Later(mpsc::Receiver<Answer>),
    /// Answered on the caller's thread (boxed: an answer is large, and a
    /// pending block should not be).
    Now(Box<Answer>),
    /// Taken already from a thread (`None`: the thread ended first).
    Arrived(Option<Box<Answer>>),
}

impl Pending {
    /// Waits for the block's answer. `None` when the evaluator's thread
    /// ended before it answered.
    pub(crate) fn wait(self) -> (Arc<Vec<u8>>, Option<Answer>) {
        let answer = match self.answer {
            Reply::Later(answer) => answer.recv().ok(),
            Reply::Now(answer) => Some(*answer),
            Reply::Arrived(answer) => answer.map(|a| *a),
        };
        (self.block, answer)
    }

    /// Whether the answer is in, so that [`Pending::wait`] returns at once.
    pub(crate) fn ready(&mut self) -> bool {
        let Reply::Later(answer) = &self.answer else {
            return true;
        };
        match answer.try_recv() {
            Ok(a) => self.answer = Reply::Arrived(Some(Box::new(a))),
            Err(mpsc::TryRecvError::Disconnected) => self.answer = Reply::Arrived(None),
            Err(mpsc::TryRecvError::Empty) => return false,
        }
        true
    }

    /// Whether an evaluator's thread has (or had) the block.
    pub(crate) fn on_thread(&self) -> bool {
        !matches!(self.answer, Reply::Now(_))
    }
}

/// A pool's evaluator on the caller's thread (its *helper*: see
/// `crate::pool`), which may still be loading on a thread of its own.
pub(crate) enum Helper {
    /// Being made; blocks go to the threads meanwhile.
    Loading(mpsc::Receiver<Result<Detector, Error>>),
    /// Made (boxed: a native engine is a kilobyte).
    Ready(Box<Detector>),
    /// It could not be made: the threads evaluate every block.
    Gone,
}

impl Helper {
    /// A helper made by `make` on a thread of its own.
    pub(crate) fn making(make: &Make) -> std::io::Result<Helper> {
        let (made, helper) = mpsc::sync_channel(1);
        let make = Arc::clone(make);
        std::thread::Builder::new()
            .name("sigil-load".into())
            .spawn(move || {
                let _ = made.send(make());
            })?;
        Ok(Helper::Loading(helper))
    }

    /// The detector, once made.
    pub(crate) fn get(&mut self) -> Option<&mut Detector> {
        if let Helper::Loading(made) = self {
            *self = match made.try_recv() {
                Ok(Ok(detector)) => Helper::Ready(Box::new(detector)),
                Err(mpsc::TryRecvError::Empty) => return None,
                Ok(Err(_)) | Err(mpsc::TryRecvError::Disconnected) => Helper::Gone,
            };
        }
        match self {
            Helper::Ready(detector) => Some(detector),
            _ => None,
        }
    }

    /// The detector, waiting for it to be made.
    pub(crate) fn wait(self) -> Option<Detector> {
        match self {
            Helper::Loading(made) => made.recv().ok().and_then(Result::ok),
            Helper::Ready(detector) => Some(*detector),
            Helper::Gone => None,
        }
    }
}

/// Evaluates `block` on `detector`, evaluator `worker` of a pool, on the
/// caller's thread (a pool's *helper*: see `Runner::submit`), as an
/// evaluator's thread would.
pub(crate) fn evaluate_here(
    detector: &mut Detector,
    worker: usize,
    block: Vec<u8>,
    render: Option<Render>,
) -> Pending {
    let (result, lines) = evaluate(detector, &block, render);
    let answer = Answer {
        result,
        lines,
        worker,
        restarts: detector.restarts(),
        faults: detector.faults().to_vec(),
    };
    Pending {
        block: Arc::new(block),
        answer: Reply::Now(Box::new(answer)),
    }
}

impl Answer {
    /// The answer of an evaluator whose detector could not be made:
    /// every event of `block` marked with `why`.
    fn unmade(block: &[u8], why: Error, render: Option<Render>, worker: usize) -> Answer {
        let lines = render.map(
            |Render {
                 writer,
                 mut lines,
                 now_ms,
             }| {
                let entries = Batch::unevaluated(block, &why).entries;
                writer.write(
                    &mut lines,
                    block,
                    entries.into_iter().map(|e| (e.index, e.outcome)),
                    now_ms,
                );
                lines
            },
        );
        Answer {
            result: Err(why),
            lines,
            worker,
            restarts: 0,
            faults: Vec::new(),
        }
    }

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
        let (mut evaluators, queue) = Evaluators::new();
        for detector in detectors {
            evaluators.start(&queue, Ok(detector), None)?;
        }
        Ok(evaluators)
    }

    /// `n` threads, each making its detector with `make` first.
    pub(crate) fn spawn_making(n: usize, make: &Make) -> std::io::Result<Evaluators> {
        let (mut evaluators, queue) = Evaluators::new();
        for _ in 0..n {
            evaluators.start(&queue, Err(()), Some(Arc::clone(make)))?;
        }
        Ok(evaluators)
    }

    /// No thread yet, and the queue they will share (one queue for all: a
    /// block goes to whichever thread is free).
    fn new() -> (Evaluators, Arc<Mutex<mpsc::Receiver<Work>>>) {
        let (jobs, queue) = mpsc::channel::<Work>();
        let queue = Arc::new(Mutex::new(queue));
        let evaluators = Evaluators {
            jobs,
            queue: Arc::downgrade(&queue),
            threads: 0,
        };
        (evaluators, queue)
    }

    /// Starts one more evaluating thread, on `detector`.
    pub(crate) fn add(&mut self, detector: Detector) -> std::io::Result<()> {
        let queue = self
            .queue
            .upgrade()
            .ok_or_else(|| std::io::Error::other("every evaluation thread has ended"))?;
        self.start(&queue, Ok(detector), None)
    }

    /// Starts a thread that evaluates what it takes from `queue` on
    /// `detector`, or on one it makes with `make` first. When `make`
    /// fails, the thread tries again for each block, and answers its error
    /// for the blocks it cannot evaluate (they come out marked, as when a
    /// plugin instance cannot be replaced), rather than leave them
    /// unanswered.
    fn start(
        &mut self,
        queue: &Arc<Mutex<mpsc::Receiver<Work>>>,
        detector: Result<Detector, ()>,
        make: Option<Make>,
    ) -> std::io::Result<()> {
        let (queue, worker) = (Arc::clone(queue), self.threads);
        let make = move || match &make {
            Some(make) => make(),
            None => Err(Error::EvaluatorStopped),
        };
        std::thread::Builder::new()
            .name(format!("sigil-evaluate-{worker}"))
            .spawn(move || {
                let mut detector = detector.ok().or_else(|| make().ok());
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
                            let list = detector.as_mut().map(Detector::unrecognised);
                            let _ = reply.send(list.unwrap_or_default());
                            round.wait();
                            continue;
                        }
                        Err(_) => return,
                    };
                    if detector.is_none() {
                        match make() {
                            Ok(made) => detector = Some(made),
                            Err(e) => {
                                let _ = reply.send(Answer::unmade(&block, e, render, worker));
                                continue;
                            }
                        }
                    }
                    let Some(detector) = detector.as_mut() else {
                        continue;
                    };
                    let (result, lines) = evaluate(detector, &block, render);
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
        self.threads += 1;
        Ok(())
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
        Pending {
            block,
            answer: Reply::Later(answer),
        }
    }

    /// Evaluates on `detector` (evaluator `worker`, on the caller's
    /// thread) a block no thread has taken yet, and answers it as its
    /// thread would have; false when there was none. A caller about to
    /// wait for the threads helps them instead, and at the end of an input
    /// the last blocks are not left queued behind one thread.
    pub(crate) fn help(&self, detector: &mut Detector, worker: usize) -> bool {
        let Some(queue) = self.queue.upgrade() else {
            return false;
        };
        // An idle thread holds the lock while it waits, and then nothing
        // is queued.
        let work = match queue.try_lock() {
            Ok(queue) => queue.try_recv(),
            Err(_) => return false,
        };
        // Only blocks are queued while a runner is at work (`unrecognised`
        // needs the pool to itself).
        let Ok(Work::Block {
            block,
            lines,
            reply,
        }) = work
        else {
            return false;
        };
        let (result, lines) = evaluate(detector, &block, lines);
        drop(block);
        let _ = reply.send(Answer {
            result,
            lines,
            worker,
            restarts: detector.restarts(),
            faults: detector.faults().to_vec(),
        });
        true
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
