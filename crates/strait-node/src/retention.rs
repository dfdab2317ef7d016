//! Changing a stream's retention period.

use strait_core::StraitResult;
use strait_core::service::UpdateRetentionRequest;

use crate::operations::Operations;

pub async fn update(_operations: &Operations, request: UpdateRetentionRequest) -> StraitResult<()> {
    Err(strait_core::StraitError::unavailable(format!(
        "changing the retention of {} is not available on this node yet",
        request.stream
    )))
}
