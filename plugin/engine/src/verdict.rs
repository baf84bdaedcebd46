//! What the engine says about one event.

use crate::error::EventWarning;
use crate::vocab::level::Level;
use crate::vocab::logsource::Source;

/// Static facts about one loaded rule; `Finding::rule` indexes a table of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleInfo {
    /// The rule's Sigma `id`, or its title when it has none.
    pub id: String,
    /// The rule's Sigma `title`.
    pub title: String,
    /// The rule's Sigma `level` (`medium` when the rule omits it, as pySigma does).
    pub level: Level,
    /// The score of this rule's findings: `sigil.score`, else `level.default_score()`.
    pub score: u8,
    /// The rule's Sigma `tags`, e.g. `attack.t1578.004`.
    pub tags: Vec<String>,
    /// Name of the rule source (file) it came from.
    pub source: String,
    /// 1-based line of the rule's document in that source.
    pub line: u32,
}

/// One rule that matched an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// Index of the rule in `Engine::rules()`.
    pub rule: u32,
    /// The score of this finding.
    pub score: u8,
    /// Labels the rule attaches (`sigil.labels`), in the rule's order: its
    /// constants, projected fields and CASE columns (a field the event lacks
    /// leaves its label out).
    pub labels: Vec<(String, String)>,
}

/// The engine's judgement of one event.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Verdict {
    /// Whether the pipeline should forward the event (see `Options`).
    pub keep: bool,
    /// Highest score among the findings; 0 when there are none.
    pub score: u8,
    /// Highest level among the findings; `None` when there are none.
    pub level: Option<Level>,
    /// Every rule that matched, in rule-table order.
    pub findings: Vec<Finding>,
    /// The log source the engine recognised the event as (`aws.cloudtrail`,
    /// `azure.activity`, `sentinel.AzureActivity`, ...; see the crate docs);
    /// `None` for an event of no known shape, and for events the prefilter
    /// ruled out, which are not parsed.
    pub source: Option<Source>,
    /// What kept the event from being read as it came (invalid UTF-8, a
    /// size over the limit, ...): the verdict is on what could be read.
    /// Empty for nearly every event.
    pub warnings: Vec<EventWarning>,
}

impl Verdict {
    /// True when at least one rule matched.
    pub fn matched(&self) -> bool {
        !self.findings.is_empty()
    }
}
