//! [`Consumer`]: reads every shard of a stream, parents before children.
//!
//! A stream's shards form a lineage: a split closes one shard and opens two children, a
//! merge closes two and opens one. A partition key's records move from the parent to a
//! child at the moment of the split or merge, so reading a child before its parents are
//! finished would deliver a key's newer records before its older ones. The consumer keeps
//! per-key order by starting a shard's reader only once every parent's reader has finished.
//!
//! ```text
//!   ListShards ─▶ coordinator ─▶ a reader task per startable shard
//!                     ▲   │            GetShardIterator, then GetRecords in a loop
//!                     │   └──────────▶ records, in order, to the caller
//!                     └── "finished, children: [...]" from each reader
//! ```
//!
//! Readers run concurrently and send their records to the coordinator, which forwards them;
//! when a reader reports that its shard ended, the coordinator starts the children that have
//! no unfinished parent left. Shards that appear after the consumer started (a split while
//! it runs) are learned from the child shards a closed shard reports at its end.
//!
//! Where each shard starts depends on the [`IteratorType`] asked for:
//!
//! - TRIM_HORIZON reads every shard from its oldest record.
//! - LATEST reads open shards from now on and skips closed ones, which get no new records.
//! - AT_TIMESTAMP reads every shard from that time.
//! - AT/AFTER_SEQUENCE_NUMBER: a sequence number belongs to one shard. That shard is read
//!   from the number, its descendants from their start, and every other shard is skipped.
//!
//! A child the consumer learns about later is read from its start (from the timestamp, for
//! AT_TIMESTAMP), since all of its records are newer than its parents'.
//!
//! In follow mode readers keep polling open shards, pausing `poll_interval` after an empty
//! page. Without it a reader stops at the first empty page that reports it is caught up
//! (`millis_behind_latest == 0`), or at the end of a closed shard, and the consumer ends
//! when every shard known at the start has been read.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::Stream;
use strait_core::{IteratorType, SequenceNumber, ShardId, StoredRecord, StreamName};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

use crate::client::StraitClient;
use crate::error::ClientError;
use crate::types::{ChildShard, ShardDescription};

/// How a [`Consumer`] reads.
#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    /// Where to start reading (default LATEST).
    pub start: IteratorType,
    /// Whether to keep reading new records (default) or stop once caught up.
    pub follow: bool,
    /// How long a reader of an open shard pauses after an empty page (default 200 ms).
    pub poll_interval: Duration,
    /// The most records per GetRecords call; `None` leaves it to the node (10000).
    pub limit: Option<u32>,
}

impl Default for ConsumerConfig {
    fn default() -> Self {
        ConsumerConfig {
            start: IteratorType::Latest,
            follow: true,
            poll_interval: Duration::from_millis(200),
            limit: None,
        }
    }
}

/// A record read from a stream, with the shard it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// The shard the record was read from.
    pub shard_id: ShardId,
    /// The record.
    pub record: StoredRecord,
}

/// Reads all shards of one stream in lineage order.
#[derive(Debug, Clone)]
pub struct Consumer {
    client: StraitClient,
    stream: StreamName,
    config: ConsumerConfig,
}

/// What a reader task tells the coordinator.
enum ReaderEvent {
    Records(ShardId, Vec<StoredRecord>),
    Finished(ShardId, Vec<ChildShard>),
    Failed(ClientError),
}

/// A shard the coordinator knows about.
#[derive(Debug, Clone)]
struct ShardState {
    parents: Vec<ShardId>,
    start: IteratorType,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Reading,
    Finished,
}

/// How many events a reader may queue before it waits for the coordinator; each event is
/// one GetRecords page.
const READER_QUEUE: usize = 16;
/// How many records may wait for the caller to take them.
const OUTPUT_QUEUE: usize = 1024;

impl Consumer {
    /// Creates a consumer of `stream`.
    pub fn new(client: StraitClient, stream: StreamName, config: ConsumerConfig) -> Consumer {
        Consumer {
            client,
            stream,
            config,
        }
    }

    /// Starts reading and returns the records as a stream. The stream ends after an error,
    /// or, without follow mode, once every shard has been read up to the present. Dropping it
    /// stops every reader.
    pub fn records(self) -> impl Stream<Item = Result<ConsumedRecord, ClientError>> + Send {
        let (output, receiver) = mpsc::channel(OUTPUT_QUEUE);
        tokio::spawn(async move {
            if let Err(error) = self.coordinate(&output).await {
                // The caller may have gone already; then nobody needs the error.
                let _ = output.send(Err(error)).await;
            }
        });
        ReceiverStream::new(receiver)
    }

