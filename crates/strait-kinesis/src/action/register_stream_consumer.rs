//! RegisterStreamConsumer: register an enhanced fan-out consumer on a stream.

use strait_core::{StreamArn, StreamName, StreamOperations};

use super::common::Checks;
use super::{Context, Reply, consumers};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream_arn = consumers::read_stream_arn(input, &mut checks)?;
    let name = checks.required_string(input, "ConsumerName", "consumerName")?;
    if let Some(name) = &name {
        checks.extend(StreamName::violations(name, "consumerName"));
    }
    input.string_map("Tags")?;
    checks.finish()?;
    let (namespace, stream) = StreamArn::parse(&stream_arn.unwrap_or_default())?;
    let consumer = context
        .operations
        .register_consumer(&namespace, &stream, &name.unwrap_or_default())
        .await?;
    Ok(Reply::Document(Value::structure([(
        "Consumer",
        consumers::render(&consumer),
    )])))
}
