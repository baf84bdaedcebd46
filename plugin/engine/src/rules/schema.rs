//! SIEM schemas and their field mappings: one rule for raw logs and SIEM rows.
//!
//! A rule written against a SIEM's columns (Sentinel's `AWSCloudTrail.EventName`,
//! QRadar's `Operation`) says so with `sigil.schema`. The schema, a table in
//! `plugin/engine/schemas/`, names the raw sources it maps from and, for
//! each, where every column comes from. The rule is then compiled once per
//! source: as written for the SIEM's own rows, and with its field names
//! replaced for each raw source, so that an edge collector that sees raw
//! CloudTrail or Azure Activity JSON gets the same findings and labels the
//! SIEM would. The tables are data, reviewed against the vendors' connector
//! documentation; they are embedded in the engine because the WebAssembly
//! component reads no files.
//!
//! A column maps to one of:
//!
//! - a path, or a list of paths of which the first present is used
//!   (`Caller: [caller, identity.claims.name]`);
//! - `{value: TEXT}`, a constant (the table name in `Type`, QRadar's log
//!   source type name);
//! - `{field: PATH, values: {RAW: COLUMN, ...}}`, a path whose values are
//!   renamed (`status.value: Succeeded` is Sentinel's `Success`); values not
//!   listed pass unchanged;
//! - `{field: PATH, pattern: REGEX}`, the first capture group of a regex
//!   over a path (the resource group inside an ARM resource id). Such a
//!   column can be projected into labels but not tested: a rule that tests
//!   it is refused for that source, with the reason.
//!
//! `time` lists the columns that hold a row's time, the event's own time
//! before the time the SIEM received it; correlation windows slide on the
//! first that holds a time (see `correlation::clock`).
//!
//! A column the table does not list is read under its own name. Columns
//! listed under `dynamic` hold JSON (KQL's `dynamic` type): string tests and
//! labels see their JSON text, as KQL's string operators do.
//!
//! A table's `columns` name the SIEM's own columns and the type each has
//! there (`string`, `number`, `boolean`, `datetime`, `dynamic`), and
//! `column-names: case-insensitive` says the SIEM ignores their case;
//! `markers` are the columns that tell its export from another's. Rules do
//! not need them; reading a SIEM's exports does ([`column_tables`]): a CSV
//! header is recognised by them, Sumo's lower-cased field names get their
//! case back from them, and text cells become numbers where the SIEM's
//! column is one.

use std::collections::HashMap;

use crate::matching::column::Column;
use crate::rules::yaml::{self, Node};
use crate::vocab::logsource::Source;

/// The built-in schema tables: (file name, YAML text).
const TABLES: [(&str, &str); 5] = [
    (
        "sentinel_awscloudtrail.yml",
        include_str!("../../schemas/sentinel_awscloudtrail.yml"),
    ),
    (
        "sentinel_azureactivity.yml",
        include_str!("../../schemas/sentinel_azureactivity.yml"),
    ),
    ("qradar.yml", include_str!("../../schemas/qradar.yml")),
    ("sumo.yml", include_str!("../../schemas/sumo.yml")),
    ("falcon.yml", include_str!("../../schemas/falcon.yml")),
];

/// The type a SIEM gives one of its columns, as its exports need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ColumnType {
    /// Text (also KQL's `guid`, `timespan`).
    String,
    /// KQL's `long`, `int`, `real`, `decimal`; AQL's numbers; Sumo's times.
    Number,
    /// KQL's `bool`.
    Boolean,
    /// A point in time, kept as the text the SIEM wrote.
    Datetime,
    /// JSON (KQL's `dynamic`): an export's JSON text becomes JSON again.
    Dynamic,
}

impl ColumnType {
    /// The type called `name` in a table's `columns`, or in a Log
    /// Analytics response's `columns[].type`.
    pub fn parse(name: &str) -> Option<ColumnType> {
        Some(match name {
            "string" | "guid" | "timespan" => ColumnType::String,
            "number" | "long" | "int" | "real" | "decimal" => ColumnType::Number,
            "boolean" | "bool" => ColumnType::Boolean,
            "datetime" => ColumnType::Datetime,
            "dynamic" => ColumnType::Dynamic,
            _ => return None,
        })
    }
}

/// A schema's own columns and their types, in table order: what reading an
/// export of that SIEM needs.
#[derive(Clone, Debug)]
pub(crate) struct ColumnTable {
    pub source: Source,
    pub columns: Vec<(String, ColumnType)>,
    /// The SIEM matches column names in any case (`column-names:
    /// case-insensitive`: AQL, Sumo), so its exports may spell them in
    /// any; otherwise (KQL, LogScale) a name is its exact spelling.
    pub case_insensitive: bool,
    /// The columns that say a header is this SIEM's (`markers`): a header
    /// naming more of them belongs to this table before one that merely
    /// names more columns.
    pub markers: Vec<String>,
}

