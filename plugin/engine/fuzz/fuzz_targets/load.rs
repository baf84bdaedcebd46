//! Rule loading on arbitrary text: YAML, documents, conditions, modifiers,
//! regexes, labels and CASE, schemas, correlations.
//!
//! Properties: no panic, and bounded time and memory (libFuzzer's
//! `-timeout` and `-rss_limit_mb`, set by `scripts/fuzz`): a rule file
//! from a stranger is refused with an error, never a hang.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_engine::{Engine, Options, RuleSource};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    if let Ok(mut engine) = Engine::load(&[RuleSource::new("fuzz.yml", text)], options) {
        // A pack that loads must evaluate its own examples without panicking.
        for test in engine.rule_tests().to_vec() {
            let _ = engine.evaluate(test.event.as_bytes());
        }
    }
});
