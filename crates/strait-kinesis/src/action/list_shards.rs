//! ListShards: a stream's shards in id order, filtered and paged.
//!
//! The first call names the stream; later calls carry only the `NextToken`, which holds
//! everything needed to continue: the stream, the last shard listed, the filter and when the
//! token was issued (tokens expire after 300 seconds, as Kinesis's do).
//!
//! Filters (§5.10 of the API notes) use the times the control plane records for each
//! shard (opened with its stream or by a split or merge, closed by one):
//!
//! | filter | shards listed |
//! |---|---|
//! | none, FROM_TRIM_HORIZON | every shard still inside retention |
//! | AT_TRIM_HORIZON | those open at the trim horizon |
//! | AT_LATEST | those open now |
//! | AT_TIMESTAMP t | those open at t (opened at or before t, not closed before t) |
//! | FROM_TIMESTAMP t | those open at t or opened since |
//! | AFTER_SHARD_ID id | those whose ids come after id |
//!
//! A time before the trim horizon counts as the trim horizon, and the trim horizon of a
//! stream younger than its retention is the stream's creation, so a consumer starting "at
//! the beginning" always gets the shards holding the oldest records.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strait_core::service::{ShardDescription, ShardFilter, StreamDescription};
use strait_core::{
    AccountId, Namespace, Region, ShardId, StraitError, StreamName, StreamOperations, Violation,
};

use super::common::{self, Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The most shards one page lists, whatever MaxResults.
const PAGE_MAX: usize = 1000;
/// How long a NextToken stays valid.
const TOKEN_TTL_MS: u64 = 300_000;
/// Marks Strait's ListShards tokens.
const TOKEN_PREFIX: &str = "shards";

/// Where a listing continues: what the first call asked for plus the last shard listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    namespace: Namespace,
    stream: StreamName,
    after: Option<ShardId>,
    filter: Option<ShardFilter>,
    issued_at_ms: u64,
}

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let token = input.string("NextToken")?;
    if token.as_deref() == Some("") {
        checks.push(Violation::min_length("", "nextToken", 1));
    }
    let start = input.string("ExclusiveStartShardId")?;
    if let Some(start) = &start {
        checks.extend(ShardId::violations(start, "exclusiveStartShardId"));
    }
    let max_results = checks.integer(input, "MaxResults", "maxResults", 1, Some(10_000))?;
    input.timestamp_ms("StreamCreationTimestamp")?;
    let filter = read_filter(input, &mut checks)?;
    checks.finish()?;

    let now_ms = context.operations.now_ms();
    let cursor = match (stream.is_given(), token) {
        (false, None) => return Err(StraitError::list_shards_missing_stream().into()),
        (true, Some(_)) => return Err(StraitError::list_shards_token_with_stream().into()),
        (false, Some(token)) => {
            if start.is_some() {
                return Err(StraitError::invalid_argument(
                    "NextToken and ExclusiveStartShardId cannot be provided together.",
                )
                .into());
            }
            let cursor = Cursor::decode(&token)?;
            if now_ms.saturating_sub(cursor.issued_at_ms) > TOKEN_TTL_MS {
                return Err(StraitError::expired_next_token().into());
            }
            cursor
        }
        (true, None) => {
            let (namespace, name) = stream.resolve(&context.namespace)?;
            let filter = filter.map(|f| f.build()).transpose()?;
            Cursor {
                namespace,
                stream: name,
                after: start.as_deref().and_then(ShardId::parse_loose),
                filter,
                issued_at_ms: now_ms,
            }
        }
    };
    let description = context
        .operations
        .describe_stream(&cursor.namespace, &cursor.stream)
        .await?;
    let selected = select(&description, cursor.filter);
    let limit = max_results.map_or(PAGE_MAX, |m| (m as usize).min(PAGE_MAX));
    let mut remaining = selected
        .into_iter()
        .filter(|shard| cursor.after.is_none_or(|after| shard.shard_id > after));
    let page: Vec<&ShardDescription> = remaining.by_ref().take(limit).collect();
    let next_token = match page.last() {
        Some(last) if remaining.next().is_some() => Value::string(
            Cursor {
                after: Some(last.shard_id),
                issued_at_ms: now_ms,
                ..cursor.clone()
            }
            .encode(),
        ),
        _ => Value::Null,
    };
    Ok(Reply::Document(Value::structure([
        (
            "Shards",
            Value::List(page.into_iter().map(common::shard).collect()),
        ),
        ("NextToken", next_token),
    ])))
}

/// A ShardFilter as sent, checked against the model but not yet against its type's rules.
struct FilterMembers {
    kind: String,
    shard_id: Option<String>,
    timestamp_ms: Option<u64>,
}

