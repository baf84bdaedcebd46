//! Correlation observations on arbitrary bytes: what a detecting instance
//! hands the correlating one under `--threads`, which may come from a
//! plugin nobody trusts.
//!
//! Properties: `Observation::decode` never panics; what decodes re-encodes
//! to bytes that decode to the same encoding (encode is canonical); and
//! `Engine::correlate` takes any decoded sequence without panicking,
//! refusing what does not fit its pack.
#![no_main]

use std::sync::Mutex;

use libfuzzer_sys::fuzz_target;
use sigil_engine::{Engine, Observation, Options, RuleSource};

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    let mut decoded = Vec::new();
    while let Ok((obs, used)) = Observation::decode(rest) {
        let mut once = Vec::new();
        obs.encode(&mut once);
        let (again, n) = Observation::decode(&once).expect("an encoding decodes");
        assert_eq!(n, once.len());
        let mut twice = Vec::new();
        again.encode(&mut twice);
        assert_eq!(once, twice, "encode is canonical");
        decoded.push((decoded.len() as u32, obs));
        if used == 0 || decoded.len() > 64 {
            break;
        }
        rest = rest.get(used..).unwrap_or_default();
    }
    let mut engine = ENGINE.lock().unwrap_or_else(|e| e.into_inner());
    let engine = engine.get_or_insert_with(|| {
        let rules = include_str!("../../../../tests/data/correlation/ephemeral_reset.yml");
        Engine::load(&[RuleSource::new("ephemeral_reset.yml", rules)], Options::default())
            .expect("the correlation test pack loads")
    });
    let mut alerts = Vec::new();
    let _ = engine.correlate(decoded, &mut alerts);
    // Bounded state: the windows never outgrow the options' limits.
    if engine.correlation_stats().open_groups > u64::from(Options::default().max_groups) {
        panic!("more groups than max_groups");
    }
});
