//! PutRecords: up to 500 records, each succeeding or failing on its own.
//!
//! Request-wide problems (model violations, an unknown stream, a record or request over
//! the stream's size limits) fail the whole call. Otherwise the answer has one entry per record, in request
//! order: a shard id and sequence number, or an ErrorCode and ErrorMessage in its place.

use strait_core::service::PutRecordResult;
use strait_core::{MAX_PUT_RECORDS_ENTRIES, StreamOperations, Violation};

use super::common::{Checks, StreamMembers};
use super::put_record::RecordMembers;
use super::{Context, Reply};
use crate::codec::{Input, Value};
use crate::error::ApiError;

pub async fn handle<O: StreamOperations>(context: &Context<'_, O>, input: &Input) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let entries = input.structure_list("Records")?;
    match &entries {
        None => checks.push(Violation::missing("records")),
        Some(entries) if entries.is_empty() => checks.push(Violation::min_length("[]", "records", 1)),
        Some(entries) if entries.len() > MAX_PUT_RECORDS_ENTRIES => checks.push(Violation::max_length(
            format!("[{} records]", entries.len()),
            "records",
            MAX_PUT_RECORDS_ENTRIES,
        )),
        Some(_) => {}
    }
    let members = entries
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, entry)| RecordMembers::read(entry, &format!("records.{}.member.", i + 1), &mut checks))
        .collect::<Result<Vec<_>, _>>()?;
    let stream = StreamMembers::read(input, &mut checks)?;
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    let records = members
        .into_iter()
        .map(RecordMembers::build)
        .collect::<Result<Vec<_>, _>>()?;
    // The size limits are the stream's (UpdateMaxRecordSize).
    let extras = context.operations.stream_extras(&namespace, &name).await?;
    strait_core::check_put_records(
        &records,
        extras.max_record_bytes(),
        extras.max_put_records_bytes(),
    )?;
    let results = context
        .operations
        .put_records(&namespace, &name, records, None)
        .await?;
    let failed = results.iter().filter(|r| !r.is_ok()).count();
    let entries = results
        .into_iter()
        .map(|result| match result {
            PutRecordResult::Ok {
                shard,
                sequence_number,
            } => Value::structure([
                ("SequenceNumber", Value::string(sequence_number.to_string())),
                ("ShardId", Value::string(shard.to_string())),
            ]),
            PutRecordResult::Err { error } => Value::structure([
                ("ErrorCode", Value::string(error.kinesis_record_error_code())),
                ("ErrorMessage", Value::string(error.message())),
            ]),
        })
        .collect();
    Ok(Reply::Document(Value::structure([
        ("FailedRecordCount", Value::Integer(failed as i128)),
        ("Records", Value::List(entries)),
        ("EncryptionType", super::put_record::encrypted(&extras)),
    ])))
}
