//! The wasmtime side: compiling a plugin component and running instances of it.

use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use sigil_engine::input::ndjson_events;
use sigil_engine::{
    Alert, BatchAlert, CorrelationStats, EventError, Level, LoadError, Observation, Options,
    RuleError, RuleInfo, RuleSource, SchemaUse, Source, Unrecognised, Verdict,
};
use wasmtime::component::{Component, Linker, ResourceAny};
use wasmtime::{Config, Store, StoreLimits, StoreLimitsBuilder, Trap};

use crate::batch::{Batch, BatchEntry, Detached, Failure, Fault, Observations, Observed};
use crate::compile_cache::CacheOutcome;
use crate::config::{FuelLimits, HostConfig};
use crate::error::Error;

mod bindings {
    wasmtime::component::bindgen!({
        world: "plugin",
        path: "../wit",
    });
}

use bindings::exports::sigil::engine::detector as witd;
use bindings::exports::sigil::engine::types as wit;

/// The interface a plugin must export, as `wit/` names it: the package
/// version is part of the name, so a plugin built against another version
/// of the contract is refused by name, before any call.
const DETECTOR_INTERFACE: &str = "sigil:engine/detector@0.2.0";

/// Refuses a component that does not export [`DETECTOR_INTERFACE`], naming
/// what it exports instead.
fn check_exports(component: &Component, engine: &wasmtime::Engine) -> Result<(), Error> {
    let exports: Vec<String> = component
        .component_type()
        .exports(engine)
        .map(|(name, _)| name.to_string())
        .collect();
    if exports.iter().any(|e| e == DETECTOR_INTERFACE) {
        return Ok(());
    }
    let (family, _) = DETECTOR_INTERFACE
        .split_once('@')
        .unwrap_or((DETECTOR_INTERFACE, ""));
    let reason = match exports.iter().find(|e| e.starts_with(family)) {
        Some(other) => format!(
            "it exports {other}, another version of the contract than this sigil's \
             {DETECTOR_INTERFACE}; rebuild the plugin against this sigil's wit/"
        ),
        None if exports.is_empty() => format!(
            "it exports nothing; a sigil plugin exports {DETECTOR_INTERFACE} (the `plugin` \
             world of wit/world.wit)"
        ),
        None => format!(
            "it exports {} but not {DETECTOR_INTERFACE}; a sigil plugin implements the \
             `plugin` world of wit/world.wit",
            exports.join(", ")
        ),
    };
    Err(Error::InvalidPlugin(reason))
}

/// What a plugin's store holds: only its limits (no WASI context, nothing
/// the guest could reach).
struct State {
    limits: StoreLimits,
}

/// A compiled plugin component, ready to be instantiated.
///
/// Compiling is the slow step (tens to hundreds of milliseconds); a
/// [`Session`] is cheap. Cloning a `Plugin` shares the compiled code.
///
/// Under deadlines (the default, see [`HostConfig`]) a plugin owns a timer
/// thread that ticks its engine's epoch; the thread stops when the last
/// clone of the plugin, and every [`Session`] made from it, is dropped.
#[derive(Clone)]
pub struct Plugin {
    engine: wasmtime::Engine,
    component: Component,
    pre: bindings::PluginPre<State>,
    config: HostConfig,
    cache: CacheOutcome,
    /// The epoch timer; `None` under fuel metering.
    _ticker: Option<Arc<Ticker>>,
}

impl Plugin {
    /// Compiles a component (binary) and checks that it is a sigil plugin
    /// that imports nothing.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidPlugin`] when the bytes are not a component, when it
    /// imports anything (the host links no capability at all), or when it
    /// does not export the `sigil:engine/detector` interface;
    /// [`Error::Timer`] when the deadline timer thread cannot be started.
    pub fn new(wasm: &[u8], config: HostConfig) -> Result<Plugin, Error> {
        Plugin::compile(wasm, config)
    }

    /// [`Plugin::new`] for a plugin from elsewhere, pinned by its digest:
    /// the bytes' SHA-256 must be `sha256_hex` (64 hex digits, any case)
    /// before anything is compiled. A plugin is code from a stranger; the
    /// sandbox bounds what it can do, the digest says it is the one you
    /// reviewed.
    ///
    /// # Errors
    ///
    /// [`Error::DigestMismatch`] when the digests differ (or `sha256_hex`
    /// is not a digest), then as [`Plugin::new`].
    pub fn new_pinned(wasm: &[u8], sha256_hex: &str, config: HostConfig) -> Result<Plugin, Error> {
        use sha2::Digest as _;
        let actual: String = sha2::Sha256::digest(wasm)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let expected = sha256_hex.trim().to_ascii_lowercase();
        if actual != expected {
            return Err(Error::DigestMismatch { expected, actual });
        }
        Plugin::compile(wasm, config)
    }

