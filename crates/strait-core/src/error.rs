//! The one error taxonomy that both of Strait's front doors translate from.
//!
//! Strait answers the same operations over the Kinesis HTTP API and over gRPC. If each front
//! door invented its own errors, the same failure would read differently depending on how it
//! was asked, and every new error would have to be added twice. Instead every domain function
//! returns a [`StraitError`], and each front door maps it to its wire form in one place: the
//! Kinesis front door to a `__type` and an HTTP status with [`StraitError::kinesis_type`] and
//! [`StraitError::http_status`], the gRPC front door to a status code.
//!
//! The variants follow Kinesis's exception names, because Kinesis clients branch on exactly
//! those names: botocore retries `ProvisionedThroughputExceededException` and
//! `LimitExceededException` as throttles, the KCL re-creates an iterator on
//! `ExpiredIteratorException`, and waiters stop on `ResourceNotFoundException`. Two variants
//! have no Kinesis twin and map to `InternalFailure`: [`StraitError::Unavailable`] for
//! transient conditions a retry can cure (no leader yet, a node shutting down, a full disk, a
//! timeout) and [`StraitError::Internal`] for bugs and corruption, which a retry cannot cure.
//!
//! The message text is part of the contract as well. Client libraries and test suites written
//! against AWS match on it, so every template Strait uses lives in a constructor here and the
//! same words come out whichever node or front door produces the error.
//!
//! # Validation errors
//!
//! Kinesis checks each request against its model before running the operation and reports
//! every constraint violation it finds, up to ten, in a single `ValidationException`:
//!
//! ```text
//! 2 validation errors detected: Value '' at 'streamName' failed to satisfy constraint: Member
//! must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; Value '' at 'streamName' failed to
//! satisfy constraint: Member must have length greater than or equal to 1
//! ```
//!
//! A [`Violation`] is one such entry; [`StraitError::validation`] joins them into the message.
//! The domain types offer `violations(value, field)` functions (for example
//! [`StreamName::violations`](crate::StreamName::violations)) so that a front door can collect
//! the entries of a whole request under the member paths it knows, such as
//! `records.3.member.partitionKey`, before reporting them together.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::hash_key::HashKey;
use crate::hash_range::HashKeyRange;
use crate::shard::ShardId;
use crate::stream::{AccountId, Region, StreamName, StreamStatus};
use crate::time::java_date_string;

/// A result whose error is a [`StraitError`].
pub type StraitResult<T> = Result<T, StraitError>;

/// An error any Strait operation can report, named after the Kinesis exception it becomes.
///
/// Every variant carries the full human-readable message, which is also its `Display` form.
/// Client errors (everything except [`Unavailable`](Self::Unavailable) and
/// [`Internal`](Self::Internal)) are deterministic answers to the request: a Raft state machine
/// may commit them as results, and replaying the same request yields the same error.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error, Serialize, Deserialize)]
pub enum StraitError {
    /// The named stream, shard or consumer does not exist (or is not visible yet, as a stream
    /// in CREATING is not for data operations).
    #[error("{message}")]
    ResourceNotFound {
        /// The full message, e.g. "Stream orders under account 000000000000 not found."
        message: String,
    },
    /// The resource exists but its state forbids the operation: the name is taken, or the
    /// stream is not ACTIVE.
    #[error("{message}")]
    ResourceInUse {
        /// The full message.
        message: String,
    },
    /// An argument is well-formed but semantically wrong for this request, e.g. a split key
    /// outside the shard or a sequence number from another shard.
    #[error("{message}")]
    InvalidArgument {
        /// The full message.
        message: String,
    },
    /// The request breaks a constraint of the API model (a length, a pattern, an enum, a
    /// bound). The message is the complete "N validation error(s) detected: ..." text; build
    /// it with [`StraitError::validation`].
    #[error("{message}")]
    Validation {
        /// The full message, including the "N validation errors detected: " prefix.
        message: String,
    },
    /// A quota or a control-plane rate limit was hit.
    #[error("{message}")]
    LimitExceeded {
        /// The full message.
        message: String,
    },
    /// A shard's read or write throughput limit was hit.
    #[error("{message}")]
    ProvisionedThroughputExceeded {
        /// The full message, e.g. "Rate exceeded for shard shardId-000000000001 in stream ..."
        message: String,
    },
    /// A shard iterator is older than its five-minute lifetime.
    #[error("{message}")]
    ExpiredIterator {
        /// The full message, quoting both the issue time and the current time.
        message: String,
    },
    /// A pagination token is older than its lifetime.
    #[error("{message}")]
    ExpiredNextToken {
        /// The full message.
        message: String,
    },
    /// The operation could not be completed right now, but may succeed if retried: no shard
    /// leader has been elected yet, the node is shutting down, a disk is full, or a deadline
    /// passed. The outcome of a write that failed this way is unknown, not absent.
    #[error("{message}")]
    Unavailable {
        /// The full message, for operators; clients only learn that they may retry.
        message: String,
    },
    /// A bug or corruption was detected. Retrying will not help.
    #[error("{message}")]
    Internal {
        /// The full message, for operators.
        message: String,
    },
}

