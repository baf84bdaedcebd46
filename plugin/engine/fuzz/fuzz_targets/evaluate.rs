//! Evaluation of arbitrary bytes by a real pack: the 225 SigmaHQ cloud
//! rules, the built-in pack and the correlation rules of the tests.
//!
//! Properties, not just "no crash":
//! - the prefilter is sound: what the full evaluation (no prefilter)
//!   matches, the filtered evaluation matches too, with the same findings;
//! - a batch answers for every line: its event count is the number of
//!   non-blank lines, its entries are in index order and in range.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use libfuzzer_sys::fuzz_target;
use sigil_engine::input::is_blank;
use sigil_engine::{Engine, Options, RuleSource};

fn sources(dir: &Path, out: &mut Vec<RuleSource>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(RuleSource::new(path.display().to_string(), text));
        }
    }
}

fn engine() -> &'static Mutex<Engine> {
    static ENGINE: OnceLock<Mutex<Engine>> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../..");
        let mut pack = Vec::new();
        for dir in ["tests/data/rules/sigmahq-cloud", "rules/cloud-compute", "tests/data/correlation"] {
            sources(&root.join(dir), &mut pack);
        }
        let options = Options {
            skip_invalid: true,
            ..Options::default()
        };
        Mutex::new(Engine::load(&pack, options).expect("the fuzz pack loads"))
    })
}

fuzz_target!(|data: &[u8]| {
    let mut engine = engine().lock().unwrap();
    let filtered = engine.evaluate(data);
    let full = engine.evaluate_unfiltered(data);
    if let Ok(full) = &full {
        if full.matched() {
            let filtered = filtered.as_ref().expect("an event the full evaluation matches is no error");
            let a: Vec<u32> = full.findings.iter().map(|f| f.rule).collect();
            let b: Vec<u32> = filtered.findings.iter().map(|f| f.rule).collect();
            assert_eq!(a, b, "the prefilter lost a match");
        }
    }
    let lines = data
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank(l.strip_suffix(b"\r").unwrap_or(l)))
        .count();
    let (mut entries, mut alerts) = (Vec::new(), Vec::new());
    let events = engine.evaluate_batch(data, &mut entries, &mut alerts);
    assert_eq!(events as usize, lines);
    assert!(entries.windows(2).all(|w| w[0].index < w[1].index));
    assert!(entries.iter().all(|e| e.index < events));
    assert!(alerts.iter().all(|a| a.index < events));
});
