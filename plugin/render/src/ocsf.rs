//! Findings as OCSF Detection Finding records (class 2004), for Security
//! Lake and other consumers of the Open Cybersecurity Schema Framework.
//!
//! sigil's own output is the event with its verdict spliced in; an OCSF
//! consumer wants the opposite shape: one record per finding, the event
//! inside it. [`Ocsf`] writes that record, one JSON object per finding of an
//! event and one per correlation alert, against OCSF [`OCSF_VERSION`] (the
//! schema's current release). It lives here, beside [`crate::Renderer`], and
//! does no I/O, so every host (the CLI today; the Fluent Bit module or the
//! JavaScript package later) can write the same records.
//!
//! # The mapping
//!
//! | OCSF | from |
//! |---|---|
//! | `class_uid` 2004, `category_uid` 2, `activity_id` 1 (Create), `type_uid` 200401 | fixed |
//! | `time` | the event's time field (`eventTime`, `time`, `timestamp`, `TimeGenerated`, `devicetime`, ...: the first present of the correlation clock's columns, `sigil_engine::correlation::all_time_columns`, that holds RFC 3339 or epoch seconds / milliseconds); for an event without one, the time the host writes the finding (OCSF: "or the finding creation time"); an alert's is the end of its window |
//! | `severity_id` | the rule's level: informational 1, low 2, medium 3, high 4, critical 5 |
//! | `risk_score` | the finding's score (0-100) |
//! | `status_id` 1 (New), `is_alert` | `is_alert` is false for informational rules only |
//! | `finding_info.uid`, `metadata.uid` | the rule id and the event's id (`eventID`, `insertId`, ...: `sigil_engine::correlation::ID_FIELDS`), or a hash of the event's bytes when it has none: writing the same input twice gives the same uids |
//! | `finding_info.analytic` | the rule: `uid` its Sigma id, `name` its title, `type_id` 1 (Rule) |
//! | `finding_info.attacks` | the rule's `attack.tNNNN` / `attack.tNNNN.NNN` tags (one object per technique and tactic, a sub-technique with its parent), tactics from `attack.<tactic>` / `attack.taNNNN` tags, named from ATT&CK's 14 Enterprise tactics; technique names are not known to sigil and are left out (OCSF needs a `uid` or a `name`) |
//! | `finding_info.types` | `Sigma rule` or `Sigma correlation` |
//! | `finding_info.data_sources` | the source the engine recognised (`aws.cloudtrail`, `qradar`, ...) |
//! | `finding_info.related_events` | the event's id; an alert's contributing events |
//! | `finding_info.first_seen_time` / `last_seen_time`, `start_time` / `end_time` | an alert's window |
//! | `raw_data` | the event's line, as it came |
//! | `evidences[0]` | what the finding rests on: the rule's labels (`data.labels`), and for CloudTrail the caller (`actor.user`, its access key in `programmatic_credentials`), the call (`api`: `eventName`, `eventSource`, `requestID`, `errorCode`) and its source address (`src_endpoint.ip`, only when it is an IP address); an alert's `group`, `value` and aggregate columns (`data`) |
//! | `cloud` (the `cloud` profile, named in `metadata.profiles`) | CloudTrail: `AWS`, `awsRegion`, `recipientAccountId` |
//! | `unmapped.warnings` | what kept the event from being read as it came (see the engine's `EventWarning`) |
//!
//! Events without findings and events that could not be evaluated write
//! nothing in this format: OCSF has no record for "looked at, nothing
//! found", and an error is not a finding (hosts count errors).
//!
//! # Cost
//!
//! Everything that depends only on the rule (severity, analytic, attacks)
//! is rendered once, in [`Ocsf::new`]. An event with findings is parsed
//! once (serde_json) for its context, whatever its number of findings;
//! events without findings are never looked at. That parse is the price of
//! the format and is paid only by matches, which are rare.
//!
//! # Untrusted input
//!
//! Event values are copied into JSON strings (escaped), never interpreted
//! beyond the fields above; a field of the wrong type is left out, and an
//! event that does not parse still gives its records, with its raw text
//! and without the context it could have given. No panic.

use std::borrow::Cow;
use std::io::Write as _;

