//! Hostile bytes through the scan and extract paths, by the public API:
//! the framing functions of `sigil_engine::input`, and `Engine::evaluate`
//! and `evaluate_batch` with the SigmaHQ cloud rules and the repository's
//! packs, on arbitrary bytes and on real CloudTrail events cut at every
//! offset, with a backslash, a quote, a `\u`, invalid UTF-8 and other
//! hostile pieces inserted at every offset, and nested deep.
//!
//! Properties:
//!
//! - nothing panics (nor overflows the stack: that aborts the binary);
//! - `evaluate_batch` counts one event per non-blank line, and a hostile
//!   line does not change the verdict on the line after it;
//! - the prefilter answers as the full parser does: when either
//!   `evaluate` or `evaluate_unfiltered` (every rule, no prefilter) finds
//!   a match, both give the same verdict; a cut event is refused by both;
//! - no crafted event near the size limit takes long (quadratic work on a
//!   MiB would take minutes; linear work takes milliseconds).
//!
//! Each panic or slow input found is kept as a named test.

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::Config;
use sigil_engine::input::{
    Framing, detect_framing, document_events, is_blank, minify_into, ndjson_events,
};
use sigil_engine::{Engine, EventError, Options, RuleSource, Verdict};

fn data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
    {
        let p = e.path();
        if p.is_dir() {
            files(&p, ext, out);
        } else if p.extension().is_some_and(|x| x == ext) {
            out.push(p);
        }
    }
}

/// The title of the rule the regression below expects to fire.
const STOP_RULE: &str = "EC2 instance stopped (hostile input test)";

fn sources() -> Vec<RuleSource> {
    let mut paths = Vec::new();
    files(&data().join("rules/sigmahq-cloud"), "yml", &mut paths);
    // The repository's packs: JSON-text columns, filters, correlations.
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    for pack in ["cloud-compute", "seeds"] {
        files(&repo.join(pack), "yml", &mut paths);
    }
    paths.sort();
    let mut sources: Vec<RuleSource> = paths
        .iter()
        .map(|p| RuleSource::new(p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    // A plain StopInstances rule, keywords (searched in the raw text), and
    // `contains`, prefix and suffix literals on fields the corpus has.
    sources.push(RuleSource::new(
        "hostile.yml",
        format!(
            "title: {STOP_RULE}\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n  sel:\n    eventSource: ec2.amazonaws.com\n    eventName: StopInstances\n  condition: sel\n\
             ---\ntitle: keywords\nlogsource: {{product: aws}}\ndetection:\n  keywords: [StopInstances, 'iam.amazonaws.com', stratus]\n  condition: keywords\n\
             ---\ntitle: anchored\ndetection:\n  sel:\n    userAgent|startswith: 'aws-cli/'\n    userIdentity.arn|endswith: ':root'\n  condition: sel\n\
             ---\ntitle: contains\ndetection:\n  sel:\n    userAgent|contains: [stratus-red-team, 'Boto3/', 'S3 Browser']\n  condition: sel\n"
        ),
    ));
    sources
}

fn engine() -> Engine {
    Engine::load(
        &sources(),
        Options {
            skip_invalid: true,
            ..Options::default()
        },
    )
    .unwrap()
}

thread_local! {
    static ENGINE: RefCell<Engine> = RefCell::new(engine());
}

fn with_engine<R>(f: impl FnOnce(&mut Engine) -> R) -> R {
    ENGINE.with(|e| f(&mut e.borrow_mut()))
}

/// The Stratus CloudTrail captures, one minified event each, as the
/// throughput example and `sigil run` read them.
fn corpus() -> &'static [Vec<u8>] {
    static EVENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let mut paths = Vec::new();
        files(
            &data().join("corpora/stratus-detonation-logs"),
            "json",
            &mut paths,
        );
        paths.sort();
        let mut out = Vec::new();
        for p in paths {
            let doc = std::fs::read(&p).unwrap();
            for ev in document_events(&doc).unwrap() {
                let mut one = Vec::new();
                minify_into(ev, &mut one);
                out.push(one);
            }
        }
        assert!(out.len() > 300, "{} events", out.len());
        out
    })
}

