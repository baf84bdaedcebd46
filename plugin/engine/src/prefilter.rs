//! Rejecting events that cannot match, before parsing them.
//!
//! From each rule's detection tree the compiler derives literals that any
//! matching event must contain, as a conjunction of clauses, each clause a
//! set of literals of which one must occur (`eventName: [StopInstances,
//! StartInstances]` gives one clause of two). One Aho-Corasick automaton
//! over every literal scans the raw bytes; a rule is a candidate when each
//! of its clauses saw a hit. Events with no candidate are never parsed.
//!
//! # Soundness
//!
//! The prefilter must never drop an event that full evaluation would
//! match. Three things could hide a literal from a byte scan, and each is
//! handled:
//!
//! - JSON escapes (`\u0052` for `R`, `\/` for `/`): an event holding `\u`
//!   or `\/` is not scanned; every rule is a candidate. Other escapes
//!   (`\"`, `\\`, `\n`, ...) cannot hide a literal, because literals never
//!   contain `"`, `\` or control characters.
//! - Case: matching is case-insensitive by Unicode lower-casing, the scan by
//!   ASCII folding. Literals are ASCII only, and the only non-ASCII
//!   characters whose lower case contains ASCII letters are U+0130 (`İ`,
//!   lower `i̇`) and U+212A (Kelvin sign, lower `k`); an event holding either
//!   is not scanned.
//! - Numbers: a literal made only of digits, `.` and `-` could be the text
//!   of a number written differently in the JSON (`4.2e1`); such literals
//!   are never used.
//!
//! A rule for which no literal can be derived (a `not`, a regex, a numeric
//! comparison) is a candidate for every event.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::matcher::{FieldCond, StrPat, Test};
use crate::rule::Expr;
use crate::value::Piece;

type Clause = Vec<String>;

/// The compiled prefilter of a rule pack.
#[derive(Clone, Debug)]
pub(crate) struct Prefilter {
    ac: Option<AhoCorasick>,
    /// For each literal: the (rule, clause) pairs it satisfies.
    users: Vec<Vec<(u32, u8)>>,
    /// For each rule: the bit mask of all its clauses; 0 means "always a candidate".
    full: Vec<u64>,
    always: Vec<u32>,
    literals: Vec<String>,
}

/// Reusable state of one scan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    masks: Vec<u64>,
    touched: Vec<u32>,
    seen: Vec<bool>,
    seen_list: Vec<u32>,
}

const MAX_CLAUSES: usize = 64;

impl Prefilter {
    /// Builds the prefilter for rules whose detections are `exprs`.
    ///
    /// `keys` gives, for a field slot, the last key of its path: a field
    /// test that needs the field present needs that key in the raw text.
    pub fn build<'e>(exprs: impl Iterator<Item = &'e Expr>, keys: &dyn Fn(u32) -> Option<String>) -> Prefilter {
        let mut literals: Vec<String> = Vec::new();
        let mut users: Vec<Vec<(u32, u8)>> = Vec::new();
        let mut full = Vec::new();
        let mut always = Vec::new();
        for (rule, expr) in exprs.enumerate() {
            let mut clauses = required(expr, keys).unwrap_or_default();
            clauses.truncate(MAX_CLAUSES);
            if clauses.is_empty() {
                always.push(rule as u32);
                full.push(0);
                continue;
            }
            full.push(if clauses.len() == 64 { u64::MAX } else { (1u64 << clauses.len()) - 1 });
            for (ci, clause) in clauses.iter().enumerate() {
                for lit in clause {
                    let id = match literals.iter().position(|l| l == lit) {
                        Some(i) => i,
                        None => {
                            literals.push(lit.clone());
                            users.push(Vec::new());
                            literals.len() - 1
                        }
                    };
                    if !users[id].contains(&(rule as u32, ci as u8)) {
                        users[id].push((rule as u32, ci as u8));
                    }
                }
            }
        }
        let ac = if literals.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&literals)
                    .or_else(|_| {
                        AhoCorasick::builder()
                            .ascii_case_insensitive(true)
                            .match_kind(MatchKind::Standard)
                            .build(&literals)
                    })
                    .expect("literals are plain ASCII and few"),
            )
        };
        Prefilter { ac, users, full, always, literals }
    }

    /// How many rules are candidates for every event.
    pub fn always_count(&self) -> usize {
        self.always.len()
    }

    /// The rules that are candidates for every event.
    pub fn always(&self) -> &[u32] {
        &self.always
    }

    /// How many distinct literals the automaton holds.
    pub fn literal_count(&self) -> usize {
        self.literals.len()
    }

    /// Writes to `out`, in ascending order, the rules that may match `event`.
    pub fn candidates(&self, event: &[u8], s: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        if !scannable(event) {
            out.extend(0..self.full.len() as u32);
            return;
        }
        if let Some(ac) = &self.ac {
            if s.masks.len() != self.full.len() {
                s.masks = vec![0; self.full.len()];
                s.seen = vec![false; self.literals.len()];
            }
            for m in ac.find_overlapping_iter(event) {
                let lit = m.pattern().as_u32();
                if std::mem::replace(&mut s.seen[lit as usize], true) {
                    continue;
                }
                s.seen_list.push(lit);
                for &(rule, clause) in &self.users[lit as usize] {
                    let mask = &mut s.masks[rule as usize];
                    if *mask == 0 {
                        s.touched.push(rule);
                    }
                    *mask |= 1 << clause;
                }
            }
            for &rule in &s.touched {
                if s.masks[rule as usize] == self.full[rule as usize] {
                    out.push(rule);
                }
                s.masks[rule as usize] = 0;
            }
            for &lit in &s.seen_list {
                s.seen[lit as usize] = false;
            }
            s.touched.clear();
            s.seen_list.clear();
        }
        if !self.always.is_empty() {
            out.extend_from_slice(&self.always);
        }
        out.sort_unstable();
    }
}

