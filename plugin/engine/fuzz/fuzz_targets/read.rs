//! The event readers on arbitrary bytes: framing, NDJSON lines, JSON
//! documents (arrays and CloudTrail `Records`), minifying.
//!
//! Properties: no panic; NDJSON yields exactly one event per non-blank line
//! (every input line comes out once); a document's events are slices of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sigil_engine::input::{detect_framing, document_events, is_blank, minify_into, ndjson_events};

fuzz_target!(|data: &[u8]| {
    let _ = detect_framing(data);
    let lines = data
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank(l.strip_suffix(b"\r").unwrap_or(l)))
        .count();
    assert_eq!(ndjson_events(data).count(), lines);
    if let Ok(events) = document_events(data) {
        let mut out = Vec::new();
        for e in events {
            let range = data.as_ptr_range();
            assert!(range.contains(&e.as_ptr()) || e.is_empty());
            out.clear();
            minify_into(e, &mut out);
            assert!(out.len() <= e.len());
        }
    }
});
