//! The Fluent Bit filter module (`target/sigil-fluent-bit.wasm`, built by
//! `scripts/build-fluent-bit`) driven through exactly the ABI of Fluent Bit
//! 5.1.1's `filter_wasm` in `event_format json`, without Fluent Bit: what
//! `flb_wasm_call_function_format_json` does for each record, in wasmtime.
//!
//! - The tag and the record are copied into the guest with a NUL after each
//!   (`wasm_runtime_module_dup_data`), through the module's exported
//!   `malloc` (WAMR uses it instead of its app heap when the module exports
//!   `malloc` and `free`); a copy that fails passes `record_ptr = 0`.
//! - The function is called as `(tag_ptr, tag_len, time_sec, time_nsec,
//!   record_ptr, record_len) -> ptr`, looked up by name.
//! - The answer must be a guest address with a NUL before the end of memory
//!   (`wasm_runtime_validate_app_str_addr`); it is copied, then both copies
//!   are freed with the module's `free`. An empty string drops the record; a
//!   trap drops it too (Fluent Bit logs it and goes on with the instance).
//! - A kept answer must be one JSON object (`flb_pack_json` with an object
//!   root; invalid UTF-8 is allowed, as yyjson reads it): anything else
//!   after a valid answer in the same chunk makes Fluent Bit free a buffer
//!   twice and abort.
//! - WAMR as Fluent Bit builds it has no SIMD: the module must load with
//!   SIMD off.
//!
//! WAMR's interpreter stack (`wasm_stack_size`) is not wasmtime's, so the
//! stack sizes in `examples/fluent-bit/` were measured on Fluent Bit's own
//! WAMR; here a small stack checks what a call that overflows it costs.
//!
//! The law: over the Stratus corpus and the Atomic Red Team events, each
//! answer is the line `sigil run --native` writes for that record, with the
//! alert records written after it folded into `"sigil"` as `"alerts"`.

use std::path::{Path, PathBuf};

use serde_json::Value;
use sigil_engine::input::{document_events, minify_into, ndjson_events};
use sigil_engine::{Engine, Options};
use sigil_host::{Detector, Runner};
use wasmtime::{Config, Engine as Wasmtime, Instance, Memory, Module, Store, TypedFunc};

/// Where `scripts/build-fluent-bit` puts the module.
fn module_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/sigil-fluent-bit.wasm")
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The filter functions the module exports, each with its policy as
/// `sigil run` options.
const FUNCTIONS: &[&str] = &[
    "sigil_filter",
    "sigil_filter_matched",
    "sigil_filter_min_score_30",
    "sigil_filter_min_score_50",
    "sigil_filter_min_score_75",
    "sigil_filter_min_score_100",
    "sigil_filter_alerts",
];

/// What Fluent Bit makes of one call.
#[derive(Debug, PartialEq)]
enum Answer {
    /// The record to keep (the answer's bytes, without the NUL).
    Record(Vec<u8>),
    /// An empty string: the record is dropped.
    Dropped,
    /// The call trapped: the record is dropped, the instance goes on.
    Trapped(String),
    /// The answer's address is not a string in the guest's memory.
    Invalid,
}

/// One `filter_wasm` instance: a module instance kept for every record, as
/// Fluent Bit 4.1.0 and later keep it.
struct FluentBit {
    store: Store<()>,
    memory: Memory,
    malloc: TypedFunc<u32, u32>,
    free: TypedFunc<u32, ()>,
    instance: Instance,
    function: String,
    /// Answer addresses seen: the module answers from its own buffer.
    answer_addresses: std::collections::BTreeSet<u32>,
}

fn wasmtime(max_stack: usize) -> Wasmtime {
    let mut config = Config::new();
    // WAMR as Fluent Bit builds it (src/wasm/CMakeLists.txt: WAMR_BUILD_SIMD 0).
    config.wasm_relaxed_simd(false);
    config.wasm_simd(false);
    config.max_wasm_stack(max_stack);
    Wasmtime::new(&config).unwrap()
}

