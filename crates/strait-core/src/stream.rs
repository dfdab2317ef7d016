//! Streams: their names, the namespace they live in, their ARNs, states and incarnations.
//!
//! Kinesis scopes every stream to an (account, region) pair, and so does Strait: the Kinesis
//! front door takes the region from the request's SigV4 credential scope and the account from
//! configuration or the access key, and the pair becomes a [`Namespace`]. A stream is then
//! named by its namespace plus a [`StreamName`], or equivalently by a [`StreamArn`]:
//!
//! ```text
//! arn:aws:kinesis:us-east-1:000000000000:stream/orders
//!                 ^region   ^account         ^name
//! ```
//!
//! Names are reused: a stream can be deleted and created again under the same name, and the
//! new stream must not be confused with the old one. A sequence number or a shard iterator
//! issued by the old stream must be rejected by the new one, even though the shard ids are
//! the same. Each creation therefore gets a [`StreamIncarnation`], a number the control plane
//! never hands out twice, and every sequence number and iterator embeds it.
//!
//! All validating constructors return the exact Kinesis error for a bad value, so a front
//! door can pass them through unchanged.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{StraitError, StraitResult, Violation};

/// The name of a stream: 1 to 128 characters of `[a-zA-Z0-9_.-]`, unique within a
/// [`Namespace`]. Names order byte-wise, which is the order ListStreams returns them in.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StreamName(String);

impl StreamName {
    /// The longest allowed name, in characters.
    pub const MAX_LEN: usize = 128;
    /// The model's pattern for stream names, as quoted in validation messages.
    pub const PATTERN: &'static str = "[a-zA-Z0-9_.-]+";

    /// Validates a stream name, reporting violations against the `streamName` member.
    pub fn new(name: impl Into<String>) -> StraitResult<Self> {
        let name = name.into();
        let violations = Self::violations(&name, "streamName");
        if violations.is_empty() {
            Ok(StreamName(name))
        } else {
            Err(StraitError::validation(violations))
        }
    }

    /// Lists every model constraint `value` breaks as a stream name, reported at `field`.
    ///
    /// An empty name breaks both the pattern and the minimum length, and AWS reports both.
    /// The same rules apply to other members with this shape, such as consumer names.
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        let mut violations = Vec::new();
        if !matches_name_pattern(value) {
            violations.push(Violation::pattern(value, field, Self::PATTERN));
        }
        let len = value.chars().count();
        if len < 1 {
            violations.push(Violation::min_length(value, field, 1));
        }
        if len > Self::MAX_LEN {
            violations.push(Violation::max_length(value, field, Self::MAX_LEN));
        }
        violations
    }

    /// Returns the name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the name as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