impl FilterMembers {
    fn build(self) -> Result<ShardFilter, ApiError> {
        let need_timestamp = || {
            StraitError::invalid_argument(format!(
                "Timestamp is required for ShardFilter type {}.",
                self.kind
            ))
        };
        Ok(match self.kind.as_str() {
            "AFTER_SHARD_ID" => {
                let id = self.shard_id.as_deref().ok_or_else(|| {
                    StraitError::invalid_argument("ShardId is required for ShardFilter type AFTER_SHARD_ID.")
                })?;
                // An id that names no shard lists from the beginning.
                ShardFilter::AfterShardId(ShardId::parse_loose(id).unwrap_or(ShardId(0)))
            }
            "AT_TRIM_HORIZON" => ShardFilter::AtTrimHorizon,
            "FROM_TRIM_HORIZON" => ShardFilter::FromTrimHorizon,
            "AT_LATEST" => ShardFilter::AtLatest,
            "AT_TIMESTAMP" => ShardFilter::AtTimestamp(self.timestamp_ms.ok_or_else(need_timestamp)?),
            _ => ShardFilter::FromTimestamp(self.timestamp_ms.ok_or_else(need_timestamp)?),
        })
    }
}

fn read_filter(input: &Input, checks: &mut Checks) -> Result<Option<FilterMembers>, ApiError> {
    let Some(filter) = input.structure("ShardFilter")? else {
        return Ok(None);
    };
    let kind = checks.required_string(&filter, "Type", "shardFilter.type")?;
    let shard_id = filter.string("ShardId")?;
    if let Some(id) = &shard_id {
        checks.extend(ShardId::violations(id, "shardFilter.shardId"));
    }
    let timestamp_ms = filter.timestamp_ms("Timestamp")?;
    let Some(kind) = kind else { return Ok(None) };
    if !ShardFilter::KINESIS_NAMES.contains(&kind.as_str()) {
        checks.push(Violation::enum_value(
            kind.clone(),
            "shardFilter.type",
            &ShardFilter::KINESIS_NAMES,
        ));
    }
    Ok(Some(FilterMembers {
        kind,
        shard_id,
        timestamp_ms,
    }))
}

/// Applies a filter to a stream's shards (in id order).
fn select(stream: &StreamDescription, filter: Option<ShardFilter>) -> Vec<&ShardDescription> {
    let shards = stream.shards.iter();
    // No shard is older than its stream, nor records older than the trim horizon.
    let horizon = stream.trim_horizon_ms.max(stream.created_at_ms);
    match filter {
        None | Some(ShardFilter::FromTrimHorizon) => shards.collect(),
        Some(ShardFilter::AfterShardId(after)) => shards.filter(|s| s.shard_id > after).collect(),
        Some(ShardFilter::AtLatest) => shards.filter(|s| s.is_open()).collect(),
        Some(ShardFilter::AtTrimHorizon) => shards.filter(|s| s.was_open_at(horizon)).collect(),
        Some(ShardFilter::AtTimestamp(ts)) => {
            let at = ts.max(horizon);
            shards.filter(|s| s.was_open_at(at)).collect()
        }
        Some(ShardFilter::FromTimestamp(ts)) => {
            let from = ts.max(horizon);
            shards
                .filter(|s| s.closed_at_ms.is_none_or(|closed| closed >= from))
                .collect()
        }
    }
}

impl Cursor {
    fn encode(&self) -> String {
        let (kind, argument) = match self.filter {
            None => ("-", 0),
            Some(ShardFilter::AfterShardId(id)) => ("AFTER_SHARD_ID", u64::from(id.ordinal())),
            Some(ShardFilter::AtTimestamp(ts)) => ("AT_TIMESTAMP", ts),
            Some(ShardFilter::FromTimestamp(ts)) => ("FROM_TIMESTAMP", ts),
            Some(other) => (other.as_kinesis_str(), 0),
        };
        let after = self.after.map_or(-1, |id| i64::from(id.ordinal()));
        URL_SAFE_NO_PAD.encode(format!(
            "{TOKEN_PREFIX}:{}:{}:{}:{after}:{kind}:{argument}:{}",
            self.namespace.account, self.namespace.region, self.stream, self.issued_at_ms
        ))
    }

    fn decode(token: &str) -> Result<Cursor, ApiError> {
        Self::try_decode(token).ok_or_else(|| StraitError::invalid_next_token().into())
    }

