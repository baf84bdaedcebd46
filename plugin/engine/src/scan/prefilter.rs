//! Rejecting events that cannot match, before parsing them.
//!
//! From each rule's detection tree the compiler derives *atoms*, facts
//! about the raw text that any event the rule matches must show, grouped
//! as a conjunction of clauses, each clause a set of atoms of which one
//! must hold. An atom is one of:
//!
//! - `Key(k)`: some JSON key ends with the path segment `k` (the rule
//!   tests a field that must be present);
//! - `Value(k, anchor, lit)`: some string value under a key ending with
//!   `k` equals, starts with, ends with or contains `lit` (ASCII
//!   case-insensitively);
//! - `Keyword(lit)`: some string value contains `lit` (keyword searches).
//!
//! One pass over the raw bytes tokenises the JSON just enough to see keys
//! and string values and which key governs each value (inside arrays, the
//! array's key); texts without backslashes are tokenised from a bit index
//! of their quotes and brackets built 64 bytes at a time (`structural`),
//! the rest byte by byte. Keys are looked up in a table of the keys rules
//! name (`wordtable`); values only under those keys are compared, exact
//! values by table too, `contains` literals by substring search (behind
//! one filter for all of a key's literals, `contains_filter`). A rule
//! is a candidate when each of its clauses has an atom that held; events
//! with no candidate are never parsed, and nothing is allocated for them.
//!
//! # Soundness
//!
//! The prefilter must never drop an event that full evaluation would match.
//!
//! - Paths: a value the evaluator reads at `a.b.c` sits under a key `c`, or
//!   under a dotted key ending in `.c`, possibly inside arrays; the scanner
//!   compares the governing key's last segment, so it sees every such value.
//! - Escapes: every escape (`\u0052`, `\/`, `\"`, ...) is decoded before
//!   comparing, as the parser decodes it; a string with a broken escape, or
//!   with an escaped character whose lower case hides ASCII (below), makes
//!   the scanner give up: every rule is then a candidate. Keywords are
//!   searched in the raw text, not string by string, so in a text with an
//!   escaped string every keyword atom is taken to hold.
//! - Case: matching is case-insensitive by Unicode lower-casing, the scan by
//!   ASCII folding. Literals are ASCII only (a pattern with other
//!   characters contributes its longest ASCII run, as a `contains` atom),
//!   and the only non-ASCII characters whose lower case contains ASCII
//!   letters are U+0130 (`İ`) and U+212A (Kelvin sign), so an event holding
//!   either is not scanned.
//! - Numbers: a pattern that reads as a number could match a JSON number
//!   spelt differently (`4.2e1`), so it contributes only a `Key` atom.
//! - Structure: the scanner checks brackets and strings but not the rest of
//!   the grammar. On text it cannot follow (nesting over 128) or that is
//!   not one JSON value (a bracket that closes what it did not open, an
//!   unterminated string, a second value) it gives up and every rule is a
//!   candidate, so the parser sees the text and reports the error; on
//!   other malformed text it may call a rule a candidate, with the same
//!   effect, or none.
//!
//! A rule for which no atom can be derived (a lone `not`, `field: null`)
//! is a candidate for every event; [`Prefilter::always`] lists them.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use rustc_hash::FxHashMap;

use crate::matching::expr::Expr;
use crate::matching::matcher::{FieldCond, StrPat, Test};
use crate::scan::contains_filter::{ContainsFilter, lower_padded};
use crate::scan::extract::hex4;
use crate::scan::structural::{self, has_dot, quote_or_backslash};
use crate::scan::wordtable::{KeyTable, WordTable, len_bit, same};
use crate::vocab::value::{Anchor, Piece};

/// A fact about the raw text that a matching event must show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Atom {
    Key(String),
    Value(String, Anchor, String),
    Keyword(String),
}

type Clause = Vec<Atom>;

type AtomId = u32;

