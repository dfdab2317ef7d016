//! What several operations share: model checks, stream addressing and rendering.
//!
//! Operations check their input in two steps, as AWS does. First every member is read and
//! checked against the model (type, presence, length, pattern, bounds) and every violation is
//! collected in a [`Checks`]; if there are any, the request fails with one ValidationException
//! listing them. Only then are semantic rules applied (a stream named both by name and by a
//! different ARN, a shard id that names no shard), each with its own error.

use strait_core::hash_range::HashKeyRange;
use strait_core::service::{
    ChildShard, RetentionChange, ShardDescription, StreamExtras, UpdateRetentionRequest,
};
use strait_core::{
    AccountId, Namespace, ShardId, StoredRecord, StraitError, StreamArn, StreamMode, StreamName,
    StreamOperations, Violation,
};

use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The model violations found in one request, reported together.
#[derive(Debug, Default)]
pub struct Checks {
    violations: Vec<Violation>,
}

impl Checks {
    /// Starts with no violations.
    pub fn new() -> Checks {
        Checks::default()
    }

    /// Records violations.
    pub fn extend(&mut self, violations: impl IntoIterator<Item = Violation>) {
        self.violations.extend(violations);
    }

    /// Records one violation.
    pub fn push(&mut self, violation: Violation) {
        self.violations.push(violation);
    }

    /// Fails with a ValidationException if any violation was recorded.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(StraitError::validation(self.violations).into())
        }
    }

    /// Reads a required string member, recording a "must not be null" violation when absent.
    pub fn required_string(
        &mut self,
        input: &Input,
        member: &str,
        field: &str,
    ) -> Result<Option<String>, ApiError> {
        let value = input.string(member)?;
        if value.is_none() {
            self.push(Violation::missing(field));
        }
        Ok(value)
    }

    /// Reads a required member that must be a valid shard id.
    pub fn shard_id(&mut self, input: &Input, member: &str, field: &str) -> Result<Option<String>, ApiError> {
        let value = self.required_string(input, member, field)?;
        if let Some(text) = &value {
            self.extend(ShardId::violations(text, field));
        }
        Ok(value)
    }

    /// Reads an integer member and checks it against inclusive model bounds.
    pub fn integer(
        &mut self,
        input: &Input,
        member: &str,
        field: &str,
        min: i64,
        max: Option<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let value = input.integer(member)?;
        if let Some(n) = value {
            if n < min {
                self.push(Violation::min_value(n, field, min));
            }
            if let Some(max) = max.filter(|max| n > *max) {
                self.push(Violation::max_value(n, field, max));
            }
        }
        Ok(value)
    }

    /// Reads a required integer member and checks it against inclusive model bounds.
    pub fn required_integer(
        &mut self,
        input: &Input,
        member: &str,
        field: &str,
        min: i64,
        max: Option<i64>,
    ) -> Result<Option<i64>, ApiError> {
        let value = self.integer(input, member, field, min, max)?;
        if value.is_none() {
            self.push(Violation::missing(field));
        }
        Ok(value)
    }
}

/// The StreamName and StreamARN members, which every stream operation accepts.
#[derive(Debug, Clone, Default)]
pub struct StreamMembers {
    name: Option<String>,
    arn: Option<String>,
}

impl StreamMembers {
    /// Reads both members, recording their model violations.
    pub fn read(input: &Input, checks: &mut Checks) -> Result<StreamMembers, ApiError> {
        let name = input.string("StreamName")?;
        let arn = input.string("StreamARN")?;
        if let Some(name) = &name {
            checks.extend(StreamName::violations(name, "streamName"));
        }
        if let Some(arn) = &arn {
            checks.extend(StreamArn::violations(arn, "streamARN"));
        }
        Ok(StreamMembers { name, arn })
    }

    /// Reads only `StreamARN`, for the operations whose model has no `StreamName`.
    pub fn read_arn_only(input: &Input, checks: &mut Checks) -> Result<StreamMembers, ApiError> {
        let arn = input.string("StreamARN")?;
        if let Some(arn) = &arn {
            checks.extend(StreamArn::violations(arn, "streamARN"));
        }
        Ok(StreamMembers { name: None, arn })
    }

    /// Tells whether either member was given.
    pub fn is_given(&self) -> bool {
        self.name.is_some() || self.arn.is_some()
    }

    /// Resolves the stream: by ARN to the namespace it names, by name in the caller's
    /// namespace. Both may be given if they agree; at least one must be.
    pub fn resolve(&self, namespace: &Namespace) -> Result<(Namespace, StreamName), ApiError> {
        match (&self.name, &self.arn) {
            (None, None) => {
                Err(StraitError::invalid_argument("Either StreamName or StreamARN must be provided.").into())
            }
            (Some(name), None) => Ok((namespace.clone(), StreamName::new(name.clone())?)),
            (name, Some(arn)) => {
                let (arn_namespace, arn_name) = StreamArn::parse(arn)?;
                if name.as_deref().is_some_and(|name| name != arn_name.as_str()) {
                    return Err(StraitError::invalid_argument(format!(
                        "StreamARN {arn} and StreamName {} do not name the same stream.",
                        name.as_deref().unwrap_or_default()
                    ))
                    .into());
                }
                Ok((arn_namespace, arn_name))
            }
        }
    }
}

