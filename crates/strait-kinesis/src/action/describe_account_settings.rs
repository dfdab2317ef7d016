//! DescribeAccountSettings: the caller's account settings in the request's region.

use strait_core::StreamOperations;

use super::{Context, Reply, account};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(
    context: &Context<'_, O>,
    _input: &Input,
) -> Result<Reply, ApiError> {
    let settings = context.operations.account_settings(&context.namespace).await?;
    Ok(Reply::Document(Value::structure([(
        "MinimumThroughputBillingCommitment",
        account::commitment(&settings),
    )])))
}
