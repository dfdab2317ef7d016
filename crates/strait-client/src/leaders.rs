//! Which node leads each shard, so that a put goes straight to it.
//!
//! Any node accepts any write: one that does not lead the record's shard forwards it to the
//! node that does. That hop costs a second gRPC call, a second decode and, between hosts, a
//! network round trip on every forwarded write, and sends the record's bytes across the
//! network twice. The client keeps,
//! per stream, the open shards' hash-key ranges and leaders (from ListShards) and the nodes'
//! addresses (from ClusterStatus), and sends a put to the leader of its records' shard.
//!
//! The map is only a hint. It is refreshed in the background when older than
//! [`ROUTES_TTL`], never on a put's path; a stale entry sends a put to a node that forwards
//! it, exactly as if there were no map; and an attempt on the routed node that fails falls
//! back to the ordinary call loop and drops the stream's entry; when the node did not answer
//! at all, puts keep away from it for a [`ROUTES_TTL`] (a node that is gone may still be
//! named leader by the others until they elect a new one).

use std::collections::BTreeMap;
use std::time::Duration;

use strait_core::{HashKey, HashKeyRange};
use tokio::time::Instant;

use crate::types::ShardDescription;

/// How long a stream's leaders are trusted before they are fetched again. Leaders change on
/// failover and rebalancing; a stale entry costs one forwarding hop per put, not an error.
pub(crate) const ROUTES_TTL: Duration = Duration::from_secs(10);

/// The open shards of one stream and who leads them.
#[derive(Debug)]
struct StreamRoutes {
    /// Sorted by range start; ranges of open shards do not overlap.
    shards: Vec<(HashKeyRange, Option<u64>)>,
    fetched_at: Instant,
}

impl StreamRoutes {
    /// The node leading the open shard that owns `key`.
    fn leader_of(&self, key: HashKey) -> Option<u64> {
        let at = self.shards.partition_point(|(range, _)| range.start <= key);
        let (range, leader) = self.shards.get(at.checked_sub(1)?)?;
        if range.contains(key) { *leader } else { None }
    }
}

/// What [`LeaderMap::lookup`] knows about a stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// The node leading the key's shard, when the map knows one.
    Known(Option<u64>),
    /// The map holds nothing for the stream, or what it holds is too old; the caller should
    /// start a refresh (and route without the map meanwhile unless it got a leader).
    Refresh(Option<u64>),
}

/// Shard leaders per stream and node addresses, as last fetched.
#[derive(Debug, Default)]
pub(crate) struct LeaderMap {
    /// Node id to endpoint URI, from ClusterStatus.
    nodes: BTreeMap<u64, String>,
    streams: BTreeMap<String, StreamRoutes>,
    /// Streams with a refresh under way, so that concurrent puts start one.
    refreshing: Vec<String>,
    /// Nodes a routed attempt failed on, and until when puts are not routed to them.
    avoided: BTreeMap<u64, Instant>,
}

impl LeaderMap {
    /// Records a node's address (a normalized endpoint URI).
    pub(crate) fn set_node(&mut self, node_id: u64, uri: String) {
        self.nodes.insert(node_id, uri);
    }

    /// The address of `node_id`, when the map knows it.
    pub(crate) fn address(&self, node_id: u64) -> Option<&str> {
        self.nodes.get(&node_id).map(String::as_str)
    }

    /// The address to route to for `node_id`: none while the node is avoided.
    pub(crate) fn route_to(&self, node_id: u64, now: Instant) -> Option<&str> {
        if self.avoided.get(&node_id).is_some_and(|until| now < *until) {
            return None;
        }
        self.address(node_id)
    }

    /// Where a record with hash key `key` of `stream` should go. Marks the stream as being
    /// refreshed when the answer is [`Lookup::Refresh`].
    pub(crate) fn lookup(&mut self, stream: &str, key: HashKey, now: Instant) -> Lookup {
        let (leader, fresh) = match self.streams.get(stream) {
            Some(routes) => (
                routes.leader_of(key),
                now.duration_since(routes.fetched_at) < ROUTES_TTL,
            ),
            None => (None, false),
        };
        if fresh || self.refreshing.iter().any(|s| s == stream) {
            return Lookup::Known(leader);
        }
        self.refreshing.push(stream.to_owned());
        Lookup::Refresh(leader)
    }

    /// Stores a stream's shards as ListShards described them; closed shards are left out.
    pub(crate) fn store(&mut self, stream: &str, shards: &[ShardDescription], now: Instant) {
        let mut open: Vec<(HashKeyRange, Option<u64>)> = shards
            .iter()
            .filter(|shard| !shard.is_closed())
            .map(|shard| (shard.hash_key_range, shard.leader))
            .collect();
        open.sort_by_key(|(range, _)| range.start);
        self.streams.insert(
            stream.to_owned(),
            StreamRoutes {
                shards: open,
                fetched_at: now,
            },
        );
        self.refresh_done(stream);
    }

