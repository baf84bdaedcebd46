//! sigil-js: the sigil engine for JavaScript, through wasm-bindgen.
//!
//! ```
//! // What the package's JavaScript does through the bindings, natively:
//! let mut engine = sigil_js::Engine::builtin("{}").unwrap();
//! let verdict = engine
//!     .evaluate(br#"{"eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#)
//!     .unwrap();
//! assert!(verdict.starts_with(r#"{"keep":true,"score":10,"level":"informational","findings":[{"rule":"#));
//! ```
//!
//! This crate is the Rust half of the npm package in `js/` (built by
//! `scripts/build-js` with `wasm-pack --target web`); the other half,
//! `js/lib/`, is the JavaScript API users call (`Engine`, `SigilError`,
//! `Runner`, typed in `js/index.d.ts`). Glue only, as the component is: the
//! engine evaluates, `sigil-stream` frames input and writes the lines of
//! `sigil run`, and this crate moves bytes across and writes the WIT
//! records as JSON (`wit.rs`).
//!
//! Values cross as JSON text and bytes: rules and options in, verdicts,
//! batch results and alerts out, each once per call. Errors cross as the
//! JSON of the WIT error variant (`{tag, val, message}`), which the
//! JavaScript turns into a `SigilError`.
//!
//! # Guarantees
//!
//! The same verdicts and the same `sigil run` bytes as the native engine:
//! the same crates run, compiled to WebAssembly (a test of the package
//! holds `sigil-js run` to `sigil run --native`, byte for byte).
//!
//! # Untrusted input
//!
//! As the engine's: events and rules are bounded by `Options`. A malformed
//! event is an entry of the batch, never an exception.
//!
//! # Panics
//!
//! None on any input. The functions of [`Engine`] and [`Runner`] return
//! errors as text natively; only the `#[wasm_bindgen]` wrappers turn them
//! into JavaScript exceptions.
//!
//! # Non-goals
//!
//! No logic lives here; no fetching (the built-in pack is compiled in).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod wit;

use serde_json::Value;
use sigil_engine::RuleSource;
use sigil_stream::{Framer, Output};
use wasm_bindgen::prelude::*;

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// An error as the JavaScript sees it: the JSON of a WIT error variant,
/// `{"tag": case, "val": payload, "message": sentence}`.
fn other(message: String) -> String {
    serde_json::json!({"tag": "other", "val": message, "message": message}).to_string()
}

fn throw(e: String) -> JsValue {
    JsValue::from_str(&e)
}

/// The built-in pack's rule sources (`rules/cloud-compute/`), as the JSON
/// of a WIT `list<rule-source>`.
#[wasm_bindgen(js_name = builtinRules)]
pub fn builtin_rules() -> String {
    let list: Vec<Value> = BUILTIN_RULES
        .iter()
        .map(|(name, text)| serde_json::json!({"name": name, "text": text}))
        .collect();
    Value::Array(list).to_string()
}

/// A compiled rule pack: the WIT `engine` resource.
#[wasm_bindgen(js_name = WasmEngine)]
pub struct Engine {
    inner: sigil_engine::Engine,
}

impl Engine {
    fn load_sources(sources: &[RuleSource], options_json: &str) -> Result<Engine, String> {
        let options: wit::OptionsIn = serde_json::from_str(options_json)
            .map_err(|e| other(format!("invalid options: {e}; see the `Options` type")))?;
        sigil_engine::Engine::load(sources, options.options())
            .map(|inner| Engine { inner })
            .map_err(|e| wit::load_error(&e).to_string())
    }

    /// Loads `rules_json` (a WIT `list<rule-source>` as JSON) with
    /// `options_json` (a WIT `options`, every field optional).
    ///
    /// # Errors
    ///
    /// The JSON of a WIT `load-error`.
    pub fn load(rules_json: &str, options_json: &str) -> Result<Engine, String> {
        let rules: Vec<wit::RuleSource> = serde_json::from_str(rules_json).map_err(|e| {
            other(format!(
                "invalid rule sources: {e}; give a list of {{name, text}} objects"
            ))
        })?;
        let sources: Vec<RuleSource> = rules
            .into_iter()
            .map(|r| RuleSource::new(r.name, r.text))
            .collect();
        Engine::load_sources(&sources, options_json)
    }

