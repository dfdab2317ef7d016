//! `strait stream create|delete|describe|list|split|merge|scale`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::json;
use strait_client::{ClientError, ShardDescription, StreamDescription};
use strait_core::{HashKey, ShardId, StreamMode, StreamStatus};
use tokio::time::Instant;

use crate::cli::{
    CreateArgs, DeleteArgs, DescribeArgs, GlobalArgs, ListArgs, MergeArgs, ModeArg, OutputFormat,
    RetentionArgs, ScaleArgs, SplitArgs,
};
use crate::commands::client;
use crate::output::{Table, node_list, or_dash, rfc3339};

/// How often DescribeStream is polled while waiting for ACTIVE.
const WAIT_POLL_INTERVAL: Duration = Duration::from_millis(250);

pub async fn create(global: &GlobalArgs, args: CreateArgs) -> anyhow::Result<ExitCode> {
    let client = client(global)?;
    let mode = match args.mode {
        ModeArg::Provisioned => StreamMode::Provisioned,
        ModeArg::OnDemand => StreamMode::OnDemand,
    };
    client.create_stream(&args.name, args.shards, mode).await?;
    if args.no_wait {
        println!("creating stream {} with {} shard(s)", args.name, args.shards);
        return Ok(ExitCode::SUCCESS);
    }
    let deadline = Instant::now() + args.wait_timeout;
    loop {
        // A stream being created may not be visible yet on the node that answers.
        let status = match client.describe_stream(&args.name).await {
            Ok(description) => Some(description.status),
            Err(error) if error.is("ResourceNotFoundException") => None,
            Err(error) => return Err(error.into()),
        };
        if status == Some(StreamStatus::Active) {
            println!("created stream {} with {} shard(s)", args.name, args.shards);
            return Ok(ExitCode::SUCCESS);
        }
        if Instant::now() + WAIT_POLL_INTERVAL > deadline {
            let state = status.map_or("not visible", StreamStatus::as_kinesis_str);
            return Err(ClientError::Service {
                error_type: "ResourceInUseException".to_owned(),
                message: format!(
                    "stream {} is still {state} after {:?}; the cluster may still finish creating it",
                    args.name, args.wait_timeout
                ),
                code: tonic::Code::DeadlineExceeded,
            }
            .into());
        }
        tokio::time::sleep(WAIT_POLL_INTERVAL).await;
    }
}

pub async fn delete(global: &GlobalArgs, args: DeleteArgs) -> anyhow::Result<ExitCode> {
    client(global)?.delete_stream(&args.name).await?;
    println!("deleted stream {}", args.name);
    Ok(ExitCode::SUCCESS)
}

/// Parses a shard id the way Kinesis does (`shardId-000000000001`, `shardId-1` or `1`).
fn shard_arg(text: &str) -> anyhow::Result<ShardId> {
    ShardId::parse_loose(text).ok_or_else(|| anyhow::anyhow!("{text:?} is not a shard id"))
}

