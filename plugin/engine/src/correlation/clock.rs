//! When an event happened and what it is called: the timestamp and event id
//! fields of each log source.
//!
//! Windows slide on the time an event records, not on when it arrives:
//! audit logs are delivered late and out of order (CloudTrail delivers in
//! batches every few minutes, and its files are not sorted), so arrival
//! time would both split real sequences and join unrelated ones.
//!
//! Which column holds the time depends on the source the event was
//! recognised as (`vocab::logsource`): a SIEM's row names it in its schema
//! table (`time:` in `plugin/engine/schemas/*.yml`), a raw record in
//! [`Source::raw_time_columns`]. Where a source has several, the event's
//! own time comes before the time it was received (QRadar `devicetime`
//! before `starttime`, Sumo `_messageTime` before `_receiptTime`), and a
//! SIEM's row that wraps a raw record (Sumo's `json auto`) is timed by the
//! record's own column first. An event of no known source is timed by the
//! first column any source names that it has. The forms a time may take are
//! `timepart::event_time_ms`'s.

use crate::matching::matcher::{Lookup, Slots};
use crate::rules::schema;
use crate::vocab::logsource::{Product, Shape, Source};
use crate::vocab::timepart::event_time_ms;
use crate::vocab::value::Val;

use super::key::bounded;

/// Event id fields, in order of preference when the product is unknown.
/// Public so that other readers of an event (an OCSF record's ids) name
/// the same ids as correlation does.
pub const ID_FIELDS: [&str; 6] = [
    "eventID",
    "insertId",
    "eventDataId",
    "correlationId",
    "Id",
    "id",
];

/// The event id fields of a product, as indexes into [`ID_FIELDS`].
fn id_fields(product: Option<Product>) -> &'static [usize] {
    match product {
        Some(Product::Aws) => &[0],      // eventID
        Some(Product::Azure) => &[2, 3], // eventDataId, else correlationId
        Some(Product::Gcp) => &[1],      // insertId
        Some(Product::M365) => &[4],     // Id
        None => &[0, 1, 2, 3, 4, 5],
    }
}

/// The time columns of `source`: its schema table's `time:` for a SIEM's
/// row (`schemas` are the tables, read once by the caller), or
/// [`Source::raw_time_columns`] for a raw record.
pub(crate) fn time_columns(source: Source, schemas: &[schema::Schema]) -> Vec<String> {
    if source.is_siem_row() {
        // The built-in tables are checked by tests (every SIEM row has one,
        // with `time:`).
        schemas
            .iter()
            .find(|s| s.source == source)
            .map(|s| s.time.clone())
            .unwrap_or_default()
    } else {
        source
            .raw_time_columns()
            .iter()
            .map(|c| c.to_string())
            .collect()
    }
}

/// Every column an event's time may be read from, in the order the clock
/// tries them for an event of no known source: each source's first column
/// (raw records' own, then the schema tables' `time:`), then their second
/// ones, and so on. Reads the built-in schema tables: call it once, not
/// per event.
///
/// Public so that other readers of an event's time (an OCSF record's
/// `time`) try the columns correlation does, from the one list.
pub fn all_time_columns() -> Vec<String> {
    let schemas = schema::all();
    let columns: Vec<Vec<String>> = Source::ALL
        .into_iter()
        .map(|s| time_columns(s, &schemas))
        .collect();
    by_rank(&columns).into_iter().map(str::to_string).collect()
}

/// The distinct columns of `columns` (one list per source), each source's
/// first, then their second ones, and so on.
fn by_rank(columns: &[Vec<String>]) -> Vec<&str> {
    let mut any: Vec<&str> = Vec::new();
    let deepest = columns.iter().map(Vec::len).max().unwrap_or(0);
    for rank in 0..deepest {
        for cols in columns {
            if let Some(c) = cols.get(rank)
                && !any.contains(&c.as_str())
            {
                any.push(c);
            }
        }
    }
    any
}

/// The extraction slots of the time and id fields.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    /// The slot of each distinct time column.
    time: Box<[u32]>,
    /// For each source (`Source as usize`): its time columns, as indexes
    /// into `time`, in order of preference.
    by_source: Box<[Box<[u8]>]>,
    /// For each product (`Product as usize`): the time columns of its raw
    /// sources, for a SIEM's row that wraps a record of that product.
    by_product: Box<[Box<[u8]>]>,
    /// Every time column: each source's first, then their later ones.
    any: Box<[u8]>,
    id: [u32; 6],
}

