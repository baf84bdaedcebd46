//! Framing: how events sit in a byte stream.
//!
//! Three shapes occur in the wild and all are accepted:
//!
//! - NDJSON, one event per line: what pipelines (Fluent Bit, Vector, Kafka
//!   consumers) carry. This is the fast path: events are found with a newline
//!   scan and never re-serialised.
//! - A JSON array of events: what exports and the Stratus Red Team captures hold.
//! - CloudTrail delivery files, `{"Records": [...]}`: what S3 holds.
//!
//! This module owns the rules for each shape so that the host, the component
//! and every adapter split a stream the same way (the batch call's event
//! indexes depend on it).

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

use crate::scan::structural;

/// The non-blank lines of an NDJSON block, without their line ending.
///
/// A line ends at `\n`; a `\r` before it is dropped; the last line needs no
/// `\n`. Lines holding only ASCII whitespace are not events and are skipped,
/// so event `i` of this iterator is event `i` of `evaluate-batch`.
pub fn ndjson_events(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    Lines { rest: Some(block) }
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .filter(|line| !is_blank(line))
}

/// Lines split at `\n` with a vector search (see [`structural::newline`]):
/// the one scan every event pays.
struct Lines<'a> {
    rest: Option<&'a [u8]>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.rest?;
        // The line and what follows its `\n` (`None`, the end, if `newline`
        // gave a position past the text).
        match structural::newline(rest).and_then(|i| rest.split_at_checked(i)) {
            Some((line, after)) => {
                self.rest = after.get(1..);
                Some(line)
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// True when `bytes` holds only ASCII whitespace.
pub fn is_blank(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| b.is_ascii_whitespace())
}

/// How a whole document is framed, guessed from its first bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One JSON value per line.
    Ndjson,
    /// Anything else: a JSON array, a `{"Records": [...]}` delivery file, or
    /// one or more (possibly pretty-printed) JSON objects one after another.
    Document,
}

/// Guesses the framing of a stream from its start.
///
/// NDJSON when the first non-blank line is, on its own, a complete JSON
/// object that is not a CloudTrail delivery file; `Document` otherwise. A
/// first line that is broken JSON also counts as NDJSON, so that the bad
/// line is reported on its own and the lines after it still flow. So does
/// a first line that does not close when the next line is a complete
/// object: that is NDJSON whose first line was cut (a shipper's line
/// limit, a writer that died), not a pretty-printed document, whose
/// second line is never an object of its own. Read as a document, the
/// whole input would be lost to one framing error.
pub fn detect_framing(start: &[u8]) -> Framing {
    let mut lines = ndjson_events(start);
    let Some(first) = lines.next() else {
        return Framing::Ndjson;
    };
    let trimmed = first.trim_ascii();
    if trimmed.first() == Some(&b'[') {
        return Framing::Document;
    }
    match serde_json::from_slice::<&RawValue>(trimmed) {
        Ok(_) if top_level_keys(trimmed).any(|(key, array)| *key == *b"Records" && array) => {
            Framing::Document
        }
        Ok(_) => Framing::Ndjson,
        // An object that does not close on its first line is pretty-printed,
        // unless an object of its own follows.
        Err(e) if e.is_eof() => match lines.next() {
            Some(next)
                if serde_json::from_slice::<&RawValue>(next)
                    .is_ok_and(|v| v.get().starts_with('{')) =>
            {
                Framing::Ndjson
            }
            _ => Framing::Document,
        },
        Err(_) => Framing::Ndjson,
    }
}

/// The top-level keys of the JSON object `body` starts with (after
/// whitespace), in order, each with whether its value is an array (`"key"
/// : [`), read only as far as `body` goes: a format is sniffed from a
/// block's start, which may cut the object anywhere. A key is its bytes
/// between the quotes, escapes decoded (`"Rec\u006frds"` is `Records`, as
/// every JSON reader downstream will read it). Nothing when `body` does not
/// start with an object; nothing past the object's end. Never fails: bytes
/// that are no JSON only end the keys early.
///
/// One reader for every "which keys does the first value have" question:
/// [`detect_framing`]'s `Records` and `export::detect_format`'s API keys.
pub(crate) fn top_level_keys(body: &[u8]) -> TopLevelKeys<'_> {
    let at = body.len() - body.trim_ascii_start().len();
    let is_object = body.get(at) == Some(&b'{');
    TopLevelKeys {
        body,
        at: if is_object { at } else { body.len() },
        depth: 0,
    }
}

