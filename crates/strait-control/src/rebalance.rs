//! Which replicas and leaders to move, and where.
//!
//! The control leader calls these planners with the metadata and what it observes (which
//! nodes are down, which node leads each group) and proposes the moves they return; the
//! groups' own leaders carry them out. Planning is pure and deterministic, so it is tested
//! without a cluster, and a new control leader re-plans from the metadata alone.
//!
//! Replica moves, in order of urgency:
//! 1. **Evacuation**: a group with a replica on a node that is down or draining gets a
//!    replacement: a live node still retiring from the group (it has the data) if there
//!    is one, else the least-loaded live node that does not hold it (ties broken by the
//!    group's ring preference, so repeated plans agree).
//! 2. **Balance**: once nothing needs evacuating, a replica moves from the node holding
//!    the most to the node holding the fewest while they differ by more than one. A node
//!    that joins thus receives its share, and no more moves happen than that takes.
//!
//! Moves in flight are bounded, so that catching up new replicas never saturates the
//! cluster, and a group moves one replica at a time, except that a replica on a node that
//! went down is replaced even in a group already moving.

use std::collections::{BTreeMap, BTreeSet};

use crate::placement::PlacementPlanner;
use crate::state::{ControlState, GroupMeta, NodeId, NodeState};

/// One replica of one group, from one node to another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicaMove {
    pub group: u64,
    pub from: NodeId,
    pub to: NodeId,
}

/// A leadership transfer within a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderTransfer {
    pub group: u64,
    pub from: NodeId,
    pub to: NodeId,
}

/// Nodes that can take replicas and leaders: active and not down, in id order.
fn healthy_nodes(state: &ControlState, down: &BTreeSet<NodeId>) -> Vec<NodeId> {
    state
        .active_nodes()
        .into_iter()
        .filter(|n| !down.contains(n))
        .collect()
}

/// Whether a replica on `node` must move away.
fn must_leave(state: &ControlState, down: &BTreeSet<NodeId>, node: NodeId) -> bool {
    down.contains(&node)
        || state
            .nodes
            .get(&node)
            .is_none_or(|n| n.state != NodeState::Active)
}