use serde_json::Value;
use sigil_engine::correlation::ID_FIELDS;
use sigil_engine::{Alert, Finding, Level, RuleInfo, Verdict};

use crate::{json_object, json_string, push_u64};

/// The OCSF schema release the records follow (`metadata.version`).
pub const OCSF_VERSION: &str = "1.8.0";

/// The members every record starts with: the class and the activity.
const CLASSIFICATION: &[u8] = b"{\"activity_id\":1,\"activity_name\":\"Create\",\"category_uid\":2,\"category_name\":\"Findings\",\"class_uid\":2004,\"class_name\":\"Detection Finding\",\"type_uid\":200401,\"type_name\":\"Detection Finding: Create\",\"status_id\":1,\"status\":\"New\",";

/// ATT&CK Enterprise tactics: the tag Sigma writes (`attack.<name>`), the id
/// and the name (https://attack.mitre.org/tactics/enterprise/).
const TACTICS: [(&str, &str, &str); 14] = [
    ("reconnaissance", "TA0043", "Reconnaissance"),
    ("resource-development", "TA0042", "Resource Development"),
    ("initial-access", "TA0001", "Initial Access"),
    ("execution", "TA0002", "Execution"),
    ("persistence", "TA0003", "Persistence"),
    ("privilege-escalation", "TA0004", "Privilege Escalation"),
    ("defense-evasion", "TA0005", "Defense Evasion"),
    ("credential-access", "TA0006", "Credential Access"),
    ("discovery", "TA0007", "Discovery"),
    ("lateral-movement", "TA0008", "Lateral Movement"),
    ("collection", "TA0009", "Collection"),
    ("command-and-control", "TA0011", "Command and Control"),
    ("exfiltration", "TA0010", "Exfiltration"),
    ("impact", "TA0040", "Impact"),
];

/// One rule's parts of a record, rendered once.
struct OcsfRule {
    /// `"severity_id":N,"severity":"High","is_alert":B,"message":TITLE,`
    head: Vec<u8>,
    /// `"title":T,"analytic":{...},"attacks":[...]` (attacks when the rule
    /// has ATT&CK tags)
    info: Vec<u8>,
    /// The rule's id, the first half of its findings' uids.
    id: String,
    /// An alert's `risk_score`.
    score: u8,
}

/// Writes OCSF Detection Finding records for one loaded rule pack.
pub struct Ocsf {
    rules: Vec<OcsfRule>,
    /// `"product":{...}` of `metadata`.
    product: Vec<u8>,
    /// The columns an event's time is read from, the first present that
    /// holds a time: the correlation clock's, so that a finding and the
    /// alerts it feeds are timed alike.
    time_columns: Vec<String>,
}

impl Ocsf {
    /// A writer for the rule table `rules` (`Engine::rules()`).
    pub fn new(rules: &[RuleInfo]) -> Ocsf {
        let mut product =
            b"\"product\":{\"name\":\"sigil\",\"vendor_name\":\"sigil\",\"version\":".to_vec();
        json_string(&mut product, env!("CARGO_PKG_VERSION"));
        product.push(b'}');
        Ocsf {
            rules: rules.iter().map(OcsfRule::new).collect(),
            product,
            time_columns: sigil_engine::correlation::all_time_columns(),
        }
    }

    /// Writes one record per finding of `verdict` on `event`, each followed
    /// by a newline, and returns how many it wrote (0 for a verdict without
    /// findings; a finding of a rule index outside the table is left out).
    /// `now_ms` is the `time` of records for an event that has no time of
    /// its own.
    pub fn findings(&self, out: &mut Vec<u8>, event: &[u8], verdict: &Verdict, now_ms: i64) -> u32 {
        if verdict.findings.is_empty() {
            return 0;
        }
        let context = EventContext::read(event, &self.time_columns);
        let event_uid = match &context.id {
            Some(id) => Cow::Borrowed(id.as_str()),
            None => Cow::Owned(format!("fnv64:{:016x}", fnv64(event))),
        };
        let mut written = 0;
        for finding in &verdict.findings {
            if self.finding(out, event, &event_uid, verdict, finding, &context, now_ms) {
                out.push(b'\n');
                written += 1;
            }
        }
        written
    }