/// A few events of every kind: every one with a backslash (the byte-wise
/// scanner and the escape decoders), and one in `every` of the rest.
fn sample(every: usize) -> Vec<&'static [u8]> {
    corpus()
        .iter()
        .enumerate()
        .filter(|(i, e)| e.contains(&b'\\') || i % every == 0)
        .map(|(_, e)| e.as_slice())
        .collect()
}

/// The event the regression below matches.
const STOP: &[u8] = br#"{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com"}"#;

fn stop_rule(e: &Engine) -> u32 {
    e.rules().iter().position(|r| r.title == STOP_RULE).unwrap() as u32
}

/// `evaluate` against the full parser on one event: when either finds a
/// match they agree entirely. True when `evaluate` read the event.
fn judge(e: &mut Engine, ev: &[u8]) -> bool {
    let fast = e.evaluate(ev);
    let full = e.evaluate_unfiltered(ev);
    let matched = |v: &Result<Verdict, EventError>| v.as_ref().is_ok_and(Verdict::matched);
    if matched(&fast) || matched(&full) {
        assert_eq!(
            fast,
            full,
            "prefilter and full evaluation differ on {:?}",
            String::from_utf8_lossy(ev)
        );
    }
    fast.is_ok()
}

fn non_blank_lines(block: &[u8]) -> usize {
    block
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank(l))
        .count()
}

/// `block` through `evaluate_batch`: one event per non-blank line (as
/// `ndjson_events` finds them), entries in order.
fn batch(e: &mut Engine, block: &[u8]) -> Vec<sigil_engine::BatchEntry> {
    let mut out = Vec::new();
    let mut alerts = Vec::new();
    let n = e.evaluate_batch(block, &mut out, &mut alerts);
    let lines = non_blank_lines(block);
    assert_eq!(n as usize, lines, "{:?}", String::from_utf8_lossy(block));
    assert_eq!(ndjson_events(block).count(), lines);
    assert!(out.windows(2).all(|w| w[0].index < w[1].index));
    assert!(out.last().is_none_or(|x| x.index < n));
    out
}

/// A hostile line, then the StopInstances event: two events, and the
/// second is matched whatever the first did.
fn hostile_then_stop(e: &mut Engine, hostile: &[u8]) {
    let mut block = hostile.to_vec();
    block.push(b'\n');
    block.extend_from_slice(STOP);
    let out = batch(e, &block);
    let rule = stop_rule(e);
    let last = out.last().expect("the StopInstances event is an entry");
    let first_line = usize::from(!is_blank(hostile));
    assert_eq!(last.index as usize, first_line);
    let v = last
        .outcome
        .as_ref()
        .expect("the StopInstances event is read");
    assert!(
        v.findings.iter().any(|f| f.rule == rule),
        "after {:?}",
        String::from_utf8_lossy(hostile)
    );
}

/// Every framing function on `bytes`, and every event they find, judged.
fn frame_and_judge(e: &mut Engine, bytes: &[u8]) {
    let framing = detect_framing(bytes);
    let mut minified = Vec::new();
    minify_into(bytes, &mut minified);
    assert!(minified.len() <= bytes.len());
    if let Ok(events) = document_events(bytes) {
        let range = bytes.as_ptr_range();
        for ev in events {
            assert!(range.contains(&ev.as_ptr()) || ev.is_empty());
            let mut one = Vec::new();
            minify_into(ev, &mut one);
            judge(e, ev);
            judge(e, &one);
        }
    }
    if framing == Framing::Ndjson {
        for ev in ndjson_events(bytes) {
            judge(e, ev);
        }
    }
    batch(e, bytes);
}

/// The pieces inserted at every offset of real events.
const PIECES: &[&[u8]] = &[b"\\", b"\"", b"\\u", b"\xff"];