/// Tells whether `value` matches `[a-zA-Z0-9_.-]+`, the pattern shared by stream names,
/// shard ids and consumer names.
pub(crate) fn matches_name_pattern(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for StreamName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for StreamName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl FromStr for StreamName {
    type Err = StraitError;

    fn from_str(s: &str) -> StraitResult<Self> {
        StreamName::new(s)
    }
}

impl TryFrom<String> for StreamName {
    type Error = StraitError;

    fn try_from(value: String) -> StraitResult<Self> {
        StreamName::new(value)
    }
}

impl From<StreamName> for String {
    fn from(name: StreamName) -> String {
        name.0
    }
}

/// A 12-digit AWS account id, the first half of a [`Namespace`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    /// The account Strait uses when none is configured, as LocalStack and kinesis-mock do.
    pub const DEFAULT: &'static str = "000000000000";
    /// The number of digits in an account id.
    pub const LEN: usize = 12;

    /// Validates an account id: exactly 12 ASCII digits.
    pub fn new(id: impl Into<String>) -> StraitResult<Self> {
        let id = id.into();
        if id.len() == Self::LEN && id.bytes().all(|b| b.is_ascii_digit()) {
            Ok(AccountId(id))
        } else {
            Err(StraitError::invalid_argument(format!(
                "Invalid account id '{id}': an account id is exactly 12 decimal digits."
            )))
        }
    }

    /// Returns the default account, [`AccountId::DEFAULT`].
    pub fn default_account() -> Self {
        AccountId(Self::DEFAULT.to_owned())
    }

    /// Returns the id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AccountId {
    fn default() -> Self {
        Self::default_account()
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for AccountId {
    type Err = StraitError;

    fn from_str(s: &str) -> StraitResult<Self> {
        AccountId::new(s)
    }
}

impl TryFrom<String> for AccountId {
    type Error = StraitError;

    fn try_from(value: String) -> StraitResult<Self> {
        AccountId::new(value)
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

/// A region name such as `us-east-1`, the second half of a [`Namespace`].
///
/// Strait does not keep a list of real regions: any 1 to 32 characters of `[a-z0-9-]` is
/// accepted, so that tests and private deployments can name their own.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    /// The region Strait uses when a request does not name one.
    pub const DEFAULT: &'static str = "us-east-1";
    /// The longest allowed region name.
    pub const MAX_LEN: usize = 32;

    /// Validates a region name: 1 to 32 characters of `[a-z0-9-]`.
    pub fn new(region: impl Into<String>) -> StraitResult<Self> {
        let region = region.into();
        let well_formed = !region.is_empty()
            && region.len() <= Self::MAX_LEN
            && region
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if well_formed {
            Ok(Region(region))
        } else {
            Err(StraitError::invalid_argument(format!(
                "Invalid region '{region}': a region is 1 to 32 characters of [a-z0-9-]."
            )))
        }
    }

    /// Returns the default region, [`Region::DEFAULT`].
    pub fn default_region() -> Self {
        Region(Self::DEFAULT.to_owned())
    }

    /// Returns the region as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for Region {
    fn default() -> Self {
        Self::default_region()
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Region {
    type Err = StraitError;

    fn from_str(s: &str) -> StraitResult<Self> {
        Region::new(s)
    }
}

impl TryFrom<String> for Region {
    type Error = StraitError;

    fn try_from(value: String) -> StraitResult<Self> {
        Region::new(value)
    }
}

impl From<Region> for String {
    fn from(region: Region) -> String {
        region.0
    }
}

/// The (account, region) pair that scopes stream names, as in Kinesis. Two streams with the
/// same name in different namespaces are unrelated.
///
/// Namespaces order by account, then region, so that listing all streams in a keyspace keyed
/// by namespace groups an account's regions together.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Namespace {
    /// The account that owns the streams.
    pub account: AccountId,
    /// The region the streams live in.
    pub region: Region,
}

impl Namespace {
    /// Builds a namespace from its two parts.
    pub fn new(account: AccountId, region: Region) -> Self {
        Namespace { account, region }
    }
}

impl fmt::Display for Namespace {
    /// Renders `account/region`, e.g. `000000000000/us-east-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.account, self.region)
    }
}

/// The lifecycle state of a stream.
///
/// A stream is CREATING until its shard groups exist, then ACTIVE; resharding and mode
/// changes pass through UPDATING and back; deletion passes through DELETING until the stream
/// is gone. Data operations work in ACTIVE and UPDATING; control mutations need ACTIVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamStatus {
    /// The stream is being created; it is not yet visible to data operations.
    Creating,
    /// The stream serves reads, writes and control operations.
    Active,
    /// A reshard or setting change is in progress; reads and writes continue.
    Updating,
    /// The stream is being deleted.
    Deleting,
}

impl StreamStatus {
    /// Every status, in the order the Kinesis model lists them.
    pub const ALL: [StreamStatus; 4] = [
        StreamStatus::Creating,
        StreamStatus::Deleting,
        StreamStatus::Active,
        StreamStatus::Updating,
    ];

    /// Returns the status as Kinesis spells it: `CREATING`, `ACTIVE`, `UPDATING` or
    /// `DELETING`.
    pub fn as_kinesis_str(self) -> &'static str {
        match self {
            StreamStatus::Creating => "CREATING",
            StreamStatus::Active => "ACTIVE",
            StreamStatus::Updating => "UPDATING",
            StreamStatus::Deleting => "DELETING",
        }
    }

    /// Parses a status as Kinesis spells it (exact case).
    pub fn parse(s: &str) -> Option<StreamStatus> {
        Self::ALL.into_iter().find(|status| status.as_kinesis_str() == s)
    }

    /// Tells whether PutRecord(s), GetShardIterator and GetRecords are served in this state.
    pub fn accepts_data_operations(self) -> bool {
        matches!(self, StreamStatus::Active | StreamStatus::Updating)
    }
}

impl fmt::Display for StreamStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_kinesis_str())
    }
}

