//! How Raft values are encoded on disk and on the wire.
//!
//! Values are postcard (compact, schema-less binary) wrapped in a CRC32C frame on disk.
//! A checksum mismatch on read becomes an `io::Error` of kind `InvalidData`: openraft then
//! stops the group on this node rather than serve or replicate corrupted data.

use std::io;

use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;
use strait_storage::checksum;

/// Encodes a value with postcard.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Decodes a postcard value.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Encodes and checksums a value for storage.
pub fn encode_stored<T: Serialize + ?Sized>(value: &T) -> io::Result<Bytes> {
    Ok(checksum::seal(&encode(value)?))
}

/// Verifies and decodes a stored value.
pub fn decode_stored<T: DeserializeOwned>(stored: &Bytes) -> io::Result<T> {
    let payload = checksum::open(stored).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    decode(&payload)
}
