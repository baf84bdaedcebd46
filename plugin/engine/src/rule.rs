//! From a Sigma YAML document to a compiled rule.
//!
//! Three kinds of document exist (Sigma 2.x): detection rules (with
//! `detection`), filters (with `filter`, applied to other rules by id or
//! name) and correlations (with `correlation`, parsed by the `correlation`
//! module and linked once the whole pack is loaded). Every error carries the
//! line of the node at fault.

use crate::condition::{self, Cond, OfTarget};
use crate::level::Level;
use crate::matcher::{self, CompileCtx, FieldCond, Slots, Test};
use crate::modifier::Modifier;
use crate::yaml::{Node, Scalar, Yaml};

/// Slot 0 gathers every string value of the event, for keyword searches.
pub(crate) const KEYWORDS: u32 = 0;

/// A compiled detection: a boolean tree over field tests.
#[derive(Clone, Debug)]
pub(crate) enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    /// At least `n` of the children hold.
    AtLeast(usize, Vec<Expr>),
    Field(FieldCond),
    /// Keyword search over every string value of the event.
    Keywords(FieldCond),
}

/// The `logsource` of a rule or filter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LogSource {
    pub product: Option<String>,
    pub service: Option<String>,
    pub category: Option<String>,
}

impl LogSource {
    /// Whether a filter for `self` applies to a rule for `rule`: every field
    /// the filter sets must be the rule's.
    fn covers(&self, rule: &LogSource) -> bool {
        let ok = |f: &Option<String>, r: &Option<String>| f.is_none() || f == r;
        ok(&self.product, &rule.product) && ok(&self.service, &rule.service) && ok(&self.category, &rule.category)
    }
}

/// A rule's example event and whether the rule must match it (`sigil.tests`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleTest {
    /// Index of the rule in `Engine::rules()`.
    pub rule: u32,
    /// Whether the rule must match the event.
    pub expect_match: bool,
    /// The event, as JSON text.
    pub event: String,
}

/// A detection rule, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Rule {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub level: Level,
    pub score: u8,
    pub tags: Vec<String>,
    pub logsource: LogSource,
    pub expr: Expr,
    pub labels: Vec<(String, String)>,
    /// Example events: (must match, JSON text).
    pub tests: Vec<(bool, String)>,
    pub line: u32,
}

/// A filter document, compiled.
#[derive(Clone, Debug)]
pub(crate) struct Filter {
    pub rules: Vec<String>,
    pub logsource: LogSource,
    pub expr: Expr,
    pub line: u32,
}

impl Filter {
    /// Whether this filter applies to `rule`.
    pub fn applies_to(&self, rule: &Rule) -> bool {
        self.logsource.covers(&rule.logsource)
            && self.rules.iter().any(|r| Some(r) == rule.id.as_ref() || Some(r) == rule.name.as_ref())
    }
}

/// A compiled document.
pub(crate) enum Doc {
    Rule(Box<Rule>),
    Filter(Filter),
    Correlation(Box<crate::correlation::Def>),
}

/// An error at a line, before the source name is attached.
pub(crate) struct At {
    pub line: u32,
    pub rule_id: Option<String>,
    pub reason: String,
}

pub(crate) fn at(node: &Node, reason: impl Into<String>) -> At {
    At { line: node.line, rule_id: None, reason: reason.into() }
}

