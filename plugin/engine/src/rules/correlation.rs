//! From a `correlation:` YAML document to a [`Def`]: syntax only.
//!
//! References to other rules stay names here; `link` resolves them once the
//! whole pack is loaded, because a correlation may name a rule that comes
//! later in the pack (or in another file). Every error carries the line of
//! the node at fault, like the rest of the rule loader.

use crate::rules::document::{self, At, at, string_list};
use crate::rules::yaml::{Node, Scalar};
use crate::vocab::level::Level;

/// Most `group-by` fields a correlation may name: a group key is at most this
/// many values, which bounds the bytes of one key (see the module docs of
/// `correlation`).
pub(crate) const MAX_GROUP_FIELDS: usize = 8;

/// The longest `timespan` accepted: 366 days. Longer windows are not a
/// streaming question, and the bound keeps window arithmetic far from
/// overflow.
const MAX_TIMESPAN_MS: i64 = 366 * 86_400_000;

/// A correlation type (Sigma correlation specification 2.x, plus the numeric
/// aggregations of 2.1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Kind {
    /// Number of events.
    EventCount,
    /// Number of distinct values of `field`.
    ValueCount,
    /// Number of the referenced rules that matched, in any order.
    Temporal,
    /// Number of the referenced rules that matched in the listed order (the
    /// longest ordered prefix of `rules`).
    TemporalOrdered,
    /// Sum of the numeric values of `field`.
    ValueSum,
    /// Mean of the numeric values of `field`.
    ValueAvg,
    /// The given percentile (0-100) of the numeric values of `field`, by
    /// linear interpolation; `value_median` is percentile 50.
    ValuePercentile(f64),
}

impl Kind {
    fn parse(name: &str, percentile: Option<f64>) -> Option<Kind> {
        Some(match name {
            "event_count" => Kind::EventCount,
            "value_count" => Kind::ValueCount,
            "temporal" => Kind::Temporal,
            "temporal_ordered" => Kind::TemporalOrdered,
            "value_sum" => Kind::ValueSum,
            "value_avg" => Kind::ValueAvg,
            "value_percentile" => Kind::ValuePercentile(percentile.unwrap_or(50.0)),
            "value_median" => Kind::ValuePercentile(50.0),
            _ => return None,
        })
    }

    /// Whether the type reads a `field` of each event.
    pub fn needs_field(self) -> bool {
        !matches!(
            self,
            Kind::EventCount | Kind::Temporal | Kind::TemporalOrdered
        )
    }

    /// Whether the field is read as numbers (else as text).
    pub fn numeric(self) -> bool {
        matches!(
            self,
            Kind::ValueSum | Kind::ValueAvg | Kind::ValuePercentile(_)
        )
    }

    /// Whether the value counts matched rules.
    pub fn temporal(self) -> bool {
        matches!(self, Kind::Temporal | Kind::TemporalOrdered)
    }
}

/// One comparison of the condition map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
    Neq,
}

/// The condition: every comparison holds (`gt: 100` and `lte: 200` is a range).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Condition(pub Vec<(Op, f64)>);

impl Condition {
    /// Whether `value` meets every comparison. Equality allows for the
    /// rounding of sums and means, as the reference evaluator does.
    pub fn holds(&self, value: f64) -> bool {
        self.0.iter().all(|&(op, t)| match op {
            Op::Gt => value > t,
            Op::Gte => value >= t,
            Op::Lt => value < t,
            Op::Lte => value <= t,
            Op::Eq => (value - t).abs() < f64::EPSILON,
            Op::Neq => (value - t).abs() >= f64::EPSILON,
        })
    }
}

/// One entry of `aliases`: the alias name, and for each rule (id or name)
/// the field path it stands for.
pub(crate) type Alias = (String, Vec<(String, String)>);

