//! Reading what can be read of an event that cannot be read as it is.
//!
//! Attackers write into the fields sigil reads (`userAgent`, request
//! parameters, resource names). If one invalid byte in such a field made the
//! whole event an error, an attacker could hide any action from every rule
//! by adding it: a `--matched-only` pipeline would drop the event. So bytes
//! an attacker controls may lower sigil's confidence, never its detection:
//! an event the strict reader refuses is rewritten into the nearest event
//! that can be read, evaluated, and its verdict carries a [`Warning`] per
//! kind of damage. Only text that is not an event at all stays an error.
//!
//! The rewrite keeps every key and every byte it can:
//!
//! - invalid UTF-8 becomes U+FFFD, as every lossy decoder does;
//! - a raw control character inside a string becomes its `\u00XX` escape
//!   (the character is read as it is);
//! - a `\u` escape of half a surrogate pair becomes `\uFFFD`; a backslash
//!   before a character JSON does not escape is read as a backslash;
//! - an event over the size limit first has each long string cut to its
//!   head and tail ([`STRING_HEAD`] + [`STRING_TAIL`] bytes, which keeps
//!   the keys, the short values and both ends of a padded one), and, if it
//!   is still too long, is cut after its last complete member under the
//!   limit, its open brackets closed;
//! - a value nested deeper than the depth limit becomes `null`;
//! - an object that ends before its closing brace (cut on the way: a
//!   shipper's line-length limit, a writer that died mid-line) is closed
//!   after its last complete member, when it has one. Fields come before
//!   the padding an attacker adds to push the rest past such a limit
//!   (CloudTrail writes `eventName` before `userAgent` and the request), so
//!   what is left is still worth every rule.
//!
//! One pass, linear in the event, no recursion; the output is never longer
//! than the limit.

use crate::error::EventWarning as Warning;
use crate::scan::extract::MAX_DEPTH;

/// Bytes kept from the start of a string cut in an over-long event.
pub(crate) const STRING_HEAD: usize = 6 * 1024;
/// Bytes kept from the end of such a string.
pub(crate) const STRING_TAIL: usize = 2 * 1024;

/// Rewrites `event` into `out` (cleared first) and says what was changed;
/// no warning means nothing was, and the event's error is its own.
///
/// `max_bytes` bounds `out`; containers deeper than `max_depth` (at most
/// [`MAX_DEPTH`], the deepest the reader takes) are replaced by `null`.
pub(crate) fn repair(
    event: &[u8],
    max_bytes: usize,
    max_depth: u32,
    out: &mut Vec<u8>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    // A BOM is not part of the event (files written by Windows tools).
    let event = event.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(event);
    let text = String::from_utf8_lossy(event);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        warnings.push(Warning::InvalidUtf8);
    }
    // An event under the limit can be over it once rewritten (an invalid
    // byte becomes three, a control character six): then it is rewritten
    // again with its long strings cut, as one that came over the limit.
    // Refused as too large, it would be an error, and padding any field
    // with such bytes would hide the event from every rule.
    let max_depth = max_depth.min(MAX_DEPTH);
    let mut r = Rewriter::run(text.as_bytes(), out, event.len() > max_bytes, max_depth);
    if !r.cap_strings && r.out.len() > max_bytes {
        r = Rewriter::run(text.as_bytes(), r.out, true, max_depth);
    }
    let too_large = r.cap_strings;
    if r.controls {
        warnings.push(Warning::ControlCharacters);
    }
    if r.surrogates {
        warnings.push(Warning::LoneSurrogate);
    }
    if r.escapes {
        warnings.push(Warning::InvalidEscape);
    }
    if r.deep {
        warnings.push(Warning::TooDeep);
    }
    if !too_large && r.unterminated() && text.trim_start().starts_with('{') {
        // `{` alone, or `{"a":12` closed as `{}`, is no event: left broken.
        let (len, _) = last_safe_within(r.out, max_bytes);
        let member = r.out.get(..len).is_some_and(|kept| kept.contains(&b':'));
        if member {
            r.cut(max_bytes);
            warnings.push(Warning::Truncated {
                bytes: event.len().min(u32::MAX as usize) as u32,
            });
        }
    }
    if too_large {
        let cut = r.out.len() > max_bytes;
        if cut {
            r.cut(max_bytes);
        }
        if r.cut_strings || cut {
            warnings.push(Warning::Truncated {
                bytes: event.len().min(u32::MAX as usize) as u32,
            });
        }
    }
    warnings
}