impl StraitError {
    /// The most entries one ValidationException reports; AWS stops counting at ten.
    pub const MAX_VIOLATIONS: usize = 10;

    /// Returns the Kinesis error name (`__type`) this error is reported as.
    ///
    /// Unavailable and Internal both become `InternalFailure`, the name Kinesis uses for
    /// server faults and the only failure code besides throttling that PutRecords may put in
    /// a per-record result.
    pub fn kinesis_type(&self) -> &'static str {
        match self {
            StraitError::ResourceNotFound { .. } => "ResourceNotFoundException",
            StraitError::ResourceInUse { .. } => "ResourceInUseException",
            StraitError::InvalidArgument { .. } => "InvalidArgumentException",
            StraitError::Validation { .. } => "ValidationException",
            StraitError::LimitExceeded { .. } => "LimitExceededException",
            StraitError::ProvisionedThroughputExceeded { .. } => "ProvisionedThroughputExceededException",
            StraitError::ExpiredIterator { .. } => "ExpiredIteratorException",
            StraitError::ExpiredNextToken { .. } => "ExpiredNextTokenException",
            StraitError::Unavailable { .. } | StraitError::Internal { .. } => "InternalFailure",
        }
    }

    /// Returns the `ErrorCode` this error takes inside a PutRecords per-record result.
    ///
    /// The Kinesis model allows only two codes there, so every failure that is not a
    /// throttle is reported as `InternalFailure`.
    pub fn kinesis_record_error_code(&self) -> &'static str {
        match self {
            StraitError::ProvisionedThroughputExceeded { .. } => "ProvisionedThroughputExceededException",
            _ => "InternalFailure",
        }
    }

    /// Returns the HTTP status the Kinesis front door answers with: 400 for client errors,
    /// 500 for internal faults and 503 for transient unavailability.
    pub fn http_status(&self) -> u16 {
        match self {
            StraitError::Internal { .. } => 500,
            StraitError::Unavailable { .. } => 503,
            _ => 400,
        }
    }

    /// Tells whether the same request may succeed if sent again after a pause.
    ///
    /// True for unavailability and for the two throttling errors, which the AWS SDKs also
    /// retry with backoff. A retried write may be applied twice if the first attempt's
    /// outcome was unknown.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StraitError::Unavailable { .. }
                | StraitError::ProvisionedThroughputExceeded { .. }
                | StraitError::LimitExceeded { .. }
        )
    }

    /// Tells whether the error is a deterministic answer to the request rather than a
    /// condition of the node that produced it. Only deterministic errors may be committed as
    /// the result of a replicated command.
    pub fn is_deterministic(&self) -> bool {
        !matches!(
            self,
            StraitError::Unavailable { .. } | StraitError::Internal { .. }
        )
    }

    /// Returns the error's message, without the error name.
    pub fn message(&self) -> &str {
        match self {
            StraitError::ResourceNotFound { message }
            | StraitError::ResourceInUse { message }
            | StraitError::InvalidArgument { message }
            | StraitError::Validation { message }
            | StraitError::LimitExceeded { message }
            | StraitError::ProvisionedThroughputExceeded { message }
            | StraitError::ExpiredIterator { message }
            | StraitError::ExpiredNextToken { message }
            | StraitError::Unavailable { message }
            | StraitError::Internal { message } => message,
        }
    }

    // ---------------------------------------------------------------------------------------
    // Constructors by kind, for messages that have no fixed template.
    // ---------------------------------------------------------------------------------------

    /// Builds a [`ResourceNotFound`](Self::ResourceNotFound) error with the given message.
    pub fn resource_not_found(message: impl Into<String>) -> Self {
        StraitError::ResourceNotFound {
            message: message.into(),
        }
    }

    /// Builds a [`ResourceInUse`](Self::ResourceInUse) error with the given message.
    pub fn resource_in_use(message: impl Into<String>) -> Self {
        StraitError::ResourceInUse {
            message: message.into(),
        }
    }

    /// Builds an [`InvalidArgument`](Self::InvalidArgument) error with the given message.
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        StraitError::InvalidArgument {
            message: message.into(),
        }
    }

    /// Builds a [`LimitExceeded`](Self::LimitExceeded) error with the given message.
    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        StraitError::LimitExceeded {
            message: message.into(),
        }
    }

    /// Builds a [`ProvisionedThroughputExceeded`](Self::ProvisionedThroughputExceeded) error
    /// with the given message.
    pub fn provisioned_throughput_exceeded(message: impl Into<String>) -> Self {
        StraitError::ProvisionedThroughputExceeded {
            message: message.into(),
        }
    }

    /// Builds an [`Unavailable`](Self::Unavailable) error with the given message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        StraitError::Unavailable {
            message: message.into(),
        }
    }

    /// Builds an [`Internal`](Self::Internal) error with the given message.
    pub fn internal(message: impl Into<String>) -> Self {
        StraitError::Internal {
            message: message.into(),
        }
    }

    /// Builds a ValidationException from the violations found in one request.
    ///
    /// The message counts the violations ("1 validation error detected", "3 validation errors
    /// detected") and lists them joined by "; ". As AWS does, at most
    /// [`MAX_VIOLATIONS`](Self::MAX_VIOLATIONS) entries are reported and counted; the rest
    /// are dropped.
    pub fn validation(violations: Vec<Violation>) -> Self {
        let shown = &violations[..violations.len().min(Self::MAX_VIOLATIONS)];
        let noun = if shown.len() == 1 { "error" } else { "errors" };
        let entries = shown
            .iter()
            .map(Violation::to_string)
            .collect::<Vec<_>>()
            .join("; ");
        StraitError::Validation {
            message: format!("{} validation {noun} detected: {entries}", shown.len()),
        }
    }

    // ---------------------------------------------------------------------------------------
    // Streams.
    // ---------------------------------------------------------------------------------------

    /// `Stream <name> under account <acct> not found.` (ResourceNotFound), for a stream
    /// that does not exist or is still being created.
    pub fn stream_not_found(stream: &StreamName, account: &AccountId) -> Self {
        Self::resource_not_found(format!("Stream {stream} under account {account} not found."))
    }

    /// `Stream <name> under account <acct> already exists.` (ResourceInUse), for
    /// CreateStream with a taken name.
    pub fn stream_exists(stream: &StreamName, account: &AccountId) -> Self {
        Self::resource_in_use(format!("Stream {stream} under account {account} already exists."))
    }

    /// `Stream <name> under account <acct> not ACTIVE, instead in state <STATE>`
    /// (ResourceInUse), for control operations that need an ACTIVE stream.
    pub fn stream_not_active(stream: &StreamName, account: &AccountId, status: StreamStatus) -> Self {
        Self::resource_in_use(format!(
            "Stream {stream} under account {account} not ACTIVE, instead in state {}",
            status.as_kinesis_str()
        ))
    }

    /// Warm throughput asked for while the account's minimum throughput billing
    /// commitment is not in force.
    pub fn commitment_required(account: &AccountId) -> Self {
        Self::invalid_argument(format!(
            "Warm throughput requires the minimum throughput billing commitment to be enabled for \
             account {account}."
        ))
    }

    /// `Request is invalid. Stream <name> under account <acct> is in On-Demand mode.`
    /// (Validation), for resharding an on-demand stream.
    pub fn stream_on_demand(stream: &StreamName, account: &AccountId) -> Self {
        StraitError::Validation {
            message: format!(
                "Request is invalid. Stream {stream} under account {account} is in On-Demand mode."
            ),
        }
    }

    /// The LimitExceeded message for a CreateStream, SplitShard or UpdateShardCount that would
    /// take the account past its shard quota.
    pub fn shard_limit_exceeded(
        account: &AccountId,
        region: &Region,
        current_shards: u64,
        limit: u64,
        additional_shards: u64,
    ) -> Self {
        Self::limit_exceeded(format!(
            "This request would exceed the shard limit for the account {account} in {region}. \
             Current shard count for the account: {current_shards}. Limit: {limit}. \
             Number of additional shards that would have resulted from this request: \
             {additional_shards}. Refer to the AWS Service Limits page \
             (https://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) \
             for current limits and how to request higher limits."
        ))
    }

    /// The InvalidArgument message for a retention period below the 24-hour minimum.
    pub fn retention_too_short(requested_hours: u32) -> Self {
        Self::invalid_argument(format!(
            "Minimum allowed retention period is 24 hours. Requested retention period \
             ({requested_hours} hours) is too short."
        ))
    }

    /// The InvalidArgument message for a retention period above the 8760-hour maximum.
    pub fn retention_too_long(requested_hours: u32) -> Self {
        Self::invalid_argument(format!(
            "Maximum allowed retention period is 8760 hours. Requested retention period \
             ({requested_hours} hours) is too long."
        ))
    }

    /// The InvalidArgument message for IncreaseStreamRetentionPeriod with a value below the
    /// current one.
    pub fn retention_increase_shorter(requested_hours: u32, stream: &StreamName, current_hours: u32) -> Self {
        Self::invalid_argument(format!(
            "Requested retention period ({requested_hours} hours) for stream {stream} can not \
             be shorter than existing retention period ({current_hours} hours). Use \
             DecreaseRetentionPeriod API."
        ))
    }

    /// The InvalidArgument message for DecreaseStreamRetentionPeriod with a value above the
    /// current one.
    pub fn retention_decrease_longer(requested_hours: u32, stream: &StreamName, current_hours: u32) -> Self {
        Self::invalid_argument(format!(
            "Requested retention period ({requested_hours} hours) for stream {stream} can not \
             be longer than existing retention period ({current_hours} hours). Use \
             IncreaseRetentionPeriod API."
        ))
    }

    // ---------------------------------------------------------------------------------------
    // Shards and resharding.
    // ---------------------------------------------------------------------------------------

    /// `Shard <shardId> in stream <name> under account <acct> does not exist`
    /// (ResourceNotFound), for GetShardIterator and GetRecords on an unknown shard.
    pub fn shard_not_found(shard: ShardId, stream: &StreamName, account: &AccountId) -> Self {
        Self::resource_not_found(format!(
            "Shard {shard} in stream {stream} under account {account} does not exist"
        ))
    }

    /// `Could not find shard <id> in stream <name> under account <acct>.`
    /// (ResourceNotFound), for SplitShard and MergeShards on an unknown shard.
    ///
    /// The shard is given as text because the input may not have been a valid shard id.
    pub fn could_not_find_shard(shard: &str, stream: &StreamName, account: &AccountId) -> Self {
        Self::resource_not_found(format!(
            "Could not find shard {shard} in stream {stream} under account {account}."
        ))
    }

    /// The InvalidArgument message for splitting or merging a shard that is already closed.
    pub fn shard_already_closed(shard: ShardId, stream: &StreamName, account: &AccountId) -> Self {
        Self::invalid_argument(format!(
            "Shard {shard} in stream {stream} under account {account} has already been merged \
             or split, and thus is not eligible for merging or splitting."
        ))
    }

    /// The InvalidArgument message for MergeShards on two shards that are not adjacent.
    pub fn shards_not_adjacent(
        shard: ShardId,
        adjacent_shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
    ) -> Self {
        Self::invalid_argument(format!(
            "Shards {shard} and {adjacent_shard} in stream {stream} under account {account} are \
             not an adjacent pair of shards eligible for merging"
        ))
    }

    /// The InvalidArgument message for a SplitShard NewStartingHashKey that is not strictly
    /// inside the parent's range (see [`HashKeyRange::split_at`]).
    pub fn invalid_split_key(
        new_starting_hash_key: HashKey,
        shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
        range: HashKeyRange,
    ) -> Self {
        Self::invalid_argument(format!(
            "NewStartingHashKey {new_starting_hash_key} used in SplitShard() on shard {shard} in \
             stream {stream} under account {account} is not both greater than one plus the \
             shard's StartingHashKey {} and less than the shard's EndingHashKey {}.",
            range.start, range.end
        ))
    }

    /// `Rate exceeded for shard <shardId> in stream <name> under account <acct>.`
    /// (ProvisionedThroughputExceeded), for a throttled write.
    pub fn rate_exceeded_for_shard(shard: ShardId, stream: &StreamName, account: &AccountId) -> Self {
        Self::provisioned_throughput_exceeded(format!(
            "Rate exceeded for shard {shard} in stream {stream} under account {account}."
        ))
    }

    // ---------------------------------------------------------------------------------------
    // Records.
    // ---------------------------------------------------------------------------------------

    /// The ValidationException for a record whose size (data plus partition key) exceeds
    /// `max_bytes`. As AWS does, the entry is reported against the data member (`data`, or
    /// `records.<n>.member.data` in PutRecords) with the data's length.
    pub fn record_too_large(data_len: usize, max_bytes: usize, field: &str) -> Self {
        Self::validation(vec![Violation::data_too_long(data_len, field, max_bytes)])
    }

    /// `Records size exceeds <n> MB limit` (InvalidArgument), for a PutRecords request whose
    /// records add up to more than `max_bytes`.
    pub fn put_records_too_large(max_bytes: usize) -> Self {
        Self::invalid_argument(format!("Records size exceeds {} MB limit", max_bytes / (1 << 20)))
    }

    /// The InvalidArgument message for an ExplicitHashKey (or another hash-key member, named
    /// in lowerCamelCase by `field`) that matches the decimal pattern but exceeds 2^128-1.
    pub fn hash_key_out_of_range(field: &str, value: &str) -> Self {
        let member = upper_camel(field);
        Self::invalid_argument(format!(
            "Invalid {member}. {member} must be in the range: [0, 2^128-1]. Specified value was \
             {value}"
        ))
    }

    /// `Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1].
    /// Specified value was <v>` (InvalidArgument).
    pub fn explicit_hash_key_out_of_range(value: &str) -> Self {
        Self::hash_key_out_of_range("explicitHashKey", value)
    }

    /// The InvalidArgument message for a PutRecord SequenceNumberForOrdering that cannot have
    /// come from this stream.
    pub fn invalid_sequence_number_for_ordering(
        value: &str,
        stream: &StreamName,
        account: &AccountId,
    ) -> Self {
        Self::invalid_argument(format!(
            "ExclusiveMinimumSequenceNumber {value} used in PutRecord on stream {stream} under \
             account {account} is invalid."
        ))
    }

    // ---------------------------------------------------------------------------------------
    // Iterators.
    // ---------------------------------------------------------------------------------------

    /// "Invalid ShardIterator." (InvalidArgument), for an iterator that is malformed, forged
    /// or tampered with.
    pub fn invalid_iterator() -> Self {
        Self::invalid_argument("Invalid ShardIterator.")
    }

    /// The ExpiredIterator message, quoting the issue time and the current time as Java
    /// dates, e.g. "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02
    /// UTC 2015 while right now it is Thu Jan 22 01:27:03 UTC 2015 which is further in the
    /// future than the tolerated delay of 300000 milliseconds."
    pub fn expired_iterator(issued_at_ms: u64, now_ms: u64) -> Self {
        StraitError::ExpiredIterator {
            message: format!(
                "Iterator expired. The iterator was created at time {} while right now it is {} \
                 which is further in the future than the tolerated delay of {} milliseconds.",
                java_date_string(issued_at_ms),
                java_date_string(now_ms),
                crate::iterator::ITERATOR_TTL_MS
            ),
        }
    }

    /// The InvalidArgument message for GetShardIterator when the iterator type and the
    /// presence of a StartingSequenceNumber disagree. `type_name` is the requested type as
    /// Kinesis spells it; `has_sequence_number` tells whether one was given.
    pub fn iterator_type_mismatch(type_name: &str, has_sequence_number: bool) -> Self {
        let tail = if has_sequence_number {
            "and also a StartingSequenceNumber."
        } else {
            "and no StartingSequenceNumber."
        };
        Self::invalid_argument(format!(
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and \
             StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no \
             StartingSequenceNumber. Request specified {type_name} {tail}"
        ))
    }

    /// The InvalidArgument message for an AT_TIMESTAMP iterator requested without a
    /// timestamp.
    pub fn iterator_timestamp_missing() -> Self {
        Self::invalid_argument(
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. \
             Current request has no timestamp parameter.",
        )
    }

    /// The InvalidArgument message for an AT_TIMESTAMP iterator whose timestamp lies in the
    /// future.
    pub fn iterator_timestamp_in_future(timestamp_ms: u64, now_ms: u64) -> Self {
        Self::invalid_argument(format!(
            "The timestampInMillis parameter cannot be greater than the \
             currentTimestampInMillis. timestampInMillis: {timestamp_ms}, \
             currentTimestampInMillis: {now_ms}"
        ))
    }

    /// `StartingSequenceNumber <v> used in GetShardIterator on shard <id> in stream <name>
    /// under account <acct> is invalid.` (InvalidArgument), for a number that is not one
    /// Strait could have issued.
    pub fn invalid_starting_sequence_number(
        value: &str,
        shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
    ) -> Self {
        Self::invalid_argument(format!(
            "StartingSequenceNumber {value} used in GetShardIterator on shard {shard} in stream \
             {stream} under account {account} is invalid."
        ))
    }

    /// The InvalidArgument message for a StartingSequenceNumber issued by an earlier stream
    /// of the same name (a different incarnation).
    pub fn sequence_number_from_other_stream(
        value: &str,
        shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
    ) -> Self {
        Self::invalid_argument(format!(
            "StartingSequenceNumber {value} used in GetShardIterator on shard {shard} in stream \
             {stream} under account {account} is invalid because it did not come from this \
             stream."
        ))
    }

    /// `Invalid StartingSequenceNumber. It encodes <shardIdX>, while it was used in a call to
    /// a shard with <shardIdY>` (InvalidArgument).
    pub fn sequence_number_for_other_shard(encoded_shard: ShardId, requested_shard: ShardId) -> Self {
        Self::invalid_argument(format!(
            "Invalid StartingSequenceNumber. It encodes {encoded_shard}, while it was used in a \
             call to a shard with {requested_shard}"
        ))
    }

    // ---------------------------------------------------------------------------------------
    // Listing.
    // ---------------------------------------------------------------------------------------

    /// "Either NextToken or StreamName should be provided." (InvalidArgument), for ListShards
    /// with neither.
    pub fn list_shards_missing_stream() -> Self {
        Self::invalid_argument("Either NextToken or StreamName should be provided.")
    }

    /// "NextToken and StreamName cannot be provided together." (InvalidArgument), for
    /// ListShards with both.
    pub fn list_shards_token_with_stream() -> Self {
        Self::invalid_argument("NextToken and StreamName cannot be provided together.")
    }

    /// The ExpiredNextToken error for a pagination token past its lifetime. AWS's exact text
    /// is not known; this is the model's description of the error.
    pub fn expired_next_token() -> Self {
        StraitError::ExpiredNextToken {
            message: "The pagination token passed to the operation is expired.".to_owned(),
        }
    }

    /// The InvalidArgument error for a pagination token that Strait did not issue.
    pub fn invalid_next_token() -> Self {
        Self::invalid_argument("Invalid NextToken.")
    }
}

