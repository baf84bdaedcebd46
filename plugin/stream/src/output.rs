//! Writing one NDJSON line per event, and alerts as records of their own.

use std::fmt;
use std::sync::Arc;

use sigil_engine::export::ExportStats;
use sigil_engine::input::ndjson_events;
use sigil_engine::{Alert, BatchAlert, Options, RuleInfo, Verdict};
use sigil_render::ocsf::Ocsf;
use sigil_render::{Outcome, Renderer};

/// A format of one record per finding, not per event. `Send + Sync`: the
/// threads that render blocks ahead ([`LineWriter`]) share it.
trait Records: Send + Sync {
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
    /// What an event's lines look like: shared with the [`LineWriter`]s
    /// of other threads, so it is set before any is made.
    style: Arc<Style>,
    /// OCSF `time` for events that carry none (see [`Output::now_ms`]).
    now_ms: i64,
    counters: Counters,
}

/// How event lines are written for one output: everything but the run's
/// counters and the alerts, which depend on the order of the stream.
#[derive(Clone)]
struct Style {
    renderer: Arc<Renderer>,
    /// Set by [`Output::format`] to OCSF. Behind a trait object so that
    /// a host that never asks for OCSF (the JavaScript package, under a
    /// size budget) does not link its writer and serde_json's `Value`.
    ocsf: Option<Arc<dyn Records>>,
    keep_unmatched: bool,
    alerts_only: bool,
}

/// Writes the event lines of blocks on another thread than the
/// [`Output`] it was made from ([`Output::line_writer`]), so that a host
/// evaluating blocks on several threads also renders them there; the
/// output's thread then only splices in the alerts
/// ([`Output::write_lines`]). The bytes are those [`Output::block`] writes.
#[derive(Clone)]
pub struct LineWriter {
    style: Arc<Style>,
}

/// One block's event lines, written ahead by a [`LineWriter`]: the bytes,
/// where each event's lines end (the places an alert may go) and what
/// they count. Reuse one for the next block: its buffers stay allocated.
#[derive(Debug, Default)]
pub struct Lines {
    bytes: Vec<u8>,
    /// `ends[i]`: the end of event `i`'s lines in `bytes`.
    ends: Vec<usize>,
    /// Events in and out, matched, errors, warned: nothing else is set.
    counters: Counters,
}

impl Lines {
    /// The block's event lines.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Style {
    /// Writes event `event`'s line (or OCSF records) to `out` from its
    /// entry (`None`: it matched nothing) and counts it.
    fn event<F: fmt::Display>(
        &self,
        out: &mut Vec<u8>,
        counters: &mut Counters,
        event: &[u8],
        entry: Option<Result<Verdict, F>>,
        now_ms: i64,
    ) {
        let (line_start, written) = (out.len(), counters.events_out);
        counters.events_in += 1;
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
                    counters.matched += 1;
                }
                if !v.warnings.is_empty() {
                    counters.warned += 1;
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
                    if ocsf.findings(out, event, v, now_ms) > 0 {
                        counters.events_out += 1;
                    }
                }
                Outcome::Failed(_) => counters.errors += 1,
                Outcome::Unmatched if !sigil_render::looks_like_object(event) => {
                    counters.errors += 1;
                }
                _ => {}
            }
        } else if keep {
            let w = self.renderer.event(out, event, outcome, &[]);
            out.push(b'\n');
            counters.events_out += 1;
            if w.failed {
                counters.errors += 1;
            }
        }
        if self.alerts_only {
            out.truncate(line_start);
            counters.events_out = written;
        }
    }
}

