//! Starting, running and stopping a node.
//!
//! ```text
//!  serve(config)
//!    ├─ engine (sled) + flusher (group commit)
//!    ├─ control group (Raft, metadata state machine) ── initialized once by the lowest
//!    │                                                    initial member
//!    ├─ shard host ── supervisor: starts/stops shard groups as the metadata says
//!    ├─ reconciler ── on the control leader: bootstrap, activate streams
//!    ├─ gRPC: StreamService (public) · NodeInternal · RaftTransport
//!    └─ Kinesis HTTP API (when `kinesis_listen` is set), over the same Operations
//! ```
//!
//! Shutdown (SIGTERM, Ctrl-C), bounded by `shutdown_timeout` from the signal:
//! `/readyz` turns 503 at once; the groups this node leads hand their leadership to
//! other voters while requests are still served (and forwarded to the new leaders); then
//! the servers stop accepting and drain in-flight calls, background tasks stop, every
//! Raft group shuts down, and a final flush leaves the database consistent. A step still
//! running at the deadline is abandoned; the flush always runs.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use openraft::BasicNode;
use openraft::rt::deterministic_rng::DeterministicRng;
use openraft_rt_tokio::TokioRuntime;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use strait_control::{ControlRaft, ControlStateMachine, NodeInfo};
use strait_proto::http2;
use strait_proto::internal::node_internal_server::NodeInternalServer;
use strait_proto::internal::raft_transport_server::RaftTransportServer;
use strait_proto::v1::stream_service_server::StreamServiceServer;
use strait_raft::network::{
    Dialer, GroupNetworkFactory, GroupRegistry, MAX_MESSAGE_BYTES, PeerRouter, RaftGroupRpc, TcpDialer,
};
use strait_raft::{Clock, GroupId, LogStore, SystemClock};
use strait_storage::{Flusher, KvEngine, SledEngine};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::server::Connected;

use crate::config::NodeConfig;
use crate::control::ControlHandle;
use crate::disk_guard::DiskGuard;
use crate::drain::Drain;
use crate::error::NodeError;
use crate::grpc::internal::NodeInternalService;
use crate::grpc::public::StreamServiceImpl;
use crate::health::NodeHealth;
use crate::membership::MembershipKeeper;
use crate::metrics::NodeMetrics;
use crate::operations::Operations;
use crate::replica_moves::ReplicaMover;
use crate::shard_access::ShardAccess;
use crate::shards::ShardHost;
use crate::status::ClusterStatusProbe;

/// What a node takes from its surroundings: storage, network, clock and randomness.
///
/// Production uses sled, TCP, the system clock and a random seed
/// ([`NodeEnvironment::production`]); the deterministic simulation passes a memory
/// engine, its simulated network, a clock driven by simulated time and a seed of its own.
/// Every other line of node code is shared between the two.
pub struct NodeEnvironment {
    pub engine: Arc<dyn KvEngine>,
    /// Whether the engine's flush blocks the thread (sled's fsync): it then runs on the
    /// blocking pool. The memory engine flushes inline, with no thread.
    pub engine_flush_blocks: bool,
    pub dialer: Arc<dyn Dialer>,
    pub clock: Arc<dyn Clock>,
    /// Seeds openraft's election timeouts, the node's producer id and the cluster's
    /// iterator secret at bootstrap.
    pub seed: u64,
    /// The directory whose free space gates writes, if any.
    pub disk_path: Option<PathBuf>,
}

impl NodeEnvironment {
    /// sled in `config.data_dir`, TCP, the system clock, a random seed.
    pub fn production(config: &NodeConfig) -> Result<Self, NodeError> {
        std::fs::create_dir_all(&config.data_dir)?;
        let engine = SledEngine::open(&config.data_dir.join("db"), config.cache_bytes)?;
        Ok(Self {
            engine: Arc::new(engine),
            engine_flush_blocks: true,
            dialer: Arc::new(TcpDialer::default()),
            clock: Arc::new(SystemClock),
            seed: rand::random(),
            disk_path: Some(config.data_dir.clone()),
        })
    }
}

/// Runs a node on TCP until `shutdown` resolves.
pub async fn serve(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError> {
    config.validate().map_err(NodeError::Config)?;
    let environment = NodeEnvironment::production(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| NodeError::Bind {
            address: config.listen.to_string(),
            source,
        })?;
    // tonic's own `tcp_nodelay` applies only to listeners it binds itself: connections
    // accepted here get it set explicitly. Without it, a response larger than one segment
    // waits for the peer's delayed ACK (about 40 ms) before its tail is sent.
    let incoming = TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            if let Err(error) = stream.set_nodelay(true) {
                tracing::debug!(%error, "cannot disable Nagle's algorithm on a connection");
            }
        })
    });
    serve_with(config, environment, incoming, shutdown).await
}

