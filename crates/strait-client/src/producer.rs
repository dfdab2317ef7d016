//! [`Producer`]: stores many records quickly and says what became of each one.
//!
//! Records come in as a stream and leave in PutRecords batches:
//!
//! ```text
//!   records ──▶ batcher ──▶ up to `max_in_flight` batches ──▶ outcomes, as batches finish
//!               ≤ 500 records, ≤ 5 MiB,      each retried until its deadline
//!               or whatever arrived within `linger`
//! ```
//!
//! The batcher only pulls a record from the input when a batch slot is free, so memory holds
//! the batches in flight and one being filled, however long the input is.
//!
//! A batch is retried in two ways until its deadline (counted from its first attempt):
//! the whole request, by the client's call loop, when the cluster is unreachable or answers
//! UNAVAILABLE; and record by record, by resending only the records whose result carries an
//! error code (a throttled shard, a shard without a leader). Records the cluster rejects for
//! good (a stream that does not exist, a record over 1 MiB) fail at once.
//!
//! Once a batch has failed for a whole deadline because the cluster was unreachable, later
//! batches do not each wait out a deadline of their own: their deadline is cut to the end of
//! that outage's, so they are tried once and fail at once if the cluster is still down. The
//! first answer from the cluster lifts the cut.
//!
//! Every record gets exactly one outcome, tagged with whatever the caller attached to it (a
//! line number, say), so the caller can report precisely which records were not stored. A
//! failed record's outcome is unknown rather than negative when its last error was a
//! timeout: the write may have been applied.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use strait_core::StreamName;
use strait_core::{MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_ENTRIES, MAX_RECORD_BYTES, Record};
use tokio::time::Instant;
use tracing::debug;

use crate::client::StraitClient;
use crate::retry::Backoff;
use crate::types::{RecordFailure, RecordOutcome};

/// How a [`Producer`] batches and retries.
#[derive(Debug, Clone)]
pub struct ProducerConfig {
    /// The most PutRecords requests outstanding at once (default 8).
    pub max_in_flight: usize,
    /// How long a batch is retried, counted from its first attempt (default 30 s).
    pub deadline: Duration,
    /// The most records in one request (default and maximum 500).
    pub max_batch_records: usize,
    /// The most bytes (data plus partition keys) in one request (default and maximum 5 MiB).
    pub max_batch_bytes: usize,
    /// How long a partly filled batch waits for more records before it is sent (default
    /// 20 ms). Input that arrives faster than this fills whole batches.
    pub linger: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            max_in_flight: 8,
            deadline: Duration::from_secs(30),
            max_batch_records: MAX_PUT_RECORDS_ENTRIES,
            max_batch_bytes: MAX_PUT_RECORDS_BYTES,
            linger: Duration::from_millis(20),
        }
    }
}

/// Sends records to one stream in concurrent, retried PutRecords batches.
#[derive(Debug, Clone)]
pub struct Producer {
    client: StraitClient,
    stream: StreamName,
    config: ProducerConfig,
    /// When the failure that made the last batch give up began, if no request has been
    /// answered since. Shared by clones, as they share the cluster.
    failing_since: Arc<Mutex<Option<Instant>>>,
    /// This producer's identity towards the shards, random per producer.
    producer_id: u64,
    /// The sequence the next batch gets; shared by clones.
    next_sequence: Arc<AtomicU64>,
}

/// A batch being sent: the records to send, and those refused before sending.
struct Batch<T> {
    entries: Vec<(T, Record)>,
    refused: Vec<(T, RecordFailure)>,
}

