//! Sigma levels and the default score table.

use std::fmt;

/// Severity of a rule, from Sigma's `level` attribute.
///
/// Ordered from least to most severe, so `max()` over findings gives the
/// event's level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// `informational`: context, not an alert.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    /// Every level, least severe first.
    pub const ALL: [Level; 5] = [
        Level::Informational,
        Level::Low,
        Level::Medium,
        Level::High,
        Level::Critical,
    ];

    /// Parses a Sigma level name (lower case, as the specification spells it).
    pub fn parse(name: &str) -> Option<Level> {
        Some(match name {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }

    /// The Sigma name of the level.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Informational => "informational",
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }

    /// The score a finding gets when its rule sets no `sigil.score`.
    ///
    /// | level         | score |
    /// |---------------|-------|
    /// | informational | 10    |
    /// | low           | 30    |
    /// | medium        | 50    |
    /// | high          | 75    |
    /// | critical      | 100   |
    ///
    /// The steps leave room between levels for per-rule scores
    /// (a "high" rule an analyst trusts more can say `sigil: {score: 85}`).
    pub fn default_score(self) -> u8 {
        match self {
            Level::Informational => 10,
            Level::Low => 30,
            Level::Medium => 50,
            Level::High => 75,
            Level::Critical => 100,
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
