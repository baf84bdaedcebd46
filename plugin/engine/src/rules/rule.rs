//! From a Sigma YAML document to a compiled rule.
//!
//! Three kinds of document exist (Sigma 2.x): detection rules (with
//! `detection`), filters (with `filter`, applied to other rules by id or
//! name) and correlations (with `correlation`, parsed by the `correlation`
//! module and linked once the whole pack is loaded). Every error carries the
//! line of the node at fault.

use crate::matching::column::Column;
use crate::matching::expr::{Expr, KEYWORDS};
use crate::matching::label::{Arm, Label, LabelValue};
use crate::matching::matcher::{FieldCond, NoLookup, Slots, StrPat, Test};
use crate::rules::condition::{self, Cond, OfTarget};
use crate::rules::document::{At, at, level, string_list, tags};
use crate::rules::field::{self, CompileCtx};
use crate::rules::modifier::Modifier;
use crate::rules::schema;
use crate::rules::yaml::{Node, Scalar, Yaml};
use crate::vocab::level::Level;
use crate::vocab::logsource::Source;
use crate::vocab::timepart;
use crate::vocab::value::{Anchor, Val};

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
        ok(&self.product, &rule.product)
            && ok(&self.service, &rule.service)
            && ok(&self.category, &rule.category)
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
    /// The label whose value is the finding's score (`sigil.score: LABEL`).
    pub score_label: Option<usize>,
    pub tags: Vec<String>,
    pub logsource: LogSource,
    /// One per source the rule reads: a single variant for `source: None`
    /// (any event), or, with `sigil.schema`, the schema's own rows and each
    /// raw source it maps from.
    pub variants: Vec<Variant>,
    /// Example events: (must match, JSON text).
    pub tests: Vec<(bool, String)>,
    pub line: u32,
}

/// A rule compiled for one source.
#[derive(Clone, Debug)]
pub(crate) struct Variant {
    pub source: Option<Source>,
    pub expr: Expr,
    pub labels: Vec<Label>,
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
            && self
                .rules
                .iter()
                .any(|r| Some(r) == rule.id.as_ref() || Some(r) == rule.name.as_ref())
    }
}

/// A compiled document.
pub(crate) enum Doc {
    Rule(Box<Rule>),
    Filter(Filter),
    Correlation(Box<crate::rules::correlation::Def>),
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
        return Err(at(
            doc,
            format!("a Sigma document must be a map, not {}", doc.kind()),
        ));
    }
    let logsource = logsource(doc)?;
    if let Some(c) = doc.get("correlation") {
        return crate::rules::correlation::parse(doc, c).map(|d| Doc::Correlation(Box::new(d)));
    }
    if doc.get("action").is_some() {
        return Err(at(
            doc,
            "`action: global/reset/repeat` collections were removed in Sigma 2.0; split the file into separate rules",
        ));
    }
    if let Some(f) = doc.get("filter") {
        let rules = f.get("rules").ok_or_else(|| {
            at(
                f,
                "a filter needs `rules:` listing the ids or names it applies to",
            )
        })?;
        let rules = string_list(rules)?;
        let (expr, _) = detection(f, &["rules"], cx, slots)?;
        return Ok(Doc::Filter(Filter {
            rules,
            logsource,
            expr,
            line: doc.line,
        }));
    }
    let schema_node = doc.get("sigil").and_then(|x| x.get("schema"));
    let Some(schema_node) = schema_node else {
        let rule = rule_for(doc, logsource, None, cx, slots)?;
        return Ok(Doc::Rule(Box::new(rule)));
    };
    let name = schema_node
        .as_str()
        .ok_or_else(|| at(schema_node, "sigil.schema must be a schema name"))?;
    let schema = schema::find(name).map_err(|e| at(schema_node, e))?;
    let own = CompileCtx {
        mapping: None,
        dynamic: &schema.dynamic,
        ..*cx
    };
    let mut rule = rule_for(doc, logsource.clone(), Some(schema.source), &own, slots)?;
    for mapping in &schema.mappings {
        let mcx = CompileCtx {
            mapping: Some(mapping),
            dynamic: &schema.dynamic,
            ..*cx
        };
        let r = rule_for(doc, logsource.clone(), Some(mapping.source), &mcx, slots).map_err(
            |mut e| {
                e.reason = format!(
                    "mapped to {} (schema {name}): {}",
                    mapping.source.name(),
                    e.reason
                );
                e
            },
        )?;
        rule.variants.extend(r.variants);
    }
    Ok(Doc::Rule(Box::new(rule)))
}

