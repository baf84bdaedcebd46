//! Pulls the fields the loaded rules name out of a raw JSON event, without
//! building a tree.
//!
//! The rules' field paths form a trie. The walker descends only into keys
//! the trie knows and validates everything else without keeping it. Strings
//! without escapes are borrowed from the input. Arrays are transparent:
//! `a.b` reaches `b` in every element of an array under `a`, so a test on
//! `a.b` holds when any element holds it. A key that itself contains dots
//! (`"a.b": 1`, as flattened logs have) also answers the path `a.b`.
//!
//! Two walkers give the same values in the same order: a hand-written one
//! for the events it can prove well-formed (valid UTF-8 without control
//! bytes, strict grammar: the common case, in a third fewer instructions on
//! the benchmark corpus), and a serde_json walk, skipping with `IgnoredAny`,
//! for everything else. Only the serde walk reports errors, so a malformed
//! event gets serde_json's message whichever way it came.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::EventError;
use crate::matching::expr::KEYWORDS;
use crate::scan::wordtable::{KeyTable, same};
use crate::vocab::value::Val;

/// The field paths of a rule pack, as a trie of key segments.
#[derive(Clone, Debug, Default)]
pub(crate) struct Trie {
    nodes: Vec<TNode>,
    paths: Vec<String>,
    /// The JSON-text slots.
    json: Vec<u32>,
}

#[derive(Clone, Debug, Default)]
struct TNode {
    children: Vec<(Box<str>, u32)>,
    /// The same children by key, once there are many of them (the root of a
    /// large pack has dozens).
    index: Option<Box<Index>>,
    slot: Option<u32>,
    /// The slot that sees this node's value as JSON text (see
    /// [`Trie::json_slot`]).
    json: Option<u32>,
}

/// An index of a node's children, for nodes with many.
#[derive(Clone, Debug)]
struct Index {
    /// The children's keys; the ids index `nodes`.
    keys: KeyTable,
    nodes: Vec<u32>,
}

impl Index {
    fn new(children: &[(Box<str>, u32)]) -> Box<Index> {
        let mut index = Box::new(Index {
            keys: KeyTable::new(),
            nodes: Vec::new(),
        });
        for (key, node) in children {
            if index.keys.insert(key.as_bytes()) as usize == index.nodes.len() {
                index.nodes.push(*node);
            }
        }
        index
    }

    fn get(&self, key: &str) -> Option<u32> {
        self.keys
            .get(key.as_bytes())
            .and_then(|i| self.nodes.get(i as usize).copied())
    }
}

/// Children past which a node gets a hash index.
const INDEX_AT: usize = 8;

impl Trie {
    pub fn new() -> Trie {
        // Node 0 is the root; slot 0 is reserved for keywords.
        Trie {
            nodes: vec![TNode::default()],
            paths: vec![String::new()],
            json: Vec::new(),
        }
    }

    /// The slot of `path`, adding it when new.
    pub fn slot(&mut self, path: &str) -> u32 {
        let node = self.node(path);
        let next = self.paths.len() as u32;
        match self
            .nodes
            .get_mut(node)
            .map(|n| *n.slot.get_or_insert(next))
        {
            Some(s) if s != next => s,
            _ => {
                self.paths.push(path.to_string());
                next
            }
        }
    }

    /// A slot that sees the value at `path` as JSON text: an object or array
    /// as its raw JSON, a scalar as it is. SIEM columns of KQL's `dynamic`
    /// type are searched that way. Apart from the path's own slot, so that
    /// other rules' tests on the path keep Sigma's meaning.
    pub fn json_slot(&mut self, path: &str) -> u32 {
        self.slot(path);
        let node = self.node(path);
        let next = self.paths.len() as u32;
        match self
            .nodes
            .get_mut(node)
            .map(|n| *n.json.get_or_insert(next))
        {
            Some(s) if s != next => s,
            _ => {
                self.paths.push(path.to_string());
                self.json.push(next);
                next
            }
        }
    }

    /// The node of `path`, adding the nodes it lacks.
    fn node(&mut self, path: &str) -> usize {
        if self.nodes.is_empty() {
            // The root (a `Trie::default()` has none).
            self.nodes.push(TNode::default());
        }
        let mut node = 0;
        for seg in path.split('.') {
            node = match self.child(node as u32, seg) {
                Some(c) => c as usize,
                None => {
                    let id = self.nodes.len();
                    self.nodes.push(TNode::default());
                    if let Some(parent) = self.nodes.get_mut(node) {
                        parent.children.push((seg.into(), id as u32));
                        if parent.children.len() > INDEX_AT {
                            parent.index = Some(Index::new(&parent.children));
                        }
                    }
                    id
                }
            };
        }
        node
    }

    /// Whether `slot` is a JSON-text slot.
    pub fn is_json(&self, slot: u32) -> bool {
        self.json.contains(&slot)
    }

    /// The path of a slot (empty for a slot the trie did not give).
    pub fn path(&self, slot: u32) -> &str {
        self.paths.get(slot as usize).map_or("", String::as_str)
    }