/// The `columns` of every built-in table that has them, in [`TABLES`]
/// order. Read once per input whose format is being decided or converted.
pub(crate) fn column_tables() -> Result<Vec<ColumnTable>, String> {
    let mut out = Vec::new();
    for (file, text) in TABLES {
        let docs = yaml::load(text)
            .map_err(|e| format!("built-in schema {file}:{}: {}", e.line, e.message))?;
        let Some(doc) = docs.first() else { continue };
        let schema = parse(doc).map_err(|e| format!("built-in schema {file}: {e}"))?;
        let case_insensitive = match doc.get("column-names").map(|n| (n, n.as_str())) {
            None => false,
            Some((_, Some("case-insensitive"))) => true,
            Some((_, Some("case-sensitive"))) => false,
            Some((n, _)) => {
                return Err(format!(
                    "built-in schema {file}: line {}: `column-names` is case-sensitive or case-insensitive",
                    n.line
                ));
            }
        };
        let mut markers = Vec::new();
        for m in doc
            .get("markers")
            .and_then(Node::as_seq)
            .unwrap_or_default()
        {
            let name = m.as_str().unwrap_or_default();
            if !schema.columns.iter().any(|(c, _)| c == name) {
                return Err(format!(
                    "built-in schema {file}: line {}: marker `{name}` is not one of `columns`",
                    m.line
                ));
            }
            markers.push(name.to_string());
        }
        if !schema.columns.is_empty() {
            out.push(ColumnTable {
                source: schema.source,
                columns: schema.columns,
                case_insensitive,
                markers,
            });
        }
    }
    Ok(out)
}

/// How one schema's columns are found in one raw source.
#[derive(Clone, Debug)]
pub(crate) struct Mapping {
    pub source: Source,
    columns: HashMap<String, Column>,
}

impl Mapping {
    /// Where `column` comes from; `None` means under its own name.
    pub fn column(&self, column: &str) -> Option<&Column> {
        self.columns.get(column)
    }
}

/// A SIEM schema: its own rows' source, its time columns, its JSON columns
/// and its mappings.
#[derive(Clone, Debug)]
pub(crate) struct Schema {
    pub source: Source,
    /// The columns that hold a row's time, event time first (`time:`).
    pub time: Vec<String>,
    pub dynamic: Vec<String>,
    pub mappings: Vec<Mapping>,
    /// The SIEM's own columns and their types (`columns`), for exports.
    pub columns: Vec<(String, ColumnType)>,
}

/// The built-in schema named `name` (a [`Source`] name such as
/// `sentinel.AzureActivity`). Read when a rule names it, at load time.
pub(crate) fn find(name: &str) -> Result<Schema, String> {
    let mut known = Vec::new();
    for (file, text) in TABLES {
        let docs = yaml::load(text)
            .map_err(|e| format!("built-in schema {file}:{}: {}", e.line, e.message))?;
        let Some(table) = docs
            .first()
            .and_then(|d| d.get("schema"))
            .and_then(Node::as_str)
        else {
            continue;
        };
        if table == name {
            return parse(&docs[0]).map_err(|e| format!("built-in schema {file}: {e}"));
        }
        known.push(table.to_string());
    }
    Err(format!(
        "unknown schema `{name}`; sigil knows {}",
        known.join(", ")
    ))
}

/// Every built-in schema, each table parsed once (what a pack with
/// correlations reads at load time, for the time columns).
pub(crate) fn all() -> Vec<Schema> {
    TABLES
        .iter()
        .filter_map(|(_, text)| parse(yaml::load(text).ok()?.first()?).ok())
        .collect()
}

