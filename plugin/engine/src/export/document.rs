//! The JSON exports of the SIEMs' search APIs, split into row objects.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::rules::schema::ColumnType;
use crate::scan::input::{FramingError, minify_into};
use crate::vocab::logsource::Source;

use super::columns::table;
use super::row::{Column, RowWriter, members, write_cells};
use super::{ExportStats, InputFormat};

/// Splits a whole JSON export `doc` of `format` into NDJSON rows appended
/// to `out`, one line per row, and counts them into `stats`.
///
/// The document may hold several responses one after another (pages
/// fetched with `Range`, `offset`, and saved into one file). A format that
/// is not one of the three APIs' (`qradar-ariel`, `log-analytics`,
/// `sumo-search`) writes nothing.
///
/// # Errors
///
/// The document is not JSON, or a response lacks the format's array
/// (`events`, `tables`, `messages`): the message says which, and what to
/// pass as `--input-format` instead. Nothing is written then.
pub fn export_rows(
    format: InputFormat,
    doc: &[u8],
    out: &mut Vec<u8>,
    stats: &mut ExportStats,
) -> Result<(), FramingError> {
    let start = out.len();
    let result = responses(format, doc, out, stats);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn responses(
    format: InputFormat,
    doc: &[u8],
    out: &mut Vec<u8>,
    stats: &mut ExportStats,
) -> Result<(), FramingError> {
    let err = |m: String| FramingError::new(format!("{format} export: {m}"));
    for response in serde_json::Deserializer::from_slice(doc).into_iter::<&RawValue>() {
        let response = response.map_err(|e| err(e.to_string()))?;
        let text = response.get();
        if !text.starts_with('{') {
            return Err(err(format!(
                "a response is not an object but {}...; pass --input-format json \
                 (or ndjson) to read the input as plain events",
                text.chars().take(16).collect::<String>()
            )));
        }
        match format {
            InputFormat::QRadarAriel => {
                let r: Ariel<'_> = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
                let rows = r.events.or(r.flows).ok_or_else(|| {
                    err("a response has no `events` (nor `flows`) array; \
                         pass --input-format json for a plain array"
                        .into())
                })?;
                for row in rows {
                    one_object(row, out, stats);
                }
            }
            InputFormat::LogAnalytics => {
                let r: LogAnalytics<'_> =
                    serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
                for t in r.tables {
                    let types: Vec<Option<ColumnType>> = t
                        .columns
                        .iter()
                        .map(|c| c.ty.as_deref().and_then(ColumnType::parse))
                        .collect();
                    for row in t.rows {
                        table_row(&t.columns, &types, row, out, stats);
                    }
                }
            }
            InputFormat::SumoSearch => {
                let r: Sumo<'_> = serde_json::from_str(text).map_err(|e| err(e.to_string()))?;
                let rows = r.messages.or(r.records).ok_or_else(|| {
                    err("a response has no `messages` (nor `records`) array".into())
                })?;
                for m in rows {
                    sumo_message(m, out, stats);
                }
            }
            _ => return Ok(()),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct Ariel<'a> {
    #[serde(borrow, default)]
    events: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    flows: Option<Vec<&'a RawValue>>,
}

#[derive(Deserialize)]
struct LogAnalytics<'a> {
    #[serde(borrow)]
    tables: Vec<LaTable<'a>>,
}

#[derive(Deserialize)]
struct LaTable<'a> {
    columns: Vec<LaColumn>,
    #[serde(borrow)]
    rows: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct LaColumn {
    name: String,
    #[serde(rename = "type", default)]
    ty: Option<String>,
}

#[derive(Deserialize)]
struct Sumo<'a> {
    #[serde(borrow, default)]
    messages: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default)]
    records: Option<Vec<&'a RawValue>>,
}

/// A row that is already an object goes out as it is; anything else goes
/// out too, for the engine to report as the error it is.
fn one_object(row: &RawValue, out: &mut Vec<u8>, stats: &mut ExportStats) {
    stats.rows += 1;
    if !row.get().starts_with('{') {
        stats.not_rows += 1;
    }
    minify_into(row.get().as_bytes(), out);
    out.push(b'\n');
}

/// One Log Analytics row: an array of values, in column order. Nulls are
/// left out (KQL has no absent column, only null; a row written as CSV
/// could not tell them apart). A `dynamic` column arrives as JSON text in
/// a string: text that is a JSON object or array becomes that JSON again,
/// so that paths into it (`Properties_d.entity`) read as in KQL.
fn table_row(
    columns: &[LaColumn],
    types: &[Option<ColumnType>],
    row: &RawValue,
    out: &mut Vec<u8>,
    stats: &mut ExportStats,
) {
    let Ok(values) = serde_json::from_str::<Vec<&RawValue>>(row.get()) else {
        stats.rows += 1;
        stats.not_rows += 1;
        minify_into(row.get().as_bytes(), out);
        out.push(b'\n');
        return;
    };
    stats.rows += 1;
    if values.len() != columns.len() {
        stats.ragged_rows += 1;
    }
    let mut w = RowWriter::begin(out);
    for ((column, ty), value) in columns.iter().zip(types).zip(&values) {
        let text = value.get();
        if text == "null" {
            continue;
        }
        let dynamic_text = (*ty == Some(ColumnType::Dynamic))
            .then(|| serde_json::from_str::<String>(text).ok())
            .flatten();
        match dynamic_text {
            Some(inner) => w.cell(column.name.as_bytes(), inner.as_bytes(), *ty),
            None => w.json(column.name.as_bytes(), text.as_bytes()),
        }
    }
    let extra: Vec<String> = values
        .get(columns.len()..)
        .unwrap_or_default()
        .iter()
        .map(|v| v.get().to_string())
        .collect();
    w.extra(extra.iter().map(String::as_bytes));
    w.end();
}