    fn compile(wasm: &[u8], config: HostConfig) -> Result<Plugin, Error> {
        // A core module (version 1 of the binary format) is the most common
        // wrong file: the build's output before `wasm-tools component new`.
        if wasm.starts_with(b"\0asm") && wasm.get(4..8) == Some(&[1, 0, 0, 0][..]) {
            return Err(Error::InvalidPlugin(
                "this is a core WebAssembly module, not a component; wrap it with \
                 `wasm-tools component new` as scripts/build-component does"
                    .into(),
            ));
        }
        let mut wasm_config = Config::new();
        // Either counter is compiled into the guest's code, so the choice
        // is made per engine.
        match config.fuel {
            Some(_) => wasm_config.consume_fuel(true),
            None => wasm_config.epoch_interruption(true),
        };
        let engine = wasmtime::Engine::new(&wasm_config)
            .map_err(|e| Error::InvalidPlugin(format!("{e:#}")))?;
        let (component, cache) = match &config.compile_cache {
            Some(dir) => crate::compile_cache::load(&engine, wasm, dir),
            None => Component::new(&engine, wasm).map(|c| (c, CacheOutcome::Unused)),
        }
        .map_err(|e| Error::InvalidPlugin(format!("{e:#}")))?;
        let imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_string())
            .collect();
        if !imports.is_empty() {
            return Err(Error::InvalidPlugin(format!(
                "the component imports {}; a sigil plugin must import nothing",
                imports.join(", ")
            )));
        }
        check_exports(&component, &engine)?;
        // The linker stays empty: nothing is offered to the guest.
        let linker = Linker::<State>::new(&engine);
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| Error::InvalidPlugin(format!("{e:#}")))?;
        // The names are right (checked above); the types may still differ,
        // e.g. a plugin built from an edited copy of wit/.
        let pre = bindings::PluginPre::new(pre).map_err(|e| {
            Error::InvalidPlugin(format!(
                "its {DETECTOR_INTERFACE} does not match this sigil's ({e:#}); rebuild the \
                 plugin against this sigil's wit/"
            ))
        })?;
        let ticker = match config.fuel {
            Some(_) => None,
            None => {
                let engine = engine.clone();
                let ticker =
                    Ticker::spawn(HostConfig::EPOCH_TICK, move || engine.increment_epoch())
                        .map_err(Error::Timer)?;
                Some(Arc::new(ticker))
            }
        };
        Ok(Plugin {
            engine,
            component,
            pre,
            config,
            cache,
            _ticker: ticker,
        })
    }

    /// Whether the compiled code came from the compile cache
    /// ([`HostConfig::compile_cache`]).
    pub fn cache_outcome(&self) -> CacheOutcome {
        self.cache
    }

    /// Grants the next call on `store` the budget of a call over `bytes`
    /// of events.
    fn arm_call(&self, store: &mut Store<State>, bytes: usize) -> wasmtime::Result<()> {
        match &self.config.fuel {
            Some(fuel) => store.set_fuel(fuel.call_fuel(bytes)),
            None => {
                store.set_epoch_deadline(ticks(self.config.call_deadline(bytes)));
                Ok(())
            }
        }
    }

    /// Grants the next call on `store` the budget of a rule-pack load.
    fn arm_load(&self, store: &mut Store<State>) -> wasmtime::Result<()> {
        match &self.config.fuel {
            Some(FuelLimits { per_load, .. }) => store.set_fuel(*per_load),
            None => {
                store.set_epoch_deadline(ticks(Duration::from_millis(self.config.load_ms)));
                Ok(())
            }
        }
    }

    /// Compiles the embedded default plugin, [`crate::BUILTIN_COMPONENT`].
    ///
    /// # Errors
    ///
    /// As [`Plugin::new`]; only if the build embedded a broken component.
    pub fn builtin(config: HostConfig) -> Result<Plugin, Error> {
        Plugin::new(crate::BUILTIN_COMPONENT, config)
    }

    /// The names of the component's imports: empty for every plugin this
    /// type accepts (kept for tests and diagnostics).
    pub fn imports(&self) -> Vec<String> {
        self.component
            .component_type()
            .imports(&self.engine)
            .map(|(name, _)| name.to_string())
            .collect()
    }

    /// The limits instances get.
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Instantiates the plugin and loads `rules` into it.
    ///
    /// # Errors
    ///
    /// [`Error::Load`] when the pack is refused (as the native engine would
    /// refuse it), [`Error::PluginLoad`] for a refusal the engine type cannot
    /// express, [`Error::PluginFailed`] when instantiation or `load` traps or
    /// exceeds its time ([`HostConfig::load_ms`]), fuel or memory.
    pub fn session(&self, rules: &[RuleSource], options: &Options) -> Result<Session, Error> {
        let sources: Vec<wit::RuleSource> = rules
            .iter()
            .map(|r| wit::RuleSource {
                name: r.name.clone(),
                text: r.text.clone(),
            })
            .collect();
        let instance = Instance::new(self, &sources, options)?;
        Ok(Session {
            plugin: self.clone(),
            sources,
            options: options.clone(),
            instance,
            restarts: 0,
            correlation_resets: 0,
            faults: Vec::new(),
        })
    }
}

/// One live instance with a rule pack loaded.
struct Instance {
    store: Store<State>,
    bindings: bindings::Plugin,
    engine: ResourceAny,
    rules: Vec<RuleInfo>,
    skipped: Vec<RuleError>,
    /// Correlation rules loaded: whether a restart loses state.
    correlations: u32,
}

impl Instance {
    fn new(
        plugin: &Plugin,
        sources: &[wit::RuleSource],
        options: &Options,
    ) -> Result<Instance, Error> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(plugin.config.max_memory)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&plugin.engine, State { limits });
        store.limiter(|s| &mut s.limits);
        // Bounds every copy out of the guest, per call: what a plugin
        // returns cannot make the host allocate more than this.
        store.set_hostcall_fuel(plugin.config.max_answer_bytes);
        let failed = |e: wasmtime::Error| Error::PluginFailed(describe_load(&e, &plugin.config));
        plugin.arm_load(&mut store).map_err(failed)?;
        let bindings = plugin.pre.instantiate(&mut store).map_err(failed)?;
        let guest = bindings.sigil_engine_detector().engine();
        let engine = match guest
            .call_load(&mut store, sources, &wit_options(options))
            .map_err(failed)?
        {
            Ok(engine) => engine,
            Err(e) => return Err(load_error(e)),
        };
        let rules = guest.call_rules(&mut store, engine).map_err(failed)?;
        let rules = checked_rules(rules, &plugin.config).map_err(Error::PluginFailed)?;
        let skipped = guest.call_skipped(&mut store, engine).map_err(failed)?;
        let skipped = skipped.into_iter().map(rule_error).collect();
        let correlations = guest
            .call_correlation_stats(&mut store, engine)
            .map_err(failed)?
            .correlations;
        Ok(Instance {
            store,
            bindings,
            engine,
            rules,
            skipped,
            correlations,
        })
    }
}

/// A plugin instance with a rule pack loaded, evaluating events under the
/// plugin's limits. A failed instance is replaced transparently (see
/// [`Session::evaluate_batch`]).
///
/// Nothing the plugin returns is trusted: every answer is checked (see
/// [`Session::evaluate_batch`]) and one that breaks the contract is handled
/// as a trap. Each cause is kept, with how often it happened
/// ([`Session::faults`]).
///
/// Correlation windows live in the instance: a replaced instance starts with
/// none, so a sequence that spans the failure is not found. Such losses are
/// counted by [`Session::correlation_resets`].
pub struct Session {
    plugin: Plugin,
    sources: Vec<wit::RuleSource>,
    options: Options,
    instance: Instance,
    restarts: u64,
    correlation_resets: u64,
    faults: Vec<Fault>,
}

/// Distinct fault causes a session keeps; later new causes are counted
/// under the last one, so a plugin cannot grow the list without bound.
const MAX_FAULT_CAUSES: usize = 16;

impl Session {
    /// The rule table; `Finding::rule` indexes it.
    pub fn rules(&self) -> &[RuleInfo] {
        &self.instance.rules
    }

    /// Rules left out at load time because they were invalid.
    pub fn skipped(&self) -> &[RuleError] {
        &self.instance.skipped
    }

    /// The options the pack was loaded with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// How many times the instance was replaced after a failed call.
    pub fn restarts(&self) -> u64 {
        self.restarts
    }

    /// How many of those replacements threw correlation state away (the
    /// pack has correlation rules).
    pub fn correlation_resets(&self) -> u64 {
        self.correlation_resets
    }

    /// Why calls failed, each cause once with how many calls it failed, in
    /// the order first seen (at most 16 causes; further new ones are
    /// counted in the last, renamed to say so).
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Records one failed call.
    fn fault(&mut self, cause: &str) {
        if let Some(f) = self.faults.iter_mut().find(|f| f.cause == cause) {
            f.count += 1;
        } else if self.faults.len() < MAX_FAULT_CAUSES {
            self.faults.push(Fault {
                cause: cause.to_string(),
                count: 1,
            });
        } else if let Some(last) = self.faults.last_mut() {
            last.cause = "other causes (more than 16 kinds of failure)".into();
            last.count += 1;
        }
    }