#[derive(Clone, Debug)]
struct KeyAtoms {
    present: Option<AtomId>,
    /// Exact values, lower-cased; the table's ids index `exact_atoms`.
    exact: WordTable,
    exact_atoms: Vec<Vec<AtomId>>,
    /// Bit `n` set when some exact literal has `n` bytes (63: 63 or more):
    /// most values are ruled out by their length before any hashing.
    exact_lens: u64,
    /// Prefix and suffix literals, lower-cased.
    anchored: Vec<(Anchor, Box<[u8]>, AtomId)>,
    /// Contains literals, lower-cased, with their prebuilt searchers.
    contains: Vec<(memchr::memmem::Finder<'static>, AtomId)>,
    /// With several contains literals: a pass that rules them all out at
    /// once, before a search per literal.
    contains_filter: Option<ContainsFilter>,
}

/// The compiled prefilter of a rule pack.
#[derive(Clone, Debug)]
pub(crate) struct Prefilter {
    /// The keys rules name; the ids index `per_key`.
    keys: KeyTable,
    per_key: Vec<KeyAtoms>,
    /// For each key: bit `n` set when a value of `n` bytes (63: 63 or
    /// more) under it could make an atom hold; all bits when the key has
    /// `contains` or anchored atoms. Most values under a key rules name
    /// meet none of its exact literals' lengths, and this rules them out
    /// before the call into [`Prefilter::value`] (in the guest a call
    /// costs a frame of saved registers).
    value_lens: Vec<u64>,
    /// Keyword literals, found anywhere in the raw text: a value holds a
    /// keyword only if the text does, unless an escape spells it otherwise
    /// (then every keyword is taken to hold, see `Scratch::escaped`).
    keywords: Option<(Option<AhoCorasick>, Vec<AtomId>)>,
    /// For each atom: the (rule, clause) pairs it satisfies.
    users: Vec<Vec<(u32, u8)>>,
    /// For each rule: the bit mask of all its clauses; 0 means "always a candidate".
    full: Vec<u64>,
    always: Vec<u32>,
    /// For each rule: whether it may run on CloudTrail events (its
    /// `logsource.product` is `aws` or unset).
    aws: Vec<bool>,
    /// Whether any keyword rule may run on CloudTrail events.
    aws_keywords: bool,
}

/// Reusable state of one scan.
#[derive(Clone, Debug, Default)]
pub(crate) struct Scratch {
    masks: Vec<u64>,
    touched: Vec<u32>,
    seen: Vec<bool>,
    seen_list: Vec<u32>,
    frames: Vec<Frame>,
    /// The buffer of the structural index (see [`structural::index`]).
    index: Vec<u32>,
    lower: Vec<u8>,
    decoded: Vec<u8>,
    /// The scan saw a top-level `eventSource` naming an AWS service: the
    /// engine will recognise the event as CloudTrail, unless the key comes
    /// again (see `event_sources`).
    cloudtrail: bool,
    /// Top-level `eventSource` keys seen. The engine reads a duplicated
    /// key's last value (`extract`), which may name no AWS service, or be
    /// no string at all: with two or more, nothing is gated.
    event_sources: u32,
    /// The scan decoded an escaped string: the raw text may then spell a
    /// keyword that a value holds (`\u0053topInstances`) differently.
    escaped: bool,
}

#[derive(Clone, Copy, Debug)]
struct Frame {
    object: bool,
    expect_key: bool,
    /// The current key is the top-level `eventSource`.
    event_source: bool,
    /// The governing key, as an index into `per_key`, or `NO_KEY`.
    key: u32,
}

const NO_KEY: u32 = u32::MAX;

const MAX_CLAUSES: usize = 64;
const MAX_NESTING: usize = 128;

impl Prefilter {
    /// Builds the prefilter for rules whose detections are `exprs`.
    ///
    /// `keys` gives, for a field slot, its path.
    /// `products` gives each rule's `logsource.product`.
    pub fn build<'e>(
        exprs: impl Iterator<Item = &'e Expr>,
        products: &[Option<&str>],
        keys: &dyn Fn(u32) -> Option<String>,
    ) -> Prefilter {
        let aws: Vec<bool> = products
            .iter()
            .map(|p| p.is_none_or(|p| p == "aws"))
            .collect();
        let mut atoms: Vec<Atom> = Vec::new();
        let mut atom_ids: FxHashMap<Atom, AtomId> = FxHashMap::default();
        let mut users: Vec<Vec<(u32, u8)>> = Vec::new();
        let mut full = Vec::new();
        let mut always = Vec::new();
        let seg = |slot: u32| keys(slot).map(|p| p.rsplit('.').next().unwrap_or("").to_string());
        for (rule, expr) in exprs.enumerate() {
            let mut clauses = required(expr, &seg).unwrap_or_default();
            clauses.truncate(MAX_CLAUSES);
            if clauses.is_empty() {
                always.push(rule as u32);
                full.push(0);
                continue;
            }
            full.push(if clauses.len() == 64 {
                u64::MAX
            } else {
                (1u64 << clauses.len()) - 1
            });
            for (ci, clause) in clauses.into_iter().enumerate() {
                for atom in clause {
                    let id = *atom_ids.entry(atom.clone()).or_insert_with(|| {
                        atoms.push(atom);
                        users.push(Vec::new());
                        (atoms.len() - 1) as AtomId
                    });
                    if let Some(u) = users.get_mut(id as usize)
                        && !u.contains(&(rule as u32, ci as u8))
                    {
                        u.push((rule as u32, ci as u8));
                    }
                }
            }
        }
        let mut pf = Prefilter {
            keys: KeyTable::new(),
            per_key: Vec::new(),
            value_lens: Vec::new(),
            keywords: None,
            users,
            full,
            always,
            aws,
            aws_keywords: false,
        };
        let mut keyword_lits = Vec::new();
        let mut keyword_ids = Vec::new();
        for (id, atom) in atoms.into_iter().enumerate() {
            let id = id as AtomId;
            match atom {
                Atom::Key(k) => pf.key_atoms(&k).present = Some(id),
                Atom::Value(k, Anchor::Exact, lit) => {
                    let atoms = pf.key_atoms(&k);
                    atoms.exact_lens |= len_bit(lit.len());
                    let i = atoms.exact.insert(lit.as_bytes()) as usize;
                    if i == atoms.exact_atoms.len() {
                        atoms.exact_atoms.push(Vec::new());
                    }
                    if let Some(ids) = atoms.exact_atoms.get_mut(i) {
                        ids.push(id);
                    }
                }
                Atom::Value(k, Anchor::Contains, lit) => pf
                    .key_atoms(&k)
                    .contains
                    .push((memchr::memmem::Finder::new(lit.as_bytes()).into_owned(), id)),
                Atom::Value(k, anchor, lit) => {
                    pf.key_atoms(&k)
                        .anchored
                        .push((anchor, lit.into_bytes().into(), id))
                }
                Atom::Keyword(lit) => {
                    pf.aws_keywords |= pf.users.get(id as usize).is_none_or(|users| {
                        users
                            .iter()
                            .any(|&(r, _)| pf.aws.get(r as usize).is_none_or(|&aws| aws))
                    });
                    keyword_lits.push(lit);
                    keyword_ids.push(id);
                }
            }
        }
        pf.derive_value_checks();
        if !keyword_lits.is_empty() {
            // A DFA is fastest; a pack with so many keywords that it would be
            // too big gets the slower automaton, and if even that fails every
            // keyword counts as seen (sound, only slower).
            let build = |kind| {
                AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .match_kind(MatchKind::Standard)
                    .kind(kind)
                    .build(&keyword_lits)
                    .ok()
            };
            let ac = build(Some(AhoCorasickKind::DFA)).or_else(|| build(None));
            pf.keywords = Some((ac, keyword_ids));
        }
        pf
    }

