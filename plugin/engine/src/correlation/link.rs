//! Resolving a pack's correlations against its rules: which rule feeds which
//! correlation, where each event's group-by and value fields are read, and
//! which rules report on their own (`generate`).
//!
//! Linking happens once the whole pack is parsed, because `rules:` may name
//! a rule from a later document or file. Field paths become extraction
//! slots here, so evaluation never looks a name up.

use crate::matching::matcher::Slots;

use crate::rules::correlation::{Def, Kind};

/// Where a correlation reads one of its fields, for events of one position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Locator {
    /// A field of the event (an extraction slot).
    Slot(u32),
    /// The value of the referenced correlation's alert for its `n`th group-by field.
    Group(usize),
    /// The referenced correlation's alert value (count, sum...).
    Value,
}

/// What one entry of `rules:` refers to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A detection rule, by index in the rule table.
    Rule(u32),
    /// A correlation, by index among the correlations.
    Corr(u32),
}

/// One entry of a correlation's `rules:`, resolved.
#[derive(Clone, Debug)]
pub(crate) struct Position {
    /// Where each group-by field is read, in `group-by` order.
    pub group: Vec<Locator>,
    /// Where each `condition.field` is read.
    pub value: Vec<Locator>,
}

/// A linked correlation.
#[derive(Clone, Debug)]
pub(crate) struct Corr {
    /// Its index in the engine's rule table.
    pub rule: u32,
    pub kind: Kind,
    pub timespan_ms: i64,
    pub condition: crate::rules::correlation::Condition,
    /// The names alerts give the group-by values (alias names or paths).
    pub group_names: Vec<String>,
    pub positions: Vec<Position>,
    /// Aggregate columns (see `sigil.aggregate`) and, for each argument,
    /// the slot of the event field it falls back to.
    pub aggregate: Vec<(crate::rules::correlation::AggColumn, Option<u32>)>,
}

/// The correlation network of a pack.
#[derive(Clone, Debug, Default)]
pub(crate) struct Plan {
    pub corrs: Vec<Corr>,
    /// For each detection rule: the (correlation, position) pairs it feeds.
    pub rule_feeds: Vec<Vec<(u32, u16)>>,
    /// For each correlation: the (correlation, position) pairs its alerts feed.
    pub corr_feeds: Vec<Vec<(u32, u16)>>,
    /// For each entry of the rule table (rules, then correlations): whether
    /// its findings or alerts are reported. False for a rule that only
    /// correlations without `generate: true` reference.
    pub emits: Vec<bool>,
}

/// The identity of a detection rule, for resolving references.
pub(crate) struct RuleName<'a> {
    pub id: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// A correlation that does not link: its index among the defs, and why.
pub(crate) struct LinkError {
    pub def: usize,
    pub reason: String,
}

/// Links `defs` against `rules`. Correlations that fail are reported in
/// the error list and left out; so are correlations that reference them.
/// `first_rule_index` is the rule-table index of the first correlation
/// kept (the number of detection rules).
pub(crate) fn link(
    rules: &[RuleName<'_>],
    defs: &[Def],
    slots: &mut dyn Slots,
) -> (Plan, Vec<usize>, Vec<LinkError>) {
    let mut alive: Vec<bool> = vec![true; defs.len()];
    let mut errors = Vec::new();
    loop {
        let kept: Vec<usize> = (0..defs.len()).filter(|&i| alive[i]).collect();
        let mut failed = Vec::new();
        for &i in &kept {
            if let Err(reason) = check(i, rules, defs, &kept) {
                failed.push(LinkError { def: i, reason });
            }
        }
        if failed.is_empty()
            && let Some(cycle) = find_cycle(rules, defs, &kept)
        {
            failed.push(LinkError {
                def: cycle,
                reason: "this correlation references itself through its `rules` (a cycle); a chain must end at detection rules".into(),
            });
        }
        if failed.is_empty() {
            let plan = build(rules, defs, &kept, slots);
            return (plan, kept, errors);
        }
        for f in failed {
            alive[f.def] = false;
            errors.push(f);
        }
    }
}

/// What `name` refers to among the rules and the kept correlations.
fn resolve(
    name: &str,
    rules: &[RuleName<'_>],
    defs: &[Def],
    kept: &[usize],
) -> Result<Source, String> {
    let mut found = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        if r.id == Some(name) || r.name == Some(name) {
            found.push(Source::Rule(i as u32));
        }
    }
    for (k, &d) in kept.iter().enumerate() {
        if defs[d].id.as_deref() == Some(name) || defs[d].name.as_deref() == Some(name) {
            found.push(Source::Corr(k as u32));
        }
    }
    match found.as_slice() {
        [one] => Ok(*one),
        [] => Err(format!(
            "`rules` names `{name}`, but no loaded rule or correlation has that id or name"
        )),
        _ => Err(format!(
            "`rules` names `{name}`, which more than one loaded rule has as id or name; ids and names must be unique"
        )),
    }
}

/// The id and name of a source.
fn identity<'a>(
    s: Source,
    rules: &'a [RuleName<'_>],
    defs: &'a [Def],
    kept: &[usize],
) -> [Option<&'a str>; 2] {
    match s {
        Source::Rule(r) => [rules[r as usize].id, rules[r as usize].name],
        Source::Corr(c) => {
            let d = &defs[kept[c as usize]];
            [d.id.as_deref(), d.name.as_deref()]
        }
    }
}

