//! CreateStream: a stream whose shards divide the hash key space evenly.
//!
//! The answer is empty; the stream is CREATING until its shard groups have leaders, which
//! clients observe through DescribeStream (boto3's `stream_exists` waiter).

use strait_core::service::CreateStreamRequest;
use strait_core::{StreamMode, StreamName, StreamOperations, Violation};

use super::common::Checks;
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

/// The shard count of an on-demand stream at creation, as Kinesis reports it.
const ON_DEMAND_INITIAL_SHARDS: u32 = 4;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let name = checks.required_string(input, "StreamName", "streamName")?;
    if let Some(name) = &name {
        checks.extend(StreamName::violations(name, "streamName"));
    }
    let shard_count = checks.integer(input, "ShardCount", "shardCount", 1, None)?;
    let mode = match input.structure("StreamModeDetails")? {
        None => StreamMode::Provisioned,
        Some(details) => {
            let text = checks.required_string(&details, "StreamMode", "streamModeDetails.streamMode")?;
            match text.as_deref().map(|t| (t, StreamMode::parse(t))) {
                Some((_, Some(mode))) => mode,
                Some((text, None)) => {
                    checks.push(Violation::enum_value(
                        text,
                        "streamModeDetails.streamMode",
                        &["PROVISIONED", "ON_DEMAND"],
                    ));
                    StreamMode::Provisioned
                }
                None => StreamMode::Provisioned,
            }
        }
    };
    checks.integer(
        input,
        "MaxRecordSizeInKiB",
        "maxRecordSizeInKiB",
        1024,
        Some(10240),
    )?;
    checks.integer(input, "WarmThroughputMiBps", "warmThroughputMiBps", 0, None)?;
    checks.finish()?;
    let shard_count = match (mode, shard_count) {
        (_, Some(count)) => u32::try_from(count).unwrap_or(u32::MAX),
        (StreamMode::OnDemand, None) => ON_DEMAND_INITIAL_SHARDS,
        (StreamMode::Provisioned, None) => {
            return Err(strait_core::StraitError::invalid_argument(
                "ShardCount is required for a stream in PROVISIONED mode.",
            )
            .into());
        }
    };
    context
        .operations
        .create_stream(CreateStreamRequest {
            namespace: context.namespace.clone(),
            stream: StreamName::new(name.unwrap_or_default())?,
            shard_count,
            mode,
        })
        .await?;
    Ok(Reply::Empty)
}