    /// Derives what the value checks read from the atoms of every key: the
    /// `contains` filters and `value_lens`. Run once all atoms are in.
    fn derive_value_checks(&mut self) {
        for atoms in &mut self.per_key {
            atoms.contains_filter =
                ContainsFilter::new(atoms.contains.iter().map(|(f, _)| f.needle()));
        }
        self.value_lens = self
            .per_key
            .iter()
            .map(|a| {
                if a.contains.is_empty() && a.anchored.is_empty() {
                    a.exact_lens
                } else {
                    u64::MAX
                }
            })
            .collect();
    }

    // In bounds: `per_key` is made longer than `i` just before.
    #[allow(clippy::indexing_slicing)]
    fn key_atoms(&mut self, key: &str) -> &mut KeyAtoms {
        let i = self.keys.insert(key.as_bytes()) as usize;
        if i >= self.per_key.len() {
            self.per_key.resize_with(i + 1, || KeyAtoms {
                present: None,
                exact: WordTable::new(true),
                exact_atoms: Vec::new(),
                exact_lens: 0,
                anchored: Vec::new(),
                contains: Vec::new(),
                contains_filter: None,
            });
        }
        &mut self.per_key[i]
    }

    /// The rules that are candidates for every event.
    pub fn always(&self) -> &[u32] {
        &self.always
    }

    /// How many distinct atoms the scanner checks.
    pub fn atom_count(&self) -> usize {
        self.users.len()
    }

    /// Writes to `out`, in ascending order, the rules that may match `event`.
    pub fn candidates(&self, event: &[u8], s: &mut Scratch, out: &mut Vec<u32>) {
        out.clear();
        if s.masks.len() != self.full.len() || s.seen.len() != self.users.len() {
            s.masks = vec![0; self.full.len()];
            s.seen = vec![false; self.users.len()];
        }
        s.cloudtrail = false;
        s.event_sources = 0;
        s.escaped = false;
        if self.scan(event, s) {
            // Log-source gating: a CloudTrail event meets only rules for aws
            // or for no product, as in the engine (see `logsource`).
            let ct = s.cloudtrail && s.event_sources == 1;
            if let Some((ac, ids)) = &self.keywords
                && (!ct || self.aws_keywords)
            {
                match ac {
                    // Keywords are searched in the raw text, which holds
                    // a value's keyword only if no escape spells it
                    // otherwise; with escapes (a few events in a
                    // thousand) every keyword rule stays a candidate.
                    Some(ac) if !s.escaped => {
                        for m in ac.find_overlapping_iter(event) {
                            match ids.get(m.pattern().as_usize()) {
                                Some(&a) => self.hit(a, s),
                                None => ids.iter().for_each(|&a| self.hit(a, s)),
                            }
                        }
                    }
                    _ => ids.iter().for_each(|&a| self.hit(a, s)),
                }
            }
            // A rule not in the tables (never) is a candidate.
            let aws = |rule: u32| !ct || self.aws.get(rule as usize).is_none_or(|&aws| aws);
            for &rule in &s.touched {
                if s.masks.get(rule as usize) == self.full.get(rule as usize) && aws(rule) {
                    out.push(rule);
                }
            }
            out.extend(self.always.iter().filter(|&&r| aws(r)));
            out.sort_unstable();
        } else {
            out.extend(0..self.full.len() as u32);
        }
        for &rule in &s.touched {
            if let Some(mask) = s.masks.get_mut(rule as usize) {
                *mask = 0;
            }
        }
        for &atom in &s.seen_list {
            if let Some(seen) = s.seen.get_mut(atom as usize) {
                *seen = false;
            }
        }
        s.touched.clear();
        s.seen_list.clear();
    }

    fn hit(&self, atom: AtomId, s: &mut Scratch) {
        let (Some(seen), Some(users)) =
            (s.seen.get_mut(atom as usize), self.users.get(atom as usize))
        else {
            return;
        };
        if std::mem::replace(seen, true) {
            return;
        }
        s.seen_list.push(atom);
        for &(rule, clause) in users {
            let Some(mask) = s.masks.get_mut(rule as usize) else {
                continue;
            };
            if *mask == 0 {
                s.touched.push(rule);
            }
            *mask |= 1 << clause;
        }
    }

    /// Tokenises `ev` and records the atoms that hold. False when the text
    /// cannot be scanned soundly.
    fn scan(&self, ev: &[u8], s: &mut Scratch) -> bool {
        let mut frames = std::mem::take(&mut s.frames);
        frames.clear();
        let ok = match self.scan_blocks(ev, s, &mut frames) {
            Some(ok) => ok,
            None => {
                // Escapes, which the byte-wise scanner decodes, or a lead
                // byte of a character that may make the text unscannable.
                // The atoms recorded so far came from text before it,
                // tokenised as that scanner does, and hold; the keys it
                // counted are counted again from the start.
                frames.clear();
                s.event_sources = 0;
                !unscannable_char(ev) && self.scan_with(ev, s, &mut frames)
            }
        };
        s.frames = frames;
        ok
    }

    /// The scan of a text without backslashes, from its structural index
    /// (see [`structural`]). It sees the strings and brackets that
    /// [`Prefilter::scan_with`] sees, in the same order, but tells a key
    /// by the `:` after it rather than by the commas before it, so that
    /// commas need no turn of the loop: on well-formed JSON the two agree,
    /// and the same atoms hold (on malformed JSON only the parser's verdict
    /// matters, and it sees the text whatever the prefilter says). `None`
    /// when the text has a backslash or a byte 0xC4 or 0xE2 (see
    /// [`structural::Masks::escape`]), or this build has no vector code.
    ///
    /// Two forms that must agree (the tests hold both to the byte scan):
    /// natively the bits of each block are walked as it is classified
    /// ([`Prefilter::scan_bits`]); the WebAssembly build indexes the whole
    /// text first and then reads the index ([`Prefilter::scan_indexed`]),
    /// see [`structural::index`] for why.
    #[inline(always)]
    fn scan_blocks(&self, ev: &[u8], s: &mut Scratch, frames: &mut Vec<Frame>) -> Option<bool> {
        if cfg!(target_arch = "wasm32") {
            self.scan_indexed(ev, s, frames)
        } else {
            self.scan_bits(ev, s, frames)
        }
    }

