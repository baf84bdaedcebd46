//! The engine: a compiled rule pack and the evaluation of events against it.

use crate::correlation::{
    self, Alert, BatchAlert, CorrelationStats, Correlator, Def, Limits, Observation, RuleName,
};
use crate::error::{EventError, EventWarning, LoadError, ObservationError, RuleError};
use crate::matching::expr::{Expr, KEYWORDS};
use crate::matching::label::Label;
use crate::matching::matcher::{Lookup, Slots};
use crate::options::Options;
use crate::rules::field::CompileCtx;
use crate::rules::rule::{self, Doc, Rule, RuleTest, Variant};
use crate::rules::yaml;
use crate::scan::extract::{self, Trie};
use crate::scan::prefilter::{self, Prefilter};
use crate::scan::repair;
use crate::verdict::{Finding, RuleInfo, Verdict};
use crate::vocab::logsource::{self, Product, Shape};
use crate::vocab::value::Val;

mod recognition;

use recognition::Recognition;
pub use recognition::{SchemaUse, Unrecognised};

/// One rule file handed to [`Engine::load`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSource {
    /// Where the text came from (a file path or any label); errors name it.
    pub name: String,
    /// YAML text: one or more Sigma documents separated by `---`.
    pub text: String,
}

impl RuleSource {
    /// A source from a name and its text.
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> RuleSource {
        RuleSource {
            name: name.into(),
            text: text.into(),
        }
    }
}

/// The outcome for one event of a batch that matched or failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchEntry {
    /// Position of the event in the batch (see [`crate::input::ndjson_events`]).
    pub index: u32,
    /// The verdict, or why the event could not be evaluated.
    pub outcome: Result<Verdict, EventError>,
}

/// A rule as the evaluator needs it.
#[derive(Clone, Debug)]
struct Compiled {
    /// What the prefilter reads: the variants' detections, any of them.
    expr: Expr,
    variants: Vec<Variant>,
    /// Gates on the product when the rule has a single, source-less
    /// variant; schema rules gate on the source instead.
    product: Option<String>,
    keywords: bool,
    score_label: Option<usize>,
    /// The schema this rule is written for, as an index of
    /// `Recognition`'s needs; `None` for a rule of no schema.
    need: Option<u8>,
}

impl Compiled {
    /// The variant that applies to an event of shape `shape`, if any.
    fn variant(&self, shape: Shape) -> Option<&Variant> {
        match self.variants.as_slice() {
            [only] if only.source.is_none() => {
                gate(self.product.as_deref(), shape.product).then_some(only)
            }
            all => all
                .iter()
                .find(|v| v.source.is_some() && v.source == shape.source),
        }
    }
}

/// A compiled rule pack, ready to evaluate events.
///
/// Loading parses and compiles every rule once. Evaluation borrows the
/// event's bytes, reads only the fields the rules name, and allocates
/// nothing for an event that matches no rule.
#[derive(Clone, Debug)]
pub struct Engine {
    options: Options,
    info: Vec<RuleInfo>,
    rules: Vec<Compiled>,
    tests: Vec<RuleTest>,
    skipped: Vec<RuleError>,
    trie: Trie,
    /// Slots of the fields that reveal an event's product and source.
    shape_slots: [u32; 12],
    prefilter: Prefilter,
    scratch: Scratch,
    /// Correlation state; `None` when the pack has no correlation rule, so
    /// that such packs pay nothing for it.
    correlator: Option<Box<Correlator>>,
    /// Alerts produced by `evaluate` and not yet taken.
    alerts: Vec<Alert>,
    alerts_dropped: u64,
    /// What the last event evaluated detached brings to correlation.
    observed: Option<Observation>,
    /// Which sources the parsed events were recognised as.
    recognition: Recognition,
}

/// What an evaluation does besides matching.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Feed correlations; report only rules that generate findings.
    Stream,
    /// Leave correlation state alone, but keep what the event would have
    /// fed it (`Engine::observed`); report as `Stream` would.
    Detached,
    /// Leave correlation state alone; report as `Stream` would.
    Pure,
    /// Leave correlation state alone; report every detection rule that matched.
    Raw,
}

#[derive(Clone, Debug, Default)]
struct Scratch {
    prefilter: prefilter::Scratch,
    candidates: Vec<u32>,
    /// Extracted values, kept between calls for their allocation only.
    values: Vec<(u32, Val<'static>)>,
    ranges: SlotRanges,
    /// The rewrite of an event that could not be read as it came.
    repaired: Vec<u8>,
    /// Keys read twice in one object, found while extracting.
    dups: extract::Duplicates,
}

struct TrieSlots<'t>(&'t mut Trie);