    fn try_decode(token: &str) -> Option<Cursor> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
        let parts: Vec<&str> = text.split(':').collect();
        let [prefix, account, region, stream, after, kind, argument, issued] = parts.as_slice() else {
            return None;
        };
        if *prefix != TOKEN_PREFIX {
            return None;
        }
        let argument: u64 = argument.parse().ok()?;
        let filter = match *kind {
            "-" => None,
            "AFTER_SHARD_ID" => Some(ShardFilter::AfterShardId(ShardId(u32::try_from(argument).ok()?))),
            "AT_TRIM_HORIZON" => Some(ShardFilter::AtTrimHorizon),
            "FROM_TRIM_HORIZON" => Some(ShardFilter::FromTrimHorizon),
            "AT_LATEST" => Some(ShardFilter::AtLatest),
            "AT_TIMESTAMP" => Some(ShardFilter::AtTimestamp(argument)),
            "FROM_TIMESTAMP" => Some(ShardFilter::FromTimestamp(argument)),
            _ => return None,
        };
        let after: i64 = after.parse().ok()?;
        Some(Cursor {
            namespace: Namespace::new(AccountId::new(*account).ok()?, Region::new(*region).ok()?),
            stream: StreamName::new(*stream).ok()?,
            after: u32::try_from(after).ok().map(ShardId),
            filter,
            issued_at_ms: issued.parse().ok()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use strait_core::hash_range::HashKeyRange;
    use strait_core::{SequenceNumber, StreamIncarnation};

    use super::*;

    /// A shard opened at `opened` and, if `closed` is given, closed then.
    fn shard(id: u32, parents: &[u32], opened: u64, closed: Option<u64>) -> ShardDescription {
        let incarnation = StreamIncarnation::new(1).expect("valid");
        let shard_id = ShardId(id);
        let start = SequenceNumber::starting(incarnation, shard_id);
        ShardDescription {
            shard_id,
            parent: parents.first().map(|p| ShardId(*p)),
            adjacent_parent: parents.get(1).map(|p| ShardId(*p)),
            hash_range: HashKeyRange::FULL,
            starting_sequence_number: start,
            ending_sequence_number: closed.map(|_| start),
            replicas: vec![1],
            leader: Some(1),
            created_at_ms: opened,
            closed_at_ms: closed,
        }
    }

    /// A stream created at 100: shard 0 split at 200 into 1 and 2; 1 and 2 merged at 300
    /// into 3. The trim horizon is `horizon`.
    fn stream(horizon: u64) -> StreamDescription {
        StreamDescription {
            name: StreamName::new("s").expect("valid"),
            arn: String::new(),
            incarnation: StreamIncarnation::new(1).expect("valid"),
            status: strait_core::StreamStatus::Active,
            mode: strait_core::StreamMode::Provisioned,
            retention_hours: 24,
            created_at_ms: 100,
            trim_horizon_ms: horizon,
            shards: vec![
                shard(0, &[], 100, Some(200)),
                shard(1, &[0], 200, Some(300)),
                shard(2, &[0], 200, Some(300)),
                shard(3, &[1, 2], 300, None),
            ],
        }
    }

    fn ids(description: &StreamDescription, filter: Option<ShardFilter>) -> Vec<u32> {
        select(description, filter)
            .into_iter()
            .map(|s| s.shard_id.ordinal())
            .collect()
    }

    #[test]
    fn filters_follow_open_and_close_times() {
        let young = stream(0);
        assert_eq!(ids(&young, None), vec![0, 1, 2, 3]);
        assert_eq!(ids(&young, Some(ShardFilter::FromTrimHorizon)), vec![0, 1, 2, 3]);
        assert_eq!(ids(&young, Some(ShardFilter::AtLatest)), vec![3]);
        assert_eq!(ids(&young, Some(ShardFilter::AtTrimHorizon)), vec![0]);
        assert_eq!(
            ids(&young, Some(ShardFilter::AfterShardId(ShardId(1)))),
            vec![2, 3]
        );
        // Before the stream existed: as at its creation.
        assert_eq!(ids(&young, Some(ShardFilter::AtTimestamp(5))), vec![0]);
        assert_eq!(ids(&young, Some(ShardFilter::AtTimestamp(150))), vec![0]);
        // At the instant of a split, the parent and its children.
        assert_eq!(ids(&young, Some(ShardFilter::AtTimestamp(200))), vec![0, 1, 2]);
        assert_eq!(ids(&young, Some(ShardFilter::AtTimestamp(250))), vec![1, 2]);
        assert_eq!(ids(&young, Some(ShardFilter::AtTimestamp(10_000))), vec![3]);
        assert_eq!(ids(&young, Some(ShardFilter::FromTimestamp(5))), vec![0, 1, 2, 3]);
        assert_eq!(ids(&young, Some(ShardFilter::FromTimestamp(250))), vec![1, 2, 3]);
        assert_eq!(ids(&young, Some(ShardFilter::FromTimestamp(301))), vec![3]);
    }

    #[test]
    fn times_before_the_trim_horizon_count_as_the_trim_horizon() {
        let old = stream(250);
        assert_eq!(ids(&old, Some(ShardFilter::AtTrimHorizon)), vec![1, 2]);
        assert_eq!(ids(&old, Some(ShardFilter::AtTimestamp(120))), vec![1, 2]);
        assert_eq!(ids(&old, Some(ShardFilter::FromTimestamp(120))), vec![1, 2, 3]);
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let cursor = Cursor {
            namespace: Namespace::default(),
            stream: StreamName::new("s.1").expect("valid"),
            after: Some(ShardId(7)),
            filter: Some(ShardFilter::FromTimestamp(1_700_000_000_000)),
            issued_at_ms: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("ours"), cursor);
        let first = Cursor {
            after: None,
            filter: None,
            ..cursor
        };
        assert_eq!(Cursor::decode(&first.encode()).expect("ours"), first);
        assert_eq!(
            Cursor::decode("bm9wZQ").expect_err("foreign").kinesis_type(),
            "InvalidArgumentException"
        );
    }
}
