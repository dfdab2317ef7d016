//! Snapshots that move in chunks, never as one in-memory blob.
//!
//! A snapshot is a sequence of [`Frame`]s. Frames are grouped into chunks of about
//! [`CHUNK_BYTES`]; each chunk is checksummed. A sender reads frames lazily from the
//! state machine's source (for a shard: its retained entries straight from the engine),
//! so a shard holding gigabytes is streamed with bounded memory. A receiver stages the
//! chunks under `[Snapshot][group][Incoming]` as they arrive and the state machine
//! replays them on install.

use std::io;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde::{Deserialize, Serialize};
use strait_storage::keys::{self, SnapshotSlot};
use strait_storage::{KvEngine, WriteBatch, checksum};

use crate::codec;
use crate::group::GroupId;

/// Target size of one snapshot chunk.
pub const CHUNK_BYTES: usize = 1 << 20;

/// One item of a snapshot. The state machine that wrote the snapshot decides what a
/// frame means; this module only moves them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Frame {
    /// What kind of item this is, defined by the state machine.
    pub kind: u8,
    pub key: u64,
    pub value: Bytes,
}

/// Produces a snapshot's frames lazily.
pub trait FrameSource: Send + Sync + 'static {
    fn frames(&self) -> Box<dyn Iterator<Item = io::Result<Frame>> + Send + '_>;
}

/// A snapshot's data: either a lazy view of local state, or chunks stored in the engine.
#[derive(Clone)]
pub enum SnapshotData {
    /// Frames produced on demand from a live, immutable view of local state.
    Local(Arc<dyn FrameSource>),
    /// Chunks stored under a snapshot slot of the group.
    Stored {
        engine: Arc<dyn KvEngine>,
        group: GroupId,
        slot: SnapshotSlot,
    },
}

impl std::fmt::Debug for SnapshotData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SnapshotData::Local(_) => f.write_str("SnapshotData::Local"),
            SnapshotData::Stored { group, slot, .. } => {
                write!(f, "SnapshotData::Stored({group}, {slot:?})")
            }
        }
    }
}

impl SnapshotData {
    /// The snapshot as a sequence of checksummed chunks, read lazily.
    pub fn chunks(&self) -> Box<dyn Iterator<Item = io::Result<Bytes>> + Send + '_> {
        match self {
            SnapshotData::Local(source) => Box::new(Chunker {
                frames: source.frames(),
                done: false,
            }),
            SnapshotData::Stored { engine, group, slot } => {
                let (start, end) = keys::snapshot_slot_range(group.0, *slot);
                Box::new(engine.scan(&start, &end).map(|pair| pair.map(|(_, v)| v)))
            }
        }
    }

    /// The snapshot's frames, verifying each chunk's checksum.
    pub fn frames(&self) -> Box<dyn Iterator<Item = io::Result<Frame>> + Send + '_> {
        match self {
            SnapshotData::Local(source) => source.frames(),
            SnapshotData::Stored { .. } => Box::new(self.chunks().flat_map(|chunk| {
                let frames: Vec<io::Result<Frame>> = match chunk.and_then(|c| decode_chunk(&c)) {
                    Ok(frames) => frames.into_iter().map(Ok).collect(),
                    Err(e) => vec![Err(e)],
                };
                frames
            })),
        }
    }
}

/// Groups frames into checksummed chunks.
struct Chunker<'a> {
    frames: Box<dyn Iterator<Item = io::Result<Frame>> + Send + 'a>,
    done: bool,
}

impl Iterator for Chunker<'_> {
    type Item = io::Result<Bytes>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut buf = BytesMut::new();
        loop {
            match self.frames.next() {
                Some(Ok(frame)) => {
                    let encoded = match codec::encode(&frame) {
                        Ok(e) => e,
                        Err(e) => return Some(Err(e)),
                    };
                    buf.put_u32(encoded.len() as u32);
                    buf.put_slice(&encoded);
                    if buf.len() >= CHUNK_BYTES {
                        return Some(Ok(checksum::seal(&buf)));
                    }
                }
                Some(Err(e)) => return Some(Err(e)),
                None => {
                    self.done = true;
                    // An empty snapshot still yields one (empty) chunk, so a receiver
                    // always sees at least one.
                    return Some(Ok(checksum::seal(&buf)));
                }
            }
        }
    }
}

