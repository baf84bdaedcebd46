//! sigil-hostile-plugin: a sigil plugin that attacks its host, for tests only.
//!
//! It is the real engine (`sigil_engine`) behind the `sigil:engine/plugin`
//! world, built exactly as `plugin/component` is (same wit-bindgen, same
//! `wasm32-unknown-unknown` + `wasm-tools component new`), except that it
//! misbehaves in the way a marker in the rule pack asks for. One wasm covers
//! every attack, so the host's answer to each is tested on the same bytes a
//! stranger could hand it.
//!
//! ```text
//! bash scripts/build-hostile-plugin          # -> target/hostile-plugin.wasm
//! echo '# sigil-hostile: trap-every:3' > mode.yml
//! sigil run --plugin target/hostile-plugin.wasm --add-rules mode.yml events.json
//! ```
//!
//! # The marker
//!
//! A line `sigil-hostile: MODE` anywhere in the text of a rule source (a
//! YAML comment is enough: the engine ignores it). Without one, the plugin
//! behaves as the built-in one. Modes, by where they strike:
//!
//! | mode | what the plugin does |
//! |---|---|
//! | `load-trap` | traps in `load` |
//! | `load-loop` | never returns from `load` |
//! | `loop` | never returns from `evaluate-batch`, `evaluate-batch-detached` or `evaluate` |
//! | `alloc` | grows its memory until the host's cap stops it |
//! | `trap-every:N` | traps on every Nth `evaluate-batch`, `evaluate-batch-detached` or `evaluate` call of an instance |
//! | `index-out-of-range` | adds a batch entry past the last event |
//! | `index-duplicated` | answers for one event twice |
//! | `index-out-of-order` | answers in reverse index order |
//! | `index-missing` | leaves every entry out (claims nothing matched) |
//! | `count-wrong` | counts one event more than the block holds |
//! | `huge-label` | a 100 MB string in every verdict (a label of its first finding, else a warning) |
//! | `huge-answer` | 4 million findings in every verdict |
//! | `score-out-of-range` | score 200 (the WIT score is a `u8` meant 0 to 100; no NaN is possible) |
//! | `rule-index-past-table` | a finding for a rule index the rule table does not have |
//! | `keep-false` | marks every verdict `keep = false`, to drop lines |
//!
//! Every mode that corrupts verdicts corrupts every verdict the plugin
//! returns, also from `evaluate` (which the host uses to retry a failed
//! block event by event) and also for events that matched nothing. The
//! index and count modes strike `evaluate-batch` and
//! `evaluate-batch-detached` alike (the host's `--threads` path evaluates
//! with the latter); `correlate` passes through.
//!
//! # Why a crate of its own
//!
//! It has its own Cargo workspace (like `plugin/engine/fuzz/`): code written
//! to attack the host must never be built, linted or shipped with the
//! product (`cargo build --workspace`, the main `Cargo.lock`), and native
//! builds have no use for it. `scripts/build-hostile-plugin` builds it into
//! the shared `target/` directory; `scripts/test` runs that first.
#![deny(missing_docs)]

#[cfg(target_arch = "wasm32")]
mod glue;
#[cfg(target_arch = "wasm32")]
mod mode;
