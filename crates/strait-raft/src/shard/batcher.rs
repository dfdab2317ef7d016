//! Group commit on a shard leader.
//!
//! Appends arriving concurrently for one shard queue here. A single task drains the
//! queue, packs everything waiting (bounded by [`MAX_ENTRY_RECORDS`] and
//! [`MAX_ENTRY_BYTES`]) into one `Append` entry, and proposes it, keeping up to
//! [`MAX_IN_FLIGHT`] entries in flight so replication and fsync of one entry overlap the
//! packing of the next. One entry means one log write and one fsync per replica for all
//! the records it holds.

use std::sync::Arc;

use openraft::error::{ClientWriteError, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::command::{AppendBatch, BatchOutcome, ProducerBatch, ShardCommand, ShardRecord, ShardReply};
use super::{ShardRaft, ShardRaftConfig};
use crate::clock::Clock;
use crate::group::NodeId;
use crate::quiescence::ProposalWaker;

/// Most records packed into one entry. Offsets within an entry must stay below
/// `strait_core::SequenceNumber::MAX_OFFSET`.
pub const MAX_ENTRY_RECORDS: usize = 10_000;
/// Most record bytes packed into one entry (a single larger batch still goes alone).
pub const MAX_ENTRY_BYTES: usize = 4 << 20;
/// Entries proposed but not yet applied, per shard.
pub const MAX_IN_FLIGHT: usize = 8;
/// Appends waiting per shard before callers are pushed back.
pub const QUEUE_DEPTH: usize = 4096;

/// Why an append did not commit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppendError {
    #[error("not the shard leader (leader: {leader:?})")]
    NotLeader { leader: Option<NodeId> },
    #[error("the shard is sealed")]
    Sealed,
    #[error("shard unavailable: {0}")]
    Unavailable(String),
}

struct PendingAppend {
    batch: ProducerBatch,
    reply: oneshot::Sender<Result<BatchOutcome, AppendError>>,
}

/// Queues appends for one shard group on its leader.
#[derive(Clone)]
pub struct ShardBatcher {
    tx: mpsc::Sender<PendingAppend>,
}

impl ShardBatcher {
    /// Starts the group-commit task for `raft`. It stops when every handle is dropped.
    /// `waker`, where groups may go quiet, readies the group before each entry.
    pub fn start(raft: ShardRaft, clock: Arc<dyn Clock>, waker: Option<ProposalWaker>) -> Self {
        let (tx, rx) = mpsc::channel(QUEUE_DEPTH);
        tokio::spawn(run(raft, clock, waker, rx));
        Self { tx }
    }

    /// Appends one producer batch; resolves once it is committed and applied.
    pub async fn append(&self, batch: ProducerBatch) -> Result<BatchOutcome, AppendError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(PendingAppend { batch, reply })
            .await
            .map_err(|_| AppendError::Unavailable("shard stopped".into()))?;
        rx.await
            .map_err(|_| AppendError::Unavailable("shard stopped".into()))?
    }
}

async fn run(
    raft: ShardRaft,
    clock: Arc<dyn Clock>,
    waker: Option<ProposalWaker>,
    mut rx: mpsc::Receiver<PendingAppend>,
) {
    let in_flight = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut carry: Option<PendingAppend> = None;
    loop {
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let first = match carry.take() {
            Some(p) => p,
            None => match rx.recv().await {
                Some(p) => p,
                None => return,
            },
        };
        let mut records = first.batch.records.len();
        let mut bytes = batch_bytes(&first.batch);
        let mut pending = vec![first];
        while let Ok(next) = rx.try_recv() {
            let (n, b) = (next.batch.records.len(), batch_bytes(&next.batch));
            if records + n > MAX_ENTRY_RECORDS || bytes + b > MAX_ENTRY_BYTES {
                carry = Some(next);
                break;
            }
            records += n;
            bytes += b;
            pending.push(next);
        }
        let (batches, replies): (Vec<_>, Vec<_>) = pending.into_iter().map(|p| (p.batch, p.reply)).unzip();
        let command = ShardCommand::append(AppendBatch::new(clock.now_ms(), batches));
        let raft = raft.clone();
        let waker = waker.clone();
        tokio::spawn(async move {
            if let Some(waker) = waker {
                waker.ready_to_propose().await;
            }
            tracing::trace!(target: "strait::write_path", batches = replies.len(), "entry proposed");
            let result = raft.client_write(command).await;
            tracing::trace!(target: "strait::write_path", ok = result.is_ok(), "entry committed and applied");
            drop(permit);
            deliver(result, replies);
        });
    }
}

fn batch_bytes(batch: &ProducerBatch) -> usize {
    batch
        .records
        .iter()
        .map(|r: &ShardRecord| r.data.len() + r.partition_key.len())
        .sum()
}

fn deliver(
    result: Result<
        openraft::raft::ClientWriteResponse<ShardRaftConfig>,
        RaftError<ShardRaftConfig, ClientWriteError<ShardRaftConfig>>,
    >,
    replies: Vec<oneshot::Sender<Result<BatchOutcome, AppendError>>>,
) {
    match result {
        Ok(response) => match response.data {
            ShardReply::Appended(outcomes) if outcomes.len() == replies.len() => {
                for (reply, outcome) in replies.into_iter().zip(outcomes) {
                    let _ = reply.send(match outcome {
                        BatchOutcome::ShardSealed => Err(AppendError::Sealed),
                        committed => Ok(committed),
                    });
                }
            }
            other => {
                let err = AppendError::Unavailable(format!("unexpected shard reply {other:?}"));
                for reply in replies {
                    let _ = reply.send(Err(err.clone()));
                }
            }
        },
        Err(e) => {
            let err = match e.forward_to_leader() {
                Some(forward) => AppendError::NotLeader {
                    leader: forward.leader_id,
                },
                None => AppendError::Unavailable(e.to_string()),
            };
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

/// Commits the shard's seal entry on its leader and returns the seal's log index: every
/// record of the shard is before it, and no append after it is accepted. Sealing a
/// sealed shard answers the first seal's index.
pub async fn seal(raft: &ShardRaft) -> Result<u64, AppendError> {
    match raft.client_write(ShardCommand::Seal).await {
        Ok(response) => match response.data {
            ShardReply::Sealed { next_index } => Ok(next_index),
            other => Err(AppendError::Unavailable(format!(
                "unexpected shard reply {other:?}"
            ))),
        },
        Err(e) => Err(match e.forward_to_leader() {
            Some(forward) => AppendError::NotLeader {
                leader: forward.leader_id,
            },
            None => AppendError::Unavailable(e.to_string()),
        }),
    }
}