/// Whether the raw bytes can be scanned soundly (see the module doc).
fn scannable(event: &[u8]) -> bool {
    for i in memchr::memchr3_iter(b'\\', 0xC4, 0xE2, event) {
        let next = &event[i + 1..];
        match event[i] {
            b'\\' if matches!(next.first(), Some(b'u' | b'/')) => return false,
            0xC4 if next.first() == Some(&0xB0) => return false,
            0xE2 if next.starts_with(&[0x84, 0xAA]) => return false,
            _ => {}
        }
    }
    true
}

/// The clauses an event must satisfy for `expr` to hold; `None` when
/// nothing can be required.
fn required(expr: &Expr, keys: &dyn Fn(u32) -> Option<String>) -> Option<Vec<Clause>> {
    match expr {
        Expr::Field(fc) => field_clauses(fc, keys(fc.slot)),
        Expr::Keywords(fc) => field_clauses(fc, None),
        Expr::And(items) => {
            let all: Vec<Clause> = items.iter().filter_map(|i| required(i, keys)).flatten().collect();
            if all.is_empty() { None } else { Some(all) }
        }
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            let mut union = Vec::new();
            for item in items {
                let clauses = required(item, keys)?;
                let best = clauses.into_iter().max_by_key(|c| quality(c))?;
                union.extend(best);
            }
            union.sort();
            union.dedup();
            Some(vec![union])
        }
        Expr::Not(_) => None,
    }
}

fn field_clauses(fc: &FieldCond, key: Option<String>) -> Option<Vec<Clause>> {
    let by_key = || key.as_deref().and_then(piece).map(|k| vec![vec![k]]);
    if fc.neq {
        return by_key();
    }
    let lits: Vec<Option<String>> = fc.tests.iter().map(literal).collect();
    let by_value = if fc.all {
        let clauses: Vec<Clause> = lits.into_iter().flatten().map(|l| vec![l]).collect();
        if clauses.is_empty() { None } else { Some(clauses) }
    } else {
        lits.into_iter().collect::<Option<Clause>>().map(|c| vec![c])
    };
    // A test that needs the field present needs its key in the raw text.
    let present = fc.all || fc.tests.iter().all(|t| !matches!(t, Test::Null | Test::Exists(false)));
    by_value.or_else(|| if present { by_key() } else { None })
}

