//! Shard iterators: where a consumer starts reading, and the token that carries its place.
//!
//! Reading a shard takes two steps in Kinesis. GetShardIterator turns a starting point (an
//! [`IteratorType`]: the oldest record, the tip, a sequence number, or a timestamp) into an
//! opaque iterator string; GetRecords takes that string, returns records, and hands back a
//! fresh iterator for the next call. The iterator is the consumer's whole state, so it must
//! name the stream, the shard and the exact position, and it must survive a trip to any node
//! of the cluster.
//!
//! Strait makes the iterator a self-contained [`ShardIteratorToken`] rather than a handle
//! into server memory: a compact binary payload, authenticated with HMAC-SHA256 under a
//! cluster-wide secret, in URL-safe base64.
//!
//! ```text
//! base64url( payload | HMAC-SHA256(secret, context | payload) )
//!
//! payload = version(1) issued_at_ms(8) incarnation(8) shard(4) index(8) offset(4)
//!           account(12 ASCII digits) region_len(1) region stream_len(1) stream
//! ```
//!
//! Any node holding the secret can check a token without asking anyone, a forged or altered
//! token fails the MAC check (compared in constant time), and the token never grows past
//! Kinesis's 512-character limit: the longest stream name and region give 319 characters.
//! The payload embeds the stream incarnation, so an iterator issued before a stream was
//! deleted and re-created is recognized as belonging to the old stream.
//!
//! Iterators expire [`ITERATOR_TTL_MS`] after they are issued, as in Kinesis; each
//! GetRecords issues a fresh one with a fresh lifetime.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{StraitError, StraitResult, Violation};
use crate::sequence::{RecordPosition, SequenceNumber};
use crate::shard::ShardId;
use crate::stream::{AccountId, Namespace, Region, StreamIncarnation, StreamName};

/// How long a shard iterator stays valid after it is issued: five minutes.
pub const ITERATOR_TTL_MS: u64 = 300_000;

/// The longest iterator string the Kinesis model accepts.
pub const MAX_ITERATOR_LEN: usize = 512;

/// The kind of starting point GetShardIterator was asked for, without its argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IteratorKind {
    /// At a given sequence number.
    AtSequenceNumber,
    /// Just after a given sequence number.
    AfterSequenceNumber,
    /// At the oldest record still inside retention.
    TrimHorizon,
    /// Just after the newest record at the time of the call.
    Latest,
    /// At the first record that arrived at or after a given time.
    AtTimestamp,
}

impl IteratorKind {
    /// Every kind, in the order the Kinesis model lists them.
    pub const ALL: [IteratorKind; 5] = [
        IteratorKind::AtSequenceNumber,
        IteratorKind::AfterSequenceNumber,
        IteratorKind::TrimHorizon,
        IteratorKind::Latest,
        IteratorKind::AtTimestamp,
    ];

    /// Returns the kind as Kinesis spells it, e.g. `AT_SEQUENCE_NUMBER`.
    pub fn as_kinesis_str(self) -> &'static str {
        match self {
            IteratorKind::AtSequenceNumber => "AT_SEQUENCE_NUMBER",
            IteratorKind::AfterSequenceNumber => "AFTER_SEQUENCE_NUMBER",
            IteratorKind::TrimHorizon => "TRIM_HORIZON",
            IteratorKind::Latest => "LATEST",
            IteratorKind::AtTimestamp => "AT_TIMESTAMP",
        }
    }

    /// Parses a kind as Kinesis spells it (exact case).
    pub fn parse(s: &str) -> Option<IteratorKind> {
        Self::ALL.into_iter().find(|kind| kind.as_kinesis_str() == s)
    }

    /// Lists the model constraints `value` breaks as a ShardIteratorType, reported at
    /// `field` (normally `shardIteratorType`).
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        if Self::parse(value).is_some() {
            Vec::new()
        } else {
            let allowed = Self::ALL.map(IteratorKind::as_kinesis_str);
            vec![Violation::enum_value(value, field, &allowed)]
        }
    }
}

impl fmt::Display for IteratorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_kinesis_str())
    }
}

