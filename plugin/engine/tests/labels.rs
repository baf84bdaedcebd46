//! The `sigil:` rule extension for SIEM parity: labels projected from the
//! event, CASE columns, scores from a CASE, schemas and aggregate records.
//! What each construct computes, and that every misuse is refused at load
//! with the line and a reason (which is what `sigil rules check` prints).

use sigil_engine::{Engine, LoadError, Options, RuleSource};

fn load(yaml: &str) -> Result<Engine, LoadError> {
    Engine::load(&[RuleSource::new("test.yml", yaml)], Options::default())
}

fn labels(engine: &mut Engine, event: &str) -> Option<(u8, Vec<(String, String)>)> {
    let v = engine.evaluate(event.as_bytes()).unwrap();
    v.findings.first().map(|f| (f.score, f.labels.clone()))
}

fn refused(yaml: &str) -> String {
    match load(yaml) {
        Err(LoadError::InvalidRule(e)) => format!("line {}: {}", e.line, e.reason),
        Err(other) => panic!("expected an invalid rule, got {other}"),
        Ok(_) => panic!("expected the rule to be refused:\n{yaml}"),
    }
}

const RULE: &str = r#"
title: t
logsource: {product: qradar}
detection:
    sel: {Operation|contains: [compute, snapshot, instance]}
    success: {ResultType|cased: Success}
    condition: sel
sigil:
    score: RiskScore
    labels:
        Provider: AWS
        When: {field: devicetime, format: 'yyyy-MM-dd HH:mm:ss'}
        Who: {field: [username, principal]}
        Group: {field: resourceId, pattern: '(?i)/resourcegroups/([^/]+)'}
        RiskScore:
            case:
                - when: {Operation|contains: [delete, destroy]}
                  then: 90
                - when: sel and success
                  then: 70
                - else: 40
        AlertType:
            case:
                - when: {Operation|contains: delete}
                  then: Deletion
                - when: {Operation|contains: snapshot}
                  then: {field: Operation}
"#;

#[test]
fn case_takes_the_first_arm_that_holds_and_scores_the_finding() {
    let mut e = load(RULE).unwrap();
    let (score, l) = labels(
        &mut e,
        r#"{"Operation":"DeleteSnapshot","devicetime":1722513600000,"username":"alice"}"#,
    )
    .unwrap();
    assert_eq!(score, 90);
    let get = |k: &str| l.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        get("RiskScore"),
        Some("90"),
        "delete wins over the snapshot arm"
    );
    assert_eq!(get("AlertType"), Some("Deletion"));
    assert_eq!(get("When"), Some("2024-08-01 12:00:00"));
    assert_eq!(get("Who"), Some("alice"));
    assert_eq!(get("Provider"), Some("AWS"));
    assert_eq!(get("Group"), None, "no resourceId: the label is left out");
    let names: Vec<&str> = l.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["Provider", "When", "Who", "RiskScore", "AlertType"],
        "the rule's order"
    );
}