    /// Evaluates a block of NDJSON in one call: how many events it held, an
    /// entry per event that matched or failed, and the correlation alerts
    /// that came out, each in index order.
    ///
    /// The call gets [`HostConfig::call_deadline`] (or, under fuel,
    /// [`FuelLimits::call_fuel`]) for the block's size. Its answer is
    /// checked: it must count the block's events; name each event at most
    /// once, in order, within the block; name rules of the rule table, each
    /// at most once per verdict and in table order; keep scores within 0 to
    /// 100 and each verdict's score, level and `keep` what its findings and
    /// the options make them; stay within [`HostConfig::max_answer_bytes`]
    /// and [`HostConfig::max_string_bytes`].
    ///
    /// If the call traps, runs out of time, fuel or memory, or its answer
    /// fails a check, the instance is replaced by a fresh one (same rules,
    /// empty correlation windows) and the block is evaluated again event by
    /// event, each event with its own budget and the same checks: only the
    /// events that fail alone get a [`Failure::Plugin`] entry. After
    /// [`HostConfig::max_failures_in_a_row`] failures in a row, the rest of
    /// the block is not retried: its events get a [`Failure::Plugin`] entry
    /// saying so. Every event of the block gets exactly one answer either
    /// way.
    ///
    /// # Errors
    ///
    /// [`Error::PluginFailed`] (or a load error) only when a fresh instance
    /// cannot be made.
    pub fn evaluate_batch(&mut self, block: &[u8]) -> Result<Batch, Error> {
        self.evaluate::<Batch>(block)
    }

    /// Evaluates a block as [`Session::evaluate_batch`] does (same entries,
    /// same checks, same retry event by event after a failure: each event
    /// alone by `evaluate-batch-detached`, and if that fails too by
    /// `evaluate`, whose verdict comes without observation) but touches
    /// no correlation state: what the block's events bring to correlation
    /// comes back as [`Observations`], for the [`Session::correlate`] of
    /// the session that correlates the stream. The observations are the
    /// plugin's bytes, not read here; their indexes are checked (strictly
    /// increasing, within the block).
    ///
    /// Since such an instance holds no correlation state, replacing it
    /// loses none ([`Session::correlation_resets`] does not count it).
    ///
    /// # Errors
    ///
    /// As [`Session::evaluate_batch`].
    pub fn evaluate_detached(&mut self, block: &[u8]) -> Result<Detached, Error> {
        self.evaluate::<Detached>(block)
    }

    /// A block in one call of `B`'s kind, or, if that fails, event by
    /// event (see [`Session::evaluate_batch`]).
    fn evaluate<B: BlockCall>(&mut self, block: &[u8]) -> Result<B, Error> {
        let expected = ndjson_events(block).count() as u32;
        let cause = match self.checked_block::<B>(block, expected) {
            Ok(answer) => return Ok(answer),
            Err(cause) => cause,
        };
        self.fault(&cause);
        self.restart(B::HOLDS_STATE)?;
        let mut answer = B::empty(expected);
        let give_up = self.plugin.config.max_failures_in_a_row;
        let mut in_a_row = 0u32;
        let mut last_cause = cause;
        for (index, event) in ndjson_events(block).enumerate() {
            let index = index as u32;
            if give_up > 0 && in_a_row >= give_up {
                answer.entries().push(BatchEntry {
                    index,
                    outcome: Err(Failure::Plugin(format!(
                        "not evaluated: the plugin failed {in_a_row} events in a row before \
                         this one, the last with \"{last_cause}\", so the rest of its block \
                         was not retried"
                    ))),
                });
                continue;
            }
            match answer.retry_one(self, index, event)? {
                Ok(()) => in_a_row = 0,
                Err(reason) => {
                    in_a_row += 1;
                    self.fault(&reason);
                    answer.entries().push(BatchEntry {
                        index,
                        outcome: Err(Failure::Plugin(reason.clone())),
                    });
                    last_cause = reason;
                    self.restart(B::HOLDS_STATE)?;
                }
            }
        }
        Ok(answer)
    }

    /// Applies observations made by [`Session::evaluate_detached`] (of
    /// this session or another of the same plugin, rules and options) to
    /// this instance's correlation state; returns the alerts that came out,
    /// each with the index of the observed event after which it did, in
    /// order. Called once per block, in stream order, it gives what
    /// [`Session::evaluate_batch`] over the stream gives.
    ///
    /// The call gets the budget of a rule-pack load, as
    /// [`Session::advance`] does. Its answer is checked: every alert
    /// names one of the observed events, in order, and passes the checks
    /// of an alert. If the call traps, runs out of time, fuel or memory,
    /// refuses the observations (a typed `observation-error`) or its answer
    /// fails a check, that is a fault: the instance is replaced (its
    /// correlation state is lost and counted) and the observations are
    /// applied again one at a time, so only those that fail alone are lost,
    /// up to [`HostConfig::max_failures_in_a_row`] failures in a row. The
    /// events themselves keep their verdicts: only correlation can lose.
    ///
    /// # Errors
    ///
    /// [`Error::PluginFailed`] (or a load error) only when a fresh instance
    /// cannot be made.
    pub fn correlate(&mut self, observations: Observations) -> Result<Vec<BatchAlert>, Error> {
        // Nothing observed changes nothing (see `sigil_engine::Engine::correlate`):
        // no call, so a pack without correlation rules pays nothing.
        if observations.is_empty() {
            return Ok(Vec::new());
        }
        let whole = match observations.0 {
            Observed::Encoded { events, bytes } => Observed::wit(events, bytes),
            Observed::Native(native) => {
                let mut bytes = Vec::new();
                let events = native
                    .iter()
                    .map(|(index, obs)| {
                        obs.encode(&mut bytes);
                        *index
                    })
                    .collect();
                Observed::wit(events, bytes)
            }
        };
        let cause = match self.call_correlate(&whole) {
            Ok(alerts) => return Ok(alerts),
            Err(cause) => cause,
        };
        self.fault(&cause);
        self.restart(true)?;
        let mut alerts = Vec::new();
        let give_up = self.plugin.config.max_failures_in_a_row;
        let mut in_a_row = 0u32;
        let mut rest = &whole.bytes[..];
        for &index in &whole.events {
            if give_up > 0 && in_a_row >= give_up {
                break;
            }
            // Only this retry reads the bytes, to find where each
            // observation ends.
            let split = Observation::decode(rest)
                .ok()
                .and_then(|(_, used)| rest.split_at_checked(used));
            let Some((one, tail)) = split else {
                self.fault(
                    "plugin broke the protocol: its observations do not decode; the rest of \
                     the block was not correlated",
                );
                break;
            };
            rest = tail;
            let one = Observed::wit(vec![index], one.to_vec());
            match self.call_correlate(&one) {
                Ok(a) => {
                    in_a_row = 0;
                    alerts.extend(a);
                }
                Err(reason) => {
                    in_a_row += 1;
                    self.fault(&reason);
                    self.restart(true)?;
                }
            }
        }
        Ok(alerts)
    }

