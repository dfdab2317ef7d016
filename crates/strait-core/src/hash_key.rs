//! The 128-bit hash key that routes a record to a shard.
//!
//! Kinesis divides the integers 0 through 2^128 - 1 among a stream's open shards. A record's
//! position in that space is the MD5 digest of its partition key's UTF-8 bytes, read as one
//! unsigned big-endian 128-bit integer, unless the producer overrides it with an explicit hash
//! key. Strait computes it the same way, bit for bit, so that a producer that pre-computes
//! routing (the KPL does) and a stream migrated from Kinesis agree with Strait on which shard
//! owns which key.
//!
//! On the wire a hash key is a decimal string without leading zeros, matching the model
//! pattern `0|([1-9]\d{0,38})`. A string that matches the pattern but exceeds 2^128 - 1 is a
//! separate, semantic error (InvalidArgumentException rather than ValidationException), so
//! [`HashKey::parse_decimal`] reports the two cases apart.

use std::fmt;
use std::str::FromStr;

use md5::{Digest, Md5};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{StraitError, Violation};

/// A point in the 128-bit hash key space, `0 ..= 2^128 - 1`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HashKey(pub u128);

impl HashKey {
    /// The lowest hash key, 0.
    pub const MIN: HashKey = HashKey(0);
    /// The highest hash key, 2^128 - 1 = 340282366920938463463374607431768211455.
    pub const MAX: HashKey = HashKey(u128::MAX);
    /// The model's pattern for hash keys, as quoted in validation messages.
    pub const PATTERN: &'static str = r"0|([1-9]\d{0,38})";
    /// The most decimal digits the pattern allows.
    const MAX_DIGITS: usize = 39;

    /// Returns the hash key Kinesis assigns to a partition key: the MD5 digest of its UTF-8
    /// bytes, read as a big-endian unsigned integer.
    pub fn from_partition_key(partition_key: &str) -> HashKey {
        let digest: [u8; 16] = Md5::digest(partition_key.as_bytes()).into();
        HashKey(u128::from_be_bytes(digest))
    }

    /// Parses a decimal hash key as Kinesis accepts it.
    ///
    /// The text must match `0|([1-9]\d{0,38})` (no sign, no leading zeros, no spaces), else
    /// the error is [`HashKeyParseError::Pattern`]; it must also be at most 2^128 - 1, else
    /// the error is [`HashKeyParseError::OutOfRange`].
    pub fn parse_decimal(text: &str) -> Result<HashKey, HashKeyParseError> {
        if !Self::matches_pattern(text) {
            return Err(HashKeyParseError::Pattern {
                text: text.to_owned(),
            });
        }
        // The pattern guarantees plain ASCII digits, so the only possible failure is overflow.
        text.parse::<u128>()
            .map(HashKey)
            .map_err(|_| HashKeyParseError::OutOfRange {
                text: text.to_owned(),
            })
    }

    /// Tells whether `text` matches the model pattern `0|([1-9]\d{0,38})`.
    pub fn matches_pattern(text: &str) -> bool {
        let bytes = text.as_bytes();
        match bytes {
            [] => false,
            [b'0'] => true,
            [first, ..] => {
                bytes.len() <= Self::MAX_DIGITS
                    && (b'1'..=b'9').contains(first)
                    && bytes.iter().all(u8::is_ascii_digit)
            }
        }
    }

    /// Lists the model constraints `value` breaks as a hash key, reported at `field`. The
    /// range check is not a model constraint and is not included.
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        if Self::matches_pattern(value) {
            Vec::new()
        } else {
            vec![Violation::pattern(value, field, Self::PATTERN)]
        }
    }

    /// Returns the key as an integer.
    pub const fn get(self) -> u128 {
        self.0
    }
}

impl fmt::Display for HashKey {
    /// Renders the key in decimal without leading zeros, as Kinesis does.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u128> for HashKey {
    fn from(value: u128) -> Self {
        HashKey(value)
    }
}

impl From<HashKey> for u128 {
    fn from(key: HashKey) -> Self {
        key.0
    }
}

impl FromStr for HashKey {
    type Err = HashKeyParseError;

    fn from_str(s: &str) -> Result<Self, HashKeyParseError> {
        HashKey::parse_decimal(s)
    }
}

impl Serialize for HashKey {
    /// Serializes as a decimal string, the Kinesis wire form, so that formats without 128-bit
    /// integers (JSON readers in most languages) keep every digit.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HashKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        HashKey::parse_decimal(&text).map_err(serde::de::Error::custom)
    }
}

/// Why a string is not a hash key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashKeyParseError {
    /// The text does not match `0|([1-9]\d{0,38})`. Kinesis reports this as a
    /// ValidationException.
    #[error("hash key '{text}' does not match the pattern 0|([1-9]\\d{{0,38}})")]
    Pattern {
        /// The text that was given.
        text: String,
    },
    /// The text is a decimal number above 2^128 - 1. Kinesis reports this as an
    /// InvalidArgumentException.
    #[error("hash key {text} is outside the range [0, 2^128-1]")]
    OutOfRange {
        /// The text that was given.
        text: String,
    },
}

