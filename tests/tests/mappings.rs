//! One rule, raw logs or SIEM rows: a law for the schema mappings.
//!
//! A Sentinel connector turns a raw CloudTrail record into an
//! `AWSCloudTrail` row, and an Azure Activity Log record into an
//! `AzureActivity` row; the QRadar DSMs turn both into QRadar events. This
//! test builds those rows from raw events with its own code, written from
//! the vendors' column references (not from `plugin/engine/schemas/`), and
//! checks that every parity rule says the same of the raw event and of its
//! row: it matches both or neither, with the same labels. Raw events: every
//! CloudTrail record of the Stratus corpus and every event of the Atomic Red
//! Team corpus (AWS, and Azure in both shapes).

mod common;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sigil_engine::{Engine, Options, Verdict};

fn pack() -> Engine {
    let dir = common::data_dir().join("../../rules/seeds");
    Engine::load(&common::rule_sources(&dir), Options::default()).expect("the parity pack loads")
}

/// Every raw event of both corpora, compact, with where it came from.
fn raw_events() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for c in common::stratus_captures() {
        for event in sigil_engine::input::document_events(&c.bytes).unwrap() {
            let mut compact = Vec::new();
            sigil_engine::input::minify_into(event, &mut compact);
            out.push((c.file.clone(), compact));
        }
    }
    let dir = common::data_dir().join("atomic");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
    {
        let text = std::fs::read_to_string(&path).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            out.push((
                path.file_name().unwrap().to_string_lossy().into_owned(),
                line.as_bytes().to_vec(),
            ));
        }
    }
    out
}

/// The compact JSON text of a field, keys in the event's own order (as the
/// connectors copy it), by slicing the raw text.
fn json_text(raw: &[u8], key: &str) -> Option<String> {
    let top: BTreeMap<String, &serde_json::value::RawValue> = serde_json::from_slice(raw).ok()?;
    let v = top.get(key)?;
    let mut out = Vec::new();
    sigil_engine::input::minify_into(v.get().as_bytes(), &mut out);
    Some(String::from_utf8(out).unwrap())
}

fn put(row: &mut Map<String, Value>, column: &str, value: Option<&Value>) {
    if let Some(v) = value.filter(|v| !v.is_null()) {
        row.insert(column.to_string(), v.clone());
    }
}

/// Sentinel `AWSCloudTrail` row of a CloudTrail record.
/// https://learn.microsoft.com/azure/azure-monitor/reference/tables/awscloudtrail
fn aws_cloudtrail_row(raw: &[u8], e: &Value) -> Value {
    let mut row = Map::new();
    row.insert("Type".into(), json!("AWSCloudTrail"));
    for (column, path) in [
        ("TimeGenerated", "/eventTime"),
        ("EventName", "/eventName"),
        ("EventSource", "/eventSource"),
        ("AWSRegion", "/awsRegion"),
        ("SourceIpAddress", "/sourceIPAddress"),
        ("ErrorCode", "/errorCode"),
        ("ErrorMessage", "/errorMessage"),
        ("RecipientAccountId", "/recipientAccountId"),
        ("UserIdentityArn", "/userIdentity/arn"),
        ("UserIdentityType", "/userIdentity/type"),
    ] {
        put(&mut row, column, e.pointer(path));
    }
    if let Some(text) = json_text(raw, "requestParameters").filter(|t| t != "null") {
        row.insert("RequestParameters".into(), Value::String(text));
    }
    Value::Object(row)
}

const UPN: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
const OID: &str = "http://schemas.microsoft.com/identity/claims/objectidentifier";

/// Sentinel `AzureActivity` row of an Azure Activity Log record, from either
/// shape. https://learn.microsoft.com/azure/azure-monitor/reference/tables/azureactivity
fn azure_activity_row(e: &Value) -> Value {
    let mut row = Map::new();
    row.insert("Type".into(), json!("AzureActivity"));
    let rest = e.pointer("/operationName/value").is_some();
    let s = |p: &str| e.pointer(p).cloned();
    let resource_id = e.get("resourceId").and_then(Value::as_str).unwrap_or("");
    let segment = |name: &str| {
        let lower = resource_id.to_ascii_lowercase();
        let at = lower.find(&format!("/{name}/"))? + name.len() + 2;
        resource_id[at..].split('/').next().map(|v| json!(v))
    };
    if rest {
        put(&mut row, "TimeGenerated", s("/eventTimestamp").as_ref());
        put(
            &mut row,
            "OperationNameValue",
            s("/operationName/value").as_ref(),
        );
        let status = s("/status/value").map(|v| match v.as_str() {
            Some("Succeeded") => json!("Success"),
            Some("Failed") => json!("Failure"),
            Some("Started") => json!("Start"),
            Some("Accepted") => json!("Accept"),
            _ => v,
        });
        put(&mut row, "ActivityStatusValue", status.as_ref());
        put(&mut row, "Caller", s("/caller").as_ref());
        put(
            &mut row,
            "CallerIpAddress",
            s("/httpRequest/clientIpAddress").as_ref(),
        );
        put(&mut row, "ResourceGroup", s("/resourceGroupName").as_ref());
        put(&mut row, "SubscriptionId", s("/subscriptionId").as_ref());
    } else {
        put(&mut row, "TimeGenerated", s("/time").as_ref());
        put(&mut row, "OperationNameValue", s("/operationName").as_ref());
        put(&mut row, "ActivityStatusValue", s("/resultType").as_ref());
        let claims = e.pointer("/identity/claims");
        let caller = e
            .get("caller")
            .or_else(|| claims.and_then(|c| c.get(UPN).or_else(|| c.get(OID))));
        put(&mut row, "Caller", caller);
        put(&mut row, "CallerIpAddress", s("/callerIpAddress").as_ref());
        put(
            &mut row,
            "ResourceGroup",
            segment("resourcegroups").as_ref(),
        );
        put(
            &mut row,
            "SubscriptionId",
            segment("subscriptions").as_ref(),
        );
    }
    put(&mut row, "_ResourceId", s("/resourceId").as_ref());
    put(&mut row, "Properties_d", s("/properties").as_ref());
    Value::Object(row)
}

