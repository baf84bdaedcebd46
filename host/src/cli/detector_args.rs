//! The flags that choose and bound a detector, shared by `sigil run` and
//! `sigil serve` so that both take the same rules, plugin and limits
//! under the same names.

use std::path::PathBuf;

use anyhow::Context;
use sigil_engine::{Options, RuleSource};
use sigil_host::{Detector, FuelLimits, HostConfig, Plugin, Pool};
use sigil_stream::BLOCK_BYTES;

use super::lateness::Lateness;

/// Which engine runs which rules, within which limits; each flag maps onto
/// one field of `sigil_engine::Options` or `sigil_host::HostConfig`.
#[derive(clap::Args, Clone)]
pub struct DetectorArgs {
    /// Run this plugin component instead of the built-in one.
    #[arg(long, value_name = "FILE.wasm", conflicts_with = "native")]
    plugin: Option<PathBuf>,
    /// Refuse the --plugin file unless its SHA-256 is HEX (`sha256sum FILE`).
    #[arg(long, value_name = "HEX", requires = "plugin")]
    plugin_sha256: Option<String>,
    /// Run the engine natively (no sandbox): fastest, no time or memory limit.
    #[arg(long)]
    native: bool,
    /// Rule file or directory (recursive, *.yml/*.yaml); repeatable. Default: the built-in pack.
    #[arg(long, value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Rule or filter file or directory to load on top of the rules (the
    /// built-in pack when --rules is not given), e.g. a tuning filter from
    /// rules/tuning/; repeatable.
    #[arg(long, value_name = "PATH")]
    add_rules: Vec<PathBuf>,
    /// Leave invalid rules out (listed on stderr) instead of failing.
    #[arg(long)]
    skip_invalid: bool,
    /// Write only events that matched at least one rule.
    #[arg(long)]
    matched_only: bool,
    /// Write only events scoring at least N (0-100).
    #[arg(long, value_name = "N", default_value_t = 0)]
    min_score: u8,
    /// How far behind the newest event time an event may arrive and still
    /// correlate (90s, 10m, 2h), or `end`: correlation waits for the end of
    /// the input, so any order gives the alerts of the time-sorted input.
    /// Default: `end` for `sigil run` over files, 15m for streams (stdin,
    /// serve), where alerts come out that much event time late.
    #[arg(long, value_name = "DURATION|end")]
    lateness: Option<Lateness>,
    /// The lateness in milliseconds (the name before --lateness).
    #[arg(long, value_name = "MS", hide = true, conflicts_with = "lateness")]
    correlation_lateness_ms: Option<u32>,
    /// Whether the input is finite (files), which makes `end` the default
    /// lateness; set by the subcommand, not a flag.
    #[arg(skip)]
    pub finite_input: bool,
    /// The bytes the inputs hold, when every one is a regular file: no
    /// more threads start than the input has blocks. Set by the
    /// subcommand, not a flag.
    #[arg(skip)]
    pub input_bytes: Option<u64>,
    /// Most correlation groups open at once; past it the oldest is evicted.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_groups)]
    max_groups: u32,
    /// Most matches kept per correlation group; past it the oldest are dropped.
    #[arg(long, value_name = "N", default_value_t = Options::default().max_events_per_group)]
    max_events_per_group: u32,
    /// Bytes of correlation state; past it the oldest groups are evicted.
    #[arg(long, value_name = "BYTES", default_value_t = Options::default().max_correlation_bytes)]
    max_correlation_bytes: u32,
    /// Time (wall-clock ms) a plugin call may take per MiB of events; a call over it fails alone.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().ms_per_mib)]
    ms_per_mib: u64,
    /// Shortest time (ms) a plugin call may take, however few its events.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().min_call_ms)]
    min_call_ms: u64,
    /// Time (ms) loading the rules into a plugin instance may take.
    #[arg(long, value_name = "MS", default_value_t = HostConfig::default().load_ms)]
    load_ms: u64,
    /// Bound plugin calls by fuel instead of time: N per MiB of events (deterministic under any load).
    #[arg(long, value_name = "N", conflicts_with_all = ["ms_per_mib", "min_call_ms", "load_ms"])]
    fuel: Option<u64>,
    /// Memory cap of the plugin instance, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_memory)]
    max_memory: usize,
    /// Bytes the host copies out of one answer of the plugin; a larger answer is refused.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_answer_bytes)]
    max_answer_bytes: usize,
    /// Longest string (label, error text) accepted from the plugin; a longer one is refused.
    #[arg(long, value_name = "BYTES", default_value_t = HostConfig::default().max_string_bytes)]
    max_string_bytes: usize,
    /// Plugin failures in a row that end the event-by-event retry of a block (0: no limit).
    #[arg(long, value_name = "N", default_value_t = HostConfig::default().max_failures_in_a_row)]
    max_failures_in_a_row: u32,
    /// Compile the plugin every time instead of keeping the compiled code in
    /// $SIGIL_CACHE_DIR (default ~/.cache/sigil).
    #[arg(long)]
    no_compile_cache: bool,
    /// Detectors evaluating blocks at once, on as many threads (default:
    /// the machine's cores; over files, no more than they have blocks of
    /// 1 MiB); correlation still sees one ordered stream, so the output is
    /// the same bytes for every N.
    #[arg(long, value_name = "N")]
    threads: Option<std::num::NonZeroUsize>,
    /// Values for a `|expand` placeholder, as NAME=VALUE[,VALUE...]; repeatable.
    #[arg(long = "placeholder", value_name = "NAME=VALUES")]
    placeholders: Vec<String>,
}

