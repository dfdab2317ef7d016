//! The one place where domain errors become gRPC statuses.
//!
//! The status code tells generic gRPC tooling what happened (and the client when to
//! retry: only UNAVAILABLE is retryable); the `x-strait-error-type` metadata carries the
//! exact Kinesis error name, and the message is the Kinesis message.

use strait_core::StraitError;
use tonic::{Code, Status};

/// Converts a domain error to a status with the Kinesis error name attached.
pub fn to_status(error: StraitError) -> Status {
    let code = match &error {
        StraitError::ResourceNotFound { .. } => Code::NotFound,
        StraitError::ResourceInUse { .. } => Code::FailedPrecondition,
        StraitError::InvalidArgument { .. } | StraitError::Validation { .. } => Code::InvalidArgument,
        StraitError::LimitExceeded { .. } | StraitError::ProvisionedThroughputExceeded { .. } => {
            Code::ResourceExhausted
        }
        StraitError::ExpiredIterator { .. } | StraitError::ExpiredNextToken { .. } => Code::OutOfRange,
        StraitError::Unavailable { .. } => Code::Unavailable,
        StraitError::Internal { .. } => Code::Internal,
    };
    with_type(
        Status::new(code, error.message().to_string()),
        error.kinesis_type(),
    )
}

/// Attaches an error type name to a status.
pub fn with_type(mut status: Status, error_type: &str) -> Status {
    if let Ok(value) = error_type.parse() {
        status
            .metadata_mut()
            .insert(strait_proto::ERROR_TYPE_METADATA, value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kinesis_name_travels_in_metadata() {
        let status = to_status(StraitError::invalid_iterator());
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(
            status.metadata().get(strait_proto::ERROR_TYPE_METADATA).unwrap(),
            "InvalidArgumentException"
        );
        assert_eq!(status.message(), "Invalid ShardIterator.");
    }

    #[test]
    fn only_unavailable_maps_to_a_retryable_code() {
        assert_eq!(to_status(StraitError::unavailable("x")).code(), Code::Unavailable);
        assert_eq!(to_status(StraitError::internal("x")).code(), Code::Internal);
    }
}
