//! DescribeStream: the stream with a page of its shards.
//!
//! Shards are listed in id order from the first, or after `ExclusiveStartShardId`, at most
//! `Limit` (default and cap 100) of them; `HasMoreShards` tells whether more follow.

use strait_core::{ShardId, StreamOperations};

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The most shards one page lists, whatever the Limit.
const PAGE_MAX: usize = 100;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let limit = checks.integer(input, "Limit", "limit", 1, Some(10_000))?;
    let start = input.string("ExclusiveStartShardId")?;
    if let Some(start) = &start {
        checks.extend(ShardId::violations(start, "exclusiveStartShardId"));
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let description = context.operations.describe_stream(&namespace, &name).await?;
    let extras = context.operations.stream_extras(&namespace, &name).await?;
    // A start id that names no shard starts from the beginning, as Kinesis does.
    let after = start.as_deref().and_then(ShardId::parse_loose);
    let limit = limit.map_or(PAGE_MAX, |l| (l as usize).min(PAGE_MAX));
    let mut remaining = description
        .shards
        .iter()
        .filter(|shard| after.is_none_or(|after| shard.shard_id > after));
    let shards: Vec<Value> = remaining.by_ref().take(limit).map(common::shard).collect();
    let has_more = remaining.next().is_some();
    Ok(Reply::Document(Value::structure([(
        "StreamDescription",
        Value::structure([
            ("StreamName", Value::string(description.name.to_string())),
            ("StreamARN", Value::string(description.arn.clone())),
            ("StreamStatus", Value::string(description.status.as_kinesis_str())),
            ("StreamModeDetails", common::stream_mode_details(description.mode)),
            ("Shards", Value::List(shards)),
            ("HasMoreShards", Value::Bool(has_more)),
            (
                "RetentionPeriodHours",
                Value::Integer(i128::from(description.retention_hours)),
            ),
            (
                "StreamCreationTimestamp",
                Value::Timestamp(description.created_at_ms),
            ),
            ("EnhancedMonitoring", common::enhanced_monitoring(&extras)),
            ("EncryptionType", common::encryption_type(&extras)),
            ("KeyId", common::key_id(&extras)),
        ]),
    )])))
}
