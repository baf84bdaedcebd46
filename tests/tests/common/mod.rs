//! Shared by the test files: where the shared material lives, how rule
//! packs and the Stratus corpus are read, and the two engines under
//! comparison (sigil, and rsigma-eval as the reference evaluator).

#![allow(dead_code)] // each test file uses a different part of this module

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use sigil_engine::{Engine, Options, RuleSource};

/// The third-party corpora and rules (`tests/data/corpora`,
/// `tests/data/rules`, copied with their licences; see NOTICE);
/// `SIGIL_SHARED_DIR` points the tests at another folder of that layout.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("SIGIL_SHARED_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => data_dir(),
    }
}

/// The 225 SigmaHQ cloud rules.
pub fn sigmahq_dir() -> PathBuf {
    shared_dir().join("rules/sigmahq-cloud")
}

/// This crate's own test data.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data")
}

/// Every `*.yml` / `*.yaml` file under `dir`, recursively, sorted by path;
/// each source is named by its path relative to `dir` (with `/`).
pub fn rule_sources(dir: &Path) -> Vec<RuleSource> {
    let mut files = Vec::new();
    collect_yaml(dir, &mut files);
    files.sort();
    assert!(!files.is_empty(), "no rule file under {}", dir.display());
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
            let name = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            RuleSource::new(name, text)
        })
        .collect()
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_yaml(&path, out);
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml" | "yaml")
        ) {
            out.push(path);
        }
    }
}

/// One Stratus Red Team capture: its file name and raw bytes.
pub struct Capture {
    pub file: String,
    pub bytes: Vec<u8>,
}

/// The Stratus detonation logs, sorted by file name.
pub fn stratus_captures() -> Vec<Capture> {
    let dir = shared_dir().join("corpora/stratus-detonation-logs");
    let mut captures: Vec<Capture> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("json"))
        .map(|path| Capture {
            file: path.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&path).unwrap(),
        })
        .collect();
    captures.sort_by(|a, b| a.file.cmp(&b.file));
    assert_eq!(captures.len(), 35, "the Stratus corpus has 35 captures");
    captures
}

/// The `eventName` of an event, or `-`.
pub fn event_name(event: &Value) -> &str {
    event
        .get("eventName")
        .and_then(Value::as_str)
        .unwrap_or("-")
}

/// Whether an event is a CloudTrail record: sigil lets such an event meet only
/// `product: aws` rules, and the test gates the reference the same way.
///
/// sigil only needs an `*.amazonaws.com` `eventSource`; this also asks for
/// `eventVersion`, so that an event counts as CloudTrail here only when no
/// detector could doubt it. The tests assert every event they use passes.
pub fn is_cloudtrail(event: &Value) -> bool {
    event.get("eventVersion").is_some()
        && event
            .get("eventSource")
            .and_then(Value::as_str)
            .is_some_and(|s| s.ends_with(".amazonaws.com"))
}

/// A rule as both engines name it: the Sigma `id`, or the title when there
/// is none (sigil's `RuleInfo::id` does the same).
pub fn rule_key(id: Option<&str>, title: &str) -> String {
    id.unwrap_or(title).to_string()
}

/// rsigma-eval loaded with the same sources as sigil: one engine with every
/// rule, one with only the `product: aws` rules (what a CloudTrail event meets).
///
/// rsigma's `Engine::new()` has no logsource extractor, so it never gates
/// on `logsource` by itself; the gate is this struct's choice of engine.
pub struct Reference {
    all: rsigma_eval::Engine,
    aws: rsigma_eval::Engine,
    /// Rules rsigma loaded: key → title.
    pub loaded: BTreeMap<String, String>,
    /// Keys of the loaded rules whose `logsource.product` is `aws`.
    pub aws_keys: BTreeSet<String>,
    /// Documents or rules rsigma refused: (source name, rule key if known, message).
    pub rejected: Vec<(String, Option<String>, String)>,
}

