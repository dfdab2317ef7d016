//! The client against in-memory fake nodes: failover, discovery, retries, the producer's
//! per-record retries and the consumer's lineage order.

mod fake_cluster;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use fake_cluster::{FakeServer, FakeShard, FakeState, STREAM, Shared};
use futures::StreamExt;
use strait_client::{
    ClientError, ConsumedRecord, Consumer, ConsumerConfig, Producer, ProducerConfig, StraitClient,
};
use strait_core::{IteratorType, PartitionKey, Record, StreamName};

fn stream() -> StreamName {
    StreamName::new(STREAM).expect("valid name")
}

fn state_with_shards(shards: &[u32]) -> Shared {
    Arc::new(Mutex::new(FakeState {
        shards: shards
            .iter()
            .map(|id| FakeShard {
                id: *id,
                listed: true,
                ..FakeShard::default()
            })
            .collect(),
        ..FakeState::default()
    }))
}

fn client(endpoints: &[String]) -> StraitClient {
    StraitClient::builder(endpoints.iter().cloned())
        .request_timeout(Duration::from_secs(2))
        .retry_deadline(Duration::from_secs(10))
        .build()
        .expect("valid endpoints")
}

/// Reads records from a consumer until it ends, or until `count` have arrived.
async fn read(consumer: Consumer, count: Option<usize>) -> Vec<ConsumedRecord> {
    let mut records = std::pin::pin!(consumer.records());
    let mut read = Vec::new();
    while count.is_none_or(|count| read.len() < count) {
        let next = tokio::time::timeout(Duration::from_secs(10), records.next())
            .await
            .expect("records keep coming");
        match next {
            Some(record) => read.push(record.expect("no error")),
            None => break,
        }
    }
    read
}

fn data(records: &[ConsumedRecord]) -> Vec<String> {
    records
        .iter()
        .map(|record| String::from_utf8(record.record.data.to_vec()).expect("text"))
        .collect()
}

#[tokio::test]
async fn a_client_outlives_the_node_it_started_with() {
    let state = state_with_shards(&[0]);
    let first = FakeServer::start(state.clone()).await;
    let second = FakeServer::start(state.clone()).await;
    state.lock().expect("not poisoned").members = vec![first.address.to_string(), second.address.to_string()];

    let client = client(&[first.endpoint()]);
    assert_eq!(client.list_streams().await.expect("answered"), vec![STREAM]);
    assert_eq!(client.endpoints(), vec![first.endpoint(), second.endpoint()]);

    first.stop().await;
    let shards = client.list_shards(&stream()).await.expect("failed over");
    assert_eq!(shards.len(), 1);
    second.stop().await;
    let error = client
        .with_retry_deadline(Duration::from_millis(300))
        .list_streams()
        .await
        .expect_err("no node is left");
    assert!(error.is_unreachable(), "{error}");
}

#[tokio::test]
async fn unavailable_answers_are_retried_and_others_are_not() {
    let state = state_with_shards(&[0]);
    let server = FakeServer::start(state.clone()).await;
    let client = client(&[server.endpoint()]);

    state.lock().expect("not poisoned").unavailable_calls = 3;
    let shards = client.list_shards(&stream()).await.expect("retried");
    assert_eq!(shards.len(), 1);

    let calls_before = state.lock().expect("not poisoned").calls.len();
    let missing = StreamName::new("missing").expect("valid name");
    let error = client.list_shards(&missing).await.expect_err("no such stream");
    assert_eq!(error.error_type(), "ResourceNotFoundException");
    assert!(!error.is_retryable());
    assert_eq!(
        state.lock().expect("not poisoned").calls.len(),
        calls_before + 1,
        "a final answer is not retried"
    );
    server.stop().await;
}