    /// Moves the correlation watermark (see `sigil_engine::Engine::advance`).
    /// If the call fails, the instance is replaced (its correlation state
    /// and the alerts are lost, and counted) and no alert is returned.
    ///
    /// # Errors
    ///
    /// [`Error::PluginFailed`] only when a fresh instance cannot be made.
    pub fn advance(&mut self, watermark_ms: i64) -> Result<Vec<Alert>, Error> {
        let result = self
            .call_alerts(|guest, store, engine| guest.call_advance(store, engine, watermark_ms));
        self.alerts_or_restart(result)
    }

    /// Ends the stream for correlation (see `sigil_engine::Engine::flush`);
    /// a failed call is handled as in [`Session::advance`].
    ///
    /// # Errors
    ///
    /// [`Error::PluginFailed`] only when a fresh instance cannot be made.
    pub fn flush(&mut self) -> Result<Vec<Alert>, Error> {
        let result = self.call_alerts(|guest, store, engine| guest.call_flush(store, engine));
        self.alerts_or_restart(result)
    }

    /// Counters of the current instance's correlation state (zero if the
    /// call fails).
    pub fn correlation_stats(&mut self) -> CorrelationStats {
        let inst = &mut self.instance;
        if self.plugin.arm_load(&mut inst.store).is_err() {
            return CorrelationStats::default();
        }
        let guest = inst.bindings.sigil_engine_detector().engine();
        match guest.call_correlation_stats(&mut inst.store, inst.engine) {
            Ok(s) => CorrelationStats {
                correlations: s.correlations,
                open_groups: s.open_groups,
                pending: s.pending,
                bytes: s.bytes,
                alerts: s.alerts,
                late_events: s.late_events,
                late_by_rule: s.late_by_rule,
                max_late_lag_ms: s.max_late_lag_ms,
                duplicate_events: s.duplicate_events,
                untimed_events: s.untimed_events,
                ungrouped_events: s.ungrouped_events,
                evicted_groups: s.evicted_groups,
                dropped_entries: s.dropped_entries,
                forced_commits: s.forced_commits,
                fanout_truncated: s.fanout_truncated,
                alerts_dropped: s.alerts_dropped,
            },
            Err(_) => CorrelationStats::default(),
        }
    }

    /// The schemas whose rules never ran (see
    /// `sigil_engine::Engine::unrecognised`), as the current instance saw
    /// the events since it started; empty if the call fails. Entries that
    /// break the protocol (an unknown source, a rule index out of the rule
    /// table, a string over `--max-string-bytes`) are left out.
    pub fn unrecognised(&mut self) -> Vec<Unrecognised> {
        let inst = &mut self.instance;
        if self.plugin.arm_load(&mut inst.store).is_err() {
            return Vec::new();
        }
        let guest = inst.bindings.sigil_engine_detector().engine();
        let Ok(list) = guest.call_unrecognised(&mut inst.store, inst.engine) else {
            return Vec::new();
        };
        let rules = inst.rules.len();
        let max = self.plugin.config.max_string_bytes;
        list.into_iter()
            .filter_map(|u| checked_unrecognised(u, rules, max))
            .collect()
    }

    fn alerts_or_restart(
        &mut self,
        result: Result<Vec<Alert>, String>,
    ) -> Result<Vec<Alert>, Error> {
        match result {
            Ok(alerts) => Ok(alerts),
            Err(cause) => {
                self.fault(&cause);
                self.restart(true)?;
                Ok(Vec::new())
            }
        }
    }

    /// A call that returns alerts: `advance` and `flush` get the budget of a
    /// rule-pack load, since they may apply every waiting match at once
    /// (work bounded by the correlation limits, not by any input size).
    fn call_alerts(
        &mut self,
        call: impl FnOnce(
            witd::GuestEngine<'_>,
            &mut Store<State>,
            ResourceAny,
        ) -> wasmtime::Result<Vec<wit::Alert>>,
    ) -> Result<Vec<Alert>, String> {
        let config = &self.plugin.config;
        let inst = &mut self.instance;
        self.plugin
            .arm_load(&mut inst.store)
            .map_err(|e| describe(&e, config))?;
        let guest = inst.bindings.sigil_engine_detector().engine();
        let alerts = call(guest, &mut inst.store, inst.engine).map_err(|e| describe(&e, config))?;
        alerts.into_iter().map(|a| self.checked_alert(a)).collect()
    }

    /// The alerts `evaluate` calls left: `Err` when the call failed.
    fn call_take_alerts(&mut self) -> Result<Vec<Alert>, String> {
        self.call_alerts(|guest, store, engine| guest.call_take_alerts(store, engine))
    }

    /// Converts an alert, refusing a rule index outside the rule table or
    /// an overlong string.
    fn checked_alert(&self, a: wit::Alert) -> Result<Alert, String> {
        if a.rule as usize >= self.instance.rules.len() {
            return Err(
                "plugin broke the protocol: an alert names a rule outside the rule table".into(),
            );
        }
        let max = self.plugin.config.max_string_bytes;
        let strings = (a.group.iter().chain(&a.labels))
            .flat_map(|(k, v)| [k, v])
            .chain(&a.events);
        check_strings(strings, max)?;
        Ok(Alert {
            rule: a.rule,
            group: a.group,
            window_start_ms: a.window_start_ms,
            window_end_ms: a.window_end_ms,
            events: a.events,
            value: a.value,
            labels: a.labels,
        })
    }

    /// One block call of `B`'s kind under the block's deadline, its answer
    /// checked against the protocol: the event count, the entries, then
    /// what `B` returns beside them.
    fn checked_block<B: BlockCall>(&mut self, block: &[u8], expected: u32) -> Result<B, String> {
        let config = &self.plugin.config;
        let inst = &mut self.instance;
        self.plugin
            .arm_call(&mut inst.store, block.len())
            .map_err(|e| describe(&e, config))?;
        let guest = inst.bindings.sigil_engine_detector().engine();
        let answer = B::call(guest, &mut inst.store, inst.engine, block)
            .map_err(|e| describe(&e, config))?;
        let (events, entries, rest) = B::parts(answer);
        if events != expected {
            return Err(
                "plugin broke the batch protocol: it counted another number of events than \
                 the block holds"
                    .into(),
            );
        }
        let entries = self.checked_entries(entries, expected)?;
        B::checked(self, expected, entries, rest)
    }