impl Clock {
    pub fn new(slots: &mut dyn Slots) -> Clock {
        let schemas = schema::all();
        let columns: Vec<Vec<String>> = Source::ALL
            .into_iter()
            .map(|s| time_columns(s, &schemas))
            .collect();
        let mut names: Vec<&str> = Vec::new();
        let mut by_source = Vec::with_capacity(columns.len());
        for cols in &columns {
            let mut idx = Vec::with_capacity(cols.len());
            for c in cols {
                let i = names.iter().position(|n| n == c).unwrap_or_else(|| {
                    names.push(c);
                    names.len() - 1
                });
                // Fewer than a few dozen columns in all (the tables are built in).
                idx.push(i as u8);
            }
            by_source.push(idx.into_boxed_slice());
        }
        let by_product = Product::ALL
            .into_iter()
            .map(|p| {
                let mut idx: Vec<u8> = Vec::new();
                for &s in p.sources() {
                    for &i in &by_source[s as usize][..] {
                        if !idx.contains(&i) {
                            idx.push(i);
                        }
                    }
                }
                idx.into_boxed_slice()
            })
            .collect();
        // Every name is in `names`, pushed above.
        let any: Vec<u8> = by_rank(&columns)
            .into_iter()
            .filter_map(|c| names.iter().position(|n| *n == c))
            .map(|i| i as u8)
            .collect();
        Clock {
            time: names.iter().map(|n| slots.slot(n)).collect(),
            by_source: by_source.into_boxed_slice(),
            by_product,
            any: any.into_boxed_slice(),
            id: ID_FIELDS.map(|f| slots.slot(f)),
        }
    }

    /// The event's time in milliseconds since the epoch, from the first
    /// time column of its source that holds a time.
    pub fn time(&self, shape: Shape, values: &dyn Lookup<'_>) -> Option<i64> {
        let (inner, own): (&[u8], &[u8]) = match shape.source {
            Some(s) => {
                let own = self.by_source.get(s as usize).map_or(&[][..], |c| &c[..]);
                let inner = match shape.product {
                    Some(p) if s.is_siem_row() => {
                        self.by_product.get(p as usize).map_or(&[][..], |c| &c[..])
                    }
                    _ => &[],
                };
                (inner, own)
            }
            None => (&[], &self.any),
        };
        inner.iter().chain(own).find_map(|&c| {
            let slot = *self.time.get(usize::from(c))?;
            values
                .values(slot)
                .iter()
                .find_map(|(_, v)| event_time_ms(v))
        })
    }

    /// The event's id, bounded in length (see `key::bounded`).
    pub fn id(&self, product: Option<Product>, values: &dyn Lookup<'_>) -> Option<Box<str>> {
        id_fields(product).iter().find_map(|&f| {
            values.values(self.id[f]).iter().find_map(|(_, v)| match v {
                Val::Str(s) if !s.is_empty() => Some(bounded(s)),
                Val::Num(_) => v.text().map(|t| bounded(&t)),
                _ => None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one list other readers share: every source's columns, once,
    /// the event's own time before when it was received.
    #[test]
    fn all_time_columns_hold_every_source_s_first_before_any_later_one() {
        let all = all_time_columns();
        let at = |c: &str| all.iter().position(|a| a == c).unwrap();
        let schemas = schema::all();
        let firsts: Vec<usize> = Source::ALL
            .into_iter()
            .map(|s| at(&time_columns(s, &schemas)[0]))
            .collect();
        let last_first = firsts.iter().max().unwrap();
        for s in Source::ALL {
            for c in time_columns(s, &schemas).iter().skip(1) {
                assert!(at(c) > *last_first, "{c} before a source's first column");
            }
        }
        let distinct: std::collections::HashSet<&String> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "{all:?}");
        assert_eq!(all[0], "eventTime");
        assert!(at("devicetime") < at("starttime"));
        assert!(at("timestamp") < at("@timestamp"));
        assert!(at("_messageTime") < at("_receiptTime"));
    }

    /// Each schema's time column, mapped from a raw source, is read from
    /// the column that source's own list names: the two tables say one thing.
    #[test]
    fn schemas_map_their_time_from_the_raw_time_columns() {
        for source in Source::ALL.into_iter().filter(|s| s.is_siem_row()) {
            let schema = schema::find(source.name()).unwrap();
            assert!(!schema.time.is_empty(), "{}: no `time:`", source.name());
            for m in &schema.mappings {
                let raw = m.source.raw_time_columns();
                match m.column(&schema.time[0]) {
                    Some(crate::matching::column::Column::First(paths)) => {
                        assert!(
                            paths.iter().all(|p| raw.contains(&p.as_str())),
                            "{} maps {} from {paths:?}, not from {}'s {raw:?}",
                            source.name(),
                            schema.time[0],
                            m.source.name(),
                        );
                    }
                    // Sumo maps no column: a raw record keeps its own.
                    None => {}
                    Some(other) => panic!("{}: time mapped as {other:?}", source.name()),
                }
            }
        }
    }

    #[test]
    fn every_source_has_a_time_column() {
        let schemas = schema::all();
        for s in Source::ALL {
            assert!(!time_columns(s, &schemas).is_empty(), "{}", s.name());
        }
    }
}
