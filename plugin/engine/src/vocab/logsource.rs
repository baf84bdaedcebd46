//! Which log source an event comes from, recognised by its shape.
//!
//! Sigma rules name a `logsource` (`product: aws`, `service: cloudtrail`).
//! Events carry no such label, so the engine recognises two things from
//! fields each shape always has:
//!
//! - the **product** (`aws`, `azure`, `gcp`, `m365`), which gates rules by
//!   their `logsource.product`: a rule for one product never runs on
//!   another's events, and an event of no known product meets every rule (a
//!   pipeline that feeds its own JSON still gets detections);
//! - the **source**, the exact record shape: a raw cloud log
//!   (`aws.cloudtrail`, `azure.activity` in its diagnostic-settings export,
//!   `azure.activity.rest` from the Azure Monitor REST API, `gcp.audit`,
//!   `m365.management`) or a SIEM's row (`sentinel.AWSCloudTrail`,
//!   `sentinel.AzureActivity`, `qradar`, `falcon`, `sumo`). Rules written
//!   for a SIEM's columns (`sigil.schema`) run on that SIEM's rows and,
//!   through the schema's field mappings, on the raw sources it maps from;
//!   the verdict names the source.

use crate::vocab::value::Val;

/// A product the engine recognises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Product {
    /// AWS CloudTrail: `eventSource` is an `*.amazonaws.com` service.
    Aws,
    /// Azure Activity, Entra ID audit and sign-in logs: `operationName`.
    Azure,
    /// GCP Cloud Audit Logs: `protoPayload.methodName` or `serviceName`.
    Gcp,
    /// Microsoft 365 management activity: `Workload` and `Operation`.
    M365,
}

impl Product {
    /// Every product, in declaration order (`self as usize` indexes it).
    pub const ALL: [Product; 4] = [Product::Aws, Product::Azure, Product::Gcp, Product::M365];

    /// The raw source whose time columns an event of this product, wrapped
    /// in a SIEM's row, carries (see [`Source::raw_time_columns`]).
    pub fn sources(self) -> &'static [Source] {
        match self {
            Product::Aws => &[Source::AwsCloudTrail],
            Product::Azure => &[Source::AzureActivity, Source::AzureActivityRest],
            Product::Gcp => &[Source::GcpAudit],
            Product::M365 => &[Source::M365],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Product::Aws => "aws",
            Product::Azure => "azure",
            Product::Gcp => "gcp",
            Product::M365 => "m365",
        }
    }
}

/// A record shape the engine recognises; [`Source::name`] is what verdicts
/// and `sigil.schema` say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// A raw CloudTrail record.
    AwsCloudTrail,
    /// Azure Activity Log as diagnostic settings export it (Event Hub,
    /// storage): `operationName` a string, `category` one of the activity
    /// log's categories.
    AzureActivity,
    /// Azure Activity Log from the Azure Monitor REST API (and `az monitor
    /// activity-log list`): `operationName.value`.
    AzureActivityRest,
    /// Another Azure log with `operationName` (Entra ID, resource logs).
    Azure,
    /// A GCP Cloud Audit Logs `LogEntry`.
    GcpAudit,
    /// A Microsoft 365 management activity record.
    M365,
    /// A Microsoft Sentinel `AWSCloudTrail` row (`Type: AWSCloudTrail`).
    SentinelAwsCloudTrail,
    /// A Microsoft Sentinel `AzureActivity` row (`Type: AzureActivity`).
    SentinelAzureActivity,
    /// An IBM QRadar event: `logsourcetypename` beside `devicetime`.
    QRadar,
    /// A CrowdStrike Falcon event: `#event_simpleName`.
    Falcon,
    /// A Sumo Logic message parsed by `json auto`: `_sourceCategory`.
    Sumo,
}

impl Source {
    /// Every source, for name lookups.
    pub const ALL: [Source; 11] = [
        Source::AwsCloudTrail,
        Source::AzureActivity,
        Source::AzureActivityRest,
        Source::Azure,
        Source::GcpAudit,
        Source::M365,
        Source::SentinelAwsCloudTrail,
        Source::SentinelAzureActivity,
        Source::QRadar,
        Source::Falcon,
        Source::Sumo,
    ];

