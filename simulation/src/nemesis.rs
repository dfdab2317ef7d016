//! The nemesis: a fault plan drawn from the seed, applied by the driver between
//! simulation steps.
//!
//! Each planned fault has a start and a duration; the driver undoes it when the duration
//! ends (heals the partition, restarts the node, releases held messages, restores the
//! link, sets the clock back). Faults that would take a majority of nodes down at once
//! are skipped, unless a named scenario asks for exactly that. Reshards (splits and
//! merges through the public API) are issued by a client inside the simulation and are
//! not undone.

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
    /// The wall clock of `target` jumps by `offset_ms` (forward or back) for the fault's
    /// duration, then jumps back to true time.
    ClockJump { target: Target, offset_ms: i64 },
}

/// Which node a fault that follows leadership hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Node(usize),
    /// Whichever node leads the control plane when the fault starts.
    ControlLeader,
    /// Whichever node leads one of the stream's shards when the fault starts.
    ShardLeader,
}

/// Random plans keep clock offsets within this many milliseconds of true time, either
/// way. Two mechanisms compare wall times against Strait's five-minute producer
/// deduplication window: a shard expires its dedup entries by arrival time (stamped by
/// whichever node led when the entry was proposed), and a retry re-routed to a child is
/// looked up in parents closed "recently" by the routing node's clock against the
/// control leader's. Two clocks `2 × MAX` apart plus a producer's retry horizon must stay
/// inside the window, or a retry that straddles the jump may be stored twice. Retention
/// (24 h) and iterator lifetime (5 min) are further off. The `clock-jumps` scenario
/// probes jumps of hours.
pub const MAX_RANDOM_JUMP_MS: i64 = 90_000;

/// Retention of the simulated stream: no clock jump may reach it, or a leader trims
/// records the checker expects to read.
pub const RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

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
/// partition, one leader kill and one clock jump (and one reshard, if `reshard`), then
/// random extras.
pub fn random_plan(rng: &mut StdRng, nodes: usize, window: Duration, reshard: bool) -> Vec<Planned> {
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
        Planned {
            at: at(rng),
            duration: Duration::from_millis(rng.random_range(1000..5000)),
            fault: random_clock_jump(rng, nodes),
        },
    ];
    if reshard {
        // Early enough that a reshard refused or cut short by faults is retried in the
        // window.
        plan.push(Planned {
            at: early(rng),
            duration: Duration::ZERO,
            fault: Fault::Reshard {
                merge: rng.random_bool(0.4),
            },
        });
    }
    let extras = rng.random_range(2..=6);
    for _ in 0..extras {
        let fault = match rng.random_range(0..11) {
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
            8 => random_clock_jump(rng, nodes),
            _ if !reshard => random_partition(rng, nodes),
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

/// A jump of up to [`MAX_RANDOM_JUMP_MS`], forward or back, of a random node or of a
/// leader (leaders stamp arrival times and close times).
fn random_clock_jump(rng: &mut StdRng, nodes: usize) -> Fault {
    let target = match rng.random_range(0..3) {
        0 => Target::Node(rng.random_range(0..nodes)),
        1 => Target::ControlLeader,
        _ => Target::ShardLeader,
    };
    let magnitude = rng.random_range(1_000..=MAX_RANDOM_JUMP_MS);
    Fault::ClockJump {
        target,
        offset_ms: if rng.random_bool(0.5) {
            magnitude
        } else {
            -magnitude
        },
    }
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
    fn every_random_plan_has_a_crash_a_partition_a_leader_kill_a_jump_and_a_reshard() {
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let nodes = 3 + (seed as usize % 3);
            let plan = random_plan(&mut rng, nodes, Duration::from_secs(20), true);
            assert!(plan.iter().any(|p| matches!(p.fault, Fault::Reshard { .. })));
            assert!(plan.iter().any(|p| matches!(p.fault, Fault::ClockJump { .. })));
            assert!(plan.iter().any(|p| matches!(p.fault, Fault::Crash(_))));
            assert!(plan.iter().any(|p| p.fault.is_partition()));
            assert!(
                plan.iter()
                    .any(|p| matches!(p.fault, Fault::KillControlLeader | Fault::KillShardLeader))
            );
            assert!(plan.windows(2).all(|w| w[0].at <= w[1].at));
        }
    }

    #[test]
    fn random_clock_jumps_stay_inside_the_dedup_window_and_far_from_retention() {
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let plan = random_plan(&mut rng, 5, Duration::from_secs(20), false);
            assert!(!plan.iter().any(|p| matches!(p.fault, Fault::Reshard { .. })));
            for p in &plan {
                if let Fault::ClockJump { offset_ms, .. } = p.fault {
                    assert!(offset_ms != 0 && offset_ms.abs() <= MAX_RANDOM_JUMP_MS);
                    assert!(2 * offset_ms.abs() < strait_raft::shard::state_machine::DEDUP_WINDOW_MS as i64);
                    assert!(offset_ms.abs() < RETENTION_MS / 100);
                }
            }
        }
    }
}
