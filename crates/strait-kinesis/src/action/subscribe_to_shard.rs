//! SubscribeToShard: push a shard's records to a registered consumer as an event stream.
//!
//! Errors found before streaming starts (an unknown consumer or shard, bad arguments) are
//! ordinary error responses. Otherwise the answer is 200 with an
//! `application/vnd.amazon.eventstream` body (chunked on HTTP/1.1, a DATA stream on HTTP/2):
//!
//! ```text
//! initial-response {}                       boto3 refuses the stream without it
//! SubscribeToShardEvent {Records, ContinuationSequenceNumber, MillisBehindLatest}   ...
//! SubscribeToShardEvent {..., ChildShards}  at the end of a closed shard, then the end
//! ```
//!
//! An event is sent whenever records arrive, and an empty one at least every
//! [`HEARTBEAT`] so that the continuation point and the lag keep moving. The stream ends
//! after [`SUBSCRIPTION_LIFETIME`] (the client subscribes again from
//! ContinuationSequenceNumber), at the end of a closed shard, when the client goes away, or
//! when the node shuts down. A failure mid-stream is sent as an `exception` message naming
//! the Kinesis error, after which the stream ends.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use strait_core::{
    IteratorKind, IteratorType, SequenceNumber, ShardId, StraitError, StreamOperations, Violation,
};
use tokio::sync::mpsc;

use super::common::{self, Checks};
use super::{Context, Reply, consumers};
use crate::codec::{Format, Input, Value};
use crate::error::ApiError;
use crate::event_stream;

/// How long one subscription lasts, as on AWS.
pub const SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(300);
/// The longest time between two events.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    // Only for its violation: ConsumerMembers reads the value.
    checks.required_string(input, "ConsumerARN", "consumerARN")?;
    let shard_text = checks.shard_id(input, "ShardId", "shardId")?;
    let position = input.structure("StartingPosition")?;
    let (kind, starting, timestamp_ms) = match &position {
        None => {
            checks.push(Violation::missing("startingPosition"));
            (None, None, None)
        }
        Some(position) => {
            let kind = checks.required_string(position, "Type", "startingPosition.type")?;
            if let Some(kind) = &kind {
                checks.extend(IteratorKind::violations(kind, "startingPosition.type"));
            }
            let starting = position.string("SequenceNumber")?;
            if let Some(text) = &starting {
                checks.extend(SequenceNumber::violations(
                    text,
                    "startingPosition.sequenceNumber",
                ));
            }
            (kind, starting, position.timestamp_ms("Timestamp")?)
        }
    };
    let members = consumers::ConsumerMembers::read(input, &mut checks)?;
    checks.finish()?;
    let (namespace, stream, _consumer) = members.resolve(context).await?;
    let shard_text = shard_text.unwrap_or_default();
    let shard = ShardId::parse_loose(&shard_text).ok_or_else(|| {
        StraitError::resource_not_found(format!(
            "Shard {shard_text} in stream {stream} under account {} does not exist",
            namespace.account
        ))
    })?;
    let iterator_type = IteratorType::parse(
        kind.as_deref().unwrap_or_default(),
        starting.as_deref(),
        timestamp_ms,
        shard,
        &stream,
        &namespace.account,
    )?;
    let iterator = context
        .operations
        .get_shard_iterator(&namespace, &stream, shard, iterator_type)
        .await?;
    // Before any record is sent, the continuation point is where reading starts.
    let continuation = match iterator_type {
        IteratorType::AtSequenceNumber(number) | IteratorType::AfterSequenceNumber(number) => {
            number.to_string()
        }
        _ => context
            .operations
            .describe_stream(&namespace, &stream)
            .await?
            .shard(shard)
            .map(|s| s.starting_sequence_number.to_string())
            .unwrap_or_default(),
    };
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(4);
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|message| (message, receiver))
    });
    tokio::spawn(push(
        Arc::clone(context.operations),
        context.draining.clone(),
        iterator,
        continuation,
        sender,
    ));
    Ok(Reply::EventStream(Body::from_stream(body)))
}

/// Reads the shard and sends events until the subscription ends.
async fn push<O: StreamOperations>(
    operations: Arc<O>,
    mut draining: tokio::sync::watch::Receiver<bool>,
    mut iterator: String,
    mut continuation: String,
    sender: mpsc::Sender<Result<Bytes, Infallible>>,
) {
    let send = |message: Vec<u8>| Ok(Bytes::from(message));
    if sender
        .send(send(event_stream::event("initial-response", b"{}")))
        .await
        .is_err()
    {
        return;
    }
    let deadline = tokio::time::Instant::now() + SUBSCRIPTION_LIFETIME;
    let mut last_event = tokio::time::Instant::now();
    loop {
        let response = match operations.get_records(&iterator, 10_000).await {
            Ok(response) => response,
            Err(error) => {
                let body =
                    Format::Json.encode(&Value::structure([("message", Value::string(error.message()))]));
                let _ = sender
                    .send(send(event_stream::exception(error.kinesis_type(), &body)))
                    .await;
                return;
            }
        };
        if let Some(last) = response.records.last() {
            continuation = last.sequence_number.to_string();
        }
        let finished = response.next_iterator.is_none();
        let has_records = !response.records.is_empty();
        if has_records || finished || last_event.elapsed() >= HEARTBEAT {
            let child_shards = if finished {
                Value::List(response.child_shards.iter().map(common::child_shard).collect())
            } else {
                Value::Null
            };
            let payload = Format::Json.encode(&Value::structure([
                (
                    "Records",
                    Value::List(response.records.iter().map(common::record).collect()),
                ),
                ("ContinuationSequenceNumber", Value::string(continuation.clone())),
                (
                    "MillisBehindLatest",
                    Value::Integer(i128::from(response.millis_behind_latest)),
                ),
                ("ChildShards", child_shards),
            ]));
            if sender
                .send(send(event_stream::event("SubscribeToShardEvent", &payload)))
                .await
                .is_err()
            {
                return;
            }
            last_event = tokio::time::Instant::now();
        }
        match response.next_iterator {
            Some(next) => iterator = next,
            None => return,
        }
        if tokio::time::Instant::now() >= deadline {
            return;
        }
        if !has_records {
            tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                _ = sender.closed() => return,
                _ = operations.wait_for_records(&iterator, HEARTBEAT) => {}
            }
        }
    }
}
