//! Which format an input is in, from its first bytes.

use csv_core::{ReadRecordResult, Reader};

use crate::scan::input::{Framing, detect_framing, ndjson_events, top_level_keys};

use super::InputFormat;
use super::columns::{best_table, header_name};

/// Guesses the format of an input from its start (the first block, a
/// byte-order mark already skipped).
///
/// - An object whose top-level keys, read up to the end of `start`,
///   include `events` or `flows` (QRadar Ariel), `tables` (Log Analytics)
///   or `messages` or `records` (Sumo Logic) holding an array: that API's
///   export. An event of one's own with such a key is read as an export:
///   pass `--input-format ndjson` for it.
/// - Otherwise JSON as [`detect_framing`] says: NDJSON, or a document
///   (`Json`, which covers arrays and CloudTrail `Records` files).
/// - A first line that is not JSON but a CSV header in which at least two
///   cells are one SIEM schema's columns: `Csv`.
/// - Anything else: NDJSON (each line reported on its own).
pub fn detect_format(start: &[u8]) -> InputFormat {
    let Some(first) = ndjson_events(start).next() else {
        return InputFormat::Ndjson;
    };
    match first.trim_ascii().first() {
        Some(b'{') => match api_key(start) {
            Some(format) => format,
            None => json_framing(start),
        },
        Some(b'[') => InputFormat::Json,
        _ if is_csv_header(first) => InputFormat::Csv,
        _ => InputFormat::Ndjson,
    }
}

fn json_framing(start: &[u8]) -> InputFormat {
    match detect_framing(start) {
        Framing::Ndjson => InputFormat::Ndjson,
        Framing::Document => InputFormat::Json,
    }
}

/// The API export whose array is under a top-level key of the object
/// `start` opens.
fn api_key(start: &[u8]) -> Option<InputFormat> {
    top_level_keys(start).find_map(|(key, array)| key_format(&key).filter(|_| array))
}

fn key_format(key: &[u8]) -> Option<InputFormat> {
    match key {
        b"events" | b"flows" => Some(InputFormat::QRadarAriel),
        b"tables" => Some(InputFormat::LogAnalytics),
        b"messages" | b"records" => Some(InputFormat::SumoSearch),
        _ => None,
    }
}

/// True when `line` reads as a CSV header naming a SIEM's columns.
fn is_csv_header(line: &[u8]) -> bool {
    let mut reader = Reader::new();
    let mut cells = vec![0; line.len().min(super::MAX_ROW_BYTES)];
    let mut ends = vec![0; super::MAX_COLUMNS];
    let (res, _, nout, nend) = reader.read_record(line, &mut cells, &mut ends);
    let (res, nend) = match res {
        ReadRecordResult::InputEmpty => {
            let (res, _, _, more) = reader.read_record(
                &[],
                cells.get_mut(nout..).unwrap_or_default(),
                ends.get_mut(nend..).unwrap_or_default(),
            );
            (res, nend + more)
        }
        other => (other, nend),
    };
    if !matches!(res, ReadRecordResult::Record) || nend < 2 {
        return false;
    }
    let mut names = Vec::with_capacity(nend);
    let mut from = 0;
    for &end in ends.get(..nend).unwrap_or_default() {
        let cell = cells.get(from..end).unwrap_or_default();
        names.push(header_name(&String::from_utf8_lossy(cell)).to_string());
        from = end;
    }
    best_table(names.iter().map(String::as_str)).is_some()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected() {
        let f = detect_format;
        assert_eq!(f(b"{\"events\": [{\"a\":1}]}"), InputFormat::QRadarAriel);
        assert_eq!(f(b"{\n  \"tables\": [\n"), InputFormat::LogAnalytics);
        assert_eq!(
            f(b"{\"fields\":[{\"name\":\"x\"}],\"messages\":[{\"map\":{}}]}"),
            InputFormat::SumoSearch
        );
        assert_eq!(f(b"{\"Records\":[{\"a\":1}]}"), InputFormat::Json);
        assert_eq!(f(b"[{\"a\":1}]"), InputFormat::Json);
        assert_eq!(
            f(b"{\"a\":{\"events\":[1]}}\n{\"b\":2}\n"),
            InputFormat::Ndjson
        );
        assert_eq!(f(b"{\"events\":\"not an array\"}\n"), InputFormat::Ndjson);
        assert_eq!(
            f(b"TimeGenerated [UTC],EventName,Type\n2026-11-20,StopInstances,AWSCloudTrail\n"),
            InputFormat::Csv
        );
        assert_eq!(
            f(b"\"_messagetime\",\"_raw\"\n\"1\",\"{}\"\n"),
            InputFormat::Csv
        );
        assert_eq!(f(b"a,b,c\n1,2,3\n"), InputFormat::Ndjson);
        assert_eq!(f(b"not json\n{\"a\":1}"), InputFormat::Ndjson);
        assert_eq!(f(b""), InputFormat::Ndjson);
    }

    #[test]
    fn every_name_parses_back() {
        for format in InputFormat::ALL {
            assert_eq!(format.name().parse::<InputFormat>(), Ok(format));
        }
        assert!(
            "xml"
                .parse::<InputFormat>()
                .unwrap_err()
                .contains("qradar-ariel")
        );
    }
}
