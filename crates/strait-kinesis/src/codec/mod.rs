//! The two body formats Kinesis clients speak, behind one document model.
//!
//! boto3, the AWS CLI and most SDKs send AWS JSON 1.1; the Java SDKs send the legacy
//! `application/x-amz-cbor-1.1` dialect by default. Both carry the same members under the same
//! names and differ only in how blobs and timestamps are written:
//!
//! | shape     | JSON 1.1                                   | CBOR                         |
//! |-----------|--------------------------------------------|------------------------------|
//! | blob      | base64 string                              | byte string                  |
//! | timestamp | epoch seconds (integer or decimal)         | epoch milliseconds (tag 1 ok) |
//!
//! A request body is decoded into a [`Value`] once, by [`json`] or [`cbor`], and the actions
//! read their members through an [`Input`], whose typed accessors know the format and so
//! interpret blobs and timestamps correctly. Responses are built as [`Value`]s with
//! [`Value::Blob`] and [`Value::Timestamp`] where the model says so, and the same codec writes
//! them back in the request's format. No action ever sees JSON or CBOR.

pub mod cbor;
pub mod json;

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::ApiError;

/// The body format of a request, and so of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/x-amz-json-1.1`.
    Json,
    /// `application/x-amz-cbor-1.1`.
    Cbor,
}

impl Format {
    /// The JSON content type.
    pub const JSON_CONTENT_TYPE: &'static str = "application/x-amz-json-1.1";
    /// The CBOR content type.
    pub const CBOR_CONTENT_TYPE: &'static str = "application/x-amz-cbor-1.1";

    /// Picks the format from a `Content-Type` header, ignoring parameters after `;`. As AWS
    /// does, anything that is not the CBOR type is answered in JSON.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        let essence = content_type
            .and_then(|value| value.split(';').next())
            .map(str::trim)
            .unwrap_or_default();
        if essence.eq_ignore_ascii_case(Self::CBOR_CONTENT_TYPE) {
            Format::Cbor
        } else {
            Format::Json
        }
    }

    /// The content type responses in this format carry.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Json => Self::JSON_CONTENT_TYPE,
            Format::Cbor => Self::CBOR_CONTENT_TYPE,
        }
    }

    /// Decodes a request body; an empty body is an empty input.
    pub fn decode(self, body: &[u8]) -> Result<Value, ApiError> {
        if body.is_empty() {
            return Ok(Value::Map(BTreeMap::new()));
        }
        match self {
            Format::Json => json::decode(body),
            Format::Cbor => cbor::decode(body),
        }
    }

    /// Encodes a response document.
    pub fn encode(self, value: &Value) -> Vec<u8> {
        match self {
            Format::Json => json::encode(value),
            Format::Cbor => cbor::encode(value),
        }
    }
}

/// A decoded request or a response to encode: the data model common to JSON and CBOR.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null` or CBOR null/undefined; treated as an absent member.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(i128),
    /// A number with a fraction.
    Float(f64),
    /// A text string (in JSON also the base64 form of a blob).
    String(String),
    /// Raw bytes: a CBOR byte string when decoded, a blob to encode in a response.
    Blob(Vec<u8>),
    /// A timestamp to encode, in milliseconds since the Unix epoch (responses only).
    Timestamp(u64),
    /// A list.
    List(Vec<Value>),
    /// A structure or map with text keys.
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// Builds a string value.
    pub fn string(text: impl Into<String>) -> Value {
        Value::String(text.into())
    }

    /// Builds a map value from `(member, value)` pairs, leaving out [`Value::Null`]s so
    /// that absent members are omitted, as botocore expects.
    pub fn structure<const N: usize>(members: [(&str, Value); N]) -> Value {
        Value::Map(
            members
                .into_iter()
                .filter(|(_, value)| *value != Value::Null)
                .map(|(name, value)| (name.to_owned(), value))
                .collect(),
        )
    }

    /// Builds a value from an optional one, absent becoming [`Value::Null`].
    pub fn optional(value: Option<Value>) -> Value {
        value.unwrap_or(Value::Null)
    }

    /// The name of the value's kind, for serialization error messages.
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Integer(_) | Value::Float(_) => "number",
            Value::String(_) => "string",
            Value::Blob(_) => "blob",
            Value::Timestamp(_) => "timestamp",
            Value::List(_) => "list",
            Value::Map(_) => "structure",
        }
    }
}