#[test]
fn else_fields_patterns_and_missing_arms() {
    let mut e = load(RULE).unwrap();
    let (score, l) = labels(
        &mut e,
        r#"{"Operation":"CreateSnapshot","ResultType":"success","principal":"bob","devicetime":"2024-08-01T12:00:00.5Z","resourceId":"/subscriptions/s/resourceGroups/RG-1/providers/x"}"#,
    )
    .unwrap();
    let get = |k: &str| l.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(
        (score, get("RiskScore")),
        (40, Some("40")),
        "`success` is cased: ELSE"
    );
    assert_eq!(
        get("AlertType"),
        Some("CreateSnapshot"),
        "a `then` may name a field"
    );
    assert_eq!(get("Who"), Some("bob"), "first present of the list");
    assert_eq!(get("Group"), Some("RG-1"));
    assert_eq!(get("When"), Some("2024-08-01 12:00:00"), "RFC 3339 input");
    let (_, l) = labels(&mut e, r#"{"Operation":"RunInstances"}"#).unwrap();
    assert!(
        l.iter().all(|(n, _)| n != "AlertType"),
        "no arm holds and no else: left out"
    );
}

#[test]
fn misuse_is_refused_with_line_and_reason() {
    let case_rule = |case: &str| {
        format!(
            "title: t\nlogsource: {{product: x}}\ndetection:\n    sel: {{a: b}}\n    condition: sel\nsigil:\n    labels:\n        L:\n            case:\n{case}"
        )
    };
    let err = refused(&case_rule(
        "                - else: 1\n                - when: sel\n                  then: 2\n",
    ));
    assert!(err.contains("`else` must be the last arm"), "{err}");
    assert!(err.starts_with("line 10"), "{err}");
    let err = refused(&case_rule(
        "                - when: nosuch\n                  then: 2\n",
    ));
    assert!(err.contains("`nosuch`"), "{err}");
    let err = refused(&case_rule("                - when: sel\n"));
    assert!(err.contains("needs `then`"), "{err}");
    let err = refused(&case_rule(
        "                - when: sel\n                  then: 1\n                  score: 3\n",
    ));
    assert!(err.contains("unknown key `score`"), "{err}");
    let err = refused(&case_rule(
        "                - when: sel\n                  then: {case: []}\n",
    ));
    assert!(err.contains("scalar or a `{field"), "{err}");

    let scored = |labels: &str| {
        format!(
            "title: t\nlogsource: {{product: x}}\ndetection:\n    sel: {{a: b}}\n    condition: sel\nsigil:\n    score: S\n    labels:\n{labels}"
        )
    };
    let err = refused(&scored("        S: {field: a}\n"));
    assert!(err.contains("whole number from 0 to 100"), "{err}");
    let err = refused(&scored(
        "        S:\n            case:\n                - when: sel\n                  then: high\n                - else: 10\n",
    ));
    assert!(err.contains("every value of label `S`"), "{err}");
    let err = refused(&scored("        T: 5\n"));
    assert!(err.contains("does not define"), "{err}");
    let err = refused(&scored("        S: {field: a, case: []}\n"));
    assert!(err.contains("either `case` or `field`"), "{err}");
    let err = refused(&scored("        S: {field: a, pattern: 'no group'}\n"));
    assert!(err.contains("capture group"), "{err}");
    let err = refused(&scored("        S: {field: a, format: 'yyyy-QQ'}\n"));
    assert!(err.contains("`Q` is not a field"), "{err}");
}

#[test]
fn schemas_are_named_and_checked() {
    let err = refused(
        "title: t\nlogsource: {product: x}\ndetection:\n    sel: {a: b}\n    condition: sel\nsigil:\n    schema: splunk\n",
    );
    assert!(
        err.contains("unknown schema `splunk`") && err.contains("sentinel.AzureActivity"),
        "{err}"
    );
    // ResourceGroup comes from resourceId through a pattern in the
    // diagnostic-settings shape: it can be a label, not a test.
    let err = refused(
        "title: t\nlogsource: {product: azure}\ndetection:\n    sel: {ResourceGroup: rg}\n    condition: sel\nsigil:\n    schema: sentinel.AzureActivity\n",
    );
    assert!(
        err.contains("mapped to azure.activity") && err.contains("not test it"),
        "{err}"
    );
}

#[test]
fn a_schema_rule_runs_on_its_rows_and_on_the_raw_sources_it_maps_from() {
    let mut e = load(
        r#"
title: t
logsource: {product: azure, service: activitylogs}
detection:
    sel: {OperationNameValue|endswith: /disks/write, ActivityStatusValue: Success}
    condition: sel
sigil:
    schema: sentinel.AzureActivity
    labels:
        Group: {field: ResourceGroup}
"#,
    )
    .unwrap();
    let row = r#"{"Type":"AzureActivity","OperationNameValue":"MICROSOFT.COMPUTE/DISKS/WRITE","ActivityStatusValue":"Success","ResourceGroup":"rg-a"}"#;
    let diag = r#"{"operationName":"MICROSOFT.COMPUTE/DISKS/WRITE","category":"Administrative","resultType":"Success","resourceId":"/SUBSCRIPTIONS/S/RESOURCEGROUPS/RG-A/PROVIDERS/MICROSOFT.COMPUTE/DISKS/D"}"#;
    let rest = r#"{"operationName":{"value":"Microsoft.Compute/disks/write"},"status":{"value":"Succeeded"},"resourceGroupName":"rg-a"}"#;
    let failed = r#"{"operationName":{"value":"Microsoft.Compute/disks/write"},"status":{"value":"Failed"},"resourceGroupName":"rg-a"}"#;
    for (event, source, group) in [
        (row, "sentinel.AzureActivity", "rg-a"),
        (diag, "azure.activity", "RG-A"),
        (rest, "azure.activity.rest", "rg-a"),
    ] {
        let v = e.evaluate(event.as_bytes()).unwrap();
        assert_eq!(v.source.map(|s| s.name()), Some(source), "{event}");
        assert_eq!(v.findings.len(), 1, "{event}");
        assert_eq!(
            v.findings[0].labels,
            [("Group".to_string(), group.to_string())],
            "{event}"
        );
    }
    assert!(
        !e.evaluate(failed.as_bytes()).unwrap().matched(),
        "Failed is Sentinel's Failure"
    );
    // A raw record of another product is not mapped.
    let trail = r#"{"eventSource":"ec2.amazonaws.com","OperationNameValue":"x/disks/write","ActivityStatusValue":"Success"}"#;
    assert!(!e.evaluate(trail.as_bytes()).unwrap().matched());
}

#[test]
fn aggregates_emit_one_record_per_group_when_the_window_closes() {
    let options = Options {
        correlation_lateness_ms: 60_000,
        ..Options::default()
    };
    let mut e = Engine::load(
        &[RuleSource::new(
            "test.yml",
            r#"
title: base
name: base
logsource: {product: falcon}
detection:
    sel: {OperationName|contains: snapshot}
    condition: sel
sigil:
    labels:
        Risk:
            case:
                - when: {OperationName|contains: delete}
                  then: High
                - else: Medium
---
title: agg
correlation:
    type: event_count
    rules: [base]
    group-by: [user]
    timespan: 10m
    condition: {gte: 2}
sigil:
    aggregate:
        N: count
        First: min(ts)
        Last: max(ts)
        Ops: values(OperationName)
        Risks: values(Risk)
"#,
        )],
        options,
    )
    .unwrap();
    let ev = |user: &str, op: &str, t: i64| {
        format!(r#"{{"user":"{user}","OperationName":"{op}","timestamp":{t},"ts":{t}}}"#)
    };
    let t0 = 1_722_513_600_000i64;
    let mut alerts = Vec::new();
    for (u, op, dt) in [
        ("a", "CreateSnapshot", 0),
        ("a", "DeleteSnapshot", 60_000),
        ("b", "CreateSnapshot", 90_000),
        ("a", "CreateSnapshot", 120_000),
    ] {
        e.evaluate(ev(u, op, t0 + dt).as_bytes()).unwrap();
        alerts.extend(e.take_alerts());
    }
    assert!(
        alerts.is_empty(),
        "nothing before the window closes: {alerts:?}"
    );
    // Eleven minutes later the watermark has passed a's window.
    e.evaluate(ev("c", "CreateSnapshot", t0 + 12 * 60_000).as_bytes())
        .unwrap();
    alerts.extend(e.take_alerts());
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let a = &alerts[0];
    assert_eq!(a.group, [("user".to_string(), "a".to_string())]);
    assert_eq!(a.value, 3.0);
    let first = (t0).to_string();
    let last = (t0 + 120_000).to_string();
    assert_eq!(
        a.labels,
        [
            ("N".to_string(), "3".to_string()),
            ("First".to_string(), first),
            ("Last".to_string(), last),
            (
                "Ops".to_string(),
                r#"["CreateSnapshot","DeleteSnapshot"]"#.to_string()
            ),
            ("Risks".to_string(), r#"["High","Medium"]"#.to_string()),
        ]
    );
    // b had one match (condition gte 2: no record); c's window closes at flush.
    let rest = e.flush();
    assert!(rest.is_empty(), "b and c each have one match: {rest:?}");
}

#[test]
fn aggregate_misuse_is_refused() {
    let corr = |ty: &str, agg: &str| {
        format!(
            "title: b\nname: b\nlogsource: {{product: x}}\ndetection:\n    s: {{a: b}}\n    condition: s\n---\ntitle: c\ncorrelation:\n    type: {ty}\n    rules: [b]\n    group-by: [u]\n    timespan: 1h\n    condition: {{gte: 1}}\nsigil:\n    aggregate:\n{agg}"
        )
    };
    let err = refused(&corr("temporal", "        N: count\n"));
    assert!(err.contains("event_count"), "{err}");
    let err = refused(&corr("event_count", "        N: median(x)\n"));
    assert!(
        err.contains("not count, min(F), max(F) or values(F)"),
        "{err}"
    );
}
