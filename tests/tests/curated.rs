//! The curated pack (`rules/cloud-compute/`) on the Atomic Red Team corpus
//! (`tests/data/atomic/`), compared with a golden file reviewed by hand.
//!
//! Each `*.ndjson` file of the corpus is one Atomic Red Team test of the
//! seeds (`t1578_*`) or one false-positive case they list (`fp_*`), written
//! from the seed's "Expected signal" and the vendor's documented record
//! shape; `tests/data/atomic/README.md` says where every shape comes from.
//! Every file runs through a fresh engine loaded with the whole pack, as
//! `sigil run --native --rules rules/cloud-compute/` would run it: each event is
//! evaluated in file order, then the correlations are flushed.
//!
//! `tests/data/atomic/expected.json` holds, per file, every event's id
//! (CloudTrail `eventID`, GCP `insertId`, Azure `eventDataId`, or in the
//! diagnostic-settings export, which has no `eventDataId`, `correlationId`)
//! with the `name`s of the rules that found it (an empty list is an asserted
//! non-hit), and the correlation alerts (rule, group, event ids). Its `fp`
//! section says, for every event of an `fp_*` file, which rule it imitates and
//! which filter spares it, or `null` where the pack fires on purpose; the
//! README gives the reason on the event's line.
//!
//! Beyond the golden comparison:
//!
//! - every event id is unique and names its case (`t1578-004-1-…`, `fp-dr-…`);
//! - every `fp_*` event that a filter spares is spared by that filter: the
//!   pack loaded without that one filter document (`filters/`) finds it, so a
//!   look-alike cannot pass for the wrong reason;
//! - the tuning filters (`rules/tuning/`, shipped disabled), loaded over the
//!   pack, spare every look-alike the pack still finds, each the ones that
//!   name it in `expected.json`, and change nothing on the Atomic Red Team
//!   tests;
//! - the whole corpus as one stream in time order gives the same alerts as
//!   the files one by one (no sequence crosses from one case to another);
//! - every rule, correlation and filter file's `name` is its file stem (how
//!   alerts and filters are named here).
//!
//! With `SIGIL_BLESS=1` the test rewrites the `files` section (the `fp`
//! section is kept as it is): review the diff before committing it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sigil_engine::{Alert, Engine, Options, RuleSource};

/// The curated pack. The rest of `rules/` (the seed documents' own queries,
/// `rules/seeds/`) has its own tests and is left out, so that this golden
/// file changes only with the curated pack.
fn pack_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/cloud-compute")
}

/// The tuning filters: Sigma filter documents over the curated pack that are
/// not embedded and not loaded unless a user adds them.
fn tuning_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/tuning")
}

/// `rules/README.md`, which documents every filter document.
fn rules_readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Whether a source is a Sigma filter document rather than a rule.
fn is_filter(source: &RuleSource) -> bool {
    source.text.contains("\nfilter:\n")
}

/// The source whose file stem is `stem`.
fn source_named<'a>(sources: &'a [RuleSource], stem: &str) -> Option<&'a RuleSource> {
    sources
        .iter()
        .find(|s| Path::new(&s.name).file_stem().is_some_and(|n| n == stem))
}

fn atomic_dir() -> PathBuf {
    common::data_dir().join("atomic")
}

fn golden_path() -> PathBuf {
    atomic_dir().join("expected.json")
}

/// The pack, loaded strictly: a rule that does not load fails the test.
fn load_pack(sources: &[RuleSource]) -> Engine {
    Engine::load(sources, Options::default())
        .unwrap_or_else(|e| panic!("the curated pack does not load: {e}"))
}

/// A rule's `name`: the stem of its file, since every file of the pack holds
/// one rule named after it (`pack_rules_are_named_after_their_files`).
fn rule_name(engine: &Engine, index: u32) -> String {
    let source = &engine.rules()[index as usize].source;
    Path::new(source)
        .file_stem()
        .unwrap_or_else(|| panic!("rule source {source} has no file name"))
        .to_string_lossy()
        .into_owned()
}