/// How a stream's capacity is managed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StreamMode {
    /// The user chooses the shard count and reshards explicitly.
    #[default]
    Provisioned,
    /// Strait manages the shard count; explicit resharding is refused.
    OnDemand,
}

impl StreamMode {
    /// Returns the mode as Kinesis spells it: `PROVISIONED` or `ON_DEMAND`.
    pub fn as_kinesis_str(self) -> &'static str {
        match self {
            StreamMode::Provisioned => "PROVISIONED",
            StreamMode::OnDemand => "ON_DEMAND",
        }
    }

    /// Every mode, in the order the Kinesis model lists them.
    pub const ALL: [StreamMode; 2] = [StreamMode::Provisioned, StreamMode::OnDemand];

    /// Parses a mode as Kinesis spells it (exact case).
    pub fn parse(s: &str) -> Option<StreamMode> {
        Self::ALL.into_iter().find(|mode| mode.as_kinesis_str() == s)
    }
}

impl fmt::Display for StreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_kinesis_str())
    }
}

/// A stream's ARN: `arn:aws:kinesis:<region>:<account>:stream/<name>`.
///
/// Strait always writes the `aws` partition, and accepts any `aws*` partition (`aws-cn`,
/// `aws-us-gov`, ...) when parsing, as the Kinesis model's pattern does.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StreamArn {
    /// The namespace the ARN names.
    pub namespace: Namespace,
    /// The stream the ARN names.
    pub stream: StreamName,
}

impl StreamArn {
    /// The model's pattern for stream ARNs, as quoted in validation messages.
    pub const PATTERN: &'static str = r"arn:aws.*:kinesis:.*:\d{12}:stream/\S+";
    /// The longest allowed ARN.
    pub const MAX_LEN: usize = 2048;

    /// Builds the ARN of a stream.
    pub fn new(namespace: Namespace, stream: StreamName) -> Self {
        StreamArn { namespace, stream }
    }

    /// Formats the ARN of `stream` in `namespace`.
    pub fn format(namespace: &Namespace, stream: &StreamName) -> String {
        format!(
            "arn:aws:kinesis:{}:{}:stream/{}",
            namespace.region, namespace.account, stream
        )
    }

    /// Parses a stream ARN into the namespace and name it designates.
    ///
    /// An ARN that breaks the model's length or pattern gives a ValidationException at
    /// `streamARN`; one that matches the pattern but names an impossible region or stream
    /// gives an InvalidArgumentException.
    pub fn parse(arn: &str) -> StraitResult<(Namespace, StreamName)> {
        let violations = Self::violations(arn, "streamARN");
        if !violations.is_empty() {
            return Err(StraitError::validation(violations));
        }
        let Some(parts) = split_arn(arn) else {
            // violations() accepted the ARN, so it splits.
            return Err(StraitError::internal(format!(
                "stream ARN {arn} passed validation but could not be split"
            )));
        };
        let invalid =
            |reason: &str| StraitError::invalid_argument(format!("Invalid StreamARN {arn}: {reason}"));
        let region = Region::new(parts.region).map_err(|e| invalid(e.message()))?;
        let account = AccountId::new(parts.account).map_err(|e| invalid(e.message()))?;
        let stream = StreamName::new(parts.name).map_err(|_| {
            invalid(&format!(
                "the stream name must be 1 to {} characters of {}",
                StreamName::MAX_LEN,
                StreamName::PATTERN
            ))
        })?;
        Ok((Namespace::new(account, region), stream))
    }