/// A request's members, read with the types the model gives them.
///
/// Every accessor returns `Ok(None)` for an absent (or null) member and a
/// SerializationException for a member of the wrong type, which is what AWS answers before it
/// looks at any constraint.
#[derive(Debug, Clone)]
pub struct Input {
    format: Format,
    members: BTreeMap<String, Value>,
}

impl Input {
    /// Wraps a decoded body. The body must be a structure.
    pub fn new(format: Format, body: Value) -> Result<Input, ApiError> {
        match body {
            Value::Map(members) => Ok(Input { format, members }),
            other => Err(ApiError::serialization(format!(
                "Expected a structure but found a {}",
                other.kind()
            ))),
        }
    }

    /// The request's body format.
    pub fn format(&self) -> Format {
        self.format
    }

    fn get(&self, name: &str) -> Option<&Value> {
        self.members.get(name).filter(|value| **value != Value::Null)
    }

    fn wrong_type(name: &str, expected: &str, found: &Value) -> ApiError {
        ApiError::serialization(format!(
            "Member {name} must be a {expected}, but a {} was given",
            found.kind()
        ))
    }

    /// A string member.
    pub fn string(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(other) => Err(Self::wrong_type(name, "string", other)),
        }
    }

    /// An integer member (Integer or Long in the model).
    pub fn integer(&self, name: &str) -> Result<Option<i64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Integer(n)) => i64::try_from(*n)
                .map(Some)
                .map_err(|_| ApiError::serialization(format!("Member {name} is out of range"))),
            Some(other) => Err(Self::wrong_type(name, "number", other)),
        }
    }

    /// A boolean member.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Self::wrong_type(name, "boolean", other)),
        }
    }

    /// A blob member: base64 text in JSON, a byte string in CBOR.
    pub fn blob(&self, name: &str) -> Result<Option<Vec<u8>>, ApiError> {
        match (self.format, self.get(name)) {
            (_, None) => Ok(None),
            (_, Some(Value::Blob(bytes))) => Ok(Some(bytes.clone())),
            (Format::Json, Some(Value::String(text))) => decode_base64(text).map(Some),
            (_, Some(other)) => Err(Self::wrong_type(name, "blob", other)),
        }
    }

    /// A timestamp member, in milliseconds since the Unix epoch: seconds (integer or
    /// decimal) in JSON, milliseconds (tagged or not, integer or float) in CBOR.
    pub fn timestamp_ms(&self, name: &str) -> Result<Option<u64>, ApiError> {
        let scale = match self.format {
            Format::Json => 1000.0,
            Format::Cbor => 1.0,
        };
        let millis = match self.get(name) {
            None => return Ok(None),
            Some(Value::Integer(n)) => *n as f64 * scale,
            Some(Value::Float(x)) => x * scale,
            Some(other) => return Err(Self::wrong_type(name, "timestamp", other)),
        };
        if !millis.is_finite() || millis < 0.0 {
            return Err(ApiError::serialization(format!(
                "Member {name} is not a valid timestamp"
            )));
        }
        Ok(Some(millis.round() as u64))
    }

    /// A list of strings.
    pub fn string_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::List(items)) => items
                .iter()
                .map(|item| match item {
                    Value::String(text) => Ok(text.clone()),
                    other => Err(Self::wrong_type(name, "list of strings", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(Self::wrong_type(name, "list", other)),
        }
    }

    /// A map of strings to strings.
    pub fn string_map(&self, name: &str) -> Result<Option<BTreeMap<String, String>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Map(entries)) => entries
                .iter()
                .map(|(key, value)| match value {
                    Value::String(text) => Ok((key.clone(), text.clone())),
                    other => Err(Self::wrong_type(name, "map of strings", other)),
                })
                .collect::<Result<BTreeMap<_, _>, _>>()
                .map(Some),
            Some(other) => Err(Self::wrong_type(name, "map", other)),
        }
    }

    /// A nested structure member.
    pub fn structure(&self, name: &str) -> Result<Option<Input>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Map(members)) => Ok(Some(Input {
                format: self.format,
                members: members.clone(),
            })),
            Some(other) => Err(Self::wrong_type(name, "structure", other)),
        }
    }

    /// A list of structures.
    pub fn structure_list(&self, name: &str) -> Result<Option<Vec<Input>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::List(items)) => items
                .iter()
                .map(|item| match item {
                    Value::Map(members) => Ok(Input {
                        format: self.format,
                        members: members.clone(),
                    }),
                    other => Err(Self::wrong_type(name, "list of structures", other)),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(Self::wrong_type(name, "list", other)),
        }
    }
}

