//! AWS JSON 1.1: blobs as base64 text, timestamps as epoch seconds.
//!
//! Timestamps are written as plain decimals with millisecond precision (`1704164645.678`),
//! never in exponent form, which some clients parse poorly.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::Value;
use crate::error::ApiError;

/// Decodes a JSON request body. Malformed JSON is a SerializationException without a message,
/// as AWS answers.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let json: serde_json::Value = serde_json::from_slice(body).map_err(|_| ApiError::serialization_bare())?;
    Ok(from_json(json))
}

fn from_json(json: serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Integer(i128::from(i)),
            (None, Some(u)) => Value::Integer(i128::from(u)),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => Value::List(items.into_iter().map(from_json).collect()),
        serde_json::Value::Object(members) => Value::Map(
            members
                .into_iter()
                .map(|(name, value)| (name, from_json(value)))
                .collect::<BTreeMap<_, _>>(),
        ),
    }
}

/// Encodes a response document as JSON.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = String::new();
    write(value, &mut out);
    out.into_bytes()
}

fn write(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Integer(n) => out.push_str(&n.to_string()),
        Value::Float(x) if x.is_finite() => out.push_str(&x.to_string()),
        Value::Float(_) => out.push_str("null"),
        Value::String(s) => write_string(s, out),
        Value::Blob(bytes) => write_string(&STANDARD.encode(bytes), out),
        Value::Timestamp(ms) => out.push_str(&format!("{}.{:03}", ms / 1000, ms % 1000)),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Map(members) => {
            out.push('{');
            for (i, (name, member)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(name, out);
                out.push(':');
                write(member, out);
            }
            out.push('}');
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json escapes exactly as JSON requires; a string always serializes.
    out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_blobs_as_base64_and_timestamps_as_decimal_seconds() {
        let value = Value::structure([
            ("Data", Value::Blob(b"hello".to_vec())),
            ("At", Value::Timestamp(1_704_164_645_008)),
            ("Missing", Value::Null),
            ("Name", Value::string("a\"b")),
            ("List", Value::List(vec![Value::Integer(1), Value::Bool(true)])),
        ]);
        assert_eq!(
            String::from_utf8(encode(&value)).expect("utf-8"),
            r#"{"At":1704164645.008,"Data":"aGVsbG8=","List":[1,true],"Name":"a\"b"}"#
        );
    }

    #[test]
    fn decodes_numbers_strings_and_nesting() {
        let value = decode(br#"{"A":1,"B":1.5,"C":[{"D":"x"}],"E":null}"#).expect("valid");
        let Value::Map(members) = value else {
            panic!("a map")
        };
        assert_eq!(members["A"], Value::Integer(1));
        assert_eq!(members["B"], Value::Float(1.5));
        assert_eq!(members["E"], Value::Null);
        assert!(matches!(&members["C"], Value::List(items) if items.len() == 1));
    }

    #[test]
    fn malformed_json_is_a_bare_serialization_error() {
        let err = decode(b"{not json").expect_err("malformed");
        assert_eq!(err.kinesis_type(), "SerializationException");
        assert_eq!(err.message(), "");
    }
}
