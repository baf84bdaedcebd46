//! The schema tables' `columns`, looked up by the names exports write.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::rules::schema::{ColumnType, column_tables};
use crate::vocab::logsource::Source;

/// One SIEM's columns, found by their name in any case.
#[derive(Debug)]
pub(crate) struct Table {
    pub source: Source,
    /// Name (lower-cased if `case_insensitive`) → (the schema's name, its
    /// type).
    by_name: HashMap<String, (String, ColumnType)>,
    case_insensitive: bool,
    markers: Vec<String>,
}

impl Table {
    /// The schema's spelling and type of the column an export calls
    /// `name`: in any case for a SIEM that ignores case (Sumo lower-cases
    /// every name it exports, AQL ignores case), else as spelled.
    pub fn column(&self, name: &str) -> Option<(&str, ColumnType)> {
        let found = if self.case_insensitive {
            self.by_name.get(&name.to_ascii_lowercase())
        } else {
            self.by_name.get(name)
        };
        found.map(|(n, t)| (n.as_str(), *t))
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
                by_name: t
                    .columns
                    .into_iter()
                    .map(|(n, ty)| {
                        let key = if t.case_insensitive {
                            n.to_ascii_lowercase()
                        } else {
                            n.clone()
                        };
                        (key, (n, ty))
                    })
                    .collect(),
                case_insensitive: t.case_insensitive,
                markers: t.markers,
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

/// The table `header` belongs to, if at least two of its cells are that
/// table's columns: the one whose markers it names most (`_raw`,
/// `_messageTime` for Sumo; `Type` for Sentinel), then the one whose
/// columns it names most, then the first listed.
pub(crate) fn best_table<'h>(
    header: impl Iterator<Item = &'h str> + Clone,
) -> Option<&'static Table> {
    let mut best: Option<(&Table, (usize, usize))> = None;
    for t in tables() {
        let (mut markers, mut known) = (0, 0);
        for cell in header.clone() {
            if let Some((name, _)) = t.column(header_name(cell)) {
                known += 1;
                markers += usize::from(t.markers.iter().any(|m| m == name));
            }
        }
        if known >= 2 && best.is_none_or(|(_, score)| (markers, known) > score) {
            best = Some((t, (markers, known)));
        }
    }
    best.map(|(t, _)| t)
}
