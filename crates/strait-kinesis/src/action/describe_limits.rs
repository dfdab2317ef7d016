//! DescribeLimits: the account's shard quota and how much of it the region's streams use.

use strait_core::{StraitError, StreamOperations};

use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The default shard quota of the largest regions, which Strait applies everywhere.
const SHARD_LIMIT: i128 = 20_000;
/// The default number of on-demand streams per account.
const ON_DEMAND_STREAM_LIMIT: i128 = 50;
/// How many stream names one listing call returns while counting.
const LISTING_PAGE: usize = 1000;

pub async fn handle<O: StreamOperations>(
    context: &Context<'_, O>,
    _input: &Input,
) -> Result<Reply, ApiError> {
    let namespace = &context.namespace;
    let mut open_shards: i128 = 0;
    let mut on_demand_streams: i128 = 0;
    let mut start: Option<String> = None;
    loop {
        let (names, more) = context
            .operations
            .list_streams(namespace, start.as_deref(), LISTING_PAGE)
            .await?;
        for name in &names {
            match context.operations.describe_stream(namespace, name).await {
                Ok(description) => {
                    open_shards += description.open_shards().count() as i128;
                    if description.mode == strait_core::StreamMode::OnDemand {
                        on_demand_streams += 1;
                    }
                }
                // Deleted since the listing: it no longer counts.
                Err(StraitError::ResourceNotFound { .. }) => {}
                Err(error) => return Err(error.into()),
            }
        }
        match names.last() {
            Some(last) if more => start = Some(last.to_string()),
            _ => break,
        }
    }
    Ok(Reply::Document(Value::structure([
        ("ShardLimit", Value::Integer(SHARD_LIMIT)),
        ("OpenShardCount", Value::Integer(open_shards)),
        ("OnDemandStreamCount", Value::Integer(on_demand_streams)),
        ("OnDemandStreamCountLimit", Value::Integer(ON_DEMAND_STREAM_LIMIT)),
    ])))
}
