//! **Open shards cover the key space exactly once**, and the children of closed shards
//! cover exactly what their parents covered.

use std::collections::{BTreeMap, BTreeSet};

use strait_core::{HashKey, HashKeyRange};

use crate::history::{History, ShardView};

fn range(shard: &ShardView) -> Option<HashKeyRange> {
    HashKeyRange::new(HashKey(shard.start), HashKey(shard.end))
}

/// Merges ranges into maximal disjoint intervals (assumes no overlap within the set).
fn union(ranges: &[(u128, u128)]) -> Vec<(u128, u128)> {
    let mut sorted = ranges.to_vec();
    sorted.sort();
    let mut out: Vec<(u128, u128)> = Vec::new();
    for (s, e) in sorted {
        match out.last_mut() {
            Some(last) if last.1 != u128::MAX && last.1 + 1 == s => last.1 = e,
            _ => out.push((s, e)),
        }
    }
    out
}

pub fn check(history: &History) -> Vec<String> {
    let Some(shards) = &history.shards else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut open = Vec::new();
    for shard in shards {
        match range(shard) {
            Some(r) if shard.open => open.push(r),
            Some(_) => {}
            None => out.push(format!("{} has a malformed range", shard.shard_id)),
        }
    }
    if let Err(e) = HashKeyRange::check_coverage(&open) {
        out.push(format!("open shards do not tile the key space: {e}"));
    }
    // Lineage: group every closed parent with its children (connected components of the
    // parent/child relation) and compare the unions of their ranges.
    let by_id: BTreeMap<&str, &ShardView> = shards.iter().map(|s| (s.shard_id.as_str(), s)).collect();
    let mut children: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for shard in shards {
        for parent in &shard.parents {
            if by_id.contains_key(parent.as_str()) {
                children.entry(parent.as_str()).or_default().push(&shard.shard_id);
            }
        }
    }
    let mut visited: BTreeSet<&str> = BTreeSet::new();
    for parent in children.keys() {
        if visited.contains(parent) {
            continue;
        }
        let (mut parents, mut kids) = (BTreeSet::new(), BTreeSet::new());
        let mut stack = vec![(*parent, true)];
        while let Some((id, is_parent)) = stack.pop() {
            let set = if is_parent { &mut parents } else { &mut kids };
            if !set.insert(id) {
                continue;
            }
            if is_parent {
                visited.insert(id);
                for kid in children.get(id).into_iter().flatten() {
                    stack.push((kid, false));
                }
            } else if let Some(kid) = by_id.get(id) {
                for p in &kid.parents {
                    if by_id.contains_key(p.as_str()) {
                        stack.push((p.as_str(), true));
                    }
                }
            }
        }
        let collect = |ids: &BTreeSet<&str>| {
            let ranges: Vec<(u128, u128)> = ids
                .iter()
                .filter_map(|id| by_id.get(id))
                .map(|s| (s.start, s.end))
                .collect();
            union(&ranges)
        };
        if collect(&parents) != collect(&kids) {
            out.push(format!(
                "children {kids:?} do not cover exactly their parents {parents:?}"
            ));
        }
        if let Some(open_parent) = parents.iter().find(|p| by_id.get(*p).is_some_and(|s| s.open)) {
            out.push(format!("{open_parent} has children but is still open"));
        }
    }
    out
}