/// One Sumo message, `{"map": {name: text, ...}}`: the names lower-cased
/// and the values strings, as the Search Job API writes them; read as a
/// CSV row of the Sumo schema would be.
fn sumo_message(message: &RawValue, out: &mut Vec<u8>, stats: &mut ExportStats) {
    stats.rows += 1;
    let map = members(message.get().as_bytes())
        .and_then(|m| m.into_iter().find(|(k, _)| k == "map"))
        .and_then(|(_, map)| members(map.get().as_bytes()));
    let Some(map) = map else {
        stats.not_rows += 1;
        minify_into(message.get().as_bytes(), out);
        out.push(b'\n');
        return;
    };
    // Values are strings; one that is not is read as its JSON text.
    // Each message names its own fields: they are resolved per message.
    let sumo = table(Source::Sumo);
    let cells: Vec<(Column, std::borrow::Cow<'_, str>)> = map
        .iter()
        .map(|(k, v)| {
            let text = match serde_json::from_str::<std::borrow::Cow<'_, str>>(v.get()) {
                Ok(s) => s,
                Err(_) if v.get() == "null" => std::borrow::Cow::Borrowed(""),
                Err(_) => std::borrow::Cow::Borrowed(v.get()),
            };
            (Column::resolve(sumo, k), text)
        })
        .collect();
    write_cells(out, true, cells.iter().map(|(c, v)| (c, v.as_bytes())));
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rows(format: InputFormat, doc: &str) -> (String, ExportStats) {
        let mut out = Vec::new();
        let mut stats = ExportStats::default();
        export_rows(format, doc.as_bytes(), &mut out, &mut stats).unwrap();
        (String::from_utf8(out).unwrap(), stats)
    }

    #[test]
    fn ariel_events_are_rows() {
        let (out, stats) = rows(
            InputFormat::QRadarAriel,
            r#"{"events": [{"devicetime": 1, "username": "a"}, 3]}"#,
        );
        assert_eq!(out, "{\"devicetime\":1,\"username\":\"a\"}\n3\n");
        assert_eq!((stats.rows, stats.not_rows), (2, 1));
    }

    #[test]
    fn log_analytics_rows_are_keyed_and_dynamic_is_json() {
        let doc = r#"{"tables":[{"name":"PrimaryResult","columns":[
            {"name":"TimeGenerated","type":"datetime"},{"name":"Properties_d","type":"dynamic"},
            {"name":"count_","type":"long"},{"name":"Note","type":"string"}],
            "rows":[["2026-11-20T10:01:12.345Z","{\"a\": [1]}",3,null],
                    ["2026-11-20T10:01:13Z","not json",4,"x","surplus"],
                    "not a row"]}]}"#;
        let (out, stats) = rows(InputFormat::LogAnalytics, doc);
        assert_eq!(
            out,
            "{\"TimeGenerated\":\"2026-11-20T10:01:12.345Z\",\"Properties_d\":{\"a\":[1]},\"count_\":3}\n\
             {\"TimeGenerated\":\"2026-11-20T10:01:13Z\",\"Properties_d\":\"not json\",\"count_\":4,\"Note\":\"x\",\"_extra\":[\"\\\"surplus\\\"\"]}\n\
             \"not a row\"\n"
        );
        assert_eq!((stats.rows, stats.ragged_rows, stats.not_rows), (3, 1, 1));
    }

    #[test]
    fn sumo_messages_get_the_schema_case_types_and_the_raw_record() {
        let doc = r#"{"fields":[{"name":"_messagetime","fieldType":"long","keyField":false}],
            "messages":[{"map":{"_messagetime":"1795168880000","_sourcecategory":"aws/cloudtrail",
            "eventname":"StopInstances","extracted":"x","_raw":"{\"eventName\":\"StopInstances\",\"n\":1}"}},
            {"nomap":1}]}"#;
        let (out, stats) = rows(InputFormat::SumoSearch, doc);
        assert_eq!(
            out,
            "{\"eventName\":\"StopInstances\",\"n\":1,\"_messageTime\":1795168880000,\"_sourceCategory\":\"aws/cloudtrail\",\"extracted\":\"x\"}\n\
             {\"nomap\":1}\n"
        );
        assert_eq!((stats.rows, stats.not_rows), (2, 1));
    }

    #[test]
    fn a_response_without_its_array_is_an_error_that_names_the_way_out() {
        let mut out = Vec::new();
        let e = export_rows(
            InputFormat::QRadarAriel,
            b"[{\"a\":1}]",
            &mut out,
            &mut ExportStats::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("--input-format json"), "{e}");
        assert!(out.is_empty());
    }
}
