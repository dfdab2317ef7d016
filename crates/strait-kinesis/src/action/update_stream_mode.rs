//! UpdateStreamMode: switch a stream between PROVISIONED and ON_DEMAND capacity.
//!
//! The stream is addressed by ARN only and must be ACTIVE. The switch is in effect when the
//! call returns: an on-demand stream refuses SplitShard, MergeShards and UpdateShardCount,
//! a provisioned one accepts them again. Its shards stay as they are. WarmThroughputMiBps
//! may only accompany a switch to ON_DEMAND.

use strait_core::StreamOperations;
use strait_core::service::UpdateStreamModeRequest;

use super::common::{self, Checks};
use super::{Context, Reply, consumers};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let arn = consumers::read_stream_arn(input, &mut checks)?;
    let mode = common::read_stream_mode_details(input, &mut checks, true)?;
    let warm_throughput_mibps = common::read_warm_throughput(input, &mut checks, false)?;
    checks.finish()?;
    let (namespace, stream) = strait_core::StreamArn::parse(&arn.unwrap_or_default())?;
    context
        .operations
        .update_stream_mode(UpdateStreamModeRequest {
            namespace,
            stream,
            mode: mode.unwrap_or_default(),
            warm_throughput_mibps,
        })
        .await?;
    Ok(Reply::Empty)
}
