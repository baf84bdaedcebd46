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
pub(crate) fn load(text: &str) -> Result<Vec<Node>, YamlError> {
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
const MAX_DEPTH: usize = 64;

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<(Node, usize)>,
    /// A mapping key waiting for its value, one per open mapping level.
    keys: Vec<Option<Node>>,
    anchors: Vec<(usize, Node)>,
    error: Option<YamlError>,
}

impl Builder {
    fn push(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.push((anchor, node.clone()));
        }
        self.insert(node);
    }

    fn insert(&mut self, node: Node) {
        let Some((parent, _)) = self.stack.last_mut() else {
            self.docs.push(node);
            return;
        };
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
        let line = mark.line() as u32;
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                self.push(
                    Node {
                        value: Yaml::Scalar { text, plain },
                        line,
                    },
                    anchor,
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
                ));
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push((
                    Node {
                        value: Yaml::Map(Vec::new()),
                        line,
                    },
                    anchor,
                ));
                self.keys.push(None);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, anchor)) = self.stack.pop() {
                    if matches!(node.value, Yaml::Map(_)) {
                        self.keys.pop();
                    }
                    self.push(node, anchor);
                }
            }
            Event::Alias(id) => match self.anchors.iter().rev().find(|(a, _)| *a == id) {
                Some((_, node)) => {
                    let node = node.clone();
                    self.insert(node);
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

    #[test]
    fn syntax_error_has_line() {
        let err = load("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