    /// Loads the built-in pack with `options_json`.
    ///
    /// # Errors
    ///
    /// As [`Engine::load`].
    pub fn builtin(options_json: &str) -> Result<Engine, String> {
        let sources: Vec<RuleSource> = BUILTIN_RULES
            .iter()
            .map(|(name, text)| RuleSource::new(*name, *text))
            .collect();
        Engine::load_sources(&sources, options_json)
    }

    /// Evaluates one event: a WIT `verdict` as JSON.
    ///
    /// # Errors
    ///
    /// The JSON of a WIT `event-error`.
    pub fn evaluate(&mut self, event: &[u8]) -> Result<String, String> {
        self.inner
            .evaluate(event)
            .map(|v| wit::verdict(&v))
            .map_err(|e| wit::event_error(&e).to_string())
    }

    /// Evaluates a block of NDJSON: a WIT `batch-result` as JSON.
    pub fn evaluate_batch(&mut self, block: &[u8]) -> String {
        let (mut entries, mut alerts) = (Vec::new(), Vec::new());
        let events = self.inner.evaluate_batch(block, &mut entries, &mut alerts);
        wit::batch_result(events, &entries, &alerts)
    }
}

fn alerts_json(alerts: &[sigil_engine::Alert]) -> String {
    wit::alerts(alerts)
}

#[wasm_bindgen(js_class = WasmEngine)]
impl Engine {
    /// [`Engine::load`], throwing the error's JSON.
    #[wasm_bindgen(js_name = load)]
    pub fn js_load(rules_json: &str, options_json: &str) -> Result<Engine, JsValue> {
        Engine::load(rules_json, options_json).map_err(throw)
    }

    /// [`Engine::builtin`], throwing the error's JSON.
    #[wasm_bindgen(js_name = builtin)]
    pub fn js_builtin(options_json: &str) -> Result<Engine, JsValue> {
        Engine::builtin(options_json).map_err(throw)
    }

    /// The rule table, a WIT `list<rule-info>` as JSON.
    pub fn rules(&self) -> String {
        Value::Array(self.inner.rules().iter().map(wit::rule_info).collect()).to_string()
    }

    /// Rules left out at load time, a WIT `list<rule-error>` as JSON.
    pub fn skipped(&self) -> String {
        Value::Array(self.inner.skipped().iter().map(wit::rule_error).collect()).to_string()
    }

    /// [`Engine::evaluate`] of UTF-8 bytes, throwing the error's JSON.
    #[wasm_bindgen(js_name = evaluate)]
    pub fn js_evaluate(&mut self, event: &[u8]) -> Result<String, JsValue> {
        self.evaluate(event).map_err(throw)
    }

    /// [`Engine::evaluate`] of a string (encoded straight into the
    /// module's memory, without a `Uint8Array` in between).
    #[wasm_bindgen(js_name = evaluateText)]
    pub fn js_evaluate_text(&mut self, event: &str) -> Result<String, JsValue> {
        self.evaluate(event.as_bytes()).map_err(throw)
    }

    /// Alerts released by `evaluate` since the last call, as JSON.
    #[wasm_bindgen(js_name = takeAlerts)]
    pub fn take_alerts(&mut self) -> String {
        alerts_json(&self.inner.take_alerts())
    }

    /// [`Engine::evaluate_batch`] of bytes.
    #[wasm_bindgen(js_name = evaluateBatch)]
    pub fn js_evaluate_batch(&mut self, block: &[u8]) -> String {
        self.evaluate_batch(block)
    }

    /// [`Engine::evaluate_batch`] of a string.
    #[wasm_bindgen(js_name = evaluateBatchText)]
    pub fn js_evaluate_batch_text(&mut self, block: &str) -> String {
        self.evaluate_batch(block.as_bytes())
    }

    /// Moves the correlation watermark; the alerts it completes, as JSON.
    pub fn advance(&mut self, watermark_ms: f64) -> String {
        alerts_json(&self.inner.advance(watermark_ms as i64))
    }

    /// Ends the stream; the alerts of every waiting match, as JSON.
    pub fn flush(&mut self) -> String {
        alerts_json(&self.inner.flush())
    }

    /// Counters of the correlation state, a WIT `correlation-stats` as JSON.
    #[wasm_bindgen(js_name = correlationStats)]
    pub fn correlation_stats(&self) -> String {
        wit::correlation_stats(&self.inner.correlation_stats()).to_string()
    }
}

