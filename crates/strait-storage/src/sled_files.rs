//! Makes the files sled wrote durable, with fsyncs aimed at exactly those files.
//!
//! sled 0.34 keeps its log in one file, `db`, and writes every log message too large for
//! a quarter of a segment (about 128 KiB: a Raft entry of a few hundred kilobytes of
//! records, or a tree page holding several of them) to a file of its own under `blobs/`,
//! named by the message's log sequence number. Its `flush` makes the log stable with
//! `sync_file_range`, which neither flushes the device's write cache nor the file's
//! metadata, and it never syncs blob files or their directory entries.
//!
//! [`SledFiles::sync_after`] closes both gaps: it runs sled's flush, then `fdatasync`s
//! `db`, every blob file created since the previous sync and, when there were any, the
//! `blobs` directory. New blob files are learnt from an inotify watch on `blobs/`, so a
//! sync costs the same whether the directory holds ten files or a hundred thousand.
//! When the watch is unavailable (no inotify instance left, another platform) or the
//! kernel dropped events, the sync falls back to `syncfs`, which writes back every dirty
//! file of the file system: always correct, but it also pays for whatever else shares
//! the disk.
//!
//! Why the ordering is sound: a blob file is created and fully written while its log
//! message holds a reservation in sled's log buffer, and that buffer reaches the disk
//! only once all its reservations completed. So every blob whose creation event was read
//! before sled's flush began belongs to a message that flush covers, and is complete when
//! the flush returns. Blobs created later are left for the next sync, whose flush is the
//! one that promises their messages.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The sync half of a [`crate::engine::SledEngine`]: knows where sled keeps its files.
pub(crate) struct SledFiles {
    /// sled's log file.
    log: File,
    /// The `blobs` directory, held open for its own fsync.
    blobs_dir: File,
    blobs_path: PathBuf,
    /// The database directory, held open for the `syncfs` fallback.
    db_dir: File,
    /// Serialises syncs, so one sync never returns while another still owes an fsync of
    /// a blob whose creation event it consumed.
    watch: Mutex<Option<BlobWatch>>,
    /// Syncs that could not tell which blobs were new and synced the file system.
    whole_file_system_syncs: AtomicU64,
    /// Blob files fsynced one by one.
    blob_syncs: AtomicU64,
}

impl SledFiles {
    /// Opens sled's files in `dir`, which sled already created, and makes the directory
    /// structure itself durable once.
    pub(crate) fn open(dir: &Path) -> io::Result<Self> {
        let blobs_path = dir.join("blobs");
        let log = File::open(dir.join("db"))?;
        let blobs_dir = File::open(&blobs_path)?;
        let db_dir = File::open(dir)?;
        let watch = match BlobWatch::new(&blobs_path) {
            Ok(watch) => Some(watch),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    dir = %blobs_path.display(),
                    "cannot watch sled's blob directory; every flush will sync the whole file system"
                );
                None
            }
        };
        // Files sled created on its first open (`conf`, `db`, `blobs/`, `snap.*`) and
        // blobs left from before a restart are not known to the watch.
        sync_whole_file_system(&db_dir)?;
        Ok(Self {
            log,
            blobs_dir,
            blobs_path,
            db_dir,
            watch: Mutex::new(watch),
            whole_file_system_syncs: AtomicU64::new(0),
            blob_syncs: AtomicU64::new(0),
        })
    }

    /// Runs `flush` (sled's own) and then makes everything it covered durable.
    pub(crate) fn sync_after(&self, flush: impl FnOnce() -> io::Result<()>) -> io::Result<()> {
        let mut watch = crate::lock(&self.watch);
        let created = match watch.as_mut() {
            Some(watch) => watch.created_since_last_call()?,
            None => NewBlobs::Unknown,
        };
        flush()?;
        match created {
            NewBlobs::Known(names) => {
                self.log.sync_data()?;
                if !names.is_empty() {
                    for name in &names {
                        sync_blob(&self.blobs_path.join(name))?;
                    }
                    self.blob_syncs.fetch_add(names.len() as u64, Ordering::Relaxed);
                    self.blobs_dir.sync_all()?;
                }
                Ok(())
            }
            NewBlobs::Unknown => {
                self.whole_file_system_syncs.fetch_add(1, Ordering::Relaxed);
                sync_whole_file_system(&self.db_dir)
            }
        }
    }

    /// How many blob files were fsynced, and how many syncs fell back to the whole
    /// file system.
    pub(crate) fn sync_counts(&self) -> (u64, u64) {
        (
            self.blob_syncs.load(Ordering::Relaxed),
            self.whole_file_system_syncs.load(Ordering::Relaxed),
        )
    }
}