/// The field a group-by or value name stands for at position `pos`: its
/// alias mapping for that rule, else the name itself.
fn field_for<'d>(
    def: &'d Def,
    name: &'d str,
    reference: &str,
    ident: [Option<&str>; 2],
) -> &'d str {
    let Some((_, mapping)) = def.aliases.iter().find(|(a, _)| a == name) else {
        return name;
    };
    mapping
        .iter()
        .find(|(rule, _)| rule == reference || ident.contains(&Some(rule.as_str())))
        .map_or(name, |(_, field)| field.as_str())
}

fn check(i: usize, rules: &[RuleName<'_>], defs: &[Def], kept: &[usize]) -> Result<(), String> {
    let def = &defs[i];
    let mut sources = Vec::new();
    for r in &def.refs {
        sources.push(resolve(r, rules, defs, kept)?);
    }
    for (alias, mapping) in &def.aliases {
        for (rule, _) in mapping {
            let known = def.refs.iter().zip(&sources).any(|(r, s)| {
                r == rule || identity(*s, rules, defs, kept).contains(&Some(rule.as_str()))
            });
            if !known {
                return Err(format!(
                    "alias `{alias}` maps `{rule}`, which is not among this correlation's rules"
                ));
            }
        }
    }
    for (reference, source) in def.refs.iter().zip(&sources) {
        let Source::Corr(c) = *source else { continue };
        let child = &defs[kept[c as usize]];
        let ident = identity(*source, rules, defs, kept);
        let names: Vec<&str> = def
            .group_by
            .iter()
            .chain(if def.kind.numeric() {
                [].iter()
            } else {
                def.fields.iter()
            })
            .map(String::as_str)
            .collect();
        for name in names {
            let field = field_for(def, name, reference, ident);
            if !child.group_by.iter().any(|g| g == field) {
                return Err(format!(
                    "this correlation reads `{field}` from the alerts of `{reference}`, which does not group by it"
                ));
            }
        }
    }
    Ok(())
}

/// A correlation on a cycle of references among `kept`, if any.
fn find_cycle(rules: &[RuleName<'_>], defs: &[Def], kept: &[usize]) -> Option<usize> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut mark = vec![0u8; kept.len()];
    for start in 0..kept.len() {
        if mark[start] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        mark[start] = 1;
        while let Some((node, next)) = stack.pop() {
            let def = &defs[kept[node]];
            if next < def.refs.len() {
                stack.push((node, next + 1));
                if let Ok(Source::Corr(c)) = resolve(&def.refs[next], rules, defs, kept) {
                    let c = c as usize;
                    match mark[c] {
                        1 => return Some(kept[c]),
                        0 => {
                            mark[c] = 1;
                            stack.push((c, 0));
                        }
                        _ => {}
                    }
                }
            } else {
                mark[node] = 2;
            }
        }
    }
    None
}

fn build(rules: &[RuleName<'_>], defs: &[Def], kept: &[usize], slots: &mut dyn Slots) -> Plan {
    let mut plan = Plan {
        corrs: Vec::with_capacity(kept.len()),
        rule_feeds: vec![Vec::new(); rules.len()],
        corr_feeds: vec![Vec::new(); kept.len()],
        emits: vec![true; rules.len() + kept.len()],
    };
    let mut generated = vec![false; rules.len() + kept.len()];
    let mut referenced = vec![false; rules.len() + kept.len()];
    for (k, &d) in kept.iter().enumerate() {
        let def = &defs[d];
        let mut positions = Vec::with_capacity(def.refs.len());
        for (p, reference) in def.refs.iter().enumerate() {
            let source = resolve(reference, rules, defs, kept).expect("checked before building");
            let ident = identity(source, rules, defs, kept);
            let table_index = match source {
                Source::Rule(r) => {
                    plan.rule_feeds[r as usize].push((k as u32, p as u16));
                    r as usize
                }
                Source::Corr(c) => {
                    plan.corr_feeds[c as usize].push((k as u32, p as u16));
                    rules.len() + c as usize
                }
            };
            referenced[table_index] = true;
            generated[table_index] |= def.generate;
            let mut locate = |name: &str, numeric: bool| -> Locator {
                let field = field_for(def, name, reference, ident);
                match source {
                    Source::Rule(_) => Locator::Slot(slots.slot(field)),
                    Source::Corr(_) if numeric => Locator::Value,
                    Source::Corr(c) => {
                        let child = &defs[kept[c as usize]];
                        Locator::Group(
                            child
                                .group_by
                                .iter()
                                .position(|g| g == field)
                                .expect("checked before building"),
                        )
                    }
                }
            };
            let group = def.group_by.iter().map(|g| locate(g, false)).collect();
            let value = def
                .fields
                .iter()
                .map(|f| locate(f, def.kind.numeric()))
                .collect();
            positions.push(Position { group, value });
        }
        plan.corrs.push(Corr {
            rule: (rules.len() + k) as u32,
            kind: def.kind,
            timespan_ms: def.timespan_ms,
            condition: def.condition.clone(),
            group_names: def.group_by.clone(),
            positions,
            aggregate: def
                .aggregate
                .iter()
                .map(|c| (c.clone(), c.arg.as_deref().map(|a| slots.slot(a))))
                .collect(),
        });
    }
    for (e, (r, g)) in plan.emits.iter_mut().zip(referenced.iter().zip(&generated)) {
        *e = !*r || *g;
    }
    plan
}
