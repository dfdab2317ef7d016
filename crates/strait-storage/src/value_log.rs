//! Segment files for the large values the engine keeps out of sled's pages.
//!
//! sled stores a value of more than a quarter of its segment (a Raft entry holding a few
//! hundred records) as a blob file of its own, and then rewrites the tree leaves holding
//! such values again and again as the tree splits and consolidates: measured at 1 KiB
//! records in batches of 500, the disk saw three to four bytes for every payload byte,
//! and a flush could wait a quarter of a second behind megabyte-sized leaf rewrites. So
//! [`crate::SledEngine`] appends those values once to numbered segment files here, and
//! sled holds only a [`ValuePointer`] to them.
//!
//! - Appends go to the newest segment, in order; a segment that reached its size is
//!   sealed and never written again, and a restart starts a new segment rather than
//!   appending after a tail a crash may have torn.
//! - [`ValueLog::sync`] makes every append that returned before it durable, including
//!   the directory entries of segments created since the last sync. The engine syncs the
//!   value log *before* it lets sled hold a pointer to it (see [`crate::engine`]), so a
//!   durable pointer never names bytes that were lost.
//! - Values carry no checksum of their own: the ones stored here are Raft entries, whose
//!   stored frame is checksummed (see [`crate::checksum`]), and a torn or wrong read fails
//!   that check where it is decoded.
//! - A segment is deleted once no pointer names it; the engine finds those
//!   ([`crate::SledEngine::collect_garbage`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::{BufMut, Bytes, BytesMut};

use crate::lock;

/// The size at which a segment is sealed and the next one started. Large enough that a
/// busy node opens a new file every few seconds, small enough that retention frees disk
/// space in steps a small volume notices.
pub(crate) const SEGMENT_BYTES: u64 = 64 << 20;

/// Segment file handles kept open for reads; older ones are reopened on demand.
const OPEN_READERS: usize = 64;

const SEGMENT_SUFFIX: &str = ".values";

/// Where a value lives in the value log. Stored in sled in place of the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ValuePointer {
    pub segment: u64,
    pub offset: u64,
    pub len: u32,
}

impl ValuePointer {
    pub const ENCODED_LEN: usize = 20;

    pub fn encode_into(&self, out: &mut BytesMut) {
        out.put_u64(self.segment);
        out.put_u64(self.offset);
        out.put_u32(self.len);
    }

    pub fn decode(bytes: &[u8]) -> io::Result<Self> {
        let bytes: &[u8; Self::ENCODED_LEN] = bytes
            .try_into()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "malformed value pointer"))?;
        let u64_at =
            |at: usize| u64::from_be_bytes(bytes[at..at + 8].try_into().expect("infallible: 8 bytes"));
        Ok(Self {
            segment: u64_at(0),
            offset: u64_at(8),
            len: u32::from_be_bytes(bytes[16..20].try_into().expect("infallible: 4 bytes")),
        })
    }
}

/// The appending side: the newest segment and what the next sync owes.
struct Writer {
    /// The segment appends go to, created on the first append after a roll or a restart.
    current: Option<(u64, Arc<File>)>,
    /// Bytes in the current segment.
    len: u64,
    /// The number the next new segment gets.
    next_segment: u64,
    /// Files appended to since the last sync (the current one, and any sealed since).
    unsynced: Vec<Arc<File>>,
    /// Whether a segment was created since the last sync, so the directory needs one too.
    created: bool,
}

/// A node's value log: a directory of segment files.
pub(crate) struct ValueLog {
    dir: PathBuf,
    dir_file: File,
    segment_bytes: u64,
    writer: Mutex<Writer>,
    /// Every segment on disk, by number, with its size.
    segments: Mutex<BTreeMap<u64, u64>>,
    readers: Mutex<BTreeMap<u64, Arc<File>>>,
}

fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{segment:020}{SEGMENT_SUFFIX}"))
}

