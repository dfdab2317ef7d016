//! DeregisterStreamConsumer: remove a consumer, by ARN or by stream ARN and name.

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, consumers};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let members = consumers::ConsumerMembers::read(input, &mut checks)?;
    checks.finish()?;
    let (namespace, stream, consumer) = members.resolve(context).await?;
    context
        .operations
        .deregister_consumer(&namespace, &stream, &consumer.name)
        .await?;
    Ok(Reply::Empty)
}
