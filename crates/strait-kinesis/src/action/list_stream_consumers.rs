//! ListStreamConsumers: a stream's consumers in name order, a page at a time.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use strait_core::{StraitError, StreamArn, StreamOperations};

use super::common::Checks;
use super::{Context, Reply, consumers};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The most consumers one page lists.
const PAGE_MAX: usize = 100;
/// Marks Strait's ListStreamConsumers tokens.
const TOKEN_PREFIX: &str = "consumers:";

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream_arn = consumers::read_stream_arn(input, &mut checks)?;
    let max_results = checks.integer(input, "MaxResults", "maxResults", 1, Some(10_000))?;
    let token = input.string("NextToken")?;
    input.timestamp_ms("StreamCreationTimestamp")?;
    checks.finish()?;
    let after = token
        .map(|token| {
            URL_SAFE_NO_PAD
                .decode(&token)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| text.strip_prefix(TOKEN_PREFIX).map(str::to_owned))
                .ok_or_else(StraitError::invalid_next_token)
        })
        .transpose()?;
    let (namespace, stream) = StreamArn::parse(&stream_arn.unwrap_or_default())?;
    let all = context.operations.list_consumers(&namespace, &stream).await?;
    let limit = max_results.map_or(PAGE_MAX, |m| (m as usize).min(PAGE_MAX));
    let mut remaining = all
        .iter()
        .filter(|consumer| after.as_ref().is_none_or(|after| consumer.name > *after));
    let page: Vec<_> = remaining.by_ref().take(limit).collect();
    let next_token = match page.last() {
        Some(last) if remaining.next().is_some() => {
            Value::string(URL_SAFE_NO_PAD.encode(format!("{TOKEN_PREFIX}{}", last.name)))
        }
        _ => Value::Null,
    };
    Ok(Reply::Document(Value::structure([
        (
            "Consumers",
            Value::List(page.into_iter().map(consumers::render).collect()),
        ),
        ("NextToken", next_token),
    ])))
}
