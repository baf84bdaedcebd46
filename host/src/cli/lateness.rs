//! `--lateness`: how long correlation waits for events that arrive out of
//! order, and what the run says when that was not long enough.
//!
//! Audit logs arrive late and unsorted (CloudTrail delivers a file about
//! every 5 minutes, "within an average of about 5 minutes" of the call,
//! files not ordered across each other; SIEM result lists come newest
//! first). Correlation holds each match until the watermark, the newest
//! event time minus the lateness, passes it. Over a finite input (files)
//! the default is `end`: matches wait for the end of the input, so any order
//! gives the alerts of the time-sorted input. Over a stream (stdin, `sigil
//! serve`) the default is the engine's, 15 minutes, and alerts come out
//! that much event time after the event that completes them.

use std::fmt::Write as _;

use sigil_engine::{CorrelationStats, Options, RuleInfo};

/// A `--lateness` value: a duration or `end`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lateness(pub u32);

impl std::str::FromStr for Lateness {
    type Err = String;

    /// `end`, or a number with a unit: `ms`, `s`, `m`, `h` (`90s`, `10m`,
    /// `2h`); a bare number is milliseconds.
    fn from_str(s: &str) -> Result<Lateness, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("end") {
            return Ok(Lateness(Options::LATENESS_END));
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let (number, unit) = s.split_at(digits);
        let scale: u64 = match unit {
            "" | "ms" => 1,
            "s" => 1_000,
            "m" | "min" => 60_000,
            "h" => 3_600_000,
            _ => {
                return Err(format!(
                    "`{s}` is not a lateness: write a duration such as 90s, 10m or 2h, or `end`"
                ));
            }
        };
        let ms = number
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(scale))
            .filter(|&ms| ms < u64::from(Options::LATENESS_END))
            .ok_or_else(|| {
                format!("`{s}` is not a lateness: write a duration under 49 days, or `end`")
            })?;
        Ok(Lateness(ms as u32))
    }
}

/// A duration in milliseconds as people write it: `7m12s`, `45s`, `2h`.
pub fn human(ms: u64) -> String {
    if ms < 1_000 {
        return format!("{ms}ms");
    }
    let secs = ms.div_ceil(1_000);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            let _ = write!(out, "{n}{unit}");
        }
    }
    out
}

/// A lateness that would have kept a match `lag_ms` behind: the next whole
/// minute (or second, under a minute) above it.
fn suggested(lag_ms: u64) -> String {
    let step = if lag_ms < 60_000 { 1_000 } else { 60_000 };
    human((lag_ms / step + 1) * step)
}

/// What the run says on stderr about matches the correlation left out or
/// committed early, and what to change; empty when there were none.
pub fn warnings(stats: &CorrelationStats, rules: &[RuleInfo], options: &Options) -> Vec<String> {
    let mut out = Vec::new();
    if stats.late_events > 0 {
        let per_rule: Vec<String> = stats
            .late_by_rule
            .iter()
            .map(|&(rule, n)| {
                let name = rules
                    .get(rule as usize)
                    .map_or_else(|| format!("rule {rule}"), |r| r.title.clone());
                format!("{name}: {n}")
            })
            .collect();
        let fix = if options.correlation_lateness_ms == Options::LATENESS_END {
            // Only the waiting room moves the watermark then.
            "raise --max-groups and --max-correlation-bytes, which bound the matches waiting"
                .to_string()
        } else {
            format!(
                "raise --lateness to {}, or use --lateness end for files",
                suggested(stats.max_late_lag_ms)
            )
        };
        let (matches, were) = if stats.late_events == 1 {
            ("match", "was")
        } else {
            ("matches", "were")
        };
        out.push(format!(
            "{} {matches} arrived up to {} behind the newest event and {were} left out of correlation ({}): {fix}",
            stats.late_events,
            human(stats.max_late_lag_ms),
            per_rule.join(", "),
        ));
    }
    if stats.forced_commits > 0 {
        out.push(format!(
            "{} matches were committed before the watermark reached them, because {} matches (--max-groups) or a quarter of --max-correlation-bytes were waiting: alerts may be missing; raise those limits{}",
            stats.forced_commits,
            options.max_groups,
            if options.correlation_lateness_ms == Options::LATENESS_END {
                ", or give a --lateness such as 15m"
            } else {
                ", or lower --lateness"
            },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_end_parse() {
        let ms = |s: &str| s.parse::<Lateness>().map(|l| l.0);
        assert_eq!(ms("90s"), Ok(90_000));
        assert_eq!(ms("10m"), Ok(600_000));
        assert_eq!(ms("2h"), Ok(7_200_000));
        assert_eq!(ms("250ms"), Ok(250));
        assert_eq!(ms("60000"), Ok(60_000));
        assert_eq!(ms("end"), Ok(Options::LATENESS_END));
        for bad in [
            "",
            "s",
            "10d",
            "-5m",
            "1.5h",
            "2000h",
            "99999999999999999999",
        ] {
            assert!(ms(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_advice_names_the_rules_and_a_lateness_that_fits() {
        assert_eq!(human(432_000), "7m12s");
        assert_eq!(human(7_200_000), "2h");
        assert_eq!(suggested(432_000), "8m");
        assert_eq!(suggested(42_500), "43s");
        let rules: Vec<RuleInfo> = ["Burst", "Pair"]
            .iter()
            .map(|t| RuleInfo {
                id: t.to_string(),
                title: t.to_string(),
                level: sigil_engine::Level::High,
                score: 75,
                tags: Vec::new(),
                source: String::new(),
                line: 1,
            })
            .collect();
        let stats = CorrelationStats {
            late_events: 3,
            late_by_rule: vec![(0, 2), (1, 1)],
            max_late_lag_ms: 432_000,
            ..CorrelationStats::default()
        };
        let said = warnings(&stats, &rules, &Options::default());
        assert_eq!(
            said,
            [
                "3 matches arrived up to 7m12s behind the newest event and were left out of correlation (Burst: 2, Pair: 1): raise --lateness to 8m, or use --lateness end for files"
            ]
        );
        assert!(warnings(&CorrelationStats::default(), &rules, &Options::default()).is_empty());
    }
}
