//! The operations a node offers, as one trait both front doors call.
//!
//! The gRPC service and the Kinesis HTTP API each translate their wire messages into the
//! request types of [`crate::service`], call a [`StreamOperations`] implementation, and
//! translate the result back. The node implements the trait once; the front doors know
//! nothing of Raft, storage or routing, and this crate stays free of any runtime (the
//! futures are plain `impl Future`).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use crate::error::StraitResult;
use crate::iterator::IteratorType;
use crate::record::Record;
use crate::service::{
    AccountSettings, Consumer, CreateStreamRequest, GetRecordsResponse, MergeShardsRequest, PolicyTarget,
    PutRecordResult, SplitShardRequest, StreamDescription, StreamExtras, UpdateRetentionRequest,
    UpdateShardCountRequest, UpdateShardCountResponse, UpdateStreamModeRequest,
};
use crate::shard::ShardId;
use crate::stream::{Namespace, StreamName};

/// Everything a front door may ask of a node.
pub trait StreamOperations: Send + Sync + 'static {
    /// Creates a stream with evenly divided shards; returns it (status CREATING or ACTIVE).
    fn create_stream(
        &self,
        request: CreateStreamRequest,
    ) -> impl Future<Output = StraitResult<StreamDescription>> + Send;

    /// Deletes a stream and all its records.
    fn delete_stream(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// The stream with every shard it has (open and closed, not yet expired).
    fn describe_stream(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> impl Future<Output = StraitResult<StreamDescription>> + Send;

    /// Stream names of a namespace strictly after `exclusive_start`, at most `limit`, and
    /// whether more follow.
    fn list_streams(
        &self,
        namespace: &Namespace,
        exclusive_start: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = StraitResult<(Vec<StreamName>, bool)>> + Send;

    /// Puts records; one result per record, in order. `producer` (a producer id and a
    /// sequence) makes retries of the same request idempotent.
    fn put_records(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        records: Vec<Record>,
        producer: Option<(u64, u64)>,
    ) -> impl Future<Output = StraitResult<Vec<PutRecordResult>>> + Send;

    /// A shard iterator: an opaque, signed token that expires after five minutes.
    fn get_shard_iterator(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        shard: ShardId,
        iterator_type: IteratorType,
    ) -> impl Future<Output = StraitResult<String>> + Send;

    /// Records at an iterator, the next iterator, and the lag behind the shard's tip.
    fn get_records(
        &self,
        iterator: &str,
        limit: u32,
    ) -> impl Future<Output = StraitResult<GetRecordsResponse>> + Send;

    /// As [`get_records`](Self::get_records), for a push subscription: enhanced fan-out
    /// consumers have their own read budget, so the per-shard read limits do not apply.
    fn read_for_subscription(
        &self,
        iterator: &str,
        limit: u32,
    ) -> impl Future<Output = StraitResult<GetRecordsResponse>> + Send;

    /// Waits until the shard an iterator reads may have new records, at most `max_wait`
    /// (for push subscriptions).
    fn wait_for_records(&self, iterator: &str, max_wait: Duration) -> impl Future<Output = ()> + Send;

    /// Splits an open shard at a hash key.
    fn split_shard(&self, request: SplitShardRequest) -> impl Future<Output = StraitResult<()>> + Send;

    /// Merges two adjacent open shards.
    fn merge_shards(&self, request: MergeShardsRequest) -> impl Future<Output = StraitResult<()>> + Send;

    /// Reshards to a number of evenly sized open shards.
    fn update_shard_count(
        &self,
        request: UpdateShardCountRequest,
    ) -> impl Future<Output = StraitResult<UpdateShardCountResponse>> + Send;

    /// Increases or decreases a stream's retention period.
    fn update_retention(
        &self,
        request: UpdateRetentionRequest,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// The node's clock, in milliseconds since the Unix epoch (arrival times, iterator
    /// ages and timestamps in requests are compared with it).
    fn now_ms(&self) -> u64;

    /// Adds tags to a stream, overwriting existing keys (at most 50 tags in all).
    fn add_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        tags: BTreeMap<String, String>,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Removes tags from a stream; unknown keys are ignored.
    fn remove_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        keys: Vec<String>,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// A stream's tags, in key order.
    fn list_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> impl Future<Output = StraitResult<BTreeMap<String, String>>> + Send;

    /// Registers an enhanced fan-out consumer on a stream.
    fn register_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> impl Future<Output = StraitResult<Consumer>> + Send;

    /// Deregisters a consumer.
    fn deregister_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// A stream's consumers, in name order.
    fn list_consumers(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> impl Future<Output = StraitResult<Vec<Consumer>>> + Send;

    /// A stream's encryption and enhanced-monitoring settings.
    fn stream_extras(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> impl Future<Output = StraitResult<StreamExtras>> + Send;

    /// Turns a stream's (metadata-only) encryption on with a key id, or off with `None`.
    fn set_encryption(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        key_id: Option<String>,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Replaces a stream's enabled enhanced shard-level metrics.
    fn set_shard_level_metrics(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        metrics: Vec<String>,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Switches a stream between provisioned and on-demand capacity.
    fn update_stream_mode(
        &self,
        request: UpdateStreamModeRequest,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Sets a stream's record size limit, in KiB (1024 to 10240).
    fn set_max_record_size(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        kib: u32,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Sets an on-demand stream's warm throughput, in MiB/s; the account's minimum
    /// throughput billing commitment must be in force.
    fn set_warm_throughput(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        mibps: u32,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// Attaches a resource policy document (kept verbatim) to a stream or consumer, or
    /// removes it with `None`.
    fn set_resource_policy(
        &self,
        target: PolicyTarget,
        policy: Option<String>,
    ) -> impl Future<Output = StraitResult<()>> + Send;

    /// The resource policy attached to a stream or consumer, if any.
    fn resource_policy(
        &self,
        target: PolicyTarget,
    ) -> impl Future<Output = StraitResult<Option<String>>> + Send;

    /// An account's settings in the namespace's region.
    fn account_settings(
        &self,
        namespace: &Namespace,
    ) -> impl Future<Output = StraitResult<AccountSettings>> + Send;

    /// Enables or disables the account's minimum throughput billing commitment; returns
    /// the settings as they now are.
    fn set_billing_commitment(
        &self,
        namespace: &Namespace,
        enabled: bool,
    ) -> impl Future<Output = StraitResult<AccountSettings>> + Send;
}
