//! sigil-engine: Sigma detection for cloud audit logs.
//!
//! ```
//! use sigil_engine::{Engine, Options, RuleSource};
//!
//! let rule = RuleSource::new("stop.yml", r#"
//! title: EC2 instance stopped
//! id: 6a3a7d0e-0000-4000-8000-000000000001
//! level: low
//! tags: [attack.t1578.004]
//! logsource: {product: aws, service: cloudtrail}
//! detection:
//!     selection:
//!         eventSource: ec2.amazonaws.com
//!         eventName: StopInstances
//!     condition: selection
//! "#);
//! let mut engine = Engine::load(&[rule], Options::default()).unwrap();
//! let event = br#"{"eventVersion":"1.09","eventSource":"ec2.amazonaws.com","eventName":"StopInstances"}"#;
//! let verdict = engine.evaluate(event).unwrap();
//! assert_eq!(verdict.score, 30);
//! assert_eq!(engine.rules()[verdict.findings[0].rule as usize].title, "EC2 instance stopped");
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod condition;
mod engine;
mod error;
mod extract;
pub mod input;
mod level;
mod logsource;
mod matcher;
mod modifier;
mod options;
mod prefilter;
mod rule;
mod timepart;
mod value;
mod verdict;
mod yaml;

pub use engine::{BatchEntry, Engine, EngineStats, RuleSource};
pub use rule::RuleTest;
pub use error::{EventError, LoadError, RuleError};
pub use level::Level;
pub use options::Options;
pub use verdict::{Finding, RuleInfo, Verdict};