pub async fn split(global: &GlobalArgs, args: SplitArgs) -> anyhow::Result<ExitCode> {
    let shard = shard_arg(&args.shard)?;
    let at = match &args.at {
        Some(text) => Some(
            HashKey::parse_decimal(text)
                .map_err(|e| anyhow::anyhow!("--at {text}: {}", e.into_error("at")))?,
        ),
        None => None,
    };
    let started = Instant::now();
    client(global)?.split_shard(&args.name, shard, at).await?;
    println!(
        "split {shard} of {} in {} ms",
        args.name,
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn merge(global: &GlobalArgs, args: MergeArgs) -> anyhow::Result<ExitCode> {
    let (shard, adjacent) = (shard_arg(&args.shard)?, shard_arg(&args.adjacent)?);
    let started = Instant::now();
    client(global)?.merge_shards(&args.name, shard, adjacent).await?;
    println!(
        "merged {shard} and {adjacent} of {} in {} ms",
        args.name,
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn scale(global: &GlobalArgs, args: ScaleArgs) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let (from, to) = client(global)?
        .update_shard_count(&args.name, args.shards)
        .await?;
    println!(
        "scaled {} from {from} to {to} shards in {} ms",
        args.name,
        started.elapsed().as_millis()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn retention(global: &GlobalArgs, args: RetentionArgs) -> anyhow::Result<ExitCode> {
    client(global)?.update_retention(&args.name, args.hours).await?;
    println!("retention of {} is now {} hours", args.name, args.hours);
    Ok(ExitCode::SUCCESS)
}

pub async fn describe(global: &GlobalArgs, args: DescribeArgs) -> anyhow::Result<ExitCode> {
    let description = client(global)?.describe_stream(&args.name).await?;
    match args.format {
        OutputFormat::Text => print!("{}", describe_text(&description)),
        OutputFormat::Json => println!("{}", describe_json(&description)),
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(global: &GlobalArgs, args: ListArgs) -> anyhow::Result<ExitCode> {
    let names = client(global)?.list_streams().await?;
    match args.format {
        OutputFormat::Text => {
            for name in names {
                println!("{name}");
            }
        }
        OutputFormat::Json => println!("{}", json!(names)),
    }
    Ok(ExitCode::SUCCESS)
}

fn shard_state(shard: &ShardDescription) -> &'static str {
    if shard.is_closed() { "closed" } else { "open" }
}

fn parents(shard: &ShardDescription) -> String {
    let parents: Vec<String> = shard.parents().iter().map(ToString::to_string).collect();
    if parents.is_empty() {
        "-".to_owned()
    } else {
        parents.join(",")
    }
}

/// Renders a description as a summary followed by a table of shards.
fn describe_text(description: &StreamDescription) -> String {
    let open = description
        .shards
        .iter()
        .filter(|shard| !shard.is_closed())
        .count();
    let mut out = format!(
        "stream     {}\narn        {}\nstatus     {}\nmode       {}\nretention  {} hours\n\
         created    {}\nshards     {} ({} open)\n\n",
        description.name,
        description.arn,
        description.status,
        description.mode,
        description.retention_hours,
        rfc3339(description.created_at_ms),
        description.shards.len(),
        open,
    );
    let mut table = Table::new([
        "SHARD",
        "HASH KEY RANGE",
        "PARENTS",
        "REPLICAS",
        "LEADER",
        "STATE",
    ]);
    for shard in &description.shards {
        table.row(vec![
            shard.shard_id.to_string(),
            format!("{}-{}", shard.hash_key_range.start, shard.hash_key_range.end),
            parents(shard),
            node_list(&shard.replicas),
            or_dash(shard.leader),
            shard_state(shard).to_owned(),
        ]);
    }
    out.push_str(&table.render());
    out
}

/// Renders a description as one JSON object with Kinesis's field names in snake_case.
fn describe_json(description: &StreamDescription) -> serde_json::Value {
    let shards: Vec<serde_json::Value> = description
        .shards
        .iter()
        .map(|shard| {
            json!({
                "shard_id": shard.shard_id.to_string(),
                "parent_shard_id": shard.parent_shard_id.map(|id| id.to_string()),
                "adjacent_parent_shard_id": shard.adjacent_parent_shard_id.map(|id| id.to_string()),
                "hash_key_range": {
                    "starting_hash_key": shard.hash_key_range.start.to_string(),
                    "ending_hash_key": shard.hash_key_range.end.to_string(),
                },
                "sequence_number_range": {
                    "starting_sequence_number": shard.starting_sequence_number.to_string(),
                    "ending_sequence_number": shard.ending_sequence_number.map(|n| n.to_string()),
                },
                "replicas": shard.replicas,
                "leader": shard.leader,
                "state": shard_state(shard),
            })
        })
        .collect();
    json!({
        "name": description.name,
        "arn": description.arn,
        "incarnation": description.incarnation,
        "status": description.status.as_kinesis_str(),
        "mode": description.mode.as_kinesis_str(),
        "retention_hours": description.retention_hours,
        "created_at_ms": description.created_at_ms,
        "shards": shards,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{HashKey, HashKeyRange, SequenceNumber, ShardId, StreamIncarnation};

    fn description() -> StreamDescription {
        let halves = HashKeyRange::even_split(2);
        let shard = |id: u32, range: HashKeyRange, parent: Option<u32>, closed: bool| ShardDescription {
            shard_id: ShardId(id),
            parent_shard_id: parent.map(ShardId),
            adjacent_parent_shard_id: None,
            hash_key_range: range,
            starting_sequence_number: SequenceNumber::starting(StreamIncarnation::MIN, ShardId(id)),
            ending_sequence_number: closed
                .then(|| SequenceNumber::starting(StreamIncarnation::MIN, ShardId(id))),
            replicas: vec![1, 2, 3],
            leader: (!closed).then_some(2),
        };
        StreamDescription {
            name: "orders".into(),
            arn: "arn:aws:kinesis:us-east-1:000000000000:stream/orders".into(),
            incarnation: 1,
            status: StreamStatus::Active,
            mode: StreamMode::Provisioned,
            retention_hours: 24,
            created_at_ms: 0,
            shards: vec![
                shard(0, HashKeyRange::FULL, None, true),
                shard(1, halves[0], Some(0), false),
                shard(2, halves[1], Some(0), false),
            ],
        }
    }

    #[test]
    fn text_lists_every_shard_with_its_lineage() {
        let text = describe_text(&description());
        assert!(text.contains("shards     3 (2 open)"), "{text}");
        let row = text
            .lines()
            .find(|line| line.starts_with("shardId-000000000002"))
            .expect("a row for shard 2");
        assert!(row.contains("shardId-000000000000"), "{row}");
        assert!(row.contains(&format!("-{}", HashKey::MAX)), "{row}");
        assert!(row.contains("1,2,3"), "{row}");
        assert!(row.ends_with("open"), "{row}");
    }

    #[test]
    fn json_keeps_big_numbers_as_strings() {
        let value = describe_json(&description());
        assert_eq!(value["status"], "ACTIVE");
        assert_eq!(
            value["shards"][0]["hash_key_range"]["ending_hash_key"],
            HashKey::MAX.to_string().as_str()
        );
        assert_eq!(value["shards"][1]["parent_shard_id"], "shardId-000000000000");
        assert_eq!(value["shards"][1]["leader"], 2);
        assert!(value["shards"][0]["leader"].is_null());
    }
}
