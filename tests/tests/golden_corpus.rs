//! Golden tests: what sigil (native engine, the 225 SigmaHQ cloud rules,
//! invalid rules skipped) finds in the Stratus Red Team captures, and which
//! rules it loads, compared with files reviewed by hand.
//!
//! - `tests/data/golden/stratus_hits.tsv`: one line per finding,
//!   `file<TAB>index<TAB>eventName<TAB>rule id<TAB>rule title`, files sorted
//!   by name, events in file order (split with
//!   `sigil_engine::input::document_events`), findings in rule-table order.
//! - `tests/data/golden/skipped.txt`: `loaded<TAB>N`, then one line per
//!   skipped rule, `skipped<TAB>source<TAB>line<TAB>rule id<TAB>reason`.
//!
//! With `SIGIL_BLESS=1` the tests write the files instead of comparing; review
//! the diff (`git diff tests/data/golden`) before committing it.

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

use common::{load_sigil, rule_sources, sigmahq_dir, stratus_captures};
use serde_json::Value;

#[test]
fn stratus_hits_are_golden() {
    let mut engine = load_sigil(&rule_sources(&sigmahq_dir()));
    let mut out = String::new();
    let mut events = 0;
    for capture in stratus_captures() {
        let raws = sigil_engine::input::document_events(&capture.bytes)
            .unwrap_or_else(|e| panic!("{}: {e}", capture.file));
        for (index, raw) in raws.into_iter().enumerate() {
            events += 1;
            let value: Value = serde_json::from_slice(raw).unwrap();
            let verdict = engine
                .evaluate(raw)
                .unwrap_or_else(|e| panic!("sigil failed on {}[{index}]: {e}", capture.file));
            for finding in &verdict.findings {
                let rule = &engine.rules()[finding.rule as usize];
                writeln!(
                    out,
                    "{}\t{index}\t{}\t{}\t{}",
                    capture.file,
                    common::event_name(&value),
                    rule.id,
                    one_line(&rule.title)
                )
                .unwrap();
            }
        }
    }
    assert_eq!(events, 310, "the Stratus corpus has 310 events");
    check_golden("stratus_hits.tsv", &out);
}

#[test]
fn sigmahq_pack_loads_as_golden() {
    let engine = load_sigil(&rule_sources(&sigmahq_dir()));
    let mut out = format!("loaded\t{}\n", engine.rules().len());
    for e in engine.skipped() {
        writeln!(
            out,
            "skipped\t{}\t{}\t{}\t{}",
            e.source,
            e.line,
            e.rule_id.as_deref().unwrap_or("-"),
            one_line(&e.reason)
        )
        .unwrap();
    }
    assert_eq!(
        engine.rules().len() + engine.skipped().len(),
        225,
        "every SigmaHQ cloud rule is either loaded or listed as skipped"
    );
    check_golden("skipped.txt", &out);
}

fn one_line(text: &str) -> String {
    text.replace(['\t', '\n', '\r'], " ")
}

/// Compares `actual` with the golden file `name`, or writes it when
/// `SIGIL_BLESS=1`.
fn check_golden(name: &str, actual: &str) {
    let path: PathBuf = common::data_dir().join("golden").join(name);
    if std::env::var_os("SIGIL_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, actual).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!(
            "blessed {} ({} lines): review the diff",
            path.display(),
            actual.lines().count()
        );
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nrun `SIGIL_BLESS=1 cargo test --release -p sigil-tests --test golden_corpus` \
             to create it, then review every line",
            path.display()
        )
    });
    if expected == actual {
        return;
    }
    let (missing, extra) = line_diff(&expected, actual);
    let mut msg = format!("{} differs from sigil's output\n", path.display());
    for line in &missing {
        writeln!(msg, "- {line}").unwrap();
    }
    for line in &extra {
        writeln!(msg, "+ {line}").unwrap();
    }
    if missing.is_empty() && extra.is_empty() {
        msg += "same lines, different order\n";
    }
    msg += "(- only in the golden file, + only in sigil's output; SIGIL_BLESS=1 rewrites it)";
    panic!("{msg}");
}

/// Lines of `expected` not in `actual`, and the reverse, counting repeats.
fn line_diff<'a>(expected: &'a str, actual: &'a str) -> (Vec<&'a str>, Vec<&'a str>) {
    let mut pending: Vec<&str> = actual.lines().collect();
    let mut missing = Vec::new();
    for line in expected.lines() {
        match pending.iter().position(|l| *l == line) {
            Some(i) => {
                pending.remove(i);
            }
            None => missing.push(line),
        }
    }
    (missing, pending)
}