/// Resolves a shard id member the way Kinesis does (`shardId-7`, `7`, `x-0007` all name
/// shard 7); text that names no shard gives "Could not find shard ...".
pub fn resolve_shard(text: &str, stream: &StreamName, account: &AccountId) -> Result<ShardId, ApiError> {
    ShardId::parse_loose(text).ok_or_else(|| StraitError::could_not_find_shard(text, stream, account).into())
}

/// Renders a hash key range: `{StartingHashKey, EndingHashKey}` as decimal strings.
pub fn hash_range(range: &HashKeyRange) -> Value {
    Value::structure([
        ("StartingHashKey", Value::string(range.start.to_string())),
        ("EndingHashKey", Value::string(range.end.to_string())),
    ])
}

/// Renders a shard as DescribeStream and ListShards list it.
pub fn shard(shard: &ShardDescription) -> Value {
    Value::structure([
        ("ShardId", Value::string(shard.shard_id.to_string())),
        (
            "ParentShardId",
            Value::optional(shard.parent.map(|p| Value::string(p.to_string()))),
        ),
        (
            "AdjacentParentShardId",
            Value::optional(shard.adjacent_parent.map(|p| Value::string(p.to_string()))),
        ),
        ("HashKeyRange", hash_range(&shard.hash_range)),
        (
            "SequenceNumberRange",
            Value::structure([
                (
                    "StartingSequenceNumber",
                    Value::string(shard.starting_sequence_number.to_string()),
                ),
                (
                    "EndingSequenceNumber",
                    Value::optional(shard.ending_sequence_number.map(|s| Value::string(s.to_string()))),
                ),
            ]),
        ),
    ])
}

/// Renders a child shard, as GetRecords and SubscribeToShard report them at a shard's end.
pub fn child_shard(child: &ChildShard) -> Value {
    Value::structure([
        ("ShardId", Value::string(child.shard_id.to_string())),
        (
            "ParentShards",
            Value::List(
                child
                    .parent_shards
                    .iter()
                    .map(|p| Value::string(p.to_string()))
                    .collect(),
            ),
        ),
        ("HashKeyRange", hash_range(&child.hash_range)),
    ])
}

/// Renders a record as GetRecords returns it.
pub fn record(record: &StoredRecord) -> Value {
    Value::structure([
        (
            "SequenceNumber",
            Value::string(record.sequence_number.to_string()),
        ),
        ("ApproximateArrivalTimestamp", Value::Timestamp(record.arrival_ms)),
        ("Data", Value::Blob(record.data.to_vec())),
        ("PartitionKey", Value::string(record.partition_key.clone())),
    ])
}

/// Reads `StreamModeDetails{StreamMode}`, recording model violations; `required` for
/// UpdateStreamMode, optional (PROVISIONED when absent) for CreateStream.
pub fn read_stream_mode_details(
    input: &Input,
    checks: &mut Checks,
    required: bool,
) -> Result<Option<StreamMode>, ApiError> {
    let Some(details) = input.structure("StreamModeDetails")? else {
        if required {
            checks.push(Violation::missing("streamModeDetails"));
        }
        return Ok(None);
    };
    let field = "streamModeDetails.streamMode";
    let Some(text) = checks.required_string(&details, "StreamMode", field)? else {
        return Ok(None);
    };
    let mode = StreamMode::parse(&text);
    if mode.is_none() {
        let names: Vec<&str> = StreamMode::ALL.iter().map(|m| m.as_kinesis_str()).collect();
        checks.push(Violation::enum_value(text, field, &names));
    }
    Ok(mode)
}

/// Reads `WarmThroughputMiBps` (a natural number), recording model violations.
pub fn read_warm_throughput(
    input: &Input,
    checks: &mut Checks,
    required: bool,
) -> Result<Option<u32>, ApiError> {
    let (member, field) = ("WarmThroughputMiBps", "warmThroughputMiBps");
    let value = if required {
        checks.required_integer(input, member, field, 0, None)?
    } else {
        checks.integer(input, member, field, 0, None)?
    };
    // Past the model's minimum; values beyond u32 are far beyond any limit and saturate.
    Ok(value.map(|v| u32::try_from(v.max(0)).unwrap_or(u32::MAX)))
}

/// Renders `WarmThroughput{TargetMiBps, CurrentMiBps}`, absent without a warm throughput.
/// Strait has no capacity to warm up, so the current value is the target.
pub fn warm_throughput(mibps: Option<u32>) -> Value {
    Value::optional(mibps.map(|mibps| {
        Value::structure([
            ("TargetMiBps", Value::Integer(i128::from(mibps))),
            ("CurrentMiBps", Value::Integer(i128::from(mibps))),
        ])
    }))
}

