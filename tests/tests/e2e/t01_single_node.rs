//! One node: the gRPC API's data path and its errors.

use strait_proto::v1::{self as pb};
use strait_tests::{ClusterOptions, TestCluster};

use crate::support::{assert_sequence_numbers_increase, error_type, put, read_all};

#[tokio::test]
async fn records_put_on_one_node_read_back_exactly() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1, ClusterOptions::default()).await?;
    cluster.create_stream(1, "orders", 3).await?;
    let mut client = cluster.client(1).await?;

    // Kinesis' routing test vectors: "a" → shard 0, "b" → shard 1, "e" → shard 2.
    for (key, shard) in [
        ("a", "shardId-000000000000"),
        ("b", "shardId-000000000001"),
        ("e", "shardId-000000000002"),
    ] {
        let (got, _) = put(&mut client, "orders", key, key.as_bytes()).await?;
        assert_eq!(got, shard, "partition key {key}");
    }
    let entries: Vec<pb::PutRecordsEntry> = (0..300)
        .map(|i| pb::PutRecordsEntry {
            partition_key: format!("key-{}", i % 7),
            data: bytes::Bytes::from(format!("record {i}")),
            explicit_hash_key: None,
        })
        .collect();
    let response = client
        .put_records(pb::PutRecordsRequest {
            stream: "orders".into(),
            records: entries,
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(response.failed_record_count, 0);
    assert_eq!(response.records.len(), 300);

    let records = read_all(&mut client, "orders").await?;
    assert_eq!(records.len(), 303);
    assert_sequence_numbers_increase(&records);
    for (i, result) in response.records.iter().enumerate() {
        let found = records
            .iter()
            .find(|r| r.sequence_number == result.sequence_number)
            .expect("every acknowledged record is readable at its sequence number");
        assert_eq!(found.data, format!("record {i}").into_bytes());
        assert_eq!(found.shard_id, result.shard_id);
    }
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_kinesis_errors() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1, ClusterOptions::default()).await?;
    cluster.create_stream(1, "errors", 2).await?;
    let mut client = cluster.client(1).await?;

    let unknown = put(&mut client, "nope", "k", b"x").await.unwrap_err();
    let status = unknown.downcast_ref::<tonic::Status>().expect("a status");
    assert_eq!(error_type(status), "ResourceNotFoundException");
    assert_eq!(
        status.message(),
        "Stream nope under account 000000000000 not found."
    );

    let empty_key = put(&mut client, "errors", "", b"x").await.unwrap_err();
    assert_eq!(
        error_type(empty_key.downcast_ref().unwrap()),
        "ValidationException"
    );

    let too_big = client
        .put_record(pb::PutRecordRequest {
            stream: "errors".into(),
            partition_key: "k".into(),
            data: bytes::Bytes::from(vec![0u8; (1 << 20) + 1]),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_type(&too_big), "ValidationException");

    let exists = client
        .create_stream(pb::CreateStreamRequest {
            stream: "errors".into(),
            shard_count: 1,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_type(&exists), "ResourceInUseException");

    let forged = client
        .get_records(pb::GetRecordsRequest {
            shard_iterator: "AAAAAAAAAAAforged".into(),
            limit: 10,
        })
        .await
        .unwrap_err();
    assert_eq!(error_type(&forged), "InvalidArgumentException");
    assert_eq!(forged.message(), "Invalid ShardIterator.");

    // A sequence number of shard 0 used on shard 1.
    let (shard, sequence_number) = put(&mut client, "errors", "a", b"x").await?;
    assert_eq!(shard, "shardId-000000000000");
    let other_shard = client
        .get_shard_iterator(pb::GetShardIteratorRequest {
            stream: "errors".into(),
            shard_id: "shardId-000000000001".into(),
            shard_iterator_type: pb::ShardIteratorType::AtSequenceNumber as i32,
            starting_sequence_number: Some(sequence_number.clone()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(error_type(&other_shard), "InvalidArgumentException");
    assert!(
        other_shard
            .message()
            .starts_with("Invalid StartingSequenceNumber")
    );

    // The node still serves after all of that, and the record is there.
    let records = read_all(&mut client, "errors").await?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].sequence_number, sequence_number);
    Ok(())
}

/// `strait bench produce` against a real node: its summary counts exactly the records of
/// the measured run, and every record it wrote, warm-up included, is in the stream.
#[tokio::test]
async fn bench_produce_counts_what_it_stored() -> anyhow::Result<()> {
    let cluster = TestCluster::start(1, ClusterOptions::default()).await?;
    let output = tokio::process::Command::new(strait_tests::strait_binary())
        .args(["--endpoint", &cluster.endpoint(1), "bench", "produce"])
        .args(["--stream", "benched", "--shards", "2", "--count", "300"])
        .args(["--batch-size", "50", "--concurrency", "2", "--record-size", "64"])
        .args(["--warm-up", "300ms", "--progress", "0s"])
        .output()
        .await?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "bench produce failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())?;
    assert_eq!(summary["records"], 300, "{summary}");
    assert_eq!(summary["errors"], 0, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["shards"], 2, "{summary}");
    assert_eq!(summary["latency_us"]["samples"], 6, "{summary}");

    let mut client = cluster.client(1).await?;
    let records = read_all(&mut client, "benched").await?;
    // The warm-up sent whole requests of 50 on top of the measured 300.
    assert!(records.len() >= 300, "{} records", records.len());
    assert_eq!(records.len() % 50, 0, "{} records", records.len());
    assert!(records.iter().all(|r| r.data.len() == 64));
    assert_sequence_numbers_increase(&records);
    Ok(())
}
