//! From rule text to the compiled plan: the line-aware YAML tree (`yaml`),
//! what every document shares (`document`), detection rules and filters
//! (`rule`), their conditions (`condition`), a field's modifiers and values
//! (`modifier`, `field`), SIEM schemas (`schema`) and correlation documents
//! (`correlation`, linked against the pack by the `correlation` room).
//!
//! May import: `matching`, `vocab`, `error`, `options`.

pub(crate) mod condition;
pub(crate) mod correlation;
pub(crate) mod document;
pub(crate) mod field;
pub(crate) mod modifier;
pub(crate) mod rule;
pub(crate) mod schema;
pub(crate) mod yaml;
