//! Pulls the fields the loaded rules name out of a raw JSON event, without
//! building a tree.
//!
//! The rules' field paths form a trie. The walker descends only into keys
//! the trie knows and skips everything else with serde's `IgnoredAny`, which
//! validates but keeps nothing. Strings without escapes are borrowed from
//! the input. Arrays are transparent: `a.b` reaches `b` in every element of
//! an array under `a`, so a test on `a.b` holds when any element holds it.
//! A key that itself contains dots (`"a.b": 1`, as flattened logs have)
//! also answers the path `a.b`.

use std::borrow::Cow;
use std::fmt;

use rustc_hash::FxHashMap;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::EventError;
use crate::rule::KEYWORDS;
use crate::value::Val;

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
    index: Option<FxHashMap<Box<str>, u32>>,
    slot: Option<u32>,
    /// The slot that sees this node's value as JSON text (see
    /// [`Trie::json_slot`]).
    json: Option<u32>,
}

/// Children past which a node gets a hash index.
const INDEX_AT: usize = 8;

impl Trie {
    pub fn new() -> Trie {
        // Node 0 is the root; slot 0 is reserved for keywords.
        Trie { nodes: vec![TNode::default()], paths: vec![String::new()], json: Vec::new() }
    }

    /// The slot of `path`, adding it when new.
    pub fn slot(&mut self, path: &str) -> u32 {
        let mut node = 0u32;
        for seg in path.split('.') {
            node = match self.child(node, seg) {
                Some(c) => c,
                None => {
                    let id = self.nodes.len() as u32;
                    self.nodes.push(TNode::default());
                    let parent = &mut self.nodes[node as usize];
                    parent.children.push((seg.into(), id));
                    if parent.children.len() > INDEX_AT {
                        parent.index = Some(parent.children.iter().cloned().collect());
                    }
                    id
                }
            };
        }
        if let Some(s) = self.nodes[node as usize].slot {
            return s;
        }
        let s = self.paths.len() as u32;
        self.paths.push(path.to_string());
        self.nodes[node as usize].slot = Some(s);
        s
    }

    /// A slot that sees the value at `path` as JSON text: an object or array
    /// as its raw JSON, a scalar as it is. SIEM columns of KQL's `dynamic`
    /// type are searched that way. Apart from the path's own slot, so that
    /// other rules' tests on the path keep Sigma's meaning.
    pub fn json_slot(&mut self, path: &str) -> u32 {
        let plain = self.slot(path);
        let node = self.node_of(plain);
        if let Some(s) = self.nodes[node as usize].json {
            return s;
        }
        let s = self.paths.len() as u32;
        self.paths.push(path.to_string());
        self.nodes[node as usize].json = Some(s);
        self.json.push(s);
        s
    }

    /// Whether `slot` is a JSON-text slot.
    pub fn is_json(&self, slot: u32) -> bool {
        self.json.contains(&slot)
    }

    fn node_of(&self, slot: u32) -> u32 {
        let mut node = 0u32;
        for seg in self.paths[slot as usize].split('.') {
            node = self.child(node, seg).expect("a slot's path is in the trie");
        }
        node
    }

    /// The path of a slot.
    pub fn path(&self, slot: u32) -> &str {
        &self.paths[slot as usize]
    }

    /// How many slots exist (keywords included).
    pub fn slots(&self) -> usize {
        self.paths.len()
    }

    fn child(&self, node: u32, key: &str) -> Option<u32> {
        let n = &self.nodes[node as usize];
        if let Some(index) = &n.index {
            return index.get(key).copied();
        }
        n.children
            .iter()
            .find(|(k, _)| k.len() == key.len() && **k == *key)
            .map(|(_, c)| *c)
    }

    /// The node reached from `node` by `key`, where a dotted key may span
    /// several segments.
    fn step(&self, node: u32, key: &str) -> Option<u32> {
        if let Some(c) = self.child(node, key) {
            return Some(c);
        }
        if !key.contains('.') {
            return None;
        }
        let mut n = node;
        for seg in key.split('.') {
            n = self.child(n, seg)?;
        }
        Some(n)
    }
}

