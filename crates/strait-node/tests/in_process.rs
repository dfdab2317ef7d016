//! A node served in-process: the quickest check that the pieces fit together.

use std::time::Duration;

use strait_node::NodeConfig;
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_serves_puts_and_reads() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let config = NodeConfig::single(1, listen, dir.path().to_path_buf());
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
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never ready: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    client
        .create_stream(pb::CreateStreamRequest {
            stream: "s".into(),
            shard_count: 2,
            ..Default::default()
        })
        .await
        .unwrap();
    loop {
        let d = client
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
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream never active"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