struct Rewriter<'o> {
    out: &'o mut Vec<u8>,
    cap_strings: bool,
    max_depth: usize,
    /// The closing bracket of each open container.
    closers: Vec<u8>,
    /// The last place the output could end after closing the brackets then
    /// open: its length, and how many brackets were open.
    safe: (usize, usize),
    /// Depth of the container being skipped (deeper than the limit); 0 when
    /// none is.
    skipping: usize,
    controls: bool,
    surrogates: bool,
    escapes: bool,
    cut_strings: bool,
    deep: bool,
    /// The text ended inside a string.
    open_string: bool,
}

impl<'o> Rewriter<'o> {
    /// Rewrites `text` into `out` (cleared first).
    fn run(text: &[u8], out: &'o mut Vec<u8>, cap_strings: bool, max_depth: u32) -> Rewriter<'o> {
        let mut r = Rewriter {
            out,
            cap_strings,
            max_depth: max_depth as usize,
            closers: Vec::new(),
            safe: (0, 0),
            skipping: 0,
            controls: false,
            surrogates: false,
            escapes: false,
            cut_strings: false,
            deep: false,
            open_string: false,
        };
        r.out.clear();
        r.rewrite(text);
        r
    }

    fn rewrite(&mut self, b: &[u8]) {
        let mut i = 0;
        while let Some(&c) = b.get(i) {
            match c {
                b'"' => i = self.string(b, i + 1),
                b'{' | b'[' => {
                    let closer = if c == b'{' { b'}' } else { b']' };
                    self.closers.push(closer);
                    if self.skipping == 0 && self.closers.len() > self.max_depth {
                        self.skipping = self.closers.len();
                        self.deep = true;
                        self.out.extend_from_slice(b"null");
                    } else if self.skipping == 0 {
                        self.out.push(c);
                        self.mark_safe();
                    }
                    i += 1;
                }
                b'}' | b']' => {
                    let depth = self.closers.len();
                    self.closers.pop();
                    if self.skipping == 0 {
                        // Copied even when nothing is open: an extra
                        // bracket leaves the event as broken as it came.
                        self.out.push(c);
                        self.mark_safe();
                    } else if self.skipping == depth {
                        self.skipping = 0;
                    }
                    i += 1;
                }
                b',' => {
                    if self.skipping == 0 {
                        self.mark_safe();
                        self.out.push(c);
                    }
                    i += 1;
                }
                _ => {
                    if self.skipping == 0 {
                        self.out.push(c);
                    }
                    i += 1;
                }
            }
        }
    }

    /// Whether the text ended before closing what it opened.
    fn unterminated(&self) -> bool {
        self.open_string || !self.closers.is_empty()
    }

    fn mark_safe(&mut self) {
        self.safe = (self.out.len(), self.closers.len());
    }

    /// Copies the string whose body starts at `start`; returns the index
    /// after its closing quote (or the end of the text).
    fn string(&mut self, b: &[u8], start: usize) -> usize {
        let keep = self.skipping == 0;
        if keep {
            self.out.push(b'"');
        }
        let mut i = start;
        // Where the body's bytes start in `out`, to cut a long string.
        let body = self.out.len();
        loop {
            let Some(&c) = b.get(i) else {
                // Unterminated: left so; `repair` may cut before it.
                self.open_string = true;
                return i;
            };
            match c {
                b'"' => {
                    if keep {
                        if self.cap_strings {
                            self.cap(body);
                        }
                        self.out.push(b'"');
                    }
                    return i + 1;
                }
                b'\\' => {
                    let n = self.escape(b, i, keep);
                    i += n;
                }
                0..=0x1f => {
                    self.controls = true;
                    if keep {
                        let hex = |d: u8| if d < 10 { b'0' + d } else { b'a' + d - 10 };
                        self.out.extend_from_slice(b"\\u00");
                        self.out.push(hex(c >> 4));
                        self.out.push(hex(c & 15));
                    }
                    i += 1;
                }
                _ => {
                    if keep {
                        self.out.push(c);
                    }
                    i += 1;
                }
            }
        }
    }

    /// Copies the escape at `b[i]` (a backslash); returns its length.
    fn escape(&mut self, b: &[u8], i: usize, keep: bool) -> usize {
        match b.get(i + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => {
                if keep {
                    self.out
                        .extend_from_slice(b.get(i..i + 2).unwrap_or_default());
                }
                2
            }
            Some(b'u') => {
                let Some(unit) = hex4(b, i + 2) else {
                    self.escapes = true;
                    if keep {
                        self.out.extend_from_slice(b"\\\\");
                    }
                    return 1;
                };
                let high = (0xD800..0xDC00).contains(&unit);
                let low = (0xDC00..0xE000).contains(&unit);
                if high {
                    let pair = b.get(i + 6) == Some(&b'\\')
                        && b.get(i + 7) == Some(&b'u')
                        && hex4(b, i + 8).is_some_and(|u| (0xDC00..0xE000).contains(&u));
                    if pair {
                        if keep {
                            self.out
                                .extend_from_slice(b.get(i..i + 12).unwrap_or_default());
                        }
                        return 12;
                    }
                }
                if high || low {
                    self.surrogates = true;
                    if keep {
                        self.out.extend_from_slice(b"\\ufffd");
                    }
                } else if keep {
                    self.out
                        .extend_from_slice(b.get(i..i + 6).unwrap_or_default());
                }
                6
            }
            // A backslash JSON would refuse (`\q`, or at the very end): the
            // backslash itself, escaped.
            _ => {
                self.escapes = true;
                if keep {
                    self.out.extend_from_slice(b"\\\\");
                }
                1
            }
        }
    }

    /// Cuts the string body written from `body` to its head and tail, at
    /// character and escape boundaries.
    fn cap(&mut self, body: usize) {
        let Some(s) = self.out.get(body..) else {
            return;
        };
        let len = s.len();
        if len <= STRING_HEAD + STRING_TAIL {
            return;
        }
        let head = boundary_before(s, STRING_HEAD);
        let tail = boundary_after(s, len - STRING_TAIL);
        let (Some(head), Some(tail)) = (s.get(..head), s.get(tail..)) else {
            return;
        };
        self.cut_strings = true;
        let kept = [head, "…".as_bytes(), tail].concat();
        self.out.truncate(body);
        self.out.extend_from_slice(&kept);
    }

    /// Ends the output at the last complete member that leaves room for the
    /// closing brackets under `max_bytes`.
    fn cut(&mut self, max_bytes: usize) {
        // The safe points seen were recorded as the output grew; find the
        // last one that fits by scanning the output again (rare path).
        let (len, open) = last_safe_within(self.out, max_bytes);
        self.out.truncate(len);
        let closers = closers_of(self.out, open);
        self.out.extend(closers.iter().rev());
    }
}

/// The last place in `out` (a rewritten event: valid UTF-8, no raw control
/// characters) where it can end with its brackets closed, within
/// `max_bytes` brackets included: its length and how many brackets are open.
///
/// The places: after an opening or closing bracket, before a comma, and
/// after a string that is a value (its closing quote proves it whole; a
/// number or `true` at the very end may have been cut).
fn last_safe_within(out: &[u8], max_bytes: usize) -> (usize, usize) {
    let mut best = (0, 0);
    // Per open container, whether it is an array.
    let mut arrays: Vec<bool> = Vec::new();
    // In an object, whether a key and its colon were read.
    let mut after_colon = false;
    let mut in_string = false;
    let mut i = 0;
    while let Some(&c) = out.get(i) {
        let point = if in_string {
            match c {
                b'\\' => {
                    i += 1;
                    None
                }
                b'"' => {
                    in_string = false;
                    let value = after_colon || arrays.last() == Some(&true);
                    value.then_some((i + 1, arrays.len()))
                }
                _ => None,
            }
        } else {
            match c {
                b'"' => {
                    in_string = true;
                    None
                }
                b'{' | b'[' => {
                    arrays.push(c == b'[');
                    after_colon = false;
                    Some((i + 1, arrays.len()))
                }
                b'}' | b']' => {
                    arrays.pop();
                    after_colon = false;
                    Some((i + 1, arrays.len()))
                }
                b':' => {
                    after_colon = true;
                    None
                }
                b',' => {
                    after_colon = false;
                    Some((i, arrays.len()))
                }
                _ => None,
            }
        };
        if let Some((len, open)) = point {
            if len + open > max_bytes {
                break;
            }
            best = (len, open);
        }
        i += 1;
    }
    best
}

/// The closing brackets of the `open` containers still open at the end of
/// `prefix`, innermost last.
fn closers_of(prefix: &[u8], open: usize) -> Vec<u8> {
    let mut stack = Vec::with_capacity(open);
    let mut in_string = false;
    let mut i = 0;
    while let Some(&c) = prefix.get(i) {
        if in_string {
            match c {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
        } else {
            match c {
                b'"' => in_string = true,
                b'{' => stack.push(b'}'),
                b'[' => stack.push(b']'),
                b'}' | b']' => {
                    stack.pop();
                }
                _ => {}
            }
        }
        i += 1;
    }
    stack
}

/// The four hex digits at `b[at..]` as a number.
fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let d = b.get(at..at + 4)?;
    let s = std::str::from_utf8(d).ok()?;
    if !s.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(s, 16).ok()
}

/// The largest index `<= at` in string body `s` that starts a character and
/// is not inside an escape.
fn boundary_before(s: &[u8], at: usize) -> usize {
    let starts = escape_starts(s);
    let mut i = at.min(s.len());
    while i > 0 && (!is_char_start(s, i) || inside_escape(&starts, i)) {
        i -= 1;
    }
    i
}

/// The smallest index `>= at` in `s` that starts a character and is not
/// inside an escape.
fn boundary_after(s: &[u8], at: usize) -> usize {
    let starts = escape_starts(s);
    let mut i = at.min(s.len());
    while i < s.len() && (!is_char_start(s, i) || inside_escape(&starts, i)) {
        i += 1;
    }
    i
}

fn is_char_start(s: &[u8], i: usize) -> bool {
    s.get(i).is_none_or(|&c| (c as i8) >= -0x40)
}

/// Every escape in a rewritten string body: (start, length).
fn escape_starts(s: &[u8]) -> Vec<(usize, usize)> {
    let mut v = Vec::new();
    let mut i = 0;
    while let Some(&c) = s.get(i) {
        if c == b'\\' {
            let n = if s.get(i + 1) == Some(&b'u') { 6 } else { 2 };
            v.push((i, n));
            i += n;
        } else {
            i += 1;
        }
    }
    v
}

fn inside_escape(starts: &[(usize, usize)], i: usize) -> bool {
    let k = starts.partition_point(|&(s, _)| s < i);
    k > 0 && starts.get(k - 1).is_some_and(|&(s, n)| i < s + n)
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

    fn fixed(event: &[u8], max: usize) -> (String, Vec<Warning>) {
        let mut out = Vec::new();
        let w = repair(event, max, 64, &mut out);
        let s = String::from_utf8(out).expect("the rewrite is UTF-8");
        (s, w)
    }

    fn parses(s: &str) -> serde_json::Value {
        serde_json::from_str(s).unwrap_or_else(|e| panic!("{e}: {s}"))
    }

    #[test]
    fn well_formed_events_are_unchanged() {
        let ev = br#"{"a":"x\"\u00e9\ud83d\ude00","b":[1,{"c":null}]}"#;
        let (s, w) = fixed(ev, 1 << 20);
        assert_eq!(s.as_bytes(), ev);
        assert!(w.is_empty());
    }

    #[test]
    fn invalid_utf8_becomes_replacement() {
        let (s, w) = fixed(
            b"{\"eventName\":\"StopInstances\",\"ua\":\"\xff\"}",
            1 << 20,
        );
        assert_eq!(parses(&s)["ua"], "\u{fffd}");
        assert_eq!(w, [Warning::InvalidUtf8]);
    }

    #[test]
    fn control_characters_are_escaped() {
        let (s, w) = fixed(b"{\"ua\":\"a\tb\x01\"}", 1 << 20);
        assert_eq!(parses(&s)["ua"], "a\tb\u{1}");
        assert_eq!(w, [Warning::ControlCharacters]);
    }

    #[test]
    fn lone_surrogates_and_bad_escapes() {
        let (s, w) = fixed(
            br#"{"a":"\ud800","b":"\udc00x","c":"\q","d":"\u12"}"#,
            1 << 20,
        );
        let v = parses(&s);
        assert_eq!(v["a"], "\u{fffd}");
        assert_eq!(v["b"], "\u{fffd}x");
        assert_eq!(v["c"], "\\q");
        assert_eq!(v["d"], "\\u12");
        assert_eq!(w, [Warning::LoneSurrogate, Warning::InvalidEscape]);
    }

    #[test]
    fn padded_string_keeps_head_tail_and_later_keys() {
        let pad = "A".repeat(3 << 20);
        let ev = format!(r#"{{"userAgent":"{pad}END","eventName":"StopInstances"}}"#);
        let (s, w) = fixed(ev.as_bytes(), 1 << 20);
        let v = parses(&s);
        assert_eq!(v["eventName"], "StopInstances");
        assert!(v["userAgent"].as_str().unwrap().ends_with("AEND"));
        assert!(s.len() < 16 * 1024);
        assert_eq!(
            w,
            [Warning::Truncated {
                bytes: ev.len() as u32
            }]
        );
    }

    #[test]
    fn many_fields_are_cut_after_a_complete_member() {
        let mut ev = String::from(r#"{"eventName":"StopInstances","p":{"#);
        for i in 0..200_000 {
            ev += &format!(r#""k{i}":[{i}],"#);
        }
        ev += r#""z":1}}"#;
        let (s, w) = fixed(ev.as_bytes(), 1 << 20);
        assert!(s.len() <= 1 << 20);
        let v = parses(&s);
        assert_eq!(v["eventName"], "StopInstances");
        assert!(v["p"]["k0"].is_array());
        assert!(matches!(w.as_slice(), [Warning::Truncated { .. }]));
    }

    #[test]
    fn too_deep_values_become_null() {
        let ev = format!(
            r#"{{"a":{}1{},"eventName":"x"}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let mut out = Vec::new();
        let w = repair(ev.as_bytes(), 1 << 20, 64, &mut out);
        let v = parses(std::str::from_utf8(&out).unwrap());
        assert_eq!(v["eventName"], "x");
        assert_eq!(w, [Warning::TooDeep]);
    }

    /// Found by `tests/random_bytes.rs`: a closing bracket with nothing
    /// open was dropped, silently turning broken text into an event.
    #[test]
    fn regression_extra_closing_bracket_is_kept() {
        let (s, w) = fixed(br#"{"a":1}}"#, 1 << 20);
        assert_eq!(s, r#"{"a":1}}"#);
        assert!(w.is_empty());
    }

    #[test]
    fn cut_after_backslash_stays_unterminated() {
        let (s, _) = fixed(b"{\"a\":\"x\\", 1 << 20);
        assert!(serde_json::from_str::<serde_json::Value>(&s).is_err());
    }

    /// A line cut on the way keeps the members before the cut.
    #[test]
    fn cut_line_is_closed_after_its_last_member() {
        let cases: [(&[u8], &str); 8] = [
            (
                b"{\"eventName\":\"StopInstances\"",
                r#"{"eventName":"StopInstances"}"#,
            ),
            (b"{\"a\":[\"x\",\"y\"", r#"{"a":["x","y"]}"#),
            (
                b"{\"eventName\":\"StopInstances\",\"userAgent\":\"x\\",
                r#"{"eventName":"StopInstances"}"#,
            ),
            (b"{\"a\":1,\"b\":{\"c\":[1,2", r#"{"a":1,"b":{"c":[1]}}"#),
            (b"{\"a\":{\"b\":1},\"c", r#"{"a":{"b":1}}"#),
            (b"  {\"a\":\"v\",", r#"  {"a":"v"}"#),
            (b"{\"a\":\"x\xff\",\"b\":\"\xff", "{\"a\":\"x\u{fffd}\"}"),
            (b"{\"a\":[{\"b\":\"c\"},{\"d", r#"{"a":[{"b":"c"},{}]}"#),
        ];
        for (event, want) in cases {
            let (s, w) = fixed(event, 1 << 20);
            assert_eq!(s, want, "{}", String::from_utf8_lossy(event));
            parses(&s);
            assert!(
                w.iter().any(
                    |w| matches!(w, Warning::Truncated { bytes } if *bytes as usize == event.len())
                ),
                "{w:?}"
            );
        }
        // No complete member, or no object: still broken.
        for event in [
            &b"{"[..],
            b"{\"a\":1",
            b"{\"a",
            b"{\"a\":\"b",
            b"[1,2",
            b"\"abc",
        ] {
            let (s, _) = fixed(event, 1 << 20);
            assert!(
                serde_json::from_str::<serde_json::Value>(&s).is_err(),
                "{s}"
            );
        }
    }
}
