//! Writing one NDJSON line per event, and alerts as records of their own.

use std::fmt;

use sigil_engine::export::ExportStats;
use sigil_engine::input::ndjson_events;
use sigil_engine::{Alert, BatchAlert, Options, RuleInfo, Verdict};
use sigil_render::ocsf::Ocsf;
use sigil_render::{Outcome, Renderer};

/// A format of one record per finding, not per event.
trait Records {
    /// Writes the records of `verdict`'s findings; how many.
    fn findings(&self, out: &mut Vec<u8>, event: &[u8], verdict: &Verdict, now_ms: i64) -> u32;
    /// Writes one alert's record; false when its rule is unknown.
    fn alert(&self, out: &mut Vec<u8>, alert: &Alert) -> bool;
}

impl Records for Ocsf {
    fn findings(&self, out: &mut Vec<u8>, event: &[u8], verdict: &Verdict, now_ms: i64) -> u32 {
        Ocsf::findings(self, out, event, verdict, now_ms)
    }

    fn alert(&self, out: &mut Vec<u8>, alert: &Alert) -> bool {
        Ocsf::alert(self, out, alert)
    }
}

/// What [`Output`] writes for an event.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// sigil's own lines: every kept event with its verdict under
    /// `"sigil"`, alerts as `{"sigil_alert":...}` (the default).
    #[default]
    Json,
    /// One OCSF Detection Finding record per finding and per alert
    /// (`sigil_render::ocsf`); events without findings, and events that
    /// could not be evaluated, write nothing (errors are still counted).
    Ocsf,
}

impl Format {
    /// The format called `name` (`json`, `ocsf`), as the CLI spells it.
    pub fn parse(name: &str) -> Option<Format> {
        match name {
            "json" => Some(Format::Json),
            "ocsf" => Some(Format::Ocsf),
            _ => None,
        }
    }
}

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
    /// Plugin instances replaced after a failed call (hosts that run a
    /// component set it; 0 elsewhere).
    pub plugin_restarts: u64,
    /// Of those, replacements that lost correlation windows.
    pub correlation_resets: u64,
    /// Why plugin calls failed: each cause once, with how many calls it
    /// failed (hosts that run a component set it; empty elsewhere).
    pub plugin_faults: Vec<Fault>,
    /// Correlation alerts written.
    pub alerts: u64,
    /// Input bytes read (counted by the host, which reads them).
    pub bytes_in: u64,
    /// Rows of SIEM exports read (CSV, QRadar, Log Analytics, Sumo), with
    /// the ragged, cut and not-a-row ones (added by the host from each
    /// input's `Framer::export_stats`).
    pub export: ExportStats,
}

/// One reason plugin calls failed, and how many calls it failed: a trap,
/// running out of time, fuel or memory, or an answer the host refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// What went wrong, for humans (the same text marks the events it
    /// cost, when they could not be evaluated on retry).
    pub cause: String,
    /// How many calls failed so.
    pub count: u64,
}

/// Writes the lines of a run, block by block, for one loaded rule pack:
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
/// arrival released it, or where the host writes the alerts of the end of
/// its input ([`Output::alerts`]):
///
/// ```text
/// {"sigil_alert":{"rule":ID,"title":T,"level":"high","score":75,"tags":[...],"group":{"field":"value"},"window":{"start":"2024-08-01T12:03:30Z","end":"2024-08-01T12:04:19Z"},"events":["<eventID>",...],"value":2}}
/// (an aggregate record adds `"labels":{"OpCount":"3",...}` after `value`)
/// ```
///
/// In [`Format::Ocsf`], the lines are OCSF records instead, one per finding
/// and per alert, in the same places; `events_out` then counts the events
/// whose findings were written.
pub struct Output {
    renderer: Renderer,
    /// Set by [`Output::format`] to OCSF. Behind a trait object so that
    /// a host that never asks for OCSF (the JavaScript package, under a
    /// size budget) does not link its writer and serde_json's `Value`.
    ocsf: Option<Box<dyn Records>>,
    /// OCSF `time` for events that carry none (see [`Output::now_ms`]).
    now_ms: i64,
    keep_unmatched: bool,
    alerts_only: bool,
    counters: Counters,
}

