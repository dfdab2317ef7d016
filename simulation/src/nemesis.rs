//! The nemesis: a fault plan drawn from the seed, applied by the driver between
//! simulation steps.
//!
//! Each planned fault has a start and a duration; the driver undoes it when the duration
//! ends (heals the partition, restarts the node, releases held messages, restores the
//! link). Faults that would take a majority of nodes down at once are skipped, unless a
//! named scenario asks for exactly that. Reshards (splits and merges through the public
//! API) are issued by a client inside the simulation and are not undone.

use std::time::Duration;

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

/// One fault, over node indexes `0..n`.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// One node cut off from every other host.
    Isolate(usize),
    /// These nodes (a minority) cut off from the rest of the cluster and the clients.
    Split(Vec<usize>),
    /// Messages from `from` to `to` are dropped; the other direction works.
    OneWay { from: usize, to: usize },
    /// Two halves that only reach each other through `bridge`.
    Bridge { bridge: usize },
    /// Power loss: the node stops and its disk drops unflushed writes.
    Crash(usize),
    /// Several nodes lose power together (named scenarios only).
    CrashMany(Vec<usize>),
    /// The node's messages are held (a long pause) and delivered when it resumes.
    Pause(usize),
    /// Every link of the node gets a high maximum latency.
    Delay { node: usize, max_ms: u64 },
    /// Every link of the node fails at random (segments dropped).
    Lossy { node: usize, rate: f64 },
    /// Crash whichever node leads the control plane.
    KillControlLeader,
    /// Crash whichever node leads a shard of the stream.
    KillShardLeader,
    /// Split an open shard (or merge two adjacent ones) while producers write.
    Reshard { merge: bool },
}

impl Fault {
    pub fn is_partition(&self) -> bool {
        matches!(
            self,
            Fault::Isolate(_) | Fault::Split(_) | Fault::OneWay { .. } | Fault::Bridge { .. }
        )
    }
}

/// A fault at an offset from the start of the workload, undone after `duration`.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub at: Duration,
    pub duration: Duration,
    pub fault: Fault,
}

/// Draws a random plan over `window` for `nodes` nodes: at least one crash, one
/// partition and one leader kill, then random extras.
pub fn random_plan(rng: &mut StdRng, nodes: usize, window: Duration) -> Vec<Planned> {
    let window_ms = window.as_millis() as u64;
    let at = |rng: &mut StdRng| {
        Duration::from_millis(rng.random_range(500..window_ms.saturating_sub(3000).max(600)))
    };
    // The mandatory crash comes early, so that it can wait for a moment that loses
    // unflushed writes and still land inside the window.
    let early = |rng: &mut StdRng| Duration::from_millis(rng.random_range(500..(window_ms / 3).max(600)));
    let mut plan = vec![
        Planned {
            at: early(rng),
            duration: Duration::from_millis(rng.random_range(1000..5000)),
            fault: Fault::Crash(rng.random_range(0..nodes)),
        },
        Planned {
            at: at(rng),
            duration: Duration::from_millis(rng.random_range(1000..6000)),
            fault: random_partition(rng, nodes),
        },
        Planned {
            at: at(rng),
            duration: Duration::from_millis(rng.random_range(1000..5000)),
            fault: if rng.random_bool(0.5) {
                Fault::KillControlLeader
            } else {
                Fault::KillShardLeader
            },
        },
    ];
    let extras = rng.random_range(2..=6);
    for _ in 0..extras {
        let fault = match rng.random_range(0..10) {
            0 | 1 => random_partition(rng, nodes),
            2 => Fault::Crash(rng.random_range(0..nodes)),
            3 => Fault::Pause(rng.random_range(0..nodes)),
            4 => Fault::Delay {
                node: rng.random_range(0..nodes),
                max_ms: rng.random_range(200..1500),
            },
            5 => Fault::Lossy {
                node: rng.random_range(0..nodes),
                rate: rng.random_range(0.001..0.02),
            },
            6 => Fault::KillControlLeader,
            7 => Fault::KillShardLeader,
            _ => Fault::Reshard {
                merge: rng.random_bool(0.4),
            },
        };
        plan.push(Planned {
            at: at(rng),
            duration: Duration::from_millis(rng.random_range(500..5000)),
            fault,
        });
    }
    plan.sort_by_key(|p| p.at);
    plan
}

fn random_partition(rng: &mut StdRng, nodes: usize) -> Fault {
    match rng.random_range(0..4) {
        0 => Fault::Isolate(rng.random_range(0..nodes)),
        1 => {
            let mut all: Vec<usize> = (0..nodes).collect();
            all.shuffle(rng);
            let minority = rng.random_range(1..=(nodes - 1) / 2);
            let mut side = all[..minority].to_vec();
            side.sort();
            Fault::Split(side)
        }
        2 => {
            let from = rng.random_range(0..nodes);
            let to = (from + rng.random_range(1..nodes)) % nodes;
            Fault::OneWay { from, to }
        }
        _ => Fault::Bridge {
            bridge: rng.random_range(0..nodes),
        },
    }
}

/// The halves of a bridge partition: every node but the bridge, split in two.
pub fn bridge_halves(nodes: usize, bridge: usize) -> (Vec<usize>, Vec<usize>) {
    let others: Vec<usize> = (0..nodes).filter(|n| *n != bridge).collect();
    let (a, b) = others.split_at(others.len() / 2);
    (a.to_vec(), b.to_vec())
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_random_plan_has_a_crash_a_partition_and_a_leader_kill() {
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let nodes = 3 + (seed as usize % 3);
            let plan = random_plan(&mut rng, nodes, Duration::from_secs(20));
            assert!(plan.iter().any(|p| matches!(p.fault, Fault::Crash(_))));
            assert!(plan.iter().any(|p| p.fault.is_partition()));
            assert!(
                plan.iter()
                    .any(|p| matches!(p.fault, Fault::KillControlLeader | Fault::KillShardLeader))
            );
            assert!(plan.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }
}
