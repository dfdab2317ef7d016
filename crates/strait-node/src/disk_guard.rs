//! Refuses writes, with a retryable error, while the data directory's filesystem is
//! nearly full. Reads go on. Checked by a background task, so the write path only reads
//! a flag.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use strait_core::StraitError;
use strait_storage::disk;

/// How often free space is measured.
const INTERVAL: Duration = Duration::from_millis(500);

/// Tracks whether there is room for writes.
#[derive(Debug)]
pub struct DiskGuard {
    path: PathBuf,
    min_free_bytes: u64,
    full: AtomicBool,
    available: AtomicU64,
}

impl DiskGuard {
    /// Measures once, then keeps measuring in the background until `stop` fires.
    pub fn start(
        path: PathBuf,
        min_free_bytes: u64,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) -> Arc<Self> {
        let guard = Arc::new(Self {
            path,
            min_free_bytes,
            full: AtomicBool::new(false),
            available: AtomicU64::new(u64::MAX),
        });
        guard.measure();
        let background = guard.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.changed() => return,
                    _ = tokio::time::sleep(INTERVAL) => background.measure(),
                }
            }
        });
        guard
    }

    fn measure(&self) {
        match disk::available_bytes(&self.path) {
            Ok(available) => {
                self.available.store(available, Ordering::Relaxed);
                let full = available < self.min_free_bytes;
                if full != self.full.swap(full, Ordering::Relaxed) {
                    if full {
                        tracing::error!(
                            available,
                            min_free = self.min_free_bytes,
                            "disk nearly full: refusing writes"
                        );
                    } else {
                        tracing::info!(available, "disk space recovered: accepting writes");
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "cannot measure free disk space")
            }
        }
    }

    /// An error for writers while the disk is nearly full.
    pub fn check_writable(&self) -> Result<(), StraitError> {
        if self.full.load(Ordering::Relaxed) {
            return Err(StraitError::unavailable(format!(
                "the node's disk is nearly full ({} bytes free, {} required); retry later",
                self.available.load(Ordering::Relaxed),
                self.min_free_bytes
            )));
        }
        Ok(())
    }
}
