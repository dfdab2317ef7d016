//! The HTTP server: one route, `POST /`, in front of any [`StreamOperations`].
//!
//! ```text
//!  POST /  X-Amz-Target: Kinesis_20131202.<Operation>   Content-Type: json 1.1 | cbor 1.1
//!    ├─ Operation::from_target      unknown → UnknownOperationException (body not read)
//!    ├─ Format::decode + Input      malformed → SerializationException
//!    ├─ region::namespace           SigV4 credential scope → (default account, region)
//!    ├─ action::dispatch            model checks, then the StreamOperations call
//!    └─ Reply / ApiError            rendered in the request's format
//! ```
//!
//! Bodies are bounded ([`KinesisConfig::max_body_bytes`]) and so is the number of requests
//! served at once ([`KinesisConfig::max_concurrent_requests`]); a request over the
//! concurrency limit waits for a slot. The server stops accepting when the shutdown future
//! resolves and finishes the requests in flight. With [`KinesisConfig::tls`] the same router
//! is served over HTTPS instead (see [`crate::tls`]).
//!
//! Beside the API, the same port answers the probes and scrapes of orchestrators:
//! `GET /healthz` (the process is alive), and, when the node gave a [`NodeProbe`],
//! `GET /readyz` (200, or 503 with the reason) and `GET /metrics` (Prometheus text).
//! They bypass the concurrency limit, so a saturated node still answers its probes.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use axum::routing::{any, get};
use strait_core::{AccountId, StreamOperations};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tracing::Instrument;

use crate::action::{self, Context, Operation, Reply};
use crate::codec::{Format, Input};
use crate::error::ApiError;
use crate::probe::NodeProbe;
use crate::region;

/// How the Kinesis front door behaves.
#[derive(Debug, Clone)]
pub struct KinesisConfig {
    /// The account every request speaks for (Strait does not authenticate callers).
    pub default_account: AccountId,
    /// The largest request body accepted. Base64 inflates blobs by 4/3, so a full
    /// PutRecords of 5 MiB is about 7 MiB of JSON.
    pub max_body_bytes: usize,
    /// The most requests served at once.
    pub max_concurrent_requests: usize,
    /// Serve HTTPS (ALPN `h2`, `http/1.1`) with this configuration instead of cleartext
    /// HTTP; see [`crate::tls::server_config`].
    pub tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>,
}

impl Default for KinesisConfig {
    fn default() -> Self {
        KinesisConfig {
            default_account: AccountId::default_account(),
            max_body_bytes: 16 << 20,
            max_concurrent_requests: 1024,
            tls: None,
        }
    }
}

struct ServerState<O> {
    operations: Arc<O>,
    /// Turns true when the server shuts down, ending subscriptions.
    draining: watch::Receiver<bool>,
    /// Keeps the draining channel open for a router built without a shutdown signal.
    _draining_sender: Option<watch::Sender<bool>>,
    config: KinesisConfig,
    slots: Semaphore,
    /// Numbers request ids; combined with the start time they are unique per process.
    requests: AtomicU64,
    started_at_ms: u64,
    /// Receives one observation per API request, when the node gave a probe.
    probe: Option<Arc<dyn NodeProbe>>,
    /// The SubscribeToShard subscriptions served here.
    subscriptions: Arc<crate::subscriptions::Subscriptions>,
}

/// Builds the router serving the Kinesis API from `operations`, with `/readyz` and
/// `/metrics` when a `probe` is given.
pub fn router<O: StreamOperations>(
    operations: Arc<O>,
    config: KinesisConfig,
    probe: Option<Arc<dyn NodeProbe>>,
) -> Router {
    let (sender, draining) = watch::channel(false);
    build_router(operations, config, probe, draining, Some(sender))
}

fn build_router<O: StreamOperations>(
    operations: Arc<O>,
    config: KinesisConfig,
    probe: Option<Arc<dyn NodeProbe>>,
    draining: watch::Receiver<bool>,
    draining_sender: Option<watch::Sender<bool>>,
) -> Router {
    let state = Arc::new(ServerState {
        started_at_ms: operations.now_ms(),
        operations,
        draining,
        _draining_sender: draining_sender,
        slots: Semaphore::new(config.max_concurrent_requests.max(1)),
        requests: AtomicU64::new(0),
        config: config.clone(),
        probe: probe.clone(),
        subscriptions: Arc::default(),
    });
    let api = Router::new()
        .route("/", any(handle::<O>))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .with_state(state);
    let operational = match probe {
        Some(probe) => Router::new()
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .with_state(probe),
        None => Router::new(),
    };
    api.merge(operational).route("/healthz", get(healthz))
}

