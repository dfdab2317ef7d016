//! Splitting and merging shards.

use strait_core::StraitResult;
use strait_core::service::{
    MergeShardsRequest, SplitShardRequest, UpdateShardCountRequest, UpdateShardCountResponse,
};

use crate::operations::Operations;

pub async fn split(_operations: &Operations, request: SplitShardRequest) -> StraitResult<()> {
    Err(strait_core::StraitError::unavailable(format!(
        "splitting {} is not available on this node yet",
        request.stream
    )))
}

pub async fn merge(_operations: &Operations, request: MergeShardsRequest) -> StraitResult<()> {
    Err(strait_core::StraitError::unavailable(format!(
        "merging shards of {} is not available on this node yet",
        request.stream
    )))
}

pub async fn update_shard_count(
    _operations: &Operations,
    request: UpdateShardCountRequest,
) -> StraitResult<UpdateShardCountResponse> {
    Err(strait_core::StraitError::unavailable(format!(
        "resharding {} is not available on this node yet",
        request.stream
    )))
}
