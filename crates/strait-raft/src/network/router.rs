//! Peers' addresses and one channel per peer.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use strait_proto::http2;
use tonic::transport::{Channel, Endpoint};

use crate::group::NodeId;

/// Opens channels to peers. Production dials TCP; the simulation dials through its
/// simulated network. Everything else in the node is shared between the two.
pub trait Dialer: Send + Sync + 'static {
    /// Returns a lazily connecting channel to `address` (`host:port`).
    fn dial(&self, address: &str) -> Result<Channel, tonic::transport::Error>;
}

/// Dials peers over TCP with keep-alives that close a wedged connection.
#[derive(Debug, Clone)]
pub struct TcpDialer {
    pub connect_timeout: Duration,
}

impl Default for TcpDialer {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl Dialer for TcpDialer {
    fn dial(&self, address: &str) -> Result<Channel, tonic::transport::Error> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))?
            .connect_timeout(self.connect_timeout)
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(5))
            .keep_alive_timeout(Duration::from_secs(5))
            .keep_alive_while_idle(true)
            .initial_connection_window_size(http2::CONNECTION_WINDOW)
            .initial_stream_window_size(http2::STREAM_WINDOW)
            .max_frame_size(http2::MAX_FRAME);
        Ok(endpoint.connect_lazy())
    }
}

struct Peer {
    address: String,
    channel: Option<Channel>,
}

/// The node's view of its peers: address and channel per node id. Shared by every
/// group's network and by request forwarding.
pub struct PeerRouter {
    dialer: Arc<dyn Dialer>,
    peers: Mutex<BTreeMap<NodeId, Peer>>,
    heartbeats: OnceLock<Arc<super::heartbeat::HeartbeatCoalescer>>,
}

/// A peer that cannot be dialed.
#[derive(Debug, thiserror::Error)]
pub enum RouteError {
    #[error("no address known for node {0}")]
    UnknownNode(NodeId),
    #[error("cannot dial node {node} at {address}: {source}")]
    Dial {
        node: NodeId,
        address: String,
        source: tonic::transport::Error,
    },
}

impl PeerRouter {
    pub fn new(dialer: Arc<dyn Dialer>) -> Self {
        Self {
            dialer,
            peers: Mutex::new(BTreeMap::new()),
            heartbeats: OnceLock::new(),
        }
    }

    /// The per-peer heartbeat coalescer shared by every group on this node.
    pub fn heartbeats(self: &Arc<Self>) -> Arc<super::heartbeat::HeartbeatCoalescer> {
        self.heartbeats
            .get_or_init(|| Arc::new(super::heartbeat::HeartbeatCoalescer::new(self)))
            .clone()
    }

    /// Records (or changes) a node's address. A changed address drops the old channel.
    pub fn set_address(&self, node: NodeId, address: &str) {
        let mut peers = self.peers.lock().expect("peer router lock");
        match peers.get_mut(&node) {
            Some(peer) if peer.address == address => {}
            Some(peer) => {
                peer.address = address.to_string();
                peer.channel = None;
            }
            None => {
                peers.insert(
                    node,
                    Peer {
                        address: address.to_string(),
                        channel: None,
                    },
                );
            }
        }
    }

    pub fn address(&self, node: NodeId) -> Option<String> {
        self.peers
            .lock()
            .expect("peer router lock")
            .get(&node)
            .map(|p| p.address.clone())
    }

    /// Known peers and their addresses, by node id.
    pub fn addresses(&self) -> BTreeMap<NodeId, String> {
        self.peers
            .lock()
            .expect("peer router lock")
            .iter()
            .map(|(id, p)| (*id, p.address.clone()))
            .collect()
    }

    /// The channel to `node`, dialing it on first use.
    pub fn channel(&self, node: NodeId) -> Result<Channel, RouteError> {
        let mut peers = self.peers.lock().expect("peer router lock");
        let peer = peers.get_mut(&node).ok_or(RouteError::UnknownNode(node))?;
        if let Some(channel) = &peer.channel {
            return Ok(channel.clone());
        }
        let channel = self
            .dialer
            .dial(&peer.address)
            .map_err(|source| RouteError::Dial {
                node,
                address: peer.address.clone(),
                source,
            })?;
        peer.channel = Some(channel.clone());
        Ok(channel)
    }

    /// Drops the channel to `node` after a failure, so the next call dials again.
    pub fn reset(&self, node: NodeId) {
        if let Some(peer) = self.peers.lock().expect("peer router lock").get_mut(&node) {
            peer.channel = None;
        }
    }
}