/// Returns a lowerCamelCase member path's last segment in UpperCamelCase, the way Kinesis
/// names members in prose ("explicitHashKey" becomes "ExplicitHashKey").
fn upper_camel(field: &str) -> String {
    let member = field.rsplit('.').next().unwrap_or(field);
    let mut chars = member.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// One entry of a ValidationException: a request member that breaks a model constraint.
///
/// It renders as `Value '<value>' at '<field>' failed to satisfy constraint: <constraint>`.
/// The value is quoted whatever its type, as AWS does for strings, numbers, blobs and lists;
/// the one exception is a missing member, whose constraint is [`Violation::NOT_NULL`] and
/// whose value prints as a bare `null`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Violation {
    /// The offending value as AWS prints it, without the surrounding quotes: the string
    /// itself, a number in decimal, a blob as [`Violation::blob_value`] renders it. Ignored
    /// for a [`NOT_NULL`](Self::NOT_NULL) violation.
    pub value: String,
    /// The member's path in lowerCamelCase, e.g. `streamName` or
    /// `records.1.member.partitionKey` (list members are 1-based).
    pub field: String,
    /// The constraint phrase, e.g. "Member must have length less than or equal to 256".
    pub constraint: String,
}

impl Violation {
    /// The constraint of a required member that is missing.
    pub const NOT_NULL: &'static str = "Member must not be null";