impl Slots for TrieSlots<'_> {
    fn slot(&mut self, path: &str) -> u32 {
        self.0.slot(path)
    }

    fn json_slot(&mut self, path: &str) -> u32 {
        self.0.json_slot(path)
    }
}

impl Engine {
    /// Parses and compiles every rule of `sources`.
    ///
    /// # Errors
    ///
    /// The first invalid rule, unless `options.skip_invalid` is set, in
    /// which case invalid rules are left out and listed by
    /// [`Engine::skipped`]; [`LoadError::EmptyPack`] when no rule remains;
    /// [`LoadError::TooManyRules`] over `options.max_rules`.
    pub fn load(sources: &[RuleSource], options: Options) -> Result<Engine, LoadError> {
        let mut trie = Trie::new();
        let shape_slots = logsource::FIELDS.map(|f| trie.slot(f));
        let cx = CompileCtx {
            max_regex_bytes: options.max_regex_bytes,
            placeholders: &options.placeholders,
            mapping: None,
            dynamic: &[],
        };
        let mut rules: Vec<(Box<Rule>, String)> = Vec::new();
        let mut defs: Vec<(Def, String)> = Vec::new();
        let mut filters = Vec::new();
        let mut skipped = Vec::new();
        let fail = |e: RuleError, skipped: &mut Vec<RuleError>| {
            if options.skip_invalid {
                skipped.push(e);
                Ok(())
            } else {
                Err(LoadError::InvalidRule(e))
            }
        };
        for src in sources {
            let docs = match yaml::load(&src.text) {
                Ok(d) => d,
                Err(e) => {
                    let err = RuleError {
                        source: src.name.clone(),
                        line: e.line,
                        rule_id: None,
                        reason: format!("not valid YAML: {}", e.message),
                    };
                    fail(err, &mut skipped)?;
                    continue;
                }
            };
            for doc in &docs {
                match rule::compile(doc, &cx, &mut TrieSlots(&mut trie)) {
                    Ok(Doc::Rule(r)) => {
                        if rules.len() + defs.len() >= options.max_rules as usize {
                            return Err(LoadError::TooManyRules {
                                limit: options.max_rules,
                            });
                        }
                        rules.push((r, src.name.clone()));
                    }
                    Ok(Doc::Correlation(d)) => {
                        if rules.len() + defs.len() >= options.max_rules as usize {
                            return Err(LoadError::TooManyRules {
                                limit: options.max_rules,
                            });
                        }
                        defs.push((*d, src.name.clone()));
                    }
                    Ok(Doc::Filter(f)) => filters.push((f, src.name.clone())),
                    Err(e) => {
                        let err = RuleError {
                            source: src.name.clone(),
                            line: e.line,
                            rule_id: e.rule_id,
                            reason: e.reason,
                        };
                        fail(err, &mut skipped)?;
                    }
                }
            }
        }
        for (filter, source) in &filters {
            let mut used = false;
            for (rule, _) in rules.iter_mut().filter(|(r, _)| filter.applies_to(r)) {
                for v in &mut rule.variants {
                    v.expr = Expr::And(vec![v.expr.clone(), filter.expr.clone()]);
                }
                used = true;
            }
            if !used {
                let err = RuleError {
                    source: source.clone(),
                    line: filter.line,
                    rule_id: None,
                    reason: format!(
                        "this filter names {:?} but no loaded rule has that id or name and its logsource",
                        filter.rules
                    ),
                };
                fail(err, &mut skipped)?;
            }
        }
        if rules.is_empty() {
            return Err(LoadError::EmptyPack { skipped });
        }
        let names: Vec<(Option<String>, Option<String>)> = rules
            .iter()
            .map(|(r, _)| (r.id.clone(), r.name.clone()))
            .collect();
        let mut info = Vec::with_capacity(rules.len() + defs.len());
        let mut compiled = Vec::with_capacity(rules.len());
        let mut recognition = Recognition::default();
        let mut tests = Vec::new();
        for (i, (r, source)) in rules.into_iter().enumerate() {
            let r = *r;
            tests.extend(r.tests.iter().map(|(m, e)| RuleTest {
                rule: i as u32,
                expect_match: *m,
                event: e.clone(),
            }));
            info.push(RuleInfo {
                id: r.id.clone().unwrap_or_else(|| r.title.clone()),
                title: r.title,
                level: r.level,
                score: r.score,
                tags: r.tags,
                source,
                line: r.line,
            });
            let expr = match r.variants.as_slice() {
                [only] => only.expr.clone(),
                all => Expr::Or(all.iter().map(|v| v.expr.clone()).collect()),
            };
            let schema = r.variants.iter().any(|v| v.source.is_some());
            let sources: Vec<_> = r.variants.iter().filter_map(|v| v.source).collect();
            let need = recognition.need(i as u32, &sources, &mut TrieSlots(&mut trie));
            compiled.push(Compiled {
                need,
                keywords: uses_keywords(&expr),
                expr,
                variants: r.variants,
                product: if schema { None } else { r.logsource.product },
                score_label: r.score_label,
            });
        }
        let correlator = if defs.is_empty() {
            None
        } else {
            let names: Vec<RuleName<'_>> = names
                .iter()
                .map(|(id, name)| RuleName {
                    id: id.as_deref(),
                    name: name.as_deref(),
                })
                .collect();
            let only: Vec<Def> = defs.iter().map(|(d, _)| d.clone()).collect();
            let (plan, kept, errors) = correlation::link(&names, &only, &mut TrieSlots(&mut trie));
            for e in errors {
                let (def, source) = &defs[e.def];
                let err = RuleError {
                    source: source.clone(),
                    line: def.line,
                    rule_id: def.id.clone(),
                    reason: e.reason,
                };
                fail(err, &mut skipped)?;
            }
            for &k in &kept {
                let (d, source) = &defs[k];
                info.push(RuleInfo {
                    id: d.id.clone().unwrap_or_else(|| d.title.clone()),
                    title: d.title.clone(),
                    level: d.level,
                    score: d.score,
                    tags: d.tags.clone(),
                    source: source.clone(),
                    line: d.line,
                });
            }
            let limits = Limits {
                lateness_ms: (options.correlation_lateness_ms != Options::LATENESS_END)
                    .then(|| i64::from(options.correlation_lateness_ms)),
                max_groups: options.max_groups.max(1) as usize,
                max_events_per_group: options.max_events_per_group.max(1) as usize,
                max_bytes: options.max_correlation_bytes as usize,
            };
            (!kept.is_empty())
                .then(|| Box::new(Correlator::new(plan, limits, &mut TrieSlots(&mut trie))))
        };
        let products: Vec<Option<&str>> = compiled.iter().map(|c| c.product.as_deref()).collect();
        let prefilter = Prefilter::build(compiled.iter().map(|c| &c.expr), &products, &|slot| {
            (!trie.is_json(slot)).then(|| trie.path(slot).to_string())
        });
        Ok(Engine {
            options,
            info,
            rules: compiled,
            tests,
            skipped,
            trie,
            shape_slots,
            prefilter,
            scratch: Scratch::default(),
            correlator,
            alerts: Vec::new(),
            alerts_dropped: 0,
            observed: None,
            recognition,
        })
    }