/// Compiles one YAML document.
pub(crate) fn compile(doc: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Doc, At> {
    let id = doc.get("id").and_then(Node::as_str).map(str::to_string);
    compile_inner(doc, cx, slots).map_err(|mut e| {
        e.rule_id = e.rule_id.or(id);
        e
    })
}

fn compile_inner(doc: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Doc, At> {
    if doc.as_map().is_none() {
        return Err(at(doc, format!("a Sigma document must be a map, not {}", doc.kind())));
    }
    let logsource = logsource(doc)?;
    if let Some(c) = doc.get("correlation") {
        return crate::correlation::parse(doc, c).map(|d| Doc::Correlation(Box::new(d)));
    }
    if doc.get("action").is_some() {
        return Err(at(doc, "`action: global/reset/repeat` collections were removed in Sigma 2.0; split the file into separate rules"));
    }
    if let Some(f) = doc.get("filter") {
        let rules = f.get("rules").ok_or_else(|| at(f, "a filter needs `rules:` listing the ids or names it applies to"))?;
        let rules = string_list(rules)?;
        let expr = detection(f, &["rules"], cx, slots)?;
        return Ok(Doc::Filter(Filter { rules, logsource, expr, line: doc.line }));
    }
    let det = doc.get("detection").ok_or_else(|| at(doc, "a rule needs a `detection` section"))?;
    let title = doc
        .get("title")
        .and_then(Node::as_str)
        .ok_or_else(|| at(doc, "a rule needs a `title`"))?
        .to_string();
    let level = level(doc)?;
    let tags = tags(doc)?;
    let expr = detection(det, &[], cx, slots)?;
    let mut rule = Rule {
        id: doc.get("id").and_then(Node::as_str).map(str::to_string),
        name: doc.get("name").and_then(Node::as_str).map(str::to_string),
        title,
        level,
        score: level.default_score(),
        tags,
        logsource,
        expr,
        labels: Vec::new(),
        tests: Vec::new(),
        line: doc.line,
    };
    if let Some(ext) = doc.get("sigil") {
        extension(ext, &mut rule)?;
    }
    Ok(Doc::Rule(Box::new(rule)))
}

fn logsource(doc: &Node) -> Result<LogSource, At> {
    let Some(ls) = doc.get("logsource") else { return Ok(LogSource::default()) };
    if ls.as_map().is_none() {
        return Err(at(ls, "logsource must be a map of category, product and service"));
    }
    let field = |k: &str| ls.get(k).and_then(Node::as_str).map(|s| s.to_ascii_lowercase());
    Ok(LogSource { product: field("product"), service: field("service"), category: field("category") })
}

/// A document's `level` (`medium` when absent, as pySigma reads it).
pub(crate) fn level(doc: &Node) -> Result<Level, At> {
    match doc.get("level") {
        None => Ok(Level::Medium),
        Some(n) => n
            .as_str()
            .and_then(Level::parse)
            .ok_or_else(|| at(n, "level must be one of informational, low, medium, high, critical")),
    }
}

/// A document's `tags` (none when absent).
pub(crate) fn tags(doc: &Node) -> Result<Vec<String>, At> {
    doc.get("tags").map_or(Ok(Vec::new()), string_list)
}

pub(crate) fn string_list(n: &Node) -> Result<Vec<String>, At> {
    match n.as_seq() {
        Some(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| at(i, "expected a string")))
            .collect(),
        None => n.as_str().map(|s| vec![s.to_string()]).ok_or_else(|| at(n, "expected a list of strings")),
    }
}

/// The `sigil:` custom attribute: `score`, `labels`, `tests`. Standard Sigma
/// tools keep it as an unknown attribute and ignore it.
fn extension(ext: &Node, rule: &mut Rule) -> Result<(), At> {
    let entries = ext.as_map().ok_or_else(|| at(ext, "`sigil` must be a map (score, labels, tests)"))?;
    for (k, v) in entries {
        match k.text().unwrap_or("") {
            "score" => {
                rule.score = match v.scalar() {
                    Some(Scalar::Int(n)) if (0..=100).contains(&n) => n as u8,
                    _ => return Err(at(v, "sigil.score must be a whole number from 0 to 100")),
                }
            }
            "labels" => {
                let m = v.as_map().ok_or_else(|| at(v, "sigil.labels must be a map of names to values"))?;
                for (lk, lv) in m {
                    let value = lv.text().ok_or_else(|| at(lv, "a label value must be a scalar"))?;
                    rule.labels.push((lk.text().unwrap_or("").to_string(), value.to_string()));
                }
            }
            "tests" => {
                let items = v.as_seq().ok_or_else(|| at(v, "sigil.tests must be a list of {match, event}"))?;
                for t in items {
                    let expect = match t.get("match").and_then(Node::scalar) {
                        Some(Scalar::Bool(b)) => b,
                        _ => return Err(at(t, "each sigil.tests entry needs `match: true` or `match: false`")),
                    };
                    let event = t.get("event").ok_or_else(|| at(t, "each sigil.tests entry needs an `event` map"))?;
                    if event.as_map().is_none() {
                        return Err(at(event, "a test event must be a map (a JSON object)"));
                    }
                    rule.tests.push((expect, to_json(event).to_string()));
                }
            }
            other => return Err(at(k, format!("unknown sigil attribute `{other}`; expected score, labels or tests"))),
        }
    }
    Ok(())
}

/// A YAML node as JSON, for test events written in rule files.
fn to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &n.value {
        Yaml::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries.iter().map(|(k, v)| (k.text().unwrap_or("").to_string(), to_json(v))).collect(),
        ),
        Yaml::Scalar { .. } => match n.scalar() {
            Some(Scalar::Null) | None => Value::Null,
            Some(Scalar::Bool(b)) => Value::Bool(b),
            Some(Scalar::Int(i)) => Value::from(i),
            Some(Scalar::Float(f)) => Value::from(f),
            Some(Scalar::Str(s)) => Value::String(s.to_string()),
        },
    }
}

