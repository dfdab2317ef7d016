//! A minimal Kinesis client over plain HTTP/1.1 and AWS JSON 1.1, for the bench.
//!
//! It speaks exactly what the bench needs (CreateStream, DescribeStreamSummary, ListShards,
//! PutRecord(s), GetShardIterator, GetRecords) the way the AWS SDKs do: a POST to `/` with
//! `X-Amz-Target: Kinesis_20131202.<Operation>` and a JSON body whose blobs are base64.
//! Requests are not signed; the `Authorization` header carries only a credential scope, from
//! which Strait reads the region, as it does for signed requests.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use serde_json::json;
use strait_core::Record;

use super::driver::Page;

/// The target prefix of every Kinesis operation.
const TARGET_PREFIX: &str = "Kinesis_20131202.";
/// The content type of AWS JSON 1.1.
const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// An error a Kinesis endpoint answered with, or why no answer came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisError {
    /// The `__type` of the error body (`ResourceNotFoundException`, ...), or
    /// `ServiceUnavailable` when the endpoint could not be reached or timed out.
    pub error_type: String,
    pub message: String,
}

impl std::fmt::Display for KinesisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

impl std::error::Error for KinesisError {}

impl KinesisError {
    fn unreachable(message: impl Into<String>) -> KinesisError {
        KinesisError {
            error_type: "ServiceUnavailable".to_owned(),
            message: message.into(),
        }
    }

    fn protocol(message: impl Into<String>) -> KinesisError {
        KinesisError {
            error_type: "InternalFailure".to_owned(),
            message: message.into(),
        }
    }

    /// Tells whether this is the named error.
    pub fn is(&self, error_type: &str) -> bool {
        self.error_type == error_type
    }
}

/// A shard as ListShards reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedShard {
    pub shard_id: String,
    pub closed: bool,
}

/// A Kinesis HTTP endpoint.
#[derive(Clone)]
pub struct KinesisHttp {
    client: Client<HttpConnector, Full<Bytes>>,
    uri: Uri,
    authorization: String,
    timeout: Duration,
}

impl KinesisHttp {
    /// A client of `endpoint` (`http://host:port`) addressing streams in `region`, giving
    /// each request `timeout` to answer.
    pub fn new(endpoint: &str, region: &str, timeout: Duration) -> Result<KinesisHttp, String> {
        let uri: Uri = endpoint
            .parse()
            .map_err(|error| format!("{endpoint} is not a URL: {error}"))?;
        if uri.scheme_str() != Some("http") || uri.authority().is_none() {
            return Err(format!("{endpoint} is not an http://host:port URL"));
        }
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        Ok(KinesisHttp {
            client: Client::builder(TokioExecutor::new()).build(connector),
            uri,
            authorization: format!(
                "AWS4-HMAC-SHA256 Credential=bench/20260101/{region}/kinesis/aws4_request, \
                 SignedHeaders=host;x-amz-target, Signature=0"
            ),
            timeout,
        })
    }

