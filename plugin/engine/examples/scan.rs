//! Loads a directory of Sigma rules and prints each hit on a file of events.
//!
//! ```text
//! cargo run --release -p sigil-engine --example scan -- RULES_DIR EVENTS.json...
//! ```
//!
//! The smallest embedding of the engine: no host, no WebAssembly.

use std::path::{Path, PathBuf};

use sigil_engine::{Engine, Options, RuleSource, input};

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            yaml_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rules_dir = PathBuf::from(args.next().expect("usage: scan RULES_DIR EVENTS..."));
    let mut files = Vec::new();
    yaml_files(&rules_dir, &mut files);
    files.sort();
    let sources: Vec<RuleSource> = files
        .iter()
        .map(|p| {
            RuleSource::new(
                p.display().to_string(),
                std::fs::read_to_string(p).expect("readable rule"),
            )
        })
        .collect();
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut engine = Engine::load(&sources, options).expect("rules load");
    for s in engine.skipped() {
        eprintln!("skipped: {s}");
    }
    eprintln!("{:?}", engine.stats());
    for &r in engine.unfiltered_rules() {
        eprintln!(
            "unfiltered: {} {}",
            engine.rules()[r as usize].source,
            engine.rules()[r as usize].title
        );
    }
    for path in args {
        let doc = std::fs::read(&path).expect("readable events");
        let events = input::document_events(&doc).expect("a JSON document");
        for (i, event) in events.iter().enumerate() {
            match engine.evaluate(event) {
                Ok(v) => {
                    for f in &v.findings {
                        let r = &engine.rules()[f.rule as usize];
                        println!("{path}\t{i}\t{}\t{}", r.id, r.title);
                    }
                }
                Err(e) => println!("{path}\t{i}\terror: {e}"),
            }
        }
    }
}