/// Where GetShardIterator should start reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum IteratorType {
    /// At the oldest record still inside retention.
    TrimHorizon,
    /// Just after the newest record at the time of the call, so only later records are read.
    Latest,
    /// At the given sequence number. It need not be a stored record's; a shard's
    /// StartingSequenceNumber is valid too.
    AtSequenceNumber(SequenceNumber),
    /// Just after the given sequence number.
    AfterSequenceNumber(SequenceNumber),
    /// At the first record whose arrival time is at or after this many milliseconds since
    /// the Unix epoch.
    AtTimestamp(u64),
}

impl IteratorType {
    /// Returns the kind of the starting point, without its argument.
    pub fn kind(&self) -> IteratorKind {
        match self {
            IteratorType::TrimHorizon => IteratorKind::TrimHorizon,
            IteratorType::Latest => IteratorKind::Latest,
            IteratorType::AtSequenceNumber(_) => IteratorKind::AtSequenceNumber,
            IteratorType::AfterSequenceNumber(_) => IteratorKind::AfterSequenceNumber,
            IteratorType::AtTimestamp(_) => IteratorKind::AtTimestamp,
        }
    }

    /// Builds the starting point from GetShardIterator's members, with Kinesis's errors.
    ///
    /// `type_name` is ShardIteratorType as sent; `starting_sequence_number` and
    /// `timestamp_ms` are the optional StartingSequenceNumber and Timestamp. The shard,
    /// stream and account are only used to word the error for an undecodable sequence
    /// number. The checks and their errors:
    ///
    /// - an unknown type, or a sequence number outside the model pattern: ValidationException;
    /// - a sequence number with TRIM_HORIZON, LATEST or AT_TIMESTAMP, or none with
    ///   AT/AFTER_SEQUENCE_NUMBER: the "Must either specify..." InvalidArgumentException;
    /// - AT_TIMESTAMP without a timestamp: InvalidArgumentException;
    /// - a sequence number Strait could not have issued: InvalidArgumentException "... is
    ///   invalid.".
    ///
    /// Whether the number belongs to this shard and this stream is checked separately, by
    /// [`check_origin`](Self::check_origin), once the stream is known.
    pub fn parse(
        type_name: &str,
        starting_sequence_number: Option<&str>,
        timestamp_ms: Option<u64>,
        shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
    ) -> StraitResult<IteratorType> {
        let mut violations = IteratorKind::violations(type_name, "shardIteratorType");
        if let Some(text) = starting_sequence_number {
            violations.extend(SequenceNumber::violations(text, "startingSequenceNumber"));
        }
        let Some(kind) = IteratorKind::parse(type_name) else {
            return Err(StraitError::validation(violations));
        };
        if !violations.is_empty() {
            return Err(StraitError::validation(violations));
        }
        match (kind, starting_sequence_number) {
            (IteratorKind::TrimHorizon, None) => Ok(IteratorType::TrimHorizon),
            (IteratorKind::Latest, None) => Ok(IteratorType::Latest),
            (IteratorKind::AtTimestamp, None) => timestamp_ms
                .map(IteratorType::AtTimestamp)
                .ok_or_else(StraitError::iterator_timestamp_missing),
            (IteratorKind::AtSequenceNumber | IteratorKind::AfterSequenceNumber, None) => {
                Err(StraitError::iterator_type_mismatch(kind.as_kinesis_str(), false))
            }
            (IteratorKind::TrimHorizon | IteratorKind::Latest | IteratorKind::AtTimestamp, Some(_)) => {
                Err(StraitError::iterator_type_mismatch(kind.as_kinesis_str(), true))
            }
            (IteratorKind::AtSequenceNumber | IteratorKind::AfterSequenceNumber, Some(text)) => {
                let number = SequenceNumber::parse(text).map_err(|_| {
                    StraitError::invalid_starting_sequence_number(text, shard, stream, account)
                })?;
                Ok(if kind == IteratorKind::AtSequenceNumber {
                    IteratorType::AtSequenceNumber(number)
                } else {
                    IteratorType::AfterSequenceNumber(number)
                })
            }
        }
    }

