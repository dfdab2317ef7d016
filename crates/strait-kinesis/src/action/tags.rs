//! What the six tag operations share: checking tag maps and key lists, and rendering tags.

use std::collections::BTreeMap;

use strait_core::{Namespace, StraitError, StreamArn, StreamName, Violation};

use super::common::Checks;
use crate::codec::{Input, Value};
use crate::error::ApiError;

/// Reads a required tag map (`Tags`), recording model violations.
pub fn read_tags(input: &Input, checks: &mut Checks) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    let tags = input.string_map("Tags")?;
    match &tags {
        None => checks.push(Violation::missing("tags")),
        Some(tags) => {
            if tags.is_empty() {
                checks.push(Violation::min_length("{}", "tags", 1));
            }
            if tags.len() > 200 {
                checks.push(Violation::max_length(
                    format!("[{} tags]", tags.len()),
                    "tags",
                    200,
                ));
            }
            for (key, value) in tags {
                let key_len = key.chars().count();
                if key_len < 1 {
                    checks.push(Violation::min_length(key.clone(), "tags.key", 1));
                }
                if key_len > 128 {
                    checks.push(Violation::max_length(key.clone(), "tags.key", 128));
                }
                if value.chars().count() > 256 {
                    checks.push(Violation::max_length(
                        value.clone(),
                        format!("tags.{key}.value"),
                        256,
                    ));
                }
            }
        }
    }
    Ok(tags)
}

/// Reads a required tag key list (`TagKeys`), recording model violations.
pub fn read_tag_keys(input: &Input, checks: &mut Checks) -> Result<Option<Vec<String>>, ApiError> {
    let keys = input.string_list("TagKeys")?;
    match &keys {
        None => checks.push(Violation::missing("tagKeys")),
        Some(keys) => {
            if keys.is_empty() {
                checks.push(Violation::min_length("[]", "tagKeys", 1));
            }
            if keys.len() > 50 {
                checks.push(Violation::max_length(
                    format!("[{}]", keys.join(", ")),
                    "tagKeys",
                    50,
                ));
            }
        }
    }
    Ok(keys)
}

/// Renders tags as the `[{Key, Value}]` list Kinesis returns.
pub fn render(tags: impl IntoIterator<Item = (String, String)>) -> Value {
    Value::List(
        tags.into_iter()
            .map(|(key, value)| {
                Value::structure([("Key", Value::string(key)), ("Value", Value::string(value))])
            })
            .collect(),
    )
}

/// Resolves a resource ARN to the stream it names.
pub fn resolve_resource(arn: &str) -> Result<(Namespace, StreamName), ApiError> {
    if arn.contains("/consumer/") {
        return Err(StraitError::invalid_argument(format!(
            "Tags on consumer {arn} are not supported; tag the stream instead."
        ))
        .into());
    }
    StreamArn::parse(arn).map_err(|_| {
        StraitError::invalid_argument(format!("ResourceARN {arn} does not name a Kinesis stream.")).into()
    })
}
