//! SubscribeToShard: push a shard's records to a registered consumer as an event stream.
//!
//! Errors found before streaming starts (an unknown consumer or shard, bad arguments, a
//! second subscription of the consumer to the shard within five seconds, see
//! [`crate::subscriptions`]) are ordinary error responses. Otherwise the answer is 200 with an
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
//! ContinuationSequenceNumber), at the end of a closed shard, when a newer subscription of
//! the same consumer to the shard takes over, when the client goes away, or when the node
//! shuts down. A failure mid-stream (or the takeover, as ResourceInUseException) is sent as
//! an `exception` message naming the Kinesis error, after which the stream ends.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use strait_core::service::GetRecordsResponse;
use strait_core::{
    IteratorKind, IteratorType, SequenceNumber, ShardId, StraitError, StreamOperations, Violation,
};
use tokio::sync::mpsc;

use super::common::{self, Checks};
use super::{Context, Reply, consumers};
use crate::codec::{Format, Input, Value};
use crate::error::ApiError;
use crate::event_stream;
use crate::subscriptions::Subscription;

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
    let (namespace, stream, consumer) = members.resolve(context).await?;
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
    // Only a call that would succeed counts for the five-second rule.
    let consumer_arn = consumer.arn();
    let subscription = context
        .subscriptions
        .start(&consumer_arn, shard.ordinal(), context.operations.now_ms())
        .map_err(|_| {
            StraitError::resource_in_use(format!(
                "Another active subscription exists for this consumer: {consumer_arn}"
            ))
        })?;
    let (sender, receiver) = mpsc::channel::<Result<Bytes, Infallible>>(4);
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|message| (message, receiver))
    });
    tokio::spawn(push(
        Arc::clone(context.operations),
        context.draining.clone(),
        subscription,
        iterator,
        continuation,
        sender,
    ));
    Ok(Reply::EventStream(Body::from_stream(body)))
}

/// What the pushing task needs of the node: reading a shard and waiting for it to grow.
/// Every [`StreamOperations`] is one; tests use a source of their own.
pub trait RecordSource: Send + Sync + 'static {
    /// As [`StreamOperations::read_for_subscription`].
    fn get_records(
        &self,
        iterator: &str,
        limit: u32,
    ) -> impl std::future::Future<Output = strait_core::StraitResult<GetRecordsResponse>> + Send;

    /// As [`StreamOperations::wait_for_records`].
    fn wait_for_records(
        &self,
        iterator: &str,
        max_wait: Duration,
    ) -> impl std::future::Future<Output = ()> + Send;
}

impl<O: StreamOperations> RecordSource for O {
    fn get_records(
        &self,
        iterator: &str,
        limit: u32,
    ) -> impl std::future::Future<Output = strait_core::StraitResult<GetRecordsResponse>> + Send {
        StreamOperations::read_for_subscription(self, iterator, limit)
    }

    fn wait_for_records(
        &self,
        iterator: &str,
        max_wait: Duration,
    ) -> impl std::future::Future<Output = ()> + Send {
        StreamOperations::wait_for_records(self, iterator, max_wait)
    }
}

