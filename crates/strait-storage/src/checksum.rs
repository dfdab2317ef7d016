//! CRC32C framing for stored values.
//!
//! Every value that holds replicated data (log entries, snapshot chunks) is stored as
//! `crc32c(payload) as u32 BE || payload`. A reader verifies the checksum before decoding;
//! a mismatch is an error that stops the read, so a corrupted record is never served.

use bytes::{BufMut, Bytes, BytesMut};

/// A value whose checksum does not match its bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("checksum mismatch: stored {stored:#010x}, computed {computed:#010x}")]
pub struct ChecksumMismatch {
    pub stored: u32,
    pub computed: u32,
}

/// Frames `payload` with its checksum.
pub fn seal(payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 4);
    out.put_u32(crc32c::crc32c(payload));
    out.put_slice(payload);
    out.freeze()
}

/// Room [`seal_in_place`] needs in front of the payload.
pub const FRAME_HEADER_LEN: usize = 4;

/// Frames a payload that was written after [`FRAME_HEADER_LEN`] reserved bytes of
/// `buf`, without copying it. A buffer shorter than the header is framed as an empty
/// payload would be (its bytes are not a payload).
pub fn seal_in_place(mut buf: Vec<u8>) -> Bytes {
    if buf.len() < FRAME_HEADER_LEN {
        return seal(&[]);
    }
    let crc = crc32c::crc32c(&buf[FRAME_HEADER_LEN..]);
    buf[..FRAME_HEADER_LEN].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(buf)
}

/// Verifies a framed value and returns its payload.
pub fn open(framed: &Bytes) -> Result<Bytes, ChecksumMismatch> {
    if framed.len() < 4 {
        return Err(ChecksumMismatch {
            stored: 0,
            computed: crc32c::crc32c(framed),
        });
    }
    let stored = u32::from_be_bytes([framed[0], framed[1], framed[2], framed[3]]);
    let payload = framed.slice(4..);
    let computed = crc32c::crc32c(&payload);
    if stored != computed {
        return Err(ChecksumMismatch { stored, computed });
    }
    Ok(payload)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let framed = seal(&payload);
            let opened = open(&framed).unwrap();
            prop_assert_eq!(opened.as_ref(), &payload[..]);
        }

        #[test]
        fn sealing_in_place_frames_like_sealing_a_copy(payload in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut buf = vec![0xEE; FRAME_HEADER_LEN];
            buf.extend_from_slice(&payload);
            prop_assert_eq!(seal_in_place(buf), seal(&payload));
        }

        #[test]
        fn any_flipped_bit_is_detected(
            payload in proptest::collection::vec(any::<u8>(), 1..256),
            byte in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let mut framed = seal(&payload).to_vec();
            let i = byte.index(framed.len());
            framed[i] ^= 1 << bit;
            prop_assert!(open(&Bytes::from(framed)).is_err());
        }
    }
}
