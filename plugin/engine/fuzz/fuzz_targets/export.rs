//! The SIEM export readers on arbitrary bytes: format detection, CSV read
//! in pieces, the QRadar, Log Analytics and Sumo API documents.
//!
//! Properties: no panic; every row comes out once, as one line (CSV: the
//! lines written are the rows counted, whatever the pieces; a document
//! that splits: likewise), and the pieces do not change what comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_engine::export::{CsvRows, ExportStats, InputFormat, detect_format, export_rows};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, data)) = data.split_first() else {
        return;
    };
    let _ = detect_format(data);

    let csv = |piece: usize| {
        let mut rows = CsvRows::new();
        let mut out = Vec::new();
        for chunk in data.chunks(piece) {
            rows.push(chunk, &mut out);
        }
        rows.finish(&mut out);
        (out, rows.stats())
    };
    let (whole, stats) = csv(data.len().max(1));
    assert_eq!(whole.iter().filter(|&&b| b == b'\n').count() as u64, stats.rows);
    assert!(whole.is_empty() || whole.ends_with(b"\n"));
    assert_eq!(csv(usize::from(piece).max(1)).0, whole);

    for format in [InputFormat::QRadarAriel, InputFormat::LogAnalytics, InputFormat::SumoSearch] {
        let mut out = Vec::new();
        let mut stats = ExportStats::default();
        match export_rows(format, data, &mut out, &mut stats) {
            Ok(()) => {
                assert_eq!(out.iter().filter(|&&b| b == b'\n').count() as u64, stats.rows);
            }
            Err(_) => assert!(out.is_empty()),
        }
    }
});