    /// A block's entries converted, after checking each names an event of
    /// the block at most once, in order, with a verdict or error the
    /// engine could have given.
    fn checked_entries(
        &self,
        answer: Vec<witd::BatchEntry>,
        expected: u32,
    ) -> Result<Vec<BatchEntry>, String> {
        let config = &self.plugin.config;
        let mut entries = Vec::with_capacity(answer.len());
        // The first index the next entry may have: strictly increasing
        // indexes are each event at most once, in order.
        let mut next = 0u32;
        for entry in answer {
            if entry.index >= expected {
                return Err(
                    "plugin broke the batch protocol: an entry names an event past the block"
                        .into(),
                );
            }
            if entry.index < next {
                return Err(
                    "plugin broke the batch protocol: entries repeat an event or are out of order"
                        .into(),
                );
            }
            next = entry.index + 1;
            let outcome = match entry.outcome {
                Ok(v) => Ok(self.checked_verdict(v)?),
                Err(e) => Err(failure(e, config.max_string_bytes)?),
            };
            entries.push(BatchEntry {
                index: entry.index,
                outcome,
            });
        }
        Ok(entries)
    }

    /// One `correlate` call, its answer checked.
    fn call_correlate(
        &mut self,
        observations: &WitObservations,
    ) -> Result<Vec<BatchAlert>, String> {
        let config = &self.plugin.config;
        let inst = &mut self.instance;
        self.plugin
            .arm_load(&mut inst.store)
            .map_err(|e| describe(&e, config))?;
        let guest = inst.bindings.sigil_engine_detector().engine();
        let answer = guest
            .call_correlate(&mut inst.store, inst.engine, observations)
            .map_err(|e| describe(&e, config))?;
        let answer = match answer {
            Ok(alerts) => alerts,
            Err(e) => return Err(refusal(e, config.max_string_bytes)),
        };
        let mut alerts = Vec::with_capacity(answer.len());
        // Alerts follow the observations: each names an observed event at
        // or after the one the previous alert named.
        let mut at = observations.events.iter().peekable();
        for a in answer {
            while at.next_if(|&&i| i < a.index).is_some() {}
            if at.peek() != Some(&&a.index) {
                return Err(
                    "plugin broke the protocol: a correlation alert names an event that was not \
                     observed, or is out of order"
                        .into(),
                );
            }
            alerts.push(BatchAlert {
                index: a.index,
                alert: self.checked_alert(a.alert)?,
            });
        }
        Ok(alerts)
    }

    /// One `evaluate` call, its answer checked: `Err` when the call failed.
    fn call_one(&mut self, event: &[u8]) -> Result<Result<Verdict, Failure>, String> {
        let config = &self.plugin.config;
        let inst = &mut self.instance;
        self.plugin
            .arm_call(&mut inst.store, event.len())
            .map_err(|e| describe(&e, config))?;
        let guest = inst.bindings.sigil_engine_detector().engine();
        match guest
            .call_evaluate(&mut inst.store, inst.engine, event)
            .map_err(|e| describe(&e, config))?
        {
            Ok(v) => Ok(Ok(self.checked_verdict(v)?)),
            Err(e) => Ok(Err(failure(e, config.max_string_bytes)?)),
        }
    }

    /// Converts a verdict after checking it is one the engine could have
    /// given with this rule table and these options (see
    /// [`Session::evaluate_batch`]); `Err` names the first broken rule.
    fn checked_verdict(&self, v: wit::Verdict) -> Result<Verdict, String> {
        let rules = &self.instance.rules;
        let broke = |what: &str| Err(format!("plugin broke the protocol: {what}"));
        let mut next = 0usize;
        let mut top: Option<Level> = None;
        let mut top_score = 0u8;
        for f in &v.findings {
            let rule = f.rule as usize;
            let Some(info) = rules.get(rule) else {
                return broke("a finding names a rule outside the rule table");
            };
            if rule < next {
                return broke("findings repeat a rule or are out of rule-table order");
            }
            next = rule + 1;
            if f.score > 100 {
                return broke("a finding's score is over 100");
            }
            top_score = top_score.max(f.score);
            top = top.max(Some(info.level));
        }
        if v.score > 100 {
            return broke("a verdict's score is over 100");
        }
        if v.score != top_score {
            return broke("a verdict's score is not its findings' highest");
        }
        if v.level.map(level) != top {
            return broke("a verdict's level is not its findings' highest");
        }
        if v.keep != self.options.keeps(!v.findings.is_empty(), v.score) {
            return broke("a verdict's keep does not follow the options");
        }
        let labels = v.findings.iter().flat_map(|f| &f.labels);
        let warnings = v.warnings.iter().filter_map(|w| match w {
            wit::EventWarning::DuplicateKey(s) | wit::EventWarning::Other(s) => Some(s),
            _ => None,
        });
        check_strings(
            labels.flat_map(|(k, v)| [k, v]).chain(warnings),
            self.plugin.config.max_string_bytes,
        )?;
        Ok(verdict(v))
    }

    /// Replaces the instance with a fresh one holding the same rules;
    /// `state_lost` when the old one held correlation state (an instance
    /// that only evaluated detached held none).
    fn restart(&mut self, state_lost: bool) -> Result<(), Error> {
        self.restarts += 1;
        if state_lost && self.instance.correlations > 0 {
            self.correlation_resets += 1;
        }
        match Instance::new(&self.plugin, &self.sources, &self.options) {
            Ok(instance) => {
                self.instance = instance;
                Ok(())
            }
            Err(e) => {
                self.fault(&format!("no fresh plugin instance could be made: {e}"));
                Err(e)
            }
        }
    }
}

/// The WIT record of a block's observations.
type WitObservations = witd::Observations;

/// What an event or a block leaves unsaid: an event that matched nothing
/// and has no warning (the engine's own batch calls leave it out too).
fn push_outcome(entries: &mut Vec<BatchEntry>, index: u32, outcome: Result<Verdict, Failure>) {
    if !matches!(&outcome, Ok(v) if !v.matched() && v.warnings.is_empty()) {
        entries.push(BatchEntry { index, outcome });
    }
}

/// What `evaluate-batch` ([`Batch`]) and `evaluate-batch-detached`
/// ([`Detached`]) do not share: the guest call, what comes back beside the
/// entries, and how one event is tried alone after its block failed. The
/// deadline, the checks both answers pass and the retry loop are
/// [`Session::checked_block`]'s and [`Session::evaluate`]'s, once.
trait BlockCall: Sized {
    /// The call's WIT answer.
    type Answer;
    /// What comes back beside the entries (alerts or observations).
    type Rest;
    /// Whether the calling instance holds correlation state, lost (and
    /// counted) when it is replaced.
    const HOLDS_STATE: bool;

    /// The guest call on one block.
    fn call(
        guest: witd::GuestEngine<'_>,
        store: &mut Store<State>,
        engine: ResourceAny,
        block: &[u8],
    ) -> wasmtime::Result<Self::Answer>;

    /// The answer's event count, entries, and the rest.
    fn parts(answer: Self::Answer) -> (u32, Vec<witd::BatchEntry>, Self::Rest);

    /// The answer, its count and entries already checked, with the rest
    /// checked against the block's `expected` events.
    fn checked(
        session: &Session,
        expected: u32,
        entries: Vec<BatchEntry>,
        rest: Self::Rest,
    ) -> Result<Self, String>;

