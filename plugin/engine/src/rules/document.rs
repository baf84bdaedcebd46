//! What every Sigma document shares, whatever its kind (rule, filter,
//! correlation): an error's position, `level`, `tags`, lists of strings.
//! Both `rule` and `correlation` read them, so they live below both.

use crate::rules::yaml::Node;
use crate::vocab::level::Level;

/// An error at a line, before the source name is attached.
pub(crate) struct At {
    pub line: u32,
    pub rule_id: Option<String>,
    pub reason: String,
}

pub(crate) fn at(node: &Node, reason: impl Into<String>) -> At {
    At {
        line: node.line,
        rule_id: None,
        reason: reason.into(),
    }
}

/// A document's `level` (`medium` when absent, as pySigma reads it).
pub(crate) fn level(doc: &Node) -> Result<Level, At> {
    match doc.get("level") {
        None => Ok(Level::Medium),
        Some(n) => n.as_str().and_then(Level::parse).ok_or_else(|| {
            at(
                n,
                "level must be one of informational, low, medium, high, critical",
            )
        }),
    }
}

/// A document's `tags` (none when absent).
pub(crate) fn tags(doc: &Node) -> Result<Vec<String>, At> {
    doc.get("tags").map_or(Ok(Vec::new()), string_list)
}

pub(crate) fn string_list(n: &Node) -> Result<Vec<String>, At> {
    match n.as_seq() {
        Some(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| at(i, "expected a string"))
            })
            .collect(),
        None => n
            .as_str()
            .map(|s| vec![s.to_string()])
            .ok_or_else(|| at(n, "expected a list of strings")),
    }
}
