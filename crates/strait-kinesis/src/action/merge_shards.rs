//! MergeShards: close two adjacent shards and open one child over their union.

use strait_core::StreamOperations;
use strait_core::service::MergeShardsRequest;

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let first = checks.shard_id(input, "ShardToMerge", "shardToMerge")?;
    let second = checks.shard_id(input, "AdjacentShardToMerge", "adjacentShardToMerge")?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let first = common::resolve_shard(&first.unwrap_or_default(), &name, &namespace.account)?;
    let second = common::resolve_shard(&second.unwrap_or_default(), &name, &namespace.account)?;
    context
        .operations
        .merge_shards(MergeShardsRequest {
            namespace,
            stream: name,
            shard_to_merge: first,
            adjacent_shard_to_merge: second,
        })
        .await?;
    Ok(Reply::Empty)
}
