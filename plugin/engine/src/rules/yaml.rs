//! A YAML tree that remembers line numbers.
//!
//! Rule errors must name the line of the offending node, and yaml-rust2's
//! own tree forgets positions, so this module builds its own tree from the
//! parser's marked events. Only what Sigma needs is kept: scalars with their
//! raw text and quoting, sequences, mappings (in order) and aliases.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node and the 1-based line it starts on.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub value: Yaml,
    pub line: u32,
}

/// The value of a YAML node.
#[derive(Clone, Debug)]
pub(crate) enum Yaml {
    /// A scalar: its text, and whether it was written plain (unquoted), in
    /// which case `null`, `true`, `42` and friends are not strings.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

/// A scalar resolved with YAML's core schema.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// The scalar under YAML's core schema, or `None` for collections.
    pub fn scalar(&self) -> Option<Scalar<'_>> {
        let Yaml::Scalar { text, plain } = &self.value else {
            return None;
        };
        if !plain {
            return Some(Scalar::Str(text));
        }
        Some(match text.as_str() {
            "" | "~" | "null" | "Null" | "NULL" => Scalar::Null,
            "true" | "True" | "TRUE" => Scalar::Bool(true),
            "false" | "False" | "FALSE" => Scalar::Bool(false),
            t => {
                if let Some(i) = parse_int(t) {
                    Scalar::Int(i)
                } else if let Some(f) = parse_float(t) {
                    Scalar::Float(f)
                } else {
                    Scalar::Str(t)
                }
            }
        })
    }

    /// The raw text of a scalar, whatever its type.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            Yaml::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// The text of a scalar that is a string (or any plain scalar but null).
    pub fn as_str(&self) -> Option<&str> {
        match self.scalar()? {
            Scalar::Null => None,
            _ => self.text(),
        }
    }

    pub fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.value {
            Yaml::Map(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_seq(&self) -> Option<&[Node]> {
        match &self.value {
            Yaml::Seq(s) => Some(s),
            _ => None,
        }
    }

    /// Looks a key up in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }

    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Yaml::Scalar { .. } => "a scalar",
            Yaml::Seq(_) => "a list",
            Yaml::Map(_) => "a map",
        }
    }
}

fn parse_int(t: &str) -> Option<i64> {
    let b = t.as_bytes();
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    t.parse().ok()
}

fn parse_float(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    let body = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    // YAML 1.2 core floats: digits with a dot and/or an exponent; no `inf` or `nan`
    // (a rule matching "nan" means the string).
    let ok = !body.is_empty()
        && body[0] != b'e'
        && body
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+'))
        && body.iter().any(u8::is_ascii_digit);
    if ok { t.parse().ok() } else { None }
}

/// A YAML syntax error with its 1-based line.
#[derive(Debug)]
pub(crate) struct YamlError {
    pub line: u32,
    pub message: String,
}

/// Parses every document of a YAML stream.
///
/// Rule files come from community packs and pull requests, so the work is
/// bounded before anything is built: the text ([`MAX_BYTES`]), the nesting
/// ([`MAX_DEPTH`]) and the nodes of the tree, aliases expanded
/// ([`MAX_NODES`]). The last stops the "billion laughs" shape, where a
/// kilobyte of nested anchors and aliases stands for billions of nodes:
/// each alias costs the size of the tree it copies, checked before copying.
pub(crate) fn load(text: &str) -> Result<Vec<Node>, YamlError> {
    if text.len() > MAX_BYTES {
        return Err(YamlError {
            line: 1,
            message: format!(
                "the file is {} bytes, over the limit of {MAX_BYTES}: split the pack into smaller files",
                text.len()
            ),
        });
    }
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line() as u32,
        message: e.info().to_string(),
    })?;
    if let Some(e) = builder.error {
        return Err(e);
    }
    Ok(builder.docs)
}

/// Deepest YAML nesting accepted in a rule file.
pub(crate) const MAX_DEPTH: usize = 64;

/// Largest rule file, in bytes (the biggest SigmaHQ rule is under 10 KiB).
pub(crate) const MAX_BYTES: usize = 1 << 20;

/// Most nodes in a rule file's trees, every alias counted as the nodes it
/// copies.
pub(crate) const MAX_NODES: usize = 200_000;

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    /// Open collections: the node, its anchor, its node count so far and
    /// the height of its tallest child.
    stack: Vec<(Node, usize, usize, usize)>,
    /// A mapping key waiting for its value, one per open mapping level.
    keys: Vec<Option<Node>>,
    /// Anchored nodes with their node counts and heights.
    anchors: Vec<(usize, Node, usize, usize)>,
    /// Nodes built so far, aliases expanded.
    nodes: usize,
    error: Option<YamlError>,
}

