//! Raft traffic for every group on a node, over one gRPC connection per peer.
//!
//! ```text
//!   group g1 ─┐                                  ┌─> registry[g1].append_entries
//!   group g2 ─┼─> GroupNetwork ─> PeerRouter ══ one HTTP/2 channel ══> RaftTransport ─┤
//!   control  ─┘   (tags group)    (per peer)                            (per node)   └─> registry[g0].vote
//! ```
//!
//! - [`router`]: the address book and one lazily dialed channel per peer, shared by all
//!   groups; a channel that timed out is dropped so the next call dials afresh (a
//!   wedged connection must not outlive a healed partition).
//! - [`heartbeat`]: heartbeats of many groups to one peer leave in one call.
//! - [`client`]: openraft's network traits for one (group, peer) pair: each RPC carries
//!   the group id, runs under a deadline, and maps failures to openraft's error kinds.
//! - [`registry`]: the groups hosted on this node, looked up by id for incoming RPCs.
//! - [`server`]: the `RaftTransport` gRPC service that feeds incoming RPCs and snapshot
//!   streams to the registry.

pub mod client;
pub mod heartbeat;
pub mod registry;
pub mod router;
pub mod server;

pub use client::GroupNetworkFactory;
pub use registry::{GroupRegistry, GroupRpc, RaftGroupRpc};
pub use router::{Dialer, PeerRouter, TcpDialer};
pub use server::RaftTransportService;

/// Largest gRPC message between nodes: a full AppendEntries batch of 1 MiB records.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
