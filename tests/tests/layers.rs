//! The import directions of ARCHITECTURE.md, checked on the source.
//!
//! The engine is a stack of rooms (`vocab` at the bottom, `engine` at the
//! top); a module may import only the rooms its own room is allowed to. In
//! both the engine and the host no two modules may import each other, even
//! through others. A regression here is an architectural one: move the
//! shared item down to a room both sides may import instead of allowing
//! the arrow.
//!
//! Paths are read from the text (`crate::a::b`, `super::c`, grouped
//! `use crate::{a::X, b}`), not from the compiler: a path the check cannot
//! resolve to a file fails the test, so a new form of import cannot slip
//! past it unnoticed.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Which rooms each engine room may import (its own room always).
const ENGINE_ROOMS: &[(&str, &[&str])] = &[
    ("error", &[]),
    ("options", &[]),
    ("vocab", &[]),
    ("matching", &["vocab", "error", "options"]),
    ("rules", &["matching", "vocab", "error", "options"]),
    ("scan", &["matching", "vocab", "error", "options"]),
    ("verdict", &["vocab", "error", "options"]),
    (
        "export",
        &["scan", "rules", "matching", "vocab", "error", "options"],
    ),
    (
        "correlation",
        &["verdict", "rules", "matching", "vocab", "error", "options"],
    ),
    (
        "engine",
        &[
            "correlation",
            "verdict",
            "scan",
            "rules",
            "matching",
            "vocab",
            "error",
            "options",
        ],
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every module file of a crate, as its module path (`["scan", "prefilter"]`)
/// and its text without comments and test modules.
fn modules(src: &Path) -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            // Test modules may reach anywhere (they test through the front door).
            if parts.last().is_some_and(|p| p == "tests") {
                continue;
            }
            out.insert(parts, code_of(&fs::read_to_string(&path).unwrap()));
        }
    }
    out
}

/// The text before the file's `#[cfg(test)]` module, comments removed.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module paths a file's text names: `crate::a::b::Item`,
/// `super::x::Item`, and the members of `crate::{a::X, b}` groups.
fn paths(module: &[String], code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent(module))] {
        let mut rest = code;
        while let Some(i) = rest.find(prefix) {
            // `super::` inside `crate::...::super::` does not occur; a word
            // ending in the prefix (`my_crate::`) is not it.
            let before = rest[..i].chars().next_back();
            rest = &rest[i + prefix.len()..];
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                continue;
            }
            if let Some(group) = rest.strip_prefix('{') {
                let end = matching_brace(group);
                for member in split_top(&group[..end]) {
                    out.push(join(&base, &words(member)));
                }
            } else {
                out.push(join(&base, &words(rest)));
            }
        }
    }
    out
}

fn parent(module: &[String]) -> Vec<String> {
    module[..module.len().saturating_sub(1)].to_vec()
}

fn join(base: &[String], tail: &[String]) -> Vec<String> {
    base.iter().chain(tail).cloned().collect()
}

/// `a::b::{...}` or `a::b::Item` → `["a", "b", "Item"]` (up to a brace).
fn words(s: &str) -> Vec<String> {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
        .unwrap_or(s.len());
    s[..end]
        .split("::")
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut out, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|m| !m.trim().is_empty()).collect()
}

/// The longest module of `mods` that `path` starts with (the item's
/// module): `scan::prefilter::Prefilter` → `scan::prefilter`.
fn resolve<'m>(
    mods: &'m BTreeMap<Vec<String>, String>,
    path: &[String],
) -> Option<&'m Vec<String>> {
    (0..=path.len())
        .rev()
        .find_map(|n| mods.get_key_value(&path[..n]).map(|(k, _)| k))
}

/// The import graph: module → modules it names (itself and its own
/// submodules left out: declaring a child is not depending on it, and
/// the child's arrows are its own).
fn graph(src: &Path) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let mods = modules(src);
    let mut g = BTreeMap::new();
    for (module, code) in &mods {
        let mut deps = BTreeSet::new();
        for path in paths(module, code) {
            if path.first().is_some_and(|w| w == "self") {
                continue;
            }
            let target = resolve(&mods, &path)
                .unwrap_or_else(|| panic!("{module:?}: cannot resolve `{}`", path.join("::")));
            if target != module && !target.starts_with(module) {
                deps.insert(target.clone());
            }
        }
        g.insert(module.clone(), deps);
    }
    g
}

/// A cycle in `g`, if any, as the modules along it.
fn cycle(g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Open,
        Done,
    }
    fn visit(
        n: &Vec<String>,
        g: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        marks: &mut BTreeMap<Vec<String>, Mark>,
        path: &mut Vec<Vec<String>>,
    ) -> Option<Vec<String>> {
        match marks[n] {
            Mark::Done => return None,
            Mark::Open => {
                let from = path.iter().position(|p| p == n).unwrap();
                let mut c: Vec<String> = path[from..].iter().map(|p| p.join("::")).collect();
                c.push(n.join("::"));
                return Some(c);
            }
            Mark::New => {}
        }
        marks.insert(n.clone(), Mark::Open);
        path.push(n.clone());
        for d in &g[n] {
            if let Some(c) = visit(d, g, marks, path) {
                return Some(c);
            }
        }
        path.pop();
        marks.insert(n.clone(), Mark::Done);
        None
    }
    let mut marks: BTreeMap<_, _> = g.keys().map(|k| (k.clone(), Mark::New)).collect();
    g.keys()
        .find_map(|n| visit(n, g, &mut marks, &mut Vec::new()))
}

fn room(module: &[String]) -> &str {
    module.first().map_or("lib", String::as_str)
}

#[test]
fn engine_rooms_import_only_downwards() {
    let g = graph(&root().join("plugin/engine/src"));
    let allowed: BTreeMap<&str, &[&str]> = ENGINE_ROOMS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (module, deps) in &g {
        let from = room(module);
        if from == "lib" {
            continue;
        }
        let may = allowed.get(from).unwrap_or_else(|| {
            panic!("room `{from}` is not in ENGINE_ROOMS: give it its place in the stack")
        });
        for d in deps {
            let to = room(d);
            if to != from && !may.contains(&to) {
                wrong.push(format!("{} imports {}", module.join("::"), d.join("::")));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against ARCHITECTURE.md's directions:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn engine_has_no_import_cycle() {
    let g = graph(&root().join("plugin/engine/src"));
    assert_eq!(cycle(&g), None);
}

#[test]
fn host_has_no_import_cycle() {
    let g = graph(&root().join("host/src"));
    assert_eq!(cycle(&g), None);
}

/// The check itself: it sees an upward import and a circle.
#[test]
fn the_check_catches_what_it_must() {
    let mods: BTreeMap<Vec<String>, String> = [
        (
            vec!["a".to_string()],
            "use crate::b::{self, X};".to_string(),
        ),
        (
            vec!["b".to_string()],
            "fn f() { super::a::g() }".to_string(),
        ),
    ]
    .into_iter()
    .collect();
    let mut g = BTreeMap::new();
    for (m, code) in &mods {
        let deps = paths(m, code)
            .iter()
            .filter_map(|p| resolve(&mods, p).cloned())
            .filter(|t| t != m)
            .collect();
        g.insert(m.clone(), deps);
    }
    assert_eq!(cycle(&g), Some(vec!["a".into(), "b".into(), "a".into()]));
}
