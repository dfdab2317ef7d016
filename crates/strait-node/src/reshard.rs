//! Splitting and merging shards while producers write.
//!
//! A reshard moves through three steps, each recorded or observable so that any node
//! (normally the one that received the request, otherwise the control leader's
//! reconciler) can finish it after a failure:
//!
//! ```text
//!  1. intent   BeginReshard commits: children's groups are created (their replicas
//!              start and elect), the stream is UPDATING, routing is unchanged.
//!  2. seal     each parent's leader commits a seal entry; from then on a put that
//!              reaches the parent is answered "sealed" and its node waits for step 3.
//!  3. switch   CompleteReshard commits, in one metadata entry: parents closed at their
//!              seal positions, children open, routing version + 1.
//! ```
//!
//! Sealing a sealed shard answers the first seal's index and completing a completed
//! reshard is refused harmlessly, so repeating any step is safe. Producers never see an
//! error: their node re-routes the records of a sealed parent to the children as soon as
//! its replica of the metadata has the switch.

use strait_control::placement::PlacementPlanner;
use strait_control::{
    ControlCommand, ControlError, ControlReply, PlannedChild, ShardMeta, StreamKey, StreamMeta,
};
use strait_core::service::{
    MergeShardsRequest, SplitShardRequest, UpdateShardCountRequest, UpdateShardCountResponse,
};
use strait_core::{
    HashKeyRange, Namespace, RecordPosition, ShardId, StraitError, StraitResult, StreamMode, StreamName,
    StreamStatus,
};

use crate::operations::{MAX_SHARDS_PER_STREAM, Operations};
use crate::scaling::{ScalingStep, next_scaling_step};

/// Splits an open shard at a hash key; returns once the children accept writes.
pub async fn split(operations: &Operations, request: SplitShardRequest) -> StraitResult<()> {
    let stream = reshardable(operations, &request.namespace, &request.stream)?;
    let parent = open_shard(&stream, request.shard_to_split)?;
    let (low, high) = parent
        .range
        .split_at(request.new_starting_hash_key)
        .map_err(|_| {
            StraitError::invalid_split_key(
                request.new_starting_hash_key,
                parent.id,
                &request.stream,
                &request.namespace.account,
                parent.range,
            )
        })?;
    let children = [(low, parent.id, None), (high, parent.id, None)];
    run(operations, &stream, vec![parent.id], &children).await
}

/// Merges two adjacent open shards; returns once the child accepts writes.
pub async fn merge(operations: &Operations, request: MergeShardsRequest) -> StraitResult<()> {
    let stream = reshardable(operations, &request.namespace, &request.stream)?;
    let first = open_shard(&stream, request.shard_to_merge)?;
    let second = open_shard(&stream, request.adjacent_shard_to_merge)?;
    let union = first.range.merge(second.range).ok_or_else(|| {
        StraitError::shards_not_adjacent(first.id, second.id, &request.stream, &request.namespace.account)
    })?;
    let children = [(union, first.id, Some(second.id))];
    run(operations, &stream, vec![first.id, second.id], &children).await
}

/// Reaches `target` evenly sized open shards by a sequence of splits and merges.
pub async fn update_shard_count(
    operations: &Operations,
    request: UpdateShardCountRequest,
) -> StraitResult<UpdateShardCountResponse> {
    let stream = reshardable(operations, &request.namespace, &request.stream)?;
    let current = stream.open_shards().count() as u32;
    let target = request.target_shard_count;
    let account = &request.namespace.account;
    if target == 0 {
        return Err(StraitError::validation(vec![strait_core::Violation::min_value(
            target.to_string(),
            "targetShardCount",
            1,
        )]));
    }
    if target > current.saturating_mul(2) || target.saturating_mul(2) < current {
        return Err(StraitError::limit_exceeded(format!(
            "UpdateShardCount request for stream {} under account {account} would take the stream \
             from {current} to {target} shards; a single update may at most double or halve the \
             shard count.",
            request.stream
        )));
    }
    if target > MAX_SHARDS_PER_STREAM {
        return Err(StraitError::limit_exceeded(format!(
            "UpdateShardCount request for stream {} under account {account} exceeds the limit of \
             {MAX_SHARDS_PER_STREAM} shards per stream.",
            request.stream
        )));
    }
    let targets = HashKeyRange::even_split(target);
    loop {
        let stream = reshardable(operations, &request.namespace, &request.stream)?;
        let open: Vec<(ShardId, HashKeyRange)> = stream.open_shards().map(|s| (s.id, s.range)).collect();
        match next_scaling_step(&open, &targets) {
            None => break,
            Some(ScalingStep::Split { shard, at }) => {
                let parent = open_shard(&stream, shard)?;
                let (low, high) = parent
                    .range
                    .split_at(at)
                    .map_err(|_| StraitError::internal("scaling planned an invalid split"))?;
                run(
                    operations,
                    &stream,
                    vec![shard],
                    &[(low, shard, None), (high, shard, None)],
                )
                .await?;
            }
            Some(ScalingStep::Merge { shard, adjacent }) => {
                let first = open_shard(&stream, shard)?;
                let second = open_shard(&stream, adjacent)?;
                let union = first
                    .range
                    .merge(second.range)
                    .ok_or_else(|| StraitError::internal("scaling planned a merge of non-adjacent shards"))?;
                run(
                    operations,
                    &stream,
                    vec![shard, adjacent],
                    &[(union, shard, Some(adjacent))],
                )
                .await?;
            }
        }
    }
    Ok(UpdateShardCountResponse {
        current_shard_count: current,
        target_shard_count: target,
    })
}