    /// A node by its id.
    #[inline(always)]
    fn at(&self, node: u32) -> Option<&TNode> {
        self.nodes.get(node as usize)
    }

    /// How many slots exist (keywords included).
    pub fn slots(&self) -> usize {
        self.paths.len()
    }

    #[inline(always)]
    fn child(&self, node: u32, key: &str) -> Option<u32> {
        let n = self.at(node)?;
        if let Some(index) = &n.index {
            return index.get(key);
        }
        n.children
            .iter()
            .find(|(k, _)| same(k.as_bytes(), key.as_bytes()))
            .map(|(_, c)| *c)
    }

    /// The node reached from `node` by `key`, where a dotted key may span
    /// several segments.
    #[inline(always)]
    fn step(&self, node: u32, key: &str) -> Option<u32> {
        if let Some(c) = self.child(node, key) {
            return Some(c);
        }
        if !crate::scan::structural::has_dot(key.as_bytes()) {
            return None;
        }
        self.step_dotted(node, key)
    }

    #[inline(never)]
    fn step_dotted(&self, node: u32, key: &str) -> Option<u32> {
        let mut n = node;
        for seg in key.split('.') {
            n = self.child(n, seg)?;
        }
        Some(n)
    }
}

/// Extracts from `event` the values of every trie path, and every string
/// value under [`KEYWORDS`] when `keywords` is set.
///
/// The fast path ([`extract_fast`]) reads well-formed events; anything it
/// does not fully handle goes to the serde walk ([`extract_serde`]), which
/// is the reference for values and the only source of errors.
pub(crate) fn extract<'a>(
    event: &'a [u8],
    trie: &Trie,
    keywords: bool,
    max_depth: u32,
    out: &mut Vec<(u32, Val<'a>)>,
    dups: &mut Duplicates,
) -> Result<(), EventError> {
    let start = out.len();
    dups.clear();
    if extract_fast(event, trie, keywords, max_depth, out, dups) {
        return Ok(());
    }
    out.truncate(start);
    dups.clear();
    extract_serde(event, trie, keywords, max_depth, out, dups)
}

/// Keys read twice in one object, and the bookkeeping that finds them.
///
/// JSON leaves a duplicated key's meaning open; serde_json, SIEMs and the
/// CloudTrail consumers downstream keep the last value. So does sigil, so
/// that what it checks is what the SIEM stores: an attacker who writes
/// `"eventName":"StopInstances","eventName":"DescribeInstances"` is judged
/// on `DescribeInstances` by both. And since a security-relevant key
/// written twice in one record is itself suspicious, each such key (of the
/// keys the rules read) is reported, for a warning on the verdict.
#[derive(Clone, Debug, Default)]
pub(crate) struct Duplicates {
    /// For every object being read, its members on the rules' paths so far:
    /// (trie node, start and end of their values in `out`); an object's
    /// entries sit above its parent's and are dropped when it closes.
    members: Vec<(u32, usize, usize)>,
    /// The keys read twice, in the order found.
    pub keys: Vec<String>,
}

impl Duplicates {
    fn clear(&mut self) {
        self.members.clear();
        self.keys.clear();
    }

    /// Before reading the value of `key` (trie node `node`) in the object
    /// whose members start at `base`: if the key was read before in that
    /// object, its values are dropped from `out` (the last value wins) and
    /// the key is recorded. Linear in the object's members on the rules'
    /// paths, a handful.
    fn before_member<V>(&mut self, base: usize, node: u32, key: &str, out: &mut Vec<V>) {
        let Some(k) = self
            .members
            .get(base..)
            .and_then(|m| m.iter().position(|&(n, ..)| n == node))
        else {
            return;
        };
        self.forget(base + k, out);
        if !self.keys.iter().any(|k| k == key) {
            self.keys.push(key.to_string());
        }
    }

    #[cold]
    fn forget<V>(&mut self, at: usize, out: &mut Vec<V>) {
        if at >= self.members.len() {
            return;
        }
        let (_, start, end) = self.members.remove(at);
        let start = start.min(out.len());
        let end = end.clamp(start, out.len());
        out.drain(start..end);
        let n = end - start;
        for m in self.members.iter_mut().skip(at) {
            m.1 = m.1.saturating_sub(n);
            m.2 = m.2.saturating_sub(n);
        }
    }
}