/// The atomic files, sorted by name: (file name, events as raw lines).
fn atomic_files() -> Vec<(String, Vec<Vec<u8>>)> {
    let mut files: Vec<(String, Vec<Vec<u8>>)> = std::fs::read_dir(atomic_dir())
        .unwrap_or_else(|e| panic!("listing {}: {e}", atomic_dir().display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().and_then(|e| e.to_str()) == Some("ndjson"))
        .map(|path| {
            let bytes = std::fs::read(&path).unwrap();
            let events = sigil_engine::input::ndjson_events(&bytes)
                .map(<[u8]>::to_vec)
                .collect();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                events,
            )
        })
        .collect();
    files.sort();
    files
}

/// The id the engine lists in alerts: CloudTrail `eventID`, GCP `insertId`,
/// Azure `eventDataId`, else (diagnostic-settings export) `correlationId`.
fn event_id(event: &Value) -> String {
    ["eventID", "insertId", "eventDataId", "correlationId"]
        .iter()
        .find_map(|k| event.get(*k).and_then(Value::as_str))
        .unwrap_or_else(|| panic!("event without an id: {event}"))
        .to_string()
}

fn alert_json(engine: &Engine, alert: &Alert) -> Value {
    let group: serde_json::Map<String, Value> = alert
        .group
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
        .collect();
    json!({
        "rule": rule_name(engine, alert.rule),
        "group": group,
        "events": alert.events,
    })
}

/// What the pack reports on one file: `{"events": {id: [rule names]},
/// "alerts": [{rule, group, events}]}`, names and alerts sorted.
fn run_file(sources: &[RuleSource], events: &[Vec<u8>]) -> Value {
    let mut engine = load_pack(sources);
    let mut found = serde_json::Map::new();
    let mut alerts = Vec::new();
    for raw in events {
        let value: Value = serde_json::from_slice(raw).unwrap();
        let id = event_id(&value);
        let verdict = engine.evaluate(raw).unwrap_or_else(|e| panic!("{id}: {e}"));
        let mut names: Vec<String> = verdict
            .findings
            .iter()
            .map(|f| rule_name(&engine, f.rule))
            .collect();
        names.sort();
        assert!(
            found.insert(id.clone(), json!(names)).is_none(),
            "event id {id} twice in one file"
        );
        alerts.extend(engine.take_alerts());
    }
    alerts.extend(engine.flush());
    let stats = engine.correlation_stats();
    assert_eq!(
        (
            stats.late_events,
            stats.untimed_events,
            stats.evicted_groups,
            stats.dropped_entries
        ),
        (0, 0, 0, 0),
        "{stats:?}"
    );
    let mut alerts: Vec<Value> = alerts.iter().map(|a| alert_json(&engine, a)).collect();
    alerts.sort_by_key(|a| a.to_string());
    json!({"events": found, "alerts": alerts})
}

fn read_golden() -> Value {
    let path = golden_path();
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}\nrun `SIGIL_BLESS=1 cargo test --release -p sigil-tests --test curated` to write its \
             `files` section, then review every line and write the `fp` section by hand",
            path.display()
        )
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn pack_rules_are_named_after_their_files() {
    let sources = common::rule_sources(&pack_dir());
    let tuning = common::rule_sources(&tuning_dir());
    for source in sources.iter().chain(&tuning) {
        let stem = Path::new(&source.name)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let names: Vec<&str> = source
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("name: "))
            .map(str::trim)
            .collect();
        assert_eq!(
            names,
            [stem.as_str()],
            "{}: one top-level `name`, the file's stem",
            source.name
        );
    }
    // Filters sit in `filters/`, rules and correlations at the top.
    for source in &sources {
        assert_eq!(
            is_filter(source),
            source.name.starts_with("filters/"),
            "{}: filter documents, and only they, go in filters/",
            source.name
        );
    }
    let rules = sources.iter().filter(|s| !is_filter(s)).count();
    let engine = load_pack(&sources);
    assert_eq!(engine.rules().len(), rules, "one rule per file");
    assert!(
        tuning.iter().all(is_filter),
        "rules/tuning/ holds only filters"
    );
}

