//! Sequence numbers: where a record sits in its shard, written as Kinesis writes it.
//!
//! Each shard is a Raft group, and a record is committed as part of one Raft log entry (the
//! leader batches concurrent puts into one entry). The pair (log index of that entry,
//! position of the record within it) is the record's [`RecordPosition`]. It is assigned by
//! the log itself, so every replica derives the same position for the same record with no
//! coordination, and positions rise strictly in commit order.
//!
//! A [`SequenceNumber`] is that position, qualified by the shard and the stream incarnation,
//! rendered as a 56-digit decimal string like the ones AWS issues:
//!
//! ```text
//! 49 0000000000000000007 0000000003 00000000000000001234 00002
//! ^^ ^^^^^^^^^^^^^^^^^^^ ^^^^^^^^^^ ^^^^^^^^^^^^^^^^^^^^ ^^^^^
//!  |  stream incarnation  shard      Raft log index       offset in the entry
//!  |  (19 digits)         ordinal    (20 digits)          (5 digits)
//!  version prefix         (10 digits)
//! ```
//!
//! Every field has a fixed width, so comparing two sequence numbers as strings, as big
//! integers, or as Rust values gives the same answer. Clients such as the KCL and Flink rely
//! on the numeric order within a shard. The shard and incarnation fields let
//! GetShardIterator explain precisely why a number does not belong to the shard it was used
//! with. A shard's StartingSequenceNumber is the number at [`RecordPosition::START`], below
//! every record, since Raft log indices start at 1.
//!
//! On input, Kinesis's model accepts any decimal string matching `0|([1-9]\d{0,128})`. Text
//! outside the pattern is a validation error; a number inside the pattern that Strait could
//! not have issued is "invalid" in the InvalidArgumentException sense. [`SequenceNumber::parse`]
//! tells the two apart.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::Violation;
use crate::shard::ShardId;
use crate::stream::StreamIncarnation;

/// A record's place in its shard's Raft log: the index of the entry that committed it and
/// the record's offset within that entry. Positions order by index, then offset, which is
/// commit order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RecordPosition {
    /// The Raft log index of the entry that committed the record.
    pub index: u64,
    /// The record's position within that entry, from 0.
    pub offset: u32,
}

impl RecordPosition {
    /// The position before every record: Raft log indices start at 1, so no record is at
    /// index 0.
    pub const START: RecordPosition = RecordPosition { index: 0, offset: 0 };

    /// Builds a position.
    pub const fn new(index: u64, offset: u32) -> RecordPosition {
        RecordPosition { index, offset }
    }

    /// Returns the smallest position after this one. A reader positioned there sees every
    /// record after this one and not this one, which is what AFTER_SEQUENCE_NUMBER means.
    pub const fn successor(self) -> RecordPosition {
        if self.offset < u32::MAX {
            RecordPosition {
                index: self.index,
                offset: self.offset + 1,
            }
        } else {
            RecordPosition {
                index: self.index.saturating_add(1),
                offset: 0,
            }
        }
    }
}

impl fmt::Display for RecordPosition {
    /// Renders `index.offset`, for logs and test scripts.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.index, self.offset)
    }
}

/// A Kinesis sequence number as Strait issues it: stream incarnation, shard and record
/// position, rendered as exactly 56 decimal digits.
///
/// The derived order compares incarnation, then shard, then position, which is also the
/// order of the rendered strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SequenceNumber {
    incarnation: StreamIncarnation,
    shard: ShardId,
    position: RecordPosition,
}

/// Field widths of the rendered form, in digits.
const PREFIX: &str = "49";
const INCARNATION_DIGITS: usize = 19;
const SHARD_DIGITS: usize = 10;
const INDEX_DIGITS: usize = 20;
const OFFSET_DIGITS: usize = 5;

impl SequenceNumber {
    /// The length of every sequence number Strait issues.
    pub const LEN: usize = PREFIX.len() + INCARNATION_DIGITS + SHARD_DIGITS + INDEX_DIGITS + OFFSET_DIGITS;
    /// The largest offset within one Raft entry that a sequence number can carry. Batches
    /// must hold at most `MAX_OFFSET + 1` records.
    pub const MAX_OFFSET: u32 = 99_999;
    /// The model's pattern for sequence numbers, as quoted in validation messages.
    pub const PATTERN: &'static str = r"0|([1-9]\d{0,128})";
    /// The most digits the pattern allows.
    const MAX_PATTERN_DIGITS: usize = 129;

