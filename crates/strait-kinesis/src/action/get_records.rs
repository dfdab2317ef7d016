//! GetRecords: records at an iterator, the next iterator and the lag behind the tip.
//!
//! At the end of a closed shard the answer has no NextShardIterator and lists the shard's
//! children, which is how consumers (the KCL among them) follow a split or a merge.

use strait_core::{StreamArn, StreamOperations};

use super::common::{self, Checks};
use super::get_shard_iterator::iterator_violations;
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let iterator = input.string("ShardIterator")?;
    checks.extend(iterator_violations(iterator.as_deref(), "shardIterator"));
    let limit = checks.integer(input, "Limit", "limit", 1, Some(10_000))?;
    if let Some(arn) = input.string("StreamARN")? {
        checks.extend(StreamArn::violations(&arn, "streamARN"));
    }
    checks.finish()?;
    let limit = limit.map_or(0, |l| l as u32);
    let response = context
        .operations
        .get_records(iterator.as_deref().unwrap_or_default(), limit)
        .await?;
    let child_shards = if response.next_iterator.is_none() {
        Value::List(response.child_shards.iter().map(common::child_shard).collect())
    } else {
        Value::Null
    };
    Ok(Reply::Document(Value::structure([
        (
            "Records",
            Value::List(response.records.iter().map(common::record).collect()),
        ),
        (
            "NextShardIterator",
            Value::optional(response.next_iterator.map(Value::string)),
        ),
        (
            "MillisBehindLatest",
            Value::Integer(i128::from(response.millis_behind_latest)),
        ),
        ("ChildShards", child_shards),
    ])))
}
