//! Writing one row object of NDJSON: keys, cells typed by their column.

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::rules::schema::ColumnType;
use crate::scan::input::minify_into;
use crate::vocab::timepart::{format_rfc3339_ms, parse_portal_display_ms};

use super::columns::Table;

/// Writes `{"key":value,...}` into an output buffer, member by member.
pub(crate) struct RowWriter<'o> {
    out: &'o mut Vec<u8>,
    empty: bool,
}

impl<'o> RowWriter<'o> {
    /// Opens a row at the end of `out`.
    pub fn begin(out: &'o mut Vec<u8>) -> RowWriter<'o> {
        out.push(b'{');
        RowWriter { out, empty: true }
    }

    /// Closes the row and its line.
    pub fn end(self) {
        self.out.extend_from_slice(b"}\n");
    }

    fn key(&mut self, key: &[u8]) {
        if !self.empty {
            self.out.push(b',');
        }
        self.empty = false;
        string_into(key, self.out);
        self.out.push(b':');
    }

    /// A member whose value is JSON text (minified onto the line).
    pub fn json(&mut self, key: &[u8], value: &[u8]) {
        self.key(key);
        minify_into(value, self.out);
    }

    /// A member whose value is text.
    pub fn text(&mut self, key: &[u8], value: &[u8]) {
        self.key(key);
        string_into(value, self.out);
    }

    /// A member whose value is a cell of text, typed by its column: a
    /// number, boolean or JSON where the column is one and the text reads
    /// as one, else the text.
    pub fn cell(&mut self, key: &[u8], value: &[u8], ty: Option<ColumnType>) {
        let trimmed = value.trim_ascii();
        match ty {
            Some(ColumnType::Number) if is_json_number(trimmed) => self.json(key, trimmed),
            Some(ColumnType::Boolean) if trimmed.eq_ignore_ascii_case(b"true") => {
                self.json(key, b"true");
            }
            Some(ColumnType::Boolean) if trimmed.eq_ignore_ascii_case(b"false") => {
                self.json(key, b"false");
            }
            Some(ColumnType::Dynamic) if is_json_container(trimmed) => self.json(key, trimmed),
            Some(ColumnType::Datetime) => match portal_time(trimmed) {
                Some(iso) => self.text(key, iso.as_bytes()),
                None => self.text(key, value),
            },
            _ => self.text(key, value),
        }
    }

    /// Cells past the header's columns, as a list under `_extra`.
    pub fn extra<'c>(&mut self, cells: impl Iterator<Item = &'c [u8]>) {
        let mut cells = cells.peekable();
        if cells.peek().is_none() {
            return;
        }
        self.key(b"_extra");
        self.out.push(b'[');
        for (i, c) in cells.enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            string_into(c, self.out);
        }
        self.out.push(b']');
    }
}