    /// The rule table; [`crate::Finding::rule`] and [`Alert::rule`] index
    /// it. Detection rules come first, then correlation rules.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.info
    }

    /// Rules left out at load time (only with `Options::skip_invalid`).
    pub fn skipped(&self) -> &[RuleError] {
        &self.skipped
    }

    /// The example events rules carry (`sigil.tests`), for `sigil rules test`.
    pub fn rule_tests(&self) -> &[RuleTest] {
        &self.tests
    }

    /// The options the engine was loaded with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Facts about the compiled pack: how the prefilter sees it.
    pub fn stats(&self) -> EngineStats {
        EngineStats {
            rules: self.info.len(),
            fields: self.trie.slots() - 1,
            atoms: self.prefilter.atom_count(),
            unfiltered_rules: self.prefilter.always().len(),
            correlations: self.info.len() - self.rules.len(),
        }
    }

    /// Rules the prefilter cannot rule out by literals: they are evaluated
    /// on every event (after the log-source check), so they cost the most.
    /// `sigil rules check` lists them.
    pub fn unfiltered_rules(&self) -> &[u32] {
        self.prefilter.always()
    }

    /// The verdict for an event that matched nothing: what hosts write for
    /// events a batch did not return.
    pub fn no_match_verdict(&self) -> Verdict {
        Verdict {
            keep: self.options.keeps(false, 0),
            ..Verdict::default()
        }
    }

    /// Evaluates one event, a JSON object as UTF-8 bytes.
    ///
    /// When the pack has correlation rules, the event also feeds them (see
    /// the [`correlation`] module): the alerts it
    /// releases are kept for [`Engine::take_alerts`]. Rules that only feed
    /// correlations report no finding.
    ///
    /// # Errors
    ///
    /// [`EventError`] when the event is over a limit, or when it may match a
    /// rule and turns out not to be a valid JSON object. An event that the
    /// prefilter rules out is not parsed: only its brackets and strings are
    /// checked on the way (see the crate docs).
    pub fn evaluate(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        match self.evaluate_as_is(event) {
            Err(e) => self.read_repaired(event, e, Engine::evaluate_as_is),
            ok => ok,
        }
    }

    /// An event that cannot be read as it came is rewritten into the
    /// nearest one that can (`scan::repair`) and read again with `read`;
    /// its verdict carries the warnings. When nothing could be repaired, or
    /// the rewrite is still no event, the answer is the original `error`.
    fn read_repaired(
        &mut self,
        event: &[u8],
        error: EventError,
        read: fn(&mut Engine, &[u8]) -> Result<Verdict, EventError>,
    ) -> Result<Verdict, EventError> {
        let mut buf = std::mem::take(&mut self.scratch.repaired);
        let warnings = repair::repair(
            event,
            self.options.max_event_bytes as usize,
            self.options.max_depth,
            &mut buf,
        );
        // A leading byte-order mark is dropped without a warning: it is
        // not part of the event.
        let outcome = if warnings.is_empty() && buf.as_slice() == event {
            Err(error)
        } else {
            match read(self, &buf) {
                Ok(mut v) => {
                    v.warnings.splice(0..0, warnings);
                    Ok(v)
                }
                Err(_) => Err(error),
            }
        };
        self.scratch.repaired = buf;
        outcome
    }

    fn evaluate_as_is(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        self.evaluate_filtered(event, Mode::Stream)
    }

    fn evaluate_detached_as_is(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        self.evaluate_filtered(event, Mode::Detached)
    }

    /// Evaluates one event as it came against the rules the prefilter
    /// leaves, in `mode`.
    fn evaluate_filtered(&mut self, event: &[u8], mode: Mode) -> Result<Verdict, EventError> {
        if event.len() > self.options.max_event_bytes as usize {
            return Err(EventError::TooLarge(
                event.len().min(u32::MAX as usize) as u32
            ));
        }
        let mut candidates = std::mem::take(&mut self.scratch.candidates);
        self.prefilter
            .candidates(event, &mut self.scratch.prefilter, &mut candidates);
        let result = if candidates.is_empty() {
            Ok(self.no_match_verdict())
        } else {
            self.evaluate_candidates(event, &candidates, mode)
        };
        self.scratch.candidates = candidates;
        result
    }

    /// Evaluates one event against every rule, without the prefilter.
    ///
    /// The reference the prefilter is tested against: for every event,
    /// `evaluate` and `evaluate_unfiltered` must agree. Slower; not for
    /// production use.
    #[doc(hidden)]
    pub fn evaluate_unfiltered(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        match self.evaluate_unfiltered_as_is(event) {
            Err(e) => self.read_repaired(event, e, Engine::evaluate_unfiltered_as_is),
            ok => ok,
        }
    }

    fn evaluate_unfiltered_as_is(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        if event.len() > self.options.max_event_bytes as usize {
            return Err(EventError::TooLarge(
                event.len().min(u32::MAX as usize) as u32
            ));
        }
        let all: Vec<u32> = (0..self.rules.len() as u32).collect();
        self.evaluate_candidates(event, &all, Mode::Pure)
    }

    /// Every detection rule that matches `event`, including rules that only
    /// feed correlations (`generate: false`) and so report no finding;
    /// correlation state is left alone. For rule tests (`sigil rules test`).
    ///
    /// # Errors
    ///
    /// As [`Engine::evaluate`].
    pub fn matching_rules(&mut self, event: &[u8]) -> Result<Vec<u32>, EventError> {
        let verdict = match self.matching_rules_as_is(event) {
            Err(e) => self.read_repaired(event, e, Engine::matching_rules_as_is)?,
            Ok(v) => v,
        };
        Ok(verdict.findings.iter().map(|f| f.rule).collect())
    }

    fn matching_rules_as_is(&mut self, event: &[u8]) -> Result<Verdict, EventError> {
        if event.len() > self.options.max_event_bytes as usize {
            return Err(EventError::TooLarge(
                event.len().min(u32::MAX as usize) as u32
            ));
        }
        let all: Vec<u32> = (0..self.rules.len() as u32).collect();
        self.evaluate_candidates(event, &all, Mode::Raw)
    }

    fn evaluate_candidates(
        &mut self,
        event: &[u8],
        candidates: &[u32],
        mode: Mode,
    ) -> Result<Verdict, EventError> {
        let keywords = candidates.iter().any(|&c| self.rules[c as usize].keywords);
        let mut values = recycle(std::mem::take(&mut self.scratch.values));
        let outcome = extract::extract(
            event,
            &self.trie,
            keywords,
            self.options.max_depth,
            &mut values,
            &mut self.scratch.dups,
        );
        let verdict = match outcome {
            Err(e) => Err(e),
            Ok(()) => {
                // Stable: within a slot, values keep document order, which labels
                // (the first value) depend on.
                values.sort_by_key(|(s, _)| *s);
                self.scratch.ranges.index(&values);
                let ctx = Ctx {
                    values: &values,
                    ranges: &self.scratch.ranges,
                };
                let shape = logsource::detect(self.shape_slots.map(|s| ctx.values(s)));
                self.recognition.saw(shape.source);
                let mut findings = Vec::new();
                // Schemas whose rules were candidates, but not for this shape.
                let mut missed = 0u32;
                for &c in candidates {
                    let rule = &self.rules[c as usize];
                    let Some(variant) = rule.variant(shape) else {
                        if let Some(n) = rule.need {
                            missed |= 1 << n;
                        }
                        continue;
                    };
                    if !eval(&variant.expr, &ctx) {
                        continue;
                    }
                    let labels = labels(&variant.labels, &ctx);
                    let score = rule
                        .score_label
                        .and_then(|i| labels.iter().find(|(n, _)| *n == variant.labels[i].name))
                        .and_then(|(_, v)| v.parse().ok())
                        .unwrap_or(self.info[c as usize].score);
                    findings.push(Finding {
                        rule: c,
                        score,
                        labels,
                    });
                }
                if missed != 0 {
                    self.recognition.missed(missed, &ctx);
                }
                if let Some(corr) = self.correlator.as_deref_mut() {
                    match mode {
                        Mode::Stream => {
                            let before = self.alerts.len();
                            corr.observe(&findings, shape, &ctx, &mut self.alerts);
                            self.alerts_dropped +=
                                cap_untaken(&mut self.alerts, before, self.options.max_groups);
                        }
                        Mode::Detached => {
                            self.observed = Some(corr.prepare(&findings, shape, &ctx));
                        }
                        Mode::Pure | Mode::Raw => {}
                    }
                    if mode != Mode::Raw {
                        findings.retain(|f| corr.emits(f.rule));
                    }
                }
                let mut verdict = self.verdict(findings);
                verdict.source = shape.source;
                verdict.warnings.extend(
                    self.scratch
                        .dups
                        .keys
                        .drain(..)
                        .map(EventWarning::DuplicateKey),
                );
                Ok(verdict)
            }
        };
        self.scratch.values = recycle(values);
        verdict
    }

    fn verdict(&self, findings: Vec<Finding>) -> Verdict {
        let score = findings.iter().map(|f| f.score).max().unwrap_or(0);
        let level = findings
            .iter()
            .map(|f| self.info[f.rule as usize].level)
            .max();
        Verdict {
            keep: self.options.keeps(!findings.is_empty(), score),
            score,
            level,
            findings,
            source: None,
            warnings: Vec::new(),
        }
    }

    /// Evaluates every event of an NDJSON block; appends an entry to `out` for
    /// each event that matched or failed, and to `alerts` each correlation
    /// alert with the index of the event after which it came out; returns
    /// how many events the block held.
    ///
    /// Alerts left by earlier [`Engine::evaluate`] calls and not taken come
    /// out after the block's first event.
    pub fn evaluate_batch(
        &mut self,
        block: &[u8],
        out: &mut Vec<BatchEntry>,
        alerts: &mut Vec<BatchAlert>,
    ) -> u32 {
        let mut n = 0u32;
        for event in crate::scan::input::ndjson_events(block) {
            match self.evaluate(event) {
                Ok(v) if !v.matched() && v.warnings.is_empty() => {}
                outcome => out.push(BatchEntry { index: n, outcome }),
            }
            alerts.extend(
                self.alerts
                    .drain(..)
                    .map(|alert| BatchAlert { index: n, alert }),
            );
            n += 1;
        }
        n
    }

    /// Evaluates every event of an NDJSON block as [`Engine::evaluate_batch`]
    /// does, but touches no correlation state: what each parsed event brings
    /// to correlation is appended to `observations` instead, with the
    /// event's position in the block, for [`Engine::correlate`] (of this
    /// engine or another loaded with the same rules and options).
    ///
    /// The entries are exactly those of `evaluate_batch` (rules that only
    /// feed correlations report no finding here either). An observation is
    /// made for every event the engine parses, matched or not, because its
    /// time moves the watermark; events the prefilter rules out make none,
    /// as they move nothing. A pack without correlation rules makes none.
    /// Returns how many events the block held.
    ///
    /// Blocks of one stream may so be evaluated by several engines at once;
    /// feeding all their observations to one engine's `correlate` in stream
    /// order gives the alerts one engine would give reading the stream with
    /// `evaluate_batch`, after the same events.
    pub fn evaluate_batch_detached(
        &mut self,
        block: &[u8],
        out: &mut Vec<BatchEntry>,
        observations: &mut Vec<(u32, Observation)>,
    ) -> u32 {
        let mut n = 0u32;
        for event in crate::scan::input::ndjson_events(block) {
            self.observed = None;
            let outcome = match self.evaluate_detached_as_is(event) {
                Err(e) => self.read_repaired(event, e, Engine::evaluate_detached_as_is),
                ok => ok,
            };
            match outcome {
                Ok(v) if !v.matched() && v.warnings.is_empty() => {}
                outcome => out.push(BatchEntry { index: n, outcome }),
            }
            if let Some(obs) = self.observed.take() {
                observations.push((n, obs));
            }
            n += 1;
        }
        n
    }

    /// Applies observations made by [`Engine::evaluate_batch_detached`], in
    /// the order given (the stream's), to this engine's correlation state;
    /// appends each alert to `alerts` with the index paired with the
    /// observation after which it came out. Alerts left by earlier
    /// [`Engine::evaluate`] calls and not taken come out after the first
    /// observation.
    ///
    /// Applying the observations of a block is what `evaluate_batch` does
    /// to correlation while it evaluates the block: same windows, same
    /// watermark, same alerts after the same events, same
    /// [`CorrelationStats`]. Without correlation rules this does nothing.
    ///
    /// # Errors
    ///
    /// [`ObservationError::OtherPack`] when an observation names a
    /// correlation, position or column this engine's rules lack (it was
    /// made by an engine with other rules, or its bytes were forged). It
    /// is refused whole before it touches any state; the observations
    /// before it stay applied and their alerts are in `alerts`, the ones
    /// after it are not applied.
    pub fn correlate(
        &mut self,
        observations: impl IntoIterator<Item = (u32, Observation)>,
        alerts: &mut Vec<BatchAlert>,
    ) -> Result<(), ObservationError> {
        let Some(corr) = self.correlator.as_deref_mut() else {
            return Ok(());
        };
        for (index, obs) in observations {
            if !corr.fits(&obs) {
                return Err(ObservationError::OtherPack);
            }
            let before = self.alerts.len();
            corr.apply(obs, &mut self.alerts);
            self.alerts_dropped += cap_untaken(&mut self.alerts, before, self.options.max_groups);
            alerts.extend(
                self.alerts
                    .drain(..)
                    .map(|alert| BatchAlert { index, alert }),
            );
        }
        Ok(())
    }

    /// The correlation alerts produced by [`Engine::evaluate`] since the last
    /// call (oldest first). `evaluate_batch`, `advance` and `flush` return
    /// theirs directly. Untaken alerts are kept up to `Options::max_groups`;
    /// older ones are dropped and counted in
    /// [`CorrelationStats::alerts_dropped`].
    pub fn take_alerts(&mut self) -> Vec<Alert> {
        std::mem::take(&mut self.alerts)
    }

    /// Moves the correlation watermark to `watermark_ms` (milliseconds since
    /// the epoch): the host says no event older than that will come. Every
    /// waiting match older than it is committed; returns the alerts that
    /// completes (after any untaken ones). A watermark behind the current one
    /// changes nothing.
    pub fn advance(&mut self, watermark_ms: i64) -> Vec<Alert> {
        let mut out = self.take_alerts();
        if let Some(c) = self.correlator.as_deref_mut() {
            c.advance(watermark_ms, &mut out);
        }
        out
    }

    /// Ends the stream for correlation: commits every waiting match, returns
    /// the alerts that completes (after any untaken ones), then closes every
    /// window. The next event starts a fresh stream. Hosts call it at the end
    /// of their input.
    pub fn flush(&mut self) -> Vec<Alert> {
        let mut out = self.take_alerts();
        if let Some(c) = self.correlator.as_deref_mut() {
            c.flush(&mut out);
        }
        out
    }

    /// The SIEM schemas the loaded rules are written for (`sigil.schema`):
    /// what marks each one's rows, where their time is read, which raw
    /// sources they also run on, and which rules. `sigil rules check`
    /// shows it.
    pub fn schemas(&self) -> Vec<SchemaUse> {
        self.recognition.schemas()
    }

    /// Rules that never ran: those written for a schema none of whose
    /// sources (its rows, or a raw source it maps from) any event evaluated
    /// so far was recognised as, one entry per schema, with the nearest
    /// thing seen. Hosts say it at the end of a run, for rules silently
    /// never run are otherwise indistinguishable from rules that found
    /// nothing. Several engines that shared a stream ran no rule of a
    /// schema that each of them lists.
    pub fn unrecognised(&self) -> Vec<Unrecognised> {
        self.recognition
            .unrecognised(&|slot| self.trie.path(slot).to_string())
    }

    /// Counters of the correlation state (all zero without correlation rules).
    pub fn correlation_stats(&self) -> CorrelationStats {
        let mut stats = self
            .correlator
            .as_deref()
            .map(Correlator::stats)
            .unwrap_or_default();
        stats.alerts_dropped = self.alerts_dropped;
        stats
    }
}

