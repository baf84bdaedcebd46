//! The schema tables' `columns`, looked up by the names exports write.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::rules::schema::{ColumnType, column_tables};
use crate::vocab::logsource::Source;

/// One SIEM's columns, found by their name in any case.
#[derive(Debug)]
pub(crate) struct Table {
    pub source: Source,
    /// Lower-cased name → (the schema's name, its type).
    by_lower: HashMap<String, (String, ColumnType)>,
}

impl Table {
    /// The schema's spelling and type of the column an export calls `name`
    /// (in any case: Sumo lower-cases every name, AQL ignores case).
    pub fn column(&self, name: &str) -> Option<(&str, ColumnType)> {
        self.by_lower
            .get(&name.to_ascii_lowercase())
            .map(|(n, t)| (n.as_str(), *t))
    }

    /// True for Sumo Logic, whose exports need the `_raw` record expanded.
    pub fn is_sumo(&self) -> bool {
        self.source == Source::Sumo
    }
}

/// Every table with `columns`, read from the built-in schemas once.
pub(crate) fn tables() -> &'static [Table] {
    static TABLES: OnceLock<Vec<Table>> = OnceLock::new();
    TABLES.get_or_init(|| {
        // The built-in tables parse (a unit test in `rules::schema` holds
        // them to it); were one not to, exports would pass names as given.
        column_tables()
            .unwrap_or_default()
            .into_iter()
            .map(|t| Table {
                source: t.source,
                by_lower: t
                    .columns
                    .into_iter()
                    .map(|(n, ty)| (n.to_ascii_lowercase(), (n, ty)))
                    .collect(),
            })
            .collect()
    })
}

/// The table of `source`.
pub(crate) fn table(source: Source) -> Option<&'static Table> {
    tables().iter().find(|t| t.source == source)
}

/// The name a header cell gives its column: the cell, less the ` [UTC]`
/// the Azure portal appends to time columns, trimmed.
pub(crate) fn header_name(cell: &str) -> &str {
    let cell = cell.trim();
    cell.strip_suffix(" [UTC]").unwrap_or(cell)
}

/// The table most of `header`'s cells belong to, if at least two do: a
/// header is a SIEM's when it names that SIEM's columns.
pub(crate) fn best_table<'h>(
    header: impl Iterator<Item = &'h str> + Clone,
) -> Option<&'static Table> {
    let mut best: Option<(&Table, usize)> = None;
    for t in tables() {
        let known = header
            .clone()
            .filter(|c| t.column(header_name(c)).is_some())
            .count();
        if known >= 2 && best.is_none_or(|(_, n)| known > n) {
            best = Some((t, known));
        }
    }
    best.map(|(t, _)| t)
}