    /// Builds the sequence number of the record at `position` in `shard`, or `None` if the
    /// position's offset exceeds [`MAX_OFFSET`](Self::MAX_OFFSET).
    pub const fn new(
        incarnation: StreamIncarnation,
        shard: ShardId,
        position: RecordPosition,
    ) -> Option<SequenceNumber> {
        if position.offset <= Self::MAX_OFFSET {
            Some(SequenceNumber {
                incarnation,
                shard,
                position,
            })
        } else {
            None
        }
    }

    /// Returns a shard's StartingSequenceNumber: the number at [`RecordPosition::START`],
    /// below every record the shard will hold.
    pub const fn starting(incarnation: StreamIncarnation, shard: ShardId) -> SequenceNumber {
        SequenceNumber {
            incarnation,
            shard,
            position: RecordPosition::START,
        }
    }

    /// Returns the incarnation of the stream that issued the number.
    pub const fn incarnation(&self) -> StreamIncarnation {
        self.incarnation
    }

    /// Returns the shard the number belongs to.
    pub const fn shard(&self) -> ShardId {
        self.shard
    }

    /// Returns the record position the number encodes.
    pub const fn position(&self) -> RecordPosition {
        self.position
    }

    /// Parses a sequence number given by a client.
    ///
    /// Text that does not match `0|([1-9]\d{0,128})` is
    /// [`SequenceNumberError::Pattern`]; a decimal number that is not a 56-digit Strait
    /// sequence number is [`SequenceNumberError::Undecodable`].
    pub fn parse(text: &str) -> Result<SequenceNumber, SequenceNumberError> {
        if !Self::matches_pattern(text) {
            return Err(SequenceNumberError::Pattern {
                text: text.to_owned(),
            });
        }
        Self::decode(text).ok_or_else(|| SequenceNumberError::Undecodable {
            text: text.to_owned(),
        })
    }

    /// Decodes a string known to be all ASCII digits.
    fn decode(text: &str) -> Option<SequenceNumber> {
        if text.len() != Self::LEN || !text.starts_with(PREFIX) {
            return None;
        }
        let mut rest = &text[PREFIX.len()..];
        let mut field = |digits: usize| {
            let (head, tail) = rest.split_at(digits);
            rest = tail;
            // All digits, so the only failure is overflow of the target type.
            head.parse::<u64>().ok()
        };
        let incarnation = StreamIncarnation::new(field(INCARNATION_DIGITS)?)?;
        let shard = ShardId(u32::try_from(field(SHARD_DIGITS)?).ok()?);
        let index = field(INDEX_DIGITS)?;
        let offset = u32::try_from(field(OFFSET_DIGITS)?).ok()?;
        SequenceNumber::new(incarnation, shard, RecordPosition { index, offset })
    }

    /// Tells whether `text` matches the model pattern `0|([1-9]\d{0,128})`.
    pub fn matches_pattern(text: &str) -> bool {
        let bytes = text.as_bytes();
        match bytes {
            [] => false,
            [b'0'] => true,
            [first, ..] => {
                bytes.len() <= Self::MAX_PATTERN_DIGITS
                    && (b'1'..=b'9').contains(first)
                    && bytes.iter().all(u8::is_ascii_digit)
            }
        }
    }

    /// Lists the model constraints `value` breaks as a sequence number, reported at `field`
    /// (e.g. `startingSequenceNumber`, `sequenceNumberForOrdering`).
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        if Self::matches_pattern(value) {
            Vec::new()
        } else {
            vec![Violation::pattern(value, field, Self::PATTERN)]
        }
    }
}

impl fmt::Display for SequenceNumber {
    /// Renders the 56-digit decimal form. Every put's answer and every record read carries
    /// one, so the digits are written straight into a buffer on the stack rather than
    /// through four padded integer formats.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; Self::LEN];
        let (prefix, rest) = out.split_at_mut(PREFIX.len());
        prefix.copy_from_slice(PREFIX.as_bytes());
        let (incarnation, rest) = rest.split_at_mut(INCARNATION_DIGITS);
        let (shard, rest) = rest.split_at_mut(SHARD_DIGITS);
        let (index, offset) = rest.split_at_mut(INDEX_DIGITS);
        let fits = zero_padded(incarnation, self.incarnation.get())
            & zero_padded(shard, u64::from(self.shard.0))
            & zero_padded(index, self.position.index)
            & zero_padded(offset, u64::from(self.position.offset));
        match std::str::from_utf8(&out) {
            Ok(digits) if fits => f.write_str(digits),
            // Not reached for numbers built by `new` or `parse`; kept exact regardless.
            _ => write!(
                f,
                "{PREFIX}{:019}{:010}{:020}{:05}",
                self.incarnation.get(),
                self.shard.0,
                self.position.index,
                self.position.offset
            ),
        }
    }
}

