//! Reading event streams, evaluating them in blocks and writing NDJSON.
//!
//! The framing and the lines written are `sigil-stream`'s, shared with the
//! JavaScript package's `sigil-js run`; this module only reads files and
//! runs the [`Detector`].

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

use sigil_engine::BatchAlert;
use sigil_engine::export::InputFormat;
use sigil_stream::{BLOCK_BYTES, Framer, Lines, Output};

pub use sigil_stream::{Counters, Format};

use crate::batch::{Batch, Fault};
use crate::detector::Detector;
use crate::error::Error;
use crate::evaluators::{Evaluators, Helper, LEAD, Pending, Render, Tally, evaluate_here};

/// Runs a [`Detector`] over event streams and writes one NDJSON line per
/// kept event, in input order, with the verdict under a `"sigil"` key, and
/// correlation alerts as lines of their own (the format is
/// `sigil_stream::Output`'s):
///
/// ```text
/// {...event...,"sigil":{"score":75,"level":"high","findings":[{"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"labels":{...}}],"source":"aws.cloudtrail"}}
/// {"sigil_alert":{"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"group":{"field":"value"},"window":{"start":"2024-08-01T12:03:30Z","end":"2024-08-01T12:04:19Z"},"events":["<eventID>",...],"value":2}}
/// ```
///
/// An event without a verdict gets `"sigil":{"error":"..."}`; one that is
/// not a JSON object is written as `{"sigil":{"error":"...","raw":"<line>"}}`
/// so that the output stays NDJSON. An alert comes right after the event
/// whose arrival released it (see `sigil_engine::Engine::advance` for when
/// that is), or at [`Runner::finish`] for the matches still waiting then.
///
/// Over a [`crate::Pool`] of several threads ([`crate::Pool::runner`]),
/// blocks are handed to the evaluators' threads as they are read (the
/// framer's buffer itself, not a copy), up to two per thread ahead of the
/// output, and evaluated on this thread by the pool's helper when the
/// threads have that many; whoever evaluates a block also writes its event
/// lines, which depend on nothing but the block. They are taken back in input order: the lead
/// detector correlates each block's observations, and its alerts are
/// spliced into the block's lines as they are written. The output is the
/// same bytes either way.
pub struct Runner<'d> {
    detector: &'d mut Detector,
    output: Output,
    scratch: Vec<u8>,
    on_fault: Option<FaultReport<'d>>,
    /// Causes already handed to `on_fault`.
    faults_reported: usize,
    on_block: Option<BlockReport<'d>>,
    /// How inputs are framed (`--input-format`).
    format: InputFormat,
    /// The pool's evaluating threads; `None`: `detector` evaluates.
    evaluators: Option<&'d Evaluators>,
    /// The pool's evaluator on this thread (`crate::Pool`'s helper).
    helper: Option<&'d mut Helper>,
    /// Every detector's failures, merged (a pool's; `None`: `detector`'s
    /// own are the run's).
    tally: Option<&'d mut Tally>,
    /// Blocks handed to the evaluators, oldest first.
    in_flight: VecDeque<Pending>,
    /// Buffers of blocks written, for the next blocks: a fresh 1 MiB
    /// buffer per block costs page faults on the thread that writes.
    spare: Vec<Vec<u8>>,
    /// The same for the event lines the evaluators write.
    spare_lines: Vec<Lines>,
}

/// The least a read asks for (64 KiB).
const MIN_READ: usize = 64 << 10;

/// What [`Runner::on_plugin_fault`] calls with each new cause.
type FaultReport<'d> = Box<dyn FnMut(&Fault) + 'd>;

/// What [`Runner::on_block`] calls after each block.
type BlockReport<'d> = Box<dyn FnMut(&Counters) + 'd>;

