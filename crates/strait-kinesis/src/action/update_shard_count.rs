//! UpdateShardCount: reshard to a number of evenly sized open shards.

use strait_core::service::UpdateShardCountRequest;
use strait_core::{StreamArn, StreamOperations, Violation};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The only scaling type Kinesis offers.
const SCALING_TYPES: [&str; 1] = ["UNIFORM_SCALING"];

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let target = checks.required_integer(input, "TargetShardCount", "targetShardCount", 1, None)?;
    let scaling = checks.required_string(input, "ScalingType", "scalingType")?;
    if let Some(scaling) = &scaling
        && !SCALING_TYPES.contains(&scaling.as_str())
    {
        checks.push(Violation::enum_value(
            scaling.clone(),
            "scalingType",
            &SCALING_TYPES,
        ));
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let arn = StreamArn::format(&namespace, &name);
    let response = context
        .operations
        .update_shard_count(UpdateShardCountRequest {
            namespace,
            stream: name.clone(),
            target_shard_count: target.map_or(0, |t| u32::try_from(t).unwrap_or(u32::MAX)),
        })
        .await?;
    Ok(Reply::Document(Value::structure([
        ("StreamName", Value::string(name.to_string())),
        (
            "CurrentShardCount",
            Value::Integer(i128::from(response.current_shard_count)),
        ),
        (
            "TargetShardCount",
            Value::Integer(i128::from(response.target_shard_count)),
        ),
        ("StreamARN", Value::string(arn)),
    ])))
}