/// Writes `value` in decimal into all of `out`, zero-padded on the left. Returns whether
/// it fit.
pub(crate) fn zero_padded(out: &mut [u8], mut value: u64) -> bool {
    for digit in out.iter_mut().rev() {
        *digit = b'0' + (value % 10) as u8;
        value /= 10;
    }
    value == 0
}

impl FromStr for SequenceNumber {
    type Err = SequenceNumberError;

    fn from_str(s: &str) -> Result<Self, SequenceNumberError> {
        SequenceNumber::parse(s)
    }
}

impl Serialize for SequenceNumber {
    /// Serializes as the 56-digit string, the Kinesis wire form.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SequenceNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        SequenceNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a Strait sequence number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SequenceNumberError {
    /// The text does not match `0|([1-9]\d{0,128})`. Kinesis reports this as a
    /// ValidationException.
    #[error("sequence number '{text}' does not match the pattern 0|([1-9]\\d{{0,128}})")]
    Pattern {
        /// The text that was given.
        text: String,
    },
    /// The text is a valid decimal number, but not one Strait issues. Kinesis reports this
    /// as an InvalidArgumentException naming the operation.
    #[error("sequence number {text} was not issued by this service")]
    Undecodable {
        /// The text that was given.
        text: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn incarnation(value: u64) -> StreamIncarnation {
        StreamIncarnation::new(value).expect("in range")
    }

    fn seq(inc: u64, shard: u32, index: u64, offset: u32) -> SequenceNumber {
        SequenceNumber::new(
            incarnation(inc),
            ShardId(shard),
            RecordPosition::new(index, offset),
        )
        .expect("offset in range")
    }

    #[test]
    fn renders_fifty_six_digits_field_by_field() {
        let number = seq(7, 3, 1234, 2);
        assert_eq!(
            number.to_string(),
            "49000000000000000000700000000030000000000000000123400002"
        );
        assert_eq!(number.to_string().len(), SequenceNumber::LEN);
        assert_eq!(SequenceNumber::LEN, 56);
        let max = seq(
            StreamIncarnation::MAX.get(),
            u32::MAX,
            u64::MAX,
            SequenceNumber::MAX_OFFSET,
        );
        assert_eq!(
            max.to_string(),
            "49999999999999999999942949672951844674407370955161599999"
        );
    }

    proptest! {
        #[test]
        fn renders_like_padded_integer_formats(
            inc in 0..=StreamIncarnation::MAX.get(),
            shard in any::<u32>(),
            index in any::<u64>(),
            offset in 0..=SequenceNumber::MAX_OFFSET,
        ) {
            let number = seq(inc, shard, index, offset);
            prop_assert_eq!(number.to_string(), format!("{PREFIX}{inc:019}{shard:010}{index:020}{offset:05}"));
        }
    }

    #[test]
    fn starting_number_is_below_every_record() {
        let start = SequenceNumber::starting(incarnation(1), ShardId(0));
        assert_eq!(start.position(), RecordPosition::START);
        assert!(start < seq(1, 0, 1, 0));
        assert_eq!(
            start.to_string(),
            "49000000000000000000100000000000000000000000000000000000"
        );
    }

    #[test]
    fn foreign_numbers_of_the_same_shape_decode_but_name_another_stream() {
        // An AWS-issued number happens to have Strait's shape. It decodes, and is then
        // rejected because its incarnation and shard fields name no stream Strait created.
        let aws = SequenceNumber::parse("49546986683135544286507457936321625675700192471156785154")
            .expect("same shape as a Strait number");
        assert_eq!(aws.incarnation().get(), 5_469_866_831_355_442_865);
        assert_eq!(aws.shard(), ShardId(745_793_632));
    }

    #[test]
    fn accessors_return_the_parts() {
        let number = seq(5, 6, 7, 8);
        assert_eq!(number.incarnation(), incarnation(5));
        assert_eq!(number.shard(), ShardId(6));
        assert_eq!(number.position(), RecordPosition::new(7, 8));
    }

    #[test]
    fn offsets_above_the_field_width_are_refused() {
        let position = RecordPosition::new(1, SequenceNumber::MAX_OFFSET + 1);
        assert!(SequenceNumber::new(incarnation(1), ShardId(0), position).is_none());
    }

    #[test]
    fn distinguishes_pattern_errors_from_undecodable_numbers() {
        for bad in ["", "01", "-1", "1 ", "abc", "4.9", &"1".repeat(130)] {
            assert!(
                matches!(
                    SequenceNumber::parse(bad),
                    Err(SequenceNumberError::Pattern { .. })
                ),
                "{bad:?}"
            );
        }
        for undecodable in [
            "0",
            "5",
            // Too short and too long by one digit.
            "4900000000000000000070000000003000000000000000012340000",
            "490000000000000000007000000000300000000000000001234000020",
            // Right length, wrong prefix.
            "50000000000000000000700000000030000000000000000123400002",
            // Shard field above u32::MAX.
            "49000000000000000000799999999990000000000000000123400002",
            // Index field above u64::MAX.
            "49000000000000000000700000000039999999999999999999900002",
            &"1".repeat(129),
        ] {
            assert!(
                matches!(
                    SequenceNumber::parse(undecodable),
                    Err(SequenceNumberError::Undecodable { .. })
                ),
                "{undecodable}"
            );
        }
    }

    #[test]
    fn violations_quote_the_model_pattern() {
        assert!(SequenceNumber::violations("123", "startingSequenceNumber").is_empty());
        assert_eq!(
            SequenceNumber::violations("x", "startingSequenceNumber")[0].to_string(),
            "Value 'x' at 'startingSequenceNumber' failed to satisfy constraint: Member must \
             satisfy regular expression pattern: 0|([1-9]\\d{0,128})"
        );
    }

    #[test]
    fn successor_is_the_next_position() {
        assert_eq!(RecordPosition::new(4, 2).successor(), RecordPosition::new(4, 3));
        assert_eq!(
            RecordPosition::new(4, u32::MAX).successor(),
            RecordPosition::new(5, 0)
        );
        assert!(RecordPosition::new(4, 2) < RecordPosition::new(4, 2).successor());
        assert!(RecordPosition::new(4, 3).successor() < RecordPosition::new(5, 0));
    }

    #[test]
    fn serializes_as_the_decimal_string() {
        let number = seq(1, 2, 3, 4);
        let json = serde_json::to_string(&number).expect("serializes");
        assert_eq!(json, format!("\"{number}\""));
        assert_eq!(
            serde_json::from_str::<SequenceNumber>(&json).expect("parses"),
            number
        );
        let bytes = postcard::to_allocvec(&number).expect("serializes");
        assert_eq!(
            postcard::from_bytes::<SequenceNumber>(&bytes).expect("parses"),
            number
        );
    }

    fn any_sequence_number() -> impl Strategy<Value = SequenceNumber> {
        (
            0..=StreamIncarnation::MAX.get(),
            any::<u32>(),
            any::<u64>(),
            0..=SequenceNumber::MAX_OFFSET,
        )
            .prop_map(|(inc, shard, index, offset)| seq(inc, shard, index, offset))
    }

    proptest! {
        #[test]
        fn round_trips_through_text(number in any_sequence_number()) {
            let text = number.to_string();
            prop_assert_eq!(text.len(), SequenceNumber::LEN);
            prop_assert!(SequenceNumber::matches_pattern(&text));
            prop_assert_eq!(SequenceNumber::parse(&text), Ok(number));
        }

        #[test]
        fn order_matches_string_and_numeric_order(
            a in any_sequence_number(),
            b in any_sequence_number(),
        ) {
            let (ta, tb) = (a.to_string(), b.to_string());
            prop_assert_eq!(a.cmp(&b), ta.cmp(&tb));
            // Equal-length decimal strings compare as numbers.
            prop_assert_eq!(ta.len(), tb.len());
        }

        #[test]
        fn order_within_a_shard_follows_positions(
            inc in 0..=StreamIncarnation::MAX.get(),
            shard in any::<u32>(),
            a in (any::<u64>(), 0..=SequenceNumber::MAX_OFFSET),
            b in (any::<u64>(), 0..=SequenceNumber::MAX_OFFSET),
        ) {
            let (x, y) = (seq(inc, shard, a.0, a.1), seq(inc, shard, b.0, b.1));
            prop_assert_eq!(x.cmp(&y), x.position().cmp(&y.position()));
            prop_assert_eq!(x.to_string().cmp(&y.to_string()), a.cmp(&b));
        }

        #[test]
        fn parsing_never_panics(text in "[0-9a-z]{0,140}") {
            let _ = SequenceNumber::parse(&text);
        }

        #[test]
        fn any_56_digit_number_with_the_prefix_either_decodes_to_itself_or_is_undecodable(
            digits in "[0-9]{54}",
        ) {
            let text = format!("49{digits}");
            match SequenceNumber::parse(&text) {
                Ok(number) => prop_assert_eq!(number.to_string(), text),
                Err(err) => {
                    let is_undecodable = matches!(err, SequenceNumberError::Undecodable { .. });
                    prop_assert!(is_undecodable);
                }
            }
        }
    }
}
