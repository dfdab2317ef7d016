//! ListStreams: the caller's streams in name order, a page at a time.
//!
//! Both pagination styles work: the old `ExclusiveStartStreamName` and the newer `NextToken`,
//! which is the last name of the previous page in an opaque wrapper.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strait_core::{StraitError, StreamName, StreamOperations};

use super::common::{self, Checks};
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The most streams one page lists, whatever the Limit.
const PAGE_MAX: usize = 100;
/// Marks Strait's ListStreams tokens, so other tokens are refused.
const TOKEN_PREFIX: &str = "streams:";

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let limit = checks.integer(input, "Limit", "limit", 1, Some(10_000))?;
    let start = input.string("ExclusiveStartStreamName")?;
    if let Some(start) = &start {
        checks.extend(StreamName::violations(start, "exclusiveStartStreamName"));
    }
    let token = input.string("NextToken")?;
    if let Some(token) = &token
        && token.is_empty()
    {
        checks.push(strait_core::Violation::min_length("", "nextToken", 1));
    }
    checks.finish()?;
    let start = match token {
        Some(token) => Some(decode_token(&token)?),
        None => start,
    };
    let limit = limit.map_or(PAGE_MAX, |l| (l as usize).min(PAGE_MAX));
    let namespace = &context.namespace;
    let (names, has_more) = context
        .operations
        .list_streams(namespace, start.as_deref(), limit)
        .await?;
    let mut summaries = Vec::with_capacity(names.len());
    for name in &names {
        // A stream deleted between the listing and its description is left out of the
        // summaries but kept in the names, which were true when listed.
        if let Ok(description) = context.operations.describe_stream(namespace, name).await {
            summaries.push(Value::structure([
                ("StreamName", Value::string(description.name.to_string())),
                ("StreamARN", Value::string(description.arn.clone())),
                ("StreamStatus", Value::string(description.status.as_kinesis_str())),
                ("StreamModeDetails", common::stream_mode_details(description.mode)),
                (
                    "StreamCreationTimestamp",
                    Value::Timestamp(description.created_at_ms),
                ),
            ]));
        }
    }
    let next_token = match names.last() {
        Some(last) if has_more => Value::string(encode_token(last)),
        _ => Value::Null,
    };
    Ok(Reply::Document(Value::structure([
        (
            "StreamNames",
            Value::List(names.iter().map(|n| Value::string(n.to_string())).collect()),
        ),
        ("HasMoreStreams", Value::Bool(has_more)),
        ("NextToken", next_token),
        ("StreamSummaries", Value::List(summaries)),
    ])))
}

fn encode_token(last: &StreamName) -> String {
    URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{last}"))
}

fn decode_token(token: &str) -> Result<String, ApiError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|text| text.strip_prefix(TOKEN_PREFIX).map(str::to_owned))
        .ok_or_else(|| StraitError::invalid_next_token().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_foreign_ones_are_refused() {
        let name = StreamName::new("orders").expect("valid");
        assert_eq!(decode_token(&encode_token(&name)).expect("ours"), "orders");
        assert_eq!(
            decode_token("garbage!").expect_err("foreign").kinesis_type(),
            "InvalidArgumentException"
        );
    }
}