    /// An answer to fill event by event for a block of `events`.
    fn empty(events: u32) -> Self;

    /// The entries filled so far.
    fn entries(&mut self) -> &mut Vec<BatchEntry>;

    /// Evaluates the block's event at `index` alone into `self`; the inner
    /// `Err` is why the plugin failed it (the caller counts it, marks the
    /// event and replaces the instance).
    fn retry_one(
        &mut self,
        session: &mut Session,
        index: u32,
        event: &[u8],
    ) -> Result<Result<(), String>, Error>;
}

impl BlockCall for Batch {
    type Answer = witd::BatchResult;
    type Rest = Vec<witd::BatchAlert>;
    const HOLDS_STATE: bool = true;

    fn call(
        guest: witd::GuestEngine<'_>,
        store: &mut Store<State>,
        engine: ResourceAny,
        block: &[u8],
    ) -> wasmtime::Result<witd::BatchResult> {
        guest.call_evaluate_batch(store, engine, block)
    }

    fn parts(a: witd::BatchResult) -> (u32, Vec<witd::BatchEntry>, Vec<witd::BatchAlert>) {
        (a.events, a.entries, a.alerts)
    }

    fn checked(
        session: &Session,
        expected: u32,
        entries: Vec<BatchEntry>,
        answer: Vec<witd::BatchAlert>,
    ) -> Result<Batch, String> {
        let mut alerts = Vec::with_capacity(answer.len());
        let mut last = 0u32;
        for a in answer {
            if a.index < last || a.index >= expected {
                return Err(
                    "plugin broke the batch protocol: alert indexes out of order or range".into(),
                );
            }
            last = a.index;
            alerts.push(BatchAlert {
                index: a.index,
                alert: session.checked_alert(a.alert)?,
            });
        }
        Ok(Batch {
            events: expected,
            entries,
            alerts,
        })
    }

    fn empty(events: u32) -> Batch {
        Batch {
            events,
            ..Batch::default()
        }
    }

    fn entries(&mut self) -> &mut Vec<BatchEntry> {
        &mut self.entries
    }

    /// `evaluate`, then the alerts it left.
    fn retry_one(
        &mut self,
        session: &mut Session,
        index: u32,
        event: &[u8],
    ) -> Result<Result<(), String>, Error> {
        let outcome = session
            .call_one(event)
            .and_then(|o| session.call_take_alerts().map(|a| (o, a)));
        Ok(outcome.map(|(outcome, alerts)| {
            push_outcome(&mut self.entries, index, outcome);
            self.alerts
                .extend(alerts.into_iter().map(|alert| BatchAlert { index, alert }));
        }))
    }
}

impl BlockCall for Detached {
    type Answer = witd::DetachedResult;
    type Rest = WitObservations;
    const HOLDS_STATE: bool = false;

    fn call(
        guest: witd::GuestEngine<'_>,
        store: &mut Store<State>,
        engine: ResourceAny,
        block: &[u8],
    ) -> wasmtime::Result<witd::DetachedResult> {
        guest.call_evaluate_batch_detached(store, engine, block)
    }

    fn parts(a: witd::DetachedResult) -> (u32, Vec<witd::BatchEntry>, WitObservations) {
        (a.events, a.entries, a.observations)
    }

    fn checked(
        _: &Session,
        expected: u32,
        entries: Vec<BatchEntry>,
        observations: WitObservations,
    ) -> Result<Detached, String> {
        let events = observations.events;
        // Strictly increasing and within the block, as entries are.
        let mut next = 0u32;
        for &index in &events {
            if index < next || index >= expected {
                return Err(
                    "plugin broke the batch protocol: observation indexes out of order or range"
                        .into(),
                );
            }
            next = index + 1;
        }
        Ok(Detached {
            events: expected,
            entries,
            observations: Observations(Observed::Encoded {
                events,
                bytes: observations.bytes,
            }),
        })
    }

    fn empty(events: u32) -> Detached {
        Detached {
            events,
            entries: Vec::new(),
            observations: Observations(Observed::Encoded {
                events: Vec::new(),
                bytes: Vec::new(),
            }),
        }
    }

    fn entries(&mut self) -> &mut Vec<BatchEntry> {
        &mut self.entries
    }

    /// The event as a block of one line, its entry and observation at index
    /// 0; if that fails too, `evaluate`, as the single path retries: the
    /// verdict without the observation (correlation misses this event,
    /// detection does not).
    fn retry_one(
        &mut self,
        session: &mut Session,
        index: u32,
        event: &[u8],
    ) -> Result<Result<(), String>, Error> {
        let reason = match session.checked_block::<Detached>(event, 1) {
            Ok(one) => {
                self.entries
                    .extend(one.entries.into_iter().map(|e| BatchEntry {
                        index,
                        outcome: e.outcome,
                    }));
                if let (
                    Observed::Encoded { events, bytes },
                    Observed::Encoded {
                        events: e,
                        bytes: b,
                    },
                ) = (&mut self.observations.0, one.observations.0)
                    && !e.is_empty()
                {
                    events.push(index);
                    bytes.extend_from_slice(&b);
                }
                return Ok(Ok(()));
            }
            Err(reason) => reason,
        };
        session.fault(&reason);
        session.restart(false)?;
        Ok(session
            .call_one(event)
            .map(|outcome| push_outcome(&mut self.entries, index, outcome)))
    }
}

impl Observed {
    fn wit(events: Vec<u32>, bytes: Vec<u8>) -> WitObservations {
        WitObservations { events, bytes }
    }
}

/// The fault a refusal of `correlate` is (its text bounded by `max_string`).
fn refusal(e: wit::ObservationError, max_string: usize) -> String {
    let why = match e {
        wit::ObservationError::Version(v) => format!(
            "observations of format version {v}, which it does not read (its instances disagree)"
        ),
        wit::ObservationError::Truncated => "truncated observations".into(),
        wit::ObservationError::OtherPack => "observations of another rule pack".into(),
        wit::ObservationError::Malformed(text) | wit::ObservationError::Other(text) => {
            if let Err(e) = check_strings(std::iter::once(&text), max_string) {
                return e;
            }
            text
        }
    };
    format!("plugin refused the observations of its own instances: {why}")
}

/// `Err` when one of `strings` is longer than `max` bytes.
fn check_strings<'a>(
    mut strings: impl Iterator<Item = &'a String>,
    max: usize,
) -> Result<(), String> {
    if strings.any(|s| s.len() > max) {
        return Err(format!(
            "plugin broke the protocol: a string of its answer is over --max-string-bytes \
             ({max} bytes)"
        ));
    }
    Ok(())
}