    /// [`Prefilter::scan_blocks`] from the structural index.
    #[inline(never)]
    fn scan_indexed(&self, ev: &[u8], s: &mut Scratch, frames: &mut Vec<Frame>) -> Option<bool> {
        let mut buf = std::mem::take(&mut s.index);
        let ok = match structural::index(ev, &mut buf) {
            structural::Index::Tokens(index) => Some(self.read_index(ev, index, s, frames)),
            structural::Index::Unterminated => Some(false),
            structural::Index::Unindexed => None,
        };
        s.index = buf;
        ok
    }

    /// Reads a structural index: one turn per string and per bracket.
    fn read_index(
        &self,
        ev: &[u8],
        index: &[u32],
        s: &mut Scratch,
        frames: &mut Vec<Frame>,
    ) -> bool {
        // Where the outermost value closed.
        let mut last_close = usize::MAX;
        let mut tokens = index.iter();
        while let Some(&at) = tokens.next() {
            let at = at as usize;
            // An index that is not of `ev` (never) is text not scanned.
            let Some(&c) = ev.get(at) else {
                return false;
            };
            if c == b'"' {
                // The index pairs quotes (it holds only terminated strings).
                let Some(&close) = tokens.next() else {
                    return false;
                };
                let close = close as usize;
                let Some(token) = ev.get(at + 1..close) else {
                    return false;
                };
                self.string(token, colon_follows(ev, close), s, frames);
                continue;
            }
            if !structure(c, frames) {
                return false;
            }
            if frames.is_empty() {
                if last_close != usize::MAX {
                    // A second value.
                    return false;
                }
                last_close = at;
            }
        }
        one_value(ev, frames, last_close)
    }

    /// [`Prefilter::scan_blocks`] walking each block's bits as it is
    /// classified.
    ///
    /// Out of line: inlined into `Engine::evaluate`, the WebAssembly build
    /// spilled more registers in the token loop (1.4 % more instructions).
    #[inline(never)]
    fn scan_bits(&self, ev: &[u8], s: &mut Scratch, frames: &mut Vec<Frame>) -> Option<bool> {
        if !structural::ENABLED {
            return None;
        }
        let mut carry = 0;
        // The start of the string being read, or `usize::MAX` between strings.
        let mut open = usize::MAX;
        // Where the outermost value closed.
        let mut last_close = usize::MAX;
        let mut base = 0;
        while let Some(rest) = ev.get(base..).filter(|rest| !rest.is_empty()) {
            let m = match rest.first_chunk::<64>() {
                Some(block) => structural::classify(block),
                None => {
                    // Spaces are in no class.
                    let mut last = [b' '; 64];
                    for (d, &c) in last.iter_mut().zip(rest) {
                        *d = c;
                    }
                    structural::classify(&last)
                }
            };
            if m.escape != 0 {
                return None;
            }
            let inside = structural::inside_strings(m.quote, &mut carry);
            let mut tokens = m.quote | m.structural & !inside;
            while tokens != 0 {
                let mut at = base + tokens.trailing_zeros() as usize;
                tokens &= tokens - 1;
                // A token past the text (never: the last block is padded
                // with spaces, in no class) is text not scanned.
                let Some(&c) = ev.get(at) else {
                    return Some(false);
                };
                if c != b'"' {
                    if !structure(c, frames) {
                        return Some(false);
                    }
                    if frames.is_empty() {
                        if last_close != usize::MAX {
                            // A second value.
                            return Some(false);
                        }
                        last_close = at;
                    }
                    continue;
                }
                let start = if open == usize::MAX {
                    // An opening quote. Brackets inside the string are
                    // masked out, so the next token, if in this block, is
                    // the closing quote: one turn of the loop per string.
                    if tokens == 0 {
                        open = at + 1;
                        continue;
                    }
                    let start = at + 1;
                    let close = base + tokens.trailing_zeros() as usize;
                    tokens &= tokens - 1;
                    at = close;
                    start
                } else {
                    std::mem::replace(&mut open, usize::MAX)
                };
                let Some(token) = ev.get(start..at) else {
                    return Some(false);
                };
                self.string(token, colon_follows(ev, at), s, frames);
            }
            base += 64;
        }
        Some(open == usize::MAX && one_value(ev, frames, last_close))
    }

    fn scan_with(&self, ev: &[u8], s: &mut Scratch, frames: &mut Vec<Frame>) -> bool {
        let mut i = 0;
        let mut last_close = usize::MAX;
        while let Some(&c) = ev.get(i) {
            match c {
                b'"' => {
                    let start = i + 1;
                    let mut j = start;
                    let mut escaped = false;
                    let end = loop {
                        // `j` passes the end when the line is cut right
                        // after a backslash (`"x\`): unterminated, like
                        // a string with no closing quote.
                        let Some(k) = ev.get(j..).and_then(quote_or_backslash) else {
                            return false;
                        };
                        let at = j + k;
                        if ev.get(at) == Some(&b'"') {
                            break at;
                        }
                        escaped = true;
                        j = at + 2;
                    };
                    i = end + 1;
                    let is_key = frames.last().is_some_and(|f| f.object && f.expect_key);
                    let Some(raw) = ev.get(start..end) else {
                        return false;
                    };
                    if escaped {
                        // Decoded into the scratch buffer, which is lent
                        // out for the call and then put back.
                        s.escaped = true;
                        let mut decoded = std::mem::take(&mut s.decoded);
                        let ok = decode(raw, &mut decoded);
                        if ok {
                            self.string(&decoded, is_key, s, frames);
                        }
                        s.decoded = decoded;
                        if !ok {
                            return false;
                        }
                    } else {
                        self.string(raw, is_key, s, frames);
                    }
                    // The separator after a string, taken here rather than
                    // by another turn of the loop.
                    match ev.get(i) {
                        Some(b':') => i += 1,
                        Some(b',') => {
                            if let Some(f) = frames.last_mut() {
                                f.expect_key = f.object;
                            }
                            i += 1;
                        }
                        _ => {}
                    }
                }
                b'{' | b'[' | b'}' | b']' | b',' => {
                    if !structure(c, frames) {
                        return false;
                    }
                    if c != b',' && frames.is_empty() {
                        if last_close != usize::MAX {
                            return false;
                        }
                        last_close = i;
                    }
                    i += 1;
                }
                _ => i += 1,
            }
        }
        one_value(ev, frames, last_close)
    }