/// [`extract`] by a serde walk: validates the whole event as serde_json
/// does and reports its errors. The whole text is checked as UTF-8 first
/// (a byte slice reader checks only the strings it decodes, not those it
/// skips, and the event goes out with its verdict as it came in), and then
/// read as a `str`, which serde_json need not check again.
pub(crate) fn extract_serde<'a>(
    event: &'a [u8],
    trie: &Trie,
    keywords: bool,
    max_depth: u32,
    out: &mut Vec<(u32, Val<'a>)>,
    dups: &mut Duplicates,
) -> Result<(), EventError> {
    let text = std::str::from_utf8(event).map_err(|_| EventError::InvalidUtf8)?;
    let mut de = serde_json::Deserializer::from_str(text);
    let walk = Walk {
        trie,
        node: Some(0),
        keywords,
        depth: 0,
        max_depth: max_depth.min(MAX_DEPTH),
        out,
        dups,
        top: true,
    };
    let mapped = |e: serde_json::Error| {
        let msg = e.to_string();
        if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
            EventError::TooDeep
        } else if msg.contains("invalid unicode code point") {
            EventError::InvalidUtf8
        } else {
            EventError::InvalidJson(msg)
        }
    };
    walk.deserialize(&mut de).map_err(mapped)?;
    de.end().map_err(mapped)
}

/// Deepest value the fast path reads (containers around it); deeper events
/// go to the serde walk, whose own limit (128) is then never the nearer one.
const FAST_MAX_DEPTH: u32 = 100;

/// The most `Options::max_depth` can mean: serde_json reads 127 nested
/// containers and refuses the 128th. A larger limit would let an event
/// between the two through the repair (which makes values deeper than
/// the limit `null`) still too deep to read, an error rather than a
/// verdict; and the serde walk, which starts a new reader (with a new
/// recursion budget) for each value under a JSON-text column, would
/// recurse as deep as the event goes.
pub(crate) const MAX_DEPTH: u32 = 127;

/// [`extract`] without serde, for events it can prove well-formed: appends
/// to `out` exactly what [`extract_serde`] would (same values, same order)
/// and returns true, or returns false, with `out` in any state, when the
/// event is anything else.
///
/// It accepts a subset of what serde_json accepts, so that a true answer
/// always means serde_json would have accepted the event too:
///
/// - printable text only: no byte below 0x20 anywhere (so whitespace is
///   the space alone), and valid UTF-8;
/// - strict JSON grammar; an object at the top;
/// - escapes of the JSON set only, `\u` surrogates only in pairs (what
///   serde_json requires of strings it decodes);
/// - numbers without exponent and with at most 300 digits, so that none
///   is out of range; numbers the rules read are converted by serde_json
///   itself, for the same rounding;
/// - no value nested deeper than `max_depth` (nor [`FAST_MAX_DEPTH`]).
pub(crate) fn extract_fast<'a>(
    event: &'a [u8],
    trie: &Trie,
    keywords: bool,
    max_depth: u32,
    out: &mut Vec<(u32, Val<'a>)>,
    dups: &mut Duplicates,
) -> bool {
    // One check of the whole text is far cheaper than one per string; most
    // events are printable ASCII, which one vector pass proves.
    let text = match crate::scan::structural::printable_ascii_str(event) {
        Some(text) => text,
        None => {
            let Ok(text) = std::str::from_utf8(event) else {
                return false;
            };
            if has_control(event) {
                return false;
            }
            text
        }
    };
    let max_depth = max_depth.min(FAST_MAX_DEPTH);
    let mut p = Fast {
        b: event,
        text,
        i: 0,
        trie,
        keywords,
        max_depth,
        out,
        dups,
        buf: String::new(),
    };
    p.ws();
    if p.peek() != b'{' || p.value(Some(0), 0).is_none() {
        return false;
    }
    p.ws();
    p.i == event.len()
}

/// Whether some byte is below 0x20 (a control character, or whitespace
/// other than the space).
fn has_control(b: &[u8]) -> bool {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let (words, rest) = b.as_chunks::<8>();
    // Bytes below 0x20 borrow in `w - 0x20` (a borrow only spreads upward
    // from such a byte); `!w` keeps bytes of 0x80 and more out.
    let mut acc = 0u64;
    for &c in words {
        let w = u64::from_le_bytes(c);
        acc |= w.wrapping_sub(LO * 0x20) & !w;
    }
    acc & HI != 0 || rest.iter().any(|&c| c < 0x20)
}

/// The fast path's cursor. Every method returns `None` on anything it does
/// not handle, which sends the event to the serde walk.
struct Fast<'a, 't, 'o> {
    b: &'a [u8],
    /// `b`, checked UTF-8. Strings are cut from it at their quotes, which
    /// are ASCII and so on character boundaries.
    text: &'a str,
    i: usize,
    trie: &'t Trie,
    keywords: bool,
    max_depth: u32,
    out: &'o mut Vec<(u32, Val<'a>)>,
    dups: &'o mut Duplicates,
    /// Decoded text of the last escaped string.
    buf: String,
}

impl<'a> Fast<'a, '_, '_> {
    /// The byte at the cursor; 0 past the end (never valid there).
    #[inline]
    fn peek(&self) -> u8 {
        self.b.get(self.i).copied().unwrap_or(0)
    }

    /// Skips spaces. Minified JSON has none, so the loop is out of line:
    /// in the WebAssembly build a loop costs an epoch check each time it
    /// is entered, even for no turn, and this runs three times per member.
    #[inline(always)]
    fn ws(&mut self) {
        if self.peek() == b' ' {
            self.spaces();
        }
    }