/// More pieces, for the random mutations: escapes cut short or of half a
/// surrogate pair, lead bytes without their continuation, the two
/// characters whose lower case is ASCII (and their first bytes alone),
/// control bytes, brackets, separators, and a rule's literal.
const MORE_PIECES: &[&[u8]] = &[
    b"\\",
    b"\"",
    b"\\u",
    b"\\u00",
    b"\\ud800",
    b"\\udc00",
    b"\\ud83d\\u",
    b"\\\"",
    b"\\\\",
    b"\\x",
    b"\xff",
    b"\xc3",
    b"\xe2\x84",
    b"\xc4",
    b"\xc4\xb0",
    b"\xe2\x84\xaa",
    b"\x00",
    b"\x1f",
    b"\r",
    b"\t",
    b" ",
    b"{",
    b"}",
    b"[",
    b"]",
    b":",
    b",",
    b"\":\"",
    b"\"eventName\":\"StopInstances\",",
    b"StopInstances",
    b".",
    b"1e999",
    b"-",
];

#[test]
fn regression_cut_after_backslash() {
    with_engine(|e| {
        let block = b"{\"eventName\":\"StopInstances\",\"eventSource\":\"ec2.amazonaws.com\"}\n{\"a\":\"x\\";
        let out = batch(e, block);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].index, 0);
        let v = out[0].outcome.as_ref().unwrap();
        assert!(v.findings.iter().any(|f| f.rule == stop_rule(e)), "{v:?}");
        assert_eq!(out[1].index, 1);
        assert!(out[1].outcome.is_err(), "{:?}", out[1].outcome);
        // Alone, and through the full parser, the same.
        assert!(!judge(e, br#"{"a":"x\"#));
    });
}

/// Found by this hunt: an event under the size limit whose rewrite is
/// over it (an invalid byte becomes U+FFFD, three bytes; a control
/// character its `\u00XX` escape, six; a stray backslash two) was refused
/// as too large after the rewrite, so it was an error, not a verdict:
/// padding any field with 400 KB of 0xFF hid a StopInstances call from
/// every rule. Now the rewrite is redone with long strings cut, as for an
/// event that came over the limit, and the verdict says so.
#[test]
fn regression_rewrite_grown_past_the_limit() {
    use sigil_engine::EventWarning as W;
    let cases: [(&[u8], usize, W); 3] = [
        (b"\xff", 400_000, W::InvalidUtf8),
        (b"\x01", 200_000, W::ControlCharacters),
        (b"\\q", 400_000, W::InvalidEscape),
    ];
    with_engine(|e| {
        let rule = stop_rule(e);
        for (unit, n, warning) in cases {
            let ev = [
                &br#"{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com","userAgent":""#
                    [..],
                &unit.repeat(n),
                br#""}"#,
            ]
            .concat();
            assert!(ev.len() < 1 << 20);
            assert!(judge(e, &ev));
            let v = e.evaluate(&ev).unwrap();
            assert!(v.findings.iter().any(|f| f.rule == rule), "{warning:?}");
            let truncated = W::Truncated {
                bytes: ev.len() as u32,
            };
            assert_eq!(v.warnings, [warning, truncated]);
        }
    });
}

/// Found by this hunt: with `max_depth` above serde_json's own limit (127
/// nested containers), an event nested between the two was still too
/// deep after the repair (which makes values deeper than `max_depth`
/// `null`): an error, not a verdict, so a deep value added to any event
/// hid it from every rule. And under a JSON-text column (each value read
/// by a new serde_json reader, with a new recursion budget) the walk
/// recursed as deep as the event went: 10 000 nested arrays under
/// `requestParameters` overflowed the stack and aborted the process. The
/// scan now reads `max_depth` as at most 127.
#[test]
fn regression_max_depth_over_the_reader_limit() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            for max_depth in [200, 100_000] {
                let options = Options {
                    skip_invalid: true,
                    max_depth,
                    ..Options::default()
                };
                let mut e = Engine::load(&sources(), options).unwrap();
                let rule = stop_rule(&e);
                for key in ["requestParameters", "userAgent", "unread"] {
                    for depth in [150, 1_000, 10_000] {
                        let ev = format!(
                            r#"{{"eventName":"StopInstances","eventSource":"ec2.amazonaws.com","{key}":{}1{}}}"#,
                            "[".repeat(depth),
                            "]".repeat(depth)
                        );
                        assert!(judge(&mut e, ev.as_bytes()), "{key} {depth}");
                        let v = e.evaluate(ev.as_bytes()).unwrap();
                        assert!(v.findings.iter().any(|f| f.rule == rule));
                        assert_eq!(v.warnings, [sigil_engine::EventWarning::TooDeep]);
                    }
                }
            }
        })
        .unwrap();
    worker.join().unwrap();
}