/// One entry of a plugin's `unrecognised` answer, checked: known source
/// names, rule indexes within the rule table, strings within `max` bytes.
fn checked_unrecognised(u: wit::Unrecognised, rules: usize, max: usize) -> Option<Unrecognised> {
    let s = u.schema;
    let strings = s
        .markers
        .iter()
        .chain(&s.time)
        .chain(s.raw.iter().flat_map(|(_, t)| t))
        .chain(u.near.iter().map(|(c, _)| c));
    check_strings(strings, max).ok()?;
    if s.rules.iter().any(|&r| r as usize >= rules) {
        return None;
    }
    let raw = s
        .raw
        .into_iter()
        .map(|(name, time)| Some((Source::parse(&name)?, time)))
        .collect::<Option<Vec<_>>>()?;
    Some(Unrecognised {
        schema: SchemaUse {
            schema: Source::parse(&s.schema)?,
            markers: s.markers,
            time: s.time,
            raw,
            rules: s.rules,
        },
        missed: u.missed,
        near: u.near,
    })
}

/// The rule table of a fresh instance, checked: scores within 0 to 100 and
/// strings within [`HostConfig::max_string_bytes`].
fn checked_rules(rules: Vec<wit::RuleInfo>, config: &HostConfig) -> Result<Vec<RuleInfo>, String> {
    if rules.iter().any(|r| r.score > 100) {
        return Err(
            "plugin broke the protocol: a rule's score in its rule table is over 100".into(),
        );
    }
    let strings = rules
        .iter()
        .flat_map(|r| [&r.id, &r.title, &r.source].into_iter().chain(&r.tags));
    check_strings(strings, config.max_string_bytes)?;
    Ok(rules.into_iter().map(rule_info).collect())
}

/// A short reason for a failed evaluation call: the trap when there is one.
fn describe(e: &wasmtime::Error, config: &HostConfig) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => {
            "plugin ran out of fuel (raise --fuel if the events are legitimate)".into()
        }
        Some(Trap::Interrupt) => {
            "plugin ran out of time (raise --ms-per-mib if the events are legitimate)".into()
        }
        Some(trap) => format!("plugin trapped: {trap}"),
        None => describe_other(e, config),
    }
}

/// [`describe`] for loading, whose limits have other flags.
fn describe_load(e: &wasmtime::Error, config: &HostConfig) -> String {
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => "plugin ran out of fuel".into(),
        Some(Trap::Interrupt) => "plugin ran out of time (--load-ms)".into(),
        Some(trap) => format!("plugin trapped: {trap}"),
        None => describe_other(e, config),
    }
}

/// A failed call that is no trap: instantiation, or an answer that could
/// not be copied out.
fn describe_other(e: &wasmtime::Error, config: &HostConfig) -> String {
    let cause = e.root_cause().to_string();
    // wasmtime's error for an answer over the hostcall fuel is a private
    // type: only its text tells it apart (a test pins it).
    if cause.contains("fuel allocated for hostcalls has been exhausted") {
        return format!(
            "plugin's answer is over --max-answer-bytes ({} bytes)",
            config.max_answer_bytes
        );
    }
    // Likewise for growing memory past the store's cap.
    if cause.contains("forcing trap when growing memory") {
        return format!(
            "plugin ran out of memory (--max-memory {} bytes)",
            config.max_memory
        );
    }
    format!("plugin failed: {cause}")
}

/// Epoch ticks that cover `deadline`: one more than it spans, since the
/// first tick may come at once. A zero deadline has expired already.
fn ticks(deadline: Duration) -> u64 {
    if deadline.is_zero() {
        return 0;
    }
    let tick = HostConfig::EPOCH_TICK.as_nanos();
    let n = deadline.as_nanos().div_ceil(tick) + 1;
    n.min(u64::MAX as u128) as u64
}

/// A thread that calls `tick` every period until it is dropped.
struct Ticker {
    /// Dropping the sender wakes the thread and ends it.
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Ticker {
    fn spawn(period: Duration, tick: impl Fn() + Send + 'static) -> std::io::Result<Ticker> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sigil-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(period) {
                    tick();
                }
            })?;
        Ok(Ticker {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only ticks: it cannot panic, and waiting for it
            // makes sure it is gone when the plugin is.
            let _ = thread.join();
        }
    }
}

fn wit_options(o: &Options) -> wit::Options {
    wit::Options {
        min_score: o.min_score,
        matched_only: o.matched_only,
        skip_invalid: o.skip_invalid,
        max_event_bytes: o.max_event_bytes,
        max_depth: o.max_depth,
        max_rules: o.max_rules,
        max_regex_bytes: o.max_regex_bytes,
        placeholders: o.placeholders.clone(),
        correlation_lateness_ms: o.correlation_lateness_ms,
        max_groups: o.max_groups,
        max_events_per_group: o.max_events_per_group,
        max_correlation_bytes: o.max_correlation_bytes,
    }
}

fn level(l: wit::Level) -> Level {
    match l {
        wit::Level::Informational => Level::Informational,
        wit::Level::Low => Level::Low,
        wit::Level::Medium => Level::Medium,
        wit::Level::High => Level::High,
        wit::Level::Critical => Level::Critical,
    }
}

fn rule_info(r: wit::RuleInfo) -> RuleInfo {
    RuleInfo {
        id: r.id,
        title: r.title,
        level: level(r.level),
        score: r.score,
        tags: r.tags,
        source: r.source,
        line: r.line,
    }
}

fn rule_error(e: wit::RuleError) -> RuleError {
    RuleError {
        source: e.source,
        line: e.line,
        rule_id: e.rule_id,
        reason: e.reason,
    }
}

fn load_error(e: wit::LoadError) -> Error {
    match e {
        wit::LoadError::InvalidRule(r) => Error::Load(LoadError::InvalidRule(rule_error(r))),
        wit::LoadError::EmptyPack(skipped) => Error::Load(LoadError::EmptyPack {
            skipped: skipped.into_iter().map(rule_error).collect(),
        }),
        wit::LoadError::TooManyRules(limit) => Error::Load(LoadError::TooManyRules { limit }),
        wit::LoadError::Other(s) => Error::PluginLoad(s),
    }
}

/// An event error, its text checked against `max_string` bytes.
fn failure(e: wit::EventError, max_string: usize) -> Result<Failure, String> {
    if let wit::EventError::InvalidJson(s) | wit::EventError::Other(s) = &e {
        check_strings(std::iter::once(s), max_string)?;
    }
    Ok(Failure::Event(match e {
        wit::EventError::InvalidJson(s) => EventError::InvalidJson(s),
        wit::EventError::InvalidUtf8 => EventError::InvalidUtf8,
        wit::EventError::TooLarge(n) => EventError::TooLarge(n),
        wit::EventError::TooDeep => EventError::TooDeep,
        // The engine's error type has no catch-all case: keep the text.
        wit::EventError::Other(s) => return Ok(Failure::Plugin(s)),
    }))
}

fn verdict(v: wit::Verdict) -> Verdict {
    Verdict {
        keep: v.keep,
        score: v.score,
        level: v.level.map(level),
        findings: v
            .findings
            .into_iter()
            .map(|f| sigil_engine::Finding {
                rule: f.rule,
                score: f.score,
                labels: f.labels,
            })
            .collect(),
        source: v.source.map(source),
        warnings: v.warnings.into_iter().map(warning).collect(),
    }
}

