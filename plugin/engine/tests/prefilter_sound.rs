//! The prefilter's one law: it never drops an event that full evaluation
//! matches. Checked on real CloudTrail events from the shared corpus with
//! every SigmaHQ cloud rule, after mutations chosen to hide literals from a
//! byte scan: case changes, `\uXXXX` and `\/` escapes, other escapes,
//! values wrapped in arrays, flattened dotted keys, and the two non-ASCII
//! characters whose lower case is ASCII.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use serde_json::Value;
use sigil_engine::{Engine, EventWarning, Options, RuleSource, input};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

fn engine() -> Engine {
    let mut paths = Vec::new();
    files(&shared().join("rules/sigmahq-cloud"), "yml", &mut paths);
    paths.sort();
    let mut sources: Vec<RuleSource> = paths
        .iter()
        .map(|p| RuleSource::new(p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    // Keyword rules for CloudTrail, so keyword matching is exercised on
    // these events too, and literals with `k` and a trailing `i`, which the
    // Kelvin sign and the dotted capital I can hide from a byte scan.
    sources.push(RuleSource::new(
        "extra.yml",
        "title: kw\nlogsource: {product: aws}\ndetection:\n  keywords: [StopInstances, 'iam.amazonaws.com']\n  condition: keywords\n\
         ---\ntitle: kelvin\ndetection:\n  sel:\n    eventName|contains: invokem\n  condition: sel\n\
         ---\ntitle: cased\ndetection:\n  sel:\n    eventName|cased: StopInstances\n  condition: sel\n\
         ---\ntitle: dotted\ndetection:\n  sel:\n    userIdentity.arn|contains: 'arn:aws:i'\n  condition: sel\n",
    ));
    // The repository's own packs: schema rules compiled once per mapped
    // source (constants folded, first-present paths, renamed values), CASE
    // searches, JSON-text columns the prefilter must not read literals from.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    for pack in ["cloud-compute", "seeds"] {
        let mut files_of = Vec::new();
        files(&repo.join(pack), "yml", &mut files_of);
        files_of.sort();
        sources.extend(files_of.iter().map(|p| {
            RuleSource::new(p.display().to_string(), std::fs::read_to_string(p).unwrap())
        }));
    }
    Engine::load(
        &sources,
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )
    .unwrap()
}

fn corpus() -> &'static [Value] {
    static EVENTS: OnceLock<Vec<Value>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut paths = Vec::new();
        files(
            &shared().join("corpora/stratus-detonation-logs"),
            "json",
            &mut paths,
        );
        paths.sort();
        let mut out = Vec::new();
        for p in paths {
            let doc = std::fs::read(&p).unwrap();
            for ev in input::document_events(&doc).unwrap() {
                out.push(serde_json::from_slice(ev).unwrap());
            }
        }
        out
    })
}

#[derive(Clone, Debug)]
enum Mutation {
    /// Flip the case of every letter of string values whose hash is odd.
    FlipCase(u8),
    /// Wrap a top-level string value in an array.
    WrapInArray(usize),
    /// Move a nested object's fields up as dotted keys (`a.b`).
    Flatten(usize),
    /// Write the n-th ASCII letter inside strings as `\u00XX`.
    UnicodeEscape(usize),
    /// Write every `/` as `\/`.
    SlashEscape,
    /// Write every non-ASCII character as `\uXXXX` (surrogate pairs above
    /// U+FFFF); combined with `OddCase`, this escapes the Kelvin sign.
    EscapeNonAscii,
    /// Put a Kelvin sign or a dotted capital I in place of every `k` or `i`
    /// of string values.
    OddCase(bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<u8>().prop_map(Mutation::FlipCase),
        any::<usize>().prop_map(Mutation::WrapInArray),
        any::<usize>().prop_map(Mutation::Flatten),
        any::<usize>().prop_map(Mutation::UnicodeEscape),
        Just(Mutation::SlashEscape),
        Just(Mutation::EscapeNonAscii),
        any::<bool>().prop_map(Mutation::OddCase),
    ]
}

fn flip(v: &mut Value, seed: u8) {
    match v {
        Value::String(s) => {
            if (s.len() as u8 ^ seed) & 1 == 1 {
                *s = s
                    .chars()
                    .map(|c| {
                        if c.is_ascii_lowercase() {
                            c.to_ascii_uppercase()
                        } else {
                            c.to_ascii_lowercase()
                        }
                    })
                    .collect();
            }
        }
        Value::Array(a) => a.iter_mut().for_each(|x| flip(x, seed)),
        Value::Object(o) => o.values_mut().for_each(|x| flip(x, seed)),
        _ => {}
    }
}