    #[cold]
    #[inline(never)]
    fn spaces(&mut self) {
        while self.peek() == b' ' {
            self.i += 1;
        }
    }

    #[inline]
    fn eat(&mut self, c: u8) -> Option<()> {
        if self.peek() != c {
            return None;
        }
        self.i += 1;
        Some(())
    }

    #[inline(always)]
    fn push(&mut self, node: Option<u32>, v: Val<'a>) {
        if let Some(s) = node.and_then(|n| self.trie.at(n)?.slot) {
            self.out.push((s, v));
        }
    }

    /// Reads the value at the cursor, at trie node `node` (`None`: off the
    /// rules' paths), inside `depth` containers; mirrors `Walk`.
    fn value(&mut self, node: Option<u32>, depth: u32) -> Option<()> {
        if depth > self.max_depth {
            return None;
        }
        // A value read as JSON text (a schema's dynamic column, a field
        // label) is the serde walk's to capture.
        if node.is_some_and(|n| self.trie.at(n).is_some_and(|t| t.json.is_some())) {
            return None;
        }
        let walk = node.is_some() || self.keywords;
        match self.peek() {
            b'{' => {
                self.i += 1;
                self.push(node, Val::Compound);
                self.ws();
                if self.peek() == b'}' {
                    self.i += 1;
                    return Some(());
                }
                let base = self.dups.members.len();
                loop {
                    self.eat(b'"')?;
                    let next = match node {
                        Some(n) => {
                            let key = self.string()?;
                            let key = match key {
                                Some((s, e)) => self.text.get(s..e)?,
                                None => self.buf.as_str(),
                            };
                            let next = self.trie.step(n, key);
                            if let Some(t) = next {
                                self.dups.before_member(base, t, key, self.out);
                            }
                            next
                        }
                        None => {
                            self.string()?;
                            None
                        }
                    };
                    self.ws();
                    self.eat(b':')?;
                    self.ws();
                    let start = self.out.len();
                    self.value(next, depth + 1)?;
                    if let Some(t) = next {
                        self.dups.members.push((t, start, self.out.len()));
                    }
                    self.ws();
                    match self.peek() {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b'}' => {
                            self.i += 1;
                            self.dups.members.truncate(base);
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.push(node, Val::Compound);
                self.ws();
                if self.peek() == b']' {
                    self.i += 1;
                    return Some(());
                }
                loop {
                    self.value(node, depth + 1)?;
                    self.ws();
                    match self.peek() {
                        b',' => {
                            self.i += 1;
                            self.ws();
                        }
                        b']' => {
                            self.i += 1;
                            return Some(());
                        }
                        _ => return None,
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let span = self.string()?;
                if walk {
                    let text: Cow<'a, str> = match span {
                        Some((s, e)) => Cow::Borrowed(self.text.get(s..e)?),
                        None => Cow::Owned(self.buf.clone()),
                    };
                    if self.keywords {
                        self.out.push((KEYWORDS, Val::Str(text.clone())));
                    }
                    self.push(node, Val::Str(text));
                }
                Some(())
            }
            b't' => self.literal(b"true", node, Val::Bool(true)),
            b'f' => self.literal(b"false", node, Val::Bool(false)),
            b'n' => self.literal(b"null", node, Val::Null),
            b'-' | b'0'..=b'9' => self.number(node),
            _ => None,
        }
    }

    fn literal(&mut self, word: &[u8], node: Option<u32>, v: Val<'a>) -> Option<()> {
        if !self
            .b
            .get(self.i..self.i + word.len())
            .is_some_and(|w| same(w, word))
        {
            return None;
        }
        self.i += word.len();
        self.push(node, v);
        Some(())
    }

    fn number(&mut self, node: Option<u32>) -> Option<()> {
        let start = self.i;
        if self.peek() == b'-' {
            self.i += 1;
        }
        let digits_at = self.i;
        match self.peek() {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        let mut digits = self.i - digits_at;
        if self.peek() == b'.' {
            self.i += 1;
            let at = self.i;
            self.digits();
            if self.i == at {
                return None;
            }
            digits += self.i - at;
        }
        if matches!(self.peek(), b'e' | b'E') || digits > 300 {
            return None;
        }
        if node.is_some_and(|n| self.trie.at(n).is_some_and(|t| t.slot.is_some())) {
            // serde_json's own conversion, as `Walk` gets it (u64, i64 or
            // f64, then as f64).
            let n: serde_json::Number = serde_json::from_str(self.text.get(start..self.i)?).ok()?;
            self.push(node, Val::Num(n.as_f64()?));
        }
        Some(())
    }

    #[inline]
    fn digits(&mut self) {
        while self.peek().is_ascii_digit() {
            self.i += 1;
        }
    }

    /// Reads a string whose opening quote is behind the cursor, up to and
    /// past its closing quote: `Some(Some(span))` of its raw text when it
    /// has no escape, `Some(None)` when it has, its decoded text then in
    /// `buf`.
    ///
    /// Always inlined, with the escapes out of line: as a call, the
    /// WebAssembly build returned the answer through memory and saved five
    /// registers for every string.
    #[inline(always)]
    fn string(&mut self) -> Option<Option<(usize, usize)>> {
        let start = self.i;
        let k = crate::scan::structural::quote_or_backslash(self.b.get(start..)?)?;
        let at = start + k;
        if *self.b.get(at)? == b'"' {
            self.i = at + 1;
            return Some(Some((start, at)));
        }
        self.escaped_string(start)
    }

    /// [`Fast::string`] for a string with escapes: decodes the whole
    /// string into `buf`.
    #[cold]
    #[inline(never)]
    fn escaped_string(&mut self, start: usize) -> Option<Option<(usize, usize)>> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let mut i = start;
        let end = loop {
            let k = crate::scan::structural::quote_or_backslash(self.b.get(i..)?)?;
            let at = i + k;
            buf.push_str(self.text.get(i..at)?);
            if *self.b.get(at)? == b'"' {
                break at;
            }
            i = self.unescape(at + 1, &mut buf)?;
        };
        self.buf = buf;
        self.i = end + 1;
        Some(None)
    }

    /// Decodes the escape whose backslash is just before `i` into `buf`;
    /// returns where the escape ends.
    fn unescape(&self, i: usize, buf: &mut String) -> Option<usize> {
        let c = match *self.b.get(i)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = hex4(self.b.get(i + 1..i + 5)?)?;
                let (cp, next) = match hi {
                    0xD800..=0xDBFF => {
                        if self.b.get(i + 5..i + 7)? != b"\\u" {
                            return None;
                        }
                        let lo = hex4(self.b.get(i + 7..i + 11)?)?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return None;
                        }
                        (0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00), i + 11)
                    }
                    0xDC00..=0xDFFF => return None,
                    _ => (hi, i + 5),
                };
                buf.push(char::from_u32(cp)?);
                return Some(next);
            }
            _ => return None,
        };
        buf.push(c);
        Some(i + 1)
    }
}