/// Compiles a `detection` (or filter) section: its searches and condition.
fn detection(det: &Node, skip: &[&str], cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Expr, At> {
    let entries = det.as_map().ok_or_else(|| at(det, "detection must be a map of searches and a condition"))?;
    let mut searches: Vec<(String, Expr)> = Vec::new();
    let mut condition = None;
    for (k, v) in entries {
        let name = k.text().unwrap_or("");
        match name {
            "condition" => condition = Some(v),
            "timeframe" => {
                return Err(at(k, "`timeframe` in a detection was removed in Sigma 2.0; use a correlation rule"));
            }
            n if skip.contains(&n) => {}
            n => searches.push((n.to_string(), search(v, cx, slots)?)),
        }
    }
    let cond_node = condition.ok_or_else(|| at(det, "detection needs a `condition`"))?;
    let conds: Vec<&Node> = match cond_node.as_seq() {
        Some(list) => list.iter().collect(),
        None => vec![cond_node],
    };
    let mut exprs = Vec::new();
    for c in conds {
        let text = c.as_str().ok_or_else(|| at(c, "a condition must be a string"))?;
        let parsed = condition::parse(text).map_err(|e| at(c, e))?;
        exprs.push(resolve(&parsed, &searches).map_err(|e| at(c, e))?);
    }
    // A list of conditions means any of them (Sigma 1.x style, still valid).
    Ok(if exprs.len() == 1 { exprs.pop().unwrap() } else { Expr::Or(exprs) })
}

fn resolve(c: &Cond, searches: &[(String, Expr)]) -> Result<Expr, String> {
    Ok(match c {
        Cond::Ident(name) => searches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| format!("the condition names `{name}`, which is not a search of this detection"))?,
        Cond::Not(inner) => Expr::Not(Box::new(resolve(inner, searches)?)),
        Cond::And(items) => Expr::And(items.iter().map(|i| resolve(i, searches)).collect::<Result<_, _>>()?),
        Cond::Or(items) => Expr::Or(items.iter().map(|i| resolve(i, searches)).collect::<Result<_, _>>()?),
        Cond::Of { min, pattern } => {
            let chosen: Vec<Expr> = searches
                .iter()
                .filter(|(n, _)| match pattern {
                    OfTarget::Them => !n.starts_with('_'),
                    OfTarget::Pattern(p) => condition::name_matches(p, n),
                })
                .map(|(_, e)| e.clone())
                .collect();
            if chosen.is_empty() {
                let what = match pattern {
                    OfTarget::Them => "them".to_string(),
                    OfTarget::Pattern(p) => p.clone(),
                };
                return Err(format!("`of {what}` matches no search of this detection"));
            }
            match min {
                None => Expr::And(chosen),
                Some(1) => Expr::Or(chosen),
                Some(n) => Expr::AtLeast(*n, chosen),
            }
        }
    })
}

/// One search: a map (all entries hold), a list of maps (any map holds), or
/// a list of keywords.
fn search(v: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Expr, At> {
    match &v.value {
        Yaml::Map(entries) => {
            let mut all = Vec::new();
            for (k, vals) in entries {
                all.push(field_entry(k, vals, cx, slots)?);
            }
            if all.is_empty() {
                return Err(at(v, "a search map cannot be empty"));
            }
            Ok(if all.len() == 1 { all.pop().unwrap() } else { Expr::And(all) })
        }
        Yaml::Seq(items) if items.iter().all(|i| i.as_map().is_some()) && !items.is_empty() => {
            let any = items.iter().map(|i| search(i, cx, slots)).collect::<Result<Vec<_>, _>>()?;
            Ok(if any.len() == 1 { any.into_iter().next().unwrap() } else { Expr::Or(any) })
        }
        Yaml::Seq(items) if items.iter().all(|i| i.text().is_some()) && !items.is_empty() => {
            keywords(&[], v, cx, slots)
        }
        Yaml::Scalar { .. } => keywords(&[], v, cx, slots),
        Yaml::Seq(_) => Err(at(v, "a search list must hold only maps or only keywords")),
    }
}

fn keywords(mods: &[Modifier], v: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Expr, At> {
    let mut mods = mods.to_vec();
    if !mods.iter().any(|m| matches!(m, Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re)) {
        mods.push(Modifier::Contains);
    }
    let cond = matcher::compile(KEYWORDS, &mods, v, cx, slots).map_err(|e| at(v, e))?;
    if cond.tests.iter().any(|t| !matches!(t, Test::Str { .. } | Test::Re(_))) {
        return Err(at(v, "keywords must be strings"));
    }
    Ok(Expr::Keywords(cond))
}

fn field_entry(k: &Node, vals: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<Expr, At> {
    let key = k.text().ok_or_else(|| at(k, "a field name must be a string"))?;
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or("");
    let mut mods = Vec::new();
    for m in parts {
        mods.push(Modifier::parse(m).ok_or_else(|| {
            at(k, format!("unknown modifier `{m}` on `{key}` (see the Sigma specification's modifier appendix)"))
        })?);
    }
    if field.is_empty() {
        return keywords(&mods, vals, cx, slots);
    }
    let slot = slots.slot(field);
    let cond = matcher::compile(slot, &mods, vals, cx, slots).map_err(|e| at(vals, format!("{key}: {e}")))?;
    Ok(Expr::Field(cond))
}