/// QRadar event of a CloudTrail record, as the Amazon AWS CloudTrail DSM
/// fills the seed's properties.
fn qradar_row(e: &Value) -> Value {
    let mut row = Map::new();
    row.insert("logsourcetypename".into(), json!("Amazon AWS CloudTrail"));
    let ms = e["eventTime"].as_str().and_then(rfc3339_ms);
    put(&mut row, "devicetime", ms.map(|m| json!(m)).as_ref());
    let user = [
        "/userIdentity/userName",
        "/userIdentity/sessionContext/sessionIssuer/userName",
        "/userIdentity/principalId",
    ]
    .iter()
    .find_map(|p| e.pointer(p).filter(|v| !v.is_null()));
    put(&mut row, "username", user);
    put(&mut row, "Operation", e.get("eventName"));
    put(&mut row, "ResourceType", e.get("eventSource"));
    put(&mut row, "SubscriptionId", e.get("recipientAccountId"));
    Value::Object(row)
}

/// `YYYY-MM-DDThh:mm:ss[.fff]Z` in milliseconds since the epoch (UTC only:
/// CloudTrail writes nothing else).
fn rfc3339_ms(s: &str) -> Option<i64> {
    let n = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        n(0, 4)?,
        n(5, 7)?,
        n(8, 10)?,
        n(11, 13)?,
        n(14, 16)?,
        n(17, 19)?,
    );
    let ms = s
        .get(19..)
        .and_then(|f| f.strip_prefix('.'))
        .map_or(0, |f| {
            let digits: String = f.chars().take_while(char::is_ascii_digit).take(3).collect();
            format!("{digits:0<3}").parse().unwrap_or(0)
        });
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 86_400 + h * 3600 + mi * 60 + se) * 1000) + ms)
}

/// (rule id, labels) of every finding.
fn findings(engine: &Engine, v: &Verdict) -> Vec<(String, Vec<(String, String)>)> {
    v.findings
        .iter()
        .map(|f| (engine.rules()[f.rule as usize].id.clone(), f.labels.clone()))
        .collect()
}

#[test]
fn parity_rules_say_the_same_of_a_raw_event_and_of_its_siem_row() {
    let mut engine = pack();
    let mut compared = BTreeMap::<&str, usize>::new();
    for (file, raw) in raw_events() {
        let event: Value = serde_json::from_slice(&raw).unwrap();
        let rows: Vec<(&str, Value)> = if event.get("eventSource").is_some() {
            vec![
                ("sentinel.AWSCloudTrail", aws_cloudtrail_row(&raw, &event)),
                ("qradar", qradar_row(&event)),
            ]
        } else if event.get("operationName").is_some() {
            vec![("sentinel.AzureActivity", azure_activity_row(&event))]
        } else {
            continue; // GCP: no seed query reads it
        };
        let on_raw = engine.evaluate(&raw).unwrap();
        for (schema, row) in rows {
            let on_row = engine.evaluate(row.to_string().as_bytes()).unwrap();
            if on_row.matched() {
                assert_eq!(
                    on_row.source.map(|s| s.name()),
                    Some(schema),
                    "the verdict names the row's schema"
                );
            }
            // The rules of this schema only: the QRadar rules also see a
            // Sentinel row's fields under other names, and vice versa.
            let of_schema = |f: &(String, Vec<(String, String)>)| {
                let title = &engine.rules().iter().find(|r| r.id == f.0).unwrap().title;
                match schema {
                    "qradar" => title.contains("QRadar"),
                    "sentinel.AWSCloudTrail" => title.contains("AWSCloudTrail"),
                    _ => title.contains("AzureActivity"),
                }
            };
            let a: Vec<_> = findings(&engine, &on_raw)
                .into_iter()
                .filter(of_schema)
                .collect();
            let b: Vec<_> = findings(&engine, &on_row)
                .into_iter()
                .filter(of_schema)
                .collect();
            assert_eq!(
                a,
                b,
                "{file}: {schema} row {row}\nraw event {}",
                String::from_utf8_lossy(&raw)
            );
            if !a.is_empty() {
                *compared.entry(schema).or_default() += 1;
            }
        }
    }
    // Not vacuous: each schema's rules matched raw events.
    for schema in ["sentinel.AWSCloudTrail", "sentinel.AzureActivity", "qradar"] {
        assert!(
            compared.get(schema).copied().unwrap_or(0) > 0,
            "no raw event matched a {schema} rule: {compared:?}"
        );
    }
    eprintln!("raw events whose findings equal their rows': {compared:?}");
}