impl Output {
    /// An output for a pack with rule table `rules`, loaded with `options`
    /// (which decide whether unmatched events are kept), counters at zero.
    pub fn new(rules: &[RuleInfo], options: &Options) -> Output {
        Output {
            renderer: Renderer::new(rules),
            ocsf: None,
            now_ms: 0,
            keep_unmatched: options.keeps(false, 0),
            alerts_only: false,
            counters: Counters::default(),
        }
    }

    /// Writes correlation alerts only, no event line (`--alerts-only`).
    /// Events are still counted.
    pub fn alerts_only(mut self, on: bool) -> Output {
        self.alerts_only = on;
        self
    }

    /// Writes in `format` (sigil's JSON unless told otherwise). The rule
    /// table is the one [`Output::new`] was given.
    pub fn format(mut self, format: Format, rules: &[RuleInfo]) -> Output {
        self.ocsf = match format {
            Format::Json => None,
            Format::Ocsf => Some(Box::new(Ocsf::new(rules))),
        };
        self
    }

    /// The time, in milliseconds since the epoch, that OCSF records give an
    /// event without a time of its own (the finding's creation time). Hosts
    /// with a clock set it before each block; this crate reads none (it
    /// builds for WebAssembly without imports). Unused in [`Format::Json`].
    pub fn now_ms(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The counters, for what the host counts itself (bytes read, plugin
    /// restarts).
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// Writes the lines of one evaluated block to `out`: each event of
    /// `block` (as `ndjson_events` counts them) with its outcome, the
    /// alerts after the event whose index they carry.
    ///
    /// `entries` are the events that matched or failed, in index order,
    /// with their verdict or the reason they have none; events absent from
    /// it matched nothing. `alerts` are in index order.
    pub fn block<F: fmt::Display>(
        &mut self,
        out: &mut Vec<u8>,
        block: &[u8],
        entries: impl IntoIterator<Item = (u32, Result<Verdict, F>)>,
        alerts: impl IntoIterator<Item = BatchAlert>,
    ) {
        let mut entries = entries.into_iter().peekable();
        let mut alerts = alerts.into_iter().peekable();
        for (i, event) in ndjson_events(block).enumerate() {
            let (line_start, written) = (out.len(), self.counters.events_out);
            self.counters.events_in += 1;
            let entry = entries.next_if(|e| e.0 as usize == i).map(|e| e.1);
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
                Some(Err(failure)) => (Outcome::Failed(failure as &dyn fmt::Display), true),
            };
            if let Some(ocsf) = &self.ocsf {
                // Only findings are records; a line that is no object
                // would have been an error line, and is counted as one.
                match outcome {
                    Outcome::Verdict(v) if keep => {
                        if ocsf.findings(out, event, v, self.now_ms) > 0 {
                            self.counters.events_out += 1;
                        }
                    }
                    Outcome::Failed(_) => self.counters.errors += 1,
                    Outcome::Unmatched if !sigil_render::looks_like_object(event) => {
                        self.counters.errors += 1;
                    }
                    _ => {}
                }
            } else if keep {
                let w = self.renderer.event(out, event, outcome, &[]);
                out.push(b'\n');
                self.counters.events_out += 1;
                if w.failed {
                    self.counters.errors += 1;
                }
            }
            if self.alerts_only {
                out.truncate(line_start);
                self.counters.events_out = written;
            }
            while let Some(a) = alerts.next_if(|a| a.index as usize == i) {
                self.alert(out, &a.alert);
            }
        }
    }

    /// Writes alert lines that no event released: those of the end of the
    /// input (`Engine::flush`) or of a watermark the host moved.
    pub fn alerts(&mut self, out: &mut Vec<u8>, alerts: &[Alert]) {
        for alert in alerts {
            self.alert(out, alert);
        }
    }

    /// One correlation alert line: `{"sigil_alert":{...}}`.
    fn alert(&mut self, out: &mut Vec<u8>, a: &Alert) {
        if let Some(ocsf) = &self.ocsf {
            if ocsf.alert(out, a) {
                self.counters.alerts += 1;
            }
            return;
        }
        let mark = out.len();
        out.extend_from_slice(b"{\"sigil_alert\":");
        // A component's answers are checked; the native engine's indexes
        // are in range by construction.
        if self.renderer.alert(out, a) {
            self.counters.alerts += 1;
            out.extend_from_slice(b"}\n");
        } else {
            out.truncate(mark);
        }
    }
}
