//! The AWS event-stream encoding that SubscribeToShard answers with.
//!
//! Each message is framed as
//!
//! ```text
//! | total length (4) | headers length (4) | prelude CRC (4) | headers | payload | message CRC (4) |
//! ```
//!
//! with big-endian integers and CRC-32 (IEEE, as zlib computes it) over the first 8 bytes for
//! the prelude CRC and over everything before it for the message CRC. Headers are
//! `name length (1) | name | type (1) | value`; Kinesis only uses string values (type 7, a
//! 2-byte length and the bytes).

/// Header value type 7: a UTF-8 string with a 2-byte length.
const STRING_TYPE: u8 = 7;

/// Encodes one message with string headers.
pub fn encode_message(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut header_bytes = Vec::new();
    for (name, value) in headers {
        header_bytes.push(name.len() as u8);
        header_bytes.extend_from_slice(name.as_bytes());
        header_bytes.push(STRING_TYPE);
        header_bytes.extend_from_slice(&(value.len() as u16).to_be_bytes());
        header_bytes.extend_from_slice(value.as_bytes());
    }
    let total = 12 + header_bytes.len() + payload.len() + 4;
    let mut message = Vec::with_capacity(total);
    message.extend_from_slice(&(total as u32).to_be_bytes());
    message.extend_from_slice(&(header_bytes.len() as u32).to_be_bytes());
    let prelude_crc = crc32(&message);
    message.extend_from_slice(&prelude_crc.to_be_bytes());
    message.extend_from_slice(&header_bytes);
    message.extend_from_slice(payload);
    let message_crc = crc32(&message);
    message.extend_from_slice(&message_crc.to_be_bytes());
    message
}

/// An `event` message of the given type with a JSON payload.
pub fn event(event_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[
            (":message-type", "event"),
            (":event-type", event_type),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

/// An `exception` message naming a modeled error, with `{"message": ...}` as payload.
pub fn exception(error_type: &str, payload: &[u8]) -> Vec<u8> {
    encode_message(
        &[
            (":message-type", "exception"),
            (":exception-type", error_type),
            (":content-type", "application/json"),
        ],
        payload,
    )
}

/// CRC-32 with the IEEE polynomial (reflected 0xEDB88320), as zlib computes it.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_zlib() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b"The quick brown fox jumps over the lazy dog"), 0x414F_A339);
    }

    #[test]
    fn frames_carry_lengths_and_both_crcs() {
        let message = event("initial-response", b"{}");
        let total = u32::from_be_bytes(message[0..4].try_into().expect("4 bytes")) as usize;
        let headers = u32::from_be_bytes(message[4..8].try_into().expect("4 bytes")) as usize;
        assert_eq!(total, message.len());
        assert_eq!(
            u32::from_be_bytes(message[8..12].try_into().expect("4 bytes")),
            crc32(&message[0..8])
        );
        assert_eq!(
            u32::from_be_bytes(message[total - 4..].try_into().expect("4 bytes")),
            crc32(&message[..total - 4])
        );
        assert_eq!(&message[12 + headers..total - 4], b"{}");
        // The first header: ":message-type" = "event".
        assert_eq!(message[12] as usize, ":message-type".len());
        assert_eq!(&message[13..26], b":message-type");
        assert_eq!(message[26], STRING_TYPE);
        assert_eq!(&message[27..29], &[0, 5]);
        assert_eq!(&message[29..34], b"event");
    }

    #[test]
    fn empty_message_is_sixteen_bytes() {
        let message = encode_message(&[], b"");
        assert_eq!(message.len(), 16);
        assert_eq!(&message[0..8], &[0, 0, 0, 16, 0, 0, 0, 0]);
    }
}