/// The module compiled once; each stack size deserialises it into an
/// engine of its own (the limit is a run-time setting).
fn module(engine: &Wasmtime) -> Module {
    static COMPILED: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let compiled = COMPILED.get_or_init(|| compile(&wasmtime(512 << 10)).serialize().unwrap());
    // SAFETY: bytes this process just serialised with the same wasmtime.
    unsafe { Module::deserialize(engine, compiled) }.unwrap()
}

fn compile(engine: &Wasmtime) -> Module {
    let path = module_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: build it with scripts/build-fluent-bit (scripts/setup does)",
            path.display()
        )
    });
    Module::new(engine, bytes).expect("the module loads without SIMD, as WAMR in Fluent Bit")
}

impl FluentBit {
    fn new(function: &str) -> FluentBit {
        FluentBit::with_stack(function, 512 << 10)
    }

    fn with_stack(function: &str, max_stack: usize) -> FluentBit {
        let engine = wasmtime(max_stack);
        let module = module(&engine);
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let memory = instance.get_memory(&mut store, "memory").unwrap();
        let malloc = instance.get_typed_func(&mut store, "malloc").unwrap();
        let free = instance.get_typed_func(&mut store, "free").unwrap();
        FluentBit {
            store,
            memory,
            malloc,
            free,
            instance,
            function: function.to_string(),
            answer_addresses: Default::default(),
        }
    }

    /// `wasm_runtime_module_dup_data`: 0 when the allocation fails.
    fn dup(&mut self, data: &[u8]) -> u32 {
        let at = self
            .malloc
            .call(&mut self.store, data.len() as u32)
            .unwrap();
        if at != 0 {
            self.memory
                .write(&mut self.store, at as usize, data)
                .unwrap();
        }
        at
    }

    /// `flb_wasm_call_function_format_json` for one record.
    fn call(&mut self, record: &[u8]) -> Answer {
        let mut copy = record.to_vec();
        copy.push(0);
        let record_ptr = self.dup(&copy);
        self.call_with(record_ptr, record.len() as u32)
    }

    /// The call as made when the record could not be copied in.
    fn call_uncopied(&mut self, record_len: u32) -> Answer {
        self.call_with(0, record_len)
    }

    fn call_with(&mut self, record_ptr: u32, record_len: u32) -> Answer {
        let tag_ptr = self.dup(b"cloudtrail\0");
        // Looked up by name on every call, as Fluent Bit does.
        let f: TypedFunc<(u32, u32, u32, u32, u32, u32), u32> = self
            .instance
            .get_typed_func(&mut self.store, &self.function)
            .unwrap();
        let outcome = f.call(
            &mut self.store,
            (tag_ptr, 10, 1_722_513_810, 0, record_ptr, record_len),
        );
        let answer = match outcome {
            Err(trap) => Answer::Trapped(format!("{trap:?}")),
            Ok(at) => {
                let memory = self.memory.data(&self.store);
                match memory
                    .get(at as usize..)
                    .and_then(|rest| rest.iter().position(|&b| b == 0).map(|n| &rest[..n]))
                {
                    None => Answer::Invalid,
                    Some([]) => Answer::Dropped,
                    Some(text) => {
                        self.answer_addresses.insert(at);
                        Answer::Record(text.to_vec())
                    }
                }
            }
        };
        for copy in [tag_ptr, record_ptr] {
            if copy != 0 {
                self.free.call(&mut self.store, copy).unwrap();
            }
        }
        answer
    }

    fn memory_bytes(&self) -> usize {
        self.memory.data_size(&self.store)
    }
}

/// What Fluent Bit's `flb_pack_json` needs of a kept answer: exactly one
/// JSON value, an object.
fn assert_fluent_bit_takes(answer: &[u8]) {
    assert!(
        is_one_json_object(answer),
        "Fluent Bit would refuse (and may abort on) {}",
        show(answer)
    );
}