    /// One finding's record; `event_uid` is the event's id, or its hash.
    #[allow(clippy::too_many_arguments)]
    fn finding(
        &self,
        out: &mut Vec<u8>,
        event: &[u8],
        event_uid: &str,
        verdict: &Verdict,
        finding: &Finding,
        context: &EventContext,
        now_ms: i64,
    ) -> bool {
        let Some(rule) = self.rules.get(finding.rule as usize) else {
            return false;
        };
        let uid = format!("{}/{event_uid}", rule.id);
        out.extend_from_slice(CLASSIFICATION);
        out.extend_from_slice(&rule.head);
        out.extend_from_slice(b"\"time\":");
        push_i64(out, context.time_ms.unwrap_or(now_ms));
        out.extend_from_slice(b",\"risk_score\":");
        push_u64(out, finding.score.into());
        out.extend_from_slice(b",\"finding_info\":{\"uid\":");
        json_string(out, &uid);
        out.push(b',');
        out.extend_from_slice(&rule.info);
        out.extend_from_slice(b",\"types\":[\"Sigma rule\"]");
        if let Some(source) = verdict.source {
            out.extend_from_slice(b",\"data_sources\":[");
            json_string(out, source.name());
            out.push(b']');
        }
        if let Some(id) = &context.id {
            out.extend_from_slice(b",\"related_events\":[{\"uid\":");
            json_string(out, id);
            out.extend_from_slice(b"}]");
        }
        out.extend_from_slice(b"},");
        self.metadata(
            out,
            &uid,
            context.cloud.is_some(),
            context.original_time.as_deref(),
        );
        if let Some(cloud) = &context.cloud {
            out.extend_from_slice(b",\"cloud\":");
            out.extend_from_slice(cloud);
        }
        let evidence_mark = out.len();
        out.extend_from_slice(b",\"evidences\":[{");
        let evidence_start = out.len();
        if let Some(actor) = &context.actor {
            out.extend_from_slice(b"\"actor\":");
            out.extend_from_slice(actor);
        }
        if let Some(api) = &context.api {
            comma_unless_at(out, evidence_start);
            out.extend_from_slice(b"\"api\":");
            out.extend_from_slice(api);
        }
        if let Some(ip) = &context.src_ip {
            comma_unless_at(out, evidence_start);
            out.extend_from_slice(b"\"src_endpoint\":{\"ip\":");
            json_string(out, ip);
            out.push(b'}');
        }
        if !finding.labels.is_empty() {
            comma_unless_at(out, evidence_start);
            out.extend_from_slice(b"\"data\":{\"labels\":");
            json_object(out, &finding.labels);
            out.push(b'}');
        }
        if out.len() == evidence_start {
            // OCSF's evidence must name at least one artifact: none known.
            out.truncate(evidence_mark);
        } else {
            out.extend_from_slice(b"}]");
        }
        out.extend_from_slice(b",\"raw_data\":");
        json_string(out, &String::from_utf8_lossy(event));
        if !verdict.warnings.is_empty() {
            out.extend_from_slice(b",\"unmapped\":{\"warnings\":[");
            for (i, w) in verdict.warnings.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_string(out, &w.to_string());
            }
            out.extend_from_slice(b"]}");
        }
        out.push(b'}');
        true
    }

    /// Writes one correlation alert as a record and a newline, and returns
    /// true, or writes nothing and returns false when its rule index is
    /// outside the table.
    pub fn alert(&self, out: &mut Vec<u8>, a: &Alert) -> bool {
        let Some(rule) = self.rules.get(a.rule as usize) else {
            return false;
        };
        let uid = format!("{}/{}", rule.id, alert_hash(a));
        out.extend_from_slice(CLASSIFICATION);
        out.extend_from_slice(&rule.head);
        out.extend_from_slice(b"\"time\":");
        push_i64(out, a.window_end_ms);
        out.extend_from_slice(b",\"start_time\":");
        push_i64(out, a.window_start_ms);
        out.extend_from_slice(b",\"end_time\":");
        push_i64(out, a.window_end_ms);
        out.extend_from_slice(b",\"risk_score\":");
        push_u64(out, rule.score.into());
        out.extend_from_slice(b",\"finding_info\":{\"uid\":");
        json_string(out, &uid);
        out.push(b',');
        out.extend_from_slice(&rule.info);
        out.extend_from_slice(b",\"types\":[\"Sigma correlation\"],\"first_seen_time\":");
        push_i64(out, a.window_start_ms);
        out.extend_from_slice(b",\"last_seen_time\":");
        push_i64(out, a.window_end_ms);
        if !a.events.is_empty() {
            out.extend_from_slice(b",\"related_events\":[");
            for (i, id) in a.events.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(b"{\"uid\":");
                json_string(out, id);
                out.push(b'}');
            }
            out.push(b']');
        }
        out.extend_from_slice(b"},");
        self.metadata(out, &uid, false, None);
        out.extend_from_slice(b",\"evidences\":[{\"data\":{\"group\":");
        json_object(out, &a.group);
        out.extend_from_slice(b",\"value\":");
        if !a.value.is_finite() {
            out.extend_from_slice(b"null");
        } else if a.value.fract() == 0.0 && a.value.abs() < 1e15 {
            push_i64(out, a.value as i64);
        } else {
            let _ = write!(out, "{}", a.value);
        }
        if !a.labels.is_empty() {
            out.extend_from_slice(b",\"labels\":");
            json_object(out, &a.labels);
        }
        out.extend_from_slice(b"}}]}\n");
        true
    }

    /// `"metadata":{"version":...,"product":{...},"uid":UID[,"profiles":["cloud"]][,"original_time":T]}`
    fn metadata(&self, out: &mut Vec<u8>, uid: &str, cloud: bool, original_time: Option<&str>) {
        out.extend_from_slice(b"\"metadata\":{\"version\":\"");
        out.extend_from_slice(OCSF_VERSION.as_bytes());
        out.extend_from_slice(b"\",");
        out.extend_from_slice(&self.product);
        out.extend_from_slice(b",\"uid\":");
        json_string(out, uid);
        if cloud {
            out.extend_from_slice(b",\"profiles\":[\"cloud\"]");
        }
        if let Some(time) = original_time {
            out.extend_from_slice(b",\"original_time\":");
            json_string(out, time);
        }
        out.push(b'}');
    }
}

