//! StartStreamEncryption: report the stream's records as KMS-encrypted with a key.

use strait_core::StreamOperations;

use super::{Context, Reply, encryption};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    encryption::change(context, input, true).await
}
