//! The operations a bench needs, over either front door: gRPC or the Kinesis HTTP API.

use std::time::Duration;

use anyhow::{Context as _, anyhow};
use bytes::Bytes;
use strait_client::{ClientError, StraitClient};
use strait_core::{IteratorType, Record, ShardId, StreamMode, StreamName, StreamStatus};
use tokio::time::Instant;

use super::kinesis_http::KinesisHttp;
use super::{Api, CommonArgs};
use crate::cli::GlobalArgs;
use crate::commands::{client, namespace, usage};

/// How long a new stream may take to become ACTIVE.
const CREATE_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the stream's status is polled while waiting for ACTIVE.
const CREATE_POLL: Duration = Duration::from_millis(250);

/// One page of a shard: the records' data, the iterator to read on with, and how far behind
/// the shard's newest record the page ends.
#[derive(Debug, Clone, Default)]
pub struct Page {
    pub data: Vec<Bytes>,
    /// `None` once a closed shard has been read to its end.
    pub next: Option<String>,
    pub behind_ms: u64,
}

/// Where a reader starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    TrimHorizon,
    Latest,
}

/// The cluster, through the chosen API.
#[derive(Clone)]
pub enum Driver {
    Grpc(StraitClient),
    /// Boxed: the HTTP client is large, and drivers are cloned into every worker.
    Kinesis(Box<KinesisHttp>),
}

impl Driver {
    /// Builds the driver `--api` asks for.
    pub fn new(global: &GlobalArgs, common: &CommonArgs) -> anyhow::Result<Driver> {
        match common.api {
            Api::Grpc => Ok(Driver::Grpc(
                client(global)?.with_retry_deadline(common.request_deadline),
            )),
            Api::Kinesis => {
                let region = namespace(global)?.region;
                KinesisHttp::new(&common.kinesis_endpoint, region.as_str(), common.request_deadline)
                    .map(|http| Driver::Kinesis(Box::new(http)))
                    .map_err(|message| usage(format!("--kinesis-endpoint: {message}")))
            }
        }
    }

    /// The gRPC client, when the driver has one (the push subscription needs it).
    pub fn grpc(&self) -> Option<&StraitClient> {
        match self {
            Driver::Grpc(client) => Some(client),
            Driver::Kinesis(_) => None,
        }
    }

    /// Creates the stream with `shards` shards unless it exists, and waits until it is
    /// ACTIVE.
    pub async fn ensure_stream(&self, stream: &StreamName, shards: u32) -> anyhow::Result<()> {
        let deadline = Instant::now() + CREATE_TIMEOUT;
        let mut created = false;
        loop {
            let status = match self {
                Driver::Grpc(client) => match client.describe_stream(stream).await {
                    Ok(description) => Some(description.status.as_kinesis_str().to_owned()),
                    Err(error) if error.is("ResourceNotFoundException") => None,
                    Err(error) => return Err(error.into()),
                },
                Driver::Kinesis(http) => match http.stream_status(stream.as_str()).await {
                    Ok(status) => Some(status),
                    Err(error) if error.is("ResourceNotFoundException") => None,
                    Err(error) => return Err(error.into()),
                },
            };
            match status.as_deref() {
                Some(status) if status == StreamStatus::Active.as_kinesis_str() => return Ok(()),
                None if !created => {
                    eprintln!("creating stream {stream} with {shards} shard(s)");
                    self.create_stream(stream, shards).await?;
                    created = true;
                }
                _ => {}
            }
            if Instant::now() >= deadline {
                return Err(anyhow!(
                    "stream {stream} did not become ACTIVE within {CREATE_TIMEOUT:?}"
                ));
            }
            tokio::time::sleep(CREATE_POLL).await;
        }
    }

    async fn create_stream(&self, stream: &StreamName, shards: u32) -> anyhow::Result<()> {
        let outcome = match self {
            Driver::Grpc(client) => client
                .create_stream(stream, shards, StreamMode::Provisioned)
                .await
                .map(drop)
                .map_err(|error| (error.is("ResourceInUseException"), anyhow!(error))),
            Driver::Kinesis(http) => http
                .create_stream(stream.as_str(), shards)
                .await
                .map_err(|error| (error.is("ResourceInUseException"), anyhow!(error))),
        };
        match outcome {
            // Someone else created it meanwhile: wait for it like for ours.
            Ok(()) | Err((true, _)) => Ok(()),
            Err((false, error)) => Err(error),
        }
    }

    /// The stream's shard ids, every shard or only the open ones.
    pub async fn shards(&self, stream: &StreamName, open_only: bool) -> anyhow::Result<Vec<String>> {
        match self {
            Driver::Grpc(client) => Ok(client
                .list_shards(stream)
                .await?
                .into_iter()
                .filter(|shard| !open_only || !shard.is_closed())
                .map(|shard| shard.shard_id.to_string())
                .collect()),
            Driver::Kinesis(http) => Ok(http
                .list_shards(stream.as_str())
                .await?
                .into_iter()
                .filter(|shard| !open_only || !shard.closed)
                .map(|shard| shard.shard_id)
                .collect()),
        }
    }

    /// Stores the records with one PutRecords; returns how many of them failed.
    pub async fn put_records(&self, stream: &StreamName, records: &[Record]) -> anyhow::Result<u64> {
        match self {
            Driver::Grpc(client) => {
                let outcomes = client.put_records(stream, records).await?;
                Ok(outcomes.iter().filter(|outcome| outcome.is_err()).count() as u64)
            }
            Driver::Kinesis(http) => Ok(http.put_records(stream.as_str(), records).await?),
        }
    }

    /// Stores one record with PutRecord.
    pub async fn put_record(&self, stream: &StreamName, record: &Record) -> anyhow::Result<()> {
        match self {
            Driver::Grpc(client) => client
                .put_record(stream, record)
                .await
                .map(drop)
                .map_err(Into::into),
            Driver::Kinesis(http) => http.put_record(stream.as_str(), record).await.map_err(Into::into),
        }
    }

    /// An iterator over `shard` from `start`.
    pub async fn iterator(&self, stream: &StreamName, shard: &str, start: Start) -> anyhow::Result<String> {
        match self {
            Driver::Grpc(client) => {
                let shard = parse_shard(shard)?;
                let start = match start {
                    Start::TrimHorizon => IteratorType::TrimHorizon,
                    Start::Latest => IteratorType::Latest,
                };
                Ok(client.get_shard_iterator(stream, shard, &start).await?)
            }
            Driver::Kinesis(http) => {
                let kind = match start {
                    Start::TrimHorizon => "TRIM_HORIZON",
                    Start::Latest => "LATEST",
                };
                Ok(http.shard_iterator(stream.as_str(), shard, kind).await?)
            }
        }
    }

    /// Reads the page at `iterator`, at most `limit` records.
    pub async fn get_records(&self, iterator: &str, limit: u32) -> anyhow::Result<Page> {
        match self {
            Driver::Grpc(client) => {
                let output = client.get_records(iterator, Some(limit)).await?;
                Ok(Page {
                    data: output.records.into_iter().map(|record| record.data).collect(),
                    next: output.next_shard_iterator,
                    behind_ms: output.millis_behind_latest,
                })
            }
            Driver::Kinesis(http) => Ok(http.get_records(iterator, limit).await?),
        }
    }
}

/// Parses a shard id as ListShards gave it.
pub fn parse_shard(shard: &str) -> anyhow::Result<ShardId> {
    ShardId::parse_loose(shard)
        .ok_or_else(|| ClientError::protocol(format!("{shard} is not a shard id")))
        .context("reading the stream's shards")
}
