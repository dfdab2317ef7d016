//! Helpers shared by the end-to-end tests.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use strait_proto::internal::ReadRecordsRequest;
use strait_proto::internal::node_internal_client::NodeInternalClient;
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use tonic::transport::Channel;

/// A record read back from a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadBack {
    pub shard_id: String,
    pub sequence_number: String,
    pub partition_key: String,
    pub data: Vec<u8>,
}

/// A record a producer of the load tests had acknowledged: its key and counter, and where
/// the acknowledgement said it was stored.
#[derive(Debug, Clone)]
pub struct Acked {
    pub key: usize,
    pub counter: usize,
    pub shard_id: String,
    pub sequence_number: String,
}

/// The bytes the load tests write for a key's `counter`-th record.
pub fn data(key: usize, counter: usize) -> Vec<u8> {
    format!("key-{key}:{counter:06}").into_bytes()
}

/// Reads every shard of `stream` from TRIM_HORIZON until each is caught up.
pub async fn read_all(client: &mut StreamServiceClient<Channel>, stream: &str) -> Result<Vec<ReadBack>> {
    let shards = client
        .list_shards(pb::ListShardsRequest {
            stream: stream.to_string(),
            ..Default::default()
        })
        .await?
        .into_inner()
        .shards;
    let mut out = Vec::new();
    for shard in shards {
        let mut iterator = client
            .get_shard_iterator(pb::GetShardIteratorRequest {
                stream: stream.to_string(),
                shard_id: shard.shard_id.clone(),
                shard_iterator_type: pb::ShardIteratorType::TrimHorizon as i32,
                ..Default::default()
            })
            .await?
            .into_inner()
            .shard_iterator;
        loop {
            let response = client
                .get_records(pb::GetRecordsRequest {
                    shard_iterator: iterator.clone(),
                    limit: 10_000,
                })
                .await?
                .into_inner();
            let empty = response.records.is_empty();
            for record in response.records {
                out.push(ReadBack {
                    shard_id: shard.shard_id.clone(),
                    sequence_number: record.sequence_number,
                    partition_key: record.partition_key,
                    data: record.data.to_vec(),
                });
            }
            match response.next_shard_iterator {
                Some(next) if !(empty && response.millis_behind_latest == 0) => iterator = next,
                _ => break,
            }
        }
    }
    Ok(out)
}

/// Checks that sequence numbers strictly increase within each shard, in read order.
pub fn assert_sequence_numbers_increase(records: &[ReadBack]) {
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for record in records {
        if let Some(previous) = last.insert(&record.shard_id, &record.sequence_number) {
            assert_eq!(
                record.sequence_number.len(),
                56,
                "sequence numbers have 56 digits"
            );
            assert!(
                record.sequence_number.as_str() > previous,
                "sequence numbers must increase within {}: {previous} then {}",
                record.shard_id,
                record.sequence_number
            );
        }
    }
}

/// The Kinesis error name a status carries.
pub fn error_type(status: &tonic::Status) -> String {
    status
        .metadata()
        .get(strait_proto::ERROR_TYPE_METADATA)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Puts one record and returns (shard id, sequence number).
pub async fn put(
    client: &mut StreamServiceClient<Channel>,
    stream: &str,
    key: &str,
    data: &[u8],
) -> Result<(String, String)> {
    let response = client
        .put_record(pb::PutRecordRequest {
            stream: stream.to_string(),
            partition_key: key.to_string(),
            data: bytes::Bytes::copy_from_slice(data),
            ..Default::default()
        })
        .await
        .context("put_record")?
        .into_inner();
    Ok((response.shard_id, response.sequence_number))
}

/// Every record one node's own replica of a shard group holds, in order, read through
/// the node-to-node API (no forwarding to the leader): what that replica would serve.
pub async fn replica_records(endpoint: &str, group_id: u64) -> Result<Vec<Vec<u8>>> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?.connect_lazy();
    let mut internal = NodeInternalClient::new(channel).max_decoding_message_size(64 << 20);
    let mut records = Vec::new();
    let (mut index, mut offset) = (0, 0);
    loop {
        let response = internal
            .read_records(ReadRecordsRequest {
                group_id,
                from_index: index,
                from_offset: offset,
                limit: 10_000,
                max_bytes: 16 << 20,
            })
            .await?
            .into_inner();
        let Some(last) = response.records.last() else {
            return Ok(records);
        };
        (index, offset) = (last.log_index, last.offset + 1);
        records.extend(response.records.into_iter().map(|r| r.data.to_vec()));
    }
}