    /// Lists every model constraint `value` breaks as a stream ARN, reported at `field`.
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        let mut violations = Vec::new();
        if split_arn(value).is_none() {
            violations.push(Violation::pattern(value, field, Self::PATTERN));
        }
        let len = value.chars().count();
        if len < 1 {
            violations.push(Violation::min_length(value, field, 1));
        }
        if len > Self::MAX_LEN {
            violations.push(Violation::max_length(value, field, Self::MAX_LEN));
        }
        violations
    }
}

impl fmt::Display for StreamArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&Self::format(&self.namespace, &self.stream))
    }
}

/// The parts of a stream ARN that matched the model's pattern, not yet validated.
struct ArnParts<'a> {
    region: &'a str,
    account: &'a str,
    name: &'a str,
}

/// Splits `arn:aws*:kinesis:<region>:<12 digits>:stream/<name>` into its parts, or returns
/// `None` if the text does not have that shape. The name must be non-empty and free of
/// whitespace, as the model's `\S+` demands.
fn split_arn(arn: &str) -> Option<ArnParts<'_>> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let name = resource.strip_prefix("stream/")?;
    let shaped = prefix == "arn"
        && partition.starts_with("aws")
        && service == "kinesis"
        && account.len() == AccountId::LEN
        && account.bytes().all(|b| b.is_ascii_digit())
        && !name.is_empty()
        && !name.chars().any(char::is_whitespace);
    shaped.then_some(ArnParts {
        region,
        account,
        name,
    })
}

/// One creation of a stream.
///
/// The control plane assigns each CreateStream a fresh incarnation, never reusing one, so a
/// stream deleted and created again under the same name is told apart from its predecessor.
/// Sequence numbers and shard iterators embed the incarnation, which is how Strait rejects a
/// number "because it did not come from this stream".
///
/// The value is below 10^19 so that it fills a fixed 19-digit field of a
/// [`SequenceNumber`](crate::SequenceNumber).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u64")]
pub struct StreamIncarnation(u64);

impl StreamIncarnation {
    /// The smallest incarnation.
    pub const MIN: StreamIncarnation = StreamIncarnation(0);
    /// The largest incarnation, 10^19 - 1.
    pub const MAX: StreamIncarnation = StreamIncarnation(9_999_999_999_999_999_999);

    /// Returns the incarnation with this number, or `None` if it is above
    /// [`StreamIncarnation::MAX`].
    pub const fn new(value: u64) -> Option<StreamIncarnation> {
        if value <= Self::MAX.0 {
            Some(StreamIncarnation(value))
        } else {
            None
        }
    }

    /// Returns the incarnation's number.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Returns the next incarnation, or `None` after [`StreamIncarnation::MAX`].
    pub const fn next(self) -> Option<StreamIncarnation> {
        Self::new(self.0 + 1)
    }
}

