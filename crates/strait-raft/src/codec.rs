//! How Raft values are encoded on disk and on the wire.
//!
//! Values are postcard (compact, schema-less binary) wrapped in a CRC32C frame on disk.
//! A checksum mismatch on read becomes an `io::Error` of kind `InvalidData`: openraft then
//! stops the group on this node rather than serve or replicate corrupted data.
//!
//! Decoding from a [`Bytes`] ([`decode_stored`], [`decode_shared`]) lets fields marked
//! `#[serde(deserialize_with = "codec::shared_bytes")]` become slices of that buffer
//! instead of copies: a record's data is then never copied between the disk or the
//! network and the reader it is served to.

use std::cell::RefCell;
use std::io;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::{Deserializer, Serialize};
use strait_storage::checksum;

/// Encodes a value with postcard.
pub fn encode<T: Serialize + ?Sized>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(invalid_data)
}

/// Decodes a postcard value. `Bytes` fields are copied; see [`decode_shared`].
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(invalid_data)
}

/// Decodes a postcard value whose `shared_bytes` fields slice `bytes` rather than copy.
pub fn decode_shared<T: DeserializeOwned>(bytes: &Bytes) -> io::Result<T> {
    let _source = DecodeSource::set(bytes);
    decode(bytes)
}

/// Encodes and checksums a value for storage.
pub fn encode_stored<T: Serialize + ?Sized>(value: &T) -> io::Result<Bytes> {
    let buf = postcard::to_extend(value, vec![0; checksum::FRAME_HEADER_LEN]).map_err(invalid_data)?;
    Ok(checksum::seal_in_place(buf))
}

/// Verifies and decodes a stored value; `shared_bytes` fields slice `stored`.
pub fn decode_stored<T: DeserializeOwned>(stored: &Bytes) -> io::Result<T> {
    let payload = checksum::open(stored).map_err(invalid_data)?;
    decode_shared(&payload)
}

fn invalid_data(e: impl std::error::Error + Send + Sync + 'static) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

thread_local! {
    /// The buffer the decode running on this thread reads from, if it has one.
    static SOURCE: RefCell<Option<Bytes>> = const { RefCell::new(None) };
}

/// Makes a buffer the current decode source for its lifetime and restores the previous
/// one afterwards (decodes do not nest today, but nothing breaks if they do).
struct DecodeSource {
    previous: Option<Bytes>,
}

impl DecodeSource {
    fn set(bytes: &Bytes) -> Self {
        let previous = SOURCE.with(|s| s.replace(Some(bytes.clone())));
        Self { previous }
    }
}

impl Drop for DecodeSource {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SOURCE.with(|s| *s.borrow_mut() = previous);
    }
}

/// A `deserialize_with` for `Bytes` fields: a slice of the buffer being decoded when
/// the bytes lie inside it (postcard hands out borrowed bytes), a copy otherwise.
pub fn shared_bytes<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Bytes, D::Error> {
    deserializer.deserialize_bytes(SharedBytesVisitor)
}

struct SharedBytesVisitor;

impl<'de> serde::de::Visitor<'de> for SharedBytesVisitor {
    type Value = Bytes;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_borrowed_bytes<E: serde::de::Error>(self, v: &'de [u8]) -> Result<Bytes, E> {
        let shared = SOURCE.with(|s| {
            s.borrow().as_ref().and_then(|source| {
                let start = (v.as_ptr() as usize).checked_sub(source.as_ptr() as usize)?;
                let end = start.checked_add(v.len())?;
                (end <= source.len()).then(|| source.slice(start..end))
            })
        });
        Ok(shared.unwrap_or_else(|| Bytes::copy_from_slice(v)))
    }

    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Bytes, E> {
        Ok(Bytes::copy_from_slice(v))
    }

    fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Bytes, E> {
        Ok(Bytes::from(v))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Bytes, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(byte) = seq.next_element::<u8>()? {
            out.push(byte);
        }
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::command::{AppendBatch, ProducerBatch, ShardCommand, ShardRecord};

    fn command() -> ShardCommand {
        let records = (0..3)
            .map(|i| ShardRecord {
                partition_key: format!("key-{i}"),
                data: Bytes::from(vec![i as u8; 100 + i]),
            })
            .collect();
        ShardCommand::append(AppendBatch::new(
            7,
            vec![ProducerBatch {
                producer: 1,
                sequence: 2,
                records,
            }],
        ))
    }

    fn record_data(command: &ShardCommand) -> Vec<Bytes> {
        match command {
            ShardCommand::Append(batch) => batch
                .producers
                .iter()
                .flat_map(|p| p.records.iter().map(|r| r.data.clone()))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn lies_within(part: &Bytes, whole: &Bytes) -> bool {
        let start = whole.as_ptr() as usize;
        let at = part.as_ptr() as usize;
        at >= start && at + part.len() <= start + whole.len()
    }

    #[test]
    fn stored_values_decode_to_slices_of_the_stored_buffer() {
        let stored = encode_stored(&command()).unwrap();
        let decoded: ShardCommand = decode_stored(&stored).unwrap();
        assert_eq!(decoded, command());
        for data in record_data(&decoded) {
            assert!(lies_within(&data, &stored), "record data was copied");
        }
    }

    #[test]
    fn plain_decodes_copy_and_agree_with_shared_ones() {
        let encoded = Bytes::from(encode(&command()).unwrap());
        let copied: ShardCommand = decode(&encoded).unwrap();
        let shared: ShardCommand = decode_shared(&encoded).unwrap();
        assert_eq!(copied, shared);
        for data in record_data(&copied) {
            assert!(!lies_within(&data, &encoded));
        }
        for data in record_data(&shared) {
            assert!(lies_within(&data, &encoded));
        }
    }

    #[test]
    fn a_stored_value_keeps_the_frame_format() {
        let payload = encode(&command()).unwrap();
        assert_eq!(encode_stored(&command()).unwrap(), checksum::seal(&payload));
    }

    #[test]
    fn the_source_is_cleared_after_a_decode() {
        let encoded = Bytes::from(encode(&command()).unwrap());
        let _: ShardCommand = decode_shared(&encoded).unwrap();
        assert!(SOURCE.with(|s| s.borrow().is_none()));
    }
}