impl Builder {
    /// Counts `n` more nodes; false (and the error set) past the limit.
    fn count(&mut self, n: usize, line: u32) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.error.get_or_insert(YamlError {
                line,
                message: format!(
                    "the file holds more than {MAX_NODES} YAML nodes once its aliases are \
                     expanded (nested anchors and aliases?): write the values out or split the file"
                ),
            });
            return false;
        }
        true
    }

    fn push(&mut self, node: Node, anchor: usize, size: usize, height: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone(), size, height));
        }
        self.insert(node, size, height);
    }

    fn insert(&mut self, node: Node, size: usize, height: usize) {
        let Some((parent, _, parent_size, parent_height)) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
        *parent_size = parent_size.saturating_add(size);
        *parent_height = (*parent_height).max(height);
        match &mut parent.value {
            Yaml::Seq(items) => items.push(node),
            Yaml::Map(entries) => {
                let key = self.keys.last_mut().expect("a map level has a key slot");
                match key.take() {
                    None => *key = Some(node),
                    Some(k) => entries.push((k, node)),
                }
            }
            Yaml::Scalar { .. } => unreachable!("scalars are never pushed on the stack"),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        // After the first error the rest of the stream is only scanned
        // (linear in the text), never built.
        if self.error.is_some() {
            return;
        }
        let line = mark.line() as u32;
        if matches!(
            ev,
            Event::Scalar(..) | Event::SequenceStart(..) | Event::MappingStart(..)
        ) && !self.count(1, line)
        {
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push(
                    Node {
                        value: Yaml::Scalar { text, plain },
                        line,
                    },
                    anchor,
                    1,
                    1,
                );
            }
            Event::SequenceStart(..) | Event::MappingStart(..) if self.stack.len() >= MAX_DEPTH => {
                // Deeper trees serve no rule and would make every later
                // recursive walk (and drop) a stack risk.
                self.error.get_or_insert(YamlError {
                    line,
                    message: format!("nests deeper than {MAX_DEPTH} levels"),
                });
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push((
                    Node {
                        value: Yaml::Seq(Vec::new()),
                        line,
                    },
                    anchor,
                    1,
                    0,
                ));
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((
                    Node {
                        value: Yaml::Map(Vec::new()),
                        line,
                    },
                    anchor,
                    1,
                    0,
                ));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor, size, height)) = self.stack.pop() {
                    if matches!(node.value, Yaml::Map(_)) {
                        self.keys.pop();
                    }
                    self.push(node, anchor, size, height + 1);
                }
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, ..)| *a == id) {
                Some(&(_, _, size, height)) => {
                    // A copy placed deep inside another nests as deep as
                    // both: held to the same depth as written nodes.
                    if self.stack.len() + height > MAX_DEPTH {
                        self.error.get_or_insert(YamlError {
                            line,
                            message: format!(
                                "nests deeper than {MAX_DEPTH} levels (through an alias)"
                            ),
                        });
                        return;
                    }
                    // Counted before the copy, so the copy is bounded.
                    if !self.count(size, line) {
                        return;
                    }
                    let Some((_, node, ..)) = self.anchors.iter().rev().find(|(a, ..)| *a == id)
                    else {
                        return;
                    };
                    let node = node.clone();
                    self.insert(node, size, height);
                }
                None => {
                    self.error.get_or_insert(YamlError {
                        line,
                        message: "unknown alias".into(),
                    });
                }
            },
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd
            | Event::Nothing => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_scalars() {
        let docs = load("a: 1\nb:\n  - 'x'\n  - null\n---\nc: yes\n").unwrap();
        assert_eq!(docs.len(), 2);
        let b = docs[0].get("b").unwrap();
        assert_eq!(b.as_seq().unwrap()[0].scalar(), Some(Scalar::Str("x")));
        assert_eq!(b.as_seq().unwrap()[1].scalar(), Some(Scalar::Null));
        assert_eq!(b.as_seq().unwrap()[1].line, 4);
        assert_eq!(docs[0].get("a").unwrap().scalar(), Some(Scalar::Int(1)));
        assert_eq!(docs[1].get("c").unwrap().scalar(), Some(Scalar::Str("yes")));
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let text = format!("a: {}{}\n", "[".repeat(50_000), "]".repeat(50_000));
        let err = load(&text).unwrap_err();
        assert!(
            err.message.contains("deep") || err.message.contains("recursion"),
            "{err:?}"
        );
    }

    /// Nine levels of ten aliases each: 10^9 nodes from 700 bytes.
    fn billion_laughs() -> String {
        let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            );
        }
        text
    }

    #[test]
    fn alias_expansion_is_bounded() {
        let text = billion_laughs();
        assert!(text.len() < 1024, "{}", text.len());
        let started = std::time::Instant::now();
        let err = load(&text).unwrap_err();
        assert!(err.message.contains("aliases"), "{err:?}");
        // The alias that passes the limit: the sixth level (10^5 nodes
        // each copy) fills 200 000 on its second alias.
        assert_eq!(err.line, 6, "{err:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }

    #[test]
    fn aliases_cannot_stack_depth() {
        // Each anchor nests the previous one 40 levels deeper.
        let mut text = String::from("a0: &a0 x\n");
        for i in 1..10 {
            let p = i - 1;
            text += &format!("a{i}: &a{i} {}*a{p}{}\n", "[".repeat(40), "]".repeat(40));
        }
        let err = load(&text).unwrap_err();
        assert!(err.message.contains("through an alias"), "{err:?}");
        assert_eq!(err.line, 3, "{err:?}");
    }

    #[test]
    fn aliases_within_the_limit_still_load() {
        let docs = load("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(docs[0].get("b").unwrap().as_seq().unwrap().len(), 2);
    }

    #[test]
    fn oversized_file_is_refused_before_parsing() {
        let text = format!("a: '{}'\n", "x".repeat(MAX_BYTES));
        let err = load(&text).unwrap_err();
        assert!(err.message.contains("split the pack"), "{err:?}");
    }

    #[test]
    fn syntax_error_has_line() {
        let err = load("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