    /// Checks that a sequence-number starting point was issued by this shard of this
    /// incarnation of the stream; other starting points always pass.
    ///
    /// A number from another shard gives "Invalid StartingSequenceNumber. It encodes ...";
    /// one from an earlier stream of the same name gives "... is invalid because it did not
    /// come from this stream.", both InvalidArgumentException.
    pub fn check_origin(
        &self,
        incarnation: StreamIncarnation,
        shard: ShardId,
        stream: &StreamName,
        account: &AccountId,
    ) -> StraitResult<()> {
        let (IteratorType::AtSequenceNumber(number) | IteratorType::AfterSequenceNumber(number)) = self
        else {
            return Ok(());
        };
        if number.shard() != shard {
            return Err(StraitError::sequence_number_for_other_shard(
                number.shard(),
                shard,
            ));
        }
        if number.incarnation() != incarnation {
            return Err(StraitError::sequence_number_from_other_stream(
                &number.to_string(),
                shard,
                stream,
                account,
            ));
        }
        Ok(())
    }

    /// Checks that an AT_TIMESTAMP starting point is not in the future; other starting
    /// points always pass.
    pub fn check_timestamp(&self, now_ms: u64) -> StraitResult<()> {
        match *self {
            IteratorType::AtTimestamp(timestamp_ms) if timestamp_ms > now_ms => {
                Err(StraitError::iterator_timestamp_in_future(timestamp_ms, now_ms))
            }
            _ => Ok(()),
        }
    }

    /// Returns the position a sequence-number starting point begins reading at: the number's
    /// own position for AT_SEQUENCE_NUMBER, the next one for AFTER_SEQUENCE_NUMBER. Other
    /// starting points depend on the shard's contents and return `None`.
    pub fn sequence_position(&self) -> Option<RecordPosition> {
        match self {
            IteratorType::AtSequenceNumber(number) => Some(number.position()),
            IteratorType::AfterSequenceNumber(number) => Some(number.position().successor()),
            _ => None,
        }
    }
}

/// The state a shard iterator carries: which shard of which stream, where to read next, and
/// when the iterator was issued.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShardIteratorToken {
    /// The namespace of the stream.
    pub namespace: Namespace,
    /// The stream's name.
    pub stream: StreamName,
    /// The incarnation of the stream that issued the iterator.
    pub incarnation: StreamIncarnation,
    /// The shard to read.
    pub shard: ShardId,
    /// The position of the next record to return: the first record at or after it.
    pub position: RecordPosition,
    /// When the iterator was issued, in milliseconds since the Unix epoch.
    pub issued_at_ms: u64,
}

/// The payload format version, first byte of every token.
const FORMAT_VERSION: u8 = 1;
/// Domain separation for the MAC, so the secret can sign other kinds of tokens safely.
const MAC_CONTEXT: &[u8] = b"strait shard iterator\0";
/// The length of the HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