    /// Ends a refresh, whether or not it stored anything.
    pub(crate) fn refresh_done(&mut self, stream: &str) {
        self.refreshing.retain(|s| s != stream);
    }

    /// Drops what the map holds for `stream`: an attempt routed by it failed.
    pub(crate) fn forget(&mut self, stream: &str) {
        self.streams.remove(stream);
    }

    /// Keeps puts away from the node at `uri` for a [`ROUTES_TTL`]: it did not answer.
    pub(crate) fn avoid(&mut self, uri: &str, now: Instant) {
        let failed: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, address)| address.as_str() == uri)
            .map(|(node, _)| *node)
            .collect();
        for node in failed {
            self.avoided.insert(node, now + ROUTES_TTL);
        }
        self.avoided.retain(|_, until| now < *until);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strait_core::{SequenceNumber, ShardId, StreamIncarnation};

    fn shard(id: u32, range: HashKeyRange, leader: Option<u64>, closed: bool) -> ShardDescription {
        ShardDescription {
            shard_id: ShardId(id),
            parent_shard_id: None,
            adjacent_parent_shard_id: None,
            hash_key_range: range,
            starting_sequence_number: SequenceNumber::starting(StreamIncarnation::MIN, ShardId(id)),
            ending_sequence_number: closed
                .then_some(SequenceNumber::starting(StreamIncarnation::MIN, ShardId(id))),
            replicas: vec![1, 2, 3],
            leader,
        }
    }

    fn map_with_two_halves() -> (LeaderMap, [HashKeyRange; 2], Instant) {
        let halves = HashKeyRange::even_split(2);
        let mut map = LeaderMap::default();
        map.set_node(1, "http://a:1".into());
        map.set_node(2, "http://b:2".into());
        let now = Instant::now();
        assert_eq!(map.lookup("s", HashKey(0), now), Lookup::Refresh(None));
        let shards = [
            shard(0, HashKeyRange::FULL, Some(1), true),
            shard(2, halves[1], Some(2), false),
            shard(1, halves[0], Some(1), false),
        ];
        map.store("s", &shards, now);
        (map, [halves[0], halves[1]], now)
    }

    #[tokio::test]
    async fn keys_route_to_the_leader_of_their_open_shard() {
        let (mut map, halves, now) = map_with_two_halves();
        assert_eq!(map.lookup("s", halves[0].start, now), Lookup::Known(Some(1)));
        assert_eq!(map.lookup("s", halves[0].end, now), Lookup::Known(Some(1)));
        assert_eq!(map.lookup("s", halves[1].start, now), Lookup::Known(Some(2)));
        assert_eq!(map.lookup("s", HashKey::MAX, now), Lookup::Known(Some(2)));
    }

    #[tokio::test]
    async fn unknown_leaders_and_nodes_route_nowhere() {
        let now = Instant::now();
        let mut map = LeaderMap::default();
        map.set_node(1, "http://a:1".into());
        let halves = HashKeyRange::even_split(2);
        let _ = map.lookup("s", HashKey(0), now);
        map.store(
            "s",
            &[
                shard(0, halves[0], None, false),
                shard(1, halves[1], Some(9), false),
            ],
            now,
        );
        assert_eq!(map.lookup("s", HashKey(0), now), Lookup::Known(None));
        assert_eq!(map.lookup("s", HashKey::MAX, now), Lookup::Known(Some(9)));
        assert_eq!(map.address(9), None);
        assert_eq!(map.address(1), Some("http://a:1"));
    }

    #[tokio::test]
    async fn one_refresh_at_a_time_and_again_once_stale() {
        let (mut map, _, now) = map_with_two_halves();
        let later = now + ROUTES_TTL;
        // Stale: the first caller is told to refresh, the next ones use what is there.
        assert_eq!(map.lookup("s", HashKey(0), later), Lookup::Refresh(Some(1)));
        assert_eq!(map.lookup("s", HashKey(0), later), Lookup::Known(Some(1)));
        map.refresh_done("s");
        assert!(matches!(map.lookup("s", HashKey(0), later), Lookup::Refresh(_)));
        // A failed routed attempt drops the entry; the next lookup refreshes.
        map.refresh_done("s");
        map.forget("s");
        assert_eq!(map.lookup("s", HashKey(0), later), Lookup::Refresh(None));
    }

    #[tokio::test]
    async fn a_node_a_routed_attempt_failed_on_is_avoided_for_a_while() {
        let (mut map, _, now) = map_with_two_halves();
        assert_eq!(map.route_to(1, now), Some("http://a:1"));
        map.avoid("http://a:1", now);
        assert_eq!(map.route_to(1, now), None);
        assert_eq!(map.route_to(2, now), Some("http://b:2"));
        assert_eq!(map.route_to(1, now + ROUTES_TTL), Some("http://a:1"));
    }
}