impl DetectorArgs {
    /// The engine options the flags give.
    pub fn options(&self) -> anyhow::Result<Options> {
        Ok(Options {
            min_score: self.min_score,
            matched_only: self.matched_only,
            skip_invalid: self.skip_invalid,
            placeholders: super::placeholders(&self.placeholders)?,
            correlation_lateness_ms: self.lateness_ms(),
            max_groups: self.max_groups,
            max_events_per_group: self.max_events_per_group,
            max_correlation_bytes: self.max_correlation_bytes,
            ..Options::default()
        })
    }

    /// The lateness the flags give, or the default for the input: `end`
    /// for files, the engine's default for streams.
    pub fn lateness_ms(&self) -> u32 {
        match (self.lateness, self.correlation_lateness_ms) {
            (Some(Lateness(ms)), _) | (None, Some(ms)) => ms,
            (None, None) if self.finite_input => Options::LATENESS_END,
            (None, None) => Options::default().correlation_lateness_ms,
        }
    }

    /// The plugin limits the flags give.
    pub fn config(&self) -> HostConfig {
        HostConfig {
            max_memory: self.max_memory,
            ms_per_mib: self.ms_per_mib,
            min_call_ms: self.min_call_ms,
            load_ms: self.load_ms,
            fuel: self.fuel.map(|per_mib| FuelLimits {
                per_mib,
                ..FuelLimits::default()
            }),
            max_answer_bytes: self.max_answer_bytes,
            max_string_bytes: self.max_string_bytes,
            max_failures_in_a_row: self.max_failures_in_a_row,
            compile_cache: if self.no_compile_cache {
                None
            } else {
                sigil_host::compile_cache::default_dir()
            },
        }
    }

    /// The rule texts, read now from the files named (or the built-in
    /// pack): called again on a reload, to pick up edited files.
    pub fn sources(&self) -> anyhow::Result<Vec<RuleSource>> {
        let mut sources = if self.rules.is_empty() {
            sigil_host::builtin_rules()
        } else {
            sigil_host::rule_sources(&self.rules)?
        };
        sources.extend(sigil_host::rule_sources(&self.add_rules)?);
        Ok(sources)
    }

    /// The plugin compiled, once (`None` with `--native`).
    pub fn plugin(&self) -> anyhow::Result<Option<Plugin>> {
        if self.native {
            return Ok(None);
        }
        let config = self.config();
        Ok(Some(match &self.plugin {
            Some(path) => {
                let wasm = std::fs::read(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                match &self.plugin_sha256 {
                    Some(hex) => Plugin::new_pinned(&wasm, hex, config)
                        .with_context(|| format!("refusing {}", path.display()))?,
                    None => Plugin::new(&wasm, config)?,
                }
            }
            None => Plugin::builtin(config)?,
        }))
    }

    /// How many detectors evaluate at once: `--threads`, or the machine's
    /// cores; no more than the input files have blocks.
    pub fn threads(&self) -> usize {
        let n = match self.threads {
            Some(n) => n.get(),
            None => std::thread::available_parallelism().map_or(1, |n| n.get()),
        };
        // A block is the unit of work that runs in parallel: an input of k
        // blocks keeps at most k evaluators busy, and every one more costs
        // its start (a component instance loads the rules in ~10 ms, which
        // a one-event run would pay N times over).
        match self.input_bytes {
            Some(bytes) => n.min(bytes.div_ceil(BLOCK_BYTES as u64).max(1) as usize),
            None => n,
        }
    }

    /// The detectors with the rules read now, in `plugin` (from
    /// [`DetectorArgs::plugin`]) or natively: one with `--threads 1`, else
    /// one that correlates and N that evaluate (`sigil_host::Pool`).
    pub fn pool(&self, plugin: Option<&Plugin>) -> anyhow::Result<Pool> {
        let sources = self.sources()?;
        let options = self.options()?;
        let threads = self.threads();
        let Some(plugin) = plugin else {
            // A loaded engine copied is one loaded again, cheaper.
            let engine = sigil_engine::Engine::load(&sources, options)?;
            let evaluators = match threads {
                1 => Vec::new(),
                n => (0..n).map(|_| Detector::Native(engine.clone())).collect(),
            };
            return Pool::parallel(Detector::Native(engine), evaluators)
                .context("cannot start the evaluation threads");
        };
        if threads == 1 {
            let session = plugin.session(&sources, &options)?;
            return Ok(Pool::single(Detector::Component(session)));
        }
        // Each instance loads the rules on its own thread, side by side.
        let plugin = plugin.clone();
        let make = move || plugin.session(&sources, &options).map(Detector::Component);
        Ok(Pool::parallel_making(threads, make)?)
    }
}