/// The value of four hex digits (a `\u` escape's), strictly: no sign.
pub(crate) fn hex4(d: &[u8]) -> Option<u32> {
    d.iter()
        .try_fold(0u32, |n, &c| Some(n << 4 | (c as char).to_digit(16)?))
}

const TOO_DEEP: &str = "sigil: nesting deeper than max-depth";
const NOT_OBJECT: &str = "an event must be a JSON object";

struct Walk<'t, 'o, 'a> {
    trie: &'t Trie,
    /// The trie node this value sits at; `None` off the rules' paths.
    node: Option<u32>,
    keywords: bool,
    depth: u32,
    max_depth: u32,
    out: &'o mut Vec<(u32, Val<'a>)>,
    dups: &'o mut Duplicates,
    top: bool,
}

impl<'a> Walk<'_, '_, 'a> {
    fn slot(&self) -> Option<u32> {
        self.node.and_then(|n| self.trie.at(n)?.slot)
    }

    fn push(&mut self, v: Val<'a>) {
        if let Some(j) = self.json()
            && !matches!(v, Val::Compound)
        {
            self.out.push((j, v.clone()));
        }
        if let Some(s) = self.slot() {
            self.out.push((s, v));
        }
    }

    fn json(&self) -> Option<u32> {
        self.node.and_then(|n| self.trie.at(n)?.json)
    }

    fn push_str(&mut self, s: Cow<'a, str>) {
        if self.keywords {
            self.out.push((KEYWORDS, Val::Str(s.clone())));
        }
        self.push(Val::Str(s));
    }

    fn not_object<E: de::Error>(&self) -> Result<(), E> {
        if self.top {
            Err(E::custom(NOT_OBJECT))
        } else {
            Ok(())
        }
    }

    fn child(&mut self, node: Option<u32>) -> Walk<'_, '_, 'a> {
        Walk {
            trie: self.trie,
            node,
            keywords: self.keywords,
            depth: self.depth + 1,
            max_depth: self.max_depth,
            out: self.out,
            dups: self.dups,
            top: false,
        }
    }
}

impl<'de: 'a, 'a> DeserializeSeed<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.node.is_none() && !self.keywords {
            IgnoredAny::deserialize(d)?;
            return Ok(());
        }
        if self.depth > self.max_depth {
            return Err(de::Error::custom(TOO_DEEP));
        }
        if let Some(j) = self.json() {
            // Keep the raw text of an object or array, then walk it as usual.
            let raw = <&'de serde_json::value::RawValue>::deserialize(d)?;
            let text = raw.get();
            if text.starts_with(['{', '[']) {
                // Compact, as KQL's `tostring` prints a dynamic value; most
                // logs are compact already and cost no copy.
                let compact = if text
                    .bytes()
                    .any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
                {
                    let mut out = Vec::with_capacity(text.len());
                    crate::scan::input::minify_into(text.as_bytes(), &mut out);
                    Cow::Owned(String::from_utf8(out).map_err(de::Error::custom)?)
                } else {
                    Cow::Borrowed(text)
                };
                self.out.push((j, Val::Str(compact)));
            }
            let mut inner = serde_json::Deserializer::from_str(text);
            return de::Deserializer::deserialize_any(&mut inner, self).map_err(de::Error::custom);
        }
        d.deserialize_any(self)
    }
}

