//! `application/x-amz-cbor-1.1`: blobs as byte strings, timestamps as epoch milliseconds.
//!
//! The Java SDKs write indefinite-length maps and arrays and tag timestamps with tag 1;
//! ciborium reads both forms, and tags are dropped on decoding since the member's model type
//! already says it is a timestamp. Responses use definite lengths and untagged millisecond
//! integers, which every CBOR-speaking Kinesis client reads.

use std::collections::BTreeMap;

use ciborium::value::Value as Cbor;

use super::Value;
use crate::error::ApiError;

/// Decodes a CBOR request body.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let cbor: Cbor = ciborium::de::from_reader(body).map_err(|_| ApiError::serialization_bare())?;
    from_cbor(cbor)
}

fn from_cbor(cbor: Cbor) -> Result<Value, ApiError> {
    Ok(match cbor {
        Cbor::Null => Value::Null,
        Cbor::Bool(b) => Value::Bool(b),
        Cbor::Integer(n) => Value::Integer(i128::from(n)),
        Cbor::Float(x) => Value::Float(x),
        Cbor::Text(s) => Value::String(s),
        Cbor::Bytes(bytes) => Value::Blob(bytes),
        Cbor::Tag(_, inner) => from_cbor(*inner)?,
        Cbor::Array(items) => Value::List(items.into_iter().map(from_cbor).collect::<Result<_, _>>()?),
        Cbor::Map(entries) => {
            let mut members = BTreeMap::new();
            for (key, value) in entries {
                let Cbor::Text(name) = key else {
                    return Err(ApiError::serialization("CBOR map keys must be text strings"));
                };
                members.insert(name, from_cbor(value)?);
            }
            Value::Map(members)
        }
        _ => Value::Null,
    })
}

fn to_cbor(value: &Value) -> Cbor {
    match value {
        Value::Null => Cbor::Null,
        Value::Bool(b) => Cbor::Bool(*b),
        Value::Integer(n) => match i64::try_from(*n) {
            Ok(i) => Cbor::Integer(i.into()),
            Err(_) => Cbor::Float(*n as f64),
        },
        Value::Float(x) => Cbor::Float(*x),
        Value::String(s) => Cbor::Text(s.clone()),
        Value::Blob(bytes) => Cbor::Bytes(bytes.clone()),
        Value::Timestamp(ms) => Cbor::Integer((*ms).into()),
        Value::List(items) => Cbor::Array(items.iter().map(to_cbor).collect()),
        Value::Map(members) => Cbor::Map(
            members
                .iter()
                .map(|(name, member)| (Cbor::Text(name.clone()), to_cbor(member)))
                .collect(),
        ),
    }
}

/// Encodes a response document as CBOR.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing into a Vec cannot fail, and every Value maps to a CBOR value.
    ciborium::ser::into_writer(&to_cbor(value), &mut out).expect("CBOR encoding into memory succeeds");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Format, Input};

    #[test]
    fn round_trips_blobs_and_timestamps() {
        let value = Value::structure([
            ("Data", Value::Blob(vec![0, 255, 7])),
            ("At", Value::Timestamp(1_704_164_645_678)),
            ("Name", Value::string("s")),
        ]);
        let decoded = decode(&encode(&value)).expect("decodes");
        let Value::Map(members) = decoded else {
            panic!("a map")
        };
        assert_eq!(members["Data"], Value::Blob(vec![0, 255, 7]));
        assert_eq!(members["At"], Value::Integer(1_704_164_645_678));
    }

    #[test]
    fn reads_indefinite_maps_and_tagged_timestamps() {
        // {_ "StreamName": "s", "Timestamp": 1(1000), "Data": h'01'}
        let mut body = vec![0xbf];
        body.extend([0x6a]);
        body.extend(b"StreamName");
        body.extend([0x61, b's']);
        body.extend([0x69]);
        body.extend(b"Timestamp");
        body.extend([0xc1, 0x19, 0x03, 0xe8]);
        body.extend([0x64]);
        body.extend(b"Data");
        body.extend([0x41, 0x01]);
        body.push(0xff);
        let input = Input::new(Format::Cbor, decode(&body).expect("decodes")).expect("a map");
        assert_eq!(input.string("StreamName").expect("ok"), Some("s".to_owned()));
        assert_eq!(input.timestamp_ms("Timestamp").expect("ok"), Some(1000));
        assert_eq!(input.blob("Data").expect("ok"), Some(vec![1]));
    }

    #[test]
    fn garbage_is_a_serialization_error() {
        assert_eq!(
            decode(&[0xff, 0x00]).expect_err("garbage").kinesis_type(),
            "SerializationException"
        );
    }
}