impl<'d> Runner<'d> {
    /// A runner over `detector`, with its counters at zero.
    pub fn new(detector: &'d mut Detector) -> Runner<'d> {
        let output = Output::new(&detector.rules(), &detector.options());
        Runner {
            detector,
            output,
            scratch: Vec::new(),
            on_fault: None,
            faults_reported: 0,
            on_block: None,
            format: InputFormat::Auto,
            evaluators: None,
            helper: None,
            tally: None,
            in_flight: VecDeque::new(),
            spare: Vec::new(),
            spare_lines: Vec::new(),
        }
    }

    /// Reads every input as `format` (the CLI's `--input-format`) instead
    /// of detecting each one's from its start.
    pub fn input_format(mut self, format: InputFormat) -> Runner<'d> {
        self.format = format;
        self
    }

    /// A runner whose blocks `evaluators` evaluate and `lead` correlates
    /// (without evaluators, `lead` does both), counting every detector's
    /// failures in `tally`: a [`crate::Pool`]'s, or `sigil serve`'s, whose
    /// detector thread takes evaluated blocks back with
    /// [`Runner::complete`].
    pub(crate) fn pooled(
        lead: &'d mut Detector,
        evaluators: Option<&'d Evaluators>,
        tally: &'d mut Tally,
    ) -> Runner<'d> {
        let mut runner = Runner::new(lead);
        runner.evaluators = evaluators;
        runner.tally = Some(tally);
        runner
    }

    /// Evaluates blocks on `helper` too, on this thread, when the
    /// evaluators' threads have enough to do (see `crate::pool`).
    pub(crate) fn helped_by(mut self, helper: Option<&'d mut Helper>) -> Runner<'d> {
        self.helper = helper;
        self
    }

    /// Calls `report` the first time each cause of plugin failure is seen
    /// (the CLI writes it to stderr), once per cause rather than once per
    /// event, so that a plugin failing every call cannot flood the log. The
    /// counts are in [`Counters::plugin_faults`].
    pub fn on_plugin_fault(mut self, report: impl FnMut(&Fault) + 'd) -> Runner<'d> {
        self.on_fault = Some(Box::new(report));
        self
    }

    /// Calls `report` with the counters after each block is written (about
    /// 1 MiB of events, or what a live stream gave before it paused): the
    /// CLI's progress line, at no cost per event.
    pub fn on_block(mut self, report: impl FnMut(&Counters) + 'd) -> Runner<'d> {
        self.on_block = Some(Box::new(report));
        self
    }

    /// Writes correlation alerts only, no event line (the CLI's
    /// `--alerts-only`). Events are still read, evaluated and counted.
    pub fn alerts_only(mut self, on: bool) -> Runner<'d> {
        self.output = self.output.alerts_only(on);
        self
    }

    /// Writes in `format`: sigil's JSON lines (the default) or OCSF
    /// Detection Finding records (`sigil_stream::Format`).
    pub fn format(mut self, format: Format) -> Runner<'d> {
        self.output = self.output.format(format, &self.detector.rules());
        self
    }

    /// Ends the input: flushes the detector's correlation windows and writes
    /// the alerts of the matches still waiting for the watermark. Call it
    /// after the last [`Runner::run`]; windows then start afresh. If the
    /// plugin fails and no fresh instance can be made, those alerts are lost
    /// (counted in [`Counters::correlation_resets`]) and the run still ends
    /// normally, as a block does in that case.
    ///
    /// # Errors
    ///
    /// [`Error::Write`].
    pub fn finish(&mut self, out: &mut impl Write) -> Result<(), Error> {
        self.drain(out)?;
        let alerts = self.detector.flush().unwrap_or_default();
        self.count_restarts();
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        self.output.alerts(&mut buf, &alerts);
        let written = out.write_all(&buf).map_err(Error::Write);
        self.scratch = buf;
        written
    }

    /// The buffers of the blocks written so far, for a caller that hands
    /// blocks in from buffers of its own (`sigil serve` recycles them for
    /// the next request bodies: a fresh buffer costs page faults).
    pub(crate) fn take_spare_buffers(&mut self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.spare.drain(..)
    }

    /// Counts `n` bytes read by the caller (`sigil serve`'s detector
    /// thread frames request bodies itself).
    pub(crate) fn count_bytes(&mut self, n: usize) {
        self.output.counters_mut().bytes_in += n as u64;
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        self.output.counters()
    }

    /// Reads every event of `input` (named `path` in errors) and writes the
    /// kept ones to `out`.
    ///
    /// A reader that fails with `ErrorKind::WouldBlock` says the input
    /// paused (a live stream): the complete lines read so far are
    /// evaluated, written and `out` flushed, rather than waiting for a
    /// block to fill; reading then goes on.
    ///
    /// The format is detected from the start unless given
    /// ([`Runner::input_format`]; see `sigil_stream::Framer`): NDJSON is
    /// read and evaluated in blocks of about 1 MiB cut at a newline; a JSON
    /// document (array, `Records` file, pretty-printed objects, a SIEM
    /// API's export) is read whole, split into events and each event
    /// minified to one line; a CSV export becomes one line per row as it
    /// is read.
    ///
    /// # Errors
    ///
    /// [`Error::Read`], [`Error::Framing`] (a document that does not split),
    /// [`Error::Write`], or a plugin that cannot be restarted.
    pub fn run(
        &mut self,
        path: &Path,
        input: impl Read,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let read = self.read(path, input, out);
        // Every block handed out is written before the call returns, even
        // when reading failed: the lines read so far come out.
        let drained = self.drain(out);
        read.and(drained)
    }

    fn read(
        &mut self,
        path: &Path,
        mut input: impl Read,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let mut framer = Framer::with_format(self.format);
        let mut first = true;
        loop {
            // Straight into the framer's buffer: one copy fewer of every
            // byte, on the thread that also correlates and writes. A read
            // fills the framer up to a block, so that each block is cut
            // from one read and only the start of the next line stays
            // behind (`Framer::next_block_into` copies it). The first is
            // small: a one-event file does not clear a block of buffer.
            let room = match framer.pending() {
                _ if first => MIN_READ,
                held if held >= BLOCK_BYTES => BLOCK_BYTES,
                held => (BLOCK_BYTES - held).max(MIN_READ),
            };
            first = false;
            let got = match framer.push_from(room, |room| input.read(room)) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                // The input paused (see the method docs): what is complete
                // is evaluated and written now.
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    framer.pause();
                    self.next_blocks(path, &mut framer, out)?;
                    self.drain(out)?;
                    out.flush().map_err(Error::Write)?;
                    continue;
                }
                Err(source) => {
                    return Err(Error::Read {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            };
            self.output.counters_mut().bytes_in += got as u64;
            if got == 0 {
                framer.finish();
            }
            self.next_blocks(path, &mut framer, out)?;
            if got == 0 {
                let (stats, total) = (
                    framer.export_stats(),
                    &mut self.output.counters_mut().export,
                );
                total.rows += stats.rows;
                total.ragged_rows += stats.ragged_rows;
                total.cut_rows += stats.cut_rows;
                total.not_rows += stats.not_rows;
                return Ok(());
            }
        }
    }

    /// Evaluates and writes every block `framer` has ready.
    fn next_blocks(
        &mut self,
        path: &Path,
        framer: &mut Framer,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let framing = |source| Error::Framing {
            path: path.to_path_buf(),
            source,
        };
        if self.evaluators.is_some() {
            loop {
                let mut block = self.spare.pop().unwrap_or_default();
                match framer.next_block_into(&mut block) {
                    Ok(true) => self.submit(block, out)?,
                    Ok(false) => {
                        self.spare.push(block);
                        return Ok(());
                    }
                    Err(source) => return Err(framing(source)),
                }
            }
        }
        loop {
            match framer.next_block() {
                Ok(Some(block)) => self.run_block(block, out)?,
                Ok(None) => return Ok(()),
                Err(source) => return Err(framing(source)),
            }
        }
    }

    /// Copies the detectors' failure counters and reports new causes.
    fn count_restarts(&mut self) {
        let (mut restarts, resets) = (self.detector.restarts(), self.detector.correlation_resets());
        let faults = match &mut self.tally {
            Some(tally) => {
                tally.update(LEAD, restarts, self.detector.faults());
                restarts = tally.restarts();
                tally.faults()
            }
            None => self.detector.faults(),
        };
        let counters = self.output.counters_mut();
        counters.plugin_restarts = restarts;
        counters.correlation_resets = resets;
        if faults.len() == self.faults_reported && faults == counters.plugin_faults {
            return;
        }
        counters.plugin_faults = faults.to_vec();
        if let Some(report) = &mut self.on_fault {
            faults.iter().skip(self.faults_reported).for_each(report);
        }
        self.faults_reported = faults.len();
    }

    /// Evaluates one NDJSON block and writes its kept events; over a pool,
    /// hands it to the evaluators and writes the oldest blocks whose turn
    /// has come.
    pub(crate) fn run_block(&mut self, block: &[u8], out: &mut impl Write) -> Result<(), Error> {
        if self.evaluators.is_some() {
            let mut copy = self.spare.pop().unwrap_or_default();
            copy.clear();
            copy.extend_from_slice(block);
            return self.submit(copy, out);
        }
        let batch = self
            .detector
            .evaluate_block(block)
            .unwrap_or_else(|e| Batch::unevaluated(block, &e));
        self.write_block(block, batch, out)
    }

    /// Hands `block` to the evaluators, with what they need to write its
    /// event lines, and writes the oldest blocks whose turn has come.
    ///
    /// With a helper, a block the threads would only queue (they have two
    /// each) is evaluated here instead: the time this thread does not
    /// spend reading and writing goes to evaluating, rather than to
    /// waiting for the oldest block.
    fn submit(&mut self, block: Vec<u8>, out: &mut impl Write) -> Result<(), Error> {
        let Some(evaluators) = self.evaluators else {
            return self.run_block(&block, out);
        };
        let render = Render {
            writer: self.output.line_writer(),
            lines: self.spare_lines.pop().unwrap_or_default(),
            now_ms: now_ms(),
        };
        // Blocks a thread still has to evaluate (answered ones are done).
        let queued = self
            .in_flight
            .iter_mut()
            .map(|p| p.on_thread() && !p.ready())
            .filter(|&busy| busy)
            .count();
        let helper = self.helper.as_deref_mut().and_then(Helper::get);
        let pending = match helper {
            Some(helper) if queued >= 2 * evaluators.len() => {
                evaluate_here(helper, evaluators.len(), block, Some(render))
            }
            _ => evaluators.submit(block, Some(render)),
        };
        self.in_flight.push_back(pending);
        while let Some(oldest) = self.in_flight.front_mut() {
            if !oldest.ready() {
                break;
            }
            if let Some(oldest) = self.in_flight.pop_front() {
                self.complete(oldest, out)?;
            }
        }
        // Two blocks a thread: each has the next at hand while this
        // thread correlates and writes (and two more the helper did).
        let most = 2 * evaluators.len() + if self.helper.is_some() { 2 } else { 0 };
        while self.in_flight.len() >= most {
            if let Some(oldest) = self.in_flight.pop_front() {
                self.complete(oldest, out)?;
            }
        }
        Ok(())
    }

    /// Writes every block handed to the evaluators and not yet written.
    fn drain(&mut self, out: &mut impl Write) -> Result<(), Error> {
        // No block comes after these: rather than wait for the threads,
        // the helper evaluates those still queued. (Earlier, it would take
        // a block from a thread that would then wait for the next.)
        if let (Some(evaluators), Some(helper)) = (
            self.evaluators,
            self.helper.as_deref_mut().and_then(Helper::get),
        ) {
            while evaluators.help(helper, evaluators.len()) {}
        }
        while let Some(oldest) = self.in_flight.pop_front() {
            self.complete(oldest, out)?;
        }
        Ok(())
    }

    /// Takes a block back from the evaluators (waiting for it), correlates
    /// its observations on the lead detector and writes its lines. Blocks
    /// must come back in input order.
    pub(crate) fn complete(&mut self, pending: Pending, out: &mut impl Write) -> Result<(), Error> {
        let (block, answer) = pending.wait();
        let (detached, lines) = match (answer, &mut self.tally) {
            (Some(answer), Some(tally)) => answer.counted(tally),
            (Some(answer), None) => answer.counted(&mut Tally::default()),
            (None, _) => (Err(Error::EvaluatorStopped), None),
        };
        let (batch, alerts) = match detached {
            Ok(d) => {
                let alerts = match self.detector.correlate(d.observations) {
                    Ok(alerts) => alerts,
                    // A component's failures are its session's faults; the
                    // native engine's refusal is counted here.
                    Err(e) => {
                        if let (Error::Observation(_), Some(tally)) = (&e, &mut self.tally) {
                            tally.add(&e.to_string(), 1);
                        }
                        Vec::new()
                    }
                };
                let batch = Batch {
                    events: d.events,
                    entries: d.entries,
                    alerts: Vec::new(),
                };
                (Ok(batch), alerts)
            }
            Err(e) => (Err(e), Vec::new()),
        };
        let written = match lines {
            // The evaluator wrote the event lines (and took the entries).
            Some(lines) => {
                let written = self.write_lines(&lines, alerts, out);
                self.spare_lines.push(lines);
                written
            }
            None => {
                let batch = batch.unwrap_or_else(|e| Batch::unevaluated(&block, &e));
                self.write_block(&block, Batch { alerts, ..batch }, out)
            }
        };
        if let Ok(buffer) = Arc::try_unwrap(block) {
            self.spare.push(buffer);
        }
        written
    }

    /// Writes a block's event lines written by an evaluator, with its
    /// alerts spliced in.
    fn write_lines(
        &mut self,
        lines: &Lines,
        alerts: Vec<BatchAlert>,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        self.count_restarts();
        let mut scratch = std::mem::take(&mut self.scratch);
        let written = self
            .output
            .write_lines(lines, alerts, &mut scratch, |bytes| out.write_all(bytes))
            .map_err(Error::Write);
        self.scratch = scratch;
        if let Some(report) = &mut self.on_block {
            report(self.output.counters());
        }
        written
    }

    /// Writes the kept events of one evaluated block, and its alerts.
    fn write_block(
        &mut self,
        block: &[u8],
        batch: Batch,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        self.count_restarts();
        self.output.now_ms(now_ms());
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        let entries = batch.entries.into_iter().map(|e| (e.index, e.outcome));
        self.output.block(&mut buf, block, entries, batch.alerts);
        let written = out.write_all(&buf).map_err(Error::Write);
        self.scratch = buf;
        if let Some(report) = &mut self.on_block {
            report(self.output.counters());
        }
        written
    }
}

/// The wall clock in milliseconds since the epoch: the time OCSF records
/// give an event that carries none.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `detector` over `input` (any framing) and returns the NDJSON output
/// and the counters: what the CLI writes for one input, in memory
/// ([`Runner::run`], then [`Runner::finish`], so correlation windows are
/// flushed at the end).
///
/// # Errors
///
/// As [`Runner::run`].
pub fn run_to_vec(detector: &mut Detector, input: &[u8]) -> Result<(Vec<u8>, Counters), Error> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 4);
    let mut runner = Runner::new(detector);
    runner.run(Path::new("<memory>"), input, &mut out)?;
    runner.finish(&mut out)?;
    Ok((out, runner.counters().clone()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_times() {
        assert_eq!(
            sigil_engine::format_rfc3339_ms(1_722_513_810_000),
            "2024-08-01T12:03:30Z"
        );
        assert_eq!(
            sigil_engine::format_rfc3339_ms(1_722_513_810_250),
            "2024-08-01T12:03:30.250Z"
        );
        assert_eq!(sigil_engine::format_rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            sigil_engine::format_rfc3339_ms(-1),
            "1969-12-31T23:59:59.999Z"
        );
        assert_eq!(
            sigil_engine::format_rfc3339_ms(951_782_400_000),
            "2000-02-29T00:00:00Z"
        );
    }
}
