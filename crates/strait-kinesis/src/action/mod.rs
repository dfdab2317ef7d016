//! The Kinesis operations, one module each, behind one dispatch table.
//!
//! A request names its operation only in the `X-Amz-Target` header
//! (`Kinesis_20131202.PutRecords`). [`Operation::from_target`] resolves it before the body is
//! read, so an unknown operation is refused at once, and [`dispatch`] hands the decoded
//! [`Input`] to the operation's module. Each module reads and validates its members (reporting
//! every model violation in one ValidationException, as AWS does), calls the
//! [`StreamOperations`] trait, and renders the result as a [`Value`]. Helpers shared by several
//! operations (resolving StreamName/StreamARN, limits, rendering shards) live in [`common`];
//! those of one family in its own module ([`tags`], [`consumers`], [`resources`], [`account`],
//! [`encryption`], [`monitoring`]).
//!
//! A new operation is a new module here, a variant of [`Operation`] and one arm in
//! [`dispatch`].

pub mod account;
pub mod common;
pub mod consumers;
pub mod encryption;
pub mod monitoring;
pub mod resources;
pub mod tags;

pub mod add_tags_to_stream;
pub mod create_stream;
pub mod decrease_stream_retention_period;
pub mod delete_resource_policy;
pub mod delete_stream;
pub mod deregister_stream_consumer;
pub mod describe_account_settings;
pub mod describe_limits;
pub mod describe_stream;
pub mod describe_stream_consumer;
pub mod describe_stream_summary;
pub mod disable_enhanced_monitoring;
pub mod enable_enhanced_monitoring;
pub mod get_records;
pub mod get_resource_policy;
pub mod get_shard_iterator;
pub mod increase_stream_retention_period;
pub mod list_shards;
pub mod list_stream_consumers;
pub mod list_streams;
pub mod list_tags_for_resource;
pub mod list_tags_for_stream;
pub mod merge_shards;
pub mod put_record;
pub mod put_records;
pub mod put_resource_policy;
pub mod register_stream_consumer;
pub mod remove_tags_from_stream;
pub mod split_shard;
pub mod start_stream_encryption;
pub mod stop_stream_encryption;
pub mod subscribe_to_shard;
pub mod tag_resource;
pub mod untag_resource;
pub mod update_account_settings;
pub mod update_max_record_size;
pub mod update_shard_count;
pub mod update_stream_mode;
pub mod update_stream_warm_throughput;

use std::sync::Arc;

use axum::body::Body;
use strait_core::{Namespace, StreamOperations};

use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The prefix of every `X-Amz-Target` value.
pub const TARGET_PREFIX: &str = "Kinesis_20131202.";

/// What a request is served with: the caller's namespace and the node's operations.
pub struct Context<'a, O> {
    /// The node's stream operations (shared, so a subscription can outlive the request).
    pub operations: &'a Arc<O>,
    /// The account and region the request speaks for.
    pub namespace: Namespace,
    /// Turns true when the server shuts down; long-lived subscriptions end then.
    pub draining: tokio::sync::watch::Receiver<bool>,
    /// The SubscribeToShard subscriptions this node serves (for the five-second rule).
    pub subscriptions: &'a Arc<crate::subscriptions::Subscriptions>,
}

/// What an operation answers with.
#[derive(Debug)]
pub enum Reply {
    /// 200 with an empty body (operations without output members).
    Empty,
    /// 200 with a document.
    Document(Value),
    /// 200 with an AWS event stream (SubscribeToShard).
    EventStream(Body),
}