/// The replica moves to start now, given the nodes considered down (their replicas are
/// replaced) and the nodes that cannot take a replica right now (`unavailable`: down, or
/// briefly not answering), with at most `max_in_flight` groups moving at once (counting
/// moves already in flight).
pub fn plan_moves(
    state: &ControlState,
    down: &BTreeSet<NodeId>,
    unavailable: &BTreeSet<NodeId>,
    max_in_flight: usize,
) -> Vec<ReplicaMove> {
    let in_flight = state.groups.values().filter(|g| g.moving()).count();
    let mut budget = max_in_flight.saturating_sub(in_flight);
    let targets: Vec<NodeId> = healthy_nodes(state, down)
        .into_iter()
        .filter(|n| !unavailable.contains(n))
        .collect();
    if budget == 0 || targets.is_empty() {
        return Vec::new();
    }
    let mut load: BTreeMap<NodeId, usize> = targets.iter().map(|n| (*n, 0)).collect();
    for group in state.groups.values() {
        for node in &group.replicas {
            if let Some(count) = load.get_mut(node) {
                *count += 1;
            }
        }
    }
    let ring = PlacementPlanner::new(&targets, BTreeMap::new());
    let rank = |group: &GroupMeta, node: NodeId| {
        ring.ranking(group.incarnation.get(), group.shard.0)
            .iter()
            .position(|n| *n == node)
            .unwrap_or(usize::MAX)
    };

    let mut moves = Vec::new();
    let mut evacuation_pending = false;
    // Groups already moving are included: a move whose new replica went down would
    // otherwise never finish. A group that has not had a leader yet keeps its placement
    // (see `GroupMeta::initialized`): its replicas initialize it where they are.
    for group in state.groups.values().filter(|g| g.initialized) {
        let Some(&from) = group.replicas.iter().find(|n| must_leave(state, down, **n)) else {
            continue;
        };
        // A node still retiring from the group has its data: it goes first.
        let to = targets
            .iter()
            .filter(|n| group.can_move_to(**n))
            .min_by_key(|n| (!group.retiring.contains(n), load[*n], rank(group, **n)));
        let Some(&to) = to else {
            // Fewer healthy nodes than replicas: nothing to move to until one returns.
            continue;
        };
        evacuation_pending = true;
        if budget == 0 {
            break;
        }
        moves.push(ReplicaMove {
            group: group.id,
            from,
            to,
        });
        *load.get_mut(&to).expect("infallible: targets are in load") += 1;
        budget -= 1;
    }
    if evacuation_pending || state.groups.values().any(|g| g.moving()) {
        return moves;
    }

    let mut planned: BTreeSet<u64> = BTreeSet::new();
    while budget > 0 {
        let Some((&most, &most_load)) = load.iter().max_by_key(|(n, l)| (**l, std::cmp::Reverse(**n))) else {
            break;
        };
        let Some((&fewest, &fewest_load)) = load.iter().min_by_key(|(n, l)| (**l, **n)) else {
            break;
        };
        if most_load <= fewest_load + 1 {
            break;
        }
        let candidate = state
            .groups
            .values()
            .filter(|g| g.initialized && !planned.contains(&g.id) && !g.moving())
            .filter(|g| g.replicas.contains(&most) && g.can_move_to(fewest))
            .min_by_key(|g| (rank(g, fewest), g.id));
        let Some(group) = candidate else {
            break;
        };
        planned.insert(group.id);
        moves.push(ReplicaMove {
            group: group.id,
            from: most,
            to: fewest,
        });
        *load.get_mut(&most).expect("infallible: most is in load") -= 1;
        *load.get_mut(&fewest).expect("infallible: fewest is in load") += 1;
        budget -= 1;
    }
    moves
}

