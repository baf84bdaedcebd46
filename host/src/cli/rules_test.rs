//! `sigil rules test`: run the examples rules carry.
//!
//! A rule may carry examples in a custom attribute:
//!
//! ```yaml
//! sigil:
//!   tests:
//!     - {match: true, event: {eventName: StopInstances}}
//!     - {match: false, event: {eventName: StartInstances}}
//! ```
//!
//! The engine parses them; this command evaluates each example against the
//! pack and checks whether its rule matched.

use std::path::PathBuf;
use std::process::ExitCode;

use sigil_engine::{Engine, Options};

/// Flags of `sigil rules test`.
#[derive(clap::Args)]
pub struct Args {
    /// Rule files or directories (recursive, *.yml/*.yaml).
    #[arg(value_name = "PATH", required = true)]
    paths: Vec<PathBuf>,
}

/// Runs `sigil rules test`: prints `file: rule id: test N: expected match`
/// (or `no match`) per failure, then a summary.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let sources = sigil_host::rule_sources(&args.paths)?;
    if sources.is_empty() {
        // Nothing to test is not a failure (an empty pack is, for `run`).
        println!("0 tests over 0 rules, 0 failed");
        return Ok(ExitCode::SUCCESS);
    }
    let mut engine = Engine::load(
        &sources,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )?;
    let mut failed = 0usize;
    for e in engine.skipped() {
        println!("{}:{}: invalid rule: {}", e.source, e.line, e.reason);
        failed += 1;
    }
    let rules = engine.rules().to_vec();
    let tests = engine.rule_tests().to_vec();
    let mut number = vec![0u32; rules.len()];
    for test in &tests {
        let Some(rule) = rules.get(test.rule as usize) else {
            anyhow::bail!(
                "the engine returned a test for rule {} of {}",
                test.rule,
                rules.len()
            );
        };
        number[test.rule as usize] += 1;
        let n = number[test.rule as usize];
        let expected = if test.expect_match {
            "match"
        } else {
            "no match"
        };
        // Every rule that matches, including those that only feed
        // correlations (`generate: false`) and so report no finding.
        match engine.matching_rules(test.event.as_bytes()) {
            Ok(rules) => {
                let matched = rules.contains(&test.rule);
                if matched != test.expect_match {
                    println!(
                        "{}: {}: test {n}: expected {expected}",
                        rule.source, rule.id
                    );
                    failed += 1;
                }
            }
            Err(e) => {
                println!(
                    "{}: {}: test {n}: expected {expected}, but the event is refused: {e}",
                    rule.source, rule.id
                );
                failed += 1;
            }
        }
    }
    println!(
        "{} tests over {} rules, {failed} failed",
        tests.len(),
        rules.len()
    );
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
