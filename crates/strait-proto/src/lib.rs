//! Generated gRPC code for Strait.
//!
//! - [`v1`] is the public API (`proto/strait/v1/stream.proto`): what the `strait` CLI and
//!   the Rust client speak, and a contract with users.
//! - [`internal`] is node-to-node traffic (`proto/strait/internal/v1/cluster.proto`): Raft
//!   RPCs for every group over one connection per peer, forwarded appends and reads,
//!   control-plane proposals. Every node of a cluster runs the same build.
//!
//! - [`http2`] holds the HTTP/2 settings both ends of every Strait connection use.
//!
//! The code is generated at build time by `build.rs` without a system `protoc`.
//! Conversions between these wire types and `strait-core`'s domain types live in the
//! crates that use them, next to the services.

/// The public API, package `strait.v1`.
pub mod v1 {
    tonic::include_proto!("strait.v1");
}

/// Node-to-node services, package `strait.internal.v1`.
pub mod internal {
    tonic::include_proto!("strait.internal.v1");
}

/// The gRPC metadata key carrying the Kinesis error name of a failed call.
pub const ERROR_TYPE_METADATA: &str = "x-strait-error-type";

/// HTTP/2 settings for every Strait connection: the node's server, the Rust client and the
/// node-to-node channels, so the two ends of a connection agree.
pub mod http2 {
    /// The flow-control window of a connection. h2's default (1 MiB) lets a single
    /// 500-record batch of 1 KiB fill it, so concurrent batches on one connection waited for
    /// window updates round trip by round trip; replication of several groups to one peer,
    /// and several large GetRecords answers, share a connection the same way.
    pub const CONNECTION_WINDOW: u32 = 16 << 20;
    /// The flow-control window of one stream (one call).
    pub const STREAM_WINDOW: u32 = 4 << 20;
    /// The largest frame a peer may send: a large batch travels in a few frames instead of
    /// one per 16 KiB, each of which costs the receiver a wake-up and a copy into the decoder.
    pub const MAX_FRAME: u32 = 1 << 20;
}