/// The tuning filters ship disabled: each loads over the pack (it names rules
/// the pack has, under their logsource), says why it is not enabled and what
/// to edit, and how to enable it; `rules/README.md` lists it.
#[test]
fn tuning_filters_load_over_the_pack_and_say_why_they_are_off() {
    let pack = common::rule_sources(&pack_dir());
    let readme = rules_readme();
    for filter in common::rule_sources(&tuning_dir()) {
        let stem = filter.name.trim_end_matches(".yml");
        for needle in [
            "Not enabled by default".to_string(),
            "Edit:".to_string(),
            format!("--add-rules rules/tuning/{}", filter.name),
        ] {
            assert!(
                filter.text.contains(&needle),
                "{}: the description must say `{needle}`",
                filter.name
            );
        }
        assert!(
            readme.contains(&format!("`{stem}.yml`")),
            "rules/README.md does not list {}",
            filter.name
        );
        let mut sources = pack.clone();
        sources.push(filter.clone());
        let engine = Engine::load(&sources, Options::default())
            .unwrap_or_else(|e| panic!("the pack with {} does not load: {e}", filter.name));
        assert_eq!(engine.rules().len(), load_pack(&pack).rules().len());
    }
}

#[test]
fn atomic_corpus_is_golden() {
    let sources = common::rule_sources(&pack_dir());
    let files = atomic_files();
    assert_eq!(
        files.len(),
        14,
        "8 Atomic Red Team tests and 6 false-positive cases"
    );

    // Ids are unique over the corpus and name their case.
    let mut ids = BTreeSet::new();
    for (file, events) in &files {
        let stem = file.trim_end_matches(".ndjson");
        let parts: Vec<&str> = stem.split('_').collect();
        let prefix = if parts[0] == "fp" {
            format!("fp-{}-", parts[1])
        } else {
            format!("{}-", parts[..3].join("-"))
        };
        for raw in events {
            let id = event_id(&serde_json::from_slice(raw).unwrap());
            assert!(
                id.starts_with(&prefix),
                "{file}: id {id} does not start with {prefix}"
            );
            assert!(ids.insert(id.clone()), "id {id} used twice");
        }
    }

    let actual: serde_json::Map<String, Value> = files
        .iter()
        .map(|(file, events)| (file.clone(), run_file(&sources, events)))
        .collect();
    let actual = Value::Object(actual);

    if std::env::var_os("SIGIL_BLESS").is_some_and(|v| v == "1") {
        let fp = std::fs::read_to_string(golden_path())
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|g| g.get("fp").cloned())
            .unwrap_or_else(|| json!({}));
        let text =
            serde_json::to_string_pretty(&json!({"files": actual, "fp": fp})).unwrap() + "\n";
        std::fs::write(golden_path(), text).unwrap();
        eprintln!("blessed {}: review the diff", golden_path().display());
        return;
    }

    let golden = read_golden();
    let expected = &golden["files"];
    let mut msg = String::new();
    for (file, got) in actual.as_object().unwrap() {
        if expected.get(file) != Some(got) {
            msg += &format!(
                "{file}:\n  expected {}\n  actual   {}\n",
                expected
                    .get(file)
                    .map_or("(absent)".into(), Value::to_string),
                got
            );
        }
    }
    for file in expected.as_object().unwrap().keys() {
        if actual.get(file).is_none() {
            msg += &format!("{file}: in expected.json, not in the corpus\n");
        }
    }
    assert!(
        msg.is_empty(),
        "{msg}(SIGIL_BLESS=1 rewrites the `files` section)"
    );

    // What the golden file promises, in numbers (see the atomic README).
    let count = |key: &str, f: &dyn Fn(&Value) -> usize| -> usize {
        actual
            .as_object()
            .unwrap()
            .values()
            .map(|v| f(&v[key]))
            .sum()
    };
    let events = count("events", &|v| v.as_object().unwrap().len());
    let hit = count("events", &|v| {
        v.as_object()
            .unwrap()
            .values()
            .filter(|r| r != &&json!([]))
            .count()
    });
    let findings = count("events", &|v| {
        v.as_object()
            .unwrap()
            .values()
            .map(|r| r.as_array().unwrap().len())
            .sum()
    });
    let alerts = count("alerts", &|v| v.as_array().unwrap().len());
    assert_eq!((events, hit, findings, alerts), (53, 29, 32, 7));
}