macro_rules! operations {
    ($($name:ident => $module:ident),* $(,)?) => {
        /// The operations Strait serves, named as in `X-Amz-Target`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Operation {
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                $name,
            )*
        }

        impl Operation {
            /// Every operation, in the order of the dispatch table.
            pub const ALL: &'static [Operation] = &[$(Operation::$name),*];

            /// The operation's name, as in `X-Amz-Target` after the prefix.
            pub fn name(self) -> &'static str {
                match self {
                    $(Operation::$name => stringify!($name),)*
                }
            }
        }

        /// Runs `operation` with its decoded input.
        pub async fn dispatch<O: StreamOperations>(
            operation: Operation,
            context: &Context<'_, O>,
            input: &Input,
        ) -> Result<Reply, ApiError> {
            match operation {
                $(Operation::$name => $module::handle(context, input).await,)*
            }
        }
    };
}

operations! {
    CreateStream => create_stream,
    DeleteStream => delete_stream,
    DescribeStream => describe_stream,
    DescribeStreamSummary => describe_stream_summary,
    ListStreams => list_streams,
    ListShards => list_shards,
    PutRecord => put_record,
    PutRecords => put_records,
    GetShardIterator => get_shard_iterator,
    GetRecords => get_records,
    SplitShard => split_shard,
    MergeShards => merge_shards,
    UpdateShardCount => update_shard_count,
    IncreaseStreamRetentionPeriod => increase_stream_retention_period,
    DecreaseStreamRetentionPeriod => decrease_stream_retention_period,
    DescribeLimits => describe_limits,
    AddTagsToStream => add_tags_to_stream,
    RemoveTagsFromStream => remove_tags_from_stream,
    ListTagsForStream => list_tags_for_stream,
    TagResource => tag_resource,
    UntagResource => untag_resource,
    ListTagsForResource => list_tags_for_resource,
    RegisterStreamConsumer => register_stream_consumer,
    DescribeStreamConsumer => describe_stream_consumer,
    ListStreamConsumers => list_stream_consumers,
    DeregisterStreamConsumer => deregister_stream_consumer,
    SubscribeToShard => subscribe_to_shard,
    StartStreamEncryption => start_stream_encryption,
    StopStreamEncryption => stop_stream_encryption,
    EnableEnhancedMonitoring => enable_enhanced_monitoring,
    DisableEnhancedMonitoring => disable_enhanced_monitoring,
    UpdateStreamMode => update_stream_mode,
    PutResourcePolicy => put_resource_policy,
    GetResourcePolicy => get_resource_policy,
    DeleteResourcePolicy => delete_resource_policy,
    DescribeAccountSettings => describe_account_settings,
    UpdateAccountSettings => update_account_settings,
    UpdateMaxRecordSize => update_max_record_size,
    UpdateStreamWarmThroughput => update_stream_warm_throughput,
}

impl Operation {
    /// Resolves an `X-Amz-Target` header value; an unknown prefix or name (the match is
    /// case-sensitive, as AWS's is) is an UnknownOperationException.
    pub fn from_target(target: Option<&str>) -> Result<Operation, ApiError> {
        let name = target
            .and_then(|t| t.strip_prefix(TARGET_PREFIX))
            .ok_or(ApiError::UnknownOperation)?;
        Operation::ALL
            .iter()
            .copied()
            .find(|operation| operation.name() == name)
            .ok_or(ApiError::UnknownOperation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_exactly() {
        assert_eq!(
            Operation::from_target(Some("Kinesis_20131202.PutRecords")),
            Ok(Operation::PutRecords)
        );
        for bad in [
            None,
            Some("PutRecords"),
            Some("Kinesis_20131202.putRecords"),
            Some("Kinesis_20131203.PutRecords"),
            Some("Kinesis_20131202.CreateChannel"),
        ] {
            assert_eq!(
                Operation::from_target(bad),
                Err(ApiError::UnknownOperation),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn every_operation_of_the_target_model_is_served() {
        // botocore 1.43.11's Kinesis model has 39 operations; Strait serves each of them.
        assert_eq!(Operation::ALL.len(), 39);
    }

    #[test]
    fn every_operation_round_trips_through_its_target() {
        for operation in Operation::ALL {
            let target = format!("{TARGET_PREFIX}{}", operation.name());
            assert_eq!(Operation::from_target(Some(&target)), Ok(*operation));
        }
    }
}
