//! What the operational endpoints of the HTTP listener ask the node.
//!
//! Orchestrators probe and scrape the port clients already use, so the Kinesis listener
//! also answers `GET /healthz`, `GET /readyz` and `GET /metrics`. Liveness needs nothing
//! from the node (the process answering is the answer); readiness and metrics do, and this
//! crate must not depend on the node, so the node hands the server a [`NodeProbe`].

use std::time::Duration;

use futures::future::BoxFuture;

/// The node behind the HTTP listener, as the operational endpoints see it.
pub trait NodeProbe: Send + Sync + 'static {
    /// `Ok` while the node should receive traffic, otherwise a short reason for the
    /// `/readyz` answer.
    fn readiness(&self) -> BoxFuture<'_, Result<(), String>>;

    /// The node's metrics in the Prometheus text exposition format (version 0.0.4).
    fn metrics(&self) -> BoxFuture<'_, String>;

    /// Records one Kinesis API request: its operation, the `__type` of its error if it
    /// failed, and how long it took to answer. Called once per request, on the request's
    /// task, so it must be cheap.
    fn observe_request(&self, operation: &'static str, error_type: Option<&'static str>, elapsed: Duration);
}