    /// The name verdicts carry and schemas use.
    pub fn name(self) -> &'static str {
        match self {
            Source::AwsCloudTrail => "aws.cloudtrail",
            Source::AzureActivity => "azure.activity",
            Source::AzureActivityRest => "azure.activity.rest",
            Source::Azure => "azure",
            Source::GcpAudit => "gcp.audit",
            Source::M365 => "m365.management",
            Source::SentinelAwsCloudTrail => "sentinel.AWSCloudTrail",
            Source::SentinelAzureActivity => "sentinel.AzureActivity",
            Source::QRadar => "qradar",
            Source::Falcon => "falcon",
            Source::Sumo => "sumo",
        }
    }

    /// The source called `name`.
    pub fn parse(name: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether this is a SIEM's row (it has a schema table in
    /// `plugin/engine/schemas/`, which names its time columns) rather than
    /// a raw log record.
    pub fn is_siem_row(self) -> bool {
        matches!(
            self,
            Source::SentinelAwsCloudTrail
                | Source::SentinelAzureActivity
                | Source::QRadar
                | Source::Falcon
                | Source::Sumo
        )
    }

    /// What makes an event this source, as [`detect`] checks it: the
    /// columns (with the value, where one is needed) a row must carry.
    /// `sigil rules check` and the end of `sigil run` say it.
    pub fn markers(self) -> &'static [&'static str] {
        match self {
            Source::AwsCloudTrail => &["eventSource: *.amazonaws.com"],
            Source::AzureActivity => &["operationName", "category: an activity log category"],
            Source::AzureActivityRest => &["operationName.value"],
            Source::Azure => &["operationName"],
            Source::GcpAudit => &["protoPayload.methodName or protoPayload.serviceName"],
            Source::M365 => &["Workload", "Operation"],
            Source::SentinelAwsCloudTrail => &["Type: AWSCloudTrail"],
            Source::SentinelAzureActivity => &["Type: AzureActivity"],
            Source::QRadar => &["logsourcetypename"],
            Source::Falcon => &["#event_simpleName"],
            Source::Sumo => &["_sourceCategory"],
        }
    }

    /// Columns that rows of this SIEM carry when they lack its marker: what
    /// the end of `sigil run` names as the nearest thing seen. QRadar rows
    /// selected without `LOGSOURCETYPENAME(devicetype)` keep only the type
    /// id; a KQL `project` drops Sentinel's `Type`; Falcon Data Replicator
    /// files name the event `event_simpleName`, without LogScale's `#`;
    /// clients of Sumo's Search Job API receive its metadata in lower case
    /// (`_sourcecategory`, `_messagetime`).
    pub(crate) fn near_columns(self) -> &'static [&'static str] {
        match self {
            Source::QRadar => &["devicetype"],
            Source::SentinelAwsCloudTrail | Source::SentinelAzureActivity => &["TimeGenerated"],
            Source::Falcon => &["event_simpleName"],
            Source::Sumo => &["_sourcecategory", "_messageTime"],
            _ => &[],
        }
    }

    /// The time columns of a raw source, event time before receipt time;
    /// empty for a SIEM's row, whose schema table names them (`time:`).
    /// A test checks that each schema maps its time column from these.
    ///
    /// - CloudTrail: `eventTime`;
    /// - Azure Activity Log, diagnostic export (and other Azure resource
    ///   and Entra ID logs): `time`;
    /// - Azure Activity Log, REST: `eventTimestamp`, else `submissionTimestamp`
    ///   (when it became queryable);
    /// - GCP `LogEntry`: `timestamp`, else `receiveTimestamp`;
    /// - Microsoft 365 management activity: `CreationTime`.
    pub(crate) fn raw_time_columns(self) -> &'static [&'static str] {
        match self {
            Source::AwsCloudTrail => &["eventTime"],
            Source::AzureActivity | Source::Azure => &["time"],
            Source::AzureActivityRest => &["eventTimestamp", "submissionTimestamp"],
            Source::GcpAudit => &["timestamp", "receiveTimestamp"],
            Source::M365 => &["CreationTime"],
            _ => &[],
        }
    }
}

/// The fields shape detection reads.
pub(crate) const FIELDS: [&str; 12] = [
    "eventSource",
    "protoPayload.methodName",
    "protoPayload.serviceName",
    "Workload",
    "Operation",
    "operationName",
    "operationName.value",
    "category",
    "Type",
    "logsourcetypename",
    "#event_simpleName",
    "_sourceCategory",
];