impl Reference {
    pub fn load(sources: &[RuleSource]) -> Reference {
        let mut rules = Vec::new();
        let mut rejected = Vec::new();
        for source in sources {
            let collection = match rsigma_parser::parse_sigma_yaml(&source.text) {
                Ok(c) => c,
                Err(e) => {
                    rejected.push((source.name.clone(), None, e.to_string()));
                    continue;
                }
            };
            for d in &collection.diagnostics {
                if d.severity == rsigma_parser::DiagnosticSeverity::Error {
                    rejected.push((source.name.clone(), None, d.message.clone()));
                }
            }
            for rule in collection.rules {
                rules.push((source.name.clone(), rule));
            }
        }

        let mut all = rsigma_eval::Engine::new();
        let errors = all.add_rules(rules.iter().map(|(_, r)| r));
        let failed: BTreeSet<usize> = errors.iter().map(|(i, _)| *i).collect();
        for (i, e) in errors {
            let (source, rule) = &rules[i];
            rejected.push((
                source.clone(),
                Some(rule_key(rule.id.as_deref(), &rule.title)),
                e.to_string(),
            ));
        }
        let compiled: Vec<_> = rules
            .iter()
            .enumerate()
            .filter(|(i, _)| !failed.contains(i))
            .map(|(_, (_, r))| r)
            .collect();
        let is_aws = |r: &&rsigma_parser::SigmaRule| r.logsource.product.as_deref() == Some("aws");
        let mut aws = rsigma_eval::Engine::new();
        let aws_errors = aws.add_rules(compiled.iter().copied().filter(is_aws));
        assert!(
            aws_errors.is_empty(),
            "a rule compiled once and not twice: {aws_errors:?}"
        );

        let loaded = compiled
            .iter()
            .map(|r| (rule_key(r.id.as_deref(), &r.title), r.title.clone()))
            .collect();
        let aws_keys = compiled
            .iter()
            .copied()
            .filter(is_aws)
            .map(|r| rule_key(r.id.as_deref(), &r.title))
            .collect();
        assert_eq!(all.rule_count(), compiled.len());
        Reference {
            all,
            aws,
            loaded,
            aws_keys,
            rejected,
        }
    }

    /// Keys of the rules that match `event`, gated like sigil gates them.
    ///
    /// Only CloudTrail events and events of no known shape (which meet every
    /// rule) are gated faithfully: this does not model sigil's detection of
    /// Azure, GCP or M365 events, and the tests feed it none.
    pub fn matches(&self, event: &Value) -> BTreeSet<String> {
        let engine = if is_cloudtrail(event) {
            &self.aws
        } else {
            &self.all
        };
        let event = rsigma_eval::JsonEvent::borrow(event);
        engine
            .evaluate(&event)
            .into_iter()
            .map(|m| rule_key(m.header.rule_id.as_deref(), &m.header.rule_title))
            .collect()
    }
}

/// sigil loaded the way hosts load a third-party pack: invalid rules skipped.
pub fn load_sigil(sources: &[RuleSource]) -> Engine {
    Engine::load(
        sources,
        Options {
            skip_invalid: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("sigil refused the pack: {e}"))
}

/// Keys of the rules sigil finds in `event`.
pub fn sigil_matches(engine: &mut Engine, event: &[u8], what: &str) -> BTreeSet<String> {
    let verdict = engine
        .evaluate(event)
        .unwrap_or_else(|e| panic!("sigil failed on {what}: {e}"));
    let rules = engine.rules();
    verdict
        .findings
        .iter()
        .map(|f| rules[f.rule as usize].id.clone())
        .collect()
}

/// Keys of the rules sigil loaded: key → title.
pub fn sigil_loaded(engine: &Engine) -> BTreeMap<String, String> {
    engine
        .rules()
        .iter()
        .map(|r| (r.id.clone(), r.title.clone()))
        .collect()
}
