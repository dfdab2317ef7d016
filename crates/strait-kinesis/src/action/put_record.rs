//! PutRecord: one record, routed by its partition key or explicit hash key.

use strait_core::service::PutRecordResult;
use strait_core::{HashKey, PartitionKey, Record, SequenceNumber, StraitError, StreamOperations, Violation};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// A record's members as sent, checked against the model.
pub struct RecordMembers {
    data: Option<Vec<u8>>,
    partition_key: Option<String>,
    explicit_hash_key: Option<String>,
    /// The member path prefix (`""` for PutRecord, `records.<n>.member.` for PutRecords).
    prefix: String,
}

impl RecordMembers {
    /// Reads a record's members, recording violations under `prefix`.
    pub fn read(input: &Input, prefix: &str, checks: &mut Checks) -> Result<RecordMembers, ApiError> {
        let data = input.blob("Data")?;
        if data.is_none() {
            checks.push(Violation::missing(format!("{prefix}data")));
        }
        let partition_key =
            checks.required_string(input, "PartitionKey", &format!("{prefix}partitionKey"))?;
        if let Some(key) = &partition_key {
            checks.extend(PartitionKey::violations(key, &format!("{prefix}partitionKey")));
        }
        let explicit_hash_key = input.string("ExplicitHashKey")?;
        if let Some(key) = &explicit_hash_key {
            checks.extend(HashKey::violations(key, &format!("{prefix}explicitHashKey")));
        }
        Ok(RecordMembers {
            data,
            partition_key,
            explicit_hash_key,
            prefix: prefix.to_owned(),
        })
    }

    /// Builds the record once the model checks passed; a hash key beyond 2^128-1 is an
    /// InvalidArgumentException.
    pub fn build(self) -> Result<Record, ApiError> {
        let key = PartitionKey::new(self.partition_key.unwrap_or_default())?;
        let mut record = Record::new(key, self.data.unwrap_or_default());
        if let Some(text) = self.explicit_hash_key {
            let hash_key = HashKey::parse_decimal(&text)
                .map_err(|e| e.into_error(&format!("{}explicitHashKey", self.prefix)))?;
            record = record.with_explicit_hash_key(hash_key);
        }
        Ok(record)
    }
}

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let record = RecordMembers::read(input, "", &mut checks)?;
    let ordering = input.string("SequenceNumberForOrdering")?;
    if let Some(text) = &ordering {
        checks.extend(SequenceNumber::violations(text, "sequenceNumberForOrdering"));
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let record = record.build()?;
    // Sequence numbers of a shard only grow, so every new record already exceeds any number
    // the stream issued before; only numbers Strait could not have issued are refused.
    if let Some(text) = &ordering
        && SequenceNumber::parse(text).is_err()
    {
        return Err(
            StraitError::invalid_sequence_number_for_ordering(text, &name, &namespace.account).into(),
        );
    }
    let mut results = context
        .operations
        .put_records(&namespace, &name, vec![record], None)
        .await?;
    match results.pop() {
        Some(PutRecordResult::Ok {
            shard,
            sequence_number,
        }) => {
            let extras = context.operations.stream_extras(&namespace, &name).await?;
            Ok(Reply::Document(Value::structure([
                ("ShardId", Value::string(shard.to_string())),
                ("SequenceNumber", Value::string(sequence_number.to_string())),
                ("EncryptionType", encrypted(&extras)),
            ])))
        }
        Some(PutRecordResult::Err { error }) => Err(error.into()),
        None => Err(StraitError::internal("no result for the record").into()),
    }
}

/// `EncryptionType` of a put: `KMS` on an encrypted stream, absent otherwise.
pub fn encrypted(extras: &strait_core::service::StreamExtras) -> Value {
    if extras.encryption_key_id.is_some() {
        Value::string("KMS")
    } else {
        Value::Null
    }
}