/// One leadership transfer to make now, if any: first away from a draining node, then
/// from the node leading the most groups to a replica leading the fewest, while they
/// differ by more than one. `leaders` maps each group to its leader, where known; nodes in
/// `unavailable` (not answering, or shutting down) are given no leadership.
pub fn plan_leader_transfer(
    state: &ControlState,
    leaders: &BTreeMap<u64, Option<NodeId>>,
    unavailable: &BTreeSet<NodeId>,
) -> Option<LeaderTransfer> {
    let down = unavailable;
    let healthy = healthy_nodes(state, down);
    let mut led: BTreeMap<NodeId, usize> = healthy.iter().map(|n| (*n, 0)).collect();
    for leader in leaders.values().flatten() {
        if let Some(count) = led.get_mut(leader) {
            *count += 1;
        }
    }
    let stable = |g: &&GroupMeta| !g.moving();
    // A draining node hands over every group it leads.
    for group in state.groups.values().filter(stable) {
        let Some(Some(leader)) = leaders.get(&group.id) else {
            continue;
        };
        if !must_leave(state, down, *leader) {
            continue;
        }
        let to = group
            .replicas
            .iter()
            .filter(|n| led.contains_key(n))
            .min_by_key(|n| (led[*n], **n));
        if let Some(&to) = to {
            return Some(LeaderTransfer {
                group: group.id,
                from: *leader,
                to,
            });
        }
    }
    let (&most, &most_led) = led.iter().max_by_key(|(n, l)| (**l, std::cmp::Reverse(**n)))?;
    let (&fewest, &fewest_led) = led.iter().min_by_key(|(n, l)| (**l, **n))?;
    if most_led <= fewest_led + 1 {
        return None;
    }
    state
        .groups
        .values()
        .filter(stable)
        .find(|g| leaders.get(&g.id) == Some(&Some(most)) && g.replicas.contains(&fewest))
        .map(|g| LeaderTransfer {
            group: g.id,
            from: most,
            to: fewest,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{ControlCommand, NodeInfo, StreamKey};
    use strait_core::{AccountId, Namespace, Region, StreamMode, StreamName};

    fn node(id: NodeId) -> NodeInfo {
        NodeInfo {
            id,
            address: format!("10.0.0.{id}:7001"),
            voter: true,
            state: NodeState::Active,
        }
    }

    /// A cluster of `nodes` with one stream of `shards` shards placed by the planner.
    fn cluster(nodes: &[NodeId], shards: u32) -> ControlState {
        let mut state = ControlState::default();
        state.apply(&ControlCommand::Bootstrap {
            nodes: nodes.iter().map(|n| node(*n)).collect(),
            iterator_secret: vec![1; 32],
        });
        let mut planner = PlacementPlanner::new(nodes, BTreeMap::new());
        let placements = (0..shards).map(|ordinal| planner.place(1, ordinal, 3)).collect();
        state.apply(&ControlCommand::CreateStream {
            key: StreamKey {
                namespace: Namespace {
                    account: AccountId::default_account(),
                    region: Region::default_region(),
                },
                name: StreamName::new("s").unwrap(),
            },
            shard_count: shards,
            mode: StreamMode::Provisioned,
            retention_hours: 24,
            now_ms: 0,
            placements,
        });
        let groups = state.groups.keys().copied().collect();
        state.apply(&ControlCommand::GroupsInitialized { groups });
        state
    }

    /// Applies moves as the cluster would: start, then retire once the group changed.
    fn carry_out(state: &mut ControlState, moves: &[ReplicaMove]) {
        for m in moves {
            state.apply(&ControlCommand::MoveReplica {
                group: m.group,
                from: m.from,
                to: m.to,
            });
            state.apply(&ControlCommand::ReplicaRetired {
                group: m.group,
                node: m.from,
            });
            state.apply(&ControlCommand::ReplicaDeleted {
                group: m.group,
                node: m.from,
            });
        }
    }

    fn replica_counts(state: &ControlState) -> BTreeMap<NodeId, usize> {
        let mut counts: BTreeMap<NodeId, usize> = state.nodes.keys().map(|n| (*n, 0)).collect();
        for g in state.groups.values() {
            for n in &g.replicas {
                *counts.entry(*n).or_default() += 1;
            }
        }
        counts
    }

    #[test]
    fn a_balanced_cluster_plans_nothing() {
        let state = cluster(&[1, 2, 3], 8);
        assert!(plan_moves(&state, &BTreeSet::new(), &BTreeSet::new(), 4).is_empty());
    }

    #[test]
    fn a_joining_node_gets_its_share_with_few_moves() {
        let mut state = cluster(&[1, 2, 3], 8);
        state.apply(&ControlCommand::AddNode { node: node(4) });
        let mut total = 0;
        for _ in 0..20 {
            let moves = plan_moves(&state, &BTreeSet::new(), &BTreeSet::new(), 2);
            assert!(moves.len() <= 2);
            if moves.is_empty() {
                break;
            }
            assert!(moves.iter().all(|m| m.to == 4), "{moves:?}");
            total += moves.len();
            carry_out(&mut state, &moves);
        }
        let counts = replica_counts(&state);
        // 24 replicas over 4 nodes: 6 each, reached with the 6 moves onto node 4.
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![6, 6, 6, 6]);
        assert_eq!(total, 6);
    }

    #[test]
    fn a_down_node_is_evacuated_onto_the_spare_node() {
        let mut state = cluster(&[1, 2, 3, 4], 6);
        let down = BTreeSet::from([2]);
        let on_two = state.groups_on(2).count();
        let moves = plan_moves(&state, &down, &down, 100);
        assert_eq!(moves.len(), on_two);
        assert!(moves.iter().all(|m| m.from == 2 && m.to != 2));
        carry_out(&mut state, &moves);
        assert_eq!(state.groups_on(2).count(), 0);
        for g in state.groups.values() {
            let mut distinct = g.replicas.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), 3, "group {} keeps three distinct replicas", g.id);
        }
        // While node 2 stays down, nothing else moves: balance waits for evacuation only.
        assert!(plan_moves(&state, &down, &down, 100).is_empty());
    }

    #[test]
    fn with_no_spare_node_a_down_node_keeps_its_replicas() {
        let state = cluster(&[1, 2, 3], 4);
        assert!(plan_moves(&state, &BTreeSet::from([3]), &BTreeSet::from([3]), 10).is_empty());
    }

    #[test]
    fn moves_in_flight_count_against_the_limit() {
        let mut state = cluster(&[1, 2, 3, 4], 6);
        let moves = plan_moves(&state, &BTreeSet::from([1]), &BTreeSet::from([1]), 2);
        assert_eq!(moves.len(), 2);
        for m in &moves {
            state.apply(&ControlCommand::MoveReplica {
                group: m.group,
                from: m.from,
                to: m.to,
            });
        }
        assert!(plan_moves(&state, &BTreeSet::from([1]), &BTreeSet::from([1]), 2).is_empty());
        let next = plan_moves(&state, &BTreeSet::from([1]), &BTreeSet::from([1]), 3);
        assert_eq!(next.len(), 1);
        assert!(moves.iter().all(|m| m.group != next[0].group));
    }

    #[test]
    fn a_draining_node_is_emptied_and_leads_nothing() {
        let mut state = cluster(&[1, 2, 3, 4], 6);
        state.apply(&ControlCommand::DrainNode { id: 4 });
        let moves = plan_moves(&state, &BTreeSet::new(), &BTreeSet::new(), 100);
        assert!(moves.iter().all(|m| m.from == 4));
        let leaders: BTreeMap<u64, Option<NodeId>> = state.groups.keys().map(|g| (*g, Some(4))).collect();
        let transfer = plan_leader_transfer(&state, &leaders, &BTreeSet::new()).unwrap();
        assert_eq!(transfer.from, 4);
        assert_ne!(transfer.to, 4);
        carry_out(&mut state, &moves);
        assert_eq!(state.groups_on(4).count(), 0);
        assert_eq!(
            state.apply(&ControlCommand::RemoveNode { id: 4 }),
            crate::ControlReply::Done
        );
        assert!(!state.nodes.contains_key(&4));
    }

    #[test]
    fn leaders_spread_evenly() {
        let state = cluster(&[1, 2, 3], 9);
        let mut leaders: BTreeMap<u64, Option<NodeId>> = state.groups.keys().map(|g| (*g, Some(1))).collect();
        for _ in 0..20 {
            let Some(t) = plan_leader_transfer(&state, &leaders, &BTreeSet::new()) else {
                break;
            };
            assert_eq!(leaders[&t.group], Some(t.from));
            leaders.insert(t.group, Some(t.to));
        }
        let mut counts: BTreeMap<NodeId, usize> = BTreeMap::new();
        for l in leaders.values().flatten() {
            *counts.entry(*l).or_default() += 1;
        }
        assert_eq!(counts.values().copied().collect::<Vec<_>>(), vec![3, 3, 3]);
    }

    #[test]
    fn unavailable_nodes_get_no_leadership_and_no_replica() {
        let mut state = cluster(&[1, 2, 3], 6);
        // Node 3 leads nothing, but it is shutting down: leadership stays put.
        let leaders: BTreeMap<u64, Option<NodeId>> = state
            .groups
            .keys()
            .enumerate()
            .map(|(i, g)| (*g, Some(if i % 2 == 0 { 1 } else { 2 })))
            .collect();
        let transfer = plan_leader_transfer(&state, &leaders, &BTreeSet::from([3]));
        assert!(transfer.is_none_or(|t| t.to != 3), "{transfer:?}");
        // A joined node that does not answer yet receives no replica.
        state.apply(&ControlCommand::AddNode { node: node(4) });
        assert!(plan_moves(&state, &BTreeSet::new(), &BTreeSet::from([4]), 10).is_empty());
        assert!(!plan_moves(&state, &BTreeSet::new(), &BTreeSet::new(), 10).is_empty());
    }
}
