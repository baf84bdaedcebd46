//! The misbehaviour a rule pack asks for (see the crate docs).

/// One way to attack the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Behave as the real plugin.
    Honest,
    LoadTrap,
    LoadLoop,
    Loop,
    Alloc,
    TrapEvery(u64),
    IndexOutOfRange,
    IndexDuplicated,
    IndexOutOfOrder,
    IndexMissing,
    CountWrong,
    HugeLabel,
    HugeAnswer,
    ScoreOutOfRange,
    RuleIndexPastTable,
    KeepFalse,
}

const MARKER: &str = "sigil-hostile:";

impl Mode {
    /// The mode named by the first marker line in `texts`; an unknown mode
    /// name is a trap, so that a typo in a test cannot pass as honesty.
    pub fn from_sources<'a>(texts: impl IntoIterator<Item = &'a str>) -> Mode {
        for text in texts {
            for line in text.lines() {
                if let Some(at) = line.find(MARKER) {
                    let name = line[at + MARKER.len()..].trim();
                    return Mode::parse(name)
                        .unwrap_or_else(|| panic!("unknown sigil-hostile mode {name:?}"));
                }
            }
        }
        Mode::Honest
    }

    fn parse(name: &str) -> Option<Mode> {
        if let Some(n) = name.strip_prefix("trap-every:") {
            return n
                .trim()
                .parse()
                .ok()
                .filter(|&n| n > 0)
                .map(Mode::TrapEvery);
        }
        Some(match name {
            "honest" => Mode::Honest,
            "load-trap" => Mode::LoadTrap,
            "load-loop" => Mode::LoadLoop,
            "loop" => Mode::Loop,
            "alloc" => Mode::Alloc,
            "index-out-of-range" => Mode::IndexOutOfRange,
            "index-duplicated" => Mode::IndexDuplicated,
            "index-out-of-order" => Mode::IndexOutOfOrder,
            "index-missing" => Mode::IndexMissing,
            "count-wrong" => Mode::CountWrong,
            "huge-label" => Mode::HugeLabel,
            "huge-answer" => Mode::HugeAnswer,
            "score-out-of-range" => Mode::ScoreOutOfRange,
            "rule-index-past-table" => Mode::RuleIndexPastTable,
            "keep-false" => Mode::KeepFalse,
            _ => return None,
        })
    }
}

/// Spins until the host's deadline (or fuel) stops it.
pub fn spin() -> ! {
    let mut n = 0u64;
    loop {
        // black_box keeps the loop from being reasoned away.
        n = std::hint::black_box(n.wrapping_add(1));
    }
}

/// Allocates and touches memory until growing fails (the host's cap traps).
pub fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Non-zero bytes: every page is written, not just reserved.
        hoard.push(vec![0xA5; 1 << 20]);
        std::hint::black_box(&hoard);
    }
}