    /// Sends one operation and returns the body of a successful answer.
    async fn call(&self, operation: &str, body: Vec<u8>) -> Result<Bytes, KinesisError> {
        let request = Request::post(self.uri.clone())
            .header("x-amz-target", format!("{TARGET_PREFIX}{operation}"))
            .header("content-type", CONTENT_TYPE)
            .header("authorization", &self.authorization)
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| KinesisError::protocol(error.to_string()))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(|error| KinesisError::unreachable(super::super::error_chain(&error)))?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|error| KinesisError::unreachable(error.to_string()))?
                .to_bytes();
            Ok::<_, KinesisError>((status, body))
        };
        let (status, body) = tokio::time::timeout(self.timeout, exchange).await.map_err(|_| {
            KinesisError::unreachable(format!("{operation} timed out after {:?}", self.timeout))
        })??;
        if status == StatusCode::OK {
            return Ok(body);
        }
        Err(error_from_body(status, &body))
    }

    async fn call_json<T: for<'de> Deserialize<'de>>(
        &self,
        operation: &str,
        body: serde_json::Value,
    ) -> Result<T, KinesisError> {
        let body = serde_json::to_vec(&body).map_err(|error| KinesisError::protocol(error.to_string()))?;
        let answer = self.call(operation, body).await?;
        serde_json::from_slice(&answer)
            .map_err(|error| KinesisError::protocol(format!("{operation}: unexpected answer: {error}")))
    }

    pub async fn create_stream(&self, stream: &str, shards: u32) -> Result<(), KinesisError> {
        let body = json!({ "StreamName": stream, "ShardCount": shards });
        let body = serde_json::to_vec(&body).map_err(|error| KinesisError::protocol(error.to_string()))?;
        self.call("CreateStream", body).await.map(drop)
    }

    /// The stream's status: CREATING, ACTIVE, UPDATING or DELETING.
    pub async fn stream_status(&self, stream: &str) -> Result<String, KinesisError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "StreamDescriptionSummary")]
            summary: Summary,
        }
        #[derive(Deserialize)]
        struct Summary {
            #[serde(rename = "StreamStatus")]
            status: String,
        }
        let answer: Answer = self
            .call_json("DescribeStreamSummary", json!({ "StreamName": stream }))
            .await?;
        Ok(answer.summary.status)
    }

    /// Every shard of the stream, following pagination.
    pub async fn list_shards(&self, stream: &str) -> Result<Vec<ListedShard>, KinesisError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Shards", default)]
            shards: Vec<Shard>,
            #[serde(rename = "NextToken")]
            next_token: Option<String>,
        }
        #[derive(Deserialize)]
        struct Shard {
            #[serde(rename = "ShardId")]
            shard_id: String,
            #[serde(rename = "SequenceNumberRange")]
            range: Range,
        }
        #[derive(Deserialize)]
        struct Range {
            #[serde(rename = "EndingSequenceNumber")]
            ending: Option<String>,
        }
        let mut shards = Vec::new();
        let mut request = json!({ "StreamName": stream });
        // A stream has at most 10,000 shards; the page bound keeps a misbehaving endpoint
        // from looping forever.
        for _ in 0..10_000 {
            let answer: Answer = self.call_json("ListShards", request).await?;
            let got_any = !answer.shards.is_empty();
            shards.extend(answer.shards.into_iter().map(|shard| ListedShard {
                shard_id: shard.shard_id,
                closed: shard.range.ending.is_some(),
            }));
            match answer.next_token {
                Some(token) if got_any => request = json!({ "NextToken": token }),
                _ => break,
            }
        }
        Ok(shards)
    }

    /// Stores the records; returns how many failed.
    pub async fn put_records(&self, stream: &str, records: &[Record]) -> Result<u64, KinesisError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "FailedRecordCount", default)]
            failed: u64,
        }
        let body = put_records_body(stream, records);
        let answer = self.call("PutRecords", body).await?;
        let answer: Answer = serde_json::from_slice(&answer)
            .map_err(|error| KinesisError::protocol(format!("PutRecords: unexpected answer: {error}")))?;
        Ok(answer.failed)
    }

    pub async fn put_record(&self, stream: &str, record: &Record) -> Result<(), KinesisError> {
        let body = json!({
            "StreamName": stream,
            "PartitionKey": record.partition_key.as_str(),
            "Data": STANDARD.encode(&record.data),
        });
        let body = serde_json::to_vec(&body).map_err(|error| KinesisError::protocol(error.to_string()))?;
        self.call("PutRecord", body).await.map(drop)
    }

    /// An iterator at `kind` (`TRIM_HORIZON` or `LATEST`).
    pub async fn shard_iterator(
        &self,
        stream: &str,
        shard: &str,
        kind: &str,
    ) -> Result<String, KinesisError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "ShardIterator")]
            iterator: String,
        }
        let answer: Answer = self
            .call_json(
                "GetShardIterator",
                json!({ "StreamName": stream, "ShardId": shard, "ShardIteratorType": kind }),
            )
            .await?;
        Ok(answer.iterator)
    }

    pub async fn get_records(&self, iterator: &str, limit: u32) -> Result<Page, KinesisError> {
        #[derive(Deserialize)]
        struct Answer {
            #[serde(rename = "Records", default)]
            records: Vec<Entry>,
            #[serde(rename = "NextShardIterator")]
            next: Option<String>,
            #[serde(rename = "MillisBehindLatest", default)]
            behind_ms: u64,
        }
        #[derive(Deserialize)]
        struct Entry {
            #[serde(rename = "Data")]
            data: String,
        }
        let answer: Answer = self
            .call_json("GetRecords", json!({ "ShardIterator": iterator, "Limit": limit }))
            .await?;
        let data = answer
            .records
            .into_iter()
            .map(|entry| {
                STANDARD.decode(entry.data).map(Bytes::from).map_err(|error| {
                    KinesisError::protocol(format!("GetRecords: Data is not base64: {error}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page {
            data,
            next: answer.next,
            behind_ms: answer.behind_ms,
        })
    }
}

/// Writes a PutRecords body directly, without building a JSON tree of the records.
pub fn put_records_body(stream: &str, records: &[Record]) -> Vec<u8> {
    let data_bytes: usize = records.iter().map(|r| r.data.len() * 4 / 3 + 64).sum();
    let mut body = Vec::with_capacity(data_bytes + 64);
    body.extend_from_slice(b"{\"StreamName\":");
    // Stream names and partition keys are JSON strings; serde_json escapes them.
    let _ = serde_json::to_writer(&mut body, stream);
    body.extend_from_slice(b",\"Records\":[");
    let mut encoded = String::new();
    for (i, record) in records.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        body.extend_from_slice(b"{\"PartitionKey\":");
        let _ = serde_json::to_writer(&mut body, record.partition_key.as_str());
        body.extend_from_slice(b",\"Data\":\"");
        encoded.clear();
        STANDARD.encode_string(&record.data, &mut encoded);
        body.extend_from_slice(encoded.as_bytes());
        body.extend_from_slice(b"\"}");
    }
    body.extend_from_slice(b"]}");
    body
}

/// Reads the `__type` and message of an error answer.
fn error_from_body(status: StatusCode, body: &[u8]) -> KinesisError {
    #[derive(Deserialize)]
    struct Body {
        #[serde(rename = "__type")]
        error_type: Option<String>,
        #[serde(alias = "Message", alias = "message")]
        message: Option<String>,
    }
    match serde_json::from_slice::<Body>(body) {
        Ok(Body {
            error_type: Some(error_type),
            message,
        }) => KinesisError {
            // The type may carry a namespace prefix: `com.amazonaws...#ResourceNotFoundException`.
            error_type: error_type.rsplit('#').next().unwrap_or(&error_type).to_owned(),
            message: message.unwrap_or_default(),
        },
        _ => KinesisError::protocol(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::PartitionKey;

    #[test]
    fn put_records_bodies_are_valid_json_with_base64_data() {
        let records = vec![
            Record::new(PartitionKey::new("a\"b").expect("valid"), &b"\x00\x01hello"[..]),
            Record::new(PartitionKey::new("k2").expect("valid"), &b"x"[..]),
        ];
        let body = put_records_body("orders", &records);
        let value: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
        assert_eq!(value["StreamName"], "orders");
        assert_eq!(value["Records"][0]["PartitionKey"], "a\"b");
        assert_eq!(value["Records"][0]["Data"], STANDARD.encode(b"\x00\x01hello"));
        assert_eq!(value["Records"][1]["Data"], "eA==");
    }

    #[test]
    fn error_bodies_give_the_error_name() {
        let error = error_from_body(
            StatusCode::BAD_REQUEST,
            br#"{"__type":"com.amazonaws.kinesis#ResourceNotFoundException","message":"no such stream"}"#,
        );
        assert!(error.is("ResourceNotFoundException"));
        assert_eq!(error.message, "no such stream");
        let error = error_from_body(StatusCode::BAD_GATEWAY, b"<html>");
        assert!(error.is("InternalFailure"));
        assert!(error.message.contains("502"), "{}", error.message);
    }

    #[test]
    fn endpoints_must_be_http_urls() {
        assert!(KinesisHttp::new("http://127.0.0.1:4567", "us-east-1", Duration::from_secs(1)).is_ok());
        assert!(KinesisHttp::new("https://example", "us-east-1", Duration::from_secs(1)).is_err());
        assert!(KinesisHttp::new("not a url", "us-east-1", Duration::from_secs(1)).is_err());
    }
}
