//! What the operations addressed by `ResourceARN` share (the resource-policy and the
//! ARN-based tag operations): reading the member against the model and resolving it to
//! the stream or consumer it names.
//!
//! A resource ARN is a stream ARN (`arn:aws:kinesis:<region>:<account>:stream/<name>`) or a
//! consumer ARN (`<stream ARN>/consumer/<name>:<registration epoch seconds>`). The ARN, not
//! the caller's credentials, chooses the namespace, as for every ARN-addressed operation.

use strait_core::service::{Consumer, PolicyTarget};
use strait_core::{StraitError, StreamArn, StreamName, Violation};

use super::common::Checks;
use crate::codec::Input;
use crate::error::ApiError;

/// The model's pattern for resource ARNs, as quoted in validation messages.
pub const RESOURCE_ARN_PATTERN: &str = r"arn:aws.*:kinesis:.*:\d{12}:.*stream/\S+";

/// Reads the required `ResourceARN` member, recording its model violations.
pub fn read_resource_arn(input: &Input, checks: &mut Checks) -> Result<Option<String>, ApiError> {
    let field = "resourceARN";
    let arn = checks.required_string(input, "ResourceARN", field)?;
    if let Some(arn) = &arn {
        let len = arn.chars().count();
        let length_violations = usize::from(len < 1) + usize::from(len > StreamArn::MAX_LEN);
        // A stream ARN's shape is the resource pattern's (a consumer ARN extends it), so
        // the stream check tells whether the pattern holds; its length entries are ours.
        if StreamArn::violations(arn, field).len() > length_violations {
            checks.push(Violation::pattern(arn.clone(), field, RESOURCE_ARN_PATTERN));
        }
        if len < 1 {
            checks.push(Violation::min_length(arn.clone(), field, 1));
        }
        if len > StreamArn::MAX_LEN {
            checks.push(Violation::max_length(arn.clone(), field, StreamArn::MAX_LEN));
        }
    }
    Ok(arn)
}

/// Resolves a resource ARN (which passed the model checks) to the stream or consumer it
/// names. Whether that resource exists is the node's to say.
pub fn resolve(arn: &str) -> Result<PolicyTarget, ApiError> {
    let invalid = || StraitError::invalid_argument(format!("Invalid ResourceARN {arn}."));
    let (stream_arn, consumer) = match Consumer::parse_arn(arn) {
        Some((stream_arn, name, created_s)) => {
            if !StreamName::violations(name, "consumerName").is_empty() {
                return Err(invalid().into());
            }
            (stream_arn, Some((name.to_owned(), created_s)))
        }
        None => (arn, None),
    };
    let (namespace, stream) = StreamArn::parse(stream_arn).map_err(|_| invalid())?;
    Ok(PolicyTarget {
        namespace,
        stream,
        consumer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Format;

    fn input(json: &str) -> Input {
        Input::new(Format::Json, Format::Json.decode(json.as_bytes()).expect("json")).expect("map")
    }

    #[test]
    fn stream_and_consumer_arns_resolve() {
        let stream = resolve("arn:aws:kinesis:eu-west-1:123456789012:stream/s").expect("stream");
        assert_eq!(stream.namespace.region.as_str(), "eu-west-1");
        assert_eq!(stream.stream.as_str(), "s");
        assert_eq!(stream.consumer, None);
        let consumer = resolve("arn:aws:kinesis:eu-west-1:123456789012:stream/s/consumer/app:1700000000")
            .expect("consumer");
        assert_eq!(consumer.stream.as_str(), "s");
        assert_eq!(consumer.consumer, Some(("app".to_owned(), 1_700_000_000)));
    }

    #[test]
    fn resource_arns_are_checked_against_the_model() {
        let mut checks = Checks::new();
        read_resource_arn(&input(r#"{"ResourceARN":"arn:aws:s3:::bucket"}"#), &mut checks).expect("reads");
        let error = checks.finish().expect_err("not a Kinesis ARN");
        assert!(
            error.message().contains(&format!(
                "at 'resourceARN' failed to satisfy constraint: Member must satisfy regular expression \
                 pattern: {RESOURCE_ARN_PATTERN}"
            )),
            "{}",
            error.message()
        );
        let mut checks = Checks::new();
        read_resource_arn(&input("{}"), &mut checks).expect("reads");
        assert!(
            checks
                .finish()
                .expect_err("missing")
                .message()
                .contains("Member must not be null")
        );
    }
}
