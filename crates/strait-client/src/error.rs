//! The one error type of the client, and how a gRPC status becomes one.
//!
//! A Strait node reports a failed call as a gRPC status whose metadata key
//! [`ERROR_TYPE_METADATA`] carries the Kinesis error name (`ResourceNotFoundException`,
//! `ExpiredIteratorException`, ...) and whose message is the Kinesis message. The client keeps
//! both, so a caller can branch on the name exactly as a Kinesis client would, and print
//! `<name>: <message>` to a person.
//!
//! Failures that never reached a node (refused connections, cut-off streams, timeouts) carry
//! no such name. When every endpoint failed that way the client reports
//! [`ClientError::Unreachable`], which a command-line tool can tell apart from an answer.

use strait_core::StraitError;
use strait_proto::ERROR_TYPE_METADATA;
use tonic::{Code, Status};

/// An error from a Strait call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// A node answered with an error.
    #[error("{error_type}: {message}")]
    Service {
        /// The Kinesis error name, e.g. `ResourceNotFoundException`.
        error_type: String,
        /// The message text the node sent.
        message: String,
        /// The gRPC status code. UNAVAILABLE marks a failure that a retry may cure.
        code: Code,
    },
    /// No endpoint answered before the deadline: every attempt failed to connect, was cut
    /// off or timed out. A write that failed this way may or may not have been applied.
    #[error("{}: {message}", ClientError::UNREACHABLE)]
    Unreachable {
        /// What was tried and the last failure seen.
        message: String,
    },
    /// The request was rejected before it was sent: no endpoints, an endpoint that is not a
    /// URI, or an argument the client can already tell is invalid.
    #[error("{}: {message}", ClientError::INVALID_ARGUMENT)]
    InvalidArgument {
        /// What is wrong.
        message: String,
    },
    /// A node's answer could not be understood, e.g. a malformed sequence number or a
    /// PutRecords response with the wrong number of results.
    #[error("{}: {message}", ClientError::INTERNAL_FAILURE)]
    Protocol {
        /// What was wrong with the answer.
        message: String,
    },
}

impl ClientError {
    /// The error name of [`ClientError::Unreachable`].
    pub const UNREACHABLE: &'static str = "ServiceUnavailable";
    /// The error name of [`ClientError::InvalidArgument`].
    pub const INVALID_ARGUMENT: &'static str = "InvalidArgumentException";
    /// The error name of [`ClientError::Protocol`], and of a status that carries no name.
    pub const INTERNAL_FAILURE: &'static str = "InternalFailure";
    /// The name of the error GetRecords reports for an iterator past its lifetime.
    pub const EXPIRED_ITERATOR: &'static str = "ExpiredIteratorException";
    /// The name of the error reported when a shard's throughput limit is hit.
    pub const THROUGHPUT_EXCEEDED: &'static str = "ProvisionedThroughputExceededException";

    /// Converts a status a node answered with.
    ///
    /// The Kinesis name comes from the [`ERROR_TYPE_METADATA`] key. A status without it
    /// (one produced by the transport, or by a server that is not Strait) is named after
    /// its code.
    pub fn from_status(status: &Status) -> ClientError {
        let error_type = error_type_of(status)
            .map(str::to_owned)
            .unwrap_or_else(|| name_for_code(status.code()).to_owned());
        ClientError::Service {
            error_type,
            message: status.message().to_owned(),
            code: status.code(),
        }
    }

    /// Builds an [`InvalidArgument`](Self::InvalidArgument) error.
    pub fn invalid_argument(message: impl Into<String>) -> ClientError {
        ClientError::InvalidArgument {
            message: message.into(),
        }
    }

    /// Builds a [`Protocol`](Self::Protocol) error.
    pub fn protocol(message: impl Into<String>) -> ClientError {
        ClientError::Protocol {
            message: message.into(),
        }
    }

    /// Returns the Kinesis error name, e.g. `ResourceNotFoundException`.
    pub fn error_type(&self) -> &str {
        match self {
            ClientError::Service { error_type, .. } => error_type,
            ClientError::Unreachable { .. } => Self::UNREACHABLE,
            ClientError::InvalidArgument { .. } => Self::INVALID_ARGUMENT,
            ClientError::Protocol { .. } => Self::INTERNAL_FAILURE,
        }
    }