/// The iterator of [`top_level_keys`].
pub(crate) struct TopLevelKeys<'a> {
    body: &'a [u8],
    /// The next byte to read.
    at: usize,
    /// Brackets open before `at`: keys are strings at depth 1.
    depth: u32,
}

impl<'a> Iterator for TopLevelKeys<'a> {
    type Item = (Cow<'a, [u8]>, bool);

    fn next(&mut self) -> Option<(Cow<'a, [u8]>, bool)> {
        while let Some(&b) = self.body.get(self.at) {
            let start = self.at + 1;
            self.at = start;
            match b {
                b'"' => {
                    // A string cut by the end of `body` ends the keys.
                    let Some(len) = string_len(self.body.get(start..)?) else {
                        self.at = self.body.len();
                        return None;
                    };
                    self.at = start + len + 1;
                    let mut after = self.body.get(self.at..)?.iter();
                    let mut next = || after.find(|b| !b.is_ascii_whitespace());
                    if self.depth == 1 && next() == Some(&b':') {
                        let key = self.body.get(start..start + len)?;
                        let key = match key.contains(&b'\\') {
                            // With its quotes: a JSON string to decode. One
                            // that does not decode is no key anyone reads.
                            true => Cow::Owned(
                                serde_json::from_slice::<String>(
                                    self.body.get(start - 1..=start + len)?,
                                )
                                .ok()?
                                .into_bytes(),
                            ),
                            false => Cow::Borrowed(key),
                        };
                        return Some((key, next() == Some(&b'[')));
                    }
                }
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    if self.depth == 0 {
                        self.at = self.body.len();
                    }
                }
                _ => {}
            }
        }
        None
    }
}

/// The length of the string whose text starts `rest` (after its opening
/// quote), up to its closing quote; `None` when `rest` ends first.
fn string_len(rest: &[u8]) -> Option<usize> {
    let mut escaped = false;
    rest.iter().position(|&b| {
        let closes = !escaped && b == b'"';
        escaped = !escaped && b == b'\\';
        closes
    })
}

#[derive(Deserialize)]
struct Records<'a> {
    #[serde(rename = "Records", borrow, default)]
    records: Option<Vec<&'a RawValue>>,
}

/// Error splitting a document into events.
#[derive(Debug, thiserror::Error)]
#[error("cannot split the document into events: {0}")]
pub struct FramingError(String);

impl FramingError {
    /// An error with `message` (what broke, and what to do).
    pub(crate) fn new(message: String) -> FramingError {
        FramingError(message)
    }
}

/// Splits a whole document into the raw bytes of its events.
///
/// Accepts a JSON array of objects, a CloudTrail `{"Records": [...]}`
/// file, or a sequence of JSON values (pretty-printed or not), where each
/// value is itself an event, an array or a Records file. Each event is
/// returned as the exact slice of the input that holds it.
pub fn document_events(doc: &[u8]) -> Result<Vec<&[u8]>, FramingError> {
    let mut out = Vec::new();
    let stream = serde_json::Deserializer::from_slice(doc).into_iter::<&RawValue>();
    for value in stream {
        let value = value.map_err(|e| FramingError(e.to_string()))?;
        push_value(value, &mut out)?;
    }
    Ok(out)
}

fn push_value<'a>(value: &'a RawValue, out: &mut Vec<&'a [u8]>) -> Result<(), FramingError> {
    let text = value.get();
    match text.as_bytes().first() {
        Some(b'[') => {
            let items: Vec<&'a RawValue> =
                serde_json::from_str(text).map_err(|e| FramingError(e.to_string()))?;
            out.extend(items.into_iter().map(|v| v.get().as_bytes()));
        }
        Some(b'{') => match serde_json::from_str::<Records<'a>>(text) {
            Ok(Records {
                records: Some(items),
            }) => {
                out.extend(items.into_iter().map(|v| v.get().as_bytes()));
            }
            _ => out.push(text.as_bytes()),
        },
        _ => out.push(text.as_bytes()),
    }
    Ok(())
}

/// Appends `raw` to `out` with the whitespace between JSON tokens removed,
/// so that a pretty-printed event becomes one NDJSON line. Bytes inside
/// strings are copied untouched; nothing is parsed or re-encoded.
pub fn minify_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut in_string = false;
    let mut escaped = false;
    for &b in raw {
        if in_string {
            out.push(b);
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
            out.push(b);
        } else if !b.is_ascii_whitespace() {
            out.push(b);
        }
    }
}