/// Whether `b` is one JSON object and nothing else but whitespace, read as
/// Fluent Bit reads an answer (yyjson: any nesting depth, invalid UTF-8
/// inside strings allowed, raw control characters not).
fn is_one_json_object(b: &[u8]) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Want {
        Value,
        ValueOrClose,
        Key,
        KeyOrClose,
        CommaOrClose,
    }
    let ws = |mut i: usize| {
        while b
            .get(i)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return false;
    }
    let mut closers: Vec<u8> = Vec::new();
    let mut want = Want::Value;
    loop {
        i = ws(i);
        if want == Want::CommaOrClose && closers.is_empty() {
            return i == b.len();
        }
        let Some(&c) = b.get(i) else {
            return false;
        };
        match want {
            Want::ValueOrClose | Want::KeyOrClose | Want::CommaOrClose
                if Some(&c) == closers.last() =>
            {
                closers.pop();
                i += 1;
                want = Want::CommaOrClose;
            }
            Want::CommaOrClose if c == b',' => {
                i += 1;
                want = if closers.last() == Some(&b'}') {
                    Want::Key
                } else {
                    Want::Value
                };
            }
            Want::CommaOrClose => return false,
            Want::Key | Want::KeyOrClose => {
                let Some(end) = json_string_end(b, i) else {
                    return false;
                };
                i = ws(end);
                if b.get(i) != Some(&b':') {
                    return false;
                }
                i += 1;
                want = Want::Value;
            }
            Want::Value | Want::ValueOrClose => {
                let end = match c {
                    b'{' => {
                        closers.push(b'}');
                        want = Want::KeyOrClose;
                        i += 1;
                        continue;
                    }
                    b'[' => {
                        closers.push(b']');
                        want = Want::ValueOrClose;
                        i += 1;
                        continue;
                    }
                    b'"' => json_string_end(b, i),
                    b't' => b[i..].starts_with(b"true").then_some(i + 4),
                    b'f' => b[i..].starts_with(b"false").then_some(i + 5),
                    b'n' => b[i..].starts_with(b"null").then_some(i + 4),
                    _ => json_number_end(b, i),
                };
                let Some(end) = end else {
                    return false;
                };
                i = end;
                want = Want::CommaOrClose;
            }
        }
    }
}

/// The end of the string that starts at `b[i]` (a quote), if it is one.
fn json_string_end(b: &[u8], mut i: usize) -> Option<usize> {
    if b.get(i) != Some(&b'"') {
        return None;
    }
    i += 1;
    loop {
        match *b.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => match *b.get(i + 1)? {
                b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                b'u' if b.get(i + 2..i + 6)?.iter().all(u8::is_ascii_hexdigit) => i += 6,
                _ => return None,
            },
            c if c < 0x20 => return None,
            _ => i += 1,
        }
    }
}

