//! Starting, running and stopping a node.
//!
//! ```text
//!  serve(config)
//!    ├─ engine (sled) + flusher (group commit)
//!    ├─ control group (Raft, metadata state machine) ── initialized once by the lowest
//!    │                                                    initial member
//!    ├─ shard host ── supervisor: starts/stops shard groups as the metadata says
//!    ├─ reconciler ── on the control leader: bootstrap, activate streams
//!    └─ gRPC: StreamService (public) · NodeInternal · RaftTransport
//! ```
//!
//! Shutdown (SIGTERM, Ctrl-C): the server stops accepting and drains in-flight calls,
//! background tasks stop, every Raft group shuts down, and a final flush leaves the
//! database consistent.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use openraft::BasicNode;
use openraft::rt::deterministic_rng::DeterministicRng;
use openraft_rt_tokio::TokioRuntime;
use strait_control::{ControlRaft, ControlStateMachine, NodeInfo};
use strait_proto::internal::node_internal_server::NodeInternalServer;
use strait_proto::internal::raft_transport_server::RaftTransportServer;
use strait_proto::v1::stream_service_server::StreamServiceServer;
use strait_raft::network::{
    GroupNetworkFactory, GroupRegistry, MAX_MESSAGE_BYTES, PeerRouter, RaftGroupRpc, TcpDialer,
};
use strait_raft::{Clock, GroupId, LogStore, SystemClock};
use strait_storage::{Flusher, KvEngine, SledEngine};
use tokio::sync::watch;
use tokio_stream::wrappers::TcpListenerStream;

use crate::config::NodeConfig;
use crate::control::ControlHandle;
use crate::disk_guard::DiskGuard;
use crate::error::NodeError;
use crate::grpc::internal::NodeInternalService;
use crate::grpc::public::StreamServiceImpl;
use crate::operations::Operations;
use crate::shard_access::ShardAccess;
use crate::shards::ShardHost;
use crate::status::ClusterStatusProbe;

/// Runs a node until `shutdown` resolves.
pub async fn serve(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    config.validate().map_err(NodeError::Config)?;
    // openraft draws election timeouts from a seeded RNG; in production the seed is random.
    let seed: u64 = rand::random();
    DeterministicRng::<TokioRuntime>::scope(seed, run(config, shutdown, seed)).await
}

async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    seed: u64,
) -> Result<(), NodeError> {
    let node_id = config.node_id;
    std::fs::create_dir_all(&config.data_dir)?;
    let sled = Arc::new(SledEngine::open(&config.data_dir.join("db"), config.cache_bytes)?);
    let engine: Arc<dyn KvEngine> = sled;
    let flusher = Flusher::start(engine.clone(), true);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);

    let router = Arc::new(PeerRouter::new(Arc::new(TcpDialer::default())));
    for (id, address) in &config.initial_cluster {
        router.set_address(*id, address);
    }
    let registry = Arc::new(GroupRegistry::new());

    // The control group.
    let control_sm = ControlStateMachine::new(engine.clone(), flusher.clone());
    let view = control_sm.subscribe();
    let control_log = LogStore::new(engine.clone(), flusher.clone(), GroupId::CONTROL, None);
    let control_raft = ControlRaft::new(
        node_id,
        config.raft.config("control"),
        GroupNetworkFactory::new(router.clone(), GroupId::CONTROL),
        control_log,
        control_sm,
    )
    .await
    .map_err(|e| NodeError::Raft(e.to_string()))?;
    registry.insert(
        GroupId::CONTROL,
        Arc::new(RaftGroupRpc::new(control_raft.clone())),
    );
    let first_member = config.initial_cluster.keys().next().copied();
    if first_member == Some(node_id) && !control_raft.is_initialized().await.unwrap_or(true) {
        let members: BTreeMap<u64, BasicNode> = config
            .initial_cluster
            .iter()
            .map(|(id, address)| (*id, BasicNode::new(address)))
            .collect();
        tracing::info!(members = members.len(), "initializing the control group");
        if let Err(e) = control_raft.initialize(members).await {
            tracing::warn!(error = %e, "control group initialization refused");
        }
    }
    let control = ControlHandle::new(control_raft.clone(), view, router.clone());

    let host = Arc::new(ShardHost::new(
        node_id,
        engine.clone(),
        flusher.clone(),
        router.clone(),
        registry.clone(),
        clock.clone(),
        config.raft.clone(),
    )?);
    let access = Arc::new(ShardAccess::new(node_id, host.clone(), router.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let disk = DiskGuard::start(
        config.data_dir.clone(),
        config.min_free_disk_bytes,
        stop_rx.clone(),
    );
    let operations = Arc::new(Operations::new(
        control.clone(),
        access,
        clock.clone(),
        disk,
        config.replication_factor,
        rand::random(),
    ));
    let probe = Arc::new(ClusterStatusProbe::new(
        node_id,
        control.clone(),
        host.clone(),
        router.clone(),
    ));

    let supervisor = tokio::spawn(DeterministicRng::<TokioRuntime>::scope(
        seed.wrapping_add(1),
        supervise(host.clone(), control.clone(), stop_rx.clone()),
    ));
    let initial: Vec<NodeInfo> = config
        .initial_cluster
        .iter()
        .map(|(id, address)| NodeInfo {
            id: *id,
            address: address.clone(),
            voter: true,
        })
        .collect();
    let reconciler = tokio::spawn(crate::reconciler::run(
        control.clone(),
        probe.clone(),
        initial,
        stop_rx.clone(),
    ));

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Bind {
            address: config.listen.to_string(),
            source,
        })?;
    tracing::info!(node = node_id, listen = %config.listen, advertise = %config.advertise, "node serving");
    let (draining_tx, draining_rx) = watch::channel(false);
    let public = StreamServiceServer::new(StreamServiceImpl::new(
        operations.clone(),
        config.default_account.clone(),
        probe.clone(),
        draining_rx,
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let internal = NodeInternalServer::new(NodeInternalService::new(host.clone(), control.clone()))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let transport = RaftTransportServer::new(strait_raft::network::RaftTransportService::new(
        registry.clone(),
        engine.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(public)
        .add_service(internal)
        .add_service(transport)
        .serve_with_incoming_shutdown(TcpListenerStream::new(listener), async move {
            shutdown.await;
            // Long-lived streams (subscriptions) end now so the server can drain.
            let _ = draining_tx.send(true);
        });
    let result = server.await;

    tracing::info!(node = node_id, "shutting down");
    let _ = stop_tx.send(true);
    let _ = supervisor.await;
    let _ = reconciler.await;
    host.shutdown().await;
    registry.remove(GroupId::CONTROL);
    let _ = control_raft.shutdown().await;
    flusher.flush().await?;
    tracing::info!(node = node_id, "stopped");
    result.map_err(NodeError::from)
}

/// Keeps the hosted shard groups in line with the metadata.
async fn supervise(host: Arc<ShardHost>, control: ControlHandle, mut stop: watch::Receiver<bool>) {
    let mut view = control.watch();
    loop {
        let current = view.borrow_and_update().clone();
        host.reconcile(&current).await;
        tokio::select! {
            _ = stop.changed() => return,
            _ = view.changed() => {}
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}
