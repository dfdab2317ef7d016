//! What the account-settings operations share: rendering the minimum throughput billing
//! commitment.

use strait_core::service::AccountSettings;

use crate::codec::Value;

/// Renders `MinimumThroughputBillingCommitment` (its timestamps only once it was enabled).
pub fn commitment(settings: &AccountSettings) -> Value {
    let timestamp = |ms: Option<u64>| Value::optional(ms.map(Value::Timestamp));
    Value::structure([
        (
            "Status",
            Value::string(settings.commitment_status.as_kinesis_str()),
        ),
        ("StartedAt", timestamp(settings.commitment_started_at_ms)),
        ("EndedAt", timestamp(settings.commitment_ended_at_ms)),
        (
            "EarliestAllowedEndAt",
            timestamp(settings.commitment_earliest_allowed_end_at_ms),
        ),
    ])
}
