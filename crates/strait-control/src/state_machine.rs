//! The control group's openraft state machine.
//!
//! The metadata is small, so the state machine keeps it in memory and persists it as
//! snapshots in the node's engine (`[Snapshot][0][Current]`, meta under
//! `[RaftState][0][SnapshotMeta]`). After a restart openraft installs the last snapshot
//! and re-applies the log from there up to the saved committed index. Every applied batch
//! publishes an immutable [`ControlView`] that the node reads without locks.

use std::io;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use openraft::alias::{LogIdOf, SnapshotMetaOf, SnapshotOf, StoredMembershipOf};
use openraft::entry::RaftEntry;
use openraft::storage::{RaftSnapshotBuilder, RaftStateMachine};
use openraft::{EntryPayload, OptionalSend, SnapshotMeta, StoredMembership};
use openraft_rt_tokio::TokioRuntime;
use strait_raft::codec;
use strait_raft::group::GroupId;
use strait_raft::snapshot::{ChunkWriter, Frame, FrameSource, SnapshotData};
use strait_storage::keys::{self, SnapshotSlot, StateKey};
use strait_storage::{Flusher, KvEngine, WriteBatch};
use tokio::sync::watch;

use crate::state::{ControlCommand, ControlReply, ControlState};

openraft::declare_raft_types!(
    /// The Raft type configuration of the control group.
    pub ControlRaftConfig:
        D = ControlCommand,
        R = ControlReply,
        NodeId = u64,
        Node = openraft::BasicNode,
        AsyncRuntime = openraft::rt::deterministic_rng::DeterministicRng<TokioRuntime>,
);

/// The control group's Raft handle.
pub type ControlRaft = openraft::Raft<ControlRaftConfig, ControlStateMachine>;

type LogId = LogIdOf<ControlRaftConfig>;

/// The metadata as of one applied index.
#[derive(Debug, Clone, Default)]
pub struct ControlView {
    pub state: ControlState,
    pub applied_index: u64,
}

/// The control group's state machine.
pub struct ControlStateMachine {
    engine: Arc<dyn KvEngine>,
    flusher: Flusher,
    state: ControlState,
    last_applied: Option<LogId>,
    membership: StoredMembershipOf<ControlRaftConfig>,
    view: watch::Sender<Arc<ControlView>>,
}

impl ControlStateMachine {
    /// A state machine starting empty; openraft restores the persisted snapshot into it.
    pub fn new(engine: Arc<dyn KvEngine>, flusher: Flusher) -> Self {
        Self {
            engine,
            flusher,
            state: ControlState::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            view: watch::channel(Arc::new(ControlView::default())).0,
        }
    }

    /// Receives every newly applied version of the metadata.
    pub fn subscribe(&self) -> watch::Receiver<Arc<ControlView>> {
        self.view.subscribe()
    }

    fn publish(&self) {
        self.view.send_replace(Arc::new(ControlView {
            state: self.state.clone(),
            applied_index: self.last_applied.as_ref().map(|id| id.index()).unwrap_or(0),
        }));
    }

    fn meta(&self) -> SnapshotMetaOf<ControlRaftConfig> {
        SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
        }
    }
}

/// The whole state as one frame.
struct StateFrame(Vec<u8>);

impl FrameSource for StateFrame {
    fn frames(&self) -> Box<dyn Iterator<Item = io::Result<Frame>> + Send + '_> {
        Box::new(std::iter::once(Ok(Frame {
            kind: 0,
            key: 0,
            value: self.0.clone().into(),
        })))
    }
}

/// Writes the current state as the group's persisted snapshot.
pub struct ControlSnapshotBuilder {
    engine: Arc<dyn KvEngine>,
    flusher: Flusher,
    meta: SnapshotMetaOf<ControlRaftConfig>,
    state: io::Result<Vec<u8>>,
}

impl RaftSnapshotBuilder<ControlRaftConfig> for ControlSnapshotBuilder {
    type SnapshotData = SnapshotData;