/// Facts about a compiled rule pack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineStats {
    /// Rules loaded.
    pub rules: usize,
    /// Distinct field paths the rules read.
    pub fields: usize,
    /// Distinct facts the prefilter checks on raw events (see the crate docs).
    pub atoms: usize,
    /// Rules from which no literal could be derived: evaluated on every event.
    pub unfiltered_rules: usize,
    /// Correlation rules loaded (counted in `rules` too).
    pub correlations: usize,
}

/// Keeps the newest of the untaken `alerts` (those from `before` on were
/// just made), as many as there may be groups (`max_groups`): nobody took
/// the alerts of earlier calls. Returns how many were dropped.
fn cap_untaken(alerts: &mut Vec<Alert>, before: usize, max_groups: u32) -> u64 {
    let cap = max_groups.max(1) as usize;
    if alerts.len() > cap && alerts.len() > before {
        let excess = alerts.len() - cap;
        alerts.drain(..excess);
        excess as u64
    } else {
        0
    }
}

/// Whether a rule for `product` may run on an event of `detected` product.
fn gate(product: Option<&str>, detected: Option<Product>) -> bool {
    match (product, detected) {
        (Some(p), Some(d)) => p == d.name(),
        _ => true,
    }
}

fn uses_keywords(e: &Expr) -> bool {
    match e {
        Expr::Keywords(_) => true,
        Expr::Field(_) => false,
        Expr::Not(i) => uses_keywords(i),
        Expr::And(v) | Expr::Or(v) | Expr::AtLeast(_, v) => v.iter().any(uses_keywords),
    }
}

