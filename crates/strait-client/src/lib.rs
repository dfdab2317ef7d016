//! A Rust client for Strait's gRPC API.
//!
//! # Layout
//!
//! - [`client`] holds [`StraitClient`], one typed method per RPC of the StreamService, and
//!   the call loop every method goes through: fail over between endpoints on transport
//!   errors, timeouts and UNAVAILABLE, back off between rounds, give up at a deadline. The
//!   client learns the cluster's members from the first node that answers, so it outlives
//!   the node it was pointed at.
//! - [`endpoints`] is the set of nodes a client talks to, one lazily connected channel each,
//!   and which of them calls try first.
//! - `leaders` maps each shard of a stream to the node leading it, so that puts go
//!   straight to the leader instead of through a node that forwards them.
//! - [`producer`] holds [`Producer`], which stores a stream of records in concurrent,
//!   size-bounded PutRecords batches, retries the records that fail, and reports every
//!   record's outcome.
//! - [`consumer`] holds [`Consumer`], which reads every shard of a stream and follows the
//!   shard lineage of splits and merges, reading parents before children so that each
//!   partition key's records arrive in order.
//! - [`types`] holds the typed answers ([`StreamDescription`], [`GetRecordsOutput`], ...)
//!   and every conversion from the wire types.
//! - [`error`] holds [`ClientError`], which keeps the Kinesis error name a node reported.
//! - `retry` is the jittered exponential backoff the retry loops share.
//!
//! A new RPC gets a method in `client.rs` and, if its answer needs parsing, a type and a
//! conversion in `types.rs`. Helpers built on several RPCs get a module of their own.
//!
//! ```no_run
//! # async fn example() -> Result<(), strait_client::ClientError> {
//! use strait_client::StraitClient;
//! use strait_core::{PartitionKey, StreamName};
//!
//! let client = StraitClient::connect(["http://127.0.0.1:7001"])?;
//! let stream = StreamName::new("orders")?;
//! let stored = client
//!     .put(&stream, PartitionKey::new("customer-7")?, "hello")
//!     .await?;
//! println!("{} {}", stored.shard_id, stored.sequence_number);
//! # Ok(())
//! # }
//! ```

pub mod client;
pub mod consumer;
pub mod endpoints;
pub mod error;
mod leaders;
pub mod producer;
mod retry;
pub mod types;

pub use client::{
    ClientBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REQUEST_TIMEOUT, DEFAULT_RETRY_DEADLINE, StraitClient,
    SubscribeStream,
};
pub use consumer::{ConsumedRecord, Consumer, ConsumerConfig};
pub use error::ClientError;
pub use producer::{Producer, ProducerConfig};
pub use types::{
    ChildShard, GetRecordsOutput, PutResult, RecordFailure, RecordOutcome, ShardDescription,
    StreamDescription, SubscribeEvent,
};

/// The generated wire types of the public API, for answers the client passes through as
/// they are (ClusterStatus).
pub use strait_proto::v1 as proto;
