//! When an event happened and what it is called: the timestamp and event id
//! fields of each log source.
//!
//! Windows slide on the time an event records, not on when it arrives:
//! audit logs are delivered late and out of order (CloudTrail delivers in
//! batches every few minutes, and its files are not sorted), so arrival
//! time would both split real sequences and join unrelated ones.

use crate::matching::matcher::{Lookup, Slots};
use crate::vocab::logsource::Product;
use crate::vocab::timepart::parse_rfc3339_ms;
use crate::vocab::value::Val;

use super::key::bounded;

/// Timestamp fields, in order of preference when the product is unknown.
const TIME_FIELDS: [&str; 6] = [
    "@timestamp",
    "timestamp",
    "eventTime",
    "time",
    "eventTimestamp",
    "CreationTime",
];
/// Event id fields, in order of preference when the product is unknown.
const ID_FIELDS: [&str; 6] = [
    "eventID",
    "insertId",
    "eventDataId",
    "correlationId",
    "Id",
    "id",
];

/// The timestamp fields of a product, as indexes into [`TIME_FIELDS`]: the
/// field each product's schema documents for the time of the event.
fn time_fields(product: Option<Product>) -> &'static [usize] {
    match product {
        Some(Product::Aws) => &[2],      // CloudTrail eventTime
        Some(Product::Azure) => &[3, 4], // Activity log `time` (export) or `eventTimestamp` (REST)
        Some(Product::Gcp) => &[1],      // LogEntry timestamp
        Some(Product::M365) => &[5],     // Management activity CreationTime
        None => &[0, 1, 2, 3, 4, 5],
    }
}

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

/// The extraction slots of the time and id fields.
#[derive(Clone, Debug)]
pub(crate) struct Clock {
    time: [u32; 6],
    id: [u32; 6],
}

impl Clock {
    pub fn new(slots: &mut dyn Slots) -> Clock {
        Clock {
            time: TIME_FIELDS.map(|f| slots.slot(f)),
            id: ID_FIELDS.map(|f| slots.slot(f)),
        }
    }

    /// The event's time in milliseconds since the epoch: an RFC 3339 string,
    /// or a number of seconds (milliseconds above 10^12) since the epoch.
    pub fn time(&self, product: Option<Product>, values: &dyn Lookup<'_>) -> Option<i64> {
        time_fields(product).iter().find_map(|&f| {
            values
                .values(self.time[f])
                .iter()
                .find_map(|(_, v)| timestamp(v))
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

fn timestamp(v: &Val<'_>) -> Option<i64> {
    match v {
        // Falcon writes epoch milliseconds as a string of digits.
        Val::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<f64>().ok().and_then(|n| timestamp(&Val::Num(n)))
        }
        Val::Str(s) => parse_rfc3339_ms(s),
        Val::Num(n) if n.is_finite() && *n >= 0.0 && *n < 1e17 => Some(if *n > 1e12 {
            *n as i64
        } else {
            (*n * 1000.0) as i64
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_seconds_or_milliseconds() {
        assert_eq!(
            timestamp(&Val::Num(1_722_513_864.0)),
            Some(1_722_513_864_000)
        );
        assert_eq!(
            timestamp(&Val::Num(1_722_513_864_123.0)),
            Some(1_722_513_864_123)
        );
        assert_eq!(
            timestamp(&Val::Str("2024-08-01T12:04:24.5Z".into())),
            Some(1_722_513_864_500)
        );
        assert_eq!(timestamp(&Val::Num(-1.0)), None);
        assert_eq!(timestamp(&Val::Bool(true)), None);
    }
}