fn odd_case(v: &mut Value, kelvin: bool) {
    match v {
        Value::String(s) => {
            *s = if kelvin {
                s.replace(['k', 'K'], "\u{212A}")
            } else {
                s.replace(['i', 'I'], "\u{130}")
            };
        }
        Value::Array(a) => a.iter_mut().for_each(|x| odd_case(x, kelvin)),
        Value::Object(o) => o.values_mut().for_each(|x| odd_case(x, kelvin)),
        _ => {}
    }
}

fn apply(event: &Value, muts: &[Mutation]) -> Vec<u8> {
    let mut v = event.clone();
    let mut text_muts = Vec::new();
    for m in muts {
        let obj = v.as_object_mut().unwrap();
        match m {
            Mutation::FlipCase(seed) => flip(&mut v, *seed),
            Mutation::OddCase(kelvin) => odd_case(&mut v, *kelvin),
            Mutation::WrapInArray(n) => {
                let keys: Vec<String> = obj
                    .iter()
                    .filter(|(_, x)| x.is_string())
                    .map(|(k, _)| k.clone())
                    .collect();
                if !keys.is_empty() {
                    let k = &keys[n % keys.len()];
                    let x = obj.remove(k).unwrap();
                    obj.insert(k.clone(), Value::Array(vec![Value::Null, x]));
                }
            }
            Mutation::Flatten(n) => {
                let keys: Vec<String> = obj
                    .iter()
                    .filter(|(_, x)| x.is_object())
                    .map(|(k, _)| k.clone())
                    .collect();
                if !keys.is_empty() {
                    let k = &keys[n % keys.len()];
                    if let Value::Object(inner) = obj.remove(k).unwrap() {
                        for (ik, iv) in inner {
                            obj.insert(format!("{k}.{ik}"), iv);
                        }
                    }
                }
            }
            other => text_muts.push(other.clone()),
        }
    }
    let mut text = serde_json::to_string(&v).unwrap();
    for m in text_muts {
        text = match m {
            Mutation::UnicodeEscape(n) => {
                escape_nth_letter(&text, n, |c| format!("\\u{:04X}", c as u32))
            }
            Mutation::SlashEscape => text.replace('/', "\\/"),
            Mutation::EscapeNonAscii => text
                .chars()
                .map(|c| {
                    if c.is_ascii() {
                        c.to_string()
                    } else {
                        let mut units = [0u16; 2];
                        c.encode_utf16(&mut units)
                            .iter()
                            .map(|u| format!("\\u{u:04x}"))
                            .collect()
                    }
                })
                .collect(),
            _ => text,
        };
    }
    text.into_bytes()
}

/// Rewrites the n-th ASCII letter that sits inside a JSON string.
fn escape_nth_letter(text: &str, n: usize, f: impl Fn(char) -> String) -> String {
    let mut in_str = false;
    let mut esc = false;
    let positions: Vec<usize> = text
        .char_indices()
        .filter(|&(_, c)| {
            let inside = in_str && !esc;
            if in_str {
                if esc {
                    esc = false;
                } else if c == '\\' {
                    esc = true;
                } else if c == '"' {
                    in_str = false;
                }
            } else if c == '"' {
                in_str = true;
            }
            inside && c.is_ascii_alphabetic()
        })
        .map(|(i, _)| i)
        .collect();
    if positions.is_empty() {
        return text.to_string();
    }
    let at = positions[n % positions.len()];
    let c = text[at..].chars().next().unwrap();
    format!("{}{}{}", &text[..at], f(c), &text[at + 1..])
}