impl OcsfRule {
    fn new(r: &RuleInfo) -> OcsfRule {
        let (severity_id, severity) = match r.level {
            Level::Informational => (1, "Informational"),
            Level::Low => (2, "Low"),
            Level::Medium => (3, "Medium"),
            Level::High => (4, "High"),
            Level::Critical => (5, "Critical"),
        };
        let mut head = b"\"severity_id\":".to_vec();
        push_u64(&mut head, severity_id);
        head.extend_from_slice(b",\"severity\":");
        json_string(&mut head, severity);
        head.extend_from_slice(b",\"is_alert\":");
        head.extend_from_slice(if r.level == Level::Informational {
            b"false"
        } else {
            b"true"
        });
        head.extend_from_slice(b",\"message\":");
        json_string(&mut head, &r.title);
        head.push(b',');
        let mut info = b"\"title\":".to_vec();
        json_string(&mut info, &r.title);
        info.extend_from_slice(b",\"analytic\":{\"uid\":");
        json_string(&mut info, &r.id);
        info.extend_from_slice(b",\"name\":");
        json_string(&mut info, &r.title);
        info.extend_from_slice(b",\"type_id\":1,\"type\":\"Rule\"}");
        let attacks = attacks(&r.tags);
        if !attacks.is_empty() {
            info.extend_from_slice(b",\"attacks\":");
            info.extend_from_slice(&attacks);
        }
        OcsfRule {
            head,
            info,
            id: r.id.clone(),
            score: r.score,
        }
    }
}