/// Serves the Kinesis API on `listener` until `shutdown` resolves.
pub async fn serve<O: StreamOperations>(
    listener: TcpListener,
    operations: Arc<O>,
    config: KinesisConfig,
    probe: Option<Arc<dyn NodeProbe>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (sender, draining) = watch::channel(false);
    let tls = config.tls.clone();
    let router = build_router(operations, config, probe, draining, None);
    let shutdown = async move {
        shutdown.await;
        // Subscriptions end now, so the in-flight responses can finish.
        let _ = sender.send(true);
    };
    match tls {
        Some(tls) => crate::tls::serve(listener, tls, router, shutdown).await,
        None => {
            axum::serve(listener, router)
                .with_graceful_shutdown(shutdown)
                .await
        }
    }
}

async fn handle<O: StreamOperations>(
    State(state): State<Arc<ServerState<O>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = tokio::time::Instant::now();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let format = Format::from_content_type(header(header::CONTENT_TYPE.as_str()));
    let request_id = state.request_id();
    if method != Method::POST {
        return with_request_id(access_denied(), &request_id);
    }
    let operation = match Operation::from_target(header("x-amz-target")) {
        Ok(operation) => operation,
        Err(error) => {
            state.observe(UNKNOWN_OPERATION, Some(error.kinesis_type()), started.elapsed());
            return with_request_id(error.into_response(format), &request_id);
        }
    };
    let namespace = region::namespace(
        header(header::AUTHORIZATION.as_str()),
        uri.query(),
        &state.config.default_account,
    );
    let span = tracing::debug_span!(
        "kinesis",
        operation = operation.name(),
        region = %namespace.region,
        request = %request_id
    );
    let (response, error_type) = async {
        let Ok(_slot) = state.slots.acquire().await else {
            let error = ApiError::from(strait_core::StraitError::unavailable(
                "the server is shutting down",
            ));
            return (error.clone().into_response(format), Some(error.kinesis_type()));
        };
        let result = match format.decode(&body).and_then(|value| Input::new(format, value)) {
            Ok(input) => {
                let context = Context {
                    operations: &state.operations,
                    namespace,
                    draining: state.draining.clone(),
                    subscriptions: &state.subscriptions,
                };
                action::dispatch(operation, &context, &input).await
            }
            Err(error) => Err(error),
        };
        match result {
            Ok(reply) => (success(reply, format), None),
            Err(error) => {
                tracing::debug!(
                    error = error.kinesis_type(),
                    message = error.message(),
                    "request failed"
                );
                let error_type = error.kinesis_type();
                (error.into_response(format), Some(error_type))
            }
        }
    }
    .instrument(span)
    .await;
    state.observe(operation.name(), error_type, started.elapsed());
    with_request_id(response, &request_id)
}

/// The operation label of requests whose target names no known operation.
const UNKNOWN_OPERATION: &str = "unknown";

/// `GET /healthz`: answering at all is the proof of life.
async fn healthz() -> Response {
    plain(StatusCode::OK, "ok\n".to_owned())
}

/// `GET /readyz`: 200 while the node should receive traffic, 503 with the reason otherwise.
async fn readyz(State(probe): State<Arc<dyn NodeProbe>>) -> Response {
    match probe.readiness().await {
        Ok(()) => plain(StatusCode::OK, "ok\n".to_owned()),
        Err(reason) => plain(StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {reason}\n")),
    }
}

/// `GET /metrics`: the node's metrics for a Prometheus scrape.
async fn metrics(State(probe): State<Arc<dyn NodeProbe>>) -> Response {
    let mut response = Response::new(Body::from(probe.metrics().await));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

fn plain(status: StatusCode, text: String) -> Response {
    let mut response = Response::new(Body::from(text));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

impl<O> ServerState<O> {
    fn observe(&self, operation: &'static str, error_type: Option<&'static str>, elapsed: Duration) {
        if let Some(probe) = &self.probe {
            probe.observe_request(operation, error_type, elapsed);
        }
    }

    /// A request id in the UUID layout clients expect to log.
    fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let high = self.started_at_ms;
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            (high >> 16) as u32,
            (high & 0xffff) as u16,
            (n >> 48) & 0xfff,
            (n >> 36) & 0xfff,
            n & 0xffff_ffff_ffff
        )
    }
}

fn success(reply: Reply, format: Format) -> Response {
    let body = match reply {
        Reply::Empty => Body::empty(),
        Reply::Document(value) => Body::from(format.encode(&value)),
        Reply::EventStream(body) => {
            let mut response = Response::new(body);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.amazon.eventstream"),
            );
            return response;
        }
    };
    let mut response = Response::new(body);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    response
}