impl ShardIteratorToken {
    /// Encodes and signs the token under `secret`, giving the opaque iterator string.
    pub fn encode(&self, secret: &[u8]) -> String {
        let mut bytes = self.payload();
        let tag = mac(secret, &bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Decodes an iterator string, checking its signature under `secret` and its age at
    /// `now_ms`.
    ///
    /// Anything not produced by [`encode`](Self::encode) with the same secret, including a
    /// token with any byte changed, is [`IteratorError::Invalid`]. A genuine token issued
    /// more than [`ITERATOR_TTL_MS`] before `now_ms` is [`IteratorError::Expired`].
    pub fn decode(token: &str, secret: &[u8], now_ms: u64) -> Result<ShardIteratorToken, IteratorError> {
        if token.len() > MAX_ITERATOR_LEN {
            return Err(IteratorError::Invalid);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| IteratorError::Invalid)?;
        let payload_len = bytes.len().checked_sub(TAG_LEN).ok_or(IteratorError::Invalid)?;
        let (payload, tag) = bytes.split_at(payload_len);
        mac(secret, payload)
            .verify_slice(tag)
            .map_err(|_| IteratorError::Invalid)?;
        let decoded = Self::parse_payload(payload).ok_or(IteratorError::Invalid)?;
        if decoded.is_expired(now_ms) {
            return Err(IteratorError::Expired {
                issued_at_ms: decoded.issued_at_ms,
                now_ms,
            });
        }
        Ok(decoded)
    }

    /// Tells whether the token is past its lifetime at `now_ms`. A token from the future
    /// (clock skew between nodes) is not expired.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms.saturating_sub(self.issued_at_ms) > ITERATOR_TTL_MS
    }

    /// Returns a token for the same shard at a new position, issued at `issued_at_ms`: the
    /// NextShardIterator of a GetRecords call.
    pub fn advanced_to(&self, position: RecordPosition, issued_at_ms: u64) -> ShardIteratorToken {
        ShardIteratorToken {
            position,
            issued_at_ms,
            ..self.clone()
        }
    }

    /// Serializes the fields in the fixed layout the module documentation describes.
    fn payload(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(96);
        buf.push(FORMAT_VERSION);
        buf.extend_from_slice(&self.issued_at_ms.to_be_bytes());
        buf.extend_from_slice(&self.incarnation.get().to_be_bytes());
        buf.extend_from_slice(&self.shard.0.to_be_bytes());
        buf.extend_from_slice(&self.position.index.to_be_bytes());
        buf.extend_from_slice(&self.position.offset.to_be_bytes());
        buf.extend_from_slice(self.namespace.account.as_str().as_bytes());
        put_short_str(&mut buf, self.namespace.region.as_str());
        put_short_str(&mut buf, self.stream.as_str());
        buf
    }

    /// Parses an authenticated payload. The MAC already vouches for it, but every field is
    /// still validated so that a payload from a different format version or a leaked
    /// secret cannot produce an ill-formed token.
    fn parse_payload(payload: &[u8]) -> Option<ShardIteratorToken> {
        let mut reader = Reader(payload);
        if reader.u8()? != FORMAT_VERSION {
            return None;
        }
        let issued_at_ms = reader.u64()?;
        let incarnation = StreamIncarnation::new(reader.u64()?)?;
        let shard = ShardId(reader.u32()?);
        let index = reader.u64()?;
        let offset = reader.u32()?;
        let account = AccountId::new(reader.str(AccountId::LEN)?).ok()?;
        let region_len = usize::from(reader.u8()?);
        let region = Region::new(reader.str(region_len)?).ok()?;
        let stream_len = usize::from(reader.u8()?);
        let stream = StreamName::new(reader.str(stream_len)?).ok()?;
        if !reader.0.is_empty() {
            return None;
        }
        Some(ShardIteratorToken {
            namespace: Namespace::new(account, region),
            stream,
            incarnation,
            shard,
            position: RecordPosition { index, offset },
            issued_at_ms,
        })
    }
}

/// Starts an HMAC-SHA256 over the context string and `payload`.
fn mac(secret: &[u8], payload: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(MAC_CONTEXT);
    mac.update(payload);
    mac
}

/// Appends a string of at most 255 bytes, preceded by its length in one byte.
fn put_short_str(buf: &mut Vec<u8>, s: &str) {
    let len = u8::try_from(s.len()).expect("regions and stream names are validated to fit");
    buf.push(len);
    buf.extend_from_slice(s.as_bytes());
}

/// A cursor over a byte slice that fails softly when the input runs short.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }

    fn u8(&mut self) -> Option<u8> {
        self.array::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_be_bytes)
    }

    fn str(&mut self, n: usize) -> Option<String> {
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
}

/// Why an iterator string was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum IteratorError {
    /// The string is malformed, was signed with another secret, or was altered.
    #[error("invalid shard iterator")]
    Invalid,
    /// The iterator is genuine but older than [`ITERATOR_TTL_MS`].
    #[error("shard iterator issued at {issued_at_ms} ms has expired at {now_ms} ms")]
    Expired {
        /// When the iterator was issued, in milliseconds since the Unix epoch.
        issued_at_ms: u64,
        /// The time it was presented, in milliseconds since the Unix epoch.
        now_ms: u64,
    },
}