/// Renders `StreamModeDetails`.
pub fn stream_mode_details(mode: StreamMode) -> Value {
    Value::structure([("StreamMode", Value::string(mode.as_kinesis_str()))])
}

/// Renders `EnhancedMonitoring`: one entry listing the enabled shard-level metrics (an
/// empty list when none are).
pub fn enhanced_monitoring(extras: &StreamExtras) -> Value {
    Value::List(vec![Value::structure([(
        "ShardLevelMetrics",
        Value::List(
            extras
                .shard_level_metrics
                .iter()
                .map(|m| Value::string(m.clone()))
                .collect(),
        ),
    )])])
}

/// Renders `EncryptionType`: `KMS` when encryption is on, else `NONE`.
pub fn encryption_type(extras: &StreamExtras) -> Value {
    Value::string(if extras.encryption_key_id.is_some() {
        "KMS"
    } else {
        "NONE"
    })
}

/// Renders `KeyId`, absent when encryption is off.
pub fn key_id(extras: &StreamExtras) -> Value {
    Value::optional(extras.encryption_key_id.clone().map(Value::string))
}

/// Increase- and DecreaseStreamRetentionPeriod, which differ only in their direction.
pub async fn change_retention<O: StreamOperations>(
    context: &Context<'_, O>,
    input: &Input,
    direction: RetentionChange,
) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let hours = checks.required_integer(
        input,
        "RetentionPeriodHours",
        "retentionPeriodHours",
        i64::MIN,
        None,
    )?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let hours = hours.unwrap_or_default();
    // Hours outside u32 are far outside 24..=8760; clamping keeps the node's range message.
    let retention_hours = u32::try_from(hours.max(0)).unwrap_or(u32::MAX);
    context
        .operations
        .update_retention(UpdateRetentionRequest {
            namespace,
            stream: name,
            retention_hours,
            direction,
        })
        .await?;
    Ok(Reply::Empty)
}

#[cfg(test)]
mod tests {
    use strait_core::Region;

    use super::*;
    use crate::codec::Format;

    fn input(json: &str) -> Input {
        Input::new(Format::Json, Format::Json.decode(json.as_bytes()).expect("json")).expect("map")
    }

    fn caller() -> Namespace {
        Namespace::new(
            AccountId::default_account(),
            Region::new("eu-west-1").expect("valid"),
        )
    }

    #[test]
    fn stream_resolves_by_name_in_the_callers_namespace() {
        let mut checks = Checks::new();
        let members = StreamMembers::read(&input(r#"{"StreamName":"s"}"#), &mut checks).expect("reads");
        checks.finish().expect("valid");
        let (namespace, name) = members.resolve(&caller()).expect("resolves");
        assert_eq!(namespace, caller());
        assert_eq!(name.as_str(), "s");
    }

    #[test]
    fn stream_resolves_by_arn_to_the_arns_namespace() {
        let mut checks = Checks::new();
        let members = StreamMembers::read(
            &input(r#"{"StreamARN":"arn:aws:kinesis:ap-south-1:123456789012:stream/s","StreamName":"s"}"#),
            &mut checks,
        )
        .expect("reads");
        checks.finish().expect("valid");
        let (namespace, _) = members.resolve(&caller()).expect("resolves");
        assert_eq!(namespace.region.as_str(), "ap-south-1");
        assert_eq!(namespace.account.as_str(), "123456789012");
    }

    #[test]
    fn disagreeing_or_missing_stream_members_are_invalid_arguments() {
        let members = StreamMembers::read(
            &input(r#"{"StreamARN":"arn:aws:kinesis:us-east-1:123456789012:stream/a","StreamName":"b"}"#),
            &mut Checks::new(),
        )
        .expect("reads");
        assert_eq!(
            members.resolve(&caller()).expect_err("disagree").kinesis_type(),
            "InvalidArgumentException"
        );
        let none = StreamMembers::read(&input("{}"), &mut Checks::new()).expect("reads");
        assert!(!none.is_given());
        assert_eq!(
            none.resolve(&caller()).expect_err("missing").kinesis_type(),
            "InvalidArgumentException"
        );
    }

    #[test]
    fn checks_collect_every_violation() {
        let mut checks = Checks::new();
        StreamMembers::read(&input(r#"{"StreamName":"","Limit":0}"#), &mut checks).expect("reads");
        checks
            .integer(&input(r#"{"Limit":100000}"#), "Limit", "limit", 1, Some(10_000))
            .expect("reads");
        let error = checks.finish().expect_err("invalid");
        assert!(
            error.message().starts_with("3 validation errors detected: "),
            "{}",
            error.message()
        );
        assert!(error.message().contains(
            "Value '100000' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
        ));
    }
}
