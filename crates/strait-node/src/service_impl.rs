//! [`StreamOperations`] for the node: the one implementation both front doors call.

use std::collections::BTreeMap;
use std::time::Duration;

use strait_core::service::{
    AccountSettings, Consumer, CreateStreamRequest, GetRecordsResponse, MergeShardsRequest, PolicyTarget,
    PutRecordResult, SplitShardRequest, StreamDescription, StreamExtras, UpdateRetentionRequest,
    UpdateShardCountRequest, UpdateShardCountResponse, UpdateStreamModeRequest,
};
use strait_core::{IteratorType, Namespace, Record, ShardId, StraitResult, StreamName, StreamOperations};

use crate::operations::Operations;

impl StreamOperations for Operations {
    async fn create_stream(&self, request: CreateStreamRequest) -> StraitResult<StreamDescription> {
        Operations::create_stream(self, request).await
    }

    async fn delete_stream(&self, namespace: &Namespace, stream: &StreamName) -> StraitResult<()> {
        Operations::delete_stream(self, namespace, stream).await
    }

    async fn describe_stream(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<StreamDescription> {
        Operations::describe_stream(self, namespace, stream).await
    }

    async fn list_streams(
        &self,
        namespace: &Namespace,
        exclusive_start: Option<&str>,
        limit: usize,
    ) -> StraitResult<(Vec<StreamName>, bool)> {
        Ok(Operations::list_streams(self, namespace, exclusive_start, limit))
    }

    async fn put_records(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        records: Vec<Record>,
        producer: Option<(u64, u64)>,
    ) -> StraitResult<Vec<PutRecordResult>> {
        Operations::put_records(self, namespace, stream, records, producer).await
    }

    async fn get_shard_iterator(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        shard: ShardId,
        iterator_type: IteratorType,
    ) -> StraitResult<String> {
        Operations::get_shard_iterator(self, namespace, stream, shard, iterator_type).await
    }

    async fn get_records(&self, iterator: &str, limit: u32) -> StraitResult<GetRecordsResponse> {
        Operations::get_records(self, iterator, limit).await
    }

    async fn read_for_subscription(&self, iterator: &str, limit: u32) -> StraitResult<GetRecordsResponse> {
        Operations::read_for_subscription(self, iterator, limit).await
    }

    async fn wait_for_records(&self, iterator: &str, max_wait: Duration) {
        Operations::wait_for_records(self, iterator, max_wait).await
    }

    async fn split_shard(&self, request: SplitShardRequest) -> StraitResult<()> {
        Operations::split_shard(self, request).await
    }

    async fn merge_shards(&self, request: MergeShardsRequest) -> StraitResult<()> {
        Operations::merge_shards(self, request).await
    }

    async fn update_shard_count(
        &self,
        request: UpdateShardCountRequest,
    ) -> StraitResult<UpdateShardCountResponse> {
        Operations::update_shard_count(self, request).await
    }

    async fn update_retention(&self, request: UpdateRetentionRequest) -> StraitResult<()> {
        Operations::update_retention(self, request).await
    }

    fn now_ms(&self) -> u64 {
        self.clock().now_ms()
    }

    async fn add_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        tags: BTreeMap<String, String>,
    ) -> StraitResult<()> {
        Operations::add_tags(self, namespace, stream, tags).await
    }

    async fn remove_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        keys: Vec<String>,
    ) -> StraitResult<()> {
        Operations::remove_tags(self, namespace, stream, keys).await
    }

    async fn list_tags(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<BTreeMap<String, String>> {
        Operations::list_tags(self, namespace, stream).await
    }

    async fn register_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> StraitResult<Consumer> {
        Operations::register_consumer(self, namespace, stream, name).await
    }

    async fn deregister_consumer(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        name: &str,
    ) -> StraitResult<()> {
        Operations::deregister_consumer(self, namespace, stream, name).await
    }

    async fn list_consumers(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
    ) -> StraitResult<Vec<Consumer>> {
        Operations::list_consumers(self, namespace, stream).await
    }

    async fn stream_extras(&self, namespace: &Namespace, stream: &StreamName) -> StraitResult<StreamExtras> {
        Operations::stream_extras(self, namespace, stream).await
    }

    async fn set_encryption(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        key_id: Option<String>,
    ) -> StraitResult<()> {
        Operations::set_encryption(self, namespace, stream, key_id).await
    }

    async fn set_shard_level_metrics(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        metrics: Vec<String>,
    ) -> StraitResult<()> {
        Operations::set_shard_level_metrics(self, namespace, stream, metrics).await
    }

    async fn update_stream_mode(&self, request: UpdateStreamModeRequest) -> StraitResult<()> {
        Operations::update_stream_mode(self, request).await
    }

    async fn set_max_record_size(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        kib: u32,
    ) -> StraitResult<()> {
        Operations::set_max_record_size(self, namespace, stream, kib).await
    }

    async fn set_warm_throughput(
        &self,
        namespace: &Namespace,
        stream: &StreamName,
        mibps: u32,
    ) -> StraitResult<()> {
        Operations::set_warm_throughput(self, namespace, stream, mibps).await
    }

    async fn set_resource_policy(&self, target: PolicyTarget, policy: Option<String>) -> StraitResult<()> {
        Operations::set_resource_policy(self, target, policy).await
    }

    async fn resource_policy(&self, target: PolicyTarget) -> StraitResult<Option<String>> {
        Operations::resource_policy(self, target).await
    }

    async fn account_settings(&self, namespace: &Namespace) -> StraitResult<AccountSettings> {
        Ok(Operations::account_settings(self, namespace))
    }

    async fn set_billing_commitment(
        &self,
        namespace: &Namespace,
        enabled: bool,
    ) -> StraitResult<AccountSettings> {
        Operations::set_billing_commitment(self, namespace, enabled).await
    }
}