use serde::Deserialize as _;

impl<'de: 'a, 'a> Visitor<'de> for Walk<'_, '_, 'a> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(mut self, v: &'de str) -> Result<(), E> {
        self.not_object()?;
        self.push_str(Cow::Borrowed(v));
        Ok(())
    }

    fn visit_str<E: de::Error>(mut self, v: &str) -> Result<(), E> {
        self.not_object()?;
        self.push_str(Cow::Owned(v.to_string()));
        Ok(())
    }

    fn visit_string<E: de::Error>(mut self, v: String) -> Result<(), E> {
        self.not_object()?;
        self.push_str(Cow::Owned(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(mut self, v: u64) -> Result<(), E> {
        self.not_object()?;
        self.push(Val::Num(v as f64));
        Ok(())
    }

    fn visit_i64<E: de::Error>(mut self, v: i64) -> Result<(), E> {
        self.not_object()?;
        self.push(Val::Num(v as f64));
        Ok(())
    }

    fn visit_f64<E: de::Error>(mut self, v: f64) -> Result<(), E> {
        self.not_object()?;
        self.push(Val::Num(v));
        Ok(())
    }

    fn visit_bool<E: de::Error>(mut self, v: bool) -> Result<(), E> {
        self.not_object()?;
        self.push(Val::Bool(v));
        Ok(())
    }

    fn visit_unit<E: de::Error>(mut self) -> Result<(), E> {
        self.not_object()?;
        self.push(Val::Null);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.not_object()?;
        self.push(Val::Compound);
        let node = self.node;
        // Array elements sit at the array's own trie node.
        while seq.next_element_seed(self.child(node))?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.push(Val::Compound);
        let base = self.dups.members.len();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let next = self.node.and_then(|n| self.trie.step(n, key.as_ref()));
            if let Some(t) = next {
                self.dups.before_member(base, t, &key, self.out);
            }
            let start = self.out.len();
            map.next_value_seed(self.child(next))?;
            if let Some(t) = next {
                self.dups.members.push((t, start, self.out.len()));
            }
        }
        self.dups.members.truncate(base);
        Ok(())
    }
}

/// Deserialises a map key, borrowing it when it has no escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_string()))
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

    fn run(
        event: &str,
        paths: &[&str],
        keywords: bool,
    ) -> Result<Vec<(String, Val<'static>)>, EventError> {
        let mut trie = Trie::new();
        for p in paths {
            trie.slot(p);
        }
        let owned: &'static [u8] = Box::leak(event.as_bytes().to_vec().into_boxed_slice());
        let mut out = Vec::new();
        extract(
            owned,
            &trie,
            keywords,
            8,
            &mut out,
            &mut Duplicates::default(),
        )?;
        Ok(out
            .into_iter()
            .map(|(s, v)| (trie.paths[s as usize].clone(), v))
            .collect())
    }

    #[test]
    fn nested_arrays_and_dotted_keys() {
        let got = run(
            r#"{"a":{"items":[{"id":"x"},{"id":"y"}]},"b.c":1,"z":{"q":"skip"}}"#,
            &["a.items.id", "b.c"],
            false,
        )
        .unwrap();
        let ids: Vec<_> = got
            .iter()
            .filter(|(p, _)| p == "a.items.id")
            .map(|(_, v)| v.clone())
            .collect();
        assert_eq!(ids, vec![Val::Str("x".into()), Val::Str("y".into())]);
        assert!(got.contains(&("b.c".to_string(), Val::Num(1.0))));
    }

    /// The last value of a key written twice in one object wins, as
    /// serde_json and SIEMs read it, whichever walker reads the event; the
    /// key is reported. Other objects' keys of the same name are not
    /// duplicates.
    #[test]
    fn duplicate_keys_last_wins_in_both_walkers() {
        let mut trie = Trie::new();
        for p in ["eventName", "u.type", "u.arn", "items.id", "k"] {
            trie.slot(p);
        }
        let cases: &[(&str, &[&str])] = &[
            (
                r#"{"eventName":"A","u":{"type":"Root","arn":"x","type":"IAMUser"},"eventName":"B"}"#,
                &["type", "eventName"],
            ),
            (r#"{"items":[{"id":"1"},{"id":"2"}],"k":"v"}"#, &[]),
            (
                r#"{"u":{"type":["a","b"],"type":"c"},"u":{"arn":"y"}}"#,
                &["type", "u"],
            ),
            (r#"{"k":"A","k":"B","k":"C"}"#, &["k"]),
        ];
        for &(event, keys) in cases {
            for fast in [true, false] {
                let mut out = Vec::new();
                let mut dups = Duplicates::default();
                if fast {
                    let ok = extract_fast(event.as_bytes(), &trie, false, 8, &mut out, &mut dups);
                    assert!(ok, "{event}");
                } else {
                    extract_serde(event.as_bytes(), &trie, false, 8, &mut out, &mut dups).unwrap();
                }
                assert_eq!(dups.keys, keys, "{event} (fast: {fast})");
                let value: serde_json::Value = serde_json::from_str(event).unwrap();
                let text = |p: &str| -> Vec<String> {
                    let slot = (0..trie.slots() as u32)
                        .find(|&s| trie.path(s) == p)
                        .unwrap();
                    out.iter()
                        .filter(|(s, v)| *s == slot && !matches!(v, Val::Compound))
                        .map(|(_, v)| v.text().unwrap().into_owned())
                        .collect()
                };
                // What serde_json keeps (the last of each key) is what was read.
                if let Some(name) = value.get("eventName").and_then(|v| v.as_str()) {
                    assert_eq!(text("eventName"), [name], "{event}");
                }
                if let Some(t) = value.pointer("/u/type").and_then(|v| v.as_str()) {
                    assert_eq!(text("u.type"), [t], "{event}");
                }
                if let Some(k) = value.get("k").and_then(|v| v.as_str()) {
                    assert_eq!(text("k"), [k], "{event}");
                }
            }
        }
    }

    #[test]
    fn escapes_are_decoded() {
        let got = run(r#"{"n":"St\u006fp"}"#, &["n"], false).unwrap();
        assert_eq!(got, vec![("n".to_string(), Val::Str("Stop".into()))]);
    }

    #[test]
    fn keywords_collect_all_strings() {
        let got = run(r#"{"a":["x",{"b":"y"}],"c":2}"#, &[], true).unwrap();
        assert_eq!(got.iter().filter(|(p, _)| p.is_empty()).count(), 2);
    }

    /// Both paths over `event`: the fast one's values when it takes the
    /// event (checked against the serde walk's), else `None`.
    fn both<'a>(
        event: &'a [u8],
        trie: &Trie,
        keywords: bool,
        max_depth: u32,
    ) -> Option<Vec<(u32, Val<'a>)>> {
        let mut slow = Vec::new();
        let serde = extract_serde(
            event,
            trie,
            keywords,
            max_depth,
            &mut slow,
            &mut Duplicates::default(),
        );
        let mut fast = Vec::new();
        if !extract_fast(
            event,
            trie,
            keywords,
            max_depth,
            &mut fast,
            &mut Duplicates::default(),
        ) {
            return None;
        }
        let text = String::from_utf8_lossy(event);
        assert_eq!(
            serde,
            Ok(()),
            "the fast path took an event serde refuses: {text}"
        );
        assert_eq!(fast, slow, "values differ on {text}");
        Some(fast)
    }

    fn trie_of(paths: &[&str]) -> Trie {
        let mut trie = Trie::new();
        for p in paths {
            trie.slot(p);
        }
        trie
    }

    #[test]
    fn fast_path_takes_well_formed_events() {
        let trie = trie_of(&["a", "a.b", "a.b.c", "k", "n", "x.y", "d.e", "z"]);
        for (event, taken) in [
            (
                r#"{"a":{"b":[{"c":"x"},{"c":"y"},"s",1,null,true,false,[],{}]},"k":"v"}"#,
                true,
            ),
            (
                r#" { "a" : { "b" : [ 1 , -2 , 3.25 , -0 , 0.5 ] } , "n" : 12345678901234567890123 } "#,
                true,
            ),
            (
                r#"{"n":-9223372036854775808,"n":18446744073709551615,"n":-0.0}"#,
                true,
            ),
            (
                r#"{"k":"a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00\u0041","k\u0031":1,"\u006b":"by escaped key"}"#,
                true,
            ),
            (
                r#"{"x.y":"flat","x":{"y":"nested"},"d.e":{"z":1},"d":{"e.z":2}}"#,
                true,
            ),
            (r#"{"k":"dup","k":"licate","k":["in",["arrays"]]}"#, true),
            (r#"{"k":"é ü 😀","z":"\u212a"}"#, true),
            (r#"{}"#, true),
            (r#"{"n":1e5}"#, false),
            (r#"{"n":1E400}"#, false),
            (r#"{"k":"\ud83d"}"#, false),
            (r#"{"k":"\udc00"}"#, false),
            (r#"{"k":"\ud83d\u0041"}"#, false),
            (r#"{"k":"\u+041"}"#, false),
            (r#"{"k":"\x"}"#, false),
            ("{\"k\":\"tab\there\"}", false),
            ("{\"k\":1}\n", false),
            (r#"{"k":1,}"#, false),
            (r#"{"k":01}"#, false),
            (r#"{"k":1."}"#, false),
            (r#"{"k":-}"#, false),
            (r#"{"k":tru}"#, false),
            (r#"{"k":1} {}"#, false),
            (r#"{"k" 1}"#, false),
            (r#"{"k":1"#, false),
            (r#"["k"]"#, false),
            (r#""k""#, false),
            ("", false),
        ] {
            for keywords in [false, true] {
                let got = both(event.as_bytes(), &trie, keywords, 8);
                assert_eq!(got.is_some(), taken, "{event}");
            }
        }
        // Invalid UTF-8 and deep events go to the serde walk.
        assert!(both(b"{\"k\":\"\xff\"}", &trie, false, 8).is_none());
        let deep = format!("{}1{}", r#"{"a":"#.repeat(4), "}".repeat(4));
        assert!(both(deep.as_bytes(), &trie, false, 8).is_some());
        assert!(both(deep.as_bytes(), &trie, false, 3).is_none());
    }

    #[test]
    fn has_control_finds_every_byte_below_0x20() {
        for len in 0..24 {
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(has_control(&text), b < 0x20, "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert!(!has_control("é😀\u{7f} ~".as_bytes()));
    }

    fn shared() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
    }

    /// Every minified event of the shared corpus.
    fn corpus() -> Vec<Vec<u8>> {
        let dir = shared().join("corpora/stratus-detonation-logs");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        let mut events = Vec::new();
        for f in files {
            let doc = std::fs::read(&f).unwrap();
            for ev in crate::scan::input::document_events(&doc).unwrap() {
                let mut one = Vec::new();
                crate::scan::input::minify_into(ev, &mut one);
                events.push(one);
            }
        }
        events
    }

    /// Every key path of a JSON value, arrays transparent.
    fn paths(v: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    paths(v, &p, out);
                    out.push(p);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| paths(v, prefix, out)),
            _ => {}
        }
    }

    #[test]
    fn fast_path_equals_serde_on_the_corpus_and_mutants() {
        let events = corpus();
        assert!(events.len() > 300);
        let mut all = Vec::new();
        for ev in &events {
            paths(&serde_json::from_slice(ev).unwrap(), "", &mut all);
        }
        all.sort();
        all.dedup();
        let every: Vec<&str> = all.iter().map(String::as_str).collect();
        let tries = [
            trie_of(&every),
            trie_of(&[
                "eventName",
                "eventSource",
                "userIdentity.type",
                "requestParameters.instancesSet.items.instanceId",
            ]),
        ];
        for ev in &events {
            for trie in &tries {
                for keywords in [false, true] {
                    assert!(
                        both(ev, trie, keywords, 64).is_some(),
                        "{}",
                        String::from_utf8_lossy(ev)
                    );
                }
            }
        }
        // Mutants: bytes replaced, inserted, deleted; snippets inserted.
        const BYTES: &[u8] = b"\"\\{}[],: \t\n0-.eEuatn/\x00\x7f\x80\xc3\xa9\xff";
        const SNIPPETS: &[&str] = &[
            "\\u00e9",
            "\\ud83d\\ude00",
            "\\ud83d",
            "\\udc00",
            "\\u212a",
            "\\u+041",
            "1e5",
            "-0",
            "00",
            "1.",
            "tru",
            "null",
            "\"a.b\":1,",
            "\"x\":[",
            "é",
            "\u{130}",
            "{\"a\":{\"a\":{\"a\":1}}}",
        ];
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut rand = move |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let (mut taken, mut total) = (0, 0);
        for ev in &events {
            for _ in 0..24 {
                let mut m = ev.clone();
                for _ in 0..1 + rand(2) {
                    let at = rand(m.len());
                    match rand(4) {
                        0 => m[at] = BYTES[rand(BYTES.len())],
                        1 => m.insert(at, BYTES[rand(BYTES.len())]),
                        2 => {
                            m.remove(at);
                        }
                        _ => {
                            let snip = SNIPPETS[rand(SNIPPETS.len())].as_bytes();
                            m.splice(at..at, snip.iter().copied());
                        }
                    }
                }
                for trie in &tries {
                    let keywords = rand(2) == 0;
                    let depth = [2, 3, 64][rand(3)];
                    total += 1;
                    taken += both(&m, trie, keywords, depth).is_some() as usize;
                }
            }
        }
        eprintln!("fast path took {taken} of {total} mutants");
        // Most single edits land in string text and leave the event valid.
        assert!(
            taken * 4 > total,
            "the fast path took only {taken} of {total} mutants"
        );
    }

    #[test]
    fn bad_events_are_errors() {
        assert!(matches!(
            run("[1]", &["a"], false),
            Err(EventError::InvalidJson(_))
        ));
        assert!(matches!(
            run(r#"{"a":1"#, &["a"], false),
            Err(EventError::InvalidJson(_))
        ));
        assert!(matches!(
            run(r#"{"a":1} x"#, &["a"], false),
            Err(EventError::InvalidJson(_))
        ));
        let deep = format!("{}1{}", r#"{"a":"#.repeat(20), "}".repeat(20));
        assert_eq!(
            run(&deep, &["a.a.a.a.a.a.a.a.a.a.a.a"], false),
            Err(EventError::TooDeep)
        );
    }
}