    /// Records the atoms a string token (`token`, escapes decoded) makes
    /// hold: a key (`is_key`) names the governing key of what follows, a
    /// value is compared under its governing key.
    #[inline(always)]
    fn string(&self, token: &[u8], is_key: bool, s: &mut Scratch, frames: &mut [Frame]) {
        if is_key {
            let top = frames.len() == 1;
            let Some(f) = frames.last_mut() else { return };
            let key = self.lookup_key(token);
            let event_source = top && same(token, b"eventSource");
            s.event_sources = s.event_sources.saturating_add(u32::from(event_source));
            // One store of the whole frame rather than one per field.
            *f = Frame {
                object: f.object,
                expect_key: false,
                event_source,
                key,
            };
            if key != NO_KEY
                && let Some(a) = self.per_key.get(key as usize).and_then(|k| k.present)
            {
                self.hit(a, s);
            }
        } else {
            let key = frames.last().map_or(NO_KEY, |f| f.key);
            if let [f] = frames
                && f.event_source
                && ends_with(token, b".amazonaws.com")
            {
                s.cloudtrail = true;
            }
            if key != NO_KEY
                && self
                    .value_lens
                    .get(key as usize)
                    .is_some_and(|&lens| lens & len_bit(token.len()) != 0)
            {
                self.value(token, key, s);
            }
        }
    }

    #[inline(always)]
    fn lookup_key(&self, token: &[u8]) -> u32 {
        if let Some(k) = self.keys.get(token) {
            return k;
        }
        // A flattened key (`"a.b.c"`) answers for its last segment.
        if !has_dot(token) {
            return NO_KEY;
        }
        token
            .iter()
            .rposition(|&b| b == b'.')
            .and_then(|dot| token.get(dot + 1..))
            .and_then(|last| self.keys.get(last))
            .unwrap_or(NO_KEY)
    }

    fn value(&self, token: &[u8], key: u32, s: &mut Scratch) {
        let Some(atoms) = self.per_key.get(key as usize) else {
            return;
        };
        if atoms.exact_lens & len_bit(token.len()) != 0
            && let Some(ids) = atoms
                .exact
                .get(token)
                .and_then(|i| atoms.exact_atoms.get(i as usize))
        {
            for &a in ids {
                self.hit(a, s);
            }
        }
        if !atoms.contains.is_empty() {
            let mut lower = std::mem::take(&mut s.lower);
            lower_padded(token, &mut lower);
            let maybe = atoms
                .contains_filter
                .as_ref()
                .is_none_or(|filter| filter.any_in(&lower, token.len()));
            if maybe {
                // `lower` holds the token and its padding; were it shorter
                // (never), every literal would be taken to occur.
                let text = lower.get(..token.len());
                for (finder, a) in &atoms.contains {
                    if text.is_none_or(|text| finder.find(text).is_some()) {
                        self.hit(*a, s);
                    }
                }
            }
            s.lower = lower;
        }
        for (anchor, lit, a) in &atoms.anchored {
            let end = match anchor {
                Anchor::Prefix => token.get(..lit.len()),
                _ => last_bytes(token, lit.len()),
            };
            let holds = end.is_some_and(|end| end.eq_ignore_ascii_case(lit));
            if holds {
                self.hit(*a, s);
            }
        }
    }
}

/// Whether the string that ends at the quote `close` is followed by a `:`
/// (whitespace allowed): in JSON, whether it is a key.
#[inline(always)]
fn colon_follows(ev: &[u8], close: usize) -> bool {
    // Minified JSON, the common case, in one comparison. Every byte above
    // the space is no whitespace, so it decides; written as a range test
    // and an equality, not a `match` over `:`, `,`, `}` and `]`, which the
    // WebAssembly build turns into a jump table whose target flips between
    // keys and values (an indirect jump on every string).
    match ev.get(close + 1) {
        Some(&b) if b > b' ' => return b == b':',
        None => return false,
        _ => {}
    }
    for &b in ev.get(close + 1..).unwrap_or_default() {
        match b {
            b':' => return true,
            b' ' | b'\t' | b'\n' | b'\r' => {}
            _ => return false,
        }
    }
    false
}

/// Whether a scan that ended with `frames` open, the outermost value
/// closed at `last_close` (`usize::MAX`: never), saw one whole JSON value:
/// every bracket closed and nothing but whitespace after it.
fn one_value(ev: &[u8], frames: &[Frame], last_close: usize) -> bool {
    frames.is_empty()
        && last_close != usize::MAX
        && ev.get(last_close + 1..).is_some_and(|rest| {
            rest.iter()
                .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        })
}

/// The last `n` bytes of `token`; `None` when it is shorter.
#[inline(always)]
fn last_bytes(token: &[u8], n: usize) -> Option<&[u8]> {
    token.get(token.len().checked_sub(n)?..)
}

