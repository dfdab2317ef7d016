//! Heartbeat coalescing: one call per peer for many groups' heartbeats.
//!
//! A node leading G groups sends each follower a heartbeat per group per interval: with
//! thousands of mostly idle shards that is thousands of RPCs a second doing nothing. A
//! peer gets at most one `RaftBatch` call of heartbeats (AppendEntries without entries)
//! per [`LINGER`]: a heartbeat that finds the last call to its peer older than that
//! leaves at once, and the ones that come within [`LINGER`] of a call wait and leave
//! together when it is up. Each caller gets its own response. Entries that carry data
//! never wait: they go directly.
//!
//! A waking group's heartbeat does not wait either. A leader whose group was quiet renews
//! its lease with a heartbeat round before its first proposal (see
//! [`crate::quiescence`]), and that proposal, often a producer's first put after a pause,
//! waits for the round. When many groups wake at once (the first burst after a pause
//! touches every shard), each renewal lingering behind another group's call added up to
//! tens of milliseconds. A group's heartbeat counts as waking when the queue has not seen
//! one of that group for [`WAKING_AFTER`], far longer than any heartbeat interval of a
//! ticking group, so steady heartbeats still go together.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use strait_proto::internal::raft_transport_client::RaftTransportClient;
use strait_proto::internal::{RaftBatchRequest, RaftRequest};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::MAX_MESSAGE_BYTES;
use super::router::PeerRouter;
use crate::group::NodeId;

/// The shortest time between two heartbeat calls to one peer, and so the longest a
/// heartbeat waits for company.
pub const LINGER: Duration = Duration::from_millis(10);
/// A group whose previous heartbeat to a peer is older than this is waking from quiet
/// (or new), and its heartbeat leaves without lingering.
pub const WAKING_AFTER: Duration = Duration::from_secs(1);
/// Most heartbeats in one call.
const MAX_BATCH: usize = 1024;
/// How long one batch call may take.
const BATCH_TIMEOUT: Duration = Duration::from_secs(2);

type Reply = oneshot::Sender<Result<bytes::Bytes, tonic::Status>>;

/// Per-peer queues of heartbeats waiting to be sent together.
pub struct HeartbeatCoalescer {
    router: Weak<PeerRouter>,
    queues: Mutex<BTreeMap<NodeId, mpsc::UnboundedSender<(RaftRequest, Reply)>>>,
}

impl HeartbeatCoalescer {
    pub fn new(router: &Arc<PeerRouter>) -> Self {
        Self {
            router: Arc::downgrade(router),
            queues: Mutex::new(BTreeMap::new()),
        }
    }

    /// Sends one heartbeat to `target` as part of the next batch.
    pub async fn send(&self, target: NodeId, request: RaftRequest) -> Result<bytes::Bytes, tonic::Status> {
        let (reply, rx) = oneshot::channel();
        let queue = {
            let mut queues = self.queues.lock().expect("coalescer lock");
            let queue = queues.entry(target).or_insert_with(|| {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(self.router.clone(), target, rx));
                tx
            });
            if queue.is_closed() {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(self.router.clone(), target, rx));
                *queue = tx;
            }
            queue.clone()
        };
        queue
            .send((request, reply))
            .map_err(|_| tonic::Status::unavailable("heartbeat queue closed"))?;
        rx.await
            .unwrap_or_else(|_| Err(tonic::Status::unavailable("heartbeat dropped")))
    }
}

async fn run(
    router: Weak<PeerRouter>,
    target: NodeId,
    mut rx: mpsc::UnboundedReceiver<(RaftRequest, Reply)>,
) {
    let mut pending = Vec::with_capacity(64);
    let mut last_call: Option<Instant> = None;
    let mut seen = LastHeartbeats::default();
    while let Some(first) = rx.recv().await {
        let mut urgent = seen.heard(first.0.group_id, Instant::now());
        pending.push(first);
        if let Some(last) = last_call.filter(|_| !urgent) {
            // Returns at once when the last call is older than LINGER; a waking group's
            // heartbeat arriving meanwhile cuts the wait short.
            let linger = tokio::time::sleep_until(last + LINGER);
            tokio::pin!(linger);
            while !urgent && pending.len() < MAX_BATCH {
                tokio::select! {
                    _ = &mut linger => break,
                    next = rx.recv() => match next {
                        Some(item) => {
                            urgent = seen.heard(item.0.group_id, Instant::now());
                            pending.push(item);
                        }
                        None => break,
                    },
                }
            }
        }
        while pending.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(item) => {
                    // Going in this call anyway; only noted.
                    seen.heard(item.0.group_id, Instant::now());
                    pending.push(item);
                }
                Err(_) => break,
            }
        }
        let Some(router) = router.upgrade() else {
            return;
        };
        last_call = Some(Instant::now());
        let (requests, replies): (Vec<_>, Vec<_>) = pending.drain(..).unzip();
        // The call runs on its own so the next batch can form meanwhile.
        tokio::spawn(send_batch(router, target, requests, replies));
    }
}