/// Every event of an `fp_*` file either gets no finding from the rule it
/// imitates, and then the filter named in `expected.json` and in the README is
/// what spares it (the rule with that filter taken out matches it), or still
/// gets it, on purpose, as the README explains.
#[test]
fn fp_look_alikes_are_spared_or_documented() {
    let sources = common::rule_sources(&pack_dir());
    let golden = read_golden();
    let fp = golden["fp"]
        .as_object()
        .expect("expected.json has an `fp` section");
    let readme = std::fs::read_to_string(atomic_dir().join("README.md")).unwrap();
    let readme_line = |id: &str| -> &str {
        readme
            .lines()
            .find(|l| l.contains(&format!("`{id}`")))
            .unwrap_or_else(|| panic!("README.md does not name {id}"))
    };

    let mut seen = BTreeSet::new();
    for (file, events) in atomic_files().iter().filter(|(f, _)| f.starts_with("fp_")) {
        let found = &golden["files"][file]["events"];
        for raw in events {
            let value: Value = serde_json::from_slice(raw).unwrap();
            let id = event_id(&value);
            seen.insert(id.clone());
            let entry = fp
                .get(&id)
                .unwrap_or_else(|| panic!("expected.json `fp` lacks {id}"));
            let rules: Vec<&str> = found[&id]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_str().unwrap())
                .collect();
            let line = readme_line(&id);
            if let Some(tuning) = entry["tuned_by"].as_str() {
                assert!(
                    entry["imitates"].is_string() && entry["spared_by"].is_null(),
                    "{id}: only an event the pack still finds has a tuning filter"
                );
                assert!(
                    line.contains(tuning),
                    "{id}: the README line must name {tuning}"
                );
                assert_tuning_spares(&sources, tuning, raw, &id);
            }
            match (entry["imitates"].as_str(), entry["spared_by"].as_str()) {
                (None, None) => assert!(
                    rules.is_empty(),
                    "{id} imitates no rule of the pack, yet got {rules:?}"
                ),
                (None, Some(_)) => panic!("{id}: spared_by without imitates"),
                (Some(rule), None) => {
                    assert!(
                        rules.contains(&rule),
                        "{id}: documented as still found by {rule}, got {rules:?}"
                    );
                    assert!(
                        line.contains("fires"),
                        "{id}: the README line must say why it still fires"
                    );
                }
                (Some(rule), Some(filter)) => {
                    assert!(
                        !rules.contains(&rule),
                        "{id}: {rule} should be spared by {filter}"
                    );
                    assert!(
                        line.contains(filter),
                        "{id}: the README line must name {filter}"
                    );
                    assert_filter_spares(&sources, rule, filter, raw, &id);
                }
            }
        }
    }
    let listed: BTreeSet<String> = fp.keys().cloned().collect();
    assert_eq!(
        listed, seen,
        "the `fp` section lists exactly the events of the fp_* files"
    );
}

/// The pack without the filter document `filter` finds `event` with `rule`,
/// and `filter` names `rule`: the filter, not some other difference, is what
/// spares it. `rules/README.md` names the filter's file.
fn assert_filter_spares(sources: &[RuleSource], rule: &str, filter: &str, event: &[u8], id: &str) {
    let source = source_named(sources, filter)
        .unwrap_or_else(|| panic!("{id}: no filter document named {filter} in the pack"));
    assert!(
        is_filter(source) && source.name == format!("filters/{filter}.yml"),
        "{id}: {} is not a filter document of filters/",
        source.name
    );
    assert!(
        source.text.contains(&format!("\n        - {rule}\n")),
        "{id}: {filter} does not name {rule} under `rules`"
    );
    assert!(
        rules_readme().contains(&format!("`{filter}.yml`")),
        "{id}: rules/README.md does not list {filter}.yml"
    );
    let without: Vec<RuleSource> = sources
        .iter()
        .filter(|s| s.name != source.name)
        .cloned()
        .collect();
    let found = run_file(&without, &[event.to_vec()]);
    let rules = &found["events"][id];
    assert!(
        rules.as_array().unwrap().iter().any(|r| r == rule),
        "{id}: the pack without {filter} still does not find it with {rule} ({rules}): \
         the filter is not what spares it"
    );
}