impl From<IteratorError> for StraitError {
    /// Maps to Kinesis's answers: "Invalid ShardIterator." (InvalidArgumentException) or
    /// the ExpiredIteratorException text quoting both times.
    fn from(err: IteratorError) -> StraitError {
        match err {
            IteratorError::Invalid => StraitError::invalid_iterator(),
            IteratorError::Expired { issued_at_ms, now_ms } => {
                StraitError::expired_iterator(issued_at_ms, now_ms)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECRET: &[u8] = b"cluster secret for tests";
    const NOW: u64 = 1_700_000_000_000;

    fn stream(name: &str) -> StreamName {
        StreamName::new(name).expect("valid name")
    }

    fn account() -> AccountId {
        AccountId::default_account()
    }

    fn incarnation(value: u64) -> StreamIncarnation {
        StreamIncarnation::new(value).expect("in range")
    }

    fn token() -> ShardIteratorToken {
        ShardIteratorToken {
            namespace: Namespace::default(),
            stream: stream("orders"),
            incarnation: incarnation(7),
            shard: ShardId(3),
            position: RecordPosition::new(1234, 5),
            issued_at_ms: NOW,
        }
    }

    fn seq(inc: u64, shard: u32, index: u64) -> SequenceNumber {
        SequenceNumber::new(incarnation(inc), ShardId(shard), RecordPosition::new(index, 0)).expect("valid")
    }

    fn parse(
        type_name: &str,
        sequence_number: Option<&str>,
        timestamp_ms: Option<u64>,
    ) -> StraitResult<IteratorType> {
        IteratorType::parse(
            type_name,
            sequence_number,
            timestamp_ms,
            ShardId(0),
            &stream("s"),
            &account(),
        )
    }

    #[test]
    fn kinds_round_trip_through_kinesis_names() {
        for kind in IteratorKind::ALL {
            assert_eq!(IteratorKind::parse(kind.as_kinesis_str()), Some(kind));
        }
        assert_eq!(IteratorKind::parse("latest"), None);
        assert_eq!(
            IteratorKind::violations("SOON", "shardIteratorType")[0].to_string(),
            "Value 'SOON' at 'shardIteratorType' failed to satisfy constraint: Member must \
             satisfy enum value set: [AT_SEQUENCE_NUMBER, AFTER_SEQUENCE_NUMBER, TRIM_HORIZON, \
             LATEST, AT_TIMESTAMP]"
        );
    }

    #[test]
    fn parses_each_iterator_type() {
        let number = seq(1, 0, 9);
        let text = number.to_string();
        assert_eq!(parse("TRIM_HORIZON", None, None), Ok(IteratorType::TrimHorizon));
        assert_eq!(parse("LATEST", None, Some(5)), Ok(IteratorType::Latest));
        assert_eq!(
            parse("AT_TIMESTAMP", None, Some(5)),
            Ok(IteratorType::AtTimestamp(5))
        );
        assert_eq!(
            parse("AT_SEQUENCE_NUMBER", Some(&text), None),
            Ok(IteratorType::AtSequenceNumber(number))
        );
        assert_eq!(
            parse("AFTER_SEQUENCE_NUMBER", Some(&text), None),
            Ok(IteratorType::AfterSequenceNumber(number))
        );
    }

    #[test]
    fn reports_kinesis_errors_for_bad_combinations() {
        let err = parse("LATEST", Some("5"), None).expect_err("LATEST takes no number");
        assert!(
            err.message()
                .ends_with("Request specified LATEST and also a StartingSequenceNumber.")
        );
        let err = parse("AFTER_SEQUENCE_NUMBER", None, None).expect_err("number required");
        assert!(
            err.message()
                .ends_with("Request specified AFTER_SEQUENCE_NUMBER and no StartingSequenceNumber.")
        );
        let err = parse("AT_TIMESTAMP", None, None).expect_err("timestamp required");
        assert_eq!(
            err.message(),
            "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. Current \
             request has no timestamp parameter."
        );
        let err = parse("AT_SEQUENCE_NUMBER", Some("5"), None).expect_err("undecodable");
        assert_eq!(
            err.message(),
            "StartingSequenceNumber 5 used in GetShardIterator on shard shardId-000000000000 in \
             stream s under account 000000000000 is invalid."
        );
        let err = parse("NEWEST", Some("x"), None).expect_err("two violations");
        assert!(err.message().starts_with("2 validation errors detected: "));
        let err = parse("AT_SEQUENCE_NUMBER", Some("01"), None).expect_err("pattern");
        assert_eq!(err.kinesis_type(), "ValidationException");
    }

    #[test]
    fn origin_check_names_the_wrong_shard_or_stream() {
        let here = IteratorType::AtSequenceNumber(seq(7, 2, 1));
        let check = |it: IteratorType| it.check_origin(incarnation(7), ShardId(2), &stream("s"), &account());
        assert_eq!(check(here), Ok(()));
        assert_eq!(check(IteratorType::Latest), Ok(()));
        let err = check(IteratorType::AfterSequenceNumber(seq(7, 1, 1))).expect_err("other shard");
        assert_eq!(
            err.message(),
            "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was used \
             in a call to a shard with shardId-000000000002"
        );
        let old = seq(6, 2, 1);
        let err = check(IteratorType::AtSequenceNumber(old)).expect_err("old stream");
        assert_eq!(
            err.message(),
            format!(
                "StartingSequenceNumber {old} used in GetShardIterator on shard \
                 shardId-000000000002 in stream s under account 000000000000 is invalid because \
                 it did not come from this stream."
            )
        );
    }

    #[test]
    fn timestamps_in_the_future_are_refused() {
        assert_eq!(IteratorType::AtTimestamp(NOW).check_timestamp(NOW), Ok(()));
        let err = IteratorType::AtTimestamp(NOW + 1)
            .check_timestamp(NOW)
            .expect_err("future");
        assert_eq!(
            err.message(),
            format!(
                "The timestampInMillis parameter cannot be greater than the \
                 currentTimestampInMillis. timestampInMillis: {}, currentTimestampInMillis: {NOW}",
                NOW + 1
            )
        );
        assert_eq!(IteratorType::Latest.check_timestamp(0), Ok(()));
    }

    #[test]
    fn sequence_positions_for_at_and_after() {
        let number = seq(1, 0, 9);
        assert_eq!(
            IteratorType::AtSequenceNumber(number).sequence_position(),
            Some(RecordPosition::new(9, 0))
        );
        assert_eq!(
            IteratorType::AfterSequenceNumber(number).sequence_position(),
            Some(RecordPosition::new(9, 1))
        );
        assert_eq!(IteratorType::TrimHorizon.sequence_position(), None);
    }

    #[test]
    fn token_round_trips() {
        let original = token();
        let encoded = original.encode(SECRET);
        assert_eq!(ShardIteratorToken::decode(&encoded, SECRET, NOW), Ok(original));
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
    }

    #[test]
    fn longest_token_fits_the_kinesis_limit() {
        let longest = ShardIteratorToken {
            namespace: Namespace::new(
                AccountId::new("999999999999").expect("valid"),
                Region::new("x".repeat(Region::MAX_LEN)).expect("valid"),
            ),
            stream: stream(&"s".repeat(StreamName::MAX_LEN)),
            incarnation: StreamIncarnation::MAX,
            shard: ShardId(u32::MAX),
            position: RecordPosition::new(u64::MAX, u32::MAX),
            issued_at_ms: u64::MAX,
        };
        let encoded = longest.encode(SECRET);
        assert!(encoded.len() <= MAX_ITERATOR_LEN, "{} chars", encoded.len());
        assert_eq!(ShardIteratorToken::decode(&encoded, SECRET, 0), Ok(longest));
    }

    #[test]
    fn changing_any_character_invalidates_the_token() {
        let encoded = token().encode(SECRET);
        for i in 0..encoded.len() {
            for replacement in ['A', 'z', '0', '-', '_'] {
                let mut chars: Vec<char> = encoded.chars().collect();
                if chars[i] == replacement {
                    continue;
                }
                chars[i] = replacement;
                let tampered: String = chars.into_iter().collect();
                assert_eq!(
                    ShardIteratorToken::decode(&tampered, SECRET, NOW),
                    Err(IteratorError::Invalid),
                    "character {i} replaced by {replacement}"
                );
            }
        }
    }

    #[test]
    fn flipping_any_bit_invalidates_the_token() {
        let bytes = URL_SAFE_NO_PAD
            .decode(token().encode(SECRET))
            .expect("valid base64");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut tampered = bytes.clone();
                tampered[i] ^= 1 << bit;
                let tampered = URL_SAFE_NO_PAD.encode(tampered);
                assert_eq!(
                    ShardIteratorToken::decode(&tampered, SECRET, NOW),
                    Err(IteratorError::Invalid),
                    "byte {i} bit {bit}"
                );
            }
        }
    }

    #[test]
    fn other_secrets_truncation_and_garbage_are_invalid() {
        let encoded = token().encode(SECRET);
        let invalid = Err(IteratorError::Invalid);
        assert_eq!(ShardIteratorToken::decode(&encoded, b"other", NOW), invalid);
        assert_eq!(
            ShardIteratorToken::decode(&encoded[..encoded.len() - 1], SECRET, NOW),
            invalid
        );
        assert_eq!(
            ShardIteratorToken::decode(&format!("{encoded}A"), SECRET, NOW),
            invalid
        );
        assert_eq!(
            ShardIteratorToken::decode(&format!("{encoded}AA"), SECRET, NOW),
            invalid
        );
        assert_eq!(ShardIteratorToken::decode("", SECRET, NOW), invalid);
        assert_eq!(ShardIteratorToken::decode("AAAAAAAAAA", SECRET, NOW), invalid);
        assert_eq!(ShardIteratorToken::decode("not base64!", SECRET, NOW), invalid);
        assert_eq!(ShardIteratorToken::decode(&"A".repeat(600), SECRET, NOW), invalid);
        // A correctly signed payload of the wrong shape is still refused.
        let mut forged = vec![FORMAT_VERSION + 1];
        let tag = mac(SECRET, &forged).finalize().into_bytes();
        forged.extend_from_slice(&tag);
        assert_eq!(
            ShardIteratorToken::decode(&URL_SAFE_NO_PAD.encode(forged), SECRET, NOW),
            invalid
        );
    }

    #[test]
    fn tokens_expire_after_five_minutes() {
        let encoded = token().encode(SECRET);
        assert!(ShardIteratorToken::decode(&encoded, SECRET, NOW + ITERATOR_TTL_MS).is_ok());
        assert!(ShardIteratorToken::decode(&encoded, SECRET, NOW - 1_000).is_ok());
        let expired = ShardIteratorToken::decode(&encoded, SECRET, NOW + ITERATOR_TTL_MS + 1);
        assert_eq!(
            expired,
            Err(IteratorError::Expired {
                issued_at_ms: NOW,
                now_ms: NOW + ITERATOR_TTL_MS + 1
            })
        );
        let err = StraitError::from(expired.expect_err("expired"));
        assert_eq!(err.kinesis_type(), "ExpiredIteratorException");
        assert_eq!(
            StraitError::from(IteratorError::Invalid).message(),
            "Invalid ShardIterator."
        );
    }

    #[test]
    fn advancing_keeps_the_shard_and_renews_the_lifetime() {
        let next = token().advanced_to(RecordPosition::new(2000, 0), NOW + 1);
        assert_eq!(next.shard, ShardId(3));
        assert_eq!(next.position, RecordPosition::new(2000, 0));
        assert_eq!(next.issued_at_ms, NOW + 1);
    }

    fn any_token() -> impl Strategy<Value = ShardIteratorToken> {
        (
            ("[0-9]{12}", "[a-z0-9-]{1,32}", "[a-zA-Z0-9_.-]{1,128}"),
            0..=StreamIncarnation::MAX.get(),
            any::<u32>(),
            (any::<u64>(), any::<u32>()),
            any::<u64>(),
        )
            .prop_map(|((acct, region, name), inc, shard, (index, offset), issued)| {
                ShardIteratorToken {
                    namespace: Namespace::new(
                        AccountId::new(acct).expect("valid"),
                        Region::new(region).expect("valid"),
                    ),
                    stream: StreamName::new(name).expect("valid"),
                    incarnation: incarnation(inc),
                    shard: ShardId(shard),
                    position: RecordPosition::new(index, offset),
                    issued_at_ms: issued,
                }
            })
    }

    proptest! {
        #[test]
        fn any_token_round_trips_within_the_limit(
            original in any_token(),
            secret in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let encoded = original.encode(&secret);
            prop_assert!(encoded.len() <= MAX_ITERATOR_LEN);
            let decoded = ShardIteratorToken::decode(&encoded, &secret, original.issued_at_ms);
            prop_assert_eq!(decoded, Ok(original));
        }

        #[test]
        fn decoding_garbage_never_panics_and_is_invalid(text in "\\PC{0,600}") {
            prop_assert_eq!(
                ShardIteratorToken::decode(&text, SECRET, NOW),
                Err(IteratorError::Invalid)
            );
        }
    }
}