impl fmt::Display for StreamIncarnation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The error for a number too large to be a [`StreamIncarnation`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stream incarnation {0} exceeds the maximum of 9999999999999999999")]
pub struct IncarnationOutOfRange(pub u64);

impl TryFrom<u64> for StreamIncarnation {
    type Error = IncarnationOutOfRange;

    fn try_from(value: u64) -> Result<Self, IncarnationOutOfRange> {
        StreamIncarnation::new(value).ok_or(IncarnationOutOfRange(value))
    }
}

impl From<StreamIncarnation> for u64 {
    fn from(incarnation: StreamIncarnation) -> u64 {
        incarnation.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn namespace() -> Namespace {
        Namespace::new(
            AccountId::new("123456789012").expect("valid account"),
            Region::new("eu-west-1").expect("valid region"),
        )
    }

    #[test]
    fn accepts_valid_stream_names() {
        for name in ["a", "orders", "A-b_c.d", "0", &"x".repeat(128)] {
            let parsed = StreamName::new(name).expect(name);
            assert_eq!(parsed.as_str(), name);
            assert_eq!(parsed.to_string(), name);
        }
    }

    #[test]
    fn rejects_bad_stream_names_with_kinesis_messages() {
        let err = StreamName::new("x y").expect_err("space is not allowed");
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'x y' at 'streamName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
        let err = StreamName::new("").expect_err("empty is not allowed");
        assert_eq!(
            err.message(),
            "2 validation errors detected: Value '' at 'streamName' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+; \
             Value '' at 'streamName' failed to satisfy constraint: Member must have length \
             greater than or equal to 1"
        );
        let long = "x".repeat(129);
        let err = StreamName::new(long.clone()).expect_err("too long");
        assert_eq!(
            err.message(),
            format!(
                "1 validation error detected: Value '{long}' at 'streamName' failed to satisfy \
                 constraint: Member must have length less than or equal to 128"
            )
        );
        assert!(StreamName::new("é").is_err());
    }

    #[test]
    fn stream_names_validate_when_deserialized() {
        let name: StreamName = serde_json::from_str("\"orders\"").expect("valid");
        assert_eq!(name.as_str(), "orders");
        assert_eq!(serde_json::to_string(&name).expect("serializes"), "\"orders\"");
        assert!(serde_json::from_str::<StreamName>("\"a b\"").is_err());
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert_eq!(AccountId::default_account().as_str(), "000000000000");
        assert_eq!(AccountId::default().as_str(), AccountId::DEFAULT);
        assert!(AccountId::new("123456789012").is_ok());
        for bad in [
            "",
            "12345678901",
            "1234567890123",
            "12345678901a",
            "１23456789012",
        ] {
            let err = AccountId::new(bad).expect_err(bad);
            assert_eq!(err.kinesis_type(), "InvalidArgumentException");
        }
    }

    #[test]
    fn regions_are_lowercase_words() {
        assert_eq!(Region::default_region().as_str(), "us-east-1");
        assert!(Region::new("ap-southeast-2").is_ok());
        assert!(Region::new("local").is_ok());
        for bad in ["", "US-EAST-1", "us_east_1", &"a".repeat(33)] {
            assert!(Region::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn namespace_displays_account_then_region() {
        assert_eq!(namespace().to_string(), "123456789012/eu-west-1");
        assert_eq!(Namespace::default().to_string(), "000000000000/us-east-1");
    }

    #[test]
    fn status_and_mode_round_trip_through_kinesis_names() {
        for status in StreamStatus::ALL {
            assert_eq!(StreamStatus::parse(status.as_kinesis_str()), Some(status));
            let json = serde_json::to_string(&status).expect("serializes");
            assert_eq!(json, format!("\"{}\"", status.as_kinesis_str()));
        }
        assert_eq!(StreamStatus::parse("active"), None);
        assert_eq!(StreamMode::parse("ON_DEMAND"), Some(StreamMode::OnDemand));
        assert_eq!(StreamMode::parse("PROVISIONED"), Some(StreamMode::Provisioned));
        assert_eq!(StreamMode::parse("on_demand"), None);
        assert_eq!(
            serde_json::to_string(&StreamMode::OnDemand).expect("serializes"),
            "\"ON_DEMAND\""
        );
        assert!(StreamStatus::Updating.accepts_data_operations());
        assert!(!StreamStatus::Creating.accepts_data_operations());
    }

    #[test]
    fn arn_formats_and_parses() {
        let ns = namespace();
        let name = StreamName::new("orders").expect("valid");
        let arn = StreamArn::format(&ns, &name);
        assert_eq!(arn, "arn:aws:kinesis:eu-west-1:123456789012:stream/orders");
        assert_eq!(
            StreamArn::parse(&arn).expect("parses"),
            (ns.clone(), name.clone())
        );
        assert_eq!(StreamArn::new(ns, name).to_string(), arn);
    }

    #[test]
    fn arn_accepts_other_aws_partitions() {
        let (ns, name) = StreamArn::parse("arn:aws-cn:kinesis:cn-north-1:123456789012:stream/s").expect("ok");
        assert_eq!(ns.region.as_str(), "cn-north-1");
        assert_eq!(name.as_str(), "s");
        assert!(StreamArn::parse("arn:aws-us-gov:kinesis:us-gov-west-1:123456789012:stream/s").is_ok());
    }

    #[test]
    fn arn_rejects_malformed_input() {
        for bad in [
            "",
            "orders",
            "arn:gcp:kinesis:us-east-1:123456789012:stream/s",
            "arn:aws:sqs:us-east-1:123456789012:stream/s",
            "arn:aws:kinesis:us-east-1:12345678901:stream/s",
            "arn:aws:kinesis:us-east-1:123456789012:table/s",
            "arn:aws:kinesis:us-east-1:123456789012:stream/",
            "arn:aws:kinesis:us-east-1:123456789012:stream/a b",
        ] {
            let err = StreamArn::parse(bad).expect_err(bad);
            assert_eq!(err.kinesis_type(), "ValidationException", "{bad}");
            assert!(err.message().contains("'streamARN'"), "{bad}");
        }
        // Well-shaped, but the parts are not a valid region or stream name.
        for bad in [
            "arn:aws:kinesis::123456789012:stream/s",
            "arn:aws:kinesis:us-east-1:123456789012:stream/a/b",
        ] {
            let err = StreamArn::parse(bad).expect_err(bad);
            assert_eq!(err.kinesis_type(), "InvalidArgumentException", "{bad}");
        }
    }

    #[test]
    fn incarnations_stop_below_ten_to_the_nineteenth() {
        assert_eq!(StreamIncarnation::MAX.get(), 10u64.pow(19) - 1);
        assert!(StreamIncarnation::new(10u64.pow(19)).is_none());
        assert!(StreamIncarnation::MAX.next().is_none());
        assert_eq!(
            StreamIncarnation::MIN.next(),
            Some(StreamIncarnation::new(1).expect("in range"))
        );
        assert!(serde_json::from_str::<StreamIncarnation>("10000000000000000000").is_err());
        let inc: StreamIncarnation = serde_json::from_str("42").expect("in range");
        assert_eq!(inc.get(), 42);
    }

    proptest! {
        #[test]
        fn valid_names_round_trip(name in "[a-zA-Z0-9_.-]{1,128}") {
            let parsed = StreamName::new(name.clone()).expect("valid by construction");
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }

        #[test]
        fn names_with_other_characters_are_rejected(
            prefix in "[a-z]{0,5}",
            bad in "[^a-zA-Z0-9_.-]",
            suffix in "[a-z]{0,5}",
        ) {
            let name = format!("{prefix}{bad}{suffix}");
            prop_assert!(StreamName::new(name).is_err());
        }

        #[test]
        fn arns_round_trip(
            account in "[0-9]{12}",
            region in "[a-z0-9-]{1,32}",
            name in "[a-zA-Z0-9_.-]{1,128}",
        ) {
            let ns = Namespace::new(
                AccountId::new(account).expect("valid"),
                Region::new(region).expect("valid"),
            );
            let name = StreamName::new(name).expect("valid");
            let arn = StreamArn::format(&ns, &name);
            prop_assert_eq!(StreamArn::parse(&arn).expect("parses"), (ns, name));
        }

        #[test]
        fn arn_parsing_never_panics(text in "\\PC{0,80}") {
            let _ = StreamArn::parse(&text);
        }
    }
}
