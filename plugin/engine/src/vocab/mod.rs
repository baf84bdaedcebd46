//! The words every room of the engine shares: event values and string
//! patterns (`value`), levels, sources and products (`logsource`), and
//! time (`timepart`).
//!
//! May import: nothing of the crate outside `vocab`.

pub(crate) mod level;
pub(crate) mod logsource;
pub(crate) mod timepart;
pub(crate) mod value;