    /// Builds a violation from its three parts; `value` is the raw value without quotes.
    pub fn new(value: impl Into<String>, field: impl Into<String>, constraint: impl Into<String>) -> Self {
        Violation {
            value: value.into(),
            field: field.into(),
            constraint: constraint.into(),
        }
    }

    /// A required member is missing: `Value null at '<field>' failed to satisfy constraint:
    /// Member must not be null`.
    pub fn missing(field: impl Into<String>) -> Self {
        Violation::new(String::new(), field, Self::NOT_NULL)
    }

    /// A string or list is shorter than the model minimum.
    pub fn min_length(value: impl Into<String>, field: impl Into<String>, min: usize) -> Self {
        Violation::new(
            value,
            field,
            format!("Member must have length greater than or equal to {min}"),
        )
    }

    /// A string, blob or list is longer than the model maximum.
    pub fn max_length(value: impl Into<String>, field: impl Into<String>, max: usize) -> Self {
        Violation::new(
            value,
            field,
            format!("Member must have length less than or equal to {max}"),
        )
    }

    /// A string does not match the model's regular expression, quoted as the model spells it.
    pub fn pattern(value: impl Into<String>, field: impl Into<String>, pattern: &str) -> Self {
        Violation::new(
            value,
            field,
            format!("Member must satisfy regular expression pattern: {pattern}"),
        )
    }

