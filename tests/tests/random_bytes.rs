//! Random bytes and mutated real events through the WIT boundary.
//!
//! Issue 14's reproduction: 3 MB of random bytes crashed the native run
//! and trapped the component a dozen times (each trap restarts the
//! instance and throws its correlation windows away). The bytes are
//! regenerated here from fixed seeds rather than checked in. Properties:
//! no trap and no restart, every input line comes out exactly once, and
//! the component writes the same bytes and counters as the native engine.
//! `scripts/fuzz` explores the same code with coverage guidance natively;
//! this is the component side of it.

mod common;

use sigil_engine::input::is_blank;
use sigil_engine::{Engine, Options, RuleSource};
use sigil_host::{Counters, Detector, HostConfig, Plugin, run_to_vec};

/// xorshift64*: a fixed, dependency-free stream of bytes per seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// JSON-ish noise: random bytes weighted towards the ones that matter to
/// a JSON scanner (quotes, backslashes, brackets, newlines).
fn noise(rng: &mut Rng, len: usize) -> Vec<u8> {
    const HOT: &[u8] = b"\"\\{}[]:,\n u0123456789abcdefStopInstances";
    (0..len)
        .map(|_| match rng.below(4) {
            0 => rng.next() as u8,
            _ => HOT[rng.below(HOT.len())],
        })
        .collect()
}

/// Real events with a few bytes changed, cut, or spliced together.
fn mutated_events(rng: &mut Rng, events: &[Vec<u8>], count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..count {
        let mut e = events[rng.below(events.len())].clone();
        match rng.below(4) {
            0 => {
                let at = rng.below(e.len());
                e.truncate(at);
            }
            1 => {
                for _ in 0..1 + rng.below(3) {
                    let at = rng.below(e.len());
                    e[at] = b"\\\"\x00\xff{}"[rng.below(6)];
                }
            }
            2 => {
                let at = rng.below(e.len());
                let other = &events[rng.below(events.len())];
                e.splice(at.., other[rng.below(other.len())..].iter().copied());
            }
            _ => {
                let at = rng.below(e.len());
                e.splice(at..at, noise(rng, 8));
            }
        }
        e.retain(|&b| b != b'\n');
        out.extend_from_slice(&e);
        out.push(b'\n');
    }
    out
}

fn corpus_events() -> Vec<Vec<u8>> {
    let mut events = Vec::new();
    for capture in common::stratus_captures() {
        let doc: Vec<serde_json::Value> = serde_json::from_slice(&capture.bytes).unwrap();
        events.extend(doc.iter().map(|e| serde_json::to_vec(e).unwrap()));
    }
    events
}

fn lines(input: &[u8]) -> u64 {
    input
        .split(|&b| b == b'\n')
        .filter(|l| !is_blank(l.strip_suffix(b"\r").unwrap_or(l)))
        .count() as u64
}

fn both(sources: &[RuleSource], input: &[u8]) -> Counters {
    let options = Options {
        skip_invalid: true,
        ..Options::default()
    };
    let mut native = Detector::Native(Engine::load(sources, options.clone()).unwrap());
    let plugin = Plugin::builtin(HostConfig::default()).unwrap();
    let mut component = Detector::Component(plugin.session(sources, &options).unwrap());
    let (a, ca) = run_to_vec(&mut native, input).unwrap();
    let (b, cb) = run_to_vec(&mut component, input).unwrap();
    assert_eq!(cb.plugin_restarts, 0, "the component trapped: {cb:?}");
    assert_eq!(ca.events_in, lines(input), "{ca:?}");
    assert_eq!(ca.events_out, ca.events_in, "{ca:?}");
    assert_eq!(format!("{ca:?}"), format!("{cb:?}"));
    assert!(a == b, "component output differs from native");
    assert_eq!(
        a.iter().filter(|&&b| b == b'\n').count() as u64,
        ca.events_out + ca.alerts
    );
    ca
}

fn pack() -> Vec<RuleSource> {
    let mut sources = common::rule_sources(&common::sigmahq_dir());
    let builtin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/cloud-compute");
    sources.extend(common::rule_sources(&builtin));
    sources
}

#[test]
fn three_megabytes_of_random_bytes() {
    let sources = pack();
    for seed in [1u64, 2, 3] {
        let input = noise(&mut Rng(0x5167_1100 + seed), 1 << 20);
        both(&sources, &input);
    }
}

#[test]
fn mutated_real_events() {
    let sources = pack();
    let events = corpus_events();
    for seed in [7u64, 8, 9, 10] {
        let input = mutated_events(&mut Rng(0xE7E7 + seed), &events, 2_000);
        let c = both(&sources, &input);
        assert!(c.matched > 0, "{c:?}");
    }
}

/// The line of issue 14, alone and after a matching event.
#[test]
fn regression_cut_after_backslash() {
    let input =
        b"{\"eventName\":\"StopInstances\",\"eventSource\":\"ec2.amazonaws.com\"}\n{\"a\":\"x\\\n";
    let builtin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../rules/cloud-compute");
    let c = both(&common::rule_sources(&builtin), input);
    assert_eq!((c.events_in, c.matched, c.errors), (2, 1, 1), "{c:?}");
}