/// Every proper prefix of a real event (a line cut on the way) is either
/// refused or read up to its last complete member with a `truncated`
/// warning, the same by the prefilter's path as by the full parser, and
/// the next line is read as if alone.
#[test]
fn real_events_cut_at_every_offset() {
    with_engine(|e| {
        let mut read = 0;
        for ev in sample(40) {
            assert!(judge(e, ev));
            for at in 0..ev.len() {
                let cut = &ev[..at];
                let shown = String::from_utf8_lossy(cut);
                let fast = judge(e, cut);
                let full = e.evaluate_unfiltered(cut);
                assert_eq!(fast, full.is_ok(), "{shown:?}");
                if let Ok(v) = full {
                    read += 1;
                    let truncated = sigil_engine::EventWarning::Truncated { bytes: at as u32 };
                    assert!(
                        v.warnings.contains(&truncated),
                        "{shown:?}: {:?}",
                        v.warnings
                    );
                }
                hostile_then_stop(e, cut);
            }
        }
        // Most cuts fall after a complete member: those are read.
        assert!(read > 0);
    });
}

/// A backslash, a quote, a `\u` and an invalid byte at every offset of
/// real events.
#[test]
fn hostile_piece_at_every_offset_of_real_events() {
    with_engine(|e| {
        let mut ev2 = Vec::new();
        for ev in sample(100) {
            for piece in PIECES {
                for at in 0..=ev.len() {
                    ev2.clear();
                    ev2.extend_from_slice(&ev[..at]);
                    ev2.extend_from_slice(piece);
                    ev2.extend_from_slice(&ev[at..]);
                    judge(e, &ev2);
                    if at % 64 == 0 {
                        hostile_then_stop(e, &ev2);
                    }
                }
            }
        }
    });
}

/// Values nested around and past every limit (the scanner's 128, the fast
/// path's 100, `max_depth` 64, serde_json's 128), closed or not, in
/// objects and arrays, under a key the rules read and under one they do
/// not, in a real event and alone.
#[test]
fn deep_nesting() {
    with_engine(|e| {
        let real = corpus()[0].as_slice();
        for depth in [1, 63, 64, 65, 99, 100, 101, 127, 128, 129, 1_000, 100_000] {
            for (open, close) in [("[", "]"), ("{\"a\":", "}"), ("{\"userAgent\":", "}")] {
                for key in ["requestParameters", "userAgent", "unread"] {
                    for closed in [true, false] {
                        let mut v = open.repeat(depth) + "\"x\"";
                        if closed {
                            v += &close.repeat(depth);
                        }
                        let alone = format!("{{\"{key}\":{v}}}");
                        // In a real event, as its first member.
                        let mut inside = b"{".to_vec();
                        inside.extend_from_slice(format!("\"{key}\":{v},").as_bytes());
                        inside.extend_from_slice(&real[1..]);
                        for ev in [alone.as_bytes(), &inside, v.as_bytes()] {
                            let t = Instant::now();
                            judge(e, ev);
                            hostile_then_stop(e, ev);
                            assert!(t.elapsed() < Duration::from_secs(2), "depth {depth}");
                        }
                    }
                }
            }
        }
    });
}