/// The literal a value must contain for `t` to hold, if one can be used.
fn literal(t: &Test) -> Option<String> {
    match t {
        Test::Str { pat: StrPat::Anchored(_, s), .. } => text_literal(s),
        Test::Str { pat: StrPat::Glob(pieces), .. } => pieces
            .iter()
            .filter_map(|p| match p {
                Piece::Lit(l) => text_literal(l),
                _ => None,
            })
            .max_by_key(|l| l.len()),
        Test::Re(re) => regex_literal(re.as_str()),
        Test::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The longest usable piece of a pattern's text. A text that reads as a
/// number gives none: a JSON number can spell it differently (`4.2e1`).
fn text_literal(text: &str) -> Option<String> {
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+') {
        return None;
    }
    piece(text)
}

/// The longest run of at least 3 bytes that a raw scan can find as is:
/// printable ASCII other than `"` and `\`. Any run of the lower-cased
/// pattern appears in the raw text of a value the pattern matches (see the
/// module doc on case), so cutting the pattern at other bytes stays sound.
fn piece(text: &str) -> Option<String> {
    text.split(|c: char| !(' '..='~').contains(&c) || c == '"' || c == '\\')
        .filter(|p| p.len() >= 3)
        .max_by_key(|p| p.len())
        .map(str::to_string)
}

/// A literal that every match of the regular expression `re` contains:
/// the longest run of plain characters at the top level, when the pattern
/// has no alternation and no verbose mode. `None` when unsure.
fn regex_literal(re: &str) -> Option<String> {
    if re.contains('|') || re.contains("(?x") {
        return None;
    }
    let mut best = String::new();
    let mut run = String::new();
    let mut depth = 0usize;
    let mut chars = re.chars().peekable();
    let finish = |run: &mut String, best: &mut String| {
        if run.len() > best.len() {
            *best = run.clone();
        }
        run.clear();
    };
    while let Some(c) = chars.next() {
        if depth > 0 {
            match c {
                '\\' => {
                    chars.next();
                }
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            continue;
        }
        match c {
            '\\' => match chars.next() {
                Some(e) if e.is_ascii_punctuation() => run.push(e),
                _ => finish(&mut run, &mut best),
            },
            '*' | '?' | '{' => {
                // The previous character was optional or repeated from zero.
                run.pop();
                finish(&mut run, &mut best);
                if c == '{' {
                    for n in chars.by_ref() {
                        if n == '}' {
                            break;
                        }
                    }
                }
            }
            '+' => finish(&mut run, &mut best),
            '(' => {
                finish(&mut run, &mut best);
                depth = 1;
            }
            '.' | '[' | '^' | '$' | ')' => {
                finish(&mut run, &mut best);
                if c == '[' {
                    // Skip the class; a `]` first in a class is literal.
                    let mut first = true;
                    while let Some(n) = chars.next() {
                        match n {
                            '\\' => {
                                chars.next();
                            }
                            ']' if !first => break,
                            _ => {}
                        }
                        first = false;
                    }
                }
            }
            c => run.push(c),
        }
    }
    finish(&mut run, &mut best);
    text_literal(&best.to_lowercase())
}

/// How selective a clause is: its weakest literal's length, where service
/// host names (`ec2.amazonaws.com`) that most events of a service share
/// count as weak.
fn quality(c: &Clause) -> usize {
    c.iter()
        .map(|l| if l.ends_with("amazonaws.com") || l.ends_with("googleapis.com") { 1 } else { l.len() })
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scannable_rejects_hiding_places() {
        assert!(scannable(br#"{"a":"x\"y\\z\n"}"#));
        assert!(!scannable(br#"{"a":"\u0052"}"#));
        assert!(!scannable(br#"{"a":"a\/b"}"#));
        assert!(!scannable("{\"a\":\"\u{212A}\"}".as_bytes()));
        assert!(!scannable("{\"a\":\"\u{130}\"}".as_bytes()));
        assert!(scannable("{\"a\":\"é\"}".as_bytes()));
    }

    #[test]
    fn only_two_non_ascii_chars_lower_to_ascii() {
        let odd: Vec<char> = (0x80..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|c| c.to_lowercase().any(|l| l.is_ascii()))
            .collect();
        assert_eq!(odd, vec!['\u{130}', '\u{212A}']);
    }

    #[test]
    fn usable_literals() {
        assert_eq!(text_literal("StopInstances").as_deref(), Some("StopInstances"));
        assert_eq!(text_literal("ab"), None);
        assert_eq!(text_literal("12.5"), None);
        assert_eq!(text_literal("i-12.5").as_deref(), Some("i-12.5"));
        assert_eq!(text_literal("ab\"cdef").as_deref(), Some("cdef"));
        assert_eq!(text_literal("update app – certs").as_deref(), Some("update app "));
    }

    #[test]
    fn regex_literals() {
        assert_eq!(regex_literal(".+:assumed-role/aws:.+").as_deref(), Some(":assumed-role/aws:"));
        assert_eq!(regex_literal("(?i)^abcd?e").as_deref(), Some("abc"));
        assert_eq!(regex_literal("a|bcdef"), None);
        assert_eq!(regex_literal("x[abc]yzw\\.com").as_deref(), Some("yzw.com"));
        assert_eq!(regex_literal("(foo)+bar").as_deref(), Some("bar"));
        assert_eq!(regex_literal("(foo)?"), None);
        assert_eq!(regex_literal("qq(foo)*barbaz").as_deref(), Some("barbaz"));
    }
}
