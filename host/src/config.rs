//! Limits the host puts on a plugin.

use std::time::Duration;

/// Resource limits for plugin instances. Every field has a safe default.
///
/// The limits stop a hostile or buggy plugin, or a hostile rule pack or
/// event that drives the engine into a pathological path, from stalling or
/// exhausting the host. A call that hits a limit fails alone: see the crate
/// docs for how the host recovers.
///
/// CPU is bounded by a *deadline* by default: each call may run for a time
/// proportional to the bytes it is given ([`HostConfig::ms_per_mib`], at
/// least [`HostConfig::min_call_ms`]). The deadline is enforced by epoch
/// interruption: a timer thread ticks every [`HostConfig::EPOCH_TICK`], and
/// the guest compares the tick count with its deadline at loop headers and
/// function entries. It is wall-clock time, so a loaded machine counts
/// against it: the defaults are hundreds of times what the engine needs.
/// Setting [`HostConfig::fuel`] selects deterministic fuel metering instead
/// (the same call always completes or always fails). Either check costs
/// the guest about 15 % of its instructions and a sixth of its time on the
/// benchmark corpus, mostly in registers spilled around the check's slow
/// path; fuel about as much as deadlines (see `BENCHMARKS.md`).
///
/// ```
/// use sigil_host::{FuelLimits, HostConfig};
///
/// let config = HostConfig { max_memory: 64 << 20, ..HostConfig::default() };
/// assert_eq!(config.ms_per_mib, 2_000);
/// assert_eq!(config.fuel, None);
/// // A call over 4 MiB may run for 8 s; one small event for 500 ms.
/// assert_eq!(config.call_deadline(4 << 20).as_millis(), 8_000);
/// assert_eq!(config.call_deadline(300).as_millis(), 500);
///
/// // Deterministic limits instead of deadlines.
/// let fuel = HostConfig { fuel: Some(FuelLimits::default()), ..HostConfig::default() };
/// assert_eq!(fuel.fuel.unwrap().per_mib, 5_000_000_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostConfig {
    /// Largest linear memory of one plugin instance, in bytes.
    ///
    /// Default 256 MiB: a 1 MiB batch, a large rule pack and the engine's
    /// scratch space fit many times over. Stops a plugin (or an event that
    /// makes it allocate without bound) from exhausting host memory; growing
    /// past it traps the call.
    pub max_memory: usize,
    /// Milliseconds (wall clock) one evaluation call may run per MiB of
    /// events it is given; a call gets at least [`HostConfig::min_call_ms`].
    ///
    /// Default 2 000 (the engine needs a few milliseconds per MiB). Stops
    /// an infinite loop or a catastrophic pattern from stalling the stream:
    /// the call traps ("ran out of time") and its events are retried one by
    /// one. 0, with `min_call_ms` 0, fails every call. Unused when
    /// [`HostConfig::fuel`] is set.
    pub ms_per_mib: u64,
    /// The shortest deadline of an evaluation call, in milliseconds, so that
    /// one small event has room for the fixed cost of every rule and for
    /// the coarseness of the timer.
    ///
    /// Default 500. Each event of a failed batch is retried alone with at
    /// least this deadline, so a plugin that loops on every event costs this
    /// much per event. Unused when [`HostConfig::fuel`] is set.
    pub min_call_ms: u64,
    /// Milliseconds loading the rule pack may take (once per instance); the
    /// correlation calls `advance` and `flush`, whose work is bounded by
    /// the correlation limits rather than by an input, get the same.
    ///
    /// Default 30 000: loading is bounded by the engine's own `max_rules`
    /// and `max_regex_bytes`; this stops a plugin that never returns from
    /// `load`. Unused when [`HostConfig::fuel`] is set.
    pub load_ms: u64,
    /// Deterministic fuel metering instead of deadlines.
    ///
    /// Default `None` (deadlines). Fuel counts roughly one unit per
    /// WebAssembly instruction, so a call that runs out does so on every
    /// machine and under any load, at a few percent more cost than
    /// deadlines. The plugin's code is compiled differently for each mode.
    pub fuel: Option<FuelLimits>,
    /// Bytes the host copies out of one answer of the plugin (the verdicts
    /// of a block, a rule table, a list of alerts), each string and list
    /// counted at the size it takes in the host.
    ///
    /// Default 64 MiB (the answer for a 1 MiB block is a few KiB). Stops a
    /// plugin from making the host allocate without bound, e.g. by
    /// returning millions of findings or one string many times over: the
    /// copy stops at the limit (wasmtime's hostcall fuel), nothing past it
    /// is allocated, and the answer is refused like a trap.
    pub max_answer_bytes: usize,
    /// Longest string the host accepts in an answer: a label's name or
    /// value, a warning's or an error's text, a correlation group value or
    /// event id.
    ///
    /// Default 1 MiB, the engine's default `max_event_bytes`: a label
    /// projects a field of the event, so no honest one is longer. Stops a
    /// plugin from writing a 100 MB line into the output; an answer with a
    /// longer string is refused like a trap.
    pub max_string_bytes: usize,
    /// Failures in a row that end the event-by-event retry of a failed
    /// block: the rest of the block is written marked "not evaluated"
    /// without calling the plugin again. 0 retries every event.
    ///
    /// Default 4. An honest engine does not fail on several events in a
    /// row, a plugin that fails every call does: without this bound, a
    /// plugin that loops costs [`HostConfig::min_call_ms`] per event (over
    /// 8 minutes for a 1 MiB block of 1 000 events); with it, at most one
    /// block deadline plus 4 event deadlines per block. The next block is
    /// tried again in one call.
    pub max_failures_in_a_row: u32,
    /// Where compiled plugins are kept between runs (see
    /// [`crate::compile_cache`]), or `None` to compile every time.
    ///
    /// Default `None` for the library; the CLI uses
    /// [`crate::compile_cache::default_dir`] unless `--no-compile-cache`.
    pub compile_cache: Option<std::path::PathBuf>,
}

