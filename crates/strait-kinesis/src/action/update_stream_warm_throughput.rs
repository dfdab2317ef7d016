//! UpdateStreamWarmThroughput: set the write throughput an on-demand stream is kept ready
//! for. Only on-demand streams of accounts whose minimum throughput billing commitment is
//! in force have one. Strait has no capacity to warm, so the target is in effect at once
//! (CurrentMiBps equals TargetMiBps).

use strait_core::{StraitError, StreamArn, StreamOperations};

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The most warm throughput a stream may ask for by default: 10 GiB/s.
const MAX_WARM_THROUGHPUT_MIBPS: u32 = 10 * 1024;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let mibps = common::read_warm_throughput(input, &mut checks, true)?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let mibps = mibps.unwrap_or_default();
    if mibps > MAX_WARM_THROUGHPUT_MIBPS {
        return Err(StraitError::limit_exceeded(format!(
            "Requested warm throughput of {mibps} MiBps exceeds the limit of {MAX_WARM_THROUGHPUT_MIBPS} \
             MiBps for stream {name} under account {}.",
            namespace.account
        ))
        .into());
    }
    context
        .operations
        .set_warm_throughput(&namespace, &name, mibps)
        .await?;
    Ok(Reply::Document(Value::structure([
        ("StreamARN", Value::string(StreamArn::format(&namespace, &name))),
        ("StreamName", Value::string(name.to_string())),
        ("WarmThroughput", common::warm_throughput(Some(mibps))),
    ])))
}