impl LineWriter {
    /// Writes the event lines of one evaluated block into `lines` (its
    /// previous content is dropped), as [`Output::block`] would with no
    /// alert; `now_ms` as [`Output::now_ms`] says. The arguments are
    /// [`Output::block`]'s.
    pub fn write<F: fmt::Display>(
        &self,
        lines: &mut Lines,
        block: &[u8],
        entries: impl IntoIterator<Item = (u32, Result<Verdict, F>)>,
        now_ms: i64,
    ) {
        lines.bytes.clear();
        lines.ends.clear();
        lines.counters = Counters::default();
        let mut entries = entries.into_iter().peekable();
        for (i, event) in ndjson_events(block).enumerate() {
            let entry = entries.next_if(|e| e.0 as usize == i).map(|e| e.1);
            self.style
                .event(&mut lines.bytes, &mut lines.counters, event, entry, now_ms);
            lines.ends.push(lines.bytes.len());
        }
    }
}

impl Output {
    /// An output for a pack with rule table `rules`, loaded with `options`
    /// (which decide whether unmatched events are kept), counters at zero.
    pub fn new(rules: &[RuleInfo], options: &Options) -> Output {
        Output {
            style: Arc::new(Style {
                renderer: Arc::new(Renderer::new(rules)),
                ocsf: None,
                keep_unmatched: options.keeps(false, 0),
                alerts_only: false,
            }),
            now_ms: 0,
            counters: Counters::default(),
        }
    }

    /// Writes correlation alerts only, no event line (`--alerts-only`).
    /// Events are still counted. [`LineWriter`]s made before keep the
    /// setting they were made with.
    pub fn alerts_only(mut self, on: bool) -> Output {
        Arc::make_mut(&mut self.style).alerts_only = on;
        self
    }

    /// Writes in `format` (sigil's JSON unless told otherwise). The rule
    /// table is the one [`Output::new`] was given. [`LineWriter`]s made
    /// before keep the format they were made with.
    pub fn format(mut self, format: Format, rules: &[RuleInfo]) -> Output {
        Arc::make_mut(&mut self.style).ocsf = match format {
            Format::Json => None,
            Format::Ocsf => Some(Arc::new(Ocsf::new(rules))),
        };
        self
    }