/// The `attacks` array for a rule's tags, or nothing when it has no ATT&CK
/// technique or tactic tag.
fn attacks(tags: &[String]) -> Vec<u8> {
    let mut tactics: Vec<(&str, &str)> = Vec::new();
    // (technique, sub-technique), upper case as ATT&CK writes them.
    let mut techniques: Vec<(String, Option<String>)> = Vec::new();
    for tag in tags {
        let lower = tag.to_ascii_lowercase();
        let Some(name) = lower.strip_prefix("attack.") else {
            continue;
        };
        if let Some(&(_, id, caption)) = TACTICS
            .iter()
            .find(|(short, id, _)| *short == name || id.eq_ignore_ascii_case(name))
        {
            if !tactics.contains(&(id, caption)) {
                tactics.push((id, caption));
            }
            continue;
        }
        let Some((technique, sub)) = technique_id(name) else {
            continue;
        };
        match techniques.iter_mut().find(|(t, _)| *t == technique) {
            Some(entry) if entry.1.is_none() => entry.1 = sub,
            Some(_) if sub.is_some() => techniques.push((technique, sub)),
            Some(_) => {}
            None => techniques.push((technique, sub)),
        }
    }
    if tactics.is_empty() && techniques.is_empty() {
        return Vec::new();
    }
    // One object per (technique, tactic): `attack.tactics`, a list, is
    // deprecated since OCSF 1.1, and Sigma does not say which tactic a
    // technique served, so each pairing is listed.
    let tactics: Vec<Option<(&str, &str)>> = match tactics.is_empty() {
        true => vec![None],
        false => tactics.into_iter().map(Some).collect(),
    };
    let techniques: Vec<Option<(String, Option<String>)>> = match techniques.is_empty() {
        true => vec![None],
        false => techniques.into_iter().map(Some).collect(),
    };
    let mut out = b"[".to_vec();
    for technique in &techniques {
        for tactic_of in &tactics {
            if out.len() > 1 {
                out.push(b',');
            }
            out.push(b'{');
            let start = out.len();
            if let Some((technique, sub)) = technique {
                out.extend_from_slice(b"\"technique\":{\"uid\":");
                json_string(&mut out, technique);
                out.push(b'}');
                if let Some(sub) = sub {
                    out.extend_from_slice(b",\"sub_technique\":{\"uid\":");
                    json_string(&mut out, sub);
                    out.push(b'}');
                }
            }
            if let Some((id, caption)) = tactic_of {
                comma_unless_at(&mut out, start);
                out.extend_from_slice(b"\"tactic\":");
                tactic(&mut out, id, caption);
            }
            out.push(b'}');
        }
    }
    out.push(b']');
    out
}

fn tactic(out: &mut Vec<u8>, id: &str, caption: &str) {
    out.extend_from_slice(b"{\"uid\":");
    json_string(out, id);
    out.extend_from_slice(b",\"name\":");
    json_string(out, caption);
    out.push(b'}');
}

/// `t1578` → (`T1578`, None); `t1578.004` → (`T1578`, `T1578.004`).
fn technique_id(name: &str) -> Option<(String, Option<String>)> {
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let rest = name.strip_prefix('t')?;
    let (main, sub) = match rest.split_once('.') {
        Some((main, sub)) => (main, Some(sub)),
        None => (rest, None),
    };
    if !digits(main, 4) || !sub.is_none_or(|s| digits(s, 3)) {
        return None;
    }
    let technique = format!("T{main}");
    let sub = sub.map(|s| format!("{technique}.{s}"));
    Some((technique, sub))
}

/// What an event with findings says about itself, read once for all its
/// findings.
#[derive(Default)]
struct EventContext {
    time_ms: Option<i64>,
    /// The time field's text, as the event wrote it (`metadata.original_time`).
    original_time: Option<String>,
    id: Option<String>,
    /// `{"provider":"AWS",...}`
    cloud: Option<Vec<u8>>,
    /// `{"user":{...}}`
    actor: Option<Vec<u8>>,
    /// `{"operation":...,"service":{...},...}`
    api: Option<Vec<u8>>,
    src_ip: Option<String>,
}

