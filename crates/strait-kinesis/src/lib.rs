//! The Kinesis Data Streams HTTP API, in front of Strait's stream operations.
//!
//! boto3, the AWS CLI, the AWS SDKs, the KPL and the KCL talk to Strait through this crate
//! with only their endpoint changed. It speaks the wire protocol (AWS JSON 1.1 and the Java
//! SDKs' CBOR dialect, `X-Amz-Target` dispatch, SigV4 credential scopes, Kinesis error
//! bodies) and nothing else: every operation is a call to the
//! [`StreamOperations`](strait_core::StreamOperations) trait, which the node implements and
//! the gRPC front door calls too. The crate depends on `strait-core` only, never on Raft,
//! storage or gRPC.
//!
//! # Layout
//!
//! - [`codec`] decodes request bodies into one document model and encodes responses, with
//!   [`codec::json`] and [`codec::cbor`] for the two formats.
//! - [`action`] holds one module per operation behind the single dispatch table
//!   [`action::dispatch`], plus [`action::common`] for checks and rendering they share.
//! - [`error`] is the one mapping from errors to `__type`, HTTP status and message.
//! - [`region`] finds the region of a request in its SigV4 credential scope.
//! - [`event_stream`] encodes the AWS event-stream messages of SubscribeToShard.
//! - [`server`] is the axum router and the listener loop.
//! - [`subscriptions`] keeps the SubscribeToShard rules that span calls.
//! - [`tls`] terminates HTTPS (ALPN `h2`, `http/1.1`) when the node has a certificate.
//! - [`probe`] is what the node gives the server for `/readyz` and `/metrics`.
//!
//! A new operation is a module in [`action`]; a new wire rule belongs in [`codec`] or
//! [`server`]; a new domain rule belongs in `strait-core`, not here.

pub mod action;
pub mod codec;
pub mod error;
pub mod event_stream;
pub mod probe;
pub mod region;
pub mod server;
pub mod subscriptions;
pub mod tls;

pub use error::ApiError;
pub use probe::NodeProbe;
pub use server::{KinesisConfig, router, serve};