fn decode_chunk(chunk: &Bytes) -> io::Result<Vec<Frame>> {
    let mut payload = checksum::open(chunk).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    let mut frames = Vec::new();
    while payload.has_remaining() {
        if payload.remaining() < 4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated snapshot frame",
            ));
        }
        let len = payload.get_u32() as usize;
        if payload.remaining() < len {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "truncated snapshot frame",
            ));
        }
        frames.push(codec::decode(&payload.split_to(len))?);
    }
    Ok(frames)
}

/// Writes received chunks into a group's snapshot slot.
pub struct ChunkWriter {
    engine: Arc<dyn KvEngine>,
    group: GroupId,
    slot: SnapshotSlot,
    next: u64,
}

impl ChunkWriter {
    /// Starts a new snapshot in `slot`, dropping whatever was there.
    pub fn start(engine: Arc<dyn KvEngine>, group: GroupId, slot: SnapshotSlot) -> io::Result<Self> {
        clear_slot(engine.as_ref(), group, slot)?;
        Ok(Self {
            engine,
            group,
            slot,
            next: 0,
        })
    }

    /// Stores one chunk after checking its checksum.
    pub fn write(&mut self, chunk: Bytes) -> io::Result<()> {
        checksum::open(&chunk).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut batch = WriteBatch::new();
        batch.put(keys::snapshot_chunk(self.group.0, self.slot, self.next), chunk);
        self.engine.write(batch)?;
        self.next += 1;
        Ok(())
    }

    pub fn finish(self) -> SnapshotData {
        SnapshotData::Stored {
            engine: self.engine,
            group: self.group,
            slot: self.slot,
        }
    }
}

/// Deletes every chunk of a snapshot slot.
pub fn clear_slot(engine: &dyn KvEngine, group: GroupId, slot: SnapshotSlot) -> io::Result<()> {
    let (start, end) = keys::snapshot_slot_range(group.0, slot);
    let mut batch = WriteBatch::new();
    for pair in engine.scan(&start, &end) {
        batch.delete(pair?.0);
    }
    engine.write(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_storage::MemoryEngine;

    struct Numbers(u64, usize);
    impl FrameSource for Numbers {
        fn frames(&self) -> Box<dyn Iterator<Item = io::Result<Frame>> + Send + '_> {
            let size = self.1;
            Box::new((0..self.0).map(move |i| {
                Ok(Frame {
                    kind: 1,
                    key: i,
                    value: Bytes::from(vec![i as u8; size]),
                })
            }))
        }
    }

    #[test]
    fn a_large_snapshot_moves_in_several_chunks_and_round_trips() {
        let source = SnapshotData::Local(Arc::new(Numbers(40, 100_000)));
        let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
        let mut writer = ChunkWriter::start(engine.clone(), GroupId(7), SnapshotSlot::Incoming).unwrap();
        let mut chunks = 0;
        for chunk in source.chunks() {
            writer.write(chunk.unwrap()).unwrap();
            chunks += 1;
        }
        assert!(
            chunks >= 3,
            "4 MB of frames must span several chunks, got {chunks}"
        );
        let stored = writer.finish();
        let keys: Vec<u64> = stored.frames().map(|f| f.unwrap().key).collect();
        assert_eq!(keys, (0..40).collect::<Vec<_>>());
    }

    #[test]
    fn an_empty_snapshot_is_one_empty_chunk() {
        let source = SnapshotData::Local(Arc::new(Numbers(0, 0)));
        assert_eq!(source.chunks().count(), 1);
        assert_eq!(source.frames().count(), 0);
    }

    #[test]
    fn a_corrupted_chunk_is_refused() {
        let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
        let mut writer = ChunkWriter::start(engine, GroupId(1), SnapshotSlot::Incoming).unwrap();
        let mut chunk = SnapshotData::Local(Arc::new(Numbers(3, 10)))
            .chunks()
            .next()
            .unwrap()
            .unwrap()
            .to_vec();
        let last = chunk.len() - 1;
        chunk[last] ^= 0xff;
        assert!(writer.write(Bytes::from(chunk)).is_err());
    }
}