#[tokio::test]
async fn puts_go_to_the_shard_leader_and_elsewhere_once_it_is_gone() {
    let state = state_with_shards(&[0]);
    let first = FakeServer::start(state.clone()).await;
    let leader = FakeServer::start(state.clone()).await;
    {
        let mut state = state.lock().expect("not poisoned");
        state.members = vec![first.address.to_string(), leader.address.to_string()];
        state.leader = Some(2);
    }
    let client = client(&[first.endpoint()]);
    let key = || PartitionKey::new("customer-7").expect("valid key");
    let served_last = || {
        *state
            .lock()
            .expect("not poisoned")
            .puts_served_by
            .last()
            .expect("a put")
    };

    // The first puts learn the cluster, then (in the background) the shard's leader.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        client.put(&stream(), key(), "hello").await.expect("stored");
        if served_last() == leader.address {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "puts never reached the leader"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = state.lock().expect("not poisoned").puts_served_by.len();
    for i in 0..10 {
        client
            .put(&stream(), key(), format!("single-{i}"))
            .await
            .expect("stored");
    }
    let batch: Vec<Record> = (0..5).map(|i| Record::new(key(), format!("batch-{i}"))).collect();
    client.put_records(&stream(), &batch).await.expect("answered");
    let served: Vec<_> = state.lock().expect("not poisoned").puts_served_by[before..].to_vec();
    assert_eq!(served, vec![leader.address; 11], "every put went to the leader");

    // The leader is gone: the routed attempt fails and the put is stored elsewhere at once.
    leader.stop().await;
    let started = tokio::time::Instant::now();
    client
        .put(&stream(), key(), "after")
        .await
        .expect("stored elsewhere");
    assert_eq!(served_last(), first.address);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no backoff before the fallback"
    );
    // The node that did not answer is avoided for a while, whatever the others say.
    client.put(&stream(), key(), "after again").await.expect("stored");
    assert_eq!(served_last(), first.address);
    first.stop().await;
}

#[tokio::test]
async fn the_producer_retries_failed_records_until_all_are_stored() {
    let state = state_with_shards(&[0]);
    let server = FakeServer::start(state.clone()).await;
    {
        let mut state = state.lock().expect("not poisoned");
        state.flaky_keys = (0..1200).step_by(7).map(|i| format!("key-{i}")).collect();
        state.unavailable_calls = 2;
    }
    let producer = Producer::new(client(&[server.endpoint()]), stream(), ProducerConfig::default());
    let records: Vec<Record> = (0..1200)
        .map(|i| {
            Record::new(
                PartitionKey::new(format!("key-{i}")).expect("valid key"),
                format!("record-{i}"),
            )
        })
        .collect();
    let outcomes = producer.send_all(records).await;
    assert_eq!(outcomes.len(), 1200);
    assert!(outcomes.iter().all(Result::is_ok), "every record is stored");

    let stored: Vec<String> = {
        let state = state.lock().expect("not poisoned");
        assert!(state.flaky_keys.is_empty(), "every flaky key was tried");
        state.shards[0]
            .records
            .iter()
            .map(|(_, data)| String::from_utf8(data.to_vec()).expect("text"))
            .collect()
    };
    let mut unique = stored.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(stored.len(), 1200, "each record is stored once");
    assert_eq!(unique.len(), 1200);
    // Each outcome names the shard and the position its record was stored at.
    for (i, outcome) in outcomes.iter().enumerate() {
        let result = outcome.as_ref().expect("stored");
        assert_eq!(result.shard_id.0, 0);
        let index = result.sequence_number.position().index as usize;
        assert_eq!(stored[index], format!("record-{i}"));
    }
    server.stop().await;
}

#[tokio::test]
async fn the_producer_reports_records_it_could_not_store() {
    let state = state_with_shards(&[0]);
    let server = FakeServer::start(state.clone()).await;
    let missing = StreamName::new("missing").expect("valid name");
    let producer = Producer::new(client(&[server.endpoint()]), missing, ProducerConfig::default());
    let records = vec![Record::new(PartitionKey::new("k").expect("valid"), "x")];
    let outcomes = producer.send_all(records).await;
    let failure = outcomes[0].as_ref().expect_err("the stream does not exist");
    assert_eq!(failure.error_code, "ResourceNotFoundException");
    server.stop().await;
}