/// When each group last sent a heartbeat through one peer's queue.
#[derive(Default)]
struct LastHeartbeats {
    at: BTreeMap<u64, Instant>,
    last_pruned: Option<Instant>,
}

impl LastHeartbeats {
    /// Notes a heartbeat of `group` at `now`, and tells whether the group is waking: its
    /// previous heartbeat is older than [`WAKING_AFTER`], or there was none.
    fn heard(&mut self, group: u64, now: Instant) -> bool {
        // Groups gone quiet or deleted are forgotten, so the map holds the ticking ones.
        if self.last_pruned.is_none_or(|at| now - at >= WAKING_AFTER) {
            self.at.retain(|_, at| now - *at <= WAKING_AFTER);
            self.last_pruned = Some(now);
        }
        self.at
            .insert(group, now)
            .is_none_or(|previous| now - previous > WAKING_AFTER)
    }
}

async fn send_batch(
    router: Arc<PeerRouter>,
    target: NodeId,
    requests: Vec<RaftRequest>,
    replies: Vec<Reply>,
) {
    let fail = |replies: Vec<Reply>, status: tonic::Status| {
        for reply in replies {
            let _ = reply.send(Err(status.clone()));
        }
    };
    let channel = match router.channel(target) {
        Ok(c) => c,
        Err(e) => return fail(replies, tonic::Status::unavailable(e.to_string())),
    };
    let mut client = RaftTransportClient::new(channel)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    tracing::trace!(target: "strait::write_path", peer = target, heartbeats = requests.len(), "heartbeats sent");
    let call = client.raft_batch(RaftBatchRequest { requests });
    let items = match tokio::time::timeout(BATCH_TIMEOUT, call).await {
        Ok(Ok(response)) => {
            tracing::trace!(target: "strait::write_path", peer = target, "heartbeats answered");
            response.into_inner().items
        }
        Ok(Err(status)) => {
            if matches!(
                status.code(),
                tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled
            ) {
                router.reset(target);
            }
            return fail(replies, status);
        }
        Err(_) => {
            router.reset(target);
            return fail(
                replies,
                tonic::Status::unavailable(format!("heartbeat batch to {target} timed out")),
            );
        }
    };
    if items.len() != replies.len() {
        return fail(
            replies,
            tonic::Status::internal("heartbeat batch answered with the wrong count"),
        );
    }
    for (reply, item) in replies.into_iter().zip(items) {
        let _ = reply.send(if item.error_code == 0 {
            Ok(item.body)
        } else {
            Err(tonic::Status::new(
                tonic::Code::from(item.error_code),
                item.error_message,
            ))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_heard_from_within_a_second_is_not_waking() {
        let start = Instant::now();
        let mut seen = LastHeartbeats::default();
        assert!(seen.heard(7, start), "a group's first heartbeat wakes it");
        assert!(!seen.heard(7, start + Duration::from_millis(100)));
        assert!(!seen.heard(7, start + Duration::from_millis(1_000)));
        assert!(
            seen.heard(8, start + Duration::from_millis(1_000)),
            "another group"
        );
        assert!(
            seen.heard(7, start + Duration::from_millis(2_500)),
            "quiet for 1.5 s, then heard again"
        );
    }

    #[test]
    fn groups_that_went_quiet_are_forgotten() {
        let start = Instant::now();
        let mut seen = LastHeartbeats::default();
        for group in 0..100 {
            seen.heard(group, start);
        }
        seen.heard(1_000, start + Duration::from_secs(3));
        assert_eq!(seen.at.len(), 1, "only the group heard last is kept");
    }
}