/// The end of the number that starts at `b[i]`, if it is one.
fn json_number_end(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |mut i: usize| {
        let start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > start).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    i = if b.get(i) == Some(&b'0') {
        i + 1
    } else {
        digits(i)?
    };
    if b.get(i) == Some(&b'.') {
        i = digits(i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(i)?;
    }
    Some(i)
}

#[test]
fn the_answer_check_is_the_json_grammar() {
    for good in [
        &b"{}"[..],
        b" { \"a\" : [1, -0.5e+3, true, null, {\"b\":\"\\u00e9\\n\"}] } ",
        b"{\"a\":\"\xff\"}",
    ] {
        assert!(is_one_json_object(good), "{}", show(good));
    }
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(is_one_json_object(deep.as_bytes()));
    for bad in [
        &b"[]"[..],
        b"{",
        b"{}{}",
        b"{} x",
        b"{\"a\" 1}",
        b"{\"a\":1,}",
        b"{\"a\":[1,]}",
        b"{\"a\":01}",
        b"{\"a\":\"\\q\"}",
        b"{\"a\":\"\t\"}",
        b"{\"a\":tru}",
        b"{\"a\":1]",
        b"{a:1}",
    ] {
        assert!(!is_one_json_object(bad), "{}", show(bad));
    }
}

/// The time an event records, to the second (`2024-08-01T12:03:30`), for
/// ordering; empty when it has none.
fn event_time(event: &[u8]) -> String {
    let v: Value = serde_json::from_slice(event).unwrap();
    [
        "eventTime",
        "timestamp",
        "eventTimestamp",
        "time",
        "CreationTime",
    ]
    .iter()
    .find_map(|k| v[k].as_str())
    .map(|t| t.chars().take(19).collect())
    .unwrap_or_default()
}

fn files_in(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(repo().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    found.sort();
    found
}

/// The Stratus captures, each JSON array minified to one line per event (as
/// `sigil run` reads it), in the order of their detonations (a capture's
/// events as they come, unsorted), then the Atomic Red Team events sorted by
/// time: one stream, as a collector tailing them would pass them, so that
/// correlations complete mid-stream and their alerts ride on records.
fn corpus_stream() -> Vec<u8> {
    let mut captures: Vec<(String, Vec<Vec<u8>>)> = Vec::new();
    for file in files_in("tests/data/corpora/stratus-detonation-logs", "json") {
        let raw = std::fs::read(&file).unwrap();
        let mut events = Vec::new();
        for event in document_events(&raw).unwrap() {
            let mut line = Vec::new();
            minify_into(event, &mut line);
            events.push(line);
        }
        let start = events
            .iter()
            .map(|e| event_time(e))
            .min()
            .unwrap_or_default();
        captures.push((start, events));
    }
    assert!(captures.len() >= 30, "{} captures", captures.len());
    captures.sort_by(|a, b| a.0.cmp(&b.0));
    let mut atomic = Vec::new();
    for file in files_in("tests/data/atomic", "ndjson") {
        let raw = std::fs::read(&file).unwrap();
        atomic.extend(ndjson_events(&raw).map(<[u8]>::to_vec));
    }
    assert!(atomic.len() > 40, "{} atomic events", atomic.len());
    atomic.sort_by_cached_key(|e| event_time(e));
    let mut stream = Vec::new();
    for event in captures
        .into_iter()
        .flat_map(|(_, events)| events)
        .chain(atomic)
    {
        stream.extend_from_slice(&event);
        stream.push(b'\n');
    }
    stream
}

/// `sigil run --native` over `stream`, as one input: per event, its line
/// (if written) and the alert records written after it; and the alerts
/// written only at the end of input (the flush).
/// One event's line (None when the option dropped it) and the alert
/// records written after it.
type NativeEvent = (Option<Vec<u8>>, Vec<Vec<u8>>);

struct Native {
    events: Vec<NativeEvent>,
    flushed: Vec<Vec<u8>>,
}

const ALERT: &[u8] = b"{\"sigil_alert\":";

fn native(stream: &[u8], options: Options) -> Native {
    let keep_all = options == Options::default();
    let mut detector =
        Detector::Native(Engine::load(&sigil_host::builtin_rules(), options).unwrap());
    let mut runner = Runner::new(&mut detector);
    let (mut out, mut tail) = (Vec::new(), Vec::new());
    runner.run(Path::new("<corpus>"), stream, &mut out).unwrap();
    runner.finish(&mut tail).unwrap();
    let mut events: Vec<NativeEvent> = Vec::new();
    for line in out.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        if line.starts_with(ALERT) {
            // With an option that drops events, an alert may come first.
            if events.is_empty() {
                events.push((None, Vec::new()));
            }
            events.last_mut().unwrap().1.push(line.to_vec());
        } else {
            events.push((Some(line.to_vec()), Vec::new()));
        }
    }
    if keep_all {
        assert_eq!(events.len(), ndjson_events(stream).count());
    }
    let flushed = tail
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    Native { events, flushed }
}

/// The record the filter must answer for a native line and the alert
/// records after it: the alerts go inside `"sigil"`, last.
fn expected(line: &[u8], alerts: &[Vec<u8>]) -> Vec<u8> {
    if alerts.is_empty() {
        return line.to_vec();
    }
    let mut out = line
        .strip_suffix(b"}}")
        .expect("a line ends with }}")
        .to_vec();
    out.extend_from_slice(b",\"alerts\":[");
    for (i, alert) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(inner(alert));
    }
    out.extend_from_slice(b"]}}");
    out
}

/// `{"sigil_alert":X}` → `X`.
fn inner(alert: &[u8]) -> &[u8] {
    &alert[ALERT.len()..alert.len() - 1]
}

fn show(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    if text.len() > 600 {
        format!("{}…{}", &text[..400], &text[text.len() - 200..])
    } else {
        text.into_owned()
    }
}