/// Writes `bytes` as a JSON string. Control characters, `"` and `\` are
/// escaped; every other byte is copied, invalid UTF-8 included, so that the
/// engine sees (and reports) exactly what the export held.
pub(crate) fn string_into(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0..0x20 => {
                out.extend_from_slice(b"\\u00");
                out.push(HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0'));
                out.push(HEX.get(usize::from(b & 0xf)).copied().unwrap_or(b'0'));
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// True when `text` is a JSON number (what a CSV cell or a Sumo string
/// must be to become one): `-`, digits without a leading zero, a fraction,
/// an exponent.
fn is_json_number(text: &[u8]) -> bool {
    let digits = |s: &[u8]| s.iter().take_while(|b| b.is_ascii_digit()).count();
    let s = text.strip_prefix(b"-").unwrap_or(text);
    let int = digits(s);
    if int == 0 || (int > 1 && s.first() == Some(&b'0')) {
        return false;
    }
    let mut rest = s.get(int..).unwrap_or_default();
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = digits(frac);
        if n == 0 {
            return false;
        }
        rest = frac.get(n..).unwrap_or_default();
    }
    if let Some(exp) = rest.strip_prefix(b"e").or_else(|| rest.strip_prefix(b"E")) {
        let exp = exp
            .strip_prefix(b"+")
            .or_else(|| exp.strip_prefix(b"-"))
            .unwrap_or(exp);
        let n = digits(exp);
        if n == 0 {
            return false;
        }
        rest = exp.get(n..).unwrap_or_default();
    }
    rest.is_empty()
}

/// The Azure portal's display of a UTC time, `11/20/2026, 10:01:45.006 AM`
/// (what its CSV download writes under `TimeGenerated [UTC]`), as the
/// ISO 8601 text the query API returns, `2026-11-20T10:01:45.006Z`; `None`
/// for any other text, which is then kept as it is. The reading is the
/// correlation clock's own (`vocab::timepart`), so both agree on what a
/// portal time is.
fn portal_time(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    parse_portal_display_ms(text).map(format_rfc3339_ms)
}

/// True when `text` is one whole JSON object or array.
fn is_json_container(text: &[u8]) -> bool {
    matches!(text.first(), Some(b'{' | b'[')) && serde_json::from_slice::<&RawValue>(text).is_ok()
}

/// A column of an export as rows name it: the name written (the schema's
/// spelling when the table has the column) and the schema's type. Made
/// once per CSV header, so that rows are written without a lookup.
#[derive(Clone, Debug)]
pub(crate) struct Column {
    pub key: String,
    pub ty: Option<ColumnType>,
}

impl Column {
    /// The column an export names `name` (a header cell, a Sumo field).
    pub fn resolve(table: Option<&Table>, name: &str) -> Column {
        let name = super::columns::header_name(name);
        match table.and_then(|t| t.column(name)) {
            Some((key, ty)) => Column {
                key: key.to_string(),
                ty: Some(ty),
            },
            None => Column {
                key: name.to_string(),
                ty: None,
            },
        }
    }
}

/// Writes one row from cells of text under their columns (a CSV row, a
/// Sumo message's `map`), each typed by its column.
///
/// For Sumo (`sumo`), a `_raw` cell holding a JSON object is the record
/// itself: its members come first, as they are; a cell that names one of
/// them in another case (`json auto` extracted it, lower-cased) is left
/// out, as the record's own spelling and type win; `_raw` itself is then
/// not repeated. Empty cells are left out: neither CSV nor Sumo can tell
/// an empty value from none, and every console writes NULL as empty.
pub(crate) fn write_cells<'c>(
    out: &mut Vec<u8>,
    sumo: bool,
    cells: impl Iterator<Item = (&'c Column, &'c [u8])> + Clone,
) {
    let mut row = RowWriter::begin(out);
    let raw_record = sumo
        .then(|| cells.clone().find(|(c, _)| c.key == "_raw"))
        .flatten()
        .and_then(|(_, v)| members(v));
    if let Some(members) = &raw_record {
        for (k, v) in members {
            row.json_member(k, v.get().as_bytes());
        }
    }
    for (column, value) in cells {
        if value.is_empty() {
            continue;
        }
        // The record's own members win over what was extracted from them.
        if raw_record.as_ref().is_some_and(|members| {
            column.key == "_raw"
                || members
                    .iter()
                    .any(|(k, _)| k.eq_ignore_ascii_case(&column.key))
        }) {
            continue;
        }
        row.cell(column.key.as_bytes(), value, column.ty);
    }
    row.end();
}

impl RowWriter<'_> {
    fn json_member(&mut self, key: &str, value: &[u8]) {
        self.json(key.as_bytes(), value);
    }
}

/// The members of `text` if it is one JSON object, in order.
pub(crate) fn members(text: &[u8]) -> Option<Vec<(String, &RawValue)>> {
    let text = text.trim_ascii();
    if text.first() != Some(&b'{') {
        return None;
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    let members = (&mut de).deserialize_map(Members).ok()?;
    de.end().ok()?;
    Some(members)
}

/// Collects an object's members in order, values unparsed.
struct Members;

impl<'de> Visitor<'de> for Members {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, &'de RawValue>()? {
            out.push((k, v));
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_json_numbers_only() {
        for ok in ["0", "-1", "1795168880000", "1.5", "1e9", "-0.5E-3"] {
            assert!(is_json_number(ok.as_bytes()), "{ok}");
        }
        for no in [
            "", "-", "01", "1.", ".5", "1e", "0x10", "NaN", "1 2", "=1+1",
        ] {
            assert!(!is_json_number(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn strings_escape_controls_and_keep_other_bytes() {
        let mut out = Vec::new();
        string_into(b"a\"b\\c\nd\x01\xff=cmd", &mut out);
        assert_eq!(out, b"\"a\\\"b\\\\c\\nd\\u0001\xff=cmd\"");
    }

    #[test]
    fn portal_times_become_iso() {
        let t = |s: &str| portal_time(s.as_bytes());
        assert_eq!(
            t("11/20/2026, 10:01:45.006 AM").as_deref(),
            Some("2026-11-20T10:01:45.006Z")
        );
        assert_eq!(
            t("1/2/2026, 12:00:00 AM").as_deref(),
            Some("2026-01-02T00:00:00Z")
        );
        assert_eq!(
            t("1/2/2026, 12:30:00.5 PM").as_deref(),
            Some("2026-01-02T12:30:00.500Z")
        );
        assert_eq!(
            t("1/2/2026, 1:30:00 PM").as_deref(),
            Some("2026-01-02T13:30:00Z")
        );
        for no in [
            "2026-11-20T10:01:45Z",
            "13/2/2026, 1:00:00 PM",
            "1/2/2026, 0:00:00 AM",
            "1/2/2026, 1:00:00",
            "1/2/2026, 1:00:00 PM x",
            "1/2/2026/3, 1:00:00 PM",
            "1/2/2026, 1:00:00.x PM",
            "",
        ] {
            assert_eq!(t(no), None, "{no}");
        }
    }

    #[test]
    fn members_keep_order() {
        let m = members(br#"{"b":1,"a":{"x":[1]}}"#).unwrap();
        let keys: Vec<_> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["b", "a"]);
        assert!(members(b"[1]").is_none());
        assert!(members(b"{\"a\":1} x").is_none());
    }
}