/// Crafted events near the 1 MiB limit, and just over it (the repair
/// path), built to make a scan loop revisit what it has read: escapes
/// back to back, duplicate keys on the rules' paths (each drops the
/// values before it), long runs of whitespace after strings, many tiny
/// strings, keys of many dots, keyword literals everywhere, arrays nested
/// under the JSON-text columns (each level is captured as text). Each
/// must be judged in well under a second: linear work on a MiB takes
/// milliseconds, quadratic work minutes.
#[test]
fn crafted_events_take_linear_time() {
    const MIB: usize = 1 << 20;
    let fill = |head: &str, unit: &str, tail: &str, size: usize| -> Vec<u8> {
        fill_bytes(head.as_bytes(), unit.as_bytes(), tail.as_bytes(), size)
    };
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for size in [MIB - 64, MIB + 4096] {
        cases.extend([
            (
                "backslashes",
                fill(r#"{"eventName":""#, r"\\", r#""}"#, size),
            ),
            (
                "unicode escapes",
                fill(r#"{"userAgent":""#, r"\u0053", r#""}"#, size),
            ),
            (
                "a stray backslash each",
                fill(r#"{"userAgent":""#, r"\q", r#""}"#, size),
            ),
            (
                "duplicate keys",
                fill("{", r#""eventName":"StopInstances","#, r#""a":1}"#, size),
            ),
            (
                "duplicate keys around an array",
                fill(
                    "{",
                    r#""eventName":"x","userAgent":["a","b","c","d","e","f","g","h"],"#,
                    r#""a":1}"#,
                    size,
                ),
            ),
            (
                "duplicate nested keys",
                fill(
                    r#"{"a":1"#,
                    r#","userIdentity":{"arn":"a","type":"b","arn":"c"}"#,
                    "}",
                    size,
                ),
            ),
            (
                "whitespace after strings",
                fill(r#"{"eventName":"x""#, " ", r#","a":1}"#, size),
            ),
            (
                "tiny strings",
                fill(r#"{"userAgent":["#, r#""","#, r#""x"]}"#, size),
            ),
            (
                "dotted key",
                fill(r#"{""#, "a.", r#"userAgent":"x"}"#, size),
            ),
            (
                "dotted keys",
                fill("{", r#""userIdentity.arn":"x","#, r#""a":1}"#, size),
            ),
            (
                "keywords",
                fill(r#"{"a":""#, "StopInstances stratus ", r#""}"#, size),
            ),
            ("unterminated strings", fill(r#"{"a":["#, r#"""#, "", size)),
            ("brackets", fill(r#"{"a":"#, "[]", "", size)),
            (
                "control bytes",
                fill(r#"{"userAgent":""#, "\x01", r#""}"#, size),
            ),
            (
                "invalid UTF-8",
                fill_bytes(br#"{"userAgent":""#, b"\xff", br#""}"#, size),
            ),
        ]);
        // Nested arrays under every field a rule may read as JSON text
        // (and under others), as deep as `max_depth` allows.
        for key in ["requestParameters", "unread"] {
            let depth = 60;
            let head = format!("{{\"{key}\":{}", "[".repeat(depth));
            let tail = format!("\"x\"{}}}", "]".repeat(depth));
            cases.push((
                "nested under a column",
                fill(&head, r#""aaaaaaa","#, &tail, size),
            ));
        }
    }
    with_engine(|e| {
        for (what, ev) in &cases {
            let t = Instant::now();
            judge(e, ev);
            batch(e, ev);
            let took = t.elapsed();
            assert!(
                took < Duration::from_secs(3),
                "{what} ({} bytes): {took:?}",
                ev.len()
            );
        }
    });
}

/// `head`, `unit` as many times as fit in `size` bytes, `tail`.
fn fill_bytes(head: &[u8], unit: &[u8], tail: &[u8], size: usize) -> Vec<u8> {
    let n = (size - head.len() - tail.len()) / unit.len();
    [head, &unit.repeat(n), tail].concat()
}

/// Bytes weighted towards those that matter to a JSON scanner.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => proptest::sample::select(MORE_PIECES.to_vec()).prop_map(<[u8]>::to_vec),
        2 => proptest::sample::select(vec![
            &b"{\""[..], b"\":", b"\",\"", b"\"}", b"eventName", b"eventSource",
            b"ec2.amazonaws.com", b"userAgent", b"userIdentity", b"arn", b"a", b"\n",
            b"requestParameters", b"0", b"true", b"null",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => any::<u8>().prop_map(|b| vec![b]),
    ];
    proptest::collection::vec(piece, 0..300).prop_map(|p| p.concat())
}

#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Replace(usize, u8),
    Cut(usize),
    /// Repeats the bytes at `(at, len)` `n` times.
    Repeat(usize, usize, usize),
    /// Wraps the text from `at` to the end in `depth` brackets.
    Nest(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), proptest::sample::select(MORE_PIECES.to_vec()))
            .prop_map(|(at, p)| Edit::Insert(at, p.to_vec())),
        1 => (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, p)| Edit::Insert(at, p)),
        2 => (any::<usize>(), 1..40usize).prop_map(|(at, n)| Edit::Delete(at, n)),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
        1 => any::<usize>().prop_map(Edit::Cut),
        1 => (any::<usize>(), 1..40usize, 1..50usize).prop_map(|(at, l, n)| Edit::Repeat(at, l, n)),
        1 => (any::<usize>(), 1..300usize).prop_map(|(at, d)| Edit::Nest(at, d)),
    ]
}

fn apply(ev: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut v = ev.to_vec();
    for edit in edits {
        let at = |i: usize| i % (v.len() + 1);
        match edit {
            Edit::Insert(i, p) => {
                let i = at(*i);
                v.splice(i..i, p.iter().copied());
            }
            Edit::Delete(i, n) => {
                let i = at(*i);
                v.drain(i..(i + n).min(v.len()));
            }
            Edit::Replace(i, b) => {
                if !v.is_empty() {
                    let i = *i % v.len();
                    v[i] = *b;
                }
            }
            Edit::Cut(i) => v.truncate(at(*i)),
            Edit::Repeat(i, l, n) => {
                let i = at(*i);
                let part = v[i..(i + l).min(v.len())].to_vec();
                v.splice(i..i, part.repeat(*n));
            }
            Edit::Nest(i, d) => {
                let i = at(*i);
                v.splice(i..i, std::iter::repeat_n(b'[', *d));
                v.extend(std::iter::repeat_n(b']', *d));
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(Config { cases: 400, failure_persistence: None, ..Config::default() })]

    /// Arbitrary bytes.
    #[test]
    fn any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        with_engine(|e| {
            frame_and_judge(e, &bytes);
            hostile_then_stop(e, bytes.split(|&b| b == b'\n').next().unwrap_or_default());
        });
    }

    /// JSON-ish noise: keys, strings, escapes, brackets, newlines.
    #[test]
    fn jsonish_bytes(bytes in jsonish()) {
        with_engine(|e| frame_and_judge(e, &bytes));
    }

    /// Real events with a few edits, alone, as lines of a block, and
    /// several in a document.
    #[test]
    fn edited_real_events(
        picks in proptest::collection::vec((any::<proptest::sample::Index>(), proptest::collection::vec(edit(), 1..4)), 1..4),
    ) {
        let events = corpus();
        let edited: Vec<Vec<u8>> = picks
            .iter()
            .map(|(i, edits)| apply(&events[i.index(events.len())], edits))
            .collect();
        with_engine(|e| {
            for ev in &edited {
                judge(e, ev);
                if !ev.contains(&b'\n') {
                    hostile_then_stop(e, ev);
                }
            }
            frame_and_judge(e, &edited.join(&b'\n'));
            let mut doc = b"[".to_vec();
            doc.extend(edited.join(&b','));
            doc.push(b']');
            frame_and_judge(e, &doc);
        });
    }
}