fn warning(w: wit::EventWarning) -> sigil_engine::EventWarning {
    use sigil_engine::EventWarning as W;
    match w {
        wit::EventWarning::InvalidUtf8 => W::InvalidUtf8,
        wit::EventWarning::ControlCharacters => W::ControlCharacters,
        wit::EventWarning::LoneSurrogate => W::LoneSurrogate,
        wit::EventWarning::InvalidEscape => W::InvalidEscape,
        wit::EventWarning::Truncated(bytes) => W::Truncated { bytes },
        wit::EventWarning::TooDeep => W::TooDeep,
        wit::EventWarning::DuplicateKey(key) => W::DuplicateKey(key),
        wit::EventWarning::Other(text) => W::Other(text),
    }
}

fn source(s: wit::Source) -> sigil_engine::Source {
    match s {
        wit::Source::AwsCloudtrail => sigil_engine::Source::AwsCloudTrail,
        wit::Source::AzureActivity => sigil_engine::Source::AzureActivity,
        wit::Source::AzureActivityRest => sigil_engine::Source::AzureActivityRest,
        wit::Source::Azure => sigil_engine::Source::Azure,
        wit::Source::GcpAudit => sigil_engine::Source::GcpAudit,
        wit::Source::M365Management => sigil_engine::Source::M365,
        wit::Source::SentinelAwsCloudtrail => sigil_engine::Source::SentinelAwsCloudTrail,
        wit::Source::SentinelAzureActivity => sigil_engine::Source::SentinelAzureActivity,
        wit::Source::Qradar => sigil_engine::Source::QRadar,
        wit::Source::Falcon => sigil_engine::Source::Falcon,
        wit::Source::Sumo => sigil_engine::Source::Sumo,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// A plugin's `unrecognised` answer is taken only as the engine could
    /// have given it: known sources, rules of the table, bounded strings.
    #[test]
    fn forged_unrecognised_entries_are_left_out() {
        let entry = |schema: &str, raw: &str, rule: u32, marker: String| wit::Unrecognised {
            schema: wit::SchemaUse {
                schema: schema.into(),
                markers: vec![marker],
                time: vec!["devicetime".into()],
                raw: vec![(raw.into(), vec!["eventTime".into()])],
                rules: vec![rule],
            },
            missed: 3,
            near: vec![("devicetype".into(), 3)],
        };
        let ok = checked_unrecognised(
            entry("qradar", "aws.cloudtrail", 1, "logsourcetypename".into()),
            2,
            64,
        )
        .expect("a genuine entry");
        assert_eq!(ok.schema.schema, Source::QRadar);
        assert_eq!(ok.schema.raw[0].0, Source::AwsCloudTrail);
        assert_eq!(ok.near, [("devicetype".to_string(), 3)]);
        for forged in [
            entry("splunk", "aws.cloudtrail", 1, "m".into()),
            entry("qradar", "syslog", 1, "m".into()),
            entry("qradar", "aws.cloudtrail", 2, "m".into()),
            entry("qradar", "aws.cloudtrail", 1, "m".repeat(65)),
        ] {
            assert_eq!(checked_unrecognised(forged, 2, 64), None);
        }
    }

    #[test]
    fn the_ticker_ticks_and_stops_when_dropped() {
        let count = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&count);
        let ticker = Ticker::spawn(Duration::from_millis(1), move || {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        while count.load(Ordering::Relaxed) < 3 {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(ticker);
        // The thread held the other reference: once joined, it is gone.
        assert_eq!(Arc::strong_count(&count), 1);
        let after = count.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(count.load(Ordering::Relaxed), after);
    }

    #[test]
    fn dropping_the_last_plugin_stops_its_ticker() {
        let plugin = Plugin::builtin(HostConfig::default()).unwrap();
        let weak = Arc::downgrade(plugin._ticker.as_ref().unwrap());
        let clone = plugin.clone();
        drop(plugin);
        assert!(weak.upgrade().is_some(), "a clone keeps the timer");
        drop(clone);
        assert!(weak.upgrade().is_none());
        let fuel = HostConfig {
            fuel: Some(FuelLimits::default()),
            ..HostConfig::default()
        };
        assert!(
            Plugin::builtin(fuel).unwrap()._ticker.is_none(),
            "fuel needs no timer"
        );
    }

    /// Observations the correlating instance refuses are a fault like a
    /// trap: counted, the instance replaced (its windows lost, counted),
    /// and what can be applied alone is applied on the fresh one.
    #[test]
    fn refused_observations_are_a_fault_and_the_good_ones_are_applied_again() {
        let plugin = Plugin::builtin(HostConfig::default()).unwrap();
        let rules = crate::builtin_rules();
        let mut evaluator = plugin.session(&rules, &Options::default()).unwrap();
        let mut lead = plugin.session(&rules, &Options::default()).unwrap();
        // An event that feeds a correlation of the built-in pack.
        let case = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/correlation/ami_from_snapshot.ndjson"
        );
        let case = std::fs::read(case).unwrap();
        let event = case.split(|&b| b == b'\n').next().unwrap();
        let detached = evaluator.evaluate_detached(event).unwrap();
        let Observed::Encoded { events, bytes } = detached.observations.0 else {
            panic!("a component's observations are bytes");
        };
        assert_eq!(events, vec![0], "a parsed event is observed");
        // The good observation, then three bytes that are none.
        let mut garbage = bytes.clone();
        garbage.extend_from_slice(&[9, 9, 9]);
        let alerts = lead
            .correlate(Observations(Observed::Encoded {
                events: vec![0, 1],
                bytes: garbage,
            }))
            .unwrap();
        assert!(alerts.is_empty());
        let causes: Vec<&str> = lead.faults().iter().map(|f| f.cause.as_str()).collect();
        assert!(
            causes[0].starts_with("plugin refused the observations of its own instances"),
            "{causes:?}"
        );
        assert!(causes[1].contains("do not decode"), "{causes:?}");
        assert_eq!((lead.restarts(), lead.correlation_resets()), (1, 1));
        // The good one was applied on the fresh instance; the evaluator,
        // which held no windows, lost nothing.
        assert!(lead.correlation_stats().pending > 0);
        assert_eq!(evaluator.correlation_resets(), 0);
        // Applied whole, the same bytes are taken without a fault.
        lead.correlate(Observations(Observed::Encoded { events, bytes }))
            .unwrap();
        assert_eq!(lead.faults().len(), 2);
    }

    #[test]
    fn deadlines_round_up_to_ticks() {
        assert_eq!(ticks(Duration::ZERO), 0);
        assert_eq!(ticks(Duration::from_millis(1)), 2);
        assert_eq!(ticks(Duration::from_millis(10)), 2);
        assert_eq!(ticks(Duration::from_millis(11)), 3);
        assert_eq!(ticks(Duration::MAX), u64::MAX);
    }
}
