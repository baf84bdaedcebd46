//! SIEM exports: what QRadar, Log Analytics (Sentinel), Sumo Logic and the
//! consoles' CSV downloads hold, turned into the SIEM's own rows.
//!
//! A rule written for a SIEM's columns (`sigil.schema`) runs on that SIEM's
//! rows, one JSON object per row. What the SIEMs hand out is not that:
//!
//! | format | shape | becomes |
//! |---|---|---|
//! | `qradar-ariel` | `{"events": [...]}` (or `"flows"`), the Ariel search results API | each object, as it is |
//! | `log-analytics` | `{"tables": [{"name", "columns": [{"name", "type"}], "rows": [[...]]}]}` | one object per row keyed by column names; a `dynamic` column's JSON text becomes JSON |
//! | `sumo-search` | `{"messages": [{"map": {...}}]}` (or `"records"`), the Search Job API | the record in `_raw` plus the metadata, with the schema's case and types |
//! | `csv` | a header row, then RFC 4180 rows (every console's download) | one object per row keyed by the header, typed by the schema's columns |
//!
//! Each export becomes NDJSON lines of row objects before the engine sees
//! them, so that every host (the CLI, the JavaScript package) and the
//! engine's own prefilter see ordinary rows, and the findings are those of
//! the same rows written as NDJSON (`tests/tests/exports.rs`).
//!
//! Names and types come from the schema tables' `columns`
//! (`plugin/engine/schemas/`), never from a list kept here: a CSV header is
//! recognised as a SIEM's when at least two of its cells are that SIEM's
//! columns; Sumo's lower-cased names (`_messagetime`) get the schema's case
//! back (`_messageTime`); a cell or a Sumo string becomes a number where
//! the column is a number, a boolean where it is one, JSON where it is
//! `dynamic` and the text is a JSON object or array. Anything else stays
//! text under its own name.
//!
//! # Untrusted input
//!
//! Nothing here panics or loops on any bytes. Every row comes out once, as
//! one line: a row with fewer cells than the header lacks the missing
//! columns, extra cells go under `_extra` (a list), a row that is not an
//! object or array comes out as it is (the engine then reports it as an
//! error line). Cells are copied into JSON strings byte for byte (escaped,
//! never decoded), so invalid UTF-8 reaches the engine, which reads it as
//! U+FFFD and says so in the verdict (`invalid-utf8`). A cell is never
//! evaluated: `=cmd` is the text `=cmd`. [`ExportStats`] counts what
//! happened.
//!
//! # Limits
//!
//! A JSON export is held whole until the input ends, as arrays are. CSV
//! streams row by row; one row is held at most [`MAX_ROW_BYTES`] and
//! [`MAX_COLUMNS`] cells (a quoted cell may span lines up to that): past
//! either, the row goes out cut there (counted in `cut_rows`) and reading
//! starts again at the next line, so an unclosed quote costs at most that
//! much of the input, never the rest of it.

// As in `scan`: the panicking forms are refused here, where export bytes
// arrive (tests exempt).
#![deny(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

mod columns;
mod csv;
mod detect;
mod document;
mod row;

pub use csv::CsvRows;
pub use detect::detect_format;
pub use document::export_rows;

/// The longest CSV row (header included) held before it is cut: the
/// engine's own event limit, past which it would cut the event anyway.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// The most cells a CSV row (header included) may have before it is cut.
pub const MAX_COLUMNS: usize = 4096;

/// How an input is framed: `--input-format` on `sigil run`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InputFormat {
    /// Decided from the first bytes ([`detect_format`]).
    #[default]
    Auto,
    /// One JSON event per line.
    Ndjson,
    /// A JSON array of events, or JSON values one after another.
    Json,
    /// A CloudTrail delivery file, `{"Records": [...]}`.
    CloudTrail,
    /// QRadar's Ariel search results, `{"events": [...]}`.
    QRadarAriel,
    /// The Log Analytics query API's `{"tables": [...]}`.
    LogAnalytics,
    /// Sumo Logic's Search Job API, `{"messages": [{"map": {...}}]}`.
    SumoSearch,
    /// A CSV export with a header row.
    Csv,
}

impl InputFormat {
    /// Every format, in the order `--help` lists them.
    pub const ALL: [InputFormat; 8] = [
        InputFormat::Auto,
        InputFormat::Ndjson,
        InputFormat::Json,
        InputFormat::CloudTrail,
        InputFormat::QRadarAriel,
        InputFormat::LogAnalytics,
        InputFormat::SumoSearch,
        InputFormat::Csv,
    ];

    /// The name `--input-format` takes.
    pub fn name(self) -> &'static str {
        match self {
            InputFormat::Auto => "auto",
            InputFormat::Ndjson => "ndjson",
            InputFormat::Json => "json",
            InputFormat::CloudTrail => "cloudtrail",
            InputFormat::QRadarAriel => "qradar-ariel",
            InputFormat::LogAnalytics => "log-analytics",
            InputFormat::SumoSearch => "sumo-search",
            InputFormat::Csv => "csv",
        }
    }

    /// The format called `name`.
    pub fn parse(name: &str) -> Option<InputFormat> {
        InputFormat::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for InputFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for InputFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<InputFormat, String> {
        InputFormat::parse(s).ok_or_else(|| {
            let names: Vec<_> = InputFormat::ALL.iter().map(|f| f.name()).collect();
            format!(
                "unknown input format `{s}`; use one of {}",
                names.join(", ")
            )
        })
    }
}

/// What reading an export did, row by row.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Rows read (CSV: not counting the header) and written as one line each.
    pub rows: u64,
    /// Rows with more or fewer cells than the header or the columns.
    pub ragged_rows: u64,
    /// CSV rows cut at [`MAX_ROW_BYTES`] or [`MAX_COLUMNS`].
    pub cut_rows: u64,
    /// Rows that were not a row (not an array, an object, or a message
    /// with a `map`): written as they came, for the engine to report.
    pub not_rows: u64,
}