    /// Runs the readers in lineage order and forwards their records to `output`. Returns
    /// when done, when the caller has gone, or with the first error.
    async fn coordinate(
        &self,
        output: &mpsc::Sender<Result<ConsumedRecord, ClientError>>,
    ) -> Result<(), ClientError> {
        let listed = self.client.list_shards(&self.stream).await?;
        let mut shards = initial_plan(&listed, &self.config.start);
        let (events, mut inbox) = mpsc::channel(READER_QUEUE);
        // Dropping the set (on return) aborts every reader still running.
        let mut readers = JoinSet::new();
        let mut reading = self.start_ready(&mut shards, &events, &mut readers);
        while reading > 0 {
            let Some(event) = inbox.recv().await else {
                break;
            };
            match event {
                ReaderEvent::Records(shard_id, records) => {
                    for record in records {
                        let item = ConsumedRecord { shard_id, record };
                        if output.send(Ok(item)).await.is_err() {
                            return Ok(());
                        }
                    }
                }
                ReaderEvent::Finished(shard_id, children) => {
                    reading -= 1;
                    if let Some(shard) = shards.get_mut(&shard_id) {
                        shard.phase = Phase::Finished;
                    }
                    debug!(stream = %self.stream, shard = %shard_id, children = children.len(), "shard finished");
                    if self.config.follow && !children.is_empty() {
                        self.learn_children(&mut shards, &children).await?;
                    }
                    reading += self.start_ready(&mut shards, &events, &mut readers);
                }
                ReaderEvent::Failed(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Adds children reported by a finished shard. A child naming a parent the consumer has
    /// never seen means shards were created since the listing: list again to learn them.
    async fn learn_children(
        &self,
        shards: &mut BTreeMap<ShardId, ShardState>,
        children: &[ChildShard],
    ) -> Result<(), ClientError> {
        let child_start = child_start(&self.config.start);
        let mut unknown_parent = false;
        for child in children {
            unknown_parent |= child
                .parent_shards
                .iter()
                .any(|parent| !shards.contains_key(parent));
            shards.entry(child.shard_id).or_insert_with(|| ShardState {
                parents: child.parent_shards.clone(),
                start: child_start,
                phase: Phase::Waiting,
            });
        }
        if unknown_parent {
            for shard in self.client.list_shards(&self.stream).await? {
                shards.entry(shard.shard_id).or_insert_with(|| ShardState {
                    parents: shard.parents(),
                    start: child_start,
                    phase: Phase::Waiting,
                });
            }
        }
        Ok(())
    }

    /// Starts a reader for every waiting shard whose parents are all finished (or unknown,
    /// which means expired past retention). Returns how many were started.
    fn start_ready(
        &self,
        shards: &mut BTreeMap<ShardId, ShardState>,
        events: &mpsc::Sender<ReaderEvent>,
        readers: &mut JoinSet<()>,
    ) -> usize {
        let ready = ready_shards(shards);
        for shard_id in &ready {
            let shard = shards
                .get_mut(shard_id)
                .expect("infallible: the id was just taken from the map");
            shard.phase = Phase::Reading;
            let reader = ShardReader {
                client: self.client.clone(),
                stream: self.stream.clone(),
                shard_id: *shard_id,
                start: shard.start,
                config: self.config.clone(),
                events: events.clone(),
            };
            debug!(stream = %self.stream, shard = %shard_id, start = ?shard.start, "reading shard");
            readers.spawn(reader.run());
        }
        ready.len()
    }
}

/// Returns the waiting shards whose parents are all finished or unknown.
fn ready_shards(shards: &BTreeMap<ShardId, ShardState>) -> Vec<ShardId> {
    shards
        .iter()
        .filter(|(_, shard)| shard.phase == Phase::Waiting)
        .filter(|(_, shard)| {
            shard.parents.iter().all(|parent| {
                shards
                    .get(parent)
                    .is_none_or(|parent| parent.phase == Phase::Finished)
            })
        })
        .map(|(shard_id, _)| *shard_id)
        .collect()
}

/// Decides where each listed shard starts, or that it is skipped (already finished).
fn initial_plan(listed: &[ShardDescription], start: &IteratorType) -> BTreeMap<ShardId, ShardState> {
    let parents: BTreeMap<ShardId, Vec<ShardId>> = listed
        .iter()
        .map(|shard| (shard.shard_id, shard.parents()))
        .collect();
    listed
        .iter()
        .map(|shard| {
            let planned = match start {
                IteratorType::TrimHorizon | IteratorType::AtTimestamp(_) => Some(*start),
                IteratorType::Latest => (!shard.is_closed()).then_some(IteratorType::Latest),
                IteratorType::AtSequenceNumber(number) | IteratorType::AfterSequenceNumber(number) => {
                    if shard.shard_id == number.shard() {
                        Some(*start)
                    } else if descends_from(shard.shard_id, number.shard(), &parents) {
                        Some(IteratorType::TrimHorizon)
                    } else {
                        None
                    }
                }
            };
            let state = ShardState {
                parents: shard.parents(),
                start: planned.unwrap_or(IteratorType::TrimHorizon),
                phase: if planned.is_some() {
                    Phase::Waiting
                } else {
                    Phase::Finished
                },
            };
            (shard.shard_id, state)
        })
        .collect()
}

/// Where a shard learned after the start begins: at its start, or at the timestamp.
fn child_start(start: &IteratorType) -> IteratorType {
    match start {
        IteratorType::AtTimestamp(ms) => IteratorType::AtTimestamp(*ms),
        _ => IteratorType::TrimHorizon,
    }
}

/// Tells whether `shard` is a (strict) descendant of `ancestor`.
fn descends_from(shard: ShardId, ancestor: ShardId, parents: &BTreeMap<ShardId, Vec<ShardId>>) -> bool {
    let mut stack: Vec<ShardId> = parents.get(&shard).cloned().unwrap_or_default();
    let mut seen: Vec<ShardId> = Vec::new();
    while let Some(next) = stack.pop() {
        if next == ancestor {
            return true;
        }
        if !seen.contains(&next) {
            seen.push(next);
            stack.extend(parents.get(&next).into_iter().flatten().copied());
        }
    }
    false
}

/// Reads one shard from its starting point until it ends (or, without follow mode, until
/// it is caught up).
struct ShardReader {
    client: StraitClient,
    stream: StreamName,
    shard_id: ShardId,
    start: IteratorType,
    config: ConsumerConfig,
    events: mpsc::Sender<ReaderEvent>,
}

impl ShardReader {
    async fn run(self) {
        let event = match self.read().await {
            Ok(Some(children)) => ReaderEvent::Finished(self.shard_id, children),
            // The coordinator has gone; nobody is listening.
            Ok(None) => return,
            Err(error) => ReaderEvent::Failed(error),
        };
        let _ = self.events.send(event).await;
    }

    /// Returns the shard's children when it is done, or `None` when the coordinator has
    /// gone.
    async fn read(&self) -> Result<Option<Vec<ChildShard>>, ClientError> {
        let mut last_seen: Option<SequenceNumber> = None;
        let mut iterator = self.iterator_from(last_seen).await?;
        loop {
            let page = match self.client.get_records(&iterator, self.config.limit).await {
                Ok(page) => page,
                Err(error) if error.is(ClientError::EXPIRED_ITERATOR) => {
                    debug!(stream = %self.stream, shard = %self.shard_id, "iterator expired; renewing");
                    iterator = self.iterator_from(last_seen).await?;
                    continue;
                }
                Err(error) => return Err(error),
            };
            let caught_up = page.records.is_empty() && page.millis_behind_latest == 0;
            let empty = page.records.is_empty();
            if let Some(last) = page.records.last() {
                last_seen = Some(last.sequence_number);
            }
            if !empty
                && self
                    .events
                    .send(ReaderEvent::Records(self.shard_id, page.records))
                    .await
                    .is_err()
            {
                return Ok(None);
            }
            match page.next_shard_iterator {
                None => return Ok(Some(page.child_shards)),
                Some(_) if caught_up && !self.config.follow => return Ok(Some(Vec::new())),
                Some(next) => iterator = next,
            }
            if empty {
                tokio::time::sleep(self.config.poll_interval).await;
            }
        }
    }

    /// Obtains an iterator just after the last record seen, or at the starting point when
    /// none has been seen yet.
    async fn iterator_from(&self, last_seen: Option<SequenceNumber>) -> Result<String, ClientError> {
        let start = match last_seen {
            Some(number) => IteratorType::AfterSequenceNumber(number),
            None => self.start,
        };
        self.client
            .get_shard_iterator(&self.stream, self.shard_id, &start)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{HashKeyRange, RecordPosition, StreamIncarnation};

    fn sequence(shard: u32, index: u64) -> SequenceNumber {
        SequenceNumber::new(
            StreamIncarnation::MIN,
            ShardId(shard),
            RecordPosition::new(index, 0),
        )
        .expect("offset in range")
    }

    fn shard(id: u32, parents: &[u32], closed: bool) -> ShardDescription {
        ShardDescription {
            shard_id: ShardId(id),
            parent_shard_id: parents.first().map(|p| ShardId(*p)),
            adjacent_parent_shard_id: parents.get(1).map(|p| ShardId(*p)),
            hash_key_range: HashKeyRange::FULL,
            starting_sequence_number: SequenceNumber::starting(StreamIncarnation::MIN, ShardId(id)),
            ending_sequence_number: closed.then(|| sequence(id, 10)),
            replicas: vec![1],
            leader: Some(1),
        }
    }

    /// Shard 0 split into 1 and 2, which merged into 3; shard 4 is unrelated.
    fn lineage() -> Vec<ShardDescription> {
        vec![
            shard(0, &[], true),
            shard(1, &[0], true),
            shard(2, &[0], true),
            shard(3, &[1, 2], false),
            shard(4, &[], false),
        ]
    }

    fn phases(plan: &BTreeMap<ShardId, ShardState>) -> Vec<(u32, Phase, IteratorType)> {
        plan.iter()
            .map(|(id, state)| (id.0, state.phase, state.start))
            .collect()
    }

    #[test]
    fn trim_horizon_reads_every_shard_from_its_start() {
        let plan = initial_plan(&lineage(), &IteratorType::TrimHorizon);
        assert!(
            plan.values()
                .all(|shard| shard.phase == Phase::Waiting && shard.start == IteratorType::TrimHorizon)
        );
        assert_eq!(plan[&ShardId(3)].parents, vec![ShardId(1), ShardId(2)]);
    }

    #[test]
    fn latest_skips_closed_shards() {
        let plan = initial_plan(&lineage(), &IteratorType::Latest);
        let waiting: Vec<u32> = phases(&plan)
            .into_iter()
            .filter(|(_, phase, _)| *phase == Phase::Waiting)
            .map(|(id, _, _)| id)
            .collect();
        assert_eq!(waiting, vec![3, 4]);
    }

    #[test]
    fn a_sequence_number_reads_its_shard_and_descendants_only() {
        let start = IteratorType::AtSequenceNumber(sequence(1, 5));
        let plan = initial_plan(&lineage(), &start);
        assert_eq!(
            phases(&plan),
            vec![
                (0, Phase::Finished, IteratorType::TrimHorizon),
                (1, Phase::Waiting, start),
                (2, Phase::Finished, IteratorType::TrimHorizon),
                (3, Phase::Waiting, IteratorType::TrimHorizon),
                (4, Phase::Finished, IteratorType::TrimHorizon),
            ]
        );
    }

    #[test]
    fn children_wait_for_every_parent() {
        let mut plan = initial_plan(&lineage(), &IteratorType::TrimHorizon);
        let ids = |ids: Vec<ShardId>| ids.into_iter().map(|id| id.0).collect::<Vec<_>>();
        assert_eq!(ids(ready_shards(&plan)), vec![0, 4]);
        plan.get_mut(&ShardId(0)).expect("listed").phase = Phase::Finished;
        assert_eq!(ids(ready_shards(&plan)), vec![1, 2, 4]);
        plan.get_mut(&ShardId(1)).expect("listed").phase = Phase::Finished;
        // The merged child still waits for its adjacent parent.
        assert_eq!(ids(ready_shards(&plan)), vec![2, 4]);
        plan.get_mut(&ShardId(2)).expect("listed").phase = Phase::Finished;
        assert_eq!(ids(ready_shards(&plan)), vec![3, 4]);
    }

    #[test]
    fn children_learned_later_start_at_their_beginning() {
        assert_eq!(child_start(&IteratorType::Latest), IteratorType::TrimHorizon);
        assert_eq!(
            child_start(&IteratorType::AtTimestamp(42)),
            IteratorType::AtTimestamp(42)
        );
    }
}
