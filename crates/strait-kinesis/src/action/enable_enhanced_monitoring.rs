//! EnableEnhancedMonitoring: add shard-level metrics to the stream's enabled set.

use strait_core::StreamOperations;

use super::{Context, Reply, monitoring};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    monitoring::change(context, input, true).await
}