/// Extracts from `event` the values of every trie path, and every string
/// value under [`KEYWORDS`] when `keywords` is set.
pub(crate) fn extract<'a>(
    event: &'a [u8],
    trie: &Trie,
    keywords: bool,
    max_depth: u32,
    out: &mut Vec<(u32, Val<'a>)>,
) -> Result<(), EventError> {
    let mut de = serde_json::Deserializer::from_slice(event);
    let walk = Walk { trie, node: Some(0), keywords, depth: 0, max_depth, out, top: true };
    let mapped = |e: serde_json::Error| {
        let msg = e.to_string();
        if msg.starts_with(TOO_DEEP) || msg.starts_with("recursion limit exceeded") {
            EventError::TooDeep
        } else if msg.contains("invalid unicode code point") || msg.contains("UTF-8") {
            EventError::InvalidUtf8
        } else {
            EventError::InvalidJson(msg)
        }
    };
    walk.deserialize(&mut de).map_err(mapped)?;
    de.end().map_err(mapped)
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
    top: bool,
}

impl<'a> Walk<'_, '_, 'a> {
    fn slot(&self) -> Option<u32> {
        self.node.and_then(|n| self.trie.nodes[n as usize].slot)
    }

    fn push(&mut self, v: Val<'a>) {
        if let Some(j) = self.json() {
            if !matches!(v, Val::Compound) {
                self.out.push((j, v.clone()));
            }
        }
        if let Some(s) = self.slot() {
            self.out.push((s, v));
        }
    }

    fn json(&self) -> Option<u32> {
        self.node.and_then(|n| self.trie.nodes[n as usize].json)
    }

    fn push_str(&mut self, s: Cow<'a, str>) {
        if self.keywords {
            self.out.push((KEYWORDS, Val::Str(s.clone())));
        }
        self.push(Val::Str(s));
    }

    fn not_object<E: de::Error>(&self) -> Result<(), E> {
        if self.top { Err(E::custom(NOT_OBJECT)) } else { Ok(()) }
    }

    fn child(&mut self, node: Option<u32>) -> Walk<'_, '_, 'a> {
        Walk {
            trie: self.trie,
            node,
            keywords: self.keywords,
            depth: self.depth + 1,
            max_depth: self.max_depth,
            out: self.out,
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
                let compact = if text.bytes().any(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t')) {
                    let mut out = Vec::with_capacity(text.len());
                    crate::input::minify_into(text.as_bytes(), &mut out);
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
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let next = self.node.and_then(|n| self.trie.step(n, key.as_ref()));
            map.next_value_seed(self.child(next))?;
        }
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
mod tests {
    use super::*;

    fn run(event: &str, paths: &[&str], keywords: bool) -> Result<Vec<(String, Val<'static>)>, EventError> {
        let mut trie = Trie::new();
        for p in paths {
            trie.slot(p);
        }
        let owned: &'static [u8] = Box::leak(event.as_bytes().to_vec().into_boxed_slice());
        let mut out = Vec::new();
        extract(owned, &trie, keywords, 8, &mut out)?;
        Ok(out.into_iter().map(|(s, v)| (trie.paths[s as usize].clone(), v)).collect())
    }

    #[test]
    fn nested_arrays_and_dotted_keys() {
        let got = run(
            r#"{"a":{"items":[{"id":"x"},{"id":"y"}]},"b.c":1,"z":{"q":"skip"}}"#,
            &["a.items.id", "b.c"],
            false,
        )
        .unwrap();
        let ids: Vec<_> = got.iter().filter(|(p, _)| p == "a.items.id").map(|(_, v)| v.clone()).collect();
        assert_eq!(ids, vec![Val::Str("x".into()), Val::Str("y".into())]);
        assert!(got.contains(&("b.c".to_string(), Val::Num(1.0))));
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

    #[test]
    fn bad_events_are_errors() {
        assert!(matches!(run("[1]", &["a"], false), Err(EventError::InvalidJson(_))));
        assert!(matches!(run(r#"{"a":1"#, &["a"], false), Err(EventError::InvalidJson(_))));
        assert!(matches!(run(r#"{"a":1} x"#, &["a"], false), Err(EventError::InvalidJson(_))));
        let deep = format!("{}1{}", r#"{"a":"#.repeat(20), "}".repeat(20));
        assert_eq!(run(&deep, &["a.a.a.a.a.a.a.a.a.a.a.a"], false), Err(EventError::TooDeep));
    }
}
