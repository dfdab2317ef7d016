//! UpdateMaxRecordSize: change the largest record a stream accepts (1024 to 10240 KiB).
//!
//! The limit counts data plus partition key, as every record limit does, and takes effect
//! for the next PutRecord(s). A stream whose limit exceeds 1 MiB also accepts PutRecords
//! requests of up to 10 MiB in all.

use strait_core::StreamOperations;
use strait_core::service::MAX_RECORD_SIZE_KIB_RANGE;

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read_arn_only(input, &mut checks)?;
    let kib = checks.required_integer(
        input,
        "MaxRecordSizeInKiB",
        "maxRecordSizeInKiB",
        i64::from(*MAX_RECORD_SIZE_KIB_RANGE.start()),
        Some(i64::from(*MAX_RECORD_SIZE_KIB_RANGE.end())),
    )?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    // The model bounds passed, so the value fits.
    let kib = u32::try_from(kib.unwrap_or_default()).unwrap_or(u32::MAX);
    context
        .operations
        .set_max_record_size(&namespace, &name, kib)
        .await?;
    Ok(Reply::Empty)
}
