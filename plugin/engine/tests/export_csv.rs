//! CSV exports against a reference writer: any cells (quotes, commas, line
//! breaks, formulas, non-ASCII), quoted as RFC 4180 says, pushed in pieces
//! of any size, come back as one JSON object per row with exactly those
//! cells, every row once.

use proptest::prelude::*;
use serde_json::Value;
use sigil_engine::export::CsvRows;

/// RFC 4180: a cell with a quote, comma or line break is quoted, its
/// quotes doubled.
fn quote(cell: &str) -> String {
    if cell.contains(['"', ',', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 ]{0,8}",
        "[=+@\\-][a-z|!' ]{0,8}",
        "[\",\\n\\r a]{1,6}",
        "\\PC{0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn rows_come_back_cell_for_cell(
        rows in prop::collection::vec(prop::collection::vec(cell(), 3), 0..12),
        piece in 1usize..64,
    ) {
        // Unknown header names: no schema types, every cell stays text.
        let mut csv = String::from("alpha,beta,gamma\r\n");
        for r in &rows {
            let line: Vec<String> = r.iter().map(|c| quote(c)).collect();
            csv.push_str(&line.join(","));
            csv.push_str("\r\n");
        }
        let mut reader = CsvRows::new();
        let mut out = Vec::new();
        for chunk in csv.as_bytes().chunks(piece) {
            reader.push(chunk, &mut out);
        }
        reader.finish(&mut out);
        let got: Vec<Value> = out
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        // A row of three empty cells is a row (of no value), not a blank line.
        prop_assert_eq!(got.len(), rows.len());
        prop_assert_eq!(reader.stats().rows, rows.len() as u64);
        prop_assert_eq!(reader.stats().ragged_rows, 0);
        for (g, r) in got.iter().zip(&rows) {
            for (name, want) in ["alpha", "beta", "gamma"].iter().zip(r) {
                match g.get(name) {
                    Some(v) => prop_assert_eq!(v.as_str(), Some(want.as_str())),
                    None => prop_assert_eq!(want.as_str(), ""),
                }
            }
        }
    }
}