/// Reuses a vector's allocation for values of another lifetime. The vector
/// is emptied first, so no value outlives its event; the standard library
/// collects in place when element layouts agree, as they do here.
fn recycle<'b>(mut v: Vec<(u32, Val<'_>)>) -> Vec<(u32, Val<'b>)> {
    v.clear();
    v.into_iter()
        .map(|_| unreachable!("the vector is empty"))
        .collect()
}

struct Ctx<'v, 'a> {
    /// Sorted by slot.
    values: &'v [(u32, Val<'a>)],
    /// Where each slot's values are in `values`.
    ranges: &'v SlotRanges,
}

impl<'a> Lookup<'a> for Ctx<'_, 'a> {
    fn values(&self, slot: u32) -> &[(u32, Val<'a>)] {
        match self.ranges.ranges.get(slot as usize) {
            Some(r) if r.stamp == self.ranges.stamp => {
                &self.values[r.start as usize..r.end as usize]
            }
            _ => &[],
        }
    }
}

/// Where each slot's values are in one event's sorted values, so that a
/// lookup takes constant time. A candidate event has dozens of lookups
/// (the logsource shape's fields, then every condition of every candidate
/// rule), and two binary searches each were loops, which the WebAssembly
/// build pays an epoch check per turn for.
///
/// Entries are stamped with the event they belong to rather than cleared:
/// an entry with another stamp means the slot has no value.
#[derive(Clone, Debug, Default)]
struct SlotRanges {
    ranges: Vec<SlotRange>,
    stamp: u32,
}

#[derive(Clone, Copy, Debug, Default)]
struct SlotRange {
    stamp: u32,
    start: u32,
    end: u32,
}

impl SlotRanges {
    /// Records the ranges of `values`, sorted by slot, for a new event.
    fn index(&mut self, values: &[(u32, Val<'_>)]) {
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            // Stamps have wrapped: no old entry may look current.
            self.ranges.fill(SlotRange::default());
            self.stamp = 1;
        }
        for (i, &(slot, _)) in values.iter().enumerate() {
            let slot = slot as usize;
            if slot >= self.ranges.len() {
                self.ranges.resize(slot + 1, SlotRange::default());
            }
            let r = &mut self.ranges[slot];
            let i = i as u32;
            if r.stamp == self.stamp {
                r.end = i + 1;
            } else {
                *r = SlotRange {
                    stamp: self.stamp,
                    start: i,
                    end: i + 1,
                };
            }
        }
    }
}

/// The labels of a finding, in the rule's order; labels without a value
/// are left out.
fn labels(labels: &[Label], ctx: &Ctx<'_, '_>) -> Vec<(String, String)> {
    labels
        .iter()
        .filter_map(|l| Some((l.name.clone(), l.value(ctx, &|e| eval(e, ctx))?)))
        .collect()
}

fn eval(e: &Expr, ctx: &Ctx<'_, '_>) -> bool {
    match e {
        Expr::Field(fc) => fc.eval(ctx.values(fc.slot), ctx),
        Expr::Keywords(fc) => fc.eval(ctx.values(KEYWORDS), ctx),
        Expr::Not(i) => !eval(i, ctx),
        Expr::And(v) => v.iter().all(|i| eval(i, ctx)),
        Expr::Or(v) => v.iter().any(|i| eval(i, ctx)),
        Expr::AtLeast(n, v) => v.iter().filter(|i| eval(i, ctx)).take(*n).count() >= *n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup<'v, 'a>(values: &'v [(u32, Val<'a>)], ranges: &'v SlotRanges, slot: u32) -> Vec<f64> {
        let ctx = Ctx { values, ranges };
        ctx.values(slot)
            .iter()
            .map(|(s, v)| {
                assert_eq!(*s, slot);
                v.number().expect("numbers only")
            })
            .collect()
    }

