//! SplitShard: close a shard and open two children dividing its range at a hash key.

use strait_core::service::SplitShardRequest;
use strait_core::{HashKey, StreamOperations};

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let shard = checks.shard_id(input, "ShardToSplit", "shardToSplit")?;
    let key = checks.required_string(input, "NewStartingHashKey", "newStartingHashKey")?;
    if let Some(key) = &key {
        checks.extend(HashKey::violations(key, "newStartingHashKey"));
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let shard = common::resolve_shard(&shard.unwrap_or_default(), &name, &namespace.account)?;
    let key =
        HashKey::parse_decimal(&key.unwrap_or_default()).map_err(|e| e.into_error("newStartingHashKey"))?;
    context
        .operations
        .split_shard(SplitShardRequest {
            namespace,
            stream: name,
            shard_to_split: shard,
            new_starting_hash_key: key,
        })
        .await?;
    Ok(Reply::Empty)
}
