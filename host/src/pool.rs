//! `--threads N`: the blocks of one stream evaluated on N detectors at
//! once, correlated by one.
//!
//! Evaluating an event is pure; correlating it is not (windows, the
//! watermark). So a [`Pool`] keeps one detector, the *lead*, that
//! correlates the stream and answers `advance`, `flush` and the
//! correlation counters, and N *evaluators*, each on a thread of its own
//! with its own detector (native engine, or a component [`crate::Session`]:
//! one compiled [`crate::Plugin`], one store per thread). Blocks go to
//! whichever evaluator is free ([`Detector::evaluate_detached`]); their
//! answers are taken back in block order, and the lead applies each
//! block's observations ([`Detector::correlate`]) before its lines are
//! written, so the alerts are exactly those of the single ordered stream,
//! after the same events. With one thread there are no evaluators: the
//! lead evaluates and correlates as it always did.
//!
//! An evaluator holds no correlation state, so replacing a failed one loses
//! none; only a failure of the lead does (counted as before).
//!
//! N evaluators run on N threads, the caller's included: N - 1 get a
//! thread of their own and the last, the *helper*, evaluates on the
//! caller's thread, which also reads, correlates and writes. It takes a
//! block whenever the threads already have two each waiting, so on N
//! cores the caller's thread neither idles nor makes an (N + 1)th thread
//! that would take turns with the evaluators for the cores (measured in
//! BENCHMARKS.md). The lead never evaluates a block: a block that makes
//! its instance fail would lose the correlation windows with it.

use sigil_engine::Unrecognised;

use crate::detector::Detector;
use crate::error::Error;
use crate::evaluators::{Evaluators, Helper, Make, Tally};
use crate::output::{Counters, Runner};

/// The detectors one stream runs on: one that does everything, or N that
/// evaluate blocks in parallel and one that correlates (see the module
/// docs). Every detector of a pool must hold the same rules and options.
pub struct Pool {
    lead: Detector,
    evaluators: Option<Evaluators>,
    /// The evaluator on the caller's thread (see the module docs).
    helper: Option<Helper>,
    tally: Tally,
}

impl Pool {
    /// A pool of one: `detector` evaluates and correlates, on the caller's
    /// thread (what `--threads 1` runs).
    pub fn single(detector: Detector) -> Pool {
        Pool {
            lead: detector,
            evaluators: None,
            helper: None,
            tally: Tally::default(),
        }
    }

    /// `lead` correlates on the caller's thread; `evaluators` evaluate
    /// blocks, the last on the caller's thread when there are several
    /// (the module docs say why), each other on a thread of its own. All
    /// must hold the same rules and options (their observations are only
    /// meaningful to a detector of the same pack). With no evaluator this
    /// is [`Pool::single`].
    ///
    /// # Errors
    ///
    /// When a thread cannot be started.
    pub fn parallel(lead: Detector, mut evaluators: Vec<Detector>) -> std::io::Result<Pool> {
        let helper = match evaluators.len() {
            0 | 1 => None,
            _ => evaluators.pop().map(|d| Helper::Ready(Box::new(d))),
        };
        let evaluators = match evaluators.is_empty() {
            true => None,
            false => Some(Evaluators::spawn(evaluators)?),
        };
        Ok(Pool {
            lead,
            evaluators,
            helper,
            tally: Tally::default(),
        })
    }

    /// As [`Pool::parallel`], every detector made by `make`: each
    /// evaluator on the thread that uses it (the helper on one of its
    /// own), started first, then the lead on the caller's thread (its
    /// error, if the rules do not load, is the one returned). The caller
    /// goes on as soon as the lead is made, and blocks go to the
    /// evaluators ready: a component instance takes milliseconds to load
    /// its rules, and `sigil run` on a small file should not wait for N
    /// of them.
    ///
    /// An evaluator that cannot be made is tried again for each block it
    /// takes, and the events of a block it cannot evaluate come out marked
    /// with why, as when a plugin instance cannot be replaced.
    ///
    /// # Errors
    ///
    /// The lead's, or [`Error::Threads`].
    pub fn parallel_making(
        evaluators: usize,
        make: impl Fn() -> Result<Detector, Error> + Send + Sync + 'static,
    ) -> Result<Pool, Error> {
        let make: Make = std::sync::Arc::new(make);
        let (threads, helper) = match evaluators {
            0 => (0, None),
            1 => (1, None),
            n => (n - 1, Some(Helper::making(&make).map_err(Error::Threads)?)),
        };
        let evaluators = match threads {
            0 => None,
            n => Some(Evaluators::spawn_making(n, &make).map_err(Error::Threads)?),
        };
        Ok(Pool {
            lead: make()?,
            evaluators,
            helper,
            tally: Tally::default(),
        })
    }

