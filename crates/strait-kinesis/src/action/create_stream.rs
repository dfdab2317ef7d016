//! CreateStream: a stream whose shards divide the hash key space evenly.
//!
//! The answer is empty; the stream is CREATING until its shard groups have leaders, which
//! clients observe through DescribeStream (boto3's `stream_exists` waiter). An ON_DEMAND
//! stream needs no ShardCount and starts with four shards; a record size limit or warm
//! throughput given here is recorded with the stream's other settings right after it is
//! created.

use strait_core::service::{CreateStreamRequest, DEFAULT_MAX_RECORD_SIZE_KIB, MAX_RECORD_SIZE_KIB_RANGE};
use strait_core::{StreamMode, StreamName, StreamOperations};

use super::common::{self, Checks};
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
    let mode = common::read_stream_mode_details(input, &mut checks, false)?.unwrap_or_default();
    let max_record_kib = checks.integer(
        input,
        "MaxRecordSizeInKiB",
        "maxRecordSizeInKiB",
        i64::from(*MAX_RECORD_SIZE_KIB_RANGE.start()),
        Some(i64::from(*MAX_RECORD_SIZE_KIB_RANGE.end())),
    )?;
    let warm_throughput = common::read_warm_throughput(input, &mut checks, false)?;
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
    let namespace = context.namespace.clone();
    let stream = StreamName::new(name.unwrap_or_default())?;
    // Refused before anything is created, so a failed call leaves no stream behind.
    if warm_throughput.is_some() {
        if mode != StreamMode::OnDemand {
            return Err(strait_core::StraitError::invalid_argument(
                "WarmThroughputMiBps can only be specified for a stream in ON_DEMAND mode.",
            )
            .into());
        }
        if !context
            .operations
            .account_settings(&namespace)
            .await?
            .commitment_in_force()
        {
            return Err(strait_core::StraitError::commitment_required(&namespace.account).into());
        }
    }
    context
        .operations
        .create_stream(CreateStreamRequest {
            namespace: namespace.clone(),
            stream: stream.clone(),
            shard_count,
            mode,
        })
        .await?;
    // The model bounds passed, so the value fits.
    let max_record_kib = max_record_kib.map(|kib| u32::try_from(kib).unwrap_or(DEFAULT_MAX_RECORD_SIZE_KIB));
    if let Some(kib) = max_record_kib.filter(|kib| *kib != DEFAULT_MAX_RECORD_SIZE_KIB) {
        context
            .operations
            .set_max_record_size(&namespace, &stream, kib)
            .await?;
    }
    if let Some(mibps) = warm_throughput {
        context
            .operations
            .set_warm_throughput(&namespace, &stream, mibps)
            .await?;
    }
    Ok(Reply::Empty)
}