/// The pack with the tuning filter `tuning` (a file of `rules/tuning/`) gives
/// `event` no finding at all, where the pack alone finds it (the golden file).
fn assert_tuning_spares(pack: &[RuleSource], tuning: &str, event: &[u8], id: &str) {
    let filter = source_named(&common::rule_sources(&tuning_dir()), tuning)
        .unwrap_or_else(|| panic!("{id}: no tuning filter {tuning}.yml in rules/tuning/"))
        .clone();
    let mut sources = pack.to_vec();
    sources.push(filter);
    let found = run_file(&sources, &[event.to_vec()]);
    assert_eq!(
        found["events"][id],
        json!([]),
        "{id}: the pack with {tuning} still finds it"
    );
}

/// With every tuning filter loaded, every Atomic Red Team test gives what the
/// golden file says (the filters name the look-alikes' identities, not the
/// tests'), and no event of the false-positive cases gets a finding or an
/// alert. Every tuning filter is some look-alike's `tuned_by`.
#[test]
fn tuning_filters_spare_the_look_alikes_and_keep_the_atomic_tests() {
    let mut sources = common::rule_sources(&pack_dir());
    let tuning = common::rule_sources(&tuning_dir());
    sources.extend(tuning.iter().cloned());
    let golden = read_golden();
    for (file, events) in atomic_files() {
        let actual = run_file(&sources, &events);
        if file.starts_with("fp_") {
            for (id, rules) in actual["events"].as_object().unwrap() {
                assert_eq!(rules, &json!([]), "{file}: {id} with the tuning filters");
            }
            assert_eq!(
                actual["alerts"],
                json!([]),
                "{file} with the tuning filters"
            );
        } else {
            assert_eq!(
                actual, golden["files"][&file],
                "{file}: an Atomic Red Team test changes with the tuning filters"
            );
        }
    }
    let used: BTreeSet<&str> = golden["fp"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(|e| e["tuned_by"].as_str())
        .collect();
    let files: BTreeSet<&str> = tuning
        .iter()
        .map(|s| s.name.trim_end_matches(".yml"))
        .collect();
    assert_eq!(used, files, "every tuning filter spares some look-alike");
}

/// The whole corpus as one stream in event-time order gives the alerts of the
/// files taken one by one: no sequence crosses from one case into another
/// (the cases share principals, e.g. the Atomic tests' IAM user).
#[test]
fn whole_corpus_as_one_stream_gives_the_same_alerts() {
    let sources = common::rule_sources(&pack_dir());
    let golden = read_golden();
    let mut expected: Vec<Value> = golden["files"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|f| f["alerts"].as_array().unwrap().clone())
        .collect();
    expected.sort_by_key(|a| a.to_string());

    let time = |raw: &Vec<u8>| -> String {
        let v: Value = serde_json::from_slice(raw).unwrap();
        let t = ["eventTime", "timestamp", "eventTimestamp", "time"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .unwrap_or_else(|| panic!("event without a time: {v}"))
            .to_string();
        t[..19].to_string() // RFC 3339 to the second; the sort is stable
    };
    let mut all: Vec<Vec<u8>> = atomic_files()
        .into_iter()
        .flat_map(|(_, events)| events)
        .collect();
    all.sort_by_key(|e| time(e));
    let actual = run_file(&sources, &all);
    assert_eq!(actual["alerts"], Value::Array(expected));
}
