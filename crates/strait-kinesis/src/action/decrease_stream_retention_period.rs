//! DecreaseStreamRetentionPeriod: keep records for a shorter time.

use strait_core::StreamOperations;
use strait_core::service::RetentionChange;

use super::common::change_retention;
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    change_retention(context, input, RetentionChange::Decrease).await
}
