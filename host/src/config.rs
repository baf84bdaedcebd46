//! Limits the host puts on a plugin.

/// Resource limits for plugin instances. Every field has a safe default.
///
/// The limits stop a hostile or buggy plugin, or a hostile rule pack or
/// event that drives the engine into a pathological path, from stalling or
/// exhausting the host. A call that hits a limit fails alone: see the crate
/// docs for how the host recovers.
///
/// ```
/// use sigil_host::HostConfig;
///
/// let config = HostConfig { max_memory: 64 << 20, ..HostConfig::default() };
/// assert_eq!(config.fuel_per_mib, 5_000_000_000);
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
    /// Fuel (roughly, WebAssembly instructions) granted to one evaluation
    /// call per MiB of events it is given; a call is granted at least the
    /// budget of [`HostConfig::MIN_CALL_BYTES`].
    ///
    /// Default 5 000 000 000 (a few seconds of CPU per MiB, a hundred times
    /// what the engine needs for a large pack). Stops an infinite loop or a
    /// catastrophic pattern from stalling the stream: the call traps with
    /// "all fuel consumed" and its events are retried one by one.
    pub fuel_per_mib: u64,
    /// Fuel granted to loading the rule pack (once per instance).
    ///
    /// Default 100 000 000 000: loading is bounded by the engine's own
    /// `max_rules` and `max_regex_bytes`; this stops a plugin that never
    /// returns from `load`.
    pub fuel_per_load: u64,
}

impl HostConfig {
    /// The smallest input size a call's fuel is computed for (64 KiB), so
    /// that one small event gets room for the fixed cost of every rule.
    pub const MIN_CALL_BYTES: u64 = 64 << 10;

    /// The fuel granted to a call over `bytes` of events.
    pub fn call_fuel(&self, bytes: usize) -> u64 {
        let bytes = (bytes as u64).max(Self::MIN_CALL_BYTES);
        ((self.fuel_per_mib as u128 * bytes as u128) >> 20).min(u64::MAX as u128) as u64
    }
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            max_memory: 256 << 20,
            fuel_per_mib: 5_000_000_000,
            fuel_per_load: 100_000_000_000,
        }
    }
}
