//! Generated gRPC code for Strait.
//!
//! - [`v1`] is the public API (`proto/strait/v1/stream.proto`): what the `strait` CLI and
//!   the Rust client speak, and a contract with users.
//! - [`internal`] is node-to-node traffic (`proto/strait/internal/v1/cluster.proto`): Raft
//!   RPCs for every group over one connection per peer, forwarded appends and reads,
//!   control-plane proposals. Every node of a cluster runs the same build.
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