impl<T> Batch<T> {
    fn new() -> Self {
        Batch {
            entries: Vec::new(),
            refused: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty() && self.refused.is_empty()
    }
}

impl Producer {
    /// Creates a producer for `stream`. The limits in `config` are clamped to what one
    /// PutRecords request may carry.
    pub fn new(client: StraitClient, stream: StreamName, config: ProducerConfig) -> Producer {
        let config = ProducerConfig {
            max_in_flight: config.max_in_flight.max(1),
            max_batch_records: config.max_batch_records.clamp(1, MAX_PUT_RECORDS_ENTRIES),
            max_batch_bytes: config.max_batch_bytes.clamp(1, MAX_PUT_RECORDS_BYTES),
            ..config
        };
        Producer {
            client,
            stream,
            config,
            failing_since: Arc::new(Mutex::new(None)),
            producer_id: rand::random(),
            next_sequence: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Sends every record and returns their outcomes in input order.
    pub async fn send_all(&self, records: Vec<Record>) -> Vec<RecordOutcome> {
        let count = records.len();
        let tagged = stream::iter(records.into_iter().enumerate());
        let mut outcomes: Vec<Option<RecordOutcome>> = vec![None; count];
        let mut results = std::pin::pin!(self.send(tagged));
        while let Some((index, outcome)) = results.next().await {
            outcomes[index] = Some(outcome);
        }
        outcomes
            .into_iter()
            .map(|outcome| outcome.expect("infallible: every record gets exactly one outcome"))
            .collect()
    }

    /// Sends a stream of tagged records and yields each record's tag with its outcome, in
    /// the order batches finish. The input is read only as fast as batches can be sent.
    pub fn send<T, S>(&self, records: S) -> impl Stream<Item = (T, RecordOutcome)> + Send + 'static
    where
        T: Send + 'static,
        S: Stream<Item = (T, Record)> + Send + 'static,
    {
        let producer = self.clone();
        let max_in_flight = self.config.max_in_flight;
        batches(records, self.config.clone())
            .map(move |batch| {
                let producer = producer.clone();
                async move { producer.send_batch(batch).await }
            })
            .buffer_unordered(max_in_flight)
            .flat_map(stream::iter)
    }

    /// Sends one batch, retrying failed records until the deadline.
    async fn send_batch<T>(&self, batch: Batch<T>) -> Vec<(T, RecordOutcome)> {
        let mut deadline = Instant::now() + self.config.deadline;
        let outage_began = *self.outage();
        if let Some(since) = outage_began {
            deadline = deadline.min(since + self.config.deadline);
        }
        let mut done: Vec<(T, RecordOutcome)> = batch
            .refused
            .into_iter()
            .map(|(tag, failure)| (tag, Err(failure)))
            .collect();
        let mut pending = batch.entries;
        // Every attempt of this batch carries the same producer sequence, so a shard that
        // committed an attempt whose answer was lost answers the retry with the first
        // sequence numbers. A node reports each shard's records all-or-nothing, so the
        // records that failed re-form exactly the per-shard batches of the first attempt.
        let producer = (
            self.producer_id,
            self.next_sequence.fetch_add(1, Ordering::Relaxed),
        );
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        while !pending.is_empty() {
            let records: Vec<Record> = pending.iter().map(|(_, record)| record.clone()).collect();
            let attempt_started = Instant::now();
            let outcomes = match self
                .client
                .put_records_until(&self.stream, &records, deadline, Some(producer))
                .await
            {
                Ok(outcomes) => {
                    *self.outage() = None;
                    outcomes
                }
                Err(error) => {
                    if error.is_retryable() {
                        self.outage().get_or_insert(attempt_started);
                    }
                    // The call loop already retried until the deadline, or the error is final.
                    let failure = RecordFailure::from(&error);
                    done.extend(pending.into_iter().map(|(tag, _)| (tag, Err(failure.clone()))));
                    return done;
                }
            };
            let mut failed = Vec::new();
            for ((tag, record), outcome) in pending.into_iter().zip(outcomes) {
                match outcome {
                    Ok(stored) => done.push((tag, Ok(stored))),
                    Err(failure) => failed.push((tag, record, failure)),
                }
            }
            if failed.is_empty() {
                break;
            }
            debug!(
                stream = %self.stream,
                failed = failed.len(),
                first_error = %failed[0].2,
                "records failed; retrying"
            );
            if !backoff.wait(deadline).await || Instant::now() >= deadline {
                done.extend(failed.into_iter().map(|(tag, _, failure)| (tag, Err(failure))));
                break;
            }
            pending = failed.into_iter().map(|(tag, record, _)| (tag, record)).collect();
        }
        done
    }
}

impl Producer {
    fn outage(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        // The guarded value is a plain timestamp, valid whatever a panicking holder did.
        self.failing_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Groups a stream of records into batches within the request limits. A partly filled
/// batch is closed when no record arrives for `linger`. Records too large for any request
/// are refused in the batch they would have joined.
fn batches<T, S>(records: S, config: ProducerConfig) -> impl Stream<Item = Batch<T>> + Send
where
    T: Send + 'static,
    S: Stream<Item = (T, Record)> + Send + 'static,
{
    struct State<T, S> {
        records: std::pin::Pin<Box<S>>,
        carried: Option<(T, Record)>,
        finished: bool,
    }
    let state = State {
        records: Box::pin(records),
        carried: None,
        finished: false,
    };
    stream::unfold(state, move |mut state| {
        let config = config.clone();
        async move {
            if state.finished && state.carried.is_none() {
                return None;
            }
            let mut batch = Batch::new();
            let mut bytes = 0usize;
            loop {
                let next = if let Some(carried) = state.carried.take() {
                    Some(carried)
                } else if state.finished {
                    None
                } else if batch.is_empty() {
                    state.records.next().await
                } else {
                    match tokio::time::timeout(config.linger, state.records.next()).await {
                        Ok(next) => next,
                        Err(_lingered) => break,
                    }
                };
                let Some((tag, record)) = next else {
                    state.finished = true;
                    break;
                };
                let size = record.size_bytes();
                if size > MAX_RECORD_BYTES {
                    batch.refused.push((tag, too_large(size)));
                    continue;
                }
                if !batch.entries.is_empty() && bytes + size > config.max_batch_bytes {
                    state.carried = Some((tag, record));
                    break;
                }
                bytes += size;
                batch.entries.push((tag, record));
                if batch.entries.len() >= config.max_batch_records {
                    break;
                }
            }
            if batch.is_empty() {
                None
            } else {
                Some((batch, state))
            }
        }
    })
}

fn too_large(size: usize) -> RecordFailure {
    RecordFailure {
        error_code: "ValidationException".to_owned(),
        message: format!(
            "the record is {size} bytes (data plus partition key), over the limit of \
             {MAX_RECORD_BYTES} bytes"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::PartitionKey;

    fn record(data_len: usize) -> Record {
        Record::new(PartitionKey::new("k").expect("valid key"), vec![b'x'; data_len])
    }

    async fn collect_batches(records: Vec<Record>, config: ProducerConfig) -> Vec<(Vec<usize>, Vec<usize>)> {
        let tagged = stream::iter(records.into_iter().enumerate());
        batches(tagged, config)
            .map(|batch| {
                (
                    batch.entries.iter().map(|(tag, _)| *tag).collect(),
                    batch.refused.iter().map(|(tag, _)| *tag).collect(),
                )
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn batches_hold_at_most_500_records() {
        let records = (0..1201).map(|_| record(10)).collect();
        let sizes: Vec<usize> = collect_batches(records, ProducerConfig::default())
            .await
            .into_iter()
            .map(|(entries, _)| entries.len())
            .collect();
        assert_eq!(sizes, vec![500, 500, 201]);
    }

    #[tokio::test]
    async fn batches_stay_within_the_byte_limit() {
        // Each record is 1 MiB - 1 byte of data plus a 1-byte key: five fit in 5 MiB.
        let records = (0..7).map(|_| record((1 << 20) - 1)).collect();
        let batches = collect_batches(records, ProducerConfig::default()).await;
        let sizes: Vec<usize> = batches.iter().map(|(entries, _)| entries.len()).collect();
        assert_eq!(sizes, vec![5, 2]);
        let order: Vec<usize> = batches.into_iter().flat_map(|(entries, _)| entries).collect();
        assert_eq!(order, (0..7).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn oversized_records_are_refused_without_sending() {
        let records = vec![record(3), record(MAX_RECORD_BYTES), record(3)];
        let batches = collect_batches(records, ProducerConfig::default()).await;
        assert_eq!(batches, vec![(vec![0, 2], vec![1])]);
    }

    #[tokio::test]
    async fn a_partial_batch_is_sent_after_the_linger() {
        let (sender, receiver) = tokio::sync::mpsc::channel(4);
        let input = tokio_stream::wrappers::ReceiverStream::new(receiver);
        let mut batches = std::pin::pin!(batches(input, ProducerConfig::default()));
        sender.send((1, record(1))).await.expect("open");
        // The sender stays open: only the linger can close this batch.
        let batch = tokio::time::timeout(Duration::from_secs(5), batches.next())
            .await
            .expect("the linger closes the batch")
            .expect("a batch");
        assert_eq!(batch.entries.len(), 1);
        drop(sender);
        assert!(batches.next().await.is_none());
    }
}