fn ends_with(token: &[u8], suffix: &[u8]) -> bool {
    last_bytes(token, suffix.len()).is_some_and(|end| same(end, suffix))
}

/// Applies a structural character outside strings to the frame stack
/// (`,` expects a key next in an object). False when nesting is too deep
/// to scan, or when a bracket closes what it did not open.
#[inline(always)]
fn structure(c: u8, frames: &mut Vec<Frame>) -> bool {
    match c {
        b'{' | b'[' => {
            if frames.len() >= MAX_NESTING {
                return false;
            }
            let object = c == b'{';
            let key = if object {
                NO_KEY
            } else {
                frames.last().map_or(NO_KEY, |f| f.key)
            };
            frames.push(Frame {
                object,
                expect_key: object,
                event_source: false,
                key,
            });
        }
        b'}' | b']' => match frames.pop() {
            Some(f) if f.object == (c == b'}') => {}
            _ => return false,
        },
        _ => {
            if let Some(f) = frames.last_mut() {
                f.expect_key = f.object;
            }
        }
    }
    true
}

/// Decodes a JSON string's escapes as the parser would. False when the
/// string cannot be scanned soundly: a broken escape (the parser will
/// report it), or an escaped character whose lower case hides ASCII (see
/// the module doc on case).
fn decode(raw: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while let Some(rest) = raw.get(i..).filter(|rest| !rest.is_empty()) {
        // The run up to the next escape, in one copy.
        let run = memchr::memchr(b'\\', rest).unwrap_or(rest.len());
        let Some(text) = rest.get(..run) else {
            return false;
        };
        out.extend_from_slice(text);
        i += run + 1;
        if i > raw.len() {
            break;
        }
        let Some(&e) = raw.get(i) else { return false };
        i += 1;
        let c = match e {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'u' => {
                let Some(hi) = raw.get(i..i + 4).and_then(hex4) else {
                    return false;
                };
                i += 4;
                let cp = if (0xD800..0xDC00).contains(&hi) {
                    // A surrogate pair: the low half must follow.
                    if raw.get(i..i + 2) != Some(b"\\u") {
                        return false;
                    }
                    let Some(lo) = raw.get(i + 2..i + 6).and_then(hex4) else {
                        return false;
                    };
                    if !(0xDC00..0xE000).contains(&lo) {
                        return false;
                    }
                    i += 6;
                    0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                } else {
                    hi
                };
                match char::from_u32(cp) {
                    Some('\u{130}' | '\u{212A}') | None => return false,
                    Some(c) => c,
                }
            }
            b'"' | b'\\' | b'/' => e as char,
            // Not an escape JSON has: the parser will report it.
            _ => return false,
        };
        let mut utf8 = [0; 4];
        out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
    }
    true
}

/// Whether the event holds a character whose lower case hides ASCII.
fn unscannable_char(event: &[u8]) -> bool {
    for i in memchr::memchr2_iter(0xC4, 0xE2, event) {
        // A position not in the event (never) makes it unscannable.
        let Some((&lead, next)) = event.get(i..).and_then(<[u8]>::split_first) else {
            return true;
        };
        match lead {
            0xC4 if next.first() == Some(&0xB0) => return true,
            0xE2 if next.starts_with(&[0x84, 0xAA]) => return true,
            _ => {}
        }
    }
    false
}