#[test]
fn prefilter_agrees_with_full_evaluation_on_the_corpus() {
    let mut e = engine();
    let mut matched = 0;
    for ev in corpus() {
        let raw = serde_json::to_vec(ev).unwrap();
        let fast = e.evaluate(&raw);
        assert_eq!(
            fast,
            e.evaluate_unfiltered(&raw),
            "{}",
            String::from_utf8_lossy(&raw)
        );
        matched += fast.unwrap().matched() as usize;
    }
    assert!(
        matched > 50,
        "the corpus should exercise real matches, got {matched}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

    #[test]
    fn prefilter_never_drops_a_match(idx in any::<usize>(), muts in proptest::collection::vec(mutation(), 1..4)) {
        thread_local! {
            static ENGINE: std::cell::RefCell<Engine> = std::cell::RefCell::new(engine());
        }
        let events = corpus();
        let raw = apply(&events[idx % events.len()], &muts);
        ENGINE.with(|e| {
            let mut e = e.borrow_mut();
            let fast = e.evaluate(&raw);
            let full = e.evaluate_unfiltered(&raw);
            prop_assert_eq!(fast, full, "event: {}", String::from_utf8_lossy(&raw));
            Ok(())
        })?;
    }
}

/// Rules with `contains` literals on a value, alone or with another
/// value's literal, a keyword (found after the scan) or an exact value
/// seen after the searched one: each matches where full evaluation does.
#[test]
fn contains_literals_keep_every_match() {
    let rules = "title: two values\ndetection:\n  a:\n    userAgent|contains: 'S3 Browser'\n  b:\n    userIdentity.arn|contains: ':user/admin'\n  condition: a and b\n\
        ---\ntitle: keyword and value\ndetection:\n  keywords: [needle]\n  sel:\n    userAgent|contains: TruffleHog\n  condition: keywords and sel\n\
        ---\ntitle: exact after contains\ndetection:\n  sel:\n    userAgent|contains: 'S3 Browser'\n    eventName: CreateUser\n  condition: sel\n\
        ---\ntitle: one of\ndetection:\n  sel:\n    userAgent|contains: [jersey, 'S3 Browser']\n  condition: sel\n";
    let mut e = Engine::load(
        &[RuleSource::new("contains.yml", rules)],
        Options::default(),
    )
    .unwrap();
    // Rules by their index in the file.
    let cases: [(&str, &[u32]); 6] = [
        (
            r#"{"userAgent":"S3 Browser 9.1","userIdentity":{"arn":"arn:aws:iam::1:user/admin"}}"#,
            &[0, 3],
        ),
        (
            r#"{"userAgent":"trufflehog/3","requestParameters":{"x":"a needle"}}"#,
            &[1],
        ),
        (
            r#"{"userAgent":"s3 browser","eventName":"CreateUser"}"#,
            &[2, 3],
        ),
        (
            r#"{"userAgent":["x","Jersey/2"],"eventName":"DeleteUser"}"#,
            &[3],
        ),
        (r#"{"userAgent":"aws-cli/2","eventName":"CreateUser"}"#, &[]),
        // Past the first 16 bytes, upper case (the prefilter's filter for
        // several literals compares 16 positions at a time).
        (
            r#"{"userAgent":"Mozilla/5.0 (compatible; S3 BROWSER 11.4)","eventName":"CreateUser"}"#,
            &[2, 3],
        ),
    ];
    for (event, want) in cases {
        let fast = e.evaluate(event.as_bytes()).unwrap();
        assert_eq!(
            Ok(fast.clone()),
            e.evaluate_unfiltered(event.as_bytes()),
            "{event}"
        );
        let mut got: Vec<u32> = fast.findings.iter().map(|f| f.rule).collect();
        got.sort();
        assert_eq!(got, want, "{event}");
    }
}

/// An event no rule could match is not parsed, but its brackets and
/// strings are checked on the way: a line whose brackets do not pair up,
/// whose string does not end or holds an escape JSON lacks, or that holds
/// more than one value is parsed and gets the parser's error, as it would
/// if a rule could match it (and the host does not splice a verdict into
/// broken JSON). An event a rule could match must also be UTF-8 throughout.
#[test]
fn broken_structure_is_an_error_even_when_no_rule_could_match() {
    let rules = "title: never\ndetection:\n  sel:\n    eventName: NoSuchCall\n  condition: sel\n";
    let mut e = Engine::load(&[RuleSource::new("never.yml", rules)], Options::default()).unwrap();
    for bad in [
        r#"{"a": 1, "b": [1,2}"#,
        r#"{"a": 1, "b": [1,2]]}"#,
        r#"{"a": "x}"#,
        r#"{"a": 1}}"#,
        r#"{"a": 1}{"b": 2}"#,
        r#"{"a": 1} x"#,
        r#"{"a": "x\"}"#,
        "123",
    ] {
        assert!(e.evaluate(bad.as_bytes()).is_err(), "{bad}");
        assert!(e.evaluate_unfiltered(bad.as_bytes()).is_err(), "{bad}");
    }
    // An object that ends before its closing brace was cut on the way: read
    // up to its last complete member, with a warning.
    for cut in [r#"{"a": {"b": 1}"#, r#"{"a": 1, "b": "x"#] {
        for v in [
            e.evaluate(cut.as_bytes()),
            e.evaluate_unfiltered(cut.as_bytes()),
        ] {
            let v = v.unwrap_or_else(|err| panic!("{cut}: {err}"));
            assert_eq!(
                v.warnings,
                [EventWarning::Truncated {
                    bytes: cut.len() as u32
                }],
                "{cut}"
            );
        }
    }
    // Escapes JSON does not have, which the prefilter decodes: parsed, and
    // read with the backslash as a backslash (an attacker's stray escape
    // must not hide the event), with a warning.
    for odd in [r#"{"a": "\:"}"#, r#"{"a": "x\qy"}"#, r#"{"a\ ": 1}"#] {
        for v in [
            e.evaluate(odd.as_bytes()),
            e.evaluate_unfiltered(odd.as_bytes()),
        ] {
            let v = v.unwrap_or_else(|err| panic!("{odd}: {err}"));
            assert_eq!(v.warnings, [EventWarning::InvalidEscape], "{odd}");
        }
    }
    // Invalid UTF-8 in an event a rule could match, in a value no rule
    // reads (which serde_json skips without checking): checked, and read
    // lossily with a warning.
    let candidate = b"{\"eventName\":\"NoSuchCall\",\"note\":\"\xff\"}";
    for v in [e.evaluate(candidate), e.evaluate_unfiltered(candidate)] {
        assert_eq!(v.unwrap().warnings, [EventWarning::InvalidUtf8]);
    }
    // Not caught, at no cost to the scan: the grammar between brackets and
    // strings. The parser reports these only when a rule could match.
    assert!(!e.evaluate(br#"{"a" 1}"#).unwrap().matched());
    for good in [
        r#"{"a": 1, "b": [1, {"c": "]}"}]}"#,
        "{}",
        "{\"a\":\"\\\"}\"} \n",
        r#"{"x": "{[" }"#,
    ] {
        let v = e.evaluate(good.as_bytes()).unwrap();
        assert!(!v.matched(), "{good}");
    }
}

/// Regression (found by `prefilter_never_drops_a_match`): keywords were
/// searched in the raw text only, so a value that spells its keyword with
/// an escape (`\u0053topInstances`) lost the keyword rule.
#[test]
fn a_keyword_spelt_with_escapes_is_not_dropped() {
    let rules = "title: kw\nlogsource: {product: aws}\ndetection:\n  keywords: [StopInstances]\n  condition: keywords\n";
    let mut e = Engine::load(&[RuleSource::new("kw.yml", rules)], Options::default()).unwrap();
    for event in [
        r#"{"eventSource":"ec2.amazonaws.com","eventName":"\u0053topInstances"}"#,
        r#"{"eventSource":"ec2.amazonaws.com","x":"a\/b","eventName":"StopInstances"}"#,
        r#"{"eventSource":"ec2.amazonaws.com","eventName":"Stop\u0049nstances"}"#,
    ] {
        let fast = e.evaluate(event.as_bytes()).unwrap();
        assert_eq!(
            Ok(fast.clone()),
            e.evaluate_unfiltered(event.as_bytes()),
            "{event}"
        );
        assert!(fast.matched(), "{event}");
    }
    // Still dropped when no value holds it.
    let other = r#"{"eventSource":"ec2.amazonaws.com","eventName":"\u0053tartInstances"}"#;
    assert!(!e.evaluate(other.as_bytes()).unwrap().matched());
}

/// A duplicated key reads as its last value (`extract`), so an event whose
/// `eventSource` comes twice, first naming an AWS service and then not,
/// is no CloudTrail event: the prefilter's log-source gating must not
/// drop the rules of other products (found by the `evaluate` fuzz target:
/// an Azure keyword rule lost on such a line). Either order, keyword and
/// field rules, strings or not.
#[test]
fn a_duplicated_event_source_does_not_gate_rules_out() {
    let rules = "title: kw\nname: kw\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  keywords: [Microsoft.Compute/virtualMachines/write]\n  condition: keywords\n---\ntitle: field\nlogsource: {product: azure, service: activitylogs}\ndetection:\n  sel: {operationName: MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE}\n  condition: sel\n";
    let mut e = Engine::load(&[RuleSource::new("azure.yml", rules)], Options::default()).unwrap();
    let tail = r#""operationName":"MICROSOFT.COMPUTE/VIRTUALMACHINES/WRITE","category":"Administrative","identity":{"authorization":{"action":"Microsoft.Compute/virtualMachines/write"}}}"#;
    for first in [r#""ec2.amazonaws.com""#, r#""x""#, "1"] {
        for last in [
            r#""ec2.amazonaws.com""#,
            r#""ssm.amazonaws1.09""#,
            "null",
            "{}",
        ] {
            let event = format!(
                r#"{{"eventSource":{first},"eventName":"RunInstances","eventSource":{last},{tail}"#
            );
            let fast = e.evaluate(event.as_bytes()).unwrap();
            let full = e.evaluate_unfiltered(event.as_bytes()).unwrap();
            assert_eq!(fast, full, "{event}");
            // The last value decides: no AWS service, an Azure event.
            assert_eq!(fast.matched(), !last.contains("amazonaws.com"), "{event}");
        }
    }
}