/// A correlation document, parsed but not linked.
#[derive(Clone, Debug)]
pub(crate) struct Def {
    pub id: Option<String>,
    pub name: Option<String>,
    pub title: String,
    pub level: Level,
    pub score: u8,
    pub tags: Vec<String>,
    pub kind: Kind,
    /// `rules`: ids or names of detection rules or correlations, in order.
    pub refs: Vec<String>,
    /// `group-by`: field paths or alias names.
    pub group_by: Vec<String>,
    /// `aliases`: alias name → (rule id or name → field path).
    pub aliases: Vec<Alias>,
    pub timespan_ms: i64,
    pub condition: Condition,
    /// `condition.field`: the field(s) value types read (several fields make
    /// a tuple for `value_count`).
    pub fields: Vec<String>,
    /// `generate`: whether the referenced rules also report on their own.
    pub generate: bool,
    /// `sigil.aggregate`: the columns of an aggregate record; empty for a
    /// correlation that alerts when its condition is met.
    pub aggregate: Vec<AggColumn>,
    pub line: u32,
}

/// What an aggregate column computes over the matches of a window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AggFn {
    /// How many matches (`count`).
    Count,
    /// The least value (`min(F)`): numerically when both are numbers.
    Min,
    /// The greatest value (`max(F)`).
    Max,
    /// The distinct values, sorted, as a JSON array (`values(F)`).
    Values,
}

/// One column of `sigil.aggregate`: its name, function and argument (a
/// label of the matching rule's finding, else an event field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AggColumn {
    pub name: String,
    pub func: AggFn,
    pub arg: Option<String>,
}

const CORRELATION_KEYS: [&str; 8] = [
    "type",
    "rules",
    "group-by",
    "timespan",
    "timeframe",
    "condition",
    "aliases",
    "generate",
];

/// Parses a document that has a `correlation` section.
pub(crate) fn parse(doc: &Node, corr: &Node) -> Result<Def, At> {
    let entries = corr.as_map().ok_or_else(|| {
        at(
            corr,
            "`correlation` must be a map (type, rules, group-by, timespan, condition)",
        )
    })?;
    for (k, _) in entries {
        let key = k.text().unwrap_or("");
        if !CORRELATION_KEYS.contains(&key) {
            return Err(at(
                k,
                format!(
                    "unknown correlation attribute `{key}`; expected one of {}",
                    CORRELATION_KEYS.join(", ")
                ),
            ));
        }
    }
    let title = doc
        .get("title")
        .and_then(Node::as_str)
        .ok_or_else(|| at(doc, "a correlation needs a `title`"))?
        .to_string();
    let level = document::level(doc)?;
    let tags = document::tags(doc)?;
    let (score, aggregate) = extension(doc)?;
    let score = score.unwrap_or(level.default_score());

    let type_node = corr
        .get("type")
        .ok_or_else(|| at(corr, "a correlation needs a `type`"))?;
    let type_name = type_node.as_str().unwrap_or("");
    let cond_node = corr.get("condition");
    let percentile = match cond_node.and_then(|c| c.get("percentile")) {
        None => None,
        Some(p) => match number(p) {
            Some(v) if (0.0..=100.0).contains(&v) => Some(v),
            _ => return Err(at(p, "condition.percentile must be a number from 0 to 100")),
        },
    };
    let kind = Kind::parse(type_name, percentile).ok_or_else(|| {
        at(
            type_node,
            format!(
                "unknown correlation type `{type_name}`; expected event_count, value_count, temporal, \
                 temporal_ordered, value_sum, value_avg, value_percentile or value_median"
            ),
        )
    })?;
    if percentile.is_some() && !matches!(type_name, "value_percentile") {
        return Err(at(
            type_node,
            "condition.percentile only applies to value_percentile",
        ));
    }

    let rules_node = corr.get("rules").ok_or_else(|| {
        at(
            corr,
            "a correlation needs `rules`: the ids or names of the rules it correlates",
        )
    })?;
    let refs = string_list(rules_node)?;
    if refs.is_empty() {
        return Err(at(rules_node, "`rules` cannot be empty"));
    }

    let group_by = match corr.get("group-by") {
        None => Vec::new(),
        Some(g) => {
            let list = string_list(g)?;
            if list.len() > MAX_GROUP_FIELDS {
                return Err(at(
                    g,
                    format!(
                        "group-by names {} fields; at most {MAX_GROUP_FIELDS} are allowed",
                        list.len()
                    ),
                ));
            }
            list.iter()
                .map(|f| field_path(f).map_err(|e| at(g, e)))
                .collect::<Result<_, _>>()?
        }
    };

    let span_node = corr
        .get("timespan")
        .or_else(|| corr.get("timeframe"))
        .ok_or_else(|| at(corr, "a correlation needs a `timespan` such as 10m"))?;
    let timespan_ms = timespan(span_node.text().unwrap_or("")).map_err(|e| at(span_node, e))?;

    let (condition, fields) = match cond_node {
        Some(c) => condition(c, kind)?,
        None if kind.temporal() => (Condition(vec![(Op::Gte, refs.len() as f64)]), Vec::new()),
        None => {
            return Err(at(
                corr,
                format!("a {type_name} correlation needs a `condition` such as `gte: 10`"),
            ));
        }
    };

    let aliases = match corr.get("aliases") {
        None => Vec::new(),
        Some(a) => aliases(a)?,
    };
    for (alias, _) in &aliases {
        if !group_by.contains(alias) && !fields.contains(alias) {
            let node = corr.get("aliases").unwrap_or(corr);
            return Err(at(
                node,
                format!("alias `{alias}` is not used by group-by or condition.field"),
            ));
        }
    }

    let generate = match doc.get("generate").or_else(|| corr.get("generate")) {
        None => false,
        Some(g) => match g.scalar() {
            Some(Scalar::Bool(b)) => b,
            _ => return Err(at(g, "generate must be true or false")),
        },
    };

    Ok(Def {
        id: doc.get("id").and_then(Node::as_str).map(str::to_string),
        name: doc.get("name").and_then(Node::as_str).map(str::to_string),
        title,
        level,
        score,
        tags,
        kind,
        refs,
        group_by,
        aliases,
        timespan_ms,
        condition,
        fields,
        generate,
        aggregate,
        line: doc.line,
    })
    .and_then(|d| {
        if !d.aggregate.is_empty() && d.kind != Kind::EventCount {
            let node = doc.get("sigil").unwrap_or(doc);
            return Err(at(node, "sigil.aggregate applies to `type: event_count` correlations: the record counts the matches of each group"));
        }
        Ok(d)
    })
}