impl EventContext {
    fn read(event: &[u8], time_columns: &[String]) -> EventContext {
        // An event read with warnings may not be UTF-8: read what can be.
        let parsed = serde_json::from_slice::<Value>(event)
            .or_else(|_| serde_json::from_str::<Value>(&String::from_utf8_lossy(event)));
        let Ok(Value::Object(map)) = parsed else {
            return EventContext::default();
        };
        let mut c = EventContext::default();
        for field in time_columns {
            let Some(v) = map.get(field) else { continue };
            if let Some(ms) = time_ms(v) {
                c.time_ms = Some(ms);
                c.original_time = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    _ => None,
                };
                break;
            }
        }
        c.id = ID_FIELDS.iter().find_map(|f| match map.get(*f) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        });
        // CloudTrail: the only source mapped further (its fields are
        // documented and stable; a SIEM row's columns vary by connector).
        let source = text(map.get("eventSource"));
        if source.is_some_and(|s| s.ends_with(".amazonaws.com")) {
            let mut cloud = b"{\"provider\":\"AWS\"".to_vec();
            if let Some(region) = text(map.get("awsRegion")) {
                cloud.extend_from_slice(b",\"region\":");
                json_string(&mut cloud, region);
            }
            if let Some(account) = text(map.get("recipientAccountId")) {
                cloud.extend_from_slice(b",\"account\":{\"uid\":");
                json_string(&mut cloud, account);
                cloud.extend_from_slice(b",\"type_id\":10,\"type\":\"AWS Account\"}");
            }
            cloud.push(b'}');
            c.cloud = Some(cloud);
            c.actor = map.get("userIdentity").and_then(cloudtrail_actor);
            if let Some(operation) = text(map.get("eventName")) {
                let mut api = b"{\"operation\":".to_vec();
                json_string(&mut api, operation);
                if let Some(service) = source {
                    api.extend_from_slice(b",\"service\":{\"name\":");
                    json_string(&mut api, service);
                    api.push(b'}');
                }
                if let Some(request) = text(map.get("requestID")) {
                    api.extend_from_slice(b",\"request\":{\"uid\":");
                    json_string(&mut api, request);
                    api.push(b'}');
                }
                let error = text(map.get("errorCode"));
                let message = text(map.get("errorMessage"));
                if error.is_some() || message.is_some() {
                    api.extend_from_slice(b",\"response\":{");
                    if let Some(error) = error {
                        api.extend_from_slice(b"\"error\":");
                        json_string(&mut api, error);
                    }
                    if let Some(message) = message {
                        if error.is_some() {
                            api.push(b',');
                        }
                        api.extend_from_slice(b"\"error_message\":");
                        json_string(&mut api, message);
                    }
                    api.push(b'}');
                }
                api.push(b'}');
                c.api = Some(api);
            }
            // `sourceIPAddress` is a service name for calls AWS makes itself.
            c.src_ip = text(map.get("sourceIPAddress"))
                .filter(|s| s.parse::<std::net::IpAddr>().is_ok())
                .map(str::to_owned);
        }
        c
    }
}

