//! Where a new shard's replicas go.
//!
//! Two forces pull on placement. Consistent hashing (the `hashring` crate, with virtual
//! nodes) gives each shard a stable preference order of nodes, so that adding or
//! removing a node changes the preferred replicas of few shards. Load balance wants every
//! node to hold about the same number of replicas and of leaders. The planner takes the
//! ring's preference order as a tie-breaker under load: for each shard it picks the RF
//! least-loaded distinct nodes, preferring earlier ring positions among equals, and makes
//! the node with the fewest leaders the first replica (the one that initializes the
//! group and usually leads it).
//!
//! The proposer runs this and stores the result in the control command; apply never
//! recomputes it, so a change of this code never changes the meaning of an old log.

use std::collections::BTreeMap;

use hashring::HashRing;

use crate::state::NodeId;

/// Virtual nodes per node on the ring.
const VNODES: u32 = 64;

/// A node's position on the ring: the node and one of its virtual slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct VirtualNode {
    node: NodeId,
    slot: u32,
}

/// The placement of one shard group: distinct nodes, first is the preferred leader.
pub type Replicas = Vec<NodeId>;

/// Plans replicas for new shards.
pub struct PlacementPlanner {
    ring: HashRing<VirtualNode>,
    nodes: Vec<NodeId>,
    /// `(replicas, preferred leaders)` per node, updated as shards are placed.
    load: BTreeMap<NodeId, (usize, usize)>,
}

impl PlacementPlanner {
    /// A planner over `nodes` with their current load.
    pub fn new(nodes: &[NodeId], load: BTreeMap<NodeId, (usize, usize)>) -> Self {
        let mut ring = HashRing::new();
        ring.batch_add(
            nodes
                .iter()
                .flat_map(|&node| (0..VNODES).map(move |slot| VirtualNode { node, slot }))
                .collect(),
        );
        let load = nodes
            .iter()
            .map(|n| (*n, load.get(n).copied().unwrap_or_default()))
            .collect();
        Self {
            ring,
            nodes: nodes.to_vec(),
            load,
        }
    }

    /// Distinct nodes in ring order for a shard key.
    fn preference(&self, key: (u64, u32)) -> Vec<NodeId> {
        let mut order = Vec::with_capacity(self.nodes.len());
        if let Some(walk) = self
            .ring
            .get_with_replicas(&key, self.ring.len().saturating_sub(1))
        {
            for v in walk {
                if !order.contains(&v.node) {
                    order.push(v.node);
                    if order.len() == self.nodes.len() {
                        break;
                    }
                }
            }
        }
        order
    }

    /// Every node in ring order for a shard key: the shard's stable preference, used to
    /// choose among equally loaded nodes so that repeated plans agree.
    pub fn ranking(&self, incarnation: u64, ordinal: u32) -> Vec<NodeId> {
        self.preference((incarnation, ordinal))
    }

    /// Places one shard (identified by its stream incarnation and ordinal) on
    /// `min(replication_factor, nodes)` distinct nodes.
    pub fn place(&mut self, incarnation: u64, ordinal: u32, replication_factor: usize) -> Replicas {
        let preference = self.preference((incarnation, ordinal));
        let rf = replication_factor.min(preference.len());
        let mut ranked: Vec<(usize, usize, NodeId)> = preference
            .iter()
            .enumerate()
            .map(|(rank, node)| (self.load[node].0, rank, *node))
            .collect();
        ranked.sort_unstable();
        let mut chosen: Vec<NodeId> = ranked.into_iter().take(rf).map(|(_, _, n)| n).collect();
        // The preferred leader: fewest leaders, then fewest replicas, then ring order.
        if let Some(best) = chosen
            .iter()
            .enumerate()
            .min_by_key(|(i, n)| (self.load[*n].1, self.load[*n].0, *i))
            .map(|(i, _)| i)
        {
            chosen.swap(0, best);
        }
        for (i, node) in chosen.iter().enumerate() {
            let entry = self
                .load
                .get_mut(node)
                .expect("infallible: chosen from known nodes");
            entry.0 += 1;
            if i == 0 {
                entry.1 += 1;
            }
        }
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_small_cluster_gets_fewer_replicas() {
        let mut planner = PlacementPlanner::new(&[1], BTreeMap::new());
        assert_eq!(planner.place(1, 0, 3), vec![1]);
    }

    #[test]
    fn replicas_and_leaders_spread_evenly() {
        let nodes = [1, 2, 3, 4, 5];
        let mut planner = PlacementPlanner::new(&nodes, BTreeMap::new());
        for ordinal in 0..100 {
            planner.place(9, ordinal, 3);
        }
        for node in nodes {
            let (replicas, leaders) = planner.load[&node];
            assert!(
                (55..=65).contains(&replicas),
                "node {node} holds {replicas} replicas"
            );
            assert!((18..=22).contains(&leaders), "node {node} leads {leaders}");
        }
    }

    proptest! {
        #[test]
        fn replicas_are_distinct_known_nodes(node_count in 1u64..8, shards in 1u32..40, rf in 1usize..5) {
            let nodes: Vec<u64> = (1..=node_count).collect();
            let mut planner = PlacementPlanner::new(&nodes, BTreeMap::new());
            for ordinal in 0..shards {
                let replicas = planner.place(3, ordinal, rf);
                prop_assert_eq!(replicas.len(), rf.min(nodes.len()));
                let mut distinct = replicas.clone();
                distinct.sort_unstable();
                distinct.dedup();
                prop_assert_eq!(distinct.len(), replicas.len());
                prop_assert!(replicas.iter().all(|n| nodes.contains(n)));
            }
        }
    }
}
