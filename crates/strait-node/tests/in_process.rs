//! A node served in-process: the quickest check that the pieces fit together.

use std::time::Duration;

use strait_node::NodeConfig;
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};

type Client = StreamServiceClient<tonic::transport::Channel>;

/// Serves one node in this process until the returned sender fires.
async fn single_node(
    dir: &std::path::Path,
    configure: impl FnOnce(&mut NodeConfig),
) -> (
    Client,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), strait_node::NodeError>>,
) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut config = NodeConfig::single(1, listen, dir.to_path_buf());
    configure(&mut config);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = tokio::spawn(strait_node::serve(config, async {
        let _ = stop_rx.await;
    }));
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{listen}"))
        .unwrap()
        .connect_lazy();
    let mut client = StreamServiceClient::new(channel);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        match client.cluster_status(pb::ClusterStatusRequest {}).await {
            Ok(s) if s.get_ref().ready => break,
            other => {
                assert!(tokio::time::Instant::now() < deadline, "never ready: {other:?}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    (client, stop_tx, node)
}

/// Creates a stream and waits until it is ACTIVE.
async fn create_active(client: &mut Client, name: &str, shards: u32) {
    client
        .create_stream(pb::CreateStreamRequest {
            stream: name.into(),
            shard_count: shards,
            ..Default::default()
        })
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let d = client
            .describe_stream(pb::DescribeStreamRequest {
                stream: name.into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .stream
            .unwrap();
        if d.status == "ACTIVE" {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "stream never active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nearly_full_disk_refuses_writes_and_keeps_serving_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, stop, node) = single_node(dir.path(), |c| c.min_free_disk_bytes = u64::MAX).await;
    create_active(&mut client, "full", 1).await;
    let refused = client
        .put_record(pb::PutRecordRequest {
            stream: "full".into(),
            partition_key: "k".into(),
            data: bytes::Bytes::from_static(b"x"),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unavailable, "retryable: {refused:?}");
    assert!(refused.message().contains("disk is nearly full"));
    let iterator = client
        .get_shard_iterator(pb::GetShardIteratorRequest {
            stream: "full".into(),
            shard_id: "shardId-000000000000".into(),
            shard_iterator_type: pb::ShardIteratorType::TrimHorizon as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shard_iterator;
    let read = client
        .get_records(pb::GetRecordsRequest {
            shard_iterator: iterator,
            limit: 10,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(read.records.is_empty() && read.next_shard_iterator.is_some());
    stop.send(()).unwrap();
    node.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_pushes_records_as_they_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, stop, node) = single_node(dir.path(), |_| {}).await;
    create_active(&mut client, "push", 1).await;
    let mut events = client
        .subscribe(pb::SubscribeRequest {
            stream: "push".into(),
            shard_id: "shardId-000000000000".into(),
            starting_position: pb::ShardIteratorType::Latest as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut sent = Vec::new();
    for i in 0..3 {
        let put = client
            .put_record(pb::PutRecordRequest {
                stream: "push".into(),
                partition_key: "k".into(),
                data: bytes::Bytes::from(format!("event {i}")),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        sent.push(put.sequence_number);
    }
    let mut received = Vec::new();
    while received.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.message())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .expect("the stream stays open");
        received.extend(event.records.into_iter().map(|r| r.sequence_number));
    }
    assert_eq!(received, sent);
    stop.send(()).unwrap();
    node.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_serves_puts_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (mut client, stop_tx, node) = single_node(dir.path(), |_| {}).await;
    create_active(&mut client, "s", 2).await;
    let put = client
        .put_record(pb::PutRecordRequest {
            stream: "s".into(),
            partition_key: "a".into(),
            data: bytes::Bytes::from_static(b"hello"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.shard_id, "shardId-000000000000");
    let iterator = client
        .get_shard_iterator(pb::GetShardIteratorRequest {
            stream: "s".into(),
            shard_id: put.shard_id.clone(),
            shard_iterator_type: pb::ShardIteratorType::TrimHorizon as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shard_iterator;
    let records = client
        .get_records(pb::GetRecordsRequest {
            shard_iterator: iterator,
            limit: 100,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(records.records.len(), 1);
    assert_eq!(records.records[0].data.as_ref(), b"hello");
    assert_eq!(records.records[0].sequence_number, put.sequence_number);
    assert!(records.next_shard_iterator.is_some());

    stop_tx.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(20), node)
        .await
        .expect("clean shutdown")
        .unwrap()
        .unwrap();
}

/// Several nodes served in this process, each on its own loopback port.
struct InProcessCluster {
    addresses: Vec<std::net::SocketAddr>,
    clients: Vec<Client>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    nodes: Vec<tokio::task::JoinHandle<Result<(), strait_node::NodeError>>>,
}

impl InProcessCluster {
    /// Starts `size` nodes, with the environment `environment` gives each node's config,
    /// and waits until every node reports the cluster ready.
    async fn start(
        size: u64,
        configure: impl Fn(&mut NodeConfig),
        environment: impl Fn(&NodeConfig) -> strait_node::NodeEnvironment,
    ) -> Self {
        let mut listeners = Vec::new();
        for _ in 0..size {
            listeners.push(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addresses: Vec<std::net::SocketAddr> =
            listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let initial: std::collections::BTreeMap<u64, String> = addresses
            .iter()
            .enumerate()
            .map(|(i, a)| (i as u64 + 1, a.to_string()))
            .collect();
        let mut stops = Vec::new();
        let mut nodes = Vec::new();
        for (i, listener) in listeners.into_iter().enumerate() {
            let mut config = NodeConfig::single(i as u64 + 1, addresses[i], std::path::PathBuf::new());
            config.initial_cluster = initial.clone();
            configure(&mut config);
            let environment = environment(&config);
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            stops.push(stop_tx);
            nodes.push(tokio::spawn(strait_node::serve_with(
                config,
                environment,
                tokio_stream::wrappers::TcpListenerStream::new(listener),
                async {
                    let _ = stop_rx.await;
                },
            )));
        }
        let clients: Vec<Client> = addresses
            .iter()
            .map(|a| {
                StreamServiceClient::new(
                    tonic::transport::Endpoint::from_shared(format!("http://{a}"))
                        .unwrap()
                        .connect_lazy(),
                )
            })
            .collect();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for client in &clients {
            let mut client = client.clone();
            loop {
                match client.cluster_status(pb::ClusterStatusRequest {}).await {
                    Ok(s) if s.get_ref().ready => break,
                    other => {
                        assert!(tokio::time::Instant::now() < deadline, "never ready: {other:?}");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
        Self {
            addresses,
            clients,
            stops,
            nodes,
        }
    }

    /// The internal API of node `index` (from 0), as other nodes call it.
    fn internal(
        &self,
        index: usize,
    ) -> strait_proto::internal::node_internal_client::NodeInternalClient<tonic::transport::Channel> {
        strait_proto::internal::node_internal_client::NodeInternalClient::new(
            tonic::transport::Endpoint::from_shared(format!("http://{}", self.addresses[index]))
                .unwrap()
                .connect_lazy(),
        )
    }

    /// Stops every node and checks each shut down cleanly.
    async fn stop(self) {
        for stop in self.stops {
            let _ = stop.send(());
        }
        for node in self.nodes {
            tokio::time::timeout(Duration::from_secs(30), node)
                .await
                .expect("clean shutdown")
                .unwrap()
                .unwrap();
        }
    }
}

/// Memory storage, TCP, and `clock`: a node whose time the test controls.
fn memory_node(
    clock: std::sync::Arc<dyn strait_raft::Clock>,
) -> impl Fn(&NodeConfig) -> strait_node::NodeEnvironment {
    move |config| strait_node::NodeEnvironment {
        engine: std::sync::Arc::new(strait_storage::MemoryEngine::new()),
        engine_flush_blocks: false,
        dialer: std::sync::Arc::new(strait_raft::network::TcpDialer::default()),
        clock: clock.clone(),
        seed: config.node_id,
        disk_path: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_in_one_process_route_and_replicate() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = InProcessCluster::start(
        3,
        |config| config.data_dir = dir.path().join(format!("n{}", config.node_id)),
        |config| strait_node::NodeEnvironment::production(config).unwrap(),
    )
    .await;
    let clients = cluster.clients.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let mut c2 = clients[1].clone();
    c2.create_stream(pb::CreateStreamRequest {
        stream: "s".into(),
        shard_count: 4,
        ..Default::default()
    })
    .await
    .unwrap();
    let mut c1 = clients[0].clone();
    loop {
        let d = c1
            .describe_stream(pb::DescribeStreamRequest {
                stream: "s".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .stream
            .unwrap();
        if d.status == "ACTIVE" {
            assert!(d.shards.iter().all(|s| s.replicas.len() == 3));
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "stream never active");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut c3 = clients[2].clone();
    let response = c3
        .put_records(pb::PutRecordsRequest {
            stream: "s".into(),
            records: (0..100)
                .map(|i| pb::PutRecordsEntry {
                    partition_key: format!("k{i}"),
                    data: bytes::Bytes::from(format!("r{i}")),
                    explicit_hash_key: None,
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.failed_record_count, 0);
    let shards = c1
        .list_shards(pb::ListShardsRequest {
            stream: "s".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shards;
    let mut total = 0;
    for shard in shards {
        let iterator = c1
            .get_shard_iterator(pb::GetShardIteratorRequest {
                stream: "s".into(),
                shard_id: shard.shard_id,
                shard_iterator_type: pb::ShardIteratorType::TrimHorizon as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shard_iterator;
        total += c1
            .get_records(pb::GetRecordsRequest {
                shard_iterator: iterator,
                limit: 1000,
            })
            .await
            .unwrap()
            .into_inner()
            .records
            .len();
    }
    assert_eq!(total, 100);
    cluster.stop().await;
}

/// A clock the test moves by hand.
#[derive(Default)]
struct ManualClock(std::sync::atomic::AtomicU64);

impl strait_raft::Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Reads a shard of stream `r` from an iterator of `kind` (at `timestamp_ms` for
/// AT_TIMESTAMP), returning the records' data.
async fn read_shard(
    mut client: Client,
    shard: &str,
    kind: pb::ShardIteratorType,
    timestamp_ms: Option<u64>,
) -> Vec<String> {
    let iterator = client
        .get_shard_iterator(pb::GetShardIteratorRequest {
            stream: "r".into(),
            shard_id: shard.into(),
            shard_iterator_type: kind as i32,
            timestamp_ms,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .shard_iterator;
    client
        .get_records(pb::GetRecordsRequest {
            shard_iterator: iterator,
            limit: 100,
        })
        .await
        .unwrap()
        .into_inner()
        .records
        .into_iter()
        .map(|r| String::from_utf8(r.data.to_vec()).unwrap())
        .collect()
}

/// Retention on a three-node cluster whose clock the test moves: expired records vanish
/// from TRIM_HORIZON and AT_TIMESTAMP reads through every node, a closed parent leaves
/// ListShards once its records expired, and every replica trims by the same rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_hides_and_trims_expired_records_on_every_replica() {
    use pb::ShardIteratorType::{AtTimestamp, TrimHorizon};
    use std::sync::atomic::Ordering::SeqCst;
    const HOUR: u64 = 3_600_000;
    let clock = std::sync::Arc::new(ManualClock::default());
    let t0 = 1_000 * HOUR;
    clock.0.store(t0, SeqCst);
    let cluster = InProcessCluster::start(
        3,
        |config| config.trim_interval = Duration::from_millis(100),
        memory_node(clock.clone()),
    )
    .await;
    let mut client = cluster.clients[0].clone();
    create_active(&mut client, "r", 1).await;
    let put = |data: &'static str| pb::PutRecordRequest {
        stream: "r".into(),
        partition_key: "k".into(),
        data: bytes::Bytes::from_static(data.as_bytes()),
        ..Default::default()
    };
    client.put_record(put("old")).await.unwrap();
    clock.0.store(t0 + 2 * HOUR, SeqCst);
    client.put_record(put("newer")).await.unwrap();
    for node in &cluster.clients {
        assert_eq!(
            read_shard(node.clone(), "0", TrimHorizon, None).await,
            ["old", "newer"]
        );
    }

    // 25 hours after "old" arrived it has expired, "newer" not yet: through every node,
    // TRIM_HORIZON starts after it and AT_TIMESTAMP before it finds only "newer".
    clock.0.store(t0 + 25 * HOUR, SeqCst);
    for node in &cluster.clients {
        assert_eq!(read_shard(node.clone(), "0", TrimHorizon, None).await, ["newer"]);
        assert_eq!(
            read_shard(node.clone(), "0", AtTimestamp, Some(t0)).await,
            ["newer"]
        );
        assert_eq!(
            read_shard(node.clone(), "0", AtTimestamp, Some(t0 + HOUR)).await,
            ["newer"]
        );
    }
    client
        .split_shard(pb::SplitShardRequest {
            stream: "r".into(),
            shard_to_split: "0".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let shards = |mut client: Client| async move {
        client
            .list_shards(pb::ListShardsRequest {
                stream: "r".into(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .shards
            .into_iter()
            .map(|s| s.shard_id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        shards(client.clone()).await.len(),
        3,
        "the closed parent is listed while it holds records"
    );

    // 25 hours after the split, the parent's records have all expired and it is gone.
    clock.0.store(t0 + 50 * HOUR, SeqCst);
    for node in &cluster.clients {
        assert_eq!(
            read_shard(node.clone(), "0", TrimHorizon, None).await,
            Vec::<String>::new()
        );
        assert_eq!(
            shards(node.clone()).await,
            ["shardId-000000000001", "shardId-000000000002"]
        );
    }

    // The parent's leader trims the expired records and every replica applies the trim:
    // each replica's own first retained position moves past them.
    let status = client
        .cluster_status(pb::ClusterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    let parent = status
        .groups
        .iter()
        .find(|g| g.shard_id == "shardId-000000000000")
        .unwrap();
    assert_eq!(parent.replicas.len(), 3);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for &node in &parent.replicas {
        let mut internal = cluster.internal(node as usize - 1);
        loop {
            let tip = internal
                .get_shard_tip(strait_proto::internal::ShardTipRequest {
                    group_id: parent.group_id,
                })
                .await
                .unwrap()
                .into_inner();
            if tip.first_retained_index > 0 {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {node} never trimmed the expired records"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster.stop().await;
}