    /// A number is below the model minimum.
    pub fn min_value(value: impl fmt::Display, field: impl Into<String>, min: impl fmt::Display) -> Self {
        Violation::new(
            value.to_string(),
            field,
            format!("Member must have value greater than or equal to {min}"),
        )
    }

    /// A number is above the model maximum.
    pub fn max_value(value: impl fmt::Display, field: impl Into<String>, max: impl fmt::Display) -> Self {
        Violation::new(
            value.to_string(),
            field,
            format!("Member must have value less than or equal to {max}"),
        )
    }

    /// A string is not one of the model's enum values, listed in model order.
    pub fn enum_value(value: impl Into<String>, field: impl Into<String>, allowed: &[&str]) -> Self {
        Violation::new(
            value,
            field,
            format!("Member must satisfy enum value set: [{}]", allowed.join(", ")),
        )
    }

    /// A blob (record data) is longer than `max` bytes; the value prints as AWS prints a
    /// blob of `len` bytes.
    pub fn data_too_long(len: usize, field: impl Into<String>, max: usize) -> Self {
        Violation::max_length(Self::blob_value(len), field, max)
    }

    /// Renders a blob of `len` bytes the way AWS prints one in a violation:
    /// `java.nio.HeapByteBuffer[pos=0 lim=<len> cap=<len>]`.
    pub fn blob_value(len: usize) -> String {
        format!("java.nio.HeapByteBuffer[pos=0 lim={len} cap={len}]")
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.constraint == Self::NOT_NULL {
            write!(f, "Value null")?;
        } else {
            write!(f, "Value '{}'", self.value)?;
        }
        write!(
            f,
            " at '{}' failed to satisfy constraint: {}",
            self.field, self.constraint
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> StreamName {
        StreamName::new(s).expect("valid test stream name")
    }

    fn account() -> AccountId {
        AccountId::new("111111111111").expect("valid test account")
    }

    #[test]
    fn single_violation_uses_the_singular() {
        let err = StraitError::validation(vec![Violation::pattern("?", "shardToSplit", "[a-zA-Z0-9_.-]+")]);
        assert_eq!(
            err.message(),
            "1 validation error detected: Value '?' at 'shardToSplit' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
        assert_eq!(err.kinesis_type(), "ValidationException");
        assert_eq!(err.http_status(), 400);
        assert_eq!(err.to_string(), err.message());
    }

    #[test]
    fn several_violations_are_counted_and_joined() {
        let err = StraitError::validation(vec![
            Violation::max_value(100_000, "limit", 10_000),
            Violation::missing("streamName"),
        ]);
        assert_eq!(
            err.message(),
            "2 validation errors detected: Value '100000' at 'limit' failed to satisfy \
             constraint: Member must have value less than or equal to 10000; Value null at \
             'streamName' failed to satisfy constraint: Member must not be null"
        );
    }

    #[test]
    fn validation_reports_at_most_ten_entries() {
        let violations = (1..=501)
            .map(|i| Violation::min_length("", format!("records.{i}.member.partitionKey"), 1))
            .collect();
        let err = StraitError::validation(violations);
        let message = err.message();
        assert!(message.starts_with("10 validation errors detected: "));
        assert_eq!(message.matches("; ").count(), 9);
        assert!(message.contains("records.10.member.partitionKey"));
        assert!(!message.contains("records.11.member.partitionKey"));
    }

    #[test]
    fn blobs_and_enums_render_like_aws() {
        assert_eq!(
            Violation::data_too_long(1_048_577, "records.1.member.data", 1_048_576).to_string(),
            "Value 'java.nio.HeapByteBuffer[pos=0 lim=1048577 cap=1048577]' at \
             'records.1.member.data' failed to satisfy constraint: Member must have length less \
             than or equal to 1048576"
        );
        assert_eq!(
            Violation::enum_value("SOON", "shardIteratorType", &["LATEST", "TRIM_HORIZON"]).to_string(),
            "Value 'SOON' at 'shardIteratorType' failed to satisfy constraint: Member must \
             satisfy enum value set: [LATEST, TRIM_HORIZON]"
        );
    }

    #[test]
    fn stream_templates_match_kinesis() {
        let stream = name("orders");
        let acct = account();
        assert_eq!(
            StraitError::stream_not_found(&stream, &acct).message(),
            "Stream orders under account 111111111111 not found."
        );
        assert_eq!(
            StraitError::stream_exists(&stream, &acct).message(),
            "Stream orders under account 111111111111 already exists."
        );
        let not_active = StraitError::stream_not_active(&stream, &acct, StreamStatus::Updating);
        assert_eq!(
            not_active.message(),
            "Stream orders under account 111111111111 not ACTIVE, instead in state UPDATING"
        );
        assert_eq!(not_active.kinesis_type(), "ResourceInUseException");
    }

    #[test]
    fn shard_templates_match_kinesis() {
        let stream = name("orders");
        let acct = account();
        assert_eq!(
            StraitError::shard_not_found(ShardId(3), &stream, &acct).message(),
            "Shard shardId-000000000003 in stream orders under account 111111111111 does not \
             exist"
        );
        assert_eq!(
            StraitError::rate_exceeded_for_shard(ShardId(1), &stream, &acct).message(),
            "Rate exceeded for shard shardId-000000000001 in stream orders under account \
             111111111111."
        );
        let split =
            StraitError::invalid_split_key(HashKey(1), ShardId(0), &stream, &acct, HashKeyRange::FULL);
        assert_eq!(
            split.message(),
            "NewStartingHashKey 1 used in SplitShard() on shard shardId-000000000000 in stream \
             orders under account 111111111111 is not both greater than one plus the shard's \
             StartingHashKey 0 and less than the shard's EndingHashKey \
             340282366920938463463374607431768211455."
        );
        assert_eq!(
            StraitError::shards_not_adjacent(ShardId(0), ShardId(2), &stream, &acct).message(),
            "Shards shardId-000000000000 and shardId-000000000002 in stream orders under account \
             111111111111 are not an adjacent pair of shards eligible for merging"
        );
    }

    #[test]
    fn expired_iterator_quotes_java_dates() {
        let err = StraitError::expired_iterator(1_421_889_722_000, 1_421_890_023_000);
        assert_eq!(err.kinesis_type(), "ExpiredIteratorException");
        assert_eq!(
            err.message(),
            "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 \
             while right now it is Thu Jan 22 01:27:03 UTC 2015 which is further in the future \
             than the tolerated delay of 300000 milliseconds."
        );
    }

    #[test]
    fn iterator_argument_templates_match_kinesis() {
        assert_eq!(
            StraitError::iterator_type_mismatch("LATEST", true).message(),
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and \
             StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. \
             Request specified LATEST and also a StartingSequenceNumber."
        );
        assert_eq!(
            StraitError::iterator_type_mismatch("AFTER_SEQUENCE_NUMBER", false).message(),
            "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and \
             StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no StartingSequenceNumber. \
             Request specified AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber."
        );
        assert_eq!(
            StraitError::sequence_number_for_other_shard(ShardId(1), ShardId(0)).message(),
            "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used \
             in a call to a shard with shardId-000000000000"
        );
        assert_eq!(
            StraitError::invalid_iterator().message(),
            "Invalid ShardIterator."
        );
    }

    #[test]
    fn hash_key_range_message_names_the_member() {
        assert_eq!(
            StraitError::explicit_hash_key_out_of_range("340282366920938463463374607431768211456").message(),
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. \
             Specified value was 340282366920938463463374607431768211456"
        );
        assert!(
            StraitError::hash_key_out_of_range("records.2.member.explicitHashKey", "9")
                .message()
                .starts_with("Invalid ExplicitHashKey. ExplicitHashKey must")
        );
    }

    #[test]
    fn record_size_errors() {
        let err = StraitError::record_too_large(1_048_574, 1 << 20, "data");
        assert_eq!(err.kinesis_type(), "ValidationException");
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'java.nio.HeapByteBuffer[pos=0 lim=1048574 \
             cap=1048574]' at 'data' failed to satisfy constraint: Member must have length less \
             than or equal to 1048576"
        );
        assert_eq!(
            StraitError::put_records_too_large(5 << 20).message(),
            "Records size exceeds 5 MB limit"
        );
    }

    #[test]
    fn status_type_and_retry_mapping() {
        let cases = [
            (
                StraitError::resource_not_found("x"),
                "ResourceNotFoundException",
                400,
                false,
            ),
            (
                StraitError::resource_in_use("x"),
                "ResourceInUseException",
                400,
                false,
            ),
            (
                StraitError::invalid_argument("x"),
                "InvalidArgumentException",
                400,
                false,
            ),
            (
                StraitError::limit_exceeded("x"),
                "LimitExceededException",
                400,
                true,
            ),
            (
                StraitError::provisioned_throughput_exceeded("x"),
                "ProvisionedThroughputExceededException",
                400,
                true,
            ),
            (
                StraitError::expired_iterator(0, 1),
                "ExpiredIteratorException",
                400,
                false,
            ),
            (
                StraitError::expired_next_token(),
                "ExpiredNextTokenException",
                400,
                false,
            ),
            (StraitError::unavailable("x"), "InternalFailure", 503, true),
            (StraitError::internal("x"), "InternalFailure", 500, false),
        ];
        for (err, kinesis_type, status, retryable) in cases {
            assert_eq!(err.kinesis_type(), kinesis_type, "{err:?}");
            assert_eq!(err.http_status(), status, "{err:?}");
            assert_eq!(err.is_retryable(), retryable, "{err:?}");
        }
        assert!(!StraitError::unavailable("x").is_deterministic());
        assert!(StraitError::invalid_iterator().is_deterministic());
        assert_eq!(
            StraitError::unavailable("x").kinesis_record_error_code(),
            "InternalFailure"
        );
        assert_eq!(
            StraitError::provisioned_throughput_exceeded("x").kinesis_record_error_code(),
            "ProvisionedThroughputExceededException"
        );
    }

    #[test]
    fn errors_round_trip_through_serde() {
        let err = StraitError::stream_not_found(&name("a"), &account());
        let json = serde_json::to_string(&err).expect("serializes");
        assert!(json.contains("ResourceNotFound"));
        let back: StraitError = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, err);
        let bytes = postcard::to_allocvec(&err).expect("serializes");
        let back: StraitError = postcard::from_bytes(&bytes).expect("deserializes");
        assert_eq!(back, err);
    }
}
