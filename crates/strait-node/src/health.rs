//! What the node answers to `/readyz` and `/metrics` on its HTTP listener.
//!
//! [`NodeHealth`] is the node's [`NodeProbe`]: readiness is this node's own view
//! ([`ClusterStatusProbe::local_readiness`]) and turns false as soon as the node starts
//! shutting down, so a load balancer stops sending it traffic before its servers stop;
//! a scrape samples every Raft group's metrics watch and renders them with what
//! [`NodeMetrics`] recorded.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use openraft::rt::WatchReceiver;
use std::sync::atomic::Ordering;
use strait_kinesis::NodeProbe;
use strait_raft::GroupId;

use strait_storage::{Flusher, KvEngine};
use tokio::sync::watch;

use crate::control::ControlHandle;
use crate::metrics::{GroupSample, KINESIS_API, NodeMetrics, Scrape};
use crate::shards::ShardHost;
use crate::status::ClusterStatusProbe;

/// The node as its probes and scrapes see it.
pub struct NodeHealth {
    pub node_id: u64,
    pub status: Arc<ClusterStatusProbe>,
    pub metrics: Arc<NodeMetrics>,
    pub control: ControlHandle,
    pub host: Arc<ShardHost>,
    pub engine: Arc<dyn KvEngine>,
    pub flusher: Flusher,
    /// Turns true when the node starts shutting down.
    pub shutting_down: watch::Receiver<bool>,
}

impl NodeHealth {
    /// `Ok` while the node should receive traffic, otherwise why not.
    pub fn readiness(&self) -> Result<(), String> {
        if *self.shutting_down.borrow() {
            return Err("the node is shutting down".to_owned());
        }
        let reasons = self.status.local_readiness();
        if reasons.is_empty() {
            Ok(())
        } else {
            Err(reasons.join("; "))
        }
    }

    /// Every metric, with the Raft groups sampled now.
    pub async fn render_metrics(&self) -> String {
        let engine = self.engine.clone();
        // sled sums its files' sizes: file system calls, off the async threads.
        let disk_bytes = tokio::task::spawn_blocking(move || engine.size_on_disk())
            .await
            .ok()
            .flatten();
        let view = self.control.view();
        let mut groups = vec![GroupSample::of(
            GroupId::CONTROL.0,
            &self.control.raft().metrics().borrow_watched(),
        )];
        groups.extend(
            self.host
                .all()
                .iter()
                .map(|shard| GroupSample::of(shard.group.0, &shard.raft.metrics().borrow_watched())),
        );
        self.metrics.render(&Scrape {
            node_id: self.node_id,
            view: &view,
            groups,
            disk_bytes,
            flushes: self.flusher.stats().flushes.load(Ordering::Relaxed),
            flush_requests: self.flusher.stats().requests.load(Ordering::Relaxed),
            quiet_groups: self.host.quiescence().map_or(0, |q| q.quiet_count()),
            ready: self.readiness().is_ok(),
            draining: *self.shutting_down.borrow(),
        })
    }
}

impl NodeProbe for NodeHealth {
    fn readiness(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(std::future::ready(NodeHealth::readiness(self)))
    }

    fn metrics(&self) -> BoxFuture<'_, String> {
        Box::pin(self.render_metrics())
    }

    fn observe_request(&self, operation: &'static str, error_type: Option<&'static str>, elapsed: Duration) {
        self.metrics
            .observe_request(KINESIS_API, operation, error_type, elapsed);
    }
}