/// The categories of the Azure Activity Log (its diagnostic export carries
/// one in `category`; other Azure logs use other names).
const ACTIVITY_CATEGORIES: [&str; 8] = [
    "administrative",
    "security",
    "servicehealth",
    "alert",
    "recommendation",
    "policy",
    "autoscale",
    "resourcehealth",
];

/// What shape detection found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Shape {
    pub product: Option<Product>,
    pub source: Option<Source>,
}

/// Recognises product and source from the values of [`FIELDS`], in order.
pub(crate) fn detect(values: [&[(u32, Val<'_>)]; 12]) -> Shape {
    let [
        event_source,
        method,
        service,
        workload,
        operation,
        operation_name,
        operation_value,
        category,
        ty,
        qradar,
        falcon,
        sumo,
    ] = values;
    let str_is = |v: &[(u32, Val<'_>)], f: &dyn Fn(&str) -> bool| {
        v.iter().any(|(_, x)| matches!(x, Val::Str(s) if f(s)))
    };
    let product = if str_is(event_source, &|s| s.ends_with(".amazonaws.com")) {
        Some(Product::Aws)
    } else if !method.is_empty() || !service.is_empty() {
        Some(Product::Gcp)
    } else if !workload.is_empty() && !operation.is_empty() {
        Some(Product::M365)
    } else if !operation_name.is_empty() {
        Some(Product::Azure)
    } else {
        None
    };
    // A SIEM row or a collector's envelope names itself; a raw record is
    // what its product's shape says.
    let source = if str_is(ty, &|s| s == "AWSCloudTrail") {
        Some(Source::SentinelAwsCloudTrail)
    } else if str_is(ty, &|s| s == "AzureActivity") {
        Some(Source::SentinelAzureActivity)
    } else if !falcon.is_empty() {
        Some(Source::Falcon)
    } else if !sumo.is_empty() {
        Some(Source::Sumo)
    } else if !qradar.is_empty() {
        Some(Source::QRadar)
    } else {
        match product {
            Some(Product::Aws) => Some(Source::AwsCloudTrail),
            Some(Product::Gcp) => Some(Source::GcpAudit),
            Some(Product::M365) => Some(Source::M365),
            Some(Product::Azure) if !operation_value.is_empty() => Some(Source::AzureActivityRest),
            Some(Product::Azure)
                if str_is(category, &|s| {
                    ACTIVITY_CATEGORIES
                        .iter()
                        .any(|c| s.eq_ignore_ascii_case(c))
                }) =>
            {
                Some(Source::AzureActivity)
            }
            Some(Product::Azure) => Some(Source::Azure),
            None => None,
        }
    };
    Shape { product, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_follow_declaration_order() {
        for (i, s) in Source::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i, "{s:?}");
        }
        for (i, p) in Product::ALL.into_iter().enumerate() {
            assert_eq!(p as usize, i, "{p:?}");
        }
    }

    /// Each SIEM row's marker, alone, makes it that row: what `markers`
    /// tells the user is what `detect` checks.
    #[test]
    fn a_siem_marker_alone_is_recognised() {
        let s = |t: &'static str| vec![(0, Val::Str(t.into()))];
        for (field, value, source) in [
            ("Type", "AWSCloudTrail", Source::SentinelAwsCloudTrail),
            ("Type", "AzureActivity", Source::SentinelAzureActivity),
            ("logsourcetypename", "Amazon AWS CloudTrail", Source::QRadar),
            (
                "#event_simpleName",
                "CloudResourceModification",
                Source::Falcon,
            ),
            ("_sourceCategory", "prod/azure/activitylogs", Source::Sumo),
        ] {
            let mut values: Vec<Vec<(u32, Val<'_>)>> = vec![Vec::new(); FIELDS.len()];
            let at = FIELDS.iter().position(|f| *f == field).unwrap();
            values[at] = s(value);
            let shape = detect(std::array::from_fn(|i| values[i].as_slice()));
            assert_eq!(shape.source, Some(source), "{field}");
            assert!(
                source
                    .markers()
                    .iter()
                    .any(|m| m.split(':').next() == Some(field)),
                "{source:?} says its marker is {:?}",
                source.markers()
            );
        }
    }
}
