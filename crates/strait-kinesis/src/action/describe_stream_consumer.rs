//! DescribeStreamConsumer: one consumer, by ARN or by stream ARN and name.

use strait_core::StreamOperations;

use super::common::Checks;
use super::{Context, Reply, consumers};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let members = consumers::ConsumerMembers::read(input, &mut checks)?;
    checks.finish()?;
    let (_, _, consumer) = members.resolve(context).await?;
    let Value::Map(mut description) = consumers::render(&consumer) else {
        unreachable!("a consumer renders as a structure")
    };
    description.insert("StreamARN".to_owned(), Value::string(consumer.stream_arn.clone()));
    Ok(Reply::Document(Value::structure([(
        "ConsumerDescription",
        Value::Map(description),
    )])))
}
