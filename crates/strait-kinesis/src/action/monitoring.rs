//! What EnableEnhancedMonitoring and DisableEnhancedMonitoring share.
//!
//! The enabled set of shard-level metrics is recorded and reported; Strait publishes no
//! CloudWatch metrics.

use std::collections::BTreeSet;

use strait_core::{StreamArn, StreamOperations, Violation};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The concrete metric names, in model order; `ALL` stands for all of them.
pub const METRICS: [&str; 7] = [
    "IncomingBytes",
    "IncomingRecords",
    "OutgoingBytes",
    "OutgoingRecords",
    "WriteProvisionedThroughputExceeded",
    "ReadProvisionedThroughputExceeded",
    "IteratorAgeMilliseconds",
];

/// Enables (`enable`) or disables metrics.
pub async fn change<O: StreamOperations>(
    context: &Context<'_, O>,
    input: &Input,
    enable: bool,
) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let requested = input.string_list("ShardLevelMetrics")?;
    match &requested {
        None => checks.push(Violation::missing("shardLevelMetrics")),
        Some(list) => {
            if list.is_empty() {
                checks.push(Violation::min_length("[]", "shardLevelMetrics", 1));
            }
            if list.len() > 7 {
                checks.push(Violation::max_length(
                    format!("[{}]", list.join(", ")),
                    "shardLevelMetrics",
                    7,
                ));
            }
            let allowed: Vec<&str> = METRICS.iter().copied().chain(["ALL"]).collect();
            for metric in list {
                if !allowed.contains(&metric.as_str()) {
                    checks.push(Violation::enum_value(
                        metric.clone(),
                        "shardLevelMetrics.member",
                        &allowed,
                    ));
                }
            }
        }
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let requested: BTreeSet<String> = requested
        .unwrap_or_default()
        .iter()
        .flat_map(|metric| {
            if metric == "ALL" {
                METRICS.iter().map(|m| (*m).to_owned()).collect()
            } else {
                vec![metric.clone()]
            }
        })
        .collect();
    let current: BTreeSet<String> = context
        .operations
        .stream_extras(&namespace, &name)
        .await?
        .shard_level_metrics
        .into_iter()
        .collect();
    let desired: BTreeSet<String> = if enable {
        current.union(&requested).cloned().collect()
    } else {
        current.difference(&requested).cloned().collect()
    };
    context
        .operations
        .set_shard_level_metrics(&namespace, &name, desired.iter().cloned().collect())
        .await?;
    let render = |set: &BTreeSet<String>| Value::List(set.iter().map(|m| Value::string(m.clone())).collect());
    Ok(Reply::Document(Value::structure([
        ("StreamName", Value::string(name.to_string())),
        ("CurrentShardLevelMetrics", render(&current)),
        ("DesiredShardLevelMetrics", render(&desired)),
        ("StreamARN", Value::string(StreamArn::format(&namespace, &name))),
    ])))
}