/// Every record of `stream` through `function`, in one instance.
fn filter_all(function: &str, stream: &[u8]) -> (FluentBit, Vec<Answer>) {
    let mut fb = FluentBit::new(function);
    let answers = ndjson_events(stream).map(|r| fb.call(r)).collect();
    (fb, answers)
}

#[test]
fn the_module_is_what_filter_wasm_loads() {
    let engine = wasmtime(512 << 10);
    let module = compile(&engine);
    assert_eq!(
        module.imports().count(),
        0,
        "the module imports nothing (no WASI: it reads no file)"
    );
    let fb = FluentBit::new("sigil_filter");
    let mut store = fb.store;
    for name in FUNCTIONS {
        fb.instance
            .get_typed_func::<(u32, u32, u32, u32, u32, u32), u32>(&mut store, name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // WAMR uses the module's allocator only with exactly these signatures
    // (wasm_loader.c: `malloc` (i32)->i32 and `free` (i32)->()).
    fb.instance
        .get_typed_func::<u32, u32>(&mut store, "malloc")
        .unwrap();
    fb.instance
        .get_typed_func::<u32, ()>(&mut store, "free")
        .unwrap();
}

#[test]
fn every_record_of_the_corpora_is_what_sigil_run_native_writes() {
    let stream = corpus_stream();
    let native = native(&stream, Options::default());
    let (fb, answers) = filter_all("sigil_filter", &stream);
    assert_eq!(answers.len(), native.events.len());
    let mut alerts = 0;
    for (i, (answer, (line, after))) in answers.iter().zip(&native.events).enumerate() {
        let want = expected(line.as_ref().unwrap(), after);
        match answer {
            Answer::Record(got) => {
                assert_fluent_bit_takes(got);
                assert!(
                    got == &want,
                    "record {i}:\nfilter: {}\nnative: {}",
                    show(got),
                    show(&want)
                );
            }
            other => panic!("record {i}: {other:?}"),
        }
        alerts += after.len();
    }
    // Every alert of the corpus (the Stratus stop-then-start and the
    // Atomic Red Team sequences) rides on a later record of the stream:
    // none waits for the end of input, which a filter never sees (those
    // would be lost at shutdown).
    assert!(alerts >= 8, "{alerts} alerts rode on records");
    assert_eq!(native.flushed, Vec::<Vec<u8>>::new());
    // One answer buffer, reused: a new address only when it grows.
    assert!(
        fb.answer_addresses.len() < 20,
        "{} answer addresses",
        fb.answer_addresses.len()
    );
}

#[test]
fn each_policy_keeps_what_the_matching_sigil_run_option_writes() {
    let stream = corpus_stream();
    let all = native(&stream, Options::default());
    for (function, options) in [
        (
            "sigil_filter_matched",
            Options {
                matched_only: true,
                ..Options::default()
            },
        ),
        (
            "sigil_filter_min_score_50",
            Options {
                min_score: 50,
                ..Options::default()
            },
        ),
        (
            "sigil_filter_min_score_100",
            Options {
                min_score: 100,
                ..Options::default()
            },
        ),
        (
            "sigil_filter_alerts",
            Options {
                min_score: 101,
                ..Options::default()
            },
        ),
    ] {
        let kept_by_run = native(&stream, options).events;
        let (_, answers) = filter_all(function, &stream);
        let mut run_lines = kept_by_run.iter().filter_map(|(l, _)| l.as_ref());
        let mut kept = 0;
        for (i, (answer, (line, after))) in answers.iter().zip(&all.events).enumerate() {
            let line = line.as_ref().unwrap();
            match answer {
                Answer::Record(got) => {
                    kept += 1;
                    assert_eq!(got, &expected(line, after), "{function}: record {i}");
                    // Kept without alerts: `sigil run` with the option wrote it too.
                    if after.is_empty() {
                        assert_eq!(Some(line), run_lines.next(), "{function}: record {i}");
                    } else {
                        // Kept for its alerts, or the run wrote it too.
                        let mut peek = run_lines.clone();
                        if peek.next() == Some(line) {
                            run_lines.next();
                        }
                    }
                }
                Answer::Dropped => assert!(
                    after.is_empty(),
                    "{function}: record {i} dropped with its alerts"
                ),
                other => panic!("{function}: record {i}: {other:?}"),
            }
        }
        assert_eq!(
            run_lines.next(),
            None,
            "{function}: a record the run kept is missing"
        );
        assert!(kept < answers.len(), "{function} dropped nothing");
        assert!(kept > 0, "{function} kept nothing");
    }
}

/// A CloudTrail event the built-in pack matches (StopInstances), its
/// `eventID` set to `id`, with `extra` members added (JSON text after a comma).
fn stop_event(id: &str, extra: &str) -> Vec<u8> {
    let mut e = format!(
        r#"{{"eventVersion":"1.09","userIdentity":{{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/ops/alice"}},"eventTime":"2024-08-01T12:03:30Z","eventSource":"ec2.amazonaws.com","eventName":"StopInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.7","userAgent":"aws-cli/2.15.0","requestParameters":{{"instancesSet":{{"items":[{{"instanceId":"i-0abc"}}]}},"force":false}},"eventID":"{id}""#
    );
    if !extra.is_empty() {
        e.push(',');
        e.push_str(extra);
    }
    e.push('}');
    e.into_bytes()
}

fn padded(id: &str, bytes: usize) -> Vec<u8> {
    let base = stop_event(id, r#""pad":"""#).len();
    stop_event(
        id,
        &format!(r#""pad":"{}""#, "x".repeat(bytes.saturating_sub(base))),
    )
}

fn items(id: &str, bytes: usize) -> Vec<u8> {
    let list: Vec<String> = (0..bytes / 26)
        .map(|k| format!(r#"{{"instanceId":"i-{k:08}"}}"#))
        .collect();
    stop_event(id, &format!(r#""moreItems":[{}]"#, list.join(",")))
}

fn nested(id: &str, depth: usize, array: bool) -> Vec<u8> {
    let value = if array {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    } else {
        format!("{}1{}", r#"{"x":"#.repeat(depth), "}".repeat(depth))
    };
    stop_event(id, &format!(r#""deep":{value}"#))
}

/// The records of the issue's proof, and worse: 1 KB to 2 MB (over the
/// engine's 1 MiB limit), nested 50 deep to 10 000 deep, invalid UTF-8,
/// cut mid-string, not objects at all.
fn damaged_records() -> Vec<Vec<u8>> {
    let mut records = vec![
        padded("size-1k", 1 << 10),
        padded("size-64k", 64 << 10),
        items("items-64k", 64 << 10),
        padded("size-900k", 900 << 10),
        items("items-900k", 900 << 10),
        padded("size-2m", 2 << 20),
        items("items-2m", 2 << 20),
    ];
    for depth in [10, 50, 62, 64, 65, 100, 128, 129, 1000, 10_000] {
        records.push(nested(&format!("deep-{depth}"), depth, false));
        records.push(nested(&format!("deep-array-{depth}"), depth, true));
    }
    let clean = stop_event("utf8", "");
    let mut bad = clean.clone();
    let at = bad.windows(4).position(|w| w == b"2.15").unwrap();
    bad.splice(at..at, *b"\xff\xfe\xc3(");
    records.push(bad);
    let mut cut_char = stop_event("utf8-2", r#""note":"alXX""#);
    let at = cut_char.windows(2).position(|w| w == b"XX").unwrap();
    cut_char.splice(at..at + 2, [0xc3]);
    records.push(cut_char);
    let cut_at = clean.windows(4).position(|w| w == b"Stop").unwrap() + 2;
    records.push(clean[..cut_at].to_vec());
    records.push(clean[..clean.len() / 2].to_vec());
    records.push(clean[..clean.len() - 1].to_vec());
    records.push(stop_event("ctl", "\"note\":\"a\tb\x01c\""));
    records.push(stop_event("esc", r#""note":"a\qb\ud800""#));
    records.push(stop_event("dup", r#""eventName":"StartInstances""#));
    for other in [
        &b"{}"[..],
        b"{ }",
        b"[1,2]",
        b"\"text\"",
        b"42",
        b"null",
        b"not json",
        b"{\"a\":1}}",
    ] {
        records.push(other.to_vec());
    }
    records
}

#[test]
fn damaged_and_extreme_records_come_back_as_sigil_run_writes_them() {
    let records = damaged_records();
    let mut stream = Vec::new();
    for r in &records {
        stream.extend_from_slice(r);
        stream.push(b'\n');
    }
    assert_eq!(ndjson_events(&stream).count(), records.len());
    let native = native(&stream, Options::default());
    let (fb, answers) = filter_all("sigil_filter", &stream);
    for (i, (answer, (line, after))) in answers.iter().zip(&native.events).enumerate() {
        let want = expected(line.as_ref().unwrap(), after);
        let Answer::Record(got) = answer else {
            panic!("record {i} ({}): {answer:?}", show(&records[i]));
        };
        assert_fluent_bit_takes(got);
        assert!(
            got == &want,
            "record {i}:\nfilter: {}\nnative: {}",
            show(got),
            show(&want)
        );
    }
    // The largest record set the high-water mark; the memory holds it,
    // its answer and the engine's copy, and nothing else piles up.
    assert!(fb.memory_bytes() < 64 << 20, "{} bytes", fb.memory_bytes());
}

#[test]
fn a_record_fluent_bit_could_not_copy_comes_back_marked_and_the_next_is_whole() {
    let mut fb = FluentBit::new("sigil_filter_matched");
    let Answer::Record(answer) = fb.call_uncopied(900_000) else {
        panic!("dropped");
    };
    assert_fluent_bit_takes(&answer);
    let map: Value = serde_json::from_slice(&answer).unwrap();
    let error = map["sigil"]["error"].as_str().unwrap();
    assert!(error.contains("900000 bytes"), "{error}");
    let record = stop_event("after", "");
    let Answer::Record(next) = fb.call(&record) else {
        panic!("dropped");
    };
    assert!(next.starts_with(&record[..record.len() - 1]));
    let next: Value = serde_json::from_slice(&next).unwrap();
    assert_eq!(next["sigil"]["findings"].as_array().unwrap().len(), 1);
}

#[test]
fn memory_stays_flat_record_after_record() {
    let stream = corpus_stream();
    let mut fb = FluentBit::new("sigil_filter");
    let mut after = Vec::new();
    for _ in 0..3 {
        for record in ndjson_events(&stream) {
            assert!(matches!(fb.call(record), Answer::Record(_)));
        }
        after.push(fb.memory_bytes());
    }
    // The first pass sets the high-water mark; later ones add nothing.
    assert_eq!(after[1], after[2], "{after:?}");
    assert!(after[2] <= 4 << 20, "{after:?}");
}

/// When WAMR's stack is too small for a record, its call traps: Fluent Bit
/// drops that record (and logs the trap), and the instance must go on
/// answering the next records correctly.
#[test]
fn a_call_that_overflows_the_stack_costs_only_its_record() {
    let plain = stop_event("plain", "");
    let deep = nested("deep", 10_000, true);
    // wasmtime's stack is not WAMR's: find, here, the smallest that holds a
    // plain record (the first call also loads the pack), then one deep
    // record must not fit in it.
    let fits = |stack: usize, records: &[&[u8]]| {
        let mut fb = FluentBit::with_stack("sigil_filter", stack);
        records
            .iter()
            .all(|r| matches!(fb.call(r), Answer::Record(_)))
    };
    let smallest = |records: &[&[u8]]| {
        let (mut lo, mut hi) = (1usize, 256usize); // in KiB
        assert!(fits(hi << 10, records));
        while hi - lo > 1 {
            let mid = (lo + hi) / 2;
            if fits(mid << 10, records) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        hi << 10
    };
    let stack = smallest(&[&plain]);
    assert!(
        smallest(&[&plain, &deep]) > stack,
        "the deep record needs more stack"
    );
    let mut fb = FluentBit::with_stack("sigil_filter", stack);
    let Answer::Record(first) = fb.call(&plain) else {
        panic!("a plain record fits in {stack} bytes");
    };
    assert!(matches!(fb.call(&deep), Answer::Trapped(_)));
    // The next call notices the trapped one and loads the pack afresh.
    assert_eq!(fb.call(&plain), Answer::Record(first.clone()));
    assert_eq!(fb.call(&plain), Answer::Record(first));
}
