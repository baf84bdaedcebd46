//! Rule files from strangers: loading one is bounded in time and memory, and
//! what is refused is named by file and line.

use std::time::{Duration, Instant};

use sigil_engine::{Engine, LoadError, Options, RuleSource};

/// A rule whose `detection` hides the "billion laughs" shape: nine levels of
/// ten aliases, 10^9 strings from under a kilobyte.
fn billion_laughs_rule() -> String {
    let mut text = String::from(
        "title: laughs\nid: 6a3a7d0e-0000-4000-8000-00000000b111\nlogsource: {product: aws}\n\
         detection:\n    selection:\n        eventName:\n",
    );
    text += "            - &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n";
    for i in 1..10 {
        let p = i - 1;
        text += &format!(
            "            - &l{i} [{}]\n",
            vec![format!("*l{p}"); 10].join(", ")
        );
    }
    text += "    condition: selection\n";
    text
}

#[test]
fn billion_laughs_is_refused_fast_with_file_and_line() {
    let text = billion_laughs_rule();
    assert!(text.len() < 1024, "{} bytes", text.len());
    let started = Instant::now();
    let Err(err) = Engine::load(&[RuleSource::new("laughs.yml", text)], Options::default()) else {
        panic!("the rule must be refused");
    };
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    let LoadError::InvalidRule(e) = err else {
        panic!("{err:?}")
    };
    assert_eq!(e.source, "laughs.yml");
    // Level i is 10^(i+1) + ... nodes; levels 0-4 make 123 455, and the
    // first alias of level 5 (line 12) would copy 111 111 more: past 200 000.
    assert_eq!(e.line, 12, "{e:?}");
    assert!(e.reason.contains("aliases"), "{e:?}");
}

#[test]
fn billion_laughs_is_skipped_with_skip_invalid() {
    let good = RuleSource::new(
        "stop.yml",
        "title: stop\nid: 6a3a7d0e-0000-4000-8000-00000000b112\nlogsource: {product: aws}\n\
         detection:\n    selection:\n        eventName: StopInstances\n    condition: selection\n",
    );
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let engine = Engine::load(
        &[RuleSource::new("laughs.yml", billion_laughs_rule()), good],
        options,
    )
    .unwrap();
    assert_eq!(engine.rules().len(), 1);
    assert_eq!(engine.skipped().len(), 1);
    assert_eq!(engine.skipped()[0].source, "laughs.yml");
}