/// What `sigil run` does with its inputs, over an [`Engine`]: frames each
/// input, evaluates it block by block and returns the NDJSON lines `sigil
/// run` writes for it (`sigil-stream`), alerts included.
#[wasm_bindgen(js_name = WasmRunner)]
pub struct Runner {
    framer: Framer,
    output: Output,
    out: Vec<u8>,
}

impl Runner {
    /// Evaluates every block the framer has ready and writes their lines.
    fn drain(&mut self, engine: &mut Engine) -> Result<Vec<u8>, String> {
        let mut failed = None;
        loop {
            match self.framer.next_block() {
                Ok(Some(block)) => {
                    let (mut entries, mut alerts) = (Vec::new(), Vec::new());
                    engine
                        .inner
                        .evaluate_batch(block, &mut entries, &mut alerts);
                    let entries = entries.into_iter().map(|e| (e.index, e.outcome));
                    self.output.block(&mut self.out, block, entries, alerts);
                }
                Ok(None) => break,
                Err(e) => {
                    failed = Some(other(e.to_string()));
                    break;
                }
            }
        }
        let lines = std::mem::take(&mut self.out);
        match failed {
            Some(e) => Err(e),
            None => Ok(lines),
        }
    }

    /// Ends the current input: the lines of its rest.
    ///
    /// # Errors
    ///
    /// The input was a document that does not split into events (the
    /// JSON of a WIT `other` error; `sigil run` stops there too).
    pub fn end_input(&mut self, engine: &mut Engine) -> Result<Vec<u8>, String> {
        self.framer.finish();
        let lines = self.drain(engine);
        self.framer = Framer::new();
        lines
    }
}

#[wasm_bindgen(js_class = WasmRunner)]
impl Runner {
    /// A runner for `engine`'s pack; `alerts_only` writes alert lines only.
    #[wasm_bindgen(constructor)]
    pub fn new(engine: &Engine, alerts_only: bool) -> Runner {
        Runner {
            framer: Framer::new(),
            output: Output::new(engine.inner.rules(), engine.inner.options())
                .alerts_only(alerts_only),
            out: Vec::new(),
        }
    }

    /// Adds the next bytes of the current input; the lines of the blocks
    /// they complete (often none).
    pub fn push(&mut self, engine: &mut Engine, bytes: &[u8]) -> Vec<u8> {
        self.output.counters_mut().bytes_in += bytes.len() as u64;
        self.framer.push(bytes);
        // Only a document's end can fail, and pushing never ends one.
        self.drain(engine).unwrap_or_default()
    }

    /// [`Runner::end_input`], throwing the error's JSON.
    #[wasm_bindgen(js_name = endInput)]
    pub fn js_end_input(&mut self, engine: &mut Engine) -> Result<Vec<u8>, JsValue> {
        self.end_input(engine).map_err(throw)
    }

    /// Ends the run: the alert lines of the matches still waiting.
    pub fn finish(&mut self, engine: &mut Engine) -> Vec<u8> {
        let mut out = Vec::new();
        self.output.alerts(&mut out, &engine.inner.flush());
        out
    }

    /// The run's counters (`sigil run`'s summary line), as JSON.
    pub fn counters(&self) -> String {
        let c = self.output.counters();
        serde_json::json!({
            "eventsIn": c.events_in, "eventsOut": c.events_out, "matched": c.matched,
            "errors": c.errors, "warned": c.warned, "alerts": c.alerts, "bytesIn": c.bytes_in,
        })
        .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_the_wit_variant_as_json() {
        let e = Engine::load(r#"[{"name":"x.yml","text":"title: x"}]"#, "{}")
            .err()
            .unwrap();
        let v: Value = serde_json::from_str(&e).unwrap();
        assert_eq!(v["tag"], "invalid-rule");
        assert_eq!(v["val"]["source"], "x.yml");
        let e = Engine::load("[]", r#"{"minscore":1}"#).err().unwrap();
        assert!(e.contains("unknown field `minscore`"), "{e}");
        let mut engine = Engine::builtin("{}").unwrap();
        let e = engine.evaluate(br#"{"eventName":"#).unwrap_err();
        assert!(e.contains(r#""tag":"invalid-json""#), "{e}");
    }
}