/// The `sigil` attribute of a correlation: `score`, and `aggregate`, which
/// makes it emit one record per group and window when the window closes,
/// with these columns (as LogScale's `groupBy` and Sumo's `stats ... by`
/// do), instead of an alert when the condition is first met.
fn extension(doc: &Node) -> Result<(Option<u8>, Vec<AggColumn>), At> {
    let Some(ext) = doc.get("sigil") else {
        return Ok((None, Vec::new()));
    };
    let entries = ext
        .as_map()
        .ok_or_else(|| at(ext, "`sigil` must be a map"))?;
    let mut score = None;
    let mut aggregate = Vec::new();
    for (k, v) in entries {
        match k.text().unwrap_or("") {
            "score" => match v.scalar() {
                Some(Scalar::Int(n)) if (0..=100).contains(&n) => score = Some(n as u8),
                _ => return Err(at(v, "sigil.score must be a whole number from 0 to 100")),
            },
            "aggregate" => {
                let columns = v
                    .as_map()
                    .filter(|m| !m.is_empty())
                    .ok_or_else(|| at(v, "sigil.aggregate must map column names to count, min(F), max(F) or values(F)"))?;
                for (name, spec) in columns {
                    let name = name.text().unwrap_or("").to_string();
                    let text = spec.as_str().ok_or_else(|| {
                        at(
                            spec,
                            "an aggregate column is count, min(F), max(F) or values(F)",
                        )
                    })?;
                    let (func, arg) =
                        agg_fn(text).map_err(|e| at(spec, format!("column `{name}`: {e}")))?;
                    if aggregate.iter().any(|c: &AggColumn| c.name == name) {
                        return Err(at(spec, format!("column `{name}` is given twice")));
                    }
                    aggregate.push(AggColumn { name, func, arg });
                }
            }
            other => {
                return Err(at(
                    k,
                    format!(
                        "unknown sigil attribute `{other}` on a correlation; score and aggregate apply"
                    ),
                ));
            }
        }
    }
    Ok((score, aggregate))
}