#[tokio::test]
async fn no_follow_reads_parents_before_children_and_stops() {
    // Shard 0 split into 1 and 2; shard 3 is an unrelated original shard.
    let state = state_with_shards(&[0, 3]);
    {
        let mut state = state.lock().expect("not poisoned");
        state.append(0, "zero", 20);
        state.append(3, "three", 5);
        state.split(0, &[1, 2]);
        state.append(1, "one", 9);
        state.append(2, "two", 3);
    }
    let server = FakeServer::start(state.clone()).await;
    let consumer = Consumer::new(
        client(&[server.endpoint()]),
        stream(),
        ConsumerConfig {
            start: IteratorType::TrimHorizon,
            follow: false,
            ..ConsumerConfig::default()
        },
    );
    let records = read(consumer, None).await;
    assert_eq!(records.len(), 37);
    let position = |prefix: &str, last: bool| {
        let mut matches = records
            .iter()
            .enumerate()
            .filter(|(_, r)| r.record.partition_key == prefix)
            .map(|(i, _)| i);
        if last { matches.last() } else { matches.next() }.expect("present")
    };
    assert!(position("zero", true) < position("one", false));
    assert!(position("zero", true) < position("two", false));
    // Within a shard, records arrive in order.
    let zeros: Vec<String> = data(&records)
        .into_iter()
        .filter(|d| d.starts_with("zero"))
        .collect();
    assert_eq!(zeros, (0..20).map(|i| format!("zero-{i}")).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn follow_mode_finds_children_created_while_reading() {
    let state = state_with_shards(&[0]);
    state.lock().expect("not poisoned").append(0, "before", 3);
    let server = FakeServer::start(state.clone()).await;
    let consumer = Consumer::new(
        client(&[server.endpoint()]),
        stream(),
        ConsumerConfig {
            start: IteratorType::TrimHorizon,
            follow: true,
            poll_interval: Duration::from_millis(20),
            ..ConsumerConfig::default()
        },
    );
    let reader = tokio::spawn(read(consumer, Some(3 + 1 + 4 + 2)));
    // Let the consumer read shard 0 and start polling it, then split it.
    tokio::time::sleep(Duration::from_millis(200)).await;
    {
        let mut state = state.lock().expect("not poisoned");
        state.append(0, "last", 1);
        state.split(0, &[1, 2]);
        // The children are not listed: the consumer must learn them from shard 0's end.
        state.shard(1).listed = false;
        state.shard(2).listed = false;
        state.append(1, "left", 4);
        state.append(2, "right", 2);
    }
    let records = reader.await.expect("the reader finishes");
    let shards: Vec<u32> = records.iter().map(|r| r.shard_id.0).collect();
    assert_eq!(&shards[..4], &[0, 0, 0, 0]);
    assert_eq!(shards.iter().filter(|s| **s == 1).count(), 4);
    assert_eq!(shards.iter().filter(|s| **s == 2).count(), 2);
    server.stop().await;
}

#[tokio::test]
async fn an_expired_iterator_is_renewed_after_the_last_record_seen() {
    let state = state_with_shards(&[0]);
    {
        let mut state = state.lock().expect("not poisoned");
        state.append(0, "k", 30);
        state.expire_next_iterator = true;
    }
    let server = FakeServer::start(state.clone()).await;
    let consumer = Consumer::new(
        client(&[server.endpoint()]),
        stream(),
        ConsumerConfig {
            start: IteratorType::TrimHorizon,
            follow: false,
            ..ConsumerConfig::default()
        },
    );
    let records = read(consumer, None).await;
    assert_eq!(
        data(&records),
        (0..30).map(|i| format!("k-{i}")).collect::<Vec<_>>(),
        "no record is lost or repeated"
    );
    let calls = state.lock().expect("not poisoned").calls.clone();
    assert_eq!(
        calls.iter().filter(|c| **c == "GetShardIterator").count(),
        2,
        "the iterator was renewed once"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unknown_stream_ends_the_consumer_with_the_error() {
    let state = state_with_shards(&[0]);
    let server = FakeServer::start(state).await;
    let consumer = Consumer::new(
        client(&[server.endpoint()]),
        StreamName::new("missing").expect("valid"),
        ConsumerConfig::default(),
    );
    let mut records = std::pin::pin!(consumer.records());
    let first = records.next().await.expect("an item");
    let error: ClientError = first.expect_err("the stream does not exist");
    assert_eq!(error.error_type(), "ResourceNotFoundException");
    assert!(records.next().await.is_none());
    server.stop().await;
}
