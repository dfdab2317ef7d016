//! gRPC services of a node.
//!
//! - [`public`]: `strait.v1.StreamService`, the API of the CLI and the Rust client.
//! - [`internal`]: `strait.internal.v1.NodeInternal`, node-to-node appends, reads and
//!   control proposals. (Raft traffic is `RaftTransport`, served by `strait-raft`.)
//! - [`status`]: the one mapping from `StraitError` to `tonic::Status`.

pub mod internal;
pub mod public;
pub mod status;
