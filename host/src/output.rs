//! Reading event streams, evaluating them in blocks and writing NDJSON.

use std::io::{Read, Write};
use std::path::Path;

use sigil_engine::Alert;
use sigil_engine::input::{Framing, detect_framing, document_events, minify_into, ndjson_events};
use sigil_render::{Outcome, Renderer};

use crate::batch::{Batch, BatchEntry, Failure, Fault};
use crate::detector::Detector;
use crate::error::Error;

/// What a run did, for the end-of-run summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events read.
    pub events_in: u64,
    /// Lines written (events read minus those with `keep = false`).
    pub events_out: u64,
    /// Events with at least one finding.
    pub matched: u64,
    /// Events written with an error instead of a verdict.
    pub errors: u64,
    /// Events that could not be read as they came and were evaluated on
    /// what could be read: their verdict carries `"warnings"`.
    pub warned: u64,
    /// Plugin instances replaced after a failed call.
    pub plugin_restarts: u64,
    /// Of those, replacements that lost correlation windows.
    pub correlation_resets: u64,
    /// Why plugin calls failed: each cause once, with how many calls it
    /// failed (see `Session::faults`). Empty for native runs.
    pub plugin_faults: Vec<Fault>,
    /// Correlation alerts written.
    pub alerts: u64,
    /// Input bytes read.
    pub bytes_in: u64,
}

/// What [`Runner::on_plugin_fault`] calls with each new cause.
type FaultReport<'d> = Box<dyn FnMut(&Fault) + 'd>;

/// The size of the blocks handed to one `evaluate-batch` call (1 MiB, cut
/// at a newline): large enough that the call overhead vanishes, small
/// enough to keep memory flat and per-call deadlines meaningful.
const BLOCK_BYTES: usize = 1 << 20;

/// Runs a [`Detector`] over event streams and writes one NDJSON line per
/// kept event, in input order, with the verdict under a `"sigil"` key:
///
/// ```text
/// {...event...,"sigil":{"score":75,"level":"high","findings":[{"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"labels":{...}}],"source":"aws.cloudtrail"}}
/// ```
///
/// An event without a verdict gets `"sigil":{"error":"..."}`; one that is
/// not a JSON object is written as `{"sigil":{"error":"...","raw":"<line>"}}`
/// so that the output stays NDJSON.
///
/// A correlation alert is a line of its own, right after the event whose
/// arrival released it (see `sigil_engine::Engine::advance` for when that
/// is), or at [`Runner::finish`] for the matches still waiting then:
///
/// ```text
/// {"sigil_alert":{"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"group":{"field":"value"},"window":{"start":"2024-08-01T12:03:30Z","end":"2024-08-01T12:04:19Z"},"events":["<eventID>",...],"value":2}}
/// (an aggregate record adds `"labels":{"OpCount":"3",...}` after `value`)
/// ```
pub struct Runner<'d> {
    detector: &'d mut Detector,
    renderer: Renderer,
    keep_unmatched: bool,
    alerts_only: bool,
    counters: Counters,
    scratch: Vec<u8>,
    on_fault: Option<FaultReport<'d>>,
    /// Causes already handed to `on_fault`.
    faults_reported: usize,
}