    async fn build_snapshot(&mut self) -> Result<SnapshotOf<ControlRaftConfig, SnapshotData>, io::Error> {
        let state = std::mem::replace(&mut self.state, Ok(Vec::new()))?;
        let mut writer = ChunkWriter::start(self.engine.clone(), GroupId::CONTROL, SnapshotSlot::Current)?;
        for chunk in SnapshotData::Local(Arc::new(StateFrame(state))).chunks() {
            writer.write(chunk?)?;
        }
        let mut batch = WriteBatch::new();
        batch.put(
            keys::state(GroupId::CONTROL.0, StateKey::SnapshotMeta),
            codec::encode_stored(&self.meta)?,
        );
        self.engine.write(batch)?;
        self.flusher.flush().await?;
        Ok(SnapshotOf::<ControlRaftConfig, SnapshotData> {
            meta: self.meta.clone(),
            snapshot: writer.finish(),
        })
    }
}

impl RaftStateMachine<ControlRaftConfig> for ControlStateMachine {
    type SnapshotData = SnapshotData;
    type SnapshotBuilder = ControlSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembershipOf<ControlRaftConfig>), io::Error> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<Strm>(&mut self, mut entries: Strm) -> Result<(), io::Error>
    where
        Strm: Stream<Item = Result<openraft::storage::EntryResponder<ControlRaftConfig>, io::Error>>
            + Unpin
            + OptionalSend,
    {
        let mut replies = Vec::new();
        while let Some(item) = entries.next().await {
            let (entry, responder) = item?;
            let log_id = entry.log_id();
            let reply = match &entry.payload {
                EntryPayload::Blank => ControlReply::Done,
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(log_id), m.clone());
                    ControlReply::Done
                }
                EntryPayload::Normal(command) => {
                    let reply = self.state.apply(command);
                    tracing::debug!(index = log_id.index(), %command, ?reply, "control command applied");
                    reply
                }
            };
            self.last_applied = Some(log_id);
            if let Some(responder) = responder {
                replies.push((responder, reply));
            }
        }
        self.publish();
        for (responder, reply) in replies {
            responder.send(reply);
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        ControlSnapshotBuilder {
            engine: self.engine.clone(),
            flusher: self.flusher.clone(),
            meta: self.meta(),
            state: codec::encode(&self.state),
        }
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMetaOf<ControlRaftConfig>,
        snapshot: SnapshotData,
    ) -> Result<(), io::Error> {
        let mut state = None;
        for frame in snapshot.frames() {
            state = Some(codec::decode::<ControlState>(&frame?.value)?);
        }
        let state =
            state.ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "empty control snapshot"))?;
        // Any snapshot but this node's own persisted one (restored at start-up) becomes
        // the persisted snapshot.
        let is_own = matches!(
            &snapshot,
            SnapshotData::Stored { engine, slot: SnapshotSlot::Current, .. } if Arc::ptr_eq(engine, &self.engine)
        );
        if !is_own {
            let mut writer =
                ChunkWriter::start(self.engine.clone(), GroupId::CONTROL, SnapshotSlot::Current)?;
            for chunk in snapshot.chunks() {
                writer.write(chunk?)?;
            }
            let mut batch = WriteBatch::new();
            batch.put(
                keys::state(GroupId::CONTROL.0, StateKey::SnapshotMeta),
                codec::encode_stored(meta)?,
            );
            self.engine.write(batch)?;
            strait_raft::snapshot::clear_slot(
                self.engine.as_ref(),
                GroupId::CONTROL,
                SnapshotSlot::Incoming,
            )?;
            self.flusher.flush().await?;
        }
        self.state = state;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<SnapshotOf<ControlRaftConfig, SnapshotData>>, io::Error> {
        let Some(meta) = self
            .engine
            .get(&keys::state(GroupId::CONTROL.0, StateKey::SnapshotMeta))?
        else {
            return Ok(None);
        };
        let meta: SnapshotMetaOf<ControlRaftConfig> = codec::decode_stored(&meta)?;
        Ok(Some(SnapshotOf::<ControlRaftConfig, SnapshotData> {
            meta,
            snapshot: SnapshotData::Stored {
                engine: self.engine.clone(),
                group: GroupId::CONTROL,
                slot: SnapshotSlot::Current,
            },
        }))
    }
}