/// A non-empty string value.
fn text(v: Option<&Value>) -> Option<&str> {
    v.and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// `actor` from CloudTrail's `userIdentity`, or `None` when it names no one.
fn cloudtrail_actor(identity: &Value) -> Option<Vec<u8>> {
    let get = |path: &[&str]| {
        let mut v = identity;
        for key in path {
            v = v.get(key)?;
        }
        v.as_str().filter(|s| !s.is_empty())
    };
    let kind = get(&["type"]);
    let name = get(&["userName"]).or(get(&["sessionContext", "sessionIssuer", "userName"]));
    let uid = get(&["principalId"]);
    let account = get(&["accountId"]);
    if name.is_none() && uid.is_none() && account.is_none() {
        return None;
    }
    let mut user = b"{".to_vec();
    let start = user.len();
    for (key, value) in [("name", name), ("uid", uid), ("uid_alt", get(&["arn"]))] {
        if let Some(value) = value {
            comma_unless_at(&mut user, start);
            user.push(b'"');
            user.extend_from_slice(key.as_bytes());
            user.extend_from_slice(b"\":");
            json_string(&mut user, value);
        }
    }
    if let Some(key) = get(&["accessKeyId"]) {
        comma_unless_at(&mut user, start);
        user.extend_from_slice(b"\"programmatic_credentials\":[{\"uid\":");
        json_string(&mut user, key);
        user.extend_from_slice(b"}]");
    }
    if let Some(kind) = kind {
        // OCSF's user types; CloudTrail's others (AssumedRole, FederatedUser,
        // AWSAccount...) are Other, with CloudTrail's word.
        let type_id = match kind {
            "IAMUser" => 1,
            "Root" => 2,
            "AWSService" => 4,
            _ => 99,
        };
        comma_unless_at(&mut user, start);
        user.extend_from_slice(b"\"type_id\":");
        push_u64(&mut user, type_id);
        user.extend_from_slice(b",\"type\":");
        json_string(
            &mut user,
            match type_id {
                1 => "User",
                2 => "Admin",
                4 => "Service",
                _ => kind,
            },
        );
    }
    if let Some(account) = account {
        comma_unless_at(&mut user, start);
        user.extend_from_slice(b"\"account\":{\"uid\":");
        json_string(&mut user, account);
        user.extend_from_slice(b",\"type_id\":10,\"type\":\"AWS Account\"}");
    }
    user.push(b'}');
    let mut actor = b"{\"user\":".to_vec();
    actor.extend_from_slice(&user);
    if let Some(by) = get(&["invokedBy"]) {
        // CloudTrail's `invokedBy`, the AWS service that made the call.
        actor.extend_from_slice(b",\"app_name\":");
        json_string(&mut actor, by);
    }
    actor.push(b'}');
    Some(actor)
}

/// Milliseconds since the epoch of a time field: RFC 3339 text, or epoch
/// seconds (milliseconds above 10^12) as a number or a string of digits,
/// as the correlation clock reads them.
fn time_ms(v: &Value) -> Option<i64> {
    let from_number = |n: f64| {
        (n.is_finite() && (0.0..1e17).contains(&n)).then_some(if n > 1e12 {
            n as i64
        } else {
            (n * 1000.0) as i64
        })
    };
    match v {
        Value::Number(n) => from_number(n.as_f64()?),
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            from_number(s.parse().ok()?)
        }
        Value::String(s) => sigil_engine::parse_rfc3339_ms(s),
        _ => None,
    }
}

/// A stable id for an alert: its rule's group, window and events.
fn alert_hash(a: &Alert) -> String {
    let mut h = Fnv::default();
    for (k, v) in &a.group {
        h.write(k.as_bytes());
        h.write(&[0]);
        h.write(v.as_bytes());
        h.write(&[0]);
    }
    h.write(&a.window_start_ms.to_le_bytes());
    h.write(&a.window_end_ms.to_le_bytes());
    for id in &a.events {
        h.write(id.as_bytes());
        h.write(&[0]);
    }
    format!("fnv64:{:016x}", h.0)
}

fn fnv64(bytes: &[u8]) -> u64 {
    let mut h = Fnv::default();
    h.write(bytes);
    h.0
}

/// FNV-1a, 64 bits: a stable hash (the standard library's is randomised
/// per process), for ids only, not for anything an attacker could exploit
/// by colliding (two colliding events only share a uid).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

fn comma_unless_at(out: &mut Vec<u8>, start: usize) {
    if out.len() > start {
        out.push(b',');
    }
}