impl<'d> Runner<'d> {
    /// A runner over `detector`, with its counters at zero.
    pub fn new(detector: &'d mut Detector) -> Runner<'d> {
        let renderer = Renderer::new(&detector.rules());
        let keep_unmatched = detector.options().keeps(false, 0);
        Runner {
            detector,
            renderer,
            keep_unmatched,
            alerts_only: false,
            counters: Counters::default(),
            scratch: Vec::new(),
            on_fault: None,
            faults_reported: 0,
        }
    }

    /// Calls `report` the first time each cause of plugin failure is seen
    /// (the CLI writes it to stderr), once per cause rather than once per
    /// event, so that a plugin failing every call cannot flood the log. The
    /// counts are in [`Counters::plugin_faults`].
    pub fn on_plugin_fault(mut self, report: impl FnMut(&Fault) + 'd) -> Runner<'d> {
        self.on_fault = Some(Box::new(report));
        self
    }

    /// Copies the detector's failure counters and reports new causes.
    fn sync_faults(&mut self) {
        self.counters.plugin_restarts = self.detector.restarts();
        self.counters.correlation_resets = self.detector.correlation_resets();
        let faults = self.detector.faults();
        if faults.len() == self.faults_reported && faults == self.counters.plugin_faults {
            return;
        }
        if let Some(report) = &mut self.on_fault {
            faults.iter().skip(self.faults_reported).for_each(report);
        }
        self.faults_reported = faults.len();
        self.counters.plugin_faults = faults.to_vec();
    }

    /// Writes correlation alerts only, no event line (the CLI's
    /// `--alerts-only`). Events are still read, evaluated and counted.
    pub fn alerts_only(mut self, on: bool) -> Runner<'d> {
        self.alerts_only = on;
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
        let alerts = self.detector.flush().unwrap_or_default();
        self.sync_faults();
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for alert in &alerts {
            self.write_alert(&mut buf, alert);
        }
        let written = out.write_all(&buf).map_err(Error::Write);
        self.scratch = buf;
        written
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Reads every event of `input` (named `path` in errors) and writes the
    /// kept ones to `out`.
    ///
    /// The framing is detected from the start (see
    /// `sigil_engine::input::detect_framing`): NDJSON is read and evaluated
    /// in blocks of about 1 MiB cut at a newline; a JSON document (array,
    /// `Records` file, pretty-printed objects) is read whole, split into
    /// events and each event minified to one line.
    ///
    /// # Errors
    ///
    /// [`Error::Read`], [`Error::Framing`] (a document that does not split),
    /// [`Error::Write`], or a plugin that cannot be restarted.
    pub fn run(
        &mut self,
        path: &Path,
        mut input: impl Read,
        out: &mut impl Write,
    ) -> Result<(), Error> {
        let read_err = |source| Error::Read {
            path: path.to_path_buf(),
            source,
        };
        let mut buf = Vec::with_capacity(BLOCK_BYTES + (64 << 10));
        let mut want = BLOCK_BYTES;
        let mut first = true;
        loop {
            let got = (&mut input)
                .take((want - buf.len()) as u64)
                .read_to_end(&mut buf)
                .map_err(read_err)?;
            self.counters.bytes_in += got as u64;
            let eof = buf.len() < want;
            if first {
                first = false;
                // A byte-order mark (files written by Windows tools) is not
                // part of the first event.
                if buf.starts_with(b"\xEF\xBB\xBF") {
                    buf.drain(..3);
                }
                if detect_framing(&buf) == Framing::Document {
                    let more = input.read_to_end(&mut buf).map_err(read_err)?;
                    self.counters.bytes_in += more as u64;
                    return self.run_document(path, &buf, out);
                }
            }
            let cut = if eof {
                buf.len()
            } else {
                match memchr::memrchr(b'\n', &buf) {
                    Some(p) => p + 1,
                    // One line longer than a block: read on until it ends.
                    None => {
                        want = buf.len() + BLOCK_BYTES;
                        continue;
                    }
                }
            };
            if cut > 0 {
                self.run_block(&buf[..cut], out)?;
                buf.drain(..cut);
            }
            want = BLOCK_BYTES.max(buf.len() + 1);
            if eof {
                return Ok(());
            }
        }
    }

    fn run_document(&mut self, path: &Path, doc: &[u8], out: &mut impl Write) -> Result<(), Error> {
        let events = document_events(doc).map_err(|source| Error::Framing {
            path: path.to_path_buf(),
            source,
        })?;
        let mut ndjson = Vec::with_capacity(doc.len());
        for event in events {
            minify_into(event, &mut ndjson);
            ndjson.push(b'\n');
        }
        let mut rest = &ndjson[..];
        while !rest.is_empty() {
            let cut = if rest.len() <= BLOCK_BYTES {
                rest.len()
            } else {
                match memchr::memrchr(b'\n', &rest[..BLOCK_BYTES]) {
                    Some(p) => p + 1,
                    None => memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1),
                }
            };
            self.run_block(&rest[..cut], out)?;
            rest = &rest[cut..];
        }
        Ok(())
    }

    /// Evaluates one NDJSON block and writes its kept events.
    fn run_block(&mut self, block: &[u8], out: &mut impl Write) -> Result<(), Error> {
        let batch = match self.detector.evaluate_block(block) {
            Ok(batch) => batch,
            // Not even a fresh plugin instance could be made: the stream
            // goes on, the block passes through with every event marked.
            Err(e) => {
                let reason = format!("event not evaluated: {e}");
                let entries: Vec<BatchEntry> = ndjson_events(block)
                    .enumerate()
                    .map(|(i, _)| BatchEntry {
                        index: i as u32,
                        outcome: Err(Failure::Plugin(reason.clone())),
                    })
                    .collect();
                Batch {
                    events: entries.len() as u32,
                    entries,
                    alerts: Vec::new(),
                }
            }
        };
        self.sync_faults();
        let mut entries = batch.entries.into_iter().peekable();
        let mut alerts = batch.alerts.into_iter().peekable();
        let mut buf = std::mem::take(&mut self.scratch);
        buf.clear();
        for (i, event) in ndjson_events(block).enumerate() {
            let (line_start, written) = (buf.len(), self.counters.events_out);
            self.counters.events_in += 1;
            let entry = entries
                .next_if(|e| e.index as usize == i)
                .map(|e| e.outcome);
            let (outcome, keep) = match &entry {
                // The engine does not parse events its prefilter rules out,
                // so it cannot flag every garbage line: the renderer catches
                // the ones that cannot be an object (cheaply; a line that
                // starts with `{` and ends with `}` is trusted).
                None => (
                    Outcome::Unmatched,
                    self.keep_unmatched || !sigil_render::looks_like_object(event),
                ),
                Some(Ok(v)) => {
                    if v.matched() {
                        self.counters.matched += 1;
                    }
                    if !v.warnings.is_empty() {
                        self.counters.warned += 1;
                    }
                    (Outcome::Verdict(v), v.keep)
                }
                Some(Err(failure)) => (Outcome::Failed(failure), true),
            };
            if keep {
                let w = self.renderer.event(&mut buf, event, outcome, &[]);
                buf.push(b'\n');
                self.counters.events_out += 1;
                if w.failed {
                    self.counters.errors += 1;
                }
            }
            if self.alerts_only {
                buf.truncate(line_start);
                self.counters.events_out = written;
            }
            while let Some(a) = alerts.next_if(|a| a.index as usize == i) {
                self.write_alert(&mut buf, &a.alert);
            }
        }
        let written = out.write_all(&buf).map_err(Error::Write);
        self.scratch = buf;
        written
    }

    /// One correlation alert line: `{"sigil_alert":{...}}`.
    fn write_alert(&mut self, buf: &mut Vec<u8>, a: &Alert) {
        let mark = buf.len();
        buf.extend_from_slice(b"{\"sigil_alert\":");
        // The component's answers are checked; the native engine's
        // indexes are in range by construction.
        if self.renderer.alert(buf, a) {
            self.counters.alerts += 1;
            buf.extend_from_slice(b"}\n");
        } else {
            buf.truncate(mark);
        }
    }
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
    Ok((out, runner.counters.clone()))
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
