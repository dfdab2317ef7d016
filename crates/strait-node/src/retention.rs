//! A stream's retention period: changing it, and what it hides.
//!
//! Visibility is exact: a record whose arrival time is before the stream's retention
//! horizon (now minus the retention, and never earlier than a horizon reached before) is
//! not returned, TRIM_HORIZON starts after it, and a closed shard whose records have all
//! expired is no longer listed.

use strait_control::{ControlCommand, ControlReply, StreamKey};
use strait_core::service::{RetentionChange, UpdateRetentionRequest};
use strait_core::{StraitError, StraitResult};

use crate::operations::Operations;

/// The shortest and longest retention Kinesis allows, in hours.
pub const MIN_RETENTION_HOURS: u32 = 24;
pub const MAX_RETENTION_HOURS: u32 = 8760;

/// Increase- or DecreaseStreamRetentionPeriod.
pub async fn update(operations: &Operations, request: UpdateRetentionRequest) -> StraitResult<()> {
    let hours = request.retention_hours;
    if hours < MIN_RETENTION_HOURS {
        return Err(StraitError::retention_too_short(hours));
    }
    if hours > MAX_RETENTION_HOURS {
        return Err(StraitError::retention_too_long(hours));
    }
    let key = StreamKey {
        namespace: request.namespace.clone(),
        name: request.stream.clone(),
    };
    let view = operations.control().view();
    let stream = view
        .state
        .streams
        .get(&key)
        .ok_or_else(|| StraitError::stream_not_found(&request.stream, &request.namespace.account))?;
    let current = stream.retention_hours;
    match request.direction {
        RetentionChange::Increase if hours < current => {
            return Err(StraitError::retention_increase_shorter(
                hours,
                &request.stream,
                current,
            ));
        }
        RetentionChange::Decrease if hours > current => {
            return Err(StraitError::retention_decrease_longer(
                hours,
                &request.stream,
                current,
            ));
        }
        _ => {}
    }
    let reply = operations
        .control()
        .propose(ControlCommand::SetRetention {
            key,
            retention_hours: hours,
            now_ms: operations.clock().now_ms(),
        })
        .await?;
    match reply {
        ControlReply::Done => Ok(()),
        ControlReply::Rejected(_) => Err(StraitError::stream_not_found(
            &request.stream,
            &request.namespace.account,
        )),
        other => Err(StraitError::internal(format!(
            "unexpected control reply {other:?}"
        ))),
    }
}
