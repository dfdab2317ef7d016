//! The one mapping from Strait's errors to Kinesis error responses.
//!
//! Every failure of the HTTP API becomes an [`ApiError`], and [`ApiError::into_response`]
//! renders it: a `__type` that botocore and the Java SDKs branch on, the HTTP status that
//! decides their retries, and a lower-case `message`, in the request's body format. Domain
//! errors keep the name and text [`StraitError`] gives them; only the protocol-level errors
//! that the node never sees (an unknown operation, a body that does not parse) are defined here.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use strait_core::StraitError;

use crate::codec::{Format, Value};

/// An error the HTTP API answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// An error of the stream operations, reported under its Kinesis name.
    #[error(transparent)]
    Strait(#[from] StraitError),
    /// The body, or a member of it, could not be read as the model's type.
    #[error("{message}")]
    Serialization {
        /// The explanation; empty for a body that is not JSON or CBOR at all.
        message: String,
    },
    /// `X-Amz-Target` names no Kinesis operation Strait knows.
    #[error("unknown operation")]
    UnknownOperation,
}

impl ApiError {
    /// A SerializationException with a message.
    pub fn serialization(message: impl Into<String>) -> Self {
        ApiError::Serialization {
            message: message.into(),
        }
    }

    /// A SerializationException without a message, as AWS answers a malformed body.
    pub fn serialization_bare() -> Self {
        ApiError::Serialization {
            message: String::new(),
        }
    }

    /// The `__type` of the error response.
    pub fn kinesis_type(&self) -> &'static str {
        match self {
            ApiError::Strait(error) => error.kinesis_type(),
            ApiError::Serialization { .. } => "SerializationException",
            ApiError::UnknownOperation => "UnknownOperationException",
        }
    }

    /// The HTTP status: 400 for every client error, 500 for a fault, 503 while unavailable.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Strait(error) => {
                StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            ApiError::Serialization { .. } | ApiError::UnknownOperation => StatusCode::BAD_REQUEST,
        }
    }

    /// The message, empty when AWS sends none.
    pub fn message(&self) -> &str {
        match self {
            ApiError::Strait(error) => error.message(),
            ApiError::Serialization { message } => message,
            ApiError::UnknownOperation => "",
        }
    }

    /// The error body: `{"__type": ..., "message": ...}`, the message left out when empty.
    pub fn body(&self) -> Value {
        let message = self.message();
        Value::structure([
            ("__type", Value::string(self.kinesis_type())),
            (
                "message",
                if message.is_empty() {
                    Value::Null
                } else {
                    Value::string(message)
                },
            ),
        ])
    }

    /// Renders the error as an HTTP response in `format`.
    pub fn into_response(self, format: Format) -> Response {
        let mut response = Response::new(Body::from(format.encode(&self.body())));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        );
        if let Ok(value) = HeaderValue::from_str(self.kinesis_type()) {
            response.headers_mut().insert("x-amzn-ErrorType", value);
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use strait_core::{AccountId, StreamName, Violation};

    use super::*;

    #[test]
    fn domain_errors_keep_their_kinesis_name_and_status() {
        let name = StreamName::new("s").expect("valid");
        let cases = [
            (
                ApiError::from(StraitError::stream_not_found(
                    &name,
                    &AccountId::default_account(),
                )),
                "ResourceNotFoundException",
                400,
            ),
            (
                ApiError::from(StraitError::invalid_iterator()),
                "InvalidArgumentException",
                400,
            ),
            (
                ApiError::from(StraitError::validation(vec![Violation::missing("streamName")])),
                "ValidationException",
                400,
            ),
            (
                ApiError::from(StraitError::provisioned_throughput_exceeded("slow down")),
                "ProvisionedThroughputExceededException",
                400,
            ),
            (
                ApiError::from(StraitError::internal("bug")),
                "InternalFailure",
                500,
            ),
            (
                ApiError::from(StraitError::unavailable("no leader")),
                "InternalFailure",
                503,
            ),
            (ApiError::serialization_bare(), "SerializationException", 400),
            (ApiError::UnknownOperation, "UnknownOperationException", 400),
        ];
        for (error, kinesis_type, status) in cases {
            assert_eq!(error.kinesis_type(), kinesis_type);
            assert_eq!(error.status().as_u16(), status, "{kinesis_type}");
        }
    }

    #[test]
    fn body_carries_type_and_lower_case_message() {
        let error = ApiError::from(StraitError::invalid_iterator());
        assert_eq!(
            String::from_utf8(Format::Json.encode(&error.body())).expect("utf-8"),
            r#"{"__type":"InvalidArgumentException","message":"Invalid ShardIterator."}"#
        );
        assert_eq!(
            String::from_utf8(Format::Json.encode(&ApiError::UnknownOperation.body())).expect("utf-8"),
            r#"{"__type":"UnknownOperationException"}"#
        );
    }

    #[test]
    fn validation_message_is_rendered_as_aws_does() {
        let error = ApiError::from(StraitError::validation(vec![
            Violation::max_value(100_000, "limit", 10_000),
            Violation::pattern("?", "shardToSplit", "[a-zA-Z0-9_.-]+"),
        ]));
        assert_eq!(
            error.message(),
            "2 validation errors detected: Value '100000' at 'limit' failed to satisfy constraint: \
             Member must have value less than or equal to 10000; Value '?' at 'shardToSplit' failed \
             to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        );
    }
}
