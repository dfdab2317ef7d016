//! GetShardIterator: an opaque, expiring position in one shard.

use strait_core::{
    IteratorKind, IteratorType, SequenceNumber, ShardId, StraitError, StreamOperations, Violation,
};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let shard_text = checks.shard_id(input, "ShardId", "shardId")?;
    let kind = checks.required_string(input, "ShardIteratorType", "shardIteratorType")?;
    if let Some(kind) = &kind {
        checks.extend(IteratorKind::violations(kind, "shardIteratorType"));
    }
    let starting = input.string("StartingSequenceNumber")?;
    if let Some(text) = &starting {
        checks.extend(SequenceNumber::violations(text, "startingSequenceNumber"));
    }
    let timestamp_ms = input.timestamp_ms("Timestamp")?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let shard_text = shard_text.unwrap_or_default();
    let shard = ShardId::parse_loose(&shard_text).ok_or_else(|| {
        StraitError::resource_not_found(format!(
            "Shard {shard_text} in stream {name} under account {} does not exist",
            namespace.account
        ))
    })?;
    let iterator_type = IteratorType::parse(
        kind.as_deref().unwrap_or_default(),
        starting.as_deref(),
        timestamp_ms,
        shard,
        &name,
        &namespace.account,
    )?;
    let iterator = context
        .operations
        .get_shard_iterator(&namespace, &name, shard, iterator_type)
        .await?;
    Ok(Reply::Document(Value::structure([(
        "ShardIterator",
        Value::string(iterator),
    )])))
}

/// The violations of a missing or malformed iterator member, shared with GetRecords.
pub fn iterator_violations(iterator: Option<&str>, field: &str) -> Vec<Violation> {
    match iterator {
        None => vec![Violation::missing(field)],
        Some(text) if text.is_empty() => vec![Violation::min_length(text, field, 1)],
        Some(text) if text.chars().count() > strait_core::MAX_ITERATOR_LEN => {
            vec![Violation::max_length(text, field, strait_core::MAX_ITERATOR_LEN)]
        }
        Some(_) => Vec::new(),
    }
}