fn parse(doc: &Node) -> Result<Schema, String> {
    let line = |n: &Node, m: &str| format!("line {}: {m}", n.line);
    let name = doc
        .get("schema")
        .and_then(Node::as_str)
        .ok_or("needs `schema: NAME`")?;
    let source = Source::parse(name)
        .ok_or_else(|| format!("`{name}` is not a source the engine recognises"))?;
    let names = |key: &str| -> Result<Vec<String>, String> {
        let Some(d) = doc.get(key) else {
            return Ok(Vec::new());
        };
        d.as_seq()
            .ok_or_else(|| line(d, &format!("`{key}` must be a list of column names")))?
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| line(item, "a column name must be a string"))
            })
            .collect()
    };
    let dynamic = names("dynamic")?;
    let time = names("time")?;
    if time.is_empty() {
        return Err("needs `time: [COLUMN, ...]`, the columns that hold a row's time".into());
    }
    let mut columns = Vec::new();
    if let Some(c) = doc.get("columns") {
        for (name, ty) in c
            .as_map()
            .ok_or_else(|| line(c, "`columns` must map column names to types"))?
        {
            let ty = ty.as_str().and_then(ColumnType::parse).ok_or_else(|| {
                line(
                    ty,
                    "a column's type is one of string, number, boolean, datetime, dynamic",
                )
            })?;
            columns.push((name.text().unwrap_or("").to_string(), ty));
        }
    }
    let mut mappings = Vec::new();
    if let Some(from) = doc.get("from") {
        for (k, table) in from
            .as_map()
            .ok_or_else(|| line(from, "`from` must map source names to column tables"))?
        {
            let src_name = k.text().unwrap_or("");
            let source = Source::parse(src_name)
                .ok_or_else(|| line(k, &format!("unknown source `{src_name}`")))?;
            let mut columns = HashMap::new();
            for (col, spec) in table
                .as_map()
                .ok_or_else(|| line(table, "a mapping must be a map of columns"))?
            {
                let col = col.text().unwrap_or("").to_string();
                columns.insert(col, column(spec).map_err(|m| line(spec, &m))?);
            }
            mappings.push(Mapping { source, columns });
        }
    }
    Ok(Schema {
        source,
        time,
        dynamic,
        mappings,
        columns,
    })
}

fn column(spec: &Node) -> Result<Column, String> {
    if let Some(p) = spec.as_str() {
        return Ok(Column::First(vec![p.to_string()]));
    }
    if let Some(items) = spec.as_seq() {
        let paths = items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>();
        return paths
            .filter(|p| !p.is_empty())
            .map(Column::First)
            .ok_or_else(|| "a list of paths must hold strings".into());
    }
    if let Some(v) = spec.get("value") {
        return v
            .text()
            .map(|t| Column::Value(t.to_string()))
            .ok_or_else(|| "`value` must be a scalar".into());
    }
    let path = spec
        .get("field")
        .and_then(Node::as_str)
        .ok_or("a column needs a path, a list of paths, `value`, or `field`")?;
    if let Some(values) = spec.get("values") {
        let map = values
            .as_map()
            .ok_or("`values` must map raw values to column values")?;
        let values = map
            .iter()
            .map(|(k, v)| Some((k.text()?.to_string(), v.text()?.to_string())))
            .collect::<Option<Vec<_>>>()
            .ok_or("`values` must map scalars to scalars")?;
        return Ok(Column::Renamed {
            at: path.to_string(),
            values,
        });
    }
    if let Some(p) = spec.get("pattern") {
        let text = p.as_str().ok_or("`pattern` must be a regex")?;
        let pattern = regex_lite::Regex::new(text).map_err(|e| format!("bad pattern: {e}"))?;
        if pattern.captures_len() < 2 {
            return Err("`pattern` needs a capture group: the column is its first group".into());
        }
        return Ok(Column::Derived {
            at: path.to_string(),
            pattern,
        });
    }
    Ok(Column::First(vec![path.to_string()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_table_parses() {
        for (file, text) in TABLES {
            let docs = yaml::load(text).unwrap();
            let name = docs[0].get("schema").and_then(Node::as_str).unwrap();
            let schema = find(name).unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(schema.source.name(), name, "{file}");
        }
    }

    /// Every column a table maps from raw sources, and every `dynamic`
    /// one, is one of its own `columns`: the two lists cannot drift apart.
    #[test]
    fn mapped_columns_are_listed_columns() {
        for table in column_tables().unwrap() {
            let schema = find(table.source.name()).unwrap();
            let listed = |c: &str| table.columns.iter().any(|(n, _)| n == c);
            for m in &schema.mappings {
                for c in m.columns.keys() {
                    assert!(
                        listed(c),
                        "{}: `{c}` is mapped but not in `columns`",
                        table.source.name()
                    );
                }
            }
            for c in &schema.dynamic {
                assert!(
                    listed(c),
                    "{}: `{c}` is dynamic but not in `columns`",
                    table.source.name()
                );
            }
        }
        let tables = column_tables().unwrap();
        assert_eq!(tables.len(), TABLES.len());
        assert!(tables.iter().all(|t| !t.markers.is_empty()));
    }

    #[test]
    fn all_has_every_table() {
        assert_eq!(all().len(), TABLES.len());
    }

    #[test]
    fn unknown_schema_lists_the_known_ones() {
        let err = find("splunk").unwrap_err();
        assert!(err.contains("sentinel.AzureActivity"), "{err}");
    }
}
