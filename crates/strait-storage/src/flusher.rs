//! Group commit: one fsync for many waiters.
//!
//! Raft appends on every group of a node, vote saves and state-machine checkpoints all
//! ask for durability. The flusher drains every request queued while the previous flush
//! ran, lets the tasks ready at that moment add theirs, and answers them all with one
//! `flush` of the engine, so under load one fsync covers many groups' entries. An error is answered to every waiter of that flush, and
//! the engine stays poisoned (see [`crate::engine`]).

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};

use crate::KvEngine;

/// Called once the flush covering a request finished.
pub type FlushCallback = Box<dyn FnOnce(io::Result<()>) + Send>;

/// Handle to the node's flusher task. Cheap to clone.
#[derive(Clone)]
pub struct Flusher {
    tx: mpsc::UnboundedSender<FlushCallback>,
    stats: Arc<FlushStats>,
}

/// Counters for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct FlushStats {
    pub flushes: AtomicU64,
    pub requests: AtomicU64,
}

impl Flusher {
    /// Starts the flusher task on the current runtime. With `blocking_flush` the engine's
    /// flush runs on tokio's blocking pool (sled fsyncs); without it the flush runs inline
    /// (the memory engine, and the simulation, which must not use real threads).
    pub fn start(engine: Arc<dyn KvEngine>, blocking_flush: bool) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let stats = Arc::new(FlushStats::default());
        tokio::spawn(run(engine, rx, blocking_flush, stats.clone()));
        Self { tx, stats }
    }

    /// Asks for everything written so far to become durable; `done` runs afterwards.
    pub fn request(&self, done: FlushCallback) {
        if let Err(mpsc::error::SendError(done)) = self.tx.send(done) {
            done(Err(io::Error::other("flusher stopped")));
        }
    }

    /// Waits until everything written so far is durable.
    pub async fn flush(&self) -> io::Result<()> {
        let (tx, rx) = oneshot::channel();
        self.request(Box::new(move |r| {
            let _ = tx.send(r);
        }));
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("flusher stopped")))
    }

    pub fn stats(&self) -> &FlushStats {
        &self.stats
    }
}

/// How many times the flusher yields to ready tasks before flushing.
const GATHER_YIELDS: usize = 2;

async fn run(
    engine: Arc<dyn KvEngine>,
    mut rx: mpsc::UnboundedReceiver<FlushCallback>,
    blocking_flush: bool,
    stats: Arc<FlushStats>,
) {
    let mut pending = Vec::with_capacity(1024);
    while rx.recv_many(&mut pending, 4096).await > 0 {
        // Let the tasks that are ready now (other groups' appends, often) run first and
        // join this flush: costs nothing when idle and nothing in wall time beyond their
        // own work, and under load saves fsyncs.
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
            while pending.len() < 4096 {
                match rx.try_recv() {
                    Ok(done) => pending.push(done),
                    Err(_) => break,
                }
            }
        }
        tracing::trace!(target: "strait::write_path", waiters = pending.len(), "flush started");
        let result = if blocking_flush {
            let engine = engine.clone();
            tokio::task::spawn_blocking(move || engine.flush())
                .await
                .unwrap_or_else(|e| Err(io::Error::other(e.to_string())))
        } else {
            engine.flush()
        };
        tracing::trace!(target: "strait::write_path", ok = result.is_ok(), "flush done");
        stats.flushes.fetch_add(1, Ordering::Relaxed);
        stats.requests.fetch_add(pending.len() as u64, Ordering::Relaxed);
        if let Err(e) = &result {
            tracing::error!(error = %e, waiters = pending.len(), "flush failed");
        }
        for done in pending.drain(..) {
            done(match &result {
                Ok(()) => Ok(()),
                Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
            });
        }
    }
}
