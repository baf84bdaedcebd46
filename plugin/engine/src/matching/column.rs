//! Where a value comes from: one type for a SIEM schema's column (a path
//! in the schema tables) and a label's field source (a field slot once
//! compiled), so both are read by the same code.

/// Where one column comes from in one raw source, `L` being a location in
/// the event: a path in the schema tables, a field slot once compiled
/// (a label's field source).
#[derive(Clone, Debug)]
pub(crate) enum Column<L = String> {
    /// The first of these locations that holds a value.
    First(Vec<L>),
    /// A constant.
    Value(String),
    /// A location whose values are renamed (raw value, column value).
    Renamed {
        at: L,
        values: Vec<(String, String)>,
    },
    /// The first capture group of `pattern` over a location.
    Derived { at: L, pattern: regex_lite::Regex },
}

impl<L> Column<L> {
    /// The same column with each location mapped by `f`.
    pub fn map<M>(&self, mut f: impl FnMut(&L) -> M) -> Column<M> {
        match self {
            Column::First(locs) => Column::First(locs.iter().map(f).collect()),
            Column::Value(v) => Column::Value(v.clone()),
            Column::Renamed { at, values } => Column::Renamed {
                at: f(at),
                values: values.clone(),
            },
            Column::Derived { at, pattern } => Column::Derived {
                at: f(at),
                pattern: pattern.clone(),
            },
        }
    }
}
