//! ListTagsForStream: a stream's tags in key order, after `ExclusiveStartTagKey`, at most
//! `Limit` (1 to 50, default 50) of them.

use strait_core::StreamOperations;

use super::common::{Checks, StreamMembers};
use super::{Context, Reply, tags};
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// The page size when no Limit is given.
const DEFAULT_LIMIT: usize = 50;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let start = input.string("ExclusiveStartTagKey")?;
    let limit = checks.integer(input, "Limit", "limit", 1, Some(50))?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let all = context.operations.list_tags(&namespace, &name).await?;
    let limit = limit.map_or(DEFAULT_LIMIT, |l| l as usize);
    let mut remaining = all
        .into_iter()
        .filter(|(key, _)| start.as_ref().is_none_or(|start| key > start));
    let page: Vec<(String, String)> = remaining.by_ref().take(limit).collect();
    let has_more = remaining.next().is_some();
    Ok(Reply::Document(Value::structure([
        ("Tags", tags::render(page)),
        ("HasMoreTags", Value::Bool(has_more)),
    ])))
}