fn push_i64(out: &mut Vec<u8>, n: i64) {
    let _ = write!(out, "{n}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attacks_of(tags: &[&str]) -> String {
        let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
        String::from_utf8(attacks(&tags)).unwrap()
    }

    #[test]
    fn technique_tags() {
        assert_eq!(technique_id("t1578"), Some(("T1578".into(), None)));
        assert_eq!(
            technique_id("t1578.004"),
            Some(("T1578".into(), Some("T1578.004".into())))
        );
        for not in [
            "t157",
            "t15788",
            "t1578.04",
            "t1578.0041",
            "ta0005",
            "t1578.",
            "g0016",
        ] {
            assert_eq!(technique_id(not), None, "{not}");
        }
    }

    #[test]
    fn one_attack_per_technique_and_tactic() {
        assert_eq!(
            attacks_of(&[
                "attack.t1578.004",
                "attack.T1578",
                "attack.persistence",
                "attack.TA0005",
                "attack.t1098",
                "cve.2021-1"
            ]),
            concat!(
                r#"[{"technique":{"uid":"T1578"},"sub_technique":{"uid":"T1578.004"},"tactic":{"uid":"TA0003","name":"Persistence"}},"#,
                r#"{"technique":{"uid":"T1578"},"sub_technique":{"uid":"T1578.004"},"tactic":{"uid":"TA0005","name":"Defense Evasion"}},"#,
                r#"{"technique":{"uid":"T1098"},"tactic":{"uid":"TA0003","name":"Persistence"}},"#,
                r#"{"technique":{"uid":"T1098"},"tactic":{"uid":"TA0005","name":"Defense Evasion"}}]"#
            )
        );
        // Two sub-techniques of one technique are two attacks.
        assert_eq!(
            attacks_of(&["attack.t1578.002", "attack.t1578.004"]),
            r#"[{"technique":{"uid":"T1578"},"sub_technique":{"uid":"T1578.002"}},{"technique":{"uid":"T1578"},"sub_technique":{"uid":"T1578.004"}}]"#
        );
        assert_eq!(
            attacks_of(&["attack.impact"]),
            r#"[{"tactic":{"uid":"TA0040","name":"Impact"}}]"#
        );
        assert_eq!(attacks_of(&["detection.threat-hunting"]), "");
    }

    /// Records are timed from the correlation clock's columns, so every
    /// column a source's time is read from counts, the event's own first.
    #[test]
    fn times_come_from_the_clock_s_columns() {
        let columns = sigil_engine::correlation::all_time_columns();
        let time = |event: &str| EventContext::read(event.as_bytes(), &columns).time_ms;
        // GCP's receipt time, SIEM receipt times: no time of the event's own.
        assert_eq!(
            time(r#"{"receiveTimestamp":"2024-08-01T12:03:30Z"}"#),
            Some(1_722_513_810_000)
        );
        assert_eq!(
            time(r#"{"_receiptTime":1722513810250}"#),
            Some(1_722_513_810_250)
        );
        // A Sumo row wrapping a CloudTrail record: the record's own time.
        assert_eq!(
            time(r#"{"_messageTime":1722513899000,"eventTime":"2024-08-01T12:03:30Z"}"#),
            Some(1_722_513_810_000)
        );
        assert_eq!(
            time(r#"{"starttime":5,"devicetime":1722513810250}"#),
            Some(1_722_513_810_250)
        );
        assert_eq!(time(r#"{"when":"2024-08-01T12:03:30Z"}"#), None);
    }

    #[test]
    fn times_as_the_clock_reads_them() {
        use serde_json::json;
        assert_eq!(
            time_ms(&json!("2024-08-01T12:03:30Z")),
            Some(1_722_513_810_000)
        );
        assert_eq!(time_ms(&json!(1_722_513_810)), Some(1_722_513_810_000));
        assert_eq!(
            time_ms(&json!(1_722_513_810_250_i64)),
            Some(1_722_513_810_250)
        );
        assert_eq!(time_ms(&json!("1722513810250")), Some(1_722_513_810_250));
        for not in [
            json!(""),
            json!("yesterday"),
            json!(-1),
            json!(1e300),
            json!(null),
            json!({}),
        ] {
            assert_eq!(time_ms(&not), None, "{not}");
        }
    }

    #[test]
    fn hostile_cloudtrail_values_are_left_out_or_escaped() {
        let event = br#"{"eventSource":"ec2.amazonaws.com","eventName":7,"awsRegion":"\"},\"x\":{","sourceIPAddress":"ec2.amazonaws.com","userIdentity":{"type":["IAMUser"],"userName":"a\u0000b"}}"#;
        let c = EventContext::read(event, &[]);
        assert!(c.api.is_none(), "a numeric eventName names no call");
        assert!(c.src_ip.is_none(), "a service name is no IP address");
        let cloud: Value = serde_json::from_slice(c.cloud.as_deref().unwrap()).unwrap();
        assert_eq!(cloud["region"], "\"},\"x\":{");
        let actor: Value = serde_json::from_slice(c.actor.as_deref().unwrap()).unwrap();
        assert_eq!(actor, serde_json::json!({"user": {"name": "a\u{0}b"}}));
        // Not JSON at all: no context, no panic.
        assert!(
            EventContext::read(b"{\"eventSource\":", &[])
                .cloud
                .is_none()
        );
    }
}