    /// A writer of this output's event lines for another thread.
    pub fn line_writer(&self) -> LineWriter {
        LineWriter {
            style: Arc::clone(&self.style),
        }
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
            let entry = entries.next_if(|e| e.0 as usize == i).map(|e| e.1);
            self.style
                .event(out, &mut self.counters, event, entry, self.now_ms);
            while let Some(a) = alerts.next_if(|a| a.index as usize == i) {
                self.alert(out, &a.alert);
            }
        }
    }

    /// Writes a block's event lines written ahead by a [`LineWriter`] of
    /// this output, with `alerts` spliced in after the events whose index
    /// they carry, through `write`: the bytes [`Output::block`] writes for
    /// the same block. Alert lines are rendered into `scratch` first.
    ///
    /// # Errors
    ///
    /// The first error of `write`, after which nothing more is written.
    pub fn write_lines<E>(
        &mut self,
        lines: &Lines,
        alerts: impl IntoIterator<Item = BatchAlert>,
        scratch: &mut Vec<u8>,
        mut write: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        let c = &lines.counters;
        let counters = &mut self.counters;
        counters.events_in += c.events_in;
        counters.events_out += c.events_out;
        counters.matched += c.matched;
        counters.errors += c.errors;
        counters.warned += c.warned;
        let (mut from, mut last) = (0, 0);
        for a in alerts {
            // As `block` writes them: in index order, each after its
            // event; one out of order, or past the block, and the rest
            // are never reached.
            let Some(&end) = lines.ends.get(a.index as usize) else {
                break;
            };
            if (a.index as usize) < last {
                break;
            }
            last = a.index as usize;
            if let Some(events) = lines.bytes.get(from..end).filter(|b| !b.is_empty()) {
                write(events)?;
            }
            from = end.max(from);
            scratch.clear();
            self.alert(scratch, &a.alert);
            write(scratch)?;
        }
        match lines.bytes.get(from..) {
            Some(rest) if !rest.is_empty() => write(rest),
            _ => Ok(()),
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
        if let Some(ocsf) = &self.style.ocsf {
            if ocsf.alert(out, a) {
                self.counters.alerts += 1;
            }
            return;
        }
        let mark = out.len();
        out.extend_from_slice(b"{\"sigil_alert\":");
        // A component's answers are checked; the native engine's indexes
        // are in range by construction.
        if self.style.renderer.alert(out, a) {
            self.counters.alerts += 1;
            out.extend_from_slice(b"}\n");
        } else {
            out.truncate(mark);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigil_engine::{Engine, RuleSource};

    const RULES: &str = r#"
title: stop
name: stop
level: medium
logsource: {product: aws, service: cloudtrail}
detection:
    sel: {eventName: StopInstances}
    condition: sel
---
title: stops
correlation:
    type: event_count
    rules: [stop]
    group-by: [user]
    timespan: 10m
    condition: {gte: 2}
"#;

    /// Every event line and alert of `events`, cut into blocks of `per`
    /// lines: through `Output::block`, and through a `LineWriter` and
    /// `Output::write_lines`.
    fn both_ways(options: Options, format: Format, events: &[String], per: usize) -> [Vec<u8>; 2] {
        let rules = [RuleSource::new("r.yml", RULES)];
        let mut engines = [0, 1].map(|_| Engine::load(&rules, options.clone()).unwrap());
        let outputs = engines.each_ref().map(|e| {
            Output::new(e.rules(), e.options())
                .alerts_only(false)
                .format(format, e.rules())
        });
        let [mut direct, mut ahead] = outputs;
        let writer = ahead.line_writer();
        let (mut a, mut b, mut lines, mut scratch) =
            (Vec::new(), Vec::new(), Lines::default(), Vec::new());
        for chunk in events.chunks(per) {
            let block = chunk.concat();
            for (engine, way) in engines.iter_mut().zip([0, 1]) {
                let (mut entries, mut alerts) = (Vec::new(), Vec::new());
                engine.evaluate_batch(block.as_bytes(), &mut entries, &mut alerts);
                let entries = entries.into_iter().map(|e| (e.index, e.outcome));
                if way == 0 {
                    direct.block(&mut a, block.as_bytes(), entries, alerts);
                } else {
                    writer.write(&mut lines, block.as_bytes(), entries, 0);
                    ahead
                        .write_lines(&lines, alerts, &mut scratch, |bytes| {
                            b.extend_from_slice(bytes);
                            Ok::<(), ()>(())
                        })
                        .unwrap();
                }
            }
        }
        assert_eq!(direct.counters(), ahead.counters());
        [a, b]
    }

    #[test]
    fn lines_written_ahead_are_the_bytes_of_block() {
        let events: Vec<String> = (0..40)
            .map(|i| match i % 5 {
                // Two users stopping instances a minute apart: alerts
                // land inside blocks, at their ends and at their starts.
                0 | 1 => format!(
                    "{{\"eventName\":\"StopInstances\",\"eventSource\":\"ec2.amazonaws.com\",\"user\":\"u{}\",\"eventTime\":\"2024-08-01T12:{:02}:00Z\"}}\n",
                    i % 2,
                    i
                ),
                2 => "not json\n".into(),
                3 => "{\"eventName\":\"StopInstances\",\"broken\n".into(),
                _ => format!("{{\"eventName\":\"DescribeInstances\",\"n\":{i}}}\n"),
            })
            .collect();
        let drop_unmatched = Options {
            matched_only: true,
            ..Options::default()
        };
        for options in [Options::default(), drop_unmatched] {
            for format in [Format::Json, Format::Ocsf] {
                for per in [1, 2, 3, 7, 40] {
                    let [direct, ahead] = both_ways(options.clone(), format, &events, per);
                    assert!(
                        direct.windows(13).any(|w| w == b"\"sigil_alert\"")
                            || format == Format::Ocsf
                    );
                    assert_eq!(
                        String::from_utf8_lossy(&direct),
                        String::from_utf8_lossy(&ahead),
                        "{format:?}, blocks of {per}"
                    );
                }
            }
        }
    }
}