impl HashKeyParseError {
    /// Converts the error to the Kinesis error for the member at `field` (lowerCamelCase,
    /// e.g. `explicitHashKey` or `records.2.member.explicitHashKey`): a ValidationException
    /// for a pattern mismatch, an InvalidArgumentException for a value out of range.
    pub fn into_error(self, field: &str) -> StraitError {
        match self {
            HashKeyParseError::Pattern { text } => {
                StraitError::validation(vec![Violation::pattern(text, field, HashKey::PATTERN)])
            }
            HashKeyParseError::OutOfRange { text } => StraitError::hash_key_out_of_range(field, &text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn md5_routing_matches_the_kinesis_test_vectors() {
        let vectors = [
            ("a", 16955237001963240173058271559858726497u128),
            ("b", 195289424170611159128911017612795795343),
            ("e", 299611584147932843547128611849858313266),
            ("f", 190917122200326810055233066464581373159),
        ];
        for (key, expected) in vectors {
            assert_eq!(HashKey::from_partition_key(key), HashKey(expected), "{key}");
        }
    }

    #[test]
    fn md5_of_non_ascii_keys_uses_utf8_bytes() {
        // "é" is the two UTF-8 bytes C3 A9; the digest is taken over exactly those bytes.
        let from_str = HashKey::from_partition_key("é");
        let digest: [u8; 16] = Md5::digest([0xC3u8, 0xA9]).into();
        assert_eq!(from_str, HashKey(u128::from_be_bytes(digest)));
    }

    #[test]
    fn parses_the_bounds() {
        assert_eq!(HashKey::parse_decimal("0"), Ok(HashKey::MIN));
        assert_eq!(
            HashKey::parse_decimal("340282366920938463463374607431768211455"),
            Ok(HashKey::MAX)
        );
        assert_eq!(
            HashKey::MAX.to_string(),
            "340282366920938463463374607431768211455"
        );
    }

    #[test]
    fn rejects_text_outside_the_pattern() {
        for bad in [
            "",
            "00",
            "01",
            "-1",
            "+1",
            " 1",
            "1 ",
            "1.0",
            "sth",
            "１",
            &"1".repeat(40),
        ] {
            assert_eq!(
                HashKey::parse_decimal(bad),
                Err(HashKeyParseError::Pattern { text: bad.to_owned() }),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn rejects_values_above_the_space() {
        for big in [
            "340282366920938463463374607431768211456",
            "999999999999999999999999999999999999999",
        ] {
            assert_eq!(
                HashKey::parse_decimal(big),
                Err(HashKeyParseError::OutOfRange { text: big.to_owned() })
            );
        }
    }

    #[test]
    fn parse_errors_become_kinesis_errors() {
        let err = HashKey::parse_decimal("sth")
            .expect_err("not a number")
            .into_error("newStartingHashKey");
        assert_eq!(
            err.message(),
            "1 validation error detected: Value 'sth' at 'newStartingHashKey' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"
        );
        let err = HashKey::parse_decimal("340282366920938463463374607431768211456")
            .expect_err("too big")
            .into_error("explicitHashKey");
        assert_eq!(err.kinesis_type(), "InvalidArgumentException");
        assert_eq!(
            err.message(),
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. \
             Specified value was 340282366920938463463374607431768211456"
        );
    }

    #[test]
    fn serializes_as_a_decimal_string() {
        let json = serde_json::to_string(&HashKey::MAX).expect("serializes");
        assert_eq!(json, "\"340282366920938463463374607431768211455\"");
        let back: HashKey = serde_json::from_str(&json).expect("deserializes");
        assert_eq!(back, HashKey::MAX);
        assert!(serde_json::from_str::<HashKey>("\"007\"").is_err());
        let bytes = postcard::to_allocvec(&HashKey(12345)).expect("serializes");
        assert_eq!(
            postcard::from_bytes::<HashKey>(&bytes).expect("deserializes"),
            HashKey(12345)
        );
    }

    proptest! {
        #[test]
        fn decimal_round_trips(value in any::<u128>()) {
            let key = HashKey(value);
            prop_assert_eq!(HashKey::parse_decimal(&key.to_string()), Ok(key));
        }

        #[test]
        fn parsing_agrees_with_the_pattern(text in "[0-9+ -]{0,41}") {
            match HashKey::parse_decimal(&text) {
                Ok(key) => prop_assert_eq!(key.to_string(), text),
                Err(HashKeyParseError::Pattern { .. }) => {
                    prop_assert!(!HashKey::matches_pattern(&text));
                }
                Err(HashKeyParseError::OutOfRange { .. }) => {
                    prop_assert!(HashKey::matches_pattern(&text));
                    prop_assert_eq!(text.len(), 39);
                }
            }
        }

        #[test]
        fn routing_is_md5_big_endian(key in "\\PC{1,64}") {
            let digest: [u8; 16] = Md5::digest(key.as_bytes()).into();
            let expected = digest.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
            prop_assert_eq!(HashKey::from_partition_key(&key), HashKey(expected));
        }
    }
}