    /// Returns the message, without the error name.
    pub fn message(&self) -> &str {
        match self {
            ClientError::Service { message, .. }
            | ClientError::Unreachable { message }
            | ClientError::InvalidArgument { message }
            | ClientError::Protocol { message } => message,
        }
    }

    /// Returns the gRPC code a node answered with, if one answered.
    pub fn code(&self) -> Option<Code> {
        match self {
            ClientError::Service { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Tells whether the same request may succeed if sent again after a pause: the node
    /// answered UNAVAILABLE, the shard's throughput limit was hit, or no node answered.
    ///
    /// A retried write may be applied twice when the first attempt's outcome was unknown.
    pub fn is_retryable(&self) -> bool {
        match self {
            ClientError::Service { code, error_type, .. } => {
                *code == Code::Unavailable || error_type == Self::THROUGHPUT_EXCEEDED
            }
            ClientError::Unreachable { .. } => true,
            ClientError::InvalidArgument { .. } | ClientError::Protocol { .. } => false,
        }
    }

    /// Tells whether no endpoint could be reached at all.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, ClientError::Unreachable { .. })
    }

    /// Tells whether this is the given Kinesis error, e.g. `ResourceNotFoundException`.
    pub fn is(&self, error_type: &str) -> bool {
        self.error_type() == error_type
    }
}

impl From<StraitError> for ClientError {
    /// Converts a domain validation error found on the client side, keeping its name.
    fn from(error: StraitError) -> ClientError {
        ClientError::Service {
            error_type: error.kinesis_type().to_owned(),
            message: error.message().to_owned(),
            code: Code::InvalidArgument,
        }
    }
}

/// Returns the Kinesis error name a status carries, if it carries one.
pub(crate) fn error_type_of(status: &Status) -> Option<&str> {
    status
        .metadata()
        .get(ERROR_TYPE_METADATA)
        .and_then(|value| value.to_str().ok())
        .filter(|name| !name.is_empty())
}

/// Names a status that carries no Kinesis name, after its gRPC code.
fn name_for_code(code: Code) -> &'static str {
    match code {
        Code::Unavailable | Code::DeadlineExceeded => ClientError::UNREACHABLE,
        Code::InvalidArgument => ClientError::INVALID_ARGUMENT,
        Code::NotFound => "ResourceNotFoundException",
        Code::Unimplemented => "UnknownOperationException",
        Code::PermissionDenied | Code::Unauthenticated => "AccessDeniedException",
        _ => ClientError::INTERNAL_FAILURE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status_with_type(code: Code, error_type: &str, message: &str) -> Status {
        let mut status = Status::new(code, message);
        status.metadata_mut().insert(
            ERROR_TYPE_METADATA,
            error_type.parse().expect("ascii metadata value"),
        );
        status
    }

    #[test]
    fn takes_the_kinesis_name_from_metadata() {
        let status = status_with_type(
            Code::NotFound,
            "ResourceNotFoundException",
            "Stream orders under account 000000000000 not found.",
        );
        let error = ClientError::from_status(&status);
        assert_eq!(error.error_type(), "ResourceNotFoundException");
        assert_eq!(
            error.to_string(),
            "ResourceNotFoundException: Stream orders under account 000000000000 not found."
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn unavailable_and_throttles_are_retryable() {
        let unavailable = status_with_type(Code::Unavailable, "InternalFailure", "no leader");
        assert!(ClientError::from_status(&unavailable).is_retryable());
        let throttled = status_with_type(
            Code::ResourceExhausted,
            "ProvisionedThroughputExceededException",
            "Rate exceeded",
        );
        assert!(ClientError::from_status(&throttled).is_retryable());
        let limit = status_with_type(Code::ResourceExhausted, "LimitExceededException", "quota");
        assert!(!ClientError::from_status(&limit).is_retryable());
    }

    #[test]
    fn a_status_without_a_name_is_named_after_its_code() {
        let error = ClientError::from_status(&Status::unimplemented("no such method"));
        assert_eq!(error.error_type(), "UnknownOperationException");
        let error = ClientError::from_status(&Status::unknown("boom"));
        assert_eq!(error.error_type(), "InternalFailure");
    }
}