/// What AWS answers to anything but POST.
fn access_denied() -> Response {
    let mut response = Response::new(Body::from(
        "<AccessDeniedException>\n  <Message>Unable to determine service/operation name to be \
         authorized</Message>\n</AccessDeniedException>\n",
    ));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"));
    response
}

fn with_request_id(mut response: Response, request_id: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::Duration;

    use axum::http::Request;
    use strait_core::service::{
        AccountSettings, Consumer, CreateStreamRequest, GetRecordsResponse, MergeShardsRequest, PolicyTarget,
        PutRecordResult, SplitShardRequest, StreamDescription, StreamExtras, UpdateRetentionRequest,
        UpdateShardCountRequest, UpdateShardCountResponse, UpdateStreamModeRequest,
    };
    use strait_core::{
        IteratorType, Namespace, Record, ShardId, StraitError, StraitResult, StreamName, StreamOperations,
    };
    use tower::ServiceExt;

    use super::*;

    /// Operations that know two streams in eu-west-1 and refuse everything else.
    struct Fake;

    fn refused<T>() -> StraitResult<T> {
        Err(StraitError::internal("not used by these tests"))
    }

    impl StreamOperations for Fake {
        async fn create_stream(&self, _: CreateStreamRequest) -> StraitResult<StreamDescription> {
            refused()
        }
        async fn delete_stream(&self, _: &Namespace, _: &StreamName) -> StraitResult<()> {
            refused()
        }
        async fn describe_stream(
            &self,
            namespace: &Namespace,
            stream: &StreamName,
        ) -> StraitResult<StreamDescription> {
            Err(StraitError::stream_not_found(stream, &namespace.account))
        }
        async fn list_streams(
            &self,
            namespace: &Namespace,
            _: Option<&str>,
            _: usize,
        ) -> StraitResult<(Vec<StreamName>, bool)> {
            let names = if namespace.region.as_str() == "eu-west-1" {
                vec![StreamName::new("a")?, StreamName::new("b")?]
            } else {
                Vec::new()
            };
            Ok((names, false))
        }
        async fn put_records(
            &self,
            _: &Namespace,
            _: &StreamName,
            _: Vec<Record>,
            _: Option<(u64, u64)>,
        ) -> StraitResult<Vec<PutRecordResult>> {
            refused()
        }
        async fn get_shard_iterator(
            &self,
            _: &Namespace,
            _: &StreamName,
            _: ShardId,
            _: IteratorType,
        ) -> StraitResult<String> {
            refused()
        }
        async fn get_records(&self, _: &str, _: u32) -> StraitResult<GetRecordsResponse> {
            Err(StraitError::invalid_iterator())
        }
        async fn read_for_subscription(&self, _: &str, _: u32) -> StraitResult<GetRecordsResponse> {
            Err(StraitError::invalid_iterator())
        }
        async fn wait_for_records(&self, _: &str, _: Duration) {}
        async fn split_shard(&self, _: SplitShardRequest) -> StraitResult<()> {
            refused()
        }
        async fn merge_shards(&self, _: MergeShardsRequest) -> StraitResult<()> {
            refused()
        }
        async fn update_shard_count(
            &self,
            _: UpdateShardCountRequest,
        ) -> StraitResult<UpdateShardCountResponse> {
            refused()
        }
        async fn update_retention(&self, _: UpdateRetentionRequest) -> StraitResult<()> {
            refused()
        }
        fn now_ms(&self) -> u64 {
            1_700_000_000_000
        }
        async fn add_tags(
            &self,
            _: &Namespace,
            _: &StreamName,
            _: BTreeMap<String, String>,
        ) -> StraitResult<()> {
            refused()
        }
        async fn remove_tags(&self, _: &Namespace, _: &StreamName, _: Vec<String>) -> StraitResult<()> {
            refused()
        }
        async fn list_tags(&self, _: &Namespace, _: &StreamName) -> StraitResult<BTreeMap<String, String>> {
            refused()
        }
        async fn register_consumer(&self, _: &Namespace, _: &StreamName, _: &str) -> StraitResult<Consumer> {
            refused()
        }
        async fn deregister_consumer(&self, _: &Namespace, _: &StreamName, _: &str) -> StraitResult<()> {
            refused()
        }
        async fn list_consumers(&self, _: &Namespace, _: &StreamName) -> StraitResult<Vec<Consumer>> {
            refused()
        }
        async fn stream_extras(&self, _: &Namespace, _: &StreamName) -> StraitResult<StreamExtras> {
            refused()
        }
        async fn set_encryption(&self, _: &Namespace, _: &StreamName, _: Option<String>) -> StraitResult<()> {
            refused()
        }
        async fn set_shard_level_metrics(
            &self,
            _: &Namespace,
            _: &StreamName,
            _: Vec<String>,
        ) -> StraitResult<()> {
            refused()
        }
        async fn update_stream_mode(&self, _: UpdateStreamModeRequest) -> StraitResult<()> {
            refused()
        }
        async fn set_max_record_size(&self, _: &Namespace, _: &StreamName, _: u32) -> StraitResult<()> {
            refused()
        }
        async fn set_warm_throughput(&self, _: &Namespace, _: &StreamName, _: u32) -> StraitResult<()> {
            refused()
        }
        async fn set_resource_policy(&self, _: PolicyTarget, _: Option<String>) -> StraitResult<()> {
            refused()
        }
        async fn resource_policy(&self, _: PolicyTarget) -> StraitResult<Option<String>> {
            refused()
        }
        async fn account_settings(&self, _: &Namespace) -> StraitResult<AccountSettings> {
            refused()
        }
        async fn set_billing_commitment(&self, _: &Namespace, _: bool) -> StraitResult<AccountSettings> {
            refused()
        }
    }

    async fn call(target: &str, content_type: &str, region: &str, body: Vec<u8>) -> (u16, String, Vec<u8>) {
        let request = Request::post("/")
            .header("X-Amz-Target", target)
            .header("Content-Type", content_type)
            .header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/kinesis/aws4_request, \
                     SignedHeaders=host, Signature=0"
                ),
            )
            .body(Body::from(body))
            .expect("a valid request");
        let response = router(Arc::new(Fake), KinesisConfig::default(), None)
            .oneshot(request)
            .await
            .expect("infallible");
        assert!(response.headers().contains_key("x-amzn-RequestId"));
        read_response(response).await
    }

    /// A response's status, content type and body.
    async fn read_response(response: Response) -> (u16, String, Vec<u8>) {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("a body");
        (status, content_type, body.to_vec())
    }

    /// A probe that is ready when told, and remembers the requests it observed.
    #[derive(Default)]
    struct RecordingProbe {
        ready: std::sync::atomic::AtomicBool,
        observed: std::sync::Mutex<Vec<(&'static str, Option<&'static str>)>>,
    }

    impl NodeProbe for RecordingProbe {
        fn readiness(&self) -> futures::future::BoxFuture<'_, Result<(), String>> {
            let ready = self.ready.load(Ordering::Relaxed);
            Box::pin(async move {
                if ready {
                    Ok(())
                } else {
                    Err("no control-plane leader".into())
                }
            })
        }
        fn metrics(&self) -> futures::future::BoxFuture<'_, String> {
            Box::pin(async { "# TYPE strait_up gauge\nstrait_up 1\n".to_owned() })
        }
        fn observe_request(&self, operation: &'static str, error_type: Option<&'static str>, _: Duration) {
            self.observed
                .lock()
                .expect("observations")
                .push((operation, error_type));
        }
    }

    async fn get_path(router: Router, path: &str) -> (u16, String, String) {
        let response = router
            .oneshot(Request::get(path).body(Body::empty()).expect("a valid request"))
            .await
            .expect("infallible");
        let (status, content_type, body) = read_response(response).await;
        (status, content_type, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn probes_and_metrics_answer_beside_the_api() {
        let (status, _, body) =
            get_path(router(Arc::new(Fake), KinesisConfig::default(), None), "/healthz").await;
        assert_eq!((status, body.as_str()), (200, "ok\n"));
        // Without a probe there is nothing to report readiness or metrics from.
        let (status, _, _) =
            get_path(router(Arc::new(Fake), KinesisConfig::default(), None), "/readyz").await;
        assert_eq!(status, 404);

        let probe = Arc::new(RecordingProbe::default());
        let app = router(Arc::new(Fake), KinesisConfig::default(), Some(probe.clone()));
        let (status, _, body) = get_path(app.clone(), "/readyz").await;
        assert_eq!(status, 503);
        assert_eq!(body, "not ready: no control-plane leader\n");
        probe.ready.store(true, Ordering::Relaxed);
        let (status, _, _) = get_path(app.clone(), "/readyz").await;
        assert_eq!(status, 200);
        let (status, content_type, body) = get_path(app.clone(), "/metrics").await;
        assert_eq!(status, 200);
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        assert!(body.contains("strait_up 1"), "{body}");
        // GET / is still refused as AWS refuses it.
        let (status, _, _) = get_path(app.clone(), "/").await;
        assert_eq!(status, 403);

        for target in [
            "Kinesis_20131202.ListStreams",
            "Kinesis_20131202.GetRecords",
            "Nope.Nope",
        ] {
            let request = Request::post("/")
                .header("X-Amz-Target", target)
                .header("Content-Type", Format::JSON_CONTENT_TYPE)
                .body(Body::from("{}"))
                .expect("a valid request");
            app.clone().oneshot(request).await.expect("infallible");
        }
        assert_eq!(
            *probe.observed.lock().expect("observations"),
            vec![
                ("ListStreams", None),
                ("GetRecords", Some("ValidationException")),
                ("unknown", Some("UnknownOperationException")),
            ]
        );
    }

    #[tokio::test]
    async fn dispatches_by_target_in_the_signed_region() {
        let (status, content_type, body) = call(
            "Kinesis_20131202.ListStreams",
            Format::JSON_CONTENT_TYPE,
            "eu-west-1",
            b"{}".to_vec(),
        )
        .await;
        assert_eq!((status, content_type.as_str()), (200, Format::JSON_CONTENT_TYPE));
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["StreamNames"], serde_json::json!(["a", "b"]));
        assert_eq!(json["HasMoreStreams"], serde_json::json!(false));

        let (_, _, body) = call(
            "Kinesis_20131202.ListStreams",
            Format::JSON_CONTENT_TYPE,
            "us-west-2",
            Vec::new(),
        )
        .await;
        let json: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(json["StreamNames"], serde_json::json!([]));
    }

    #[tokio::test]
    async fn unknown_operations_and_bad_bodies_are_refused() {
        let (status, _, body) = call(
            "Kinesis_20131202.CreateChannel",
            Format::JSON_CONTENT_TYPE,
            "us-east-1",
            b"not even json".to_vec(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body, br#"{"__type":"UnknownOperationException"}"#);
        let (status, _, body) = call(
            "Kinesis_20131202.ListStreams",
            Format::JSON_CONTENT_TYPE,
            "us-east-1",
            b"[1,2".to_vec(),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(body, br#"{"__type":"SerializationException"}"#);
    }

    #[tokio::test]
    async fn validation_happens_before_the_operation_and_answers_in_cbor() {
        let mut request = Vec::new();
        ciborium::ser::into_writer(
            &ciborium::value::Value::Map(vec![(
                ciborium::value::Value::Text("ShardIterator".into()),
                ciborium::value::Value::Text(String::new()),
            )]),
            &mut request,
        )
        .expect("encodes");
        let (status, content_type, body) = call(
            "Kinesis_20131202.GetRecords",
            Format::CBOR_CONTENT_TYPE,
            "us-east-1",
            request,
        )
        .await;
        assert_eq!((status, content_type.as_str()), (400, Format::CBOR_CONTENT_TYPE));
        let value: ciborium::value::Value = ciborium::de::from_reader(body.as_slice()).expect("cbor");
        let text = format!("{value:?}");
        assert!(text.contains("ValidationException"), "{text}");
        assert!(
            text.contains("at 'shardIterator' failed to satisfy constraint"),
            "{text}"
        );
    }
}