/// Reads the shard and sends events until the subscription ends: after
/// [`SUBSCRIPTION_LIFETIME`], at the end of a closed shard, when a newer subscription takes
/// over (with a ResourceInUseException event), when the client goes away or when the
/// server drains.
async fn push<O: RecordSource>(
    operations: Arc<O>,
    mut draining: tokio::sync::watch::Receiver<bool>,
    mut subscription: Subscription,
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
        if *subscription.superseded.borrow() {
            let body = Format::Json.encode(&Value::structure([(
                "message",
                Value::string("A newer subscription for this consumer and shard took over."),
            )]));
            let _ = sender
                .send(send(event_stream::exception("ResourceInUseException", &body)))
                .await;
            return;
        }
        if !has_records {
            tokio::select! {
                _ = draining.wait_for(|d| *d) => return,
                _ = sender.closed() => return,
                _ = subscription.superseded.wait_for(|s| *s) => {}
                _ = tokio::time::sleep_until(deadline) => {}
                _ = operations.wait_for_records(&iterator, HEARTBEAT) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use strait_core::StraitResult;
    use tokio::sync::watch;

    use super::*;
    use crate::subscriptions::{RESUBSCRIBE_INTERVAL_MS, Subscriptions};

    /// An open shard that never receives a record.
    struct EmptyShard;

    impl RecordSource for EmptyShard {
        async fn get_records(&self, iterator: &str, _: u32) -> StraitResult<GetRecordsResponse> {
            Ok(GetRecordsResponse {
                records: Vec::new(),
                next_iterator: Some(iterator.to_owned()),
                millis_behind_latest: 0,
                child_shards: Vec::new(),
            })
        }

        async fn wait_for_records(&self, _: &str, max_wait: Duration) {
            tokio::time::sleep(max_wait).await;
        }
    }

    /// The `:event-type` or `:exception-type` of each message, in order.
    fn types(messages: &[Bytes]) -> Vec<String> {
        messages
            .iter()
            .map(|m| {
                let text = String::from_utf8_lossy(m);
                [
                    "initial-response",
                    "SubscribeToShardEvent",
                    "ResourceInUseException",
                ]
                .into_iter()
                .find(|t| text.contains(t))
                .unwrap_or("?")
                .to_owned()
            })
            .collect()
    }

    async fn collect(mut receiver: mpsc::Receiver<Result<Bytes, Infallible>>) -> Vec<Bytes> {
        let mut messages = Vec::new();
        while let Some(Ok(message)) = receiver.recv().await {
            messages.push(message);
        }
        messages
    }

    #[tokio::test(start_paused = true)]
    async fn a_subscription_ends_after_five_minutes() {
        let registry = Arc::new(Subscriptions::default());
        let subscription = registry.start("arn", 0, 0).expect("first");
        let (_draining_sender, draining) = watch::channel(false);
        let (sender, receiver) = mpsc::channel(4);
        let started = tokio::time::Instant::now();
        let task = tokio::spawn(push(
            Arc::new(EmptyShard),
            draining,
            subscription,
            "it".to_owned(),
            "0".to_owned(),
            sender,
        ));
        let messages = collect(receiver).await;
        task.await.expect("ends");
        let lasted = started.elapsed();
        assert!(
            lasted >= SUBSCRIPTION_LIFETIME && lasted < SUBSCRIPTION_LIFETIME + HEARTBEAT,
            "{lasted:?}"
        );
        let types = types(&messages);
        assert_eq!(types[0], "initial-response");
        // Empty events keep coming at the heartbeat interval.
        let events = types.iter().filter(|t| *t == "SubscribeToShardEvent").count() as u64;
        assert!(
            events >= SUBSCRIPTION_LIFETIME.as_secs() / HEARTBEAT.as_secs() - 1,
            "{events}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_newer_subscription_ends_the_older_with_resource_in_use() {
        let registry = Arc::new(Subscriptions::default());
        let first = registry.start("arn", 0, 0).expect("first");
        let (_draining_sender, draining) = watch::channel(false);
        let (sender, receiver) = mpsc::channel(4);
        let task = tokio::spawn(push(
            Arc::new(EmptyShard),
            draining,
            first,
            "it".to_owned(),
            "0".to_owned(),
            sender,
        ));
        tokio::time::sleep(Duration::from_secs(6)).await;
        let _second = registry
            .start("arn", 0, RESUBSCRIBE_INTERVAL_MS)
            .expect("five seconds later");
        let messages = collect(receiver).await;
        task.await.expect("ends");
        assert_eq!(
            types(&messages).last().map(String::as_str),
            Some("ResourceInUseException")
        );
        assert!(tokio::time::Instant::now().elapsed() < Duration::from_secs(1));
    }
}
