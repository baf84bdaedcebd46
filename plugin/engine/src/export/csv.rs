//! CSV exports, read as they arrive: a header row, then one object per row.

use csv_core::{ReadRecordResult, Reader};

use super::columns::{Table, best_table, header_name};
use super::row::{Column, write_cells};
use super::{ExportStats, MAX_COLUMNS, MAX_ROW_BYTES};

/// Turns a CSV export, pushed in pieces of any size, into NDJSON rows.
///
/// The first row is the header. Its cells name the columns, in the
/// schema's spelling when they are a known SIEM's (the table most of them
/// belong to; see the module docs), and each later row becomes one object.
/// Quoting is RFC 4180's (`csv_core`, the reader under the `csv` crate): a
/// quoted cell may hold commas, quotes (doubled) and line breaks.
#[derive(Debug)]
pub struct CsvRows {
    reader: Reader,
    /// The header's columns; `None` until the first row is read.
    header: Option<Vec<Column>>,
    table: Option<&'static Table>,
    /// The row being read: its cells' bytes, and where each cell ends.
    cells: Vec<u8>,
    cells_len: usize,
    ends: Vec<usize>,
    ends_len: usize,
    /// A row was cut: the rest of its line is skipped.
    skip_line: bool,
    stats: ExportStats,
}

impl Default for CsvRows {
    fn default() -> Self {
        CsvRows::new()
    }
}

impl CsvRows {
    /// A reader for a new CSV input.
    pub fn new() -> CsvRows {
        CsvRows {
            reader: Reader::new(),
            header: None,
            table: None,
            cells: Vec::new(),
            cells_len: 0,
            ends: Vec::new(),
            ends_len: 0,
            skip_line: false,
            stats: ExportStats::default(),
        }
    }