/// `count`, `min(F)`, `max(F)` or `values(F)`.
fn agg_fn(text: &str) -> Result<(AggFn, Option<String>), String> {
    let text = text.trim();
    if text == "count" || text == "count()" {
        return Ok((AggFn::Count, None));
    }
    let bad = || format!("`{text}` is not count, min(F), max(F) or values(F)");
    let (func, rest) = text.split_once('(').ok_or_else(bad)?;
    let arg = rest
        .strip_suffix(')')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or_else(bad)?;
    let func = match func.trim() {
        "min" => AggFn::Min,
        "max" => AggFn::Max,
        "values" => AggFn::Values,
        _ => return Err(bad()),
    };
    Ok((func, Some(arg.to_string())))
}

fn number(n: &Node) -> Option<f64> {
    match n.scalar()? {
        Scalar::Int(i) => Some(i as f64),
        Scalar::Float(f) if f.is_finite() => Some(f),
        _ => None,
    }
}

/// `Ns`, `Nm`, `Nh`, `Nd` or `Nw`, in milliseconds.
pub(crate) fn timespan(text: &str) -> Result<i64, String> {
    let bad = || {
        format!(
            "`{text}` is not a timespan: write a whole number and a unit (s, m, h, d, w), e.g. 10m"
        )
    };
    // The unit is the last byte; a last character of several bytes is no
    // unit (and splitting inside it would panic).
    let Some((digits, unit)) = text.split_at_checked(text.len().saturating_sub(1)) else {
        return Err(bad());
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let unit_ms: i64 = match unit {
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 604_800_000,
        _ => return Err(bad()),
    };
    let n: i64 = digits.parse().map_err(|_| bad())?;
    match n.checked_mul(unit_ms) {
        Some(0) => Err("the timespan must be longer than zero".into()),
        Some(ms) if ms <= MAX_TIMESPAN_MS => Ok(ms),
        _ => Err(format!(
            "`{text}` is longer than the longest timespan accepted (366d)"
        )),
    }
}

/// A field path as the extractor knows it: `a.b[].c` (an array of objects)
/// is `a.b.c`, since arrays are transparent.
fn field_path(f: &str) -> Result<String, String> {
    if f.is_empty() {
        return Err("a field name cannot be empty".into());
    }
    let path = f.replace("[]", "");
    if path.contains('[') || path.contains(']') {
        return Err(format!(
            "`{f}`: array positions cannot be selected; write `items[]` (or `items`) to mean every element"
        ));
    }
    Ok(path)
}

fn condition(c: &Node, kind: Kind) -> Result<(Condition, Vec<String>), At> {
    if c.as_str().is_some() {
        return Err(at(
            c,
            "a condition expression over rule names is not supported; use a map such as `gte: 2`",
        ));
    }
    let entries = c
        .as_map()
        .ok_or_else(|| at(c, "condition must be a map such as `gte: 100`"))?;
    let mut ops = Vec::new();
    let mut fields = Vec::new();
    for (k, v) in entries {
        let key = k.text().unwrap_or("");
        let op = match key {
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "eq" => Op::Eq,
            "neq" => Op::Neq,
            "percentile" => continue,
            "field" => {
                let list = string_list(v)?;
                if list.is_empty() {
                    return Err(at(v, "condition.field cannot be empty"));
                }
                if list.len() > MAX_GROUP_FIELDS {
                    return Err(at(
                        v,
                        format!(
                            "condition.field names {} fields; at most {MAX_GROUP_FIELDS} are allowed",
                            list.len()
                        ),
                    ));
                }
                fields = list
                    .iter()
                    .map(|f| field_path(f).map_err(|e| at(v, e)))
                    .collect::<Result<_, _>>()?;
                continue;
            }
            other => {
                return Err(at(
                    k,
                    format!(
                        "unknown condition key `{other}`; expected gt, gte, lt, lte, eq, neq, field or percentile"
                    ),
                ));
            }
        };
        let n = number(v).ok_or_else(|| at(v, format!("condition `{key}` takes a number")))?;
        ops.push((op, n));
    }
    if ops.is_empty() {
        return Err(at(
            c,
            "the condition needs a comparison: gt, gte, lt, lte, eq or neq",
        ));
    }
    if kind.needs_field() && fields.is_empty() {
        return Err(at(
            c,
            "this correlation type needs `field` in its condition",
        ));
    }
    if !kind.needs_field() && !fields.is_empty() {
        return Err(at(
            c,
            "condition.field only applies to value_count, value_sum, value_avg and value_percentile",
        ));
    }
    if kind.numeric() && fields.len() > 1 {
        return Err(at(c, "a numeric aggregation reads exactly one field"));
    }
    Ok((Condition(ops), fields))
}

fn aliases(a: &Node) -> Result<Vec<Alias>, At> {
    let entries = a
        .as_map()
        .ok_or_else(|| at(a, "aliases must map each alias to {rule name: field}"))?;
    let mut out = Vec::new();
    for (k, v) in entries {
        let alias = k.text().unwrap_or("").to_string();
        let map = v
            .as_map()
            .ok_or_else(|| at(v, format!("alias `{alias}` must map rule names to fields")))?;
        let mut mapping = Vec::new();
        for (rk, rv) in map {
            let rule = rk.text().unwrap_or("").to_string();
            let field = rv
                .as_str()
                .ok_or_else(|| at(rv, "an alias field must be a string"))?;
            mapping.push((rule, field_path(field).map_err(|e| at(rv, e))?));
        }
        out.push((alias, mapping));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(text: &str) -> Result<Def, String> {
        let docs = crate::rules::yaml::load(text).unwrap();
        let doc = &docs[0];
        parse(doc, doc.get("correlation").unwrap()).map_err(|e| e.reason)
    }

    #[test]
    fn timespans() {
        assert_eq!(timespan("90m"), Ok(5_400_000));
        assert_eq!(timespan("1d"), Ok(86_400_000));
        assert!(timespan("0s").is_err());
        assert!(timespan("5").is_err());
        assert!(timespan("1y").is_err());
        assert!(timespan("999999999999999999d").is_err());
        // Found by the `load` fuzz target: a last character of several
        // bytes was split inside (a panic), now it is no unit.
        assert!(timespan("1\u{fffd}").is_err());
        assert!(timespan("é").is_err());
    }

    #[test]
    fn temporal_defaults_to_every_rule() {
        let d = def("title: t\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: ['x[].y']\n  timespan: 5m\n").unwrap();
        assert_eq!(d.condition, Condition(vec![(Op::Gte, 2.0)]));
        assert_eq!(d.group_by, vec!["x.y"]);
        assert!(!d.generate);
    }

    #[test]
    fn errors_say_what_to_write() {
        let base = "title: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  timespan: 5m\n";
        assert!(def(base).unwrap_err().contains("needs a `condition`"));
        assert!(
            def(&format!("{base}  condition: {{gte: x}}\n"))
                .unwrap_err()
                .contains("takes a number")
        );
        assert!(
            def(&format!(
                "{base}  condition: {{gte: 1}}\n  group-by: ['a[0]']\n"
            ))
            .unwrap_err()
            .contains("array positions")
        );
        assert!(
            def(&format!("{base}  condition: {{gte: 1}}\n  window: x\n"))
                .unwrap_err()
                .contains("unknown correlation attribute")
        );
        let vc = "title: t\ncorrelation:\n  type: value_count\n  rules: [a]\n  timespan: 5m\n  condition: {gte: 2}\n";
        assert!(def(vc).unwrap_err().contains("needs `field`"));
        let pct = "title: t\ncorrelation:\n  type: value_percentile\n  rules: [a]\n  timespan: 5m\n  condition: {field: n, percentile: 90, gt: 2}\n";
        assert_eq!(def(pct).unwrap().kind, Kind::ValuePercentile(90.0));
    }

    #[test]
    fn ranges_hold_all_comparisons() {
        let c = Condition(vec![(Op::Gt, 100.0), (Op::Lte, 200.0)]);
        assert!(!c.holds(100.0) && c.holds(101.0) && c.holds(200.0) && !c.holds(201.0));
        assert!(Condition(vec![(Op::Neq, 3.0)]).holds(2.0));
    }
}
