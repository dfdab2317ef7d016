//! What StartStreamEncryption and StopStreamEncryption share.
//!
//! Encryption is metadata only: Strait records the key id, reports `EncryptionType: KMS`
//! and the key wherever Kinesis does, and never calls KMS.

use strait_core::{StraitError, StreamOperations, Violation};

use super::common::{Checks, StreamMembers};
use super::{Context, Reply};
use crate::codec::Input;
use crate::error::ApiError;

/// The model's encryption types.
const ENCRYPTION_TYPES: [&str; 2] = ["NONE", "KMS"];

/// Starts (`start`) or stops encryption.
pub async fn change<O: StreamOperations>(
    context: &Context<'_, O>,
    input: &Input,
    start: bool,
) -> Result<Reply, ApiError> {
    let mut checks = Checks::new();
    let stream = StreamMembers::read(input, &mut checks)?;
    let kind = checks.required_string(input, "EncryptionType", "encryptionType")?;
    if let Some(kind) = &kind
        && !ENCRYPTION_TYPES.contains(&kind.as_str())
    {
        checks.push(Violation::enum_value(
            kind.clone(),
            "encryptionType",
            &ENCRYPTION_TYPES,
        ));
    }
    let key_id = checks.required_string(input, "KeyId", "keyId")?;
    if let Some(key_id) = &key_id {
        let len = key_id.chars().count();
        if len < 1 {
            checks.push(Violation::min_length(key_id.clone(), "keyId", 1));
        }
        if len > 2048 {
            checks.push(Violation::max_length(key_id.clone(), "keyId", 2048));
        }
    }
    checks.finish()?;
    let (namespace, name) = stream.resolve(&context.namespace)?;
    if kind.as_deref() != Some("KMS") {
        return Err(StraitError::invalid_argument("EncryptionType must be KMS.").into());
    }
    let key_id = if start { key_id } else { None };
    context
        .operations
        .set_encryption(&namespace, &name, key_id)
        .await?;
    Ok(Reply::Empty)
}