impl ValueLog {
    /// Opens (or creates) the value log in `dir`. Appends go to a new segment.
    pub fn open(dir: &Path, segment_bytes: u64) -> io::Result<Self> {
        fs::create_dir_all(dir)?;
        let mut segments = BTreeMap::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.strip_suffix(SEGMENT_SUFFIX))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            segments.insert(number, entry.metadata()?.len());
        }
        let next_segment = segments.keys().next_back().map_or(1, |last| last + 1);
        let dir_file = File::open(dir)?;
        // The directory's own entry in its parent, for a value log created just now.
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            dir_file,
            segment_bytes,
            writer: Mutex::new(Writer {
                current: None,
                len: 0,
                next_segment,
                unsynced: Vec::new(),
                created: false,
            }),
            segments: Mutex::new(segments),
            readers: Mutex::new(BTreeMap::new()),
        })
    }

    /// Appends `values` in order and returns where each went. Not durable until
    /// [`ValueLog::sync`]. `then` runs with the appends done and the log still locked,
    /// so whatever it publishes is ordered with the appends (see
    /// [`crate::SledEngine::collect_garbage`]).
    pub fn append<R>(&self, values: &[&Bytes], then: impl FnOnce(Vec<ValuePointer>) -> R) -> io::Result<R> {
        let mut writer = lock(&self.writer);
        let total: u64 = values.iter().map(|v| v.len() as u64).sum();
        if writer.current.is_some() && writer.len + total > self.segment_bytes {
            writer.current = None;
        }
        let (segment, file) = match &writer.current {
            Some((segment, file)) => (*segment, file.clone()),
            None => {
                let segment = writer.next_segment;
                let file = Arc::new(
                    OpenOptions::new()
                        .create_new(true)
                        .read(true)
                        .write(true)
                        .open(segment_path(&self.dir, segment))?,
                );
                writer.next_segment += 1;
                writer.current = Some((segment, file.clone()));
                writer.len = 0;
                writer.created = true;
                lock(&self.segments).insert(segment, 0);
                (segment, file)
            }
        };
        let mut pointers = Vec::with_capacity(values.len());
        for value in values {
            let len = u32::try_from(value.len())
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value larger than 4 GiB"))?;
            file.write_all_at(value, writer.len)?;
            pointers.push(ValuePointer {
                segment,
                offset: writer.len,
                len,
            });
            writer.len += value.len() as u64;
        }
        if let Some(size) = lock(&self.segments).get_mut(&segment) {
            *size = writer.len;
        }
        if !writer.unsynced.iter().any(|f| Arc::ptr_eq(f, &file)) {
            writer.unsynced.push(file);
        }
        Ok(then(pointers))
    }

    /// Makes every append that returned before this call durable.
    pub fn sync(&self) -> io::Result<()> {
        let (files, created) = {
            let mut writer = lock(&self.writer);
            (
                std::mem::take(&mut writer.unsynced),
                std::mem::take(&mut writer.created),
            )
        };
        let result = (|| {
            for file in &files {
                file.sync_data()?;
            }
            if created {
                self.dir_file.sync_all()?;
            }
            Ok(())
        })();
        if result.is_err() {
            // Owed again: the caller poisons the engine, but keep the books true.
            let mut writer = lock(&self.writer);
            writer.unsynced.extend(files);
            writer.created |= created;
        }
        result
    }

    /// Reads the value `pointer` names. An error of kind `NotFound` means the segment is
    /// gone (collected, or never there); the caller tells a race with the collector from
    /// a dangling pointer.
    pub fn read(&self, pointer: ValuePointer) -> io::Result<Bytes> {
        let end = pointer.offset.checked_add(u64::from(pointer.len));
        let size = lock(&self.segments).get(&pointer.segment).copied();
        match (end, size) {
            (Some(end), Some(size)) if end <= size => {}
            (_, None) => {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("value segment {} was collected", pointer.segment),
                ));
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "a stored pointer names {} bytes at {} of value segment {}, which holds {} bytes",
                        pointer.len,
                        pointer.offset,
                        pointer.segment,
                        size.unwrap_or(0),
                    ),
                ));
            }
        }
        let file = self.reader(pointer.segment)?;
        let mut buf = vec![0u8; pointer.len as usize];
        file.read_exact_at(&mut buf, pointer.offset).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!(
                    "reading {} bytes at {} of value segment {}: {e}",
                    pointer.len, pointer.offset, pointer.segment
                ),
            )
        })?;
        Ok(Bytes::from(buf))
    }

    fn reader(&self, segment: u64) -> io::Result<Arc<File>> {
        if let Some(file) = lock(&self.readers).get(&segment) {
            return Ok(file.clone());
        }
        let file = Arc::new(
            File::open(segment_path(&self.dir, segment))
                .map_err(|e| io::Error::new(e.kind(), format!("opening value segment {segment}: {e}")))?,
        );
        let mut readers = lock(&self.readers);
        if readers.len() >= OPEN_READERS {
            // Reads favour recent segments: let the oldest handle go.
            readers.pop_first();
        }
        readers.insert(segment, file.clone());
        Ok(file)
    }

    /// Segments that no append will touch again: every one before the segment appends
    /// go to now. Call under [`ValueLog::append`]'s ordering (see the engine).
    pub fn sealed_segments(&self) -> BTreeSet<u64> {
        let writer = lock(&self.writer);
        let open = writer.current.as_ref().map(|(segment, _)| *segment);
        lock(&self.segments)
            .keys()
            .copied()
            .filter(|s| Some(*s) != open)
            .collect()
    }

    /// Deletes sealed segments nothing points at any more.
    pub fn remove(&self, segments: &BTreeSet<u64>) -> io::Result<()> {
        for &segment in segments {
            // Unlinked first: a reader that still finds the handle reads on from it.
            match fs::remove_file(segment_path(&self.dir, segment)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
            lock(&self.readers).remove(&segment);
            lock(&self.segments).remove(&segment);
        }
        Ok(())
    }

    /// Bytes the segments occupy.
    pub fn size(&self) -> u64 {
        lock(&self.segments).values().sum()
    }
}
