//! DescribeStreamSummary: the stream without its shards, with the open shard count, the
//! consumer count, the record size limit and (for an on-demand stream that has one) the
//! warm throughput.

use strait_core::StreamOperations;

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let description = context.operations.describe_stream(&namespace, &name).await?;
    let extras = context.operations.stream_extras(&namespace, &name).await?;
    let open_shards = description.open_shards().count();
    let consumers = context.operations.list_consumers(&namespace, &name).await?.len();
    Ok(Reply::Document(Value::structure([(
        "StreamDescriptionSummary",
        Value::structure([
            ("StreamName", Value::string(description.name.to_string())),
            ("StreamARN", Value::string(description.arn.clone())),
            ("StreamStatus", Value::string(description.status.as_kinesis_str())),
            ("StreamModeDetails", common::stream_mode_details(description.mode)),
            (
                "RetentionPeriodHours",
                Value::Integer(i128::from(description.retention_hours)),
            ),
            (
                "StreamCreationTimestamp",
                Value::Timestamp(description.created_at_ms),
            ),
            ("EnhancedMonitoring", common::enhanced_monitoring(&extras)),
            ("EncryptionType", common::encryption_type(&extras)),
            ("KeyId", common::key_id(&extras)),
            ("OpenShardCount", Value::Integer(open_shards as i128)),
            ("ConsumerCount", Value::Integer(consumers as i128)),
            (
                "WarmThroughput",
                common::warm_throughput(extras.warm_throughput_mibps),
            ),
            (
                "MaxRecordSizeInKiB",
                Value::Integer(i128::from(extras.max_record_size_kib)),
            ),
        ]),
    )])))
}