#[cfg(test)]
// A panic in a test is a failed test.
#[allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn ndjson_skips_blank_lines_and_crlf() {
        let block = b"{\"a\":1}\r\n\n   \n{\"b\":2}";
        let events: Vec<_> = ndjson_events(block).collect();
        assert_eq!(events, vec![&b"{\"a\":1}"[..], &b"{\"b\":2}"[..]]);
    }

    #[test]
    fn framing_is_detected() {
        assert_eq!(detect_framing(b"{\"a\":1}\n{\"a\":2}\n"), Framing::Ndjson);
        assert_eq!(detect_framing(b"[\n {\"a\":1}\n]"), Framing::Document);
        assert_eq!(detect_framing(b"{\n  \"a\": 1\n}\n"), Framing::Document);
        assert_eq!(
            detect_framing(b"{\"Records\":[{\"a\":1}]}"),
            Framing::Document
        );
        assert_eq!(detect_framing(b"not json\n{\"a\":1}"), Framing::Ndjson);
        // A first line cut short, then NDJSON.
        assert_eq!(
            detect_framing(b"{\"a\":\"xx\\\n{\"a\":1}\n"),
            Framing::Ndjson
        );
        assert_eq!(detect_framing(b"{\"a\":\"xx\n{\"a\":1}\n"), Framing::Ndjson);
        // Compact records, one a line: the second line has a comma after it.
        assert_eq!(
            detect_framing(b"{\"Records\":[\n{\"a\":1},\n{\"a\":2}]}\n"),
            Framing::Document
        );
        assert_eq!(
            detect_framing(b"{\n\"a\": {\"b\": 1}\n}\n"),
            Framing::Document,
            "a member alone on a line is not an object"
        );
        // A key spelled with escapes is the key every JSON reader reads:
        // its events are not one event of an array.
        assert_eq!(
            detect_framing(br#"{"Rec\u006frds":[{"eventName":"StopInstances"}]}"#),
            Framing::Document
        );
    }

    #[test]
    fn top_level_keys_are_read_as_far_as_the_bytes_go() {
        let keys = |body: &[u8]| -> Vec<(String, bool)> {
            top_level_keys(body)
                .map(|(k, a)| (String::from_utf8_lossy(&k).into_owned(), a))
                .collect()
        };
        let k = |key: &str, array| (key.to_string(), array);
        assert_eq!(
            keys(br#" {"a": {"b": [1]}, "c\"d" : [ "x", "e": 1}"#),
            vec![k("a", false), k("c\"d", true)],
            "nested keys and string values are not top-level keys"
        );
        assert_eq!(keys(br#"{"a":1} {"b":[]}"#), vec![k("a", false)]);
        assert_eq!(
            keys(b"{\n  \"tables\": [\n  {\"na"),
            vec![k("tables", true)]
        );
        assert_eq!(keys(br#"{"events"#), vec![]);
        assert_eq!(keys(br#"[{"a":[1]}]"#), vec![]);
        assert_eq!(keys(b"not json"), vec![]);
        assert_eq!(keys(b"{\"\xff\":[}}]]]"), vec![k("\u{fffd}", true)]);
    }

    #[test]
    fn documents_split_into_events() {
        let arr = br#"[ {"a": 1}, {"b": [1, 2]} ]"#;
        assert_eq!(
            document_events(arr).unwrap(),
            vec![&br#"{"a": 1}"#[..], &br#"{"b": [1, 2]}"#[..]]
        );
        let records = br#"{"Records": [{"a": 1}]}"#;
        assert_eq!(document_events(records).unwrap(), vec![&br#"{"a": 1}"#[..]]);
        let pretty = b"{\n \"a\": 1\n}\n{\n \"b\": 2\n}";
        assert_eq!(document_events(pretty).unwrap().len(), 2);
        assert!(document_events(b"[{\"a\":1},").is_err());
    }

    #[test]
    fn minify_keeps_strings() {
        let mut out = Vec::new();
        minify_into(b"{ \"a b\" : \"x \\\" y\" ,\n \"c\": [1, 2] }", &mut out);
        assert_eq!(out, b"{\"a b\":\"x \\\" y\",\"c\":[1,2]}");
    }
}