    #[test]
    fn slot_ranges_answer_for_the_current_event_only() {
        let mut ranges = SlotRanges::default();
        let first = [
            (0, Val::Num(1.0)),
            (2, Val::Num(2.0)),
            (2, Val::Num(3.0)),
            (5, Val::Num(4.0)),
        ];
        ranges.index(&first);
        assert_eq!(lookup(&first, &ranges, 0), [1.0]);
        assert_eq!(lookup(&first, &ranges, 1), [0.0; 0]);
        assert_eq!(lookup(&first, &ranges, 2), [2.0, 3.0]);
        assert_eq!(lookup(&first, &ranges, 5), [4.0]);
        assert_eq!(lookup(&first, &ranges, 9), [0.0; 0]);

        // The next event has none of slot 0 or 5: their old ranges must not show.
        let second = [(2, Val::Num(7.0))];
        ranges.index(&second);
        assert_eq!(lookup(&second, &ranges, 0), [0.0; 0]);
        assert_eq!(lookup(&second, &ranges, 2), [7.0]);
        assert_eq!(lookup(&second, &ranges, 5), [0.0; 0]);

        // Nor after the stamps wrap around (to 1, which `first` is
        // stamped with here).
        ranges.stamp = 0;
        ranges.index(&first);
        ranges.stamp = u32::MAX;
        ranges.index(&second);
        assert_eq!(ranges.stamp, 1);
        assert_eq!(lookup(&second, &ranges, 0), [0.0; 0]);
        assert_eq!(lookup(&second, &ranges, 2), [7.0]);
        ranges.index(&[]);
        assert_eq!(lookup(&[], &ranges, 2), [0.0; 0]);
    }
}