    /// What was read so far.
    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// Reads the next bytes of the input, appending every row they
    /// complete to `out`, one line each.
    pub fn push(&mut self, mut input: &[u8], out: &mut Vec<u8>) {
        loop {
            if self.skip_line {
                match memchr::memchr(b'\n', input) {
                    Some(p) => {
                        input = input.get(p + 1..).unwrap_or_default();
                        self.skip_line = false;
                        self.reader.reset();
                    }
                    None => return,
                }
            }
            if input.is_empty() {
                return;
            }
            if !self.make_room() {
                self.cut(out);
                continue;
            }
            let (res, nin, nout, nend) = self.reader.read_record(
                input,
                self.cells.get_mut(self.cells_len..).unwrap_or_default(),
                self.ends.get_mut(self.ends_len..).unwrap_or_default(),
            );
            input = input.get(nin..).unwrap_or_default();
            self.cells_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::InputEmpty => {
                    if input.is_empty() {
                        return;
                    }
                }
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::Record => self.row(out),
                ReadRecordResult::End => return,
            }
        }
    }

    /// Ends the input: a last row without a line break is written.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if self.skip_line {
            return;
        }
        loop {
            if !self.make_room() {
                self.cut(out);
                return;
            }
            let (res, _, nout, nend) = self.reader.read_record(
                &[],
                self.cells.get_mut(self.cells_len..).unwrap_or_default(),
                self.ends.get_mut(self.ends_len..).unwrap_or_default(),
            );
            self.cells_len += nout;
            self.ends_len += nend;
            match res {
                ReadRecordResult::Record => self.row(out),
                ReadRecordResult::OutputFull | ReadRecordResult::OutputEndsFull => {}
                ReadRecordResult::InputEmpty | ReadRecordResult::End => return,
            }
        }
    }

    /// Grows the row's buffers when full, up to the limits; false when a
    /// limit is reached.
    fn make_room(&mut self) -> bool {
        if self.cells_len == self.cells.len() {
            if self.cells.len() >= MAX_ROW_BYTES {
                return false;
            }
            let to = (self.cells.len() * 2).clamp(4096, MAX_ROW_BYTES);
            self.cells.resize(to, 0);
        }
        if self.ends_len == self.ends.len() {
            if self.ends.len() >= MAX_COLUMNS {
                return false;
            }
            let to = (self.ends.len() * 2).clamp(64, MAX_COLUMNS);
            self.ends.resize(to, 0);
        }
        true
    }

    /// The row reached a limit: it goes out as read so far, and reading
    /// starts again at the next line.
    fn cut(&mut self, out: &mut Vec<u8>) {
        // The cell being read ends where the buffer does.
        if self.ends_len < self.ends.len() {
            if let Some(e) = self.ends.get_mut(self.ends_len) {
                *e = self.cells_len;
            }
            self.ends_len += 1;
        }
        self.stats.cut_rows += 1;
        self.row(out);
        self.skip_line = true;
    }

    /// Writes the row just read (or takes it as the header), and empties
    /// the row's buffers.
    fn row(&mut self, out: &mut Vec<u8>) {
        let (cells_len, ends_len) = (self.cells_len, self.ends_len);
        self.cells_len = 0;
        self.ends_len = 0;
        let data = self.cells.get(..cells_len).unwrap_or_default();
        let ends = self.ends.get(..ends_len).unwrap_or_default();
        let cell = |i: usize| -> &[u8] {
            let start = if i == 0 {
                0
            } else {
                ends.get(i - 1).copied().unwrap_or(0)
            };
            let end = ends.get(i).copied().unwrap_or(start).min(data.len());
            data.get(start.min(end)..end).unwrap_or_default()
        };
        // A blank line is no row.
        if ends_len <= 1 && cell(0).trim_ascii().is_empty() {
            return;
        }
        let Some(header) = &self.header else {
            let names: Vec<String> = (0..ends_len)
                .map(|i| header_name(&String::from_utf8_lossy(cell(i))).to_string())
                .collect();
            self.table = best_table(names.iter().map(String::as_str));
            let table = self.table;
            self.header = Some(names.iter().map(|n| Column::resolve(table, n)).collect());
            return;
        };
        self.stats.rows += 1;
        if ends_len != header.len() {
            self.stats.ragged_rows += 1;
        }
        let named = header
            .iter()
            .enumerate()
            .take(ends_len)
            .map(|(i, column)| (column, cell(i)));
        let extra_from = header.len();
        if ends_len > extra_from {
            // The named cells, then the rest under `_extra`.
            let before = out.len();
            write_cells(out, self.table.is_some_and(|t| t.is_sumo()), named);
            // Reopen the row to add `_extra` before its closing brace.
            if out.ends_with(b"}\n") {
                out.truncate(out.len() - 2);
                let mut extra = Vec::new();
                super::row::RowWriter::begin(&mut extra).extra((extra_from..ends_len).map(cell));
                // `extra` is `{"_extra":[...]`: its member after the brace.
                let member = extra.get(1..).unwrap_or_default();
                if out.len() > before + 1 {
                    out.push(b',');
                }
                out.extend_from_slice(member);
                out.extend_from_slice(b"}\n");
            }
        } else {
            write_cells(out, self.table.is_some_and(|t| t.is_sumo()), named);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn rows(input: &[u8], piece: usize) -> (String, ExportStats) {
        let mut r = CsvRows::new();
        let mut out = Vec::new();
        for chunk in input.chunks(piece.max(1)) {
            r.push(chunk, &mut out);
        }
        r.finish(&mut out);
        (String::from_utf8_lossy(&out).into_owned(), r.stats())
    }

    #[test]
    fn header_names_and_types_come_from_the_schema() {
        let csv = b"_messagetime,_sourcecategory,_sourcehost,note\r\n1795168880000,aws/cloudtrail,ct,x\r\n";
        for piece in [1, 3, 1000] {
            let (out, stats) = rows(csv, piece);
            assert_eq!(
                out,
                "{\"_messageTime\":1795168880000,\"_sourceCategory\":\"aws/cloudtrail\",\"_sourceHost\":\"ct\",\"note\":\"x\"}\n"
            );
            assert_eq!(stats.rows, 1);
        }
    }

    /// Sumo's lower-cased names match Sentinel's columns only in another
    /// case, which KQL does not ignore: a Sumo header is Sumo's even when
    /// most of its cells are extracted fields named like Sentinel columns.
    #[test]
    fn a_few_sumo_fields_beat_many_lower_cased_sentinel_names() {
        let csv = b"_messagetime,_raw,operationname,caller,resourcegroup,category,level,calleripaddress\n\
1795168880000,\"{\"\"operationName\"\":\"\"X/DELETE\"\",\"\"durationMs\"\":5}\",x/delete,alice,rg,Administrative,Information,203.0.113.10\n";
        let (out, _) = rows(csv, 5);
        assert_eq!(
            out,
            "{\"operationName\":\"X/DELETE\",\"durationMs\":5,\"_messageTime\":1795168880000,\"caller\":\"alice\",\"resourcegroup\":\"rg\",\"category\":\"Administrative\",\"level\":\"Information\",\"calleripaddress\":\"203.0.113.10\"}\n"
        );
    }

    #[test]
    fn hostile_cells_stay_cells() {
        let csv = b"Type,EventName,UserAgent\n\
AWSCloudTrail,StopInstances,\"two\nlines, \"\"quoted\"\"\"\n\
AWSCloudTrail,=cmd|' /C calc'!A0,\xff\xfe\n\
AWSCloudTrail\n\
AWSCloudTrail,StartInstances,ua,surplus,more\n";
        let (out, stats) = rows(csv, 2);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        assert_eq!(
            lines[0],
            r#"{"Type":"AWSCloudTrail","EventName":"StopInstances","UserAgent":"two\nlines, \"quoted\""}"#
        );
        assert!(lines[1].contains(r#""EventName":"=cmd|' /C calc'!A0""#));
        assert!(
            out.as_bytes().windows(2).any(|w| w == b"\xff\xfe") || lines[1].contains('\u{fffd}')
        );
        assert_eq!(lines[2], r#"{"Type":"AWSCloudTrail"}"#);
        assert_eq!(
            lines[3],
            r#"{"Type":"AWSCloudTrail","EventName":"StartInstances","UserAgent":"ua","_extra":["surplus","more"]}"#
        );
        assert_eq!(stats.rows, 4);
        assert_eq!(stats.ragged_rows, 2);
    }

    #[test]
    fn an_unclosed_quote_costs_one_cut_row_not_the_rest() {
        let mut csv = b"Type,EventName\nAWSCloudTrail,\"open".to_vec();
        csv.extend(std::iter::repeat_n(b'x', MAX_ROW_BYTES + 10));
        csv.extend_from_slice(b"\nAWSCloudTrail,StopInstances\n");
        let (out, stats) = rows(&csv, 65536);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].len() <= MAX_ROW_BYTES + 100);
        assert_eq!(
            lines[1],
            r#"{"Type":"AWSCloudTrail","EventName":"StopInstances"}"#
        );
        assert_eq!(stats.cut_rows, 1);
    }

    #[test]
    fn an_enormous_header_is_cut_and_rows_still_flow() {
        let mut csv = Vec::new();
        for i in 0..MAX_COLUMNS + 10 {
            csv.extend_from_slice(format!("c{i},").as_bytes());
        }
        csv.extend_from_slice(b"last\na,b\n");
        let (out, stats) = rows(&csv, 4096);
        assert_eq!(out, "{\"c0\":\"a\",\"c1\":\"b\"}\n");
        assert_eq!(stats.cut_rows, 1);
        assert_eq!(stats.rows, 1);
        assert_eq!(stats.ragged_rows, 1);
    }
}