    /// How many detectors evaluate blocks at once.
    pub fn threads(&self) -> usize {
        self.evaluators.as_ref().map_or(1, Evaluators::len) + usize::from(self.helper.is_some())
    }

    /// The detector that correlates (and, in a pool of one, evaluates):
    /// its rule table, skipped rules and correlation counters are the
    /// pool's.
    pub fn lead(&self) -> &Detector {
        &self.lead
    }

    /// [`Pool::lead`], mutably (e.g. for [`Detector::correlation_stats`]).
    pub fn lead_mut(&mut self) -> &mut Detector {
        &mut self.lead
    }

    /// A [`Runner`] over the pool: blocks are evaluated by the evaluators
    /// while the runner reads on, and written in input order.
    pub fn runner(&mut self) -> Runner<'_> {
        Runner::pooled(&mut self.lead, self.evaluators.as_ref(), &mut self.tally)
            .helped_by(self.helper.as_mut())
    }

    /// [`crate::run_to_vec`] over the pool.
    ///
    /// # Errors
    ///
    /// As [`Runner::run`].
    pub fn run_to_vec(&mut self, input: &[u8]) -> Result<(Vec<u8>, Counters), Error> {
        let mut out = Vec::with_capacity(input.len() + input.len() / 4);
        let mut runner = self.runner();
        runner.run(std::path::Path::new("<memory>"), input, &mut out)?;
        runner.finish(&mut out)?;
        Ok((out, runner.counters().clone()))
    }

    /// Rules that never ran for want of recognised rows
    /// ([`Detector::unrecognised`]) over the whole stream: with
    /// evaluators, a schema is listed when every one of them lists it
    /// (each saw part of the stream), with their counts added up.
    pub fn unrecognised(&mut self) -> Vec<Unrecognised> {
        let Some(evaluators) = &self.evaluators else {
            return self.lead.unrecognised();
        };
        let mut lists = evaluators.unrecognised();
        // A helper still loading saw no block.
        lists.extend(
            self.helper
                .as_mut()
                .and_then(Helper::get)
                .map(Detector::unrecognised),
        );
        merge_unrecognised(lists)
    }

    /// The pool's parts, for a host that evaluates on one thread and
    /// correlates on another (`sigil serve`'s detector thread): every
    /// evaluator on a thread of its own, the helper too.
    pub(crate) fn into_parts(self) -> (Detector, Option<Evaluators>, Tally) {
        let mut evaluators = self.evaluators;
        if let (Some(evaluators), Some(helper)) =
            (&mut evaluators, self.helper.and_then(Helper::wait))
        {
            // A thread the system refuses leaves one evaluator fewer: the
            // others still evaluate every block.
            let _ = evaluators.add(helper);
        }
        (self.lead, evaluators, self.tally)
    }
}

/// Schemas every list names, their misses and near columns added up.
fn merge_unrecognised(lists: Vec<Vec<Unrecognised>>) -> Vec<Unrecognised> {
    let mut lists = lists.into_iter();
    let Some(mut merged) = lists.next() else {
        return Vec::new();
    };
    for list in lists {
        merged.retain_mut(|m| {
            let Some(other) = list.iter().find(|u| u.schema.schema == m.schema.schema) else {
                return false;
            };
            m.missed += other.missed;
            for (column, n) in &other.near {
                match m.near.iter_mut().find(|(c, _)| c == column) {
                    Some((_, total)) => *total += n,
                    None => m.near.push((column.clone(), *n)),
                }
            }
            true
        });
    }
    merged
}

#[cfg(test)]
mod tests {
    use sigil_engine::{SchemaUse, Source, Unrecognised};

    use super::merge_unrecognised;

    fn gap(schema: Source, missed: u64, near: &[(&str, u64)]) -> Unrecognised {
        Unrecognised {
            schema: SchemaUse {
                schema,
                markers: Vec::new(),
                time: Vec::new(),
                raw: Vec::new(),
                rules: vec![0],
            },
            missed,
            near: near.iter().map(|(c, n)| (c.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn a_schema_is_unrecognised_when_no_evaluator_saw_it() {
        let merged = merge_unrecognised(vec![
            vec![
                gap(Source::QRadar, 2, &[("devicetype", 2)]),
                gap(Source::Sumo, 1, &[]),
            ],
            vec![gap(
                Source::QRadar,
                3,
                &[("devicetype", 1), ("starttime", 3)],
            )],
        ]);
        assert_eq!(
            merged,
            vec![gap(
                Source::QRadar,
                5,
                &[("devicetype", 3), ("starttime", 3)]
            )],
            "Sumo rows reached the second evaluator"
        );
        assert!(merge_unrecognised(Vec::new()).is_empty());
    }
}