/// Compiles a detection rule for one source.
fn rule_for(
    doc: &Node,
    logsource: LogSource,
    source: Option<Source>,
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<Rule, At> {
    let det = doc
        .get("detection")
        .ok_or_else(|| at(doc, "a rule needs a `detection` section"))?;
    let title = doc
        .get("title")
        .and_then(Node::as_str)
        .ok_or_else(|| at(doc, "a rule needs a `title`"))?
        .to_string();
    let level = level(doc)?;
    let tags = tags(doc)?;
    let (expr, searches) = detection(det, &[], cx, slots)?;
    let mut rule = Rule {
        id: doc.get("id").and_then(Node::as_str).map(str::to_string),
        name: doc.get("name").and_then(Node::as_str).map(str::to_string),
        title,
        level,
        score: level.default_score(),
        score_label: None,
        tags,
        logsource,
        variants: vec![Variant {
            source,
            expr,
            labels: Vec::new(),
        }],
        tests: Vec::new(),
        line: doc.line,
    };
    if let Some(ext) = doc.get("sigil") {
        extension(ext, &mut rule, &searches, cx, slots)?;
    }
    Ok(rule)
}

fn logsource(doc: &Node) -> Result<LogSource, At> {
    let Some(ls) = doc.get("logsource") else {
        return Ok(LogSource::default());
    };
    if ls.as_map().is_none() {
        return Err(at(
            ls,
            "logsource must be a map of category, product and service",
        ));
    }
    let field = |k: &str| {
        ls.get(k)
            .and_then(Node::as_str)
            .map(|s| s.to_ascii_lowercase())
    };
    Ok(LogSource {
        product: field("product"),
        service: field("service"),
        category: field("category"),
    })
}

/// The `sigil:` custom attribute: `score`, `labels`, `tests`, `schema`.
/// Standard Sigma tools keep it as an unknown attribute and ignore it.
fn extension(
    ext: &Node,
    rule: &mut Rule,
    searches: &[(String, Expr)],
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<(), At> {
    let entries = ext
        .as_map()
        .ok_or_else(|| at(ext, "`sigil` must be a map (score, labels, tests, schema)"))?;
    let mut score_name = None;
    for (k, v) in entries {
        match k.text().unwrap_or("") {
            "score" => match v.scalar() {
                Some(Scalar::Int(n)) if (0..=100).contains(&n) => rule.score = n as u8,
                Some(Scalar::Str(name)) => score_name = Some((name.to_string(), v)),
                _ => {
                    return Err(at(
                        v,
                        "sigil.score must be a whole number from 0 to 100, or the name of a label",
                    ));
                }
            },
            "labels" => {
                let m = v
                    .as_map()
                    .ok_or_else(|| at(v, "sigil.labels must be a map of names to values"))?;
                let labels = &mut rule.variants[0].labels;
                for (lk, lv) in m {
                    let name = lk.text().unwrap_or("").to_string();
                    if labels.iter().any(|l| l.name == name) {
                        return Err(at(lk, format!("label `{name}` is given twice")));
                    }
                    let value = label_value(lv, searches, cx, slots).map_err(|e| At {
                        reason: format!("label `{name}`: {}", e.reason),
                        ..e
                    })?;
                    labels.push(Label { name, value });
                }
            }
            "tests" => {
                let items = v
                    .as_seq()
                    .ok_or_else(|| at(v, "sigil.tests must be a list of {match, event}"))?;
                for t in items {
                    let expect = match t.get("match").and_then(Node::scalar) {
                        Some(Scalar::Bool(b)) => b,
                        _ => {
                            return Err(at(
                                t,
                                "each sigil.tests entry needs `match: true` or `match: false`",
                            ));
                        }
                    };
                    let event = t
                        .get("event")
                        .ok_or_else(|| at(t, "each sigil.tests entry needs an `event` map"))?;
                    if event.as_map().is_none() {
                        return Err(at(event, "a test event must be a map (a JSON object)"));
                    }
                    rule.tests.push((expect, to_json(event).to_string()));
                }
            }
            // Read before compiling (see `compile_inner`).
            "schema" => {}
            other => {
                return Err(at(
                    k,
                    format!(
                        "unknown sigil attribute `{other}`; expected score, labels, tests or schema"
                    ),
                ));
            }
        }
    }
    if let Some((name, node)) = score_name {
        let labels = &rule.variants[0].labels;
        let index = labels.iter().position(|l| l.name == name).ok_or_else(|| {
            at(
                node,
                format!("sigil.score names the label `{name}`, which sigil.labels does not define"),
            )
        })?;
        let score_of = |t: &str| t.parse::<u8>().ok().filter(|n| *n <= 100);
        let ok = match &labels[index].value {
            LabelValue::Const(c) => score_of(c).is_some(),
            LabelValue::Case(arms) => arms
                .iter()
                .all(|a| matches!(&a.then, LabelValue::Const(c) if score_of(c).is_some())),
            LabelValue::Field { .. } => false,
        };
        if !ok {
            return Err(at(
                node,
                format!(
                    "sigil.score: every value of label `{name}` must be a whole number from 0 to 100 (a `case` whose arms all say one, or a constant)"
                ),
            ));
        }
        rule.score_label = Some(index);
    }
    Ok(())
}

/// One value of `sigil.labels`: a scalar, `{field, pattern, format}` or `{case}`.
fn label_value(
    v: &Node,
    searches: &[(String, Expr)],
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<LabelValue, At> {
    if let Some(t) = v.text() {
        return Ok(LabelValue::Const(t.to_string()));
    }
    let Some(entries) = v.as_map() else {
        return Err(at(
            v,
            "a label is a scalar, `{field: PATH}` or `{case: [...]}`",
        ));
    };
    for (k, _) in entries {
        let key = k.text().unwrap_or("");
        if !matches!(key, "field" | "pattern" | "format" | "case") {
            return Err(at(
                k,
                format!(
                    "unknown key `{key}`; a label value has `field` (with `pattern`, `format`) or `case`"
                ),
            ));
        }
    }
    if let Some(arms) = v.get("case") {
        if entries.len() > 1 {
            return Err(at(v, "a label has either `case` or `field`, not both"));
        }
        return case(arms, searches, cx, slots).map(LabelValue::Case);
    }
    field_label(v, cx, slots)
}

/// `{field: PATH or [PATHS], pattern: REGEX, format: DATE}`.
fn field_label(v: &Node, cx: &CompileCtx<'_>, slots: &mut dyn Slots) -> Result<LabelValue, At> {
    let node = v
        .get("field")
        .ok_or_else(|| at(v, "a label value needs `field` (or `case`)"))?;
    let paths = string_list(node)
        .map_err(|_| at(node, "`field` must be a field path or a list of paths"))?;
    if paths.is_empty() {
        return Err(at(node, "`field` must name at least one path"));
    }
    let pattern = match v.get("pattern") {
        None => None,
        Some(p) => {
            let text = p
                .as_str()
                .ok_or_else(|| at(p, "`pattern` must be a regex"))?;
            let re =
                regex_lite::Regex::new(text).map_err(|e| at(p, format!("bad pattern: {e}")))?;
            if re.captures_len() < 2 {
                return Err(at(
                    p,
                    "`pattern` needs a capture group: the label is its first group",
                ));
            }
            Some(re)
        }
    };
    let format = match v.get("format") {
        None => None,
        Some(f) => {
            let text = f.as_str().ok_or_else(|| {
                at(
                    f,
                    "`format` must be a date pattern such as 'yyyy-MM-dd HH:mm:ss'",
                )
            })?;
            Some(timepart::parse_date_pattern(text).map_err(|e| at(f, e))?)
        }
    };
    let column = |p: &str| cx.mapping.and_then(|m| m.column(p));
    let from = match (paths.as_slice(), column(&paths[0])) {
        ([_], Some(c @ (Column::Value(_) | Column::Renamed { .. } | Column::Derived { .. }))) => {
            c.map(|p| slots.json_slot(p))
        }
        _ => {
            let mut list = Vec::new();
            for p in &paths {
                match column(p) {
                    None => list.push(slots.json_slot(p)),
                    Some(Column::First(alts)) => {
                        list.extend(alts.iter().map(|a| slots.json_slot(a)))
                    }
                    Some(_) => {
                        return Err(at(
                            node,
                            format!(
                                "`{p}` is a constant, renamed or derived column for this source; name it alone, not in a list"
                            ),
                        ));
                    }
                }
            }
            Column::First(list)
        }
    };
    Ok(LabelValue::Field {
        from,
        pattern,
        format,
    })
}

/// The arms of a `case`: ordered, first match wins, an optional final `else`.
fn case(
    arms: &Node,
    searches: &[(String, Expr)],
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<Vec<Arm>, At> {
    let items = arms.as_seq().filter(|i| !i.is_empty()).ok_or_else(|| {
        at(
            arms,
            "`case` must be a non-empty list of {when, then} arms, optionally ending with {else}",
        )
    })?;
    let mut out = Vec::with_capacity(items.len());
    for (i, arm) in items.iter().enumerate() {
        let entries = arm.as_map().ok_or_else(|| {
            at(
                arm,
                "a case arm is {when: ..., then: VALUE} or {else: VALUE}",
            )
        })?;
        for (k, _) in entries {
            let key = k.text().unwrap_or("");
            if !matches!(key, "when" | "then" | "else") {
                return Err(at(
                    k,
                    format!("unknown key `{key}` in a case arm; expected when/then or else"),
                ));
            }
        }
        let value = |n: &Node, slots: &mut dyn Slots| -> Result<LabelValue, At> {
            match n.text() {
                Some(t) => Ok(LabelValue::Const(t.to_string())),
                None if n.get("field").is_some() => field_label(n, cx, slots),
                None => Err(at(n, "`then` and `else` take a scalar or a `{field: ...}`")),
            }
        };
        if let Some(e) = arm.get("else") {
            if arm.get("when").is_some() || arm.get("then").is_some() {
                return Err(at(arm, "an `else` arm has no `when` or `then`"));
            }
            if i + 1 != items.len() {
                return Err(at(
                    arm,
                    "`else` must be the last arm of a case: arms after it could never apply",
                ));
            }
            out.push(Arm {
                when: None,
                then: value(e, slots)?,
            });
            continue;
        }
        let when = arm
            .get("when")
            .ok_or_else(|| at(arm, "a case arm needs `when` (or is the final `else`)"))?;
        let then = arm.get("then").ok_or_else(|| {
            at(
                arm,
                "a case arm needs `then`: the label's value when `when` holds",
            )
        })?;
        let expr = match when.as_str() {
            Some(text) => {
                let parsed = condition::parse(text).map_err(|e| at(when, e))?;
                resolve(&parsed, searches).map_err(|e| at(when, e))?
            }
            None => search(when, cx, slots)?,
        };
        out.push(Arm {
            when: Some(expr),
            then: value(then, slots)?,
        });
    }
    Ok(out)
}

/// A YAML node as JSON, for test events written in rule files.
fn to_json(n: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &n.value {
        Yaml::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Yaml::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.text().unwrap_or("").to_string(), to_json(v)))
                .collect(),
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
fn detection(
    det: &Node,
    skip: &[&str],
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<(Expr, Vec<(String, Expr)>), At> {
    let entries = det
        .as_map()
        .ok_or_else(|| at(det, "detection must be a map of searches and a condition"))?;
    let mut searches: Vec<(String, Expr)> = Vec::new();
    let mut condition = None;
    for (k, v) in entries {
        let name = k.text().unwrap_or("");
        match name {
            "condition" => condition = Some(v),
            "timeframe" => {
                return Err(at(
                    k,
                    "`timeframe` in a detection was removed in Sigma 2.0; use a correlation rule",
                ));
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
        let text = c
            .as_str()
            .ok_or_else(|| at(c, "a condition must be a string"))?;
        let parsed = condition::parse(text).map_err(|e| at(c, e))?;
        exprs.push(resolve(&parsed, &searches).map_err(|e| at(c, e))?);
    }
    // A list of conditions means any of them (Sigma 1.x style, still valid).
    let expr = if exprs.len() == 1 {
        exprs.pop().unwrap()
    } else {
        Expr::Or(exprs)
    };
    Ok((expr, searches))
}

fn resolve(c: &Cond, searches: &[(String, Expr)]) -> Result<Expr, String> {
    Ok(match c {
        Cond::Ident(name) => searches
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, e)| e.clone())
            .ok_or_else(|| {
                format!("the condition names `{name}`, which is not a search of this detection")
            })?,
        Cond::Not(inner) => Expr::Not(Box::new(resolve(inner, searches)?)),
        Cond::And(items) => Expr::And(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
        Cond::Or(items) => Expr::Or(
            items
                .iter()
                .map(|i| resolve(i, searches))
                .collect::<Result<_, _>>()?,
        ),
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
            Ok(if all.len() == 1 {
                all.pop().unwrap()
            } else {
                Expr::And(all)
            })
        }
        Yaml::Seq(items) if items.iter().all(|i| i.as_map().is_some()) && !items.is_empty() => {
            let any = items
                .iter()
                .map(|i| search(i, cx, slots))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if any.len() == 1 {
                any.into_iter().next().unwrap()
            } else {
                Expr::Or(any)
            })
        }
        Yaml::Seq(items) if items.iter().all(|i| i.text().is_some()) && !items.is_empty() => {
            keywords(&[], v, cx, slots)
        }
        Yaml::Scalar { .. } => keywords(&[], v, cx, slots),
        Yaml::Seq(_) => Err(at(v, "a search list must hold only maps or only keywords")),
    }
}

fn keywords(
    mods: &[Modifier],
    v: &Node,
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<Expr, At> {
    let mut mods = mods.to_vec();
    if !mods.iter().any(|m| {
        matches!(
            m,
            Modifier::Contains | Modifier::StartsWith | Modifier::EndsWith | Modifier::Re
        )
    }) {
        mods.push(Modifier::Contains);
    }
    let cond = field::compile(KEYWORDS, &mods, v, cx, slots).map_err(|e| at(v, e))?;
    if cond
        .tests
        .iter()
        .any(|t| !matches!(t, Test::Str { .. } | Test::Re(_)))
    {
        return Err(at(v, "keywords must be strings"));
    }
    Ok(Expr::Keywords(cond))
}

fn field_entry(
    k: &Node,
    vals: &Node,
    cx: &CompileCtx<'_>,
    slots: &mut dyn Slots,
) -> Result<Expr, At> {
    let key = k
        .text()
        .ok_or_else(|| at(k, "a field name must be a string"))?;
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
    let dynamic = cx.dynamic.iter().any(|d| d == field);
    let cond_on = |path: &str, slots: &mut dyn Slots| {
        let slot = if dynamic {
            slots.json_slot(path)
        } else {
            slots.slot(path)
        };
        field::compile(slot, &mods, vals, cx, slots).map_err(|e| at(vals, format!("{key}: {e}")))
    };
    match cx.mapping.and_then(|m| m.column(field)) {
        None => Ok(Expr::Field(cond_on(field, slots)?)),
        Some(Column::First(paths)) => {
            let conds = paths
                .iter()
                .map(|p| cond_on(p, slots))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(first_present(conds))
        }
        Some(Column::Value(c)) => {
            let cond = cond_on(field, slots)?;
            Ok(constant(cond.eval(
                &[(cond.slot, Val::Str(c.as_str().into()))],
                &NoLookup,
            )))
        }
        Some(Column::Renamed { at: path, values }) => {
            let cond = cond_on(path, slots)?;
            let exact = |raw: Vec<&String>| FieldCond {
                slot: cond.slot,
                tests: raw
                    .into_iter()
                    .map(|r| Test::Str {
                        pat: StrPat::Anchored(Anchor::Exact, r.clone()),
                        cased: true,
                    })
                    .collect(),
                all: false,
                neq: false,
            };
            // A renamed raw value holds when its column value passes the
            // test; any other raw value is tested as it is.
            let passing: Vec<&String> = values
                .iter()
                .filter(|(_, col)| {
                    cond.eval(&[(cond.slot, Val::Str(col.as_str().into()))], &NoLookup)
                })
                .map(|(raw, _)| raw)
                .collect();
            let renamed = exact(values.iter().map(|(raw, _)| raw).collect());
            let mut any = vec![Expr::And(vec![
                Expr::Not(Box::new(Expr::Field(renamed))),
                Expr::Field(cond.clone()),
            ])];
            if !passing.is_empty() {
                any.insert(0, Expr::Field(exact(passing)));
            }
            Ok(Expr::Or(any))
        }
        Some(Column::Derived { at: path, .. }) => Err(at(
            k,
            format!(
                "`{field}` comes from `{path}` through a pattern for this source; a rule can label with it (sigil.labels) but not test it"
            ),
        )),
    }
}

/// A test on the first present of several paths: each path is tested only
/// when all before it are absent.
fn first_present(mut conds: Vec<FieldCond>) -> Expr {
    if conds.len() == 1 {
        return Expr::Field(conds.pop().unwrap());
    }
    let exists = |slot: u32| {
        Expr::Field(FieldCond {
            slot,
            tests: vec![Test::Exists(true)],
            all: false,
            neq: false,
        })
    };
    let slots: Vec<u32> = conds.iter().map(|c| c.slot).collect();
    let last = conds.len() - 1;
    let arms = conds
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            let mut parts: Vec<Expr> = slots[..i]
                .iter()
                .map(|&s| Expr::Not(Box::new(exists(s))))
                .collect();
            if i < last {
                parts.push(exists(slots[i]));
            }
            parts.push(Expr::Field(c));
            Expr::And(parts)
        })
        .collect();
    Expr::Or(arms)
}

/// A condition known when the rule is compiled: true is an empty `And`,
/// false an empty `Or` (which the prefilter reads as "never").
fn constant(holds: bool) -> Expr {
    if holds {
        Expr::And(Vec::new())
    } else {
        Expr::Or(Vec::new())
    }
}