/// Decodes a JSON blob member, with the error AWS gives for text that is not base64.
fn decode_base64(text: &str) -> Result<Vec<u8>, ApiError> {
    if !text.len().is_multiple_of(4) {
        return Err(ApiError::serialization(format!(
            "'{text}' can not be converted to a Blob: Base64 encoded length is expected a multiple \
             of 4 bytes but found: {}",
            text.len()
        )));
    }
    STANDARD
        .decode(text)
        .map_err(|e| ApiError::serialization(format!("'{text}' can not be converted to a Blob: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(format: Format, body: &[u8]) -> Input {
        Input::new(format, format.decode(body).expect("decodes")).expect("a structure")
    }

    #[test]
    fn content_type_selects_the_format() {
        assert_eq!(
            Format::from_content_type(Some("application/x-amz-cbor-1.1; charset=utf-8")),
            Format::Cbor
        );
        assert_eq!(
            Format::from_content_type(Some("application/x-amz-json-1.1")),
            Format::Json
        );
        assert_eq!(Format::from_content_type(None), Format::Json);
    }

    #[test]
    fn json_blobs_and_timestamps() {
        let input = input(
            Format::Json,
            br#"{"Data":"aGk=","Timestamp":1704164645.678,"T2":17}"#,
        );
        assert_eq!(input.blob("Data").expect("ok"), Some(b"hi".to_vec()));
        assert_eq!(
            input.timestamp_ms("Timestamp").expect("ok"),
            Some(1_704_164_645_678)
        );
        assert_eq!(input.timestamp_ms("T2").expect("ok"), Some(17_000));
        assert_eq!(input.blob("Missing").expect("ok"), None);
    }

    #[test]
    fn bad_base64_is_a_serialization_error() {
        let input = input(Format::Json, br#"{"Data":"abc"}"#);
        let err = input.blob("Data").expect_err("not base64");
        assert_eq!(err.kinesis_type(), "SerializationException");
        assert!(err.message().contains("multiple of 4 bytes but found: 3"));
    }

    #[test]
    fn wrong_member_type_is_a_serialization_error() {
        let input = input(Format::Json, br#"{"StreamName":5,"Limit":"x","N":null}"#);
        assert_eq!(
            input.string("StreamName").expect_err("a number").kinesis_type(),
            "SerializationException"
        );
        assert!(input.integer("Limit").is_err());
        assert_eq!(input.string("N").expect("null is absent"), None);
    }

    #[test]
    fn a_body_that_is_not_a_structure_is_refused() {
        let err = Input::new(Format::Json, Value::List(vec![])).expect_err("a list");
        assert_eq!(err.kinesis_type(), "SerializationException");
    }
}