/// The stream, if it may be resharded now.
fn reshardable(
    operations: &Operations,
    namespace: &Namespace,
    name: &StreamName,
) -> StraitResult<StreamMeta> {
    let key = StreamKey {
        namespace: namespace.clone(),
        name: name.clone(),
    };
    let stream = operations
        .control()
        .view()
        .state
        .streams
        .get(&key)
        .cloned()
        .ok_or_else(|| StraitError::stream_not_found(name, &namespace.account))?;
    if stream.mode == StreamMode::OnDemand {
        return Err(StraitError::stream_on_demand(name, &namespace.account));
    }
    if stream.status != StreamStatus::Active {
        return Err(StraitError::stream_not_active(
            name,
            &namespace.account,
            stream.status,
        ));
    }
    Ok(stream)
}

fn open_shard(stream: &StreamMeta, shard: ShardId) -> StraitResult<ShardMeta> {
    let account = &stream.key.namespace.account;
    match stream.shards.get(&shard) {
        None => Err(StraitError::could_not_find_shard(
            &shard.to_string(),
            &stream.key.name,
            account,
        )),
        Some(meta) if meta.closed_at_ms.is_some() => Err(StraitError::shard_already_closed(
            shard,
            &stream.key.name,
            account,
        )),
        Some(meta) => Ok(meta.clone()),
    }
}

/// Records the intent, then drives it to completion.
async fn run(
    operations: &Operations,
    stream: &StreamMeta,
    parents: Vec<ShardId>,
    children: &[(HashKeyRange, ShardId, Option<ShardId>)],
) -> StraitResult<()> {
    let view = operations.control().view();
    // Draining nodes get no new replicas.
    let nodes: Vec<u64> = view.state.active_nodes();
    let mut planner = PlacementPlanner::new(&nodes, view.state.load());
    let planned = children
        .iter()
        .enumerate()
        .map(|(i, (range, parent, adjacent_parent))| PlannedChild {
            range: *range,
            parent: *parent,
            adjacent_parent: *adjacent_parent,
            replicas: planner.place(
                stream.incarnation.get(),
                stream.next_shard_ordinal + i as u32,
                operations.replication_factor(),
            ),
        })
        .collect();
    let started = operations.clock().now_ms();
    let reply = operations
        .control()
        .propose(ControlCommand::BeginReshard {
            key: stream.key.clone(),
            parents,
            children: planned,
            now_ms: started,
        })
        .await?;
    let intent = match reply {
        ControlReply::ReshardStarted { intent } => intent,
        ControlReply::Rejected(ControlError::StreamNotActive(name, status)) => {
            return Err(StraitError::stream_not_active(
                &name,
                &stream.key.namespace.account,
                status,
            ));
        }
        ControlReply::Rejected(ControlError::ShardNotOpen(shard)) => {
            return Err(StraitError::shard_already_closed(
                shard,
                &stream.key.name,
                &stream.key.namespace.account,
            ));
        }
        ControlReply::Rejected(e) => return Err(StraitError::internal(format!("reshard refused: {e}"))),
        other => {
            return Err(StraitError::internal(format!(
                "unexpected control reply {other:?}"
            )));
        }
    };
    finish(operations, &stream.key, intent).await?;
    tracing::info!(
        stream = %stream.key.name,
        intent,
        elapsed_ms = operations.clock().now_ms().saturating_sub(started),
        "reshard complete"
    );
    Ok(())
}

/// Seals the parents of the stream's reshard `intent` and commits the switch. Safe to
/// call again, from any node, for a reshard that is partly or wholly done.
pub async fn finish(operations: &Operations, key: &StreamKey, intent: u64) -> StraitResult<()> {
    let view = operations.control().view();
    let Some(stream) = view.state.streams.get(key) else {
        return Ok(());
    };
    let Some(reshard) = stream.reshard.as_ref().filter(|r| r.id == intent) else {
        return Ok(());
    };
    let mut endings = Vec::with_capacity(reshard.parents.len());
    for parent in &reshard.parents {
        let shard = stream
            .shards
            .get(parent)
            .ok_or_else(|| StraitError::internal("reshard parent missing from the metadata"))?;
        let group = view
            .state
            .groups
            .get(&shard.group)
            .ok_or_else(|| StraitError::internal("reshard parent's group missing from the metadata"))?;
        let sealed_at = operations.shard_access().seal(group).await?;
        tracing::info!(stream = %key.name, shard = %parent, group = group.id, sealed_at, "parent sealed");
        endings.push((*parent, RecordPosition::new(sealed_at, 0)));
    }
    match operations
        .control()
        .propose(ControlCommand::CompleteReshard {
            key: key.clone(),
            intent,
            endings,
            now_ms: operations.clock().now_ms(),
        })
        .await?
    {
        ControlReply::Done | ControlReply::Rejected(ControlError::NoSuchReshard) => Ok(()),
        other => Err(StraitError::internal(format!(
            "completing the reshard: {other:?}"
        ))),
    }
}
