//! Which log source an event comes from, recognised by its shape.
//!
//! Sigma rules name a `logsource` (`product: aws`, `service: cloudtrail`).
//! Events carry no such label, so the engine recognises the product from
//! fields each one always has, and a rule for one product never runs on
//! another's events. An event of no known shape meets every rule: a
//! pipeline that feeds its own JSON still gets detections.

use crate::value::Val;

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
    pub fn name(self) -> &'static str {
        match self {
            Product::Aws => "aws",
            Product::Azure => "azure",
            Product::Gcp => "gcp",
            Product::M365 => "m365",
        }
    }
}

/// The fields shape detection reads.
pub(crate) const FIELDS: [&str; 6] =
    ["eventSource", "protoPayload.methodName", "protoPayload.serviceName", "Workload", "Operation", "operationName"];

/// Recognises the product from the values of [`FIELDS`], in that order.
pub(crate) fn detect(values: [&[(u32, Val<'_>)]; 6]) -> Option<Product> {
    let [event_source, method, service, workload, operation, operation_name] = values;
    let is_str = |v: &[(u32, Val<'_>)], f: &dyn Fn(&str) -> bool| v.iter().any(|(_, x)| matches!(x, Val::Str(s) if f(s)));
    if is_str(event_source, &|s| s.ends_with(".amazonaws.com")) {
        Some(Product::Aws)
    } else if !method.is_empty() || !service.is_empty() {
        Some(Product::Gcp)
    } else if !workload.is_empty() && !operation.is_empty() {
        Some(Product::M365)
    } else if !operation_name.is_empty() {
        Some(Product::Azure)
    } else {
        None
    }
}
