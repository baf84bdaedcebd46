//! Which sources the events came as, so that rules written for a source
//! that never came can say so.
//!
//! A rule written for a SIEM's rows (`sigil.schema`) runs only on events
//! recognised as those rows, or as a raw source its schema maps from
//! (`vocab::logsource`). Rows that lack the column that marks them (QRadar
//! rows selected without `LOGSOURCETYPENAME(devicetype)`, Sentinel rows
//! after a KQL `project` that dropped `Type`) are recognised as nothing,
//! and the rule silently never runs. So the engine keeps, while it
//! evaluates, a bit per source some parsed event was recognised as (one
//! OR per event), and for each event that was a candidate for such a rule
//! yet recognised as none of its sources, which of the schema's near
//! columns it had (only on such events). [`Engine::unrecognised`] then
//! names the schemas none of whose sources ever came.
//!
//! Events the prefilter rules out are not parsed, so they are not
//! recognised: "never came" means that no event that could have matched
//! the rules was recognised as one of their sources, which is what matters
//! for the rules, whether or not other rows of the SIEM passed by.
//!
//! [`Engine::unrecognised`]: crate::Engine::unrecognised

use crate::correlation::clock;
use crate::matching::matcher::{Lookup, Slots};
use crate::rules::schema::{self, Schema};
use crate::vocab::logsource::Source;

/// A SIEM schema the loaded rules are written for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaUse {
    /// The schema (`sigil.schema`), the source of the SIEM's own rows.
    pub schema: Source,
    /// What makes an event a row of it: its marker columns, with the value
    /// where one is needed (`Type: AWSCloudTrail`).
    pub markers: Vec<String>,
    /// The columns a row's time is read from, in order of preference.
    pub time: Vec<String>,
    /// The raw sources the schema maps from, on which its rules run too,
    /// each with its time columns.
    pub raw: Vec<(Source, Vec<String>)>,
    /// The rules written for it, as indexes into `Engine::rules()`.
    pub rules: Vec<u32>,
}

/// Rules written for a schema none of whose sources came: they never ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unrecognised {
    /// The schema, what marks its rows and which rules are written for it.
    pub schema: SchemaUse,
    /// Events that could have matched one of the rules (the prefilter let
    /// them through) but were recognised as none of their sources.
    pub missed: u64,
    /// Of those, how many had each column that the SIEM's rows carry when
    /// they lack the marker (QRadar's `devicetype` without
    /// `logsourcetypename`): the nearest thing seen. Columns no event had
    /// are left out.
    pub near: Vec<(String, u64)>,
}

/// What the engine recognised among the events it parsed.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recognition {
    /// Bit `source as usize`: some parsed event was recognised as it.
    seen: u32,
    needs: Vec<Need>,
}

#[derive(Clone, Debug)]
struct Need {
    schema: Source,
    /// Bits of the sources its rules run on.
    sources: u32,
    raw: Vec<Source>,
    rules: Vec<u32>,
    missed: u64,
    /// The slot of each near column, and how many missed events had it.
    near: Vec<(u32, u64)>,
}

fn bit(s: Source) -> u32 {
    1 << (s as u32)
}

impl Recognition {
    /// The schema need of a rule whose variants read `sources` (the
    /// schema's own rows first, as `rules::rule` compiles them): its index,
    /// registered on first use, or `None` for a rule of no schema.
    pub fn need(&mut self, rule: u32, sources: &[Source], slots: &mut dyn Slots) -> Option<u8> {
        let (&schema, raw) = sources.split_first()?;
        if !schema.is_siem_row() {
            return None;
        }
        let i = match self.needs.iter().position(|n| n.schema == schema) {
            Some(i) => i,
            None => {
                self.needs.push(Need {
                    schema,
                    sources: sources.iter().fold(0, |b, &s| b | bit(s)),
                    raw: raw.to_vec(),
                    rules: Vec::new(),
                    missed: 0,
                    near: schema
                        .near_columns()
                        .iter()
                        .map(|c| (slots.slot(c), 0))
                        .collect(),
                });
                self.needs.len() - 1
            }
        };
        self.needs[i].rules.push(rule);
        // Schemas are a handful (`Source::ALL`), far below u8 and the
        // 32-bit masks of `missed`.
        Some(i as u8)
    }

    /// Notes the source a parsed event was recognised as.
    #[inline]
    pub fn saw(&mut self, source: Option<Source>) {
        if let Some(s) = source {
            self.seen |= bit(s);
        }
    }

    /// Notes an event that was a candidate for rules of the needs in the
    /// bit mask `needs` but recognised as none of their sources.
    pub fn missed(&mut self, needs: u32, values: &dyn Lookup<'_>) {
        for (i, need) in self.needs.iter_mut().enumerate() {
            if needs & (1 << i) == 0 {
                continue;
            }
            need.missed = need.missed.saturating_add(1);
            for (slot, n) in &mut need.near {
                if !values.values(*slot).is_empty() {
                    *n = n.saturating_add(1);
                }
            }
        }
    }

    /// Every schema the rules are written for.
    pub fn schemas(&self) -> Vec<SchemaUse> {
        let tables = schema::all();
        self.needs.iter().map(|n| n.schema_use(&tables)).collect()
    }

    /// The schemas none of whose sources was seen.
    pub fn unrecognised(&self, slot_name: &dyn Fn(u32) -> String) -> Vec<Unrecognised> {
        let tables = schema::all();
        self.needs
            .iter()
            .filter(|n| n.sources & self.seen == 0)
            .map(|n| Unrecognised {
                schema: n.schema_use(&tables),
                missed: n.missed,
                near: n
                    .near
                    .iter()
                    .filter(|(_, count)| *count > 0)
                    .map(|&(slot, count)| (slot_name(slot), count))
                    .collect(),
            })
            .collect()
    }
}

impl Need {
    fn schema_use(&self, tables: &[Schema]) -> SchemaUse {
        SchemaUse {
            schema: self.schema,
            markers: self
                .schema
                .markers()
                .iter()
                .map(|m| m.to_string())
                .collect(),
            time: clock::time_columns(self.schema, tables),
            raw: self
                .raw
                .iter()
                .map(|&s| (s, clock::time_columns(s, tables)))
                .collect(),
            rules: self.rules.clone(),
        }
    }
}