/// A blob sled deleted before this sync reached it was rewritten or collected: the
/// message that needed it is superseded, so there is nothing to make durable.
fn sync_blob(path: &Path) -> io::Result<()> {
    match File::open(path) {
        Ok(file) => file.sync_data(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn sync_whole_file_system(dir: &File) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: `syncfs` only reads the descriptor, which `dir` keeps open.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
    #[cfg(not(target_os = "linux"))]
    {
        // Without syncfs: the directory itself. sled syncs its log with a full fsync on
        // these systems, but blob files stay unsynced.
        dir.sync_all()
    }
}

/// Blob files created since the previous look, or `Unknown` when that cannot be told.
enum NewBlobs {
    Known(Vec<std::ffi::OsString>),
    Unknown,
}

#[cfg(target_os = "linux")]
use inotify::BlobWatch;

#[cfg(target_os = "linux")]
mod inotify {
    use std::ffi::{CString, OsString};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::path::Path;

    use super::NewBlobs;

    /// The fixed part of a `struct inotify_event`: wd, mask, cookie, len.
    const EVENT_HEADER: usize = 16;

    /// A non-blocking inotify watch for files created in (or moved into) a directory.
    pub(super) struct BlobWatch {
        fd: OwnedFd,
        /// Read buffer, kept so a flush does not allocate one.
        buf: Vec<u8>,
        /// Set once the kernel removed the watch (the directory went away): no event
        /// will come again, so no later set of names can be trusted.
        gone: bool,
    }

    /// What a read of the event queue told.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
    enum Parsed {
        Complete,
        /// The queue overflowed or an event was cut short: this round's names are partial.
        EventsLost,
        /// The watch itself was removed.
        WatchGone,
    }

    impl BlobWatch {
        pub(super) fn new(dir: &Path) -> io::Result<Self> {
            // SAFETY: plain system call; the result is checked before use.
            let raw = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
            if raw < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh descriptor nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            let path = CString::new(dir.as_os_str().as_bytes()).map_err(io::Error::other)?;
            // SAFETY: `path` is a valid NUL-terminated string that outlives the call.
            let wd = unsafe {
                libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), libc::IN_CREATE | libc::IN_MOVED_TO)
            };
            if wd < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(Self {
                fd,
                buf: vec![0; 64 * 1024],
                gone: false,
            })
        }

        /// Reads every queued event without blocking.
        pub(super) fn created_since_last_call(&mut self) -> io::Result<NewBlobs> {
            let mut names = Vec::new();
            let mut parsed = Parsed::Complete;
            let buf = &mut self.buf;
            loop {
                // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
                let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n < 0 {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock => break,
                        io::ErrorKind::Interrupted => continue,
                        _ => return Err(e),
                    }
                }
                // `n` is non-negative here and at most `buf.len()`.
                let n = n as usize;
                if n == 0 {
                    break;
                }
                parsed = parsed.max(parse_events(&buf[..n], &mut names));
            }
            self.gone |= parsed == Parsed::WatchGone;
            Ok(if parsed == Parsed::Complete && !self.gone {
                NewBlobs::Known(names)
            } else {
                NewBlobs::Unknown
            })
        }
    }

    /// Appends the names of created files to `names`, and says whether events were
    /// lost (queue overflow) or the watch itself is gone.
    fn parse_events(mut buf: &[u8], names: &mut Vec<OsString>) -> Parsed {
        let mut parsed = Parsed::Complete;
        while buf.len() >= EVENT_HEADER {
            let word = |i: usize| u32::from_ne_bytes([buf[i], buf[i + 1], buf[i + 2], buf[i + 3]]);
            let mask = word(4);
            let len = word(12) as usize;
            let Some(name) = buf.get(EVENT_HEADER..EVENT_HEADER + len) else {
                return parsed.max(Parsed::EventsLost);
            };
            if mask & libc::IN_IGNORED != 0 {
                parsed = Parsed::WatchGone;
            } else if mask & libc::IN_Q_OVERFLOW != 0 {
                parsed = parsed.max(Parsed::EventsLost);
            } else if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && mask & libc::IN_ISDIR == 0 {
                let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
                names.push(OsString::from_vec(name[..end].to_vec()));
            }
            buf = &buf[EVENT_HEADER + len..];
        }
        parsed
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn event(mask: u32, name: &[u8]) -> Vec<u8> {
            let padded = name.len().div_ceil(16) * 16;
            let mut out = Vec::new();
            out.extend_from_slice(&1i32.to_ne_bytes());
            out.extend_from_slice(&mask.to_ne_bytes());
            out.extend_from_slice(&0u32.to_ne_bytes());
            out.extend_from_slice(&(padded as u32).to_ne_bytes());
            out.extend_from_slice(name);
            out.resize(EVENT_HEADER + padded, 0);
            out
        }

        #[test]
        fn parses_created_names_and_skips_directories() {
            let mut buf = event(libc::IN_CREATE, b"4096");
            buf.extend(event(libc::IN_CREATE | libc::IN_ISDIR, b"sub"));
            buf.extend(event(libc::IN_MOVED_TO, b"12345678901234567"));
            let mut names = Vec::new();
            assert_eq!(parse_events(&buf, &mut names), Parsed::Complete);
            assert_eq!(
                names,
                vec![OsString::from("4096"), OsString::from("12345678901234567")]
            );
        }

        #[test]
        fn an_overflow_makes_the_set_unknown() {
            let mut buf = event(libc::IN_CREATE, b"1");
            buf.extend(event(libc::IN_Q_OVERFLOW, b""));
            let mut names = Vec::new();
            assert_eq!(parse_events(&buf, &mut names), Parsed::EventsLost);
        }

        #[test]
        fn a_truncated_event_makes_the_set_unknown() {
            let buf = event(libc::IN_CREATE, b"123");
            let mut names = Vec::new();
            assert_eq!(
                parse_events(&buf[..EVENT_HEADER + 4], &mut names),
                Parsed::EventsLost
            );
        }

        #[test]
        fn a_removed_watch_leaves_every_later_set_unknown() {
            let dir = tempfile::tempdir().expect("tempdir");
            let watched = dir.path().join("blobs");
            std::fs::create_dir(&watched).expect("mkdir");
            let mut watch = BlobWatch::new(&watched).expect("watch");
            std::fs::remove_dir(&watched).expect("rmdir");
            for _ in 0..2 {
                assert!(matches!(
                    watch.created_since_last_call().expect("drain"),
                    NewBlobs::Unknown
                ));
            }
        }

        #[test]
        fn sees_files_created_in_the_watched_directory() {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut watch = BlobWatch::new(dir.path()).expect("watch");
            std::fs::write(dir.path().join("77"), b"x").expect("write");
            std::fs::create_dir(dir.path().join("d")).expect("mkdir");
            match watch.created_since_last_call().expect("drain") {
                NewBlobs::Known(names) => assert_eq!(names, vec![OsString::from("77")]),
                NewBlobs::Unknown => panic!("no event was lost"),
            }
            match watch.created_since_last_call().expect("drain") {
                NewBlobs::Known(names) => assert!(names.is_empty()),
                NewBlobs::Unknown => panic!("no event was lost"),
            }
        }
    }
}

/// Other platforms have no inotify: every sync takes the fallback.
#[cfg(not(target_os = "linux"))]
struct BlobWatch;

#[cfg(not(target_os = "linux"))]
impl BlobWatch {
    fn new(_dir: &Path) -> io::Result<Self> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "inotify is Linux-only",
        ))
    }

    fn created_since_last_call(&mut self) -> io::Result<NewBlobs> {
        Ok(NewBlobs::Unknown)
    }
}
