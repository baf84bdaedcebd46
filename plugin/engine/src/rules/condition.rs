//! The Sigma condition grammar.
//!
//! ```text
//! expr   := term ("or" term)*
//! term   := factor ("and" factor)*
//! factor := "not" factor | "(" expr ")" | quant | ident
//! quant  := ("1" | N | "all" | "any") "of" (pattern | "them")
//! ```
//!
//! `not` binds tighter than `and`, which binds tighter than `or`, as the
//! specification says. Keywords are case-insensitive. The deprecated
//! aggregation syntax (`| count() > 5`) is refused with a pointer to
//! correlation rules, which replace it.

/// A parsed condition, before search identifiers are resolved.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Cond {
    Ident(String),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// `N of pattern`: at least `min` of the matching searches (`None` = all).
    Of {
        min: Option<usize>,
        pattern: OfTarget,
    },
}

/// What a quantifier ranges over.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum OfTarget {
    /// `them`: every search identifier not starting with `_`.
    Them,
    /// A name with `*` wildcards.
    Pattern(String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Word(String),
    Open,
    Close,
    Pipe,
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' | '|' => {
                flush(&mut word, &mut out);
                out.push(match c {
                    '(' => Tok::Open,
                    ')' => Tok::Close,
                    _ => Tok::Pipe,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Parses one condition string.
pub(crate) fn parse(s: &str) -> Result<Cond, String> {
    let toks = lex(s);
    if toks.is_empty() {
        return Err("the condition is empty".into());
    }
    if toks.contains(&Tok::Pipe) {
        return Err(
            "aggregations in conditions (`| count() ...`) were removed in Sigma 2.0; \
                    write a correlation rule instead"
                .into(),
        );
    }
    let mut p = P {
        toks,
        pos: 0,
        depth: 0,
    };
    let cond = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(format!("unexpected {} in condition `{s}`", p.describe()));
    }
    Ok(cond)
}

struct P {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

/// Deepest nesting of parentheses and `not` accepted: far beyond any real
/// rule, and it keeps a hostile condition from exhausting the stack.
const MAX_NESTING: usize = 64;

impl P {
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn describe(&self) -> String {
        match self.toks.get(self.pos) {
            None => "end of condition".into(),
            Some(Tok::Word(w)) => format!("`{w}`"),
            Some(Tok::Open) => "`(`".into(),
            Some(Tok::Close) => "`)`".into(),
            Some(Tok::Pipe) => "`|`".into(),
        }
    }

    fn expr(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.term()?];
        while self.peek_kw("or") {
            self.pos += 1;
            items.push(self.term()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Cond::Or(items)
        })
    }

    fn term(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.factor()?];
        while self.peek_kw("and") {
            self.pos += 1;
            items.push(self.factor()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap()
        } else {
            Cond::And(items)
        })
    }

    fn factor(&mut self) -> Result<Cond, String> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(format!(
                "the condition nests deeper than {MAX_NESTING} levels"
            ));
        }
        let result = self.factor_inner();
        self.depth -= 1;
        result
    }

    fn factor_inner(&mut self) -> Result<Cond, String> {
        let tok = self.toks.get(self.pos).cloned();
        match tok {
            Some(Tok::Open) => {
                self.pos += 1;
                let e = self.expr()?;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err(format!("expected `)` but found {}", self.describe()));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("not") => {
                self.pos += 1;
                Ok(Cond::Not(Box::new(self.factor()?)))
            }
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("and") || w.eq_ignore_ascii_case("or") => {
                Err(format!("`{w}` needs an operand before it"))
            }
            Some(Tok::Word(w)) => {
                self.pos += 1;
                if self.peek_kw("of") {
                    self.pos += 1;
                    let min = if w.eq_ignore_ascii_case("all") {
                        None
                    } else if w.eq_ignore_ascii_case("any") {
                        Some(1)
                    } else {
                        match w.parse::<usize>() {
                            Ok(n) if n > 0 => Some(n),
                            _ => {
                                return Err(format!(
                                    "`{w} of` needs `1`, a positive count or `all`"
                                ));
                            }
                        }
                    };
                    let target = match self.toks.get(self.pos) {
                        Some(Tok::Word(t)) if t.eq_ignore_ascii_case("them") => OfTarget::Them,
                        Some(Tok::Word(t)) => OfTarget::Pattern(t.clone()),
                        _ => return Err(format!("`{w} of` needs a name pattern or `them`")),
                    };
                    self.pos += 1;
                    Ok(Cond::Of {
                        min,
                        pattern: target,
                    })
                } else {
                    Ok(Cond::Ident(w))
                }
            }
            Some(Tok::Close) => Err("unexpected `)` in condition".into()),
            Some(Tok::Pipe) | None => Err(format!(
                "expected a search identifier but found {}",
                self.describe()
            )),
        }
    }
}

/// Whether `name` matches a quantifier pattern where `*` is any run of characters.
pub(crate) fn name_matches(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Cond {
        Cond::Ident(s.into())
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(
            parse("a or not b and c").unwrap(),
            Cond::Or(vec![
                id("a"),
                Cond::And(vec![Cond::Not(Box::new(id("b"))), id("c")])
            ])
        );
        assert_eq!(
            parse("(a or b) and c").unwrap(),
            Cond::And(vec![Cond::Or(vec![id("a"), id("b")]), id("c")])
        );
    }

    #[test]
    fn quantifiers() {
        assert_eq!(
            parse("selection and not 1 of filter_*").unwrap(),
            Cond::And(vec![
                id("selection"),
                Cond::Not(Box::new(Cond::Of {
                    min: Some(1),
                    pattern: OfTarget::Pattern("filter_*".into())
                }))
            ])
        );
        assert_eq!(
            parse("all of them").unwrap(),
            Cond::Of {
                min: None,
                pattern: OfTarget::Them
            }
        );
    }

    #[test]
    fn errors() {
        assert!(parse("").is_err());
        assert!(parse("a and").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("a b").is_err());
        assert!(
            parse("selection | count() > 5")
                .unwrap_err()
                .contains("correlation")
        );
        let deep = format!("{}a{}", "(".repeat(100_000), ")".repeat(100_000));
        assert!(parse(&deep).unwrap_err().contains("deeper"));
        assert!(
            parse(&"not ".repeat(100_000))
                .unwrap_err()
                .contains("deeper")
        );
    }

    #[test]
    fn patterns() {
        assert!(name_matches("selection_*", "selection_a"));
        assert!(name_matches("*", "x"));
        assert!(name_matches("a*b*c", "aXbYc"));
        assert!(!name_matches("a*b", "ab_"));
        assert!(!name_matches("sel", "selection"));
    }
}