/// The clauses an event must satisfy for `expr` to hold; `None` when
/// nothing can be required.
fn required(expr: &Expr, seg: &dyn Fn(u32) -> Option<String>) -> Option<Vec<Clause>> {
    match expr {
        // A slot without a key (JSON text of a subtree) gives no literal.
        Expr::Field(fc) => field_clauses(fc, Some(seg(fc.slot)?)),
        Expr::Keywords(fc) => field_clauses(fc, None),
        Expr::And(items) => {
            let mut all: Vec<Clause> = items
                .iter()
                .filter_map(|i| required(i, seg))
                .flatten()
                .collect();
            // Weak clauses (a service host name every event of the service
            // has) cost comparisons but rule out little.
            let best = all.iter().map(quality).max().unwrap_or(0);
            if best > WEAK {
                all.retain(|c| quality(c) > WEAK);
            }
            if all.is_empty() { None } else { Some(all) }
        }
        Expr::Or(items) | Expr::AtLeast(_, items) => {
            let mut union = Vec::new();
            for item in items {
                let clauses = required(item, seg)?;
                let best = clauses.into_iter().max_by_key(quality)?;
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
    let by_key = || {
        key.clone()
            .filter(|k| !k.is_empty())
            .map(|k| vec![vec![Atom::Key(k)]])
    };
    if fc.neq {
        return by_key();
    }
    let atom = |t: &Test| -> Option<Atom> {
        let (anchor, lit) = literal(t)?;
        Some(match &key {
            Some(k) => Atom::Value(k.clone(), anchor, lit),
            None => Atom::Keyword(lit),
        })
    };
    let atoms: Vec<Option<Atom>> = fc.tests.iter().map(atom).collect();
    let by_value = if fc.all {
        let clauses: Vec<Clause> = atoms.into_iter().flatten().map(|a| vec![a]).collect();
        if clauses.is_empty() {
            None
        } else {
            Some(clauses)
        }
    } else {
        atoms
            .into_iter()
            .collect::<Option<Clause>>()
            .map(|c| vec![c])
    };
    // A test that needs the field present needs its key in the raw text.
    let present = fc.all
        || fc
            .tests
            .iter()
            .all(|t| !matches!(t, Test::Null | Test::Exists(false)));
    by_value.or_else(|| if present { by_key() } else { None })
}

/// The literal a string value must show for `t` to hold, and how; lower
/// case, as the scanner compares ASCII case-insensitively (a superset of a
/// `cased` test).
fn literal(t: &Test) -> Option<(Anchor, String)> {
    literal_as_written(t).map(|(a, l)| (a, l.to_ascii_lowercase()))
}

fn literal_as_written(t: &Test) -> Option<(Anchor, String)> {
    match t {
        Test::Str {
            pat: StrPat::Anchored(anchor, s),
            ..
        } => {
            if numeric(s) {
                return None;
            }
            if s.len() >= 3 && s.chars().all(scannable) {
                Some((*anchor, s.clone()))
            } else {
                piece(s).map(|p| (Anchor::Contains, p))
            }
        }
        Test::Str {
            pat: StrPat::Glob(pieces),
            ..
        } => {
            if pieces
                .iter()
                .all(|p| matches!(p, Piece::Lit(l) if numeric(l)) || !matches!(p, Piece::Lit(_)))
            {
                return None;
            }
            pieces
                .iter()
                .filter_map(|p| match p {
                    Piece::Lit(l) => piece(l),
                    _ => None,
                })
                .max_by_key(String::len)
                .map(|p| (Anchor::Contains, p))
        }
        Test::Re(re) => regex_literal(re.as_str()).map(|l| (Anchor::Contains, l)),
        _ => None,
    }
}

fn scannable(c: char) -> bool {
    (' '..='~').contains(&c) && c != '"' && c != '\\'
}

/// True when a JSON number's text could hold `text` (digits, `.`, signs).
fn numeric(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
}

/// The longest run of at least 3 scannable characters of `text`. Any run
/// of a lower-cased pattern appears in the decoded text of a value the
/// pattern matches (see the module doc on case).
fn piece(text: &str) -> Option<String> {
    text.split(|c: char| !scannable(c))
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
    let best = best.to_lowercase();
    if numeric(&best) { None } else { piece(&best) }
}

const WEAK: usize = 1;

/// How selective a clause is: its weakest atom. A bare key, or a service
/// host name (`ec2.amazonaws.com`) that every event of the service has,
/// counts as weak.
fn quality(c: &Clause) -> usize {
    c.iter()
        .map(|a| match a {
            Atom::Key(_) => WEAK,
            Atom::Value(_, _, l) | Atom::Keyword(l) => {
                if l.ends_with("amazonaws.com") || l.ends_with("googleapis.com") {
                    WEAK
                } else {
                    l.len()
                }
            }
        })
        .min()
        .unwrap_or(0)
}

#[cfg(test)]
// A panic in a test is a failed test.
#[allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]
mod tests {
    use super::*;

    #[test]
    fn unscannable_chars() {
        assert!(!unscannable_char("{\"a\":\"é\"}".as_bytes()));
        assert!(unscannable_char("{\"a\":\"\u{212A}\"}".as_bytes()));
        assert!(unscannable_char("{\"a\":\"\u{130}\"}".as_bytes()));
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
    fn literals() {
        let s = |p: &str, a| Test::Str {
            pat: StrPat::Anchored(a, p.into()),
            cased: false,
        };
        assert_eq!(
            literal(&s("stopinstances", Anchor::Exact)),
            Some((Anchor::Exact, "stopinstances".into()))
        );
        assert_eq!(literal(&s("ab", Anchor::Exact)), None);
        assert_eq!(literal(&s("12.5", Anchor::Contains)), None);
        assert_eq!(
            literal(&s("ab\"cdef", Anchor::Exact)),
            Some((Anchor::Contains, "cdef".into()))
        );
        assert_eq!(
            literal(&s("update app – certs", Anchor::Exact)),
            Some((Anchor::Contains, "update app ".into()))
        );
    }

    #[test]
    fn regex_literals() {
        assert_eq!(
            regex_literal(".+:assumed-role/aws:.+").as_deref(),
            Some(":assumed-role/aws:")
        );
        assert_eq!(regex_literal("(?i)^abcd?e").as_deref(), Some("abc"));
        assert_eq!(regex_literal("a|bcdef"), None);
        assert_eq!(regex_literal("x[abc]yzw\\.com").as_deref(), Some("yzw.com"));
        assert_eq!(regex_literal("(foo)+bar").as_deref(), Some("bar"));
        assert_eq!(regex_literal("(foo)?"), None);
        assert_eq!(regex_literal("qq(foo)*barbaz").as_deref(), Some("barbaz"));
    }

    #[test]
    fn every_key_of_the_table_is_found() {
        let mut pf = Prefilter::build(std::iter::empty(), &[], &|_| None);
        for key in ["", "a", "eventName", "x".repeat(70).as_str()] {
            pf.key_atoms(key);
        }
        for key in ["", "a", "eventName", "x".repeat(70).as_str()] {
            assert!(pf.keys.may_hold(key.as_bytes()), "{key:?}");
            assert_ne!(pf.lookup_key(key.as_bytes()), NO_KEY, "{key:?}");
            assert_ne!(
                pf.lookup_key(format!("p.q.{key}").as_bytes()),
                NO_KEY,
                "{key:?}"
            );
        }
        assert!(!pf.keys.may_hold(b"eventTim"));
        assert_eq!(pf.lookup_key(b"b"), NO_KEY);
        assert_eq!(pf.lookup_key(b"a.b"), NO_KEY);
    }

    #[test]
    fn decode_escapes() {
        let mut out = Vec::new();
        assert!(decode(br#"a\"b\\c\nd\/e"#, &mut out));
        assert_eq!(out, b"a\"b\\c\nd/e");
        assert!(decode(
            br#"\u003csensitiveDataRemoved\u003e \u00e9 \ud83d\ude00"#,
            &mut out
        ));
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "<sensitiveDataRemoved> é 😀"
        );
        // `from_str_radix` takes a sign; JSON does not.
        assert!(!decode(br#"\u+041"#, &mut out), "a sign is no hex digit");
        assert!(
            !decode(br#"\u212a"#, &mut out),
            "Kelvin sign lowers to ASCII k"
        );
        assert!(
            !decode(br#"\u0130"#, &mut out),
            "dotted I lowers to ASCII i"
        );
        assert!(!decode(br#"\ud83d"#, &mut out), "lone surrogate");
        assert!(!decode(br#"\u12"#, &mut out), "short escape");
    }

    /// A prefilter with a few atoms of each kind, built by hand: keys `a`
    /// and `eventSource` present, exact values under `b` (one over 16
    /// bytes), a prefix, a suffix and a contains literal under `c`.
    fn toy() -> Prefilter {
        let mut pf = Prefilter::build(std::iter::empty(), &[], &|_| None);
        pf.key_atoms("a").present = Some(0);
        pf.key_atoms("eventSource").present = Some(1);
        for (id, lit) in [(2, "xy"), (3, "longer-than-sixteen-bytes")] {
            let b = pf.key_atoms("b");
            b.exact_lens |= len_bit(lit.len());
            b.exact.insert(lit.as_bytes());
            b.exact_atoms.push(vec![id]);
        }
        let c = pf.key_atoms("c");
        c.anchored.push((Anchor::Prefix, b"ab"[..].into(), 4));
        c.anchored.push((Anchor::Suffix, b"yz"[..].into(), 5));
        c.contains
            .push((memchr::memmem::Finder::new(b"mid").into_owned(), 6));
        pf.users = vec![Vec::new(); 7];
        pf.derive_value_checks();
        pf
    }

    /// Which scanner `outcome` runs.
    #[derive(Clone, Copy, Debug)]
    enum Scanner {
        Bits,
        Indexed,
        Bytes,
    }

    fn outcome(pf: &Prefilter, ev: &[u8], scanner: Scanner) -> Option<(bool, Vec<bool>, bool)> {
        let mut s = Scratch {
            seen: vec![false; pf.users.len()],
            ..Scratch::default()
        };
        let mut frames = Vec::new();
        let ok = match scanner {
            Scanner::Bits => pf.scan_bits(ev, &mut s, &mut frames)?,
            Scanner::Indexed => pf.scan_indexed(ev, &mut s, &mut frames)?,
            Scanner::Bytes => pf.scan_with(ev, &mut s, &mut frames),
        };
        Some((ok, s.seen, s.cloudtrail))
    }

    /// JSON values built from the toy's keys and literals, with strings
    /// that hold brackets, commas and colons.
    fn json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        use serde_json::Value;
        let text = proptest::sample::select(vec![
            "a",
            "b",
            "c",
            "xy",
            "XY",
            "abyz",
            "mId",
            "eventSource",
            "ec2.amazonaws.com",
            "a.b",
            "a.c",
            "longer-than-sixteen-bytes",
            "x{y",
            "[",
            "]}",
            "q:r",
            ",",
            "\"\":",
        ]);
        let leaf = prop_oneof![
            text.clone().prop_map(|s| Value::String(s.into())),
            any::<i32>().prop_map(Value::from),
            any::<bool>().prop_map(Value::Bool),
            Just(Value::Null),
        ];
        leaf.prop_recursive(6, 60, 6, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec((text.clone(), inner), 0..6).prop_map(
                    |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                ),
            ]
        })
    }

    proptest::proptest! {
        /// On well-formed JSON without backslashes, the block scanner sees
        /// what the byte scanner sees: strings across block boundaries,
        /// brackets, commas and colons inside strings, whitespace.
        #[test]
        fn block_scan_equals_byte_scan(v in json(), pretty in proptest::bool::ANY) {
            let ev = if pretty { serde_json::to_vec_pretty(&v) } else { serde_json::to_vec(&v) }.unwrap();
            let pf = toy();
            if structural::ENABLED && !ev.contains(&b'\\') {
                let bytes = outcome(&pf, &ev, Scanner::Bytes);
                proptest::prop_assert_eq!(&outcome(&pf, &ev, Scanner::Bits), &bytes);
                proptest::prop_assert_eq!(&outcome(&pf, &ev, Scanner::Indexed), &bytes);
            }
        }

        /// On any text, well-formed or not, the block scanner ends without
        /// panicking.
        #[test]
        fn block_scan_takes_any_text(parts in proptest::collection::vec(
            proptest::sample::select(vec![
                "\"", "{", "}", "[", "]", ",", ":", " ", ".", "a", "b", "c", "xy", "eventSource",
                ".amazonaws.com", "longer-than-sixteen-bytes", "\":", "{\"a\":", "\"b\":\"xy\"",
            ]),
            0..400,
        )) {
            let ev = parts.concat().into_bytes();
            let pf = toy();
            if structural::ENABLED {
                // Both forms of the block scan give the same verdict, and
                // the same atoms when the text scans.
                let bits = outcome(&pf, &ev, Scanner::Bits).expect("no backslash");
                let indexed = outcome(&pf, &ev, Scanner::Indexed).expect("no backslash");
                proptest::prop_assert_eq!(bits.0, indexed.0);
                if bits.0 {
                    proptest::prop_assert_eq!(bits, indexed);
                }
            }
        }
    }

    #[test]
    fn block_scan_leaves_escapes_to_the_byte_scan() {
        let pf = toy();
        let ev = br#"{"a":"x\"y","b":"xy"}"#;
        assert_eq!(outcome(&pf, ev, Scanner::Bits), None);
        assert_eq!(outcome(&pf, ev, Scanner::Indexed), None);
        let (ok, seen, _) = outcome(&pf, ev, Scanner::Bytes).unwrap();
        assert!(ok && seen[0] && seen[2]);
        let deep = "[".repeat(MAX_NESTING + 1);
        for scanner in [Scanner::Bits, Scanner::Indexed] {
            assert_eq!(
                outcome(&pf, deep.as_bytes(), scanner),
                Some((false, vec![false; 7], false)),
                "{scanner:?}"
            );
        }
    }
}