/// Fuel budgets, for [`HostConfig::fuel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FuelLimits {
    /// Fuel (roughly, WebAssembly instructions) granted to one evaluation
    /// call per MiB of events it is given; a call is granted at least the
    /// budget of [`FuelLimits::MIN_CALL_BYTES`].
    ///
    /// Default 5 000 000 000 (a few seconds of CPU per MiB, a hundred times
    /// what the engine needs for a large pack). A call over budget traps
    /// with "all fuel consumed" and its events are retried one by one.
    pub per_mib: u64,
    /// Fuel granted to loading the rule pack (once per instance), and to
    /// each `advance` and `flush` call.
    ///
    /// Default 100 000 000 000: loading is bounded by the engine's own
    /// `max_rules` and `max_regex_bytes`; this stops a plugin that never
    /// returns from `load`.
    pub per_load: u64,
}

impl FuelLimits {
    /// The smallest input size a call's fuel is computed for (64 KiB), so
    /// that one small event gets room for the fixed cost of every rule.
    pub const MIN_CALL_BYTES: u64 = 64 << 10;

    /// The fuel granted to a call over `bytes` of events.
    pub fn call_fuel(&self, bytes: usize) -> u64 {
        let bytes = (bytes as u64).max(Self::MIN_CALL_BYTES);
        ((self.per_mib as u128 * bytes as u128) >> 20).min(u64::MAX as u128) as u64
    }
}

impl Default for FuelLimits {
    fn default() -> Self {
        FuelLimits {
            per_mib: 5_000_000_000,
            per_load: 100_000_000_000,
        }
    }
}

impl HostConfig {
    /// How often the deadline timer ticks: deadlines are rounded up to it,
    /// and a call may overrun its deadline by up to one tick.
    pub const EPOCH_TICK: Duration = Duration::from_millis(10);

    /// The deadline of an evaluation call over `bytes` of events (when
    /// [`HostConfig::fuel`] is `None`).
    pub fn call_deadline(&self, bytes: usize) -> Duration {
        let ms = (self.ms_per_mib as u128 * bytes as u128) >> 20;
        let ms = ms.min(u64::MAX as u128) as u64;
        Duration::from_millis(ms.max(self.min_call_ms))
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_memory: 256 << 20,
            ms_per_mib: 2_000,
            min_call_ms: 500,
            load_ms: 30_000,
            fuel: None,
            max_answer_bytes: 64 << 20,
            max_string_bytes: 1 << 20,
            max_failures_in_a_row: 4,
            compile_cache: None,
        }
    }
}
