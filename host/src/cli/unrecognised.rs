//! What `sigil run` says at the end about rules that never ran because no
//! event was recognised as a source they read (rows of a SIEM that lack
//! the column marking them): silently idle rules look like rules that
//! found nothing.

use sigil_engine::{RuleInfo, Unrecognised};

/// The lines to write on stderr: per schema, which rules never ran, what
/// the schema's rows need, and the nearest thing seen; then the rules, one
/// a line. Empty when every schema's rules met their rows.
pub fn lines(gaps: &[Unrecognised], rules: &[RuleInfo], restarts: u64) -> Vec<String> {
    let mut out = Vec::new();
    for gap in gaps {
        let s = &gap.schema;
        let name = s.schema.name();
        let n = s.rules.len();
        // `1 rules` would read oddly where a person reads it.
        let (rule_s, them) = if n == 1 {
            ("rule", "it")
        } else {
            ("rules", "them")
        };
        let mut sources = format!("a {name} row");
        if !s.raw.is_empty() {
            let raw: Vec<&str> = s.raw.iter().map(|(r, _)| r.name()).collect();
            sources.push_str(&format!(" or a raw {} record", raw.join(", ")));
        }
        let markers: Vec<String> = s.markers.iter().map(|m| format!("`{m}`")).collect();
        let mut line = format!(
            "sigil: {n} {rule_s} for {name} rows never ran: no event that could match {them} \
             was {sources}; {name} rows are recognised by {}",
            markers.join(" and ")
        );
        if gap.missed > 0 {
            line.push_str(&format!(
                "; {} events that could match {them} were recognised as something else or \
                 nothing",
                gap.missed
            ));
            for (column, count) in &gap.near {
                line.push_str(&format!(
                    ", {count} of them with `{column}` (rows of {name} that lost {})",
                    markers.join(" and ")
                ));
            }
        }
        if restarts > 0 {
            line.push_str(" (since the last plugin restart)");
        }
        out.push(line);
        for &r in &s.rules {
            if let Some(info) = rules.get(r as usize) {
                out.push(format!("  {}:{}: {}", info.source, info.line, info.id));
            }
        }
    }
    out
}
