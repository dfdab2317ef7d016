//! Strait's domain: the nouns of a Kinesis-like stream cluster and the rules that govern them.
//!
//! Every other Strait crate speaks in these types. The crate does no I/O, starts no threads
//! and knows nothing of async runtimes, Raft, sled, HTTP or gRPC, so the rules here can be
//! tested exhaustively and reused unchanged by the storage engine, the Raft state machines,
//! both front doors (the Kinesis HTTP API and gRPC), the client and the simulation.
//!
//! # Layout
//!
//! - [`stream`] names a stream and the namespace it lives in: [`StreamName`], [`AccountId`],
//!   [`Region`], [`Namespace`], [`StreamArn`], the stream's [`StreamStatus`] and
//!   [`StreamMode`], and the [`StreamIncarnation`] that tells a re-created stream apart from
//!   the one deleted before it.
//! - [`partition_key`] and [`hash_key`] turn a record's partition key into the 128-bit
//!   [`HashKey`] that routes it, exactly as Kinesis does (MD5, read big-endian).
//! - [`hash_range`] is the arithmetic of inclusive [`HashKeyRange`]s: the even split that
//!   CreateStream uses, SplitShard's validity rule, MergeShards' adjacency rule, and the
//!   coverage check behind the invariant that open shards tile the key space exactly once.
//! - [`shard`] is the [`ShardId`] and its loose parsing rules.
//! - [`sequence`] encodes a record's committed Raft position as a 56-digit Kinesis
//!   [`SequenceNumber`] and decodes it back.
//! - [`record`] holds the [`Record`] a producer sends, the [`StoredRecord`] a consumer reads,
//!   and the size limits that apply to them.
//! - [`iterator`] holds the [`IteratorType`] of GetShardIterator and the signed, expiring
//!   [`ShardIteratorToken`] that GetRecords accepts from any node.
//! - [`error`] is the one error taxonomy, [`StraitError`], that both front doors translate
//!   from, with every Kinesis message template in one place.
//! - [`time`] renders millisecond timestamps as calendar text for the few messages that
//!   quote a date.
//! - [`service`] holds the plain request and response types of the stream operations, shared
//!   by the node that implements them and the front doors that call them.
//! - [`operations`] is the [`StreamOperations`] trait itself: what a front door may ask of
//!   a node (its futures are plain `impl Future`, so no runtime is involved).
//!
//! New domain rules belong in the module of the noun they are about; a new noun gets its own
//! module. Anything that needs I/O or a runtime belongs in another crate.

pub mod error;
pub mod hash_key;
pub mod hash_range;
pub mod iterator;
pub mod operations;
pub mod partition_key;
pub mod record;
pub mod sequence;
pub mod service;
pub mod shard;
pub mod stream;
pub mod time;

pub use error::{StraitError, StraitResult, Violation};
pub use hash_key::{HashKey, HashKeyParseError};
pub use hash_range::{CoverageError, HashKeyRange, SplitError, check_coverage};
pub use iterator::{
    ITERATOR_TTL_MS, IteratorError, IteratorKind, IteratorType, MAX_ITERATOR_LEN, ShardIteratorToken,
};
pub use operations::StreamOperations;
pub use partition_key::PartitionKey;
pub use record::{
    MAX_PUT_RECORDS_BYTES, MAX_PUT_RECORDS_BYTES_LARGE, MAX_PUT_RECORDS_ENTRIES, MAX_RECORD_BYTES,
    MODEL_MAX_DATA_BYTES, Record, StoredRecord, check_put_records,
};
pub use sequence::{RecordPosition, SequenceNumber, SequenceNumberError};
pub use shard::ShardId;
pub use stream::{
    AccountId, IncarnationOutOfRange, Namespace, Region, StreamArn, StreamIncarnation, StreamMode,
    StreamName, StreamStatus,
};