/// Runs a node in `environment`, accepting connections from `incoming`, until
/// `shutdown` resolves.
pub async fn serve_with<I, IO, IE>(
    config: NodeConfig,
    environment: NodeEnvironment,
    incoming: I,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError>
where
    I: Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let seed = environment.seed;
    // openraft draws election timeouts from this task-local seed.
    DeterministicRng::<TokioRuntime>::scope(seed, run(config, environment, incoming, shutdown)).await
}

async fn run<I, IO, IE>(
    config: NodeConfig,
    environment: NodeEnvironment,
    incoming: I,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), NodeError>
where
    I: Stream<Item = Result<IO, IE>> + Send + 'static,
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
    IE: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let node_id = config.node_id;
    let seed = environment.seed;
    // Loaded first, like the port below, so a bad certificate fails the start at once.
    let kinesis_tls = match &config.kinesis_tls {
        Some((cert, key)) => Some(strait_kinesis::tls::server_config(cert, key).map_err(NodeError::Config)?),
        None => None,
    };
    // Bound first, so a taken port fails the start before any Raft group runs.
    let kinesis_listener = match config.kinesis_listen {
        Some(address) => {
            Some(
                tokio::net::TcpListener::bind(address)
                    .await
                    .map_err(|source| NodeError::Bind {
                        address: address.to_string(),
                        source,
                    })?,
            )
        }
        None => None,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let engine = environment.engine.clone();
    let flusher = Flusher::start(engine.clone(), environment.engine_flush_blocks);
    let clock = environment.clock.clone();

    let router = Arc::new(PeerRouter::new(environment.dialer.clone()));
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

    let metrics = Arc::new(NodeMetrics::default());
    let host = Arc::new(ShardHost::new(
        node_id,
        engine.clone(),
        flusher.clone(),
        router.clone(),
        registry.clone(),
        clock.clone(),
        config.raft.clone(),
        metrics.clone(),
    )?);
    if config.shard_throughput_limits {
        host.enable_throughput_limits();
    }
    let access = Arc::new(ShardAccess::new(node_id, host.clone(), router.clone()));
    let (stop_tx, stop_rx) = watch::channel(false);
    let disk = environment
        .disk_path
        .clone()
        .map(|path| DiskGuard::start(path, config.min_free_disk_bytes, stop_rx.clone()));
    let operations = Arc::new(Operations::new(
        control.clone(),
        access,
        clock.clone(),
        disk,
        config.replication_factor,
        rng.next_u64(),
        metrics.clone(),
    ));
    // Turns true at the shutdown signal (readiness fails from then on) ...
    let (shutting_down_tx, shutting_down_rx) = watch::channel(false);
    let probe = Arc::new(ClusterStatusProbe::new(
        node_id,
        control.clone(),
        host.clone(),
        router.clone(),
        shutting_down_rx.clone(),
    ));

    let mover = ReplicaMover::new(node_id, host.clone(), control.clone());
    let supervisor = tokio::spawn(DeterministicRng::<TokioRuntime>::scope(
        seed.wrapping_add(1),
        supervise(
            host.clone(),
            mover,
            control.clone(),
            clock.clone(),
            config.trim_interval,
            stop_rx.clone(),
        ),
    ));
    let initial: Vec<NodeInfo> = config
        .initial_cluster
        .iter()
        .map(|(id, address)| NodeInfo {
            id: *id,
            address: address.clone(),
            voter: true,
            state: strait_control::NodeState::Active,
        })
        .collect();
    let mut iterator_secret = vec![0u8; 32];
    rng.fill_bytes(&mut iterator_secret);
    let reconciler = tokio::spawn(crate::reconciler::run(
        operations.clone(),
        control.clone(),
        probe.clone(),
        initial,
        iterator_secret,
        MembershipKeeper::new(
            node_id,
            control.clone(),
            host.clone(),
            router.clone(),
            config.down_after,
        ),
        stop_rx.clone(),
    ));
    let joiner = config.join.clone().map(|seeds| {
        tokio::spawn(crate::membership::join(
            seeds,
            node_id,
            config.advertise.clone(),
            environment.dialer.clone(),
            stop_rx.clone(),
        ))
    });

    tracing::info!(node = node_id, listen = %config.listen, advertise = %config.advertise, "node serving");
    // ... and this one once leadership is handed off: the servers stop accepting then.
    let (draining_tx, draining_rx) = watch::channel(false);
    // When the node must be stopped by, set at the signal.
    let (deadline_tx, deadline_rx) = watch::channel(None::<tokio::time::Instant>);
    let kinesis = kinesis_listener.map(|listener| {
        if let Ok(address) = listener.local_addr() {
            let https = kinesis_tls.is_some();
            tracing::info!(node = node_id, kinesis = %address, https, "kinesis api serving");
        }
        let mut draining = draining_rx.clone();
        let kinesis_config = strait_kinesis::KinesisConfig {
            default_account: config.default_account.clone(),
            tls: kinesis_tls.clone(),
            ..Default::default()
        };
        // Stops with the gRPC server: on the shutdown signal, or when the server ends and
        // drops the sender.
        let stopped = async move {
            let _ = draining.wait_for(|d| *d).await;
        };
        let health: Arc<dyn strait_kinesis::NodeProbe> = Arc::new(NodeHealth {
            node_id,
            status: probe.clone(),
            metrics: metrics.clone(),
            control: control.clone(),
            host: host.clone(),
            engine: engine.clone(),
            flusher: flusher.clone(),
            shutting_down: shutting_down_rx.clone(),
        });
        tokio::spawn(strait_kinesis::serve(
            listener,
            operations.clone(),
            kinesis_config,
            Some(health),
            stopped,
        ))
    });
    let public = StreamServiceServer::new(StreamServiceImpl::new(
        operations.clone(),
        config.default_account.clone(),
        probe.clone(),
        draining_rx,
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let internal = NodeInternalServer::new(NodeInternalService::new(
        host.clone(),
        control.clone(),
        shutting_down_rx.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES)
    .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let mut transport_service =
        strait_raft::network::RaftTransportService::new(registry.clone(), engine.clone());
    let mut quiet_pings = None;
    if let Some(quiescence) = host.quiescence() {
        transport_service = transport_service.with_quiescence(quiescence.clone());
        quiet_pings = Some(tokio::spawn(
            quiescence.clone().run(router.clone(), stop_rx.clone()),
        ));
    }
    let transport = RaftTransportServer::new(transport_service)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let server = tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .initial_connection_window_size(http2::CONNECTION_WINDOW)
        .initial_stream_window_size(http2::STREAM_WINDOW)
        .max_frame_size(http2::MAX_FRAME)
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(public)
        .add_service(internal)
        .add_service(transport)
        .serve_with_incoming_shutdown(
            incoming,
            Drain {
                node_id,
                shutdown_timeout: config.shutdown_timeout,
                election_max: Duration::from_millis(config.raft.election_max_ms),
                control: control_raft.clone(),
                host: host.clone(),
                deadline: deadline_tx,
                shutting_down: shutting_down_tx,
                draining: draining_tx,
            }
            .on(shutdown),
        );
    let mut deadline_watch = deadline_rx.clone();
    let past_deadline = async move {
        // Copied out of the watch's guard, which must not be held across an await: the
        // future must stay Send.
        let deadline = deadline_watch.wait_for(|d| d.is_some()).await.map(|d| *d);
        match deadline {
            Ok(Some(deadline)) => tokio::time::sleep_until(deadline).await,
            // The server ended without a shutdown signal.
            _ => std::future::pending().await,
        }
    };
    let result = tokio::select! {
        result = server => result,
        () = past_deadline => {
            tracing::warn!(node = node_id, "the servers did not drain within the shutdown timeout");
            Ok(())
        }
    };
    let deadline = deadline_rx
        .borrow()
        .unwrap_or_else(|| tokio::time::Instant::now() + config.shutdown_timeout);
    if let Some(mut kinesis) = kinesis {
        match tokio::time::timeout_at(deadline, &mut kinesis).await {
            Ok(Ok(Err(error))) => tracing::warn!(error = %error, "kinesis api stopped with an error"),
            Ok(Err(error)) => tracing::warn!(error = %error, "kinesis api task failed"),
            Ok(Ok(Ok(()))) => {}
            Err(_) => {
                tracing::warn!(
                    node = node_id,
                    "the kinesis api did not drain within the shutdown timeout"
                );
                kinesis.abort();
            }
        }
    }

    tracing::info!(node = node_id, "shutting down");
    let teardown = async {
        let _ = stop_tx.send(true);
        let _ = supervisor.await;
        let _ = reconciler.await;
        if let Some(pings) = quiet_pings {
            let _ = pings.await;
        }
        if let Some(joiner) = joiner {
            let _ = joiner.await;
        }
        host.shutdown().await;
        registry.remove(GroupId::CONTROL);
        let _ = control_raft.shutdown().await;
    };
    if tokio::time::timeout_at(deadline, teardown).await.is_err() {
        tracing::warn!(
            node = node_id,
            "raft groups did not stop within the shutdown timeout"
        );
    }
    flusher.flush().await?;
    tracing::info!(node = node_id, "stopped");
    result.map_err(NodeError::from)
}

/// Keeps the hosted shard groups in line with the metadata, and trims expired records
/// of the groups this node leads.
async fn supervise(
    host: Arc<ShardHost>,
    mover: Arc<ReplicaMover>,
    control: ControlHandle,
    clock: Arc<dyn Clock>,
    trim_interval: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut view = control.watch();
    let mut last_trim = tokio::time::Instant::now();
    loop {
        let current = view.borrow_and_update().clone();
        host.reconcile(&current).await;
        host.initialize_stranded(&current).await;
        mover.advance(&current);
        mover.confirm_deletions(&current);
        if last_trim.elapsed() >= trim_interval {
            last_trim = tokio::time::Instant::now();
            host.trim_expired(&current, clock.now_ms()).await;
        }
        tokio::select! {
            _ = stop.changed() => return,
            _ = view.changed() => {}
            _ = tokio::time::sleep(trim_interval.min(Duration::from_secs(1))) => {}
        }
    }
}
