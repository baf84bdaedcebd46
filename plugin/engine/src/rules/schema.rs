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
