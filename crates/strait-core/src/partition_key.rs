//! The partition key a producer attaches to each record.
//!
//! The partition key decides where a record goes: its MD5 digest is the record's
//! [`HashKey`], and the open shard whose range contains that key receives the record. Records
//! with the same partition key therefore land on the same shard, in order, for as long as the
//! shard stays open. The key is stored with the record and returned to consumers.
//!
//! Kinesis limits keys to 1 to 256 Unicode characters, counted as characters rather than
//! bytes, while the record size limit counts the key's UTF-8 bytes; both numbers are offered
//! here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{StraitError, StraitResult, Violation};
use crate::hash_key::HashKey;

/// A record's partition key: 1 to 256 Unicode characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PartitionKey(String);

impl PartitionKey {
    /// The longest allowed key, in Unicode characters.
    pub const MAX_CHARS: usize = 256;

    /// Validates a partition key, reporting violations against the `partitionKey` member.
    pub fn new(key: impl Into<String>) -> StraitResult<Self> {
        let key = key.into();
        let violations = Self::violations(&key, "partitionKey");
        if violations.is_empty() {
            Ok(PartitionKey(key))
        } else {
            Err(StraitError::validation(violations))
        }
    }

    /// Lists the model constraints `value` breaks as a partition key, reported at `field`
    /// (e.g. `records.3.member.partitionKey` in PutRecords).
    pub fn violations(value: &str, field: &str) -> Vec<Violation> {
        let chars = value.chars().count();
        if chars < 1 {
            vec![Violation::min_length(value, field, 1)]
        } else if chars > Self::MAX_CHARS {
            vec![Violation::max_length(value, field, Self::MAX_CHARS)]
        } else {
            Vec::new()
        }
    }

    /// Returns the hash key this partition key routes to.
    pub fn hash_key(&self) -> HashKey {
        HashKey::from_partition_key(&self.0)
    }

    /// Returns the key's length in UTF-8 bytes, which is what counts toward a record's size.
    pub fn utf8_len(&self) -> usize {
        self.0.len()
    }

    /// Returns the key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Returns the key as an owned string.
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Display for PartitionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for PartitionKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl FromStr for PartitionKey {
    type Err = StraitError;

    fn from_str(s: &str) -> StraitResult<Self> {
        PartitionKey::new(s)
    }
}

impl TryFrom<String> for PartitionKey {
    type Error = StraitError;

    fn try_from(value: String) -> StraitResult<Self> {
        PartitionKey::new(value)
    }
}

impl From<PartitionKey> for String {
    fn from(key: PartitionKey) -> String {
        key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn counts_characters_not_bytes() {
        let key = "é".repeat(256);
        let parsed = PartitionKey::new(key.clone()).expect("256 characters are allowed");
        assert_eq!(parsed.utf8_len(), 512);
        assert!(PartitionKey::new(format!("{key}é")).is_err());
    }

    #[test]
    fn reports_kinesis_messages() {
        let err = PartitionKey::new("").expect_err("empty");
        assert_eq!(
            err.message(),
            "1 validation error detected: Value '' at 'partitionKey' failed to satisfy \
             constraint: Member must have length greater than or equal to 1"
        );
        let long = "k".repeat(257);
        let err = PartitionKey::new(long.clone()).expect_err("too long");
        assert_eq!(
            err.message(),
            format!(
                "1 validation error detected: Value '{long}' at 'partitionKey' failed to satisfy \
                 constraint: Member must have length less than or equal to 256"
            )
        );
        assert_eq!(
            PartitionKey::violations("", "records.2.member.partitionKey")[0].field,
            "records.2.member.partitionKey"
        );
    }

    #[test]
    fn routes_by_md5() {
        let key = PartitionKey::new("a").expect("valid");
        assert_eq!(key.hash_key(), HashKey(16955237001963240173058271559858726497));
    }

    #[test]
    fn validates_when_deserialized() {
        assert!(serde_json::from_str::<PartitionKey>("\"\"").is_err());
        let key: PartitionKey = serde_json::from_str("\"k\"").expect("valid");
        assert_eq!(key.as_str(), "k");
    }

    proptest! {
        #[test]
        fn accepts_exactly_one_to_256_characters(key in "\\PC{0,300}") {
            let chars = key.chars().count();
            prop_assert_eq!(PartitionKey::new(key).is_ok(), (1..=256).contains(&chars));
        }
    }
}
