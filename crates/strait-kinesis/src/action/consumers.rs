//! What the consumer operations share: naming a consumer by its ARN or by stream ARN and
//! name, and rendering it.

use strait_core::service::Consumer;
use strait_core::{Namespace, StraitError, StreamArn, StreamName, StreamOperations, Violation};

use super::Context;
use super::common::Checks;
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The model's pattern for consumer ARNs, as quoted in validation messages.
pub const CONSUMER_ARN_PATTERN: &str =
    r"^(arn):aws.*:kinesis:.*:\d{12}:.*stream\/[a-zA-Z0-9_.-]+\/consumer\/[a-zA-Z0-9_.-]+:[0-9]+";

/// The members naming a consumer: `ConsumerARN`, or `StreamARN` with `ConsumerName`.
pub struct ConsumerMembers {
    consumer_arn: Option<String>,
    stream_arn: Option<String>,
    name: Option<String>,
}

impl ConsumerMembers {
    /// Reads the members, recording model violations.
    pub fn read(input: &Input, checks: &mut Checks) -> Result<ConsumerMembers, ApiError> {
        let consumer_arn = input.string("ConsumerARN")?;
        if let Some(arn) = &consumer_arn
            && Consumer::parse_arn(arn).is_none()
        {
            checks.push(Violation::pattern(
                arn.clone(),
                "consumerARN",
                CONSUMER_ARN_PATTERN,
            ));
        }
        let stream_arn = input.string("StreamARN")?;
        if let Some(arn) = &stream_arn {
            checks.extend(StreamArn::violations(arn, "streamARN"));
        }
        let name = input.string("ConsumerName")?;
        if let Some(name) = &name {
            checks.extend(StreamName::violations(name, "consumerName"));
        }
        Ok(ConsumerMembers {
            consumer_arn,
            stream_arn,
            name,
        })
    }

    /// Finds the registered consumer the members name.
    pub async fn resolve<O: StreamOperations>(
        &self,
        context: &Context<'_, O>,
    ) -> Result<(Namespace, StreamName, Consumer), ApiError> {
        let (stream_arn, name, created_s) = match (&self.consumer_arn, &self.stream_arn, &self.name) {
            (Some(arn), _, _) => {
                // The model checks passed, so the ARN splits.
                let (stream_arn, name, created_s) = Consumer::parse_arn(arn)
                    .ok_or_else(|| StraitError::invalid_argument(format!("Invalid ConsumerARN {arn}.")))?;
                (stream_arn.to_owned(), name.to_owned(), Some(created_s))
            }
            (None, Some(stream_arn), Some(name)) => (stream_arn.clone(), name.clone(), None),
            _ => {
                return Err(StraitError::invalid_argument(
                    "Either ConsumerARN or both StreamARN and ConsumerName must be provided.",
                )
                .into());
            }
        };
        let (namespace, stream) = StreamArn::parse(&stream_arn)?;
        let consumers = context.operations.list_consumers(&namespace, &stream).await?;
        let consumer = consumers
            .into_iter()
            .find(|c| c.name == name && created_s.is_none_or(|s| s == c.created_at_ms / 1000))
            .ok_or_else(|| {
                StraitError::resource_not_found(format!(
                    "Consumer {name} under stream {stream} under account {} not found.",
                    namespace.account
                ))
            })?;
        Ok((namespace, stream, consumer))
    }
}

/// Renders a consumer as RegisterStreamConsumer and ListStreamConsumers return it. A
/// consumer is usable as soon as its registration commits, so it is always ACTIVE.
pub fn render(consumer: &Consumer) -> Value {
    Value::structure([
        ("ConsumerName", Value::string(consumer.name.clone())),
        ("ConsumerARN", Value::string(consumer.arn())),
        ("ConsumerStatus", Value::string("ACTIVE")),
        (
            "ConsumerCreationTimestamp",
            Value::Timestamp(consumer.created_at_ms),
        ),
    ])
}

/// Reads a required `StreamARN` (the consumer operations take no stream name).
pub fn read_stream_arn(input: &Input, checks: &mut Checks) -> Result<Option<String>, ApiError> {
    let arn = checks.required_string(input, "StreamARN", "streamARN")?;
    if let Some(arn) = &arn {
        checks.extend(StreamArn::violations(arn, "streamARN"));
    }
    Ok(arn)
}
