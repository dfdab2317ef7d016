//! One simulated run: build the world from the seed, drive it, apply the nemesis, check.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strait_node::{NodeConfig, NodeEnvironment, serve_with};
use strait_raft::config::RaftTuning;

use crate::checker::{self, Violation};
use crate::clock::{SimClock, epoch};
use crate::disk::SimDisk;
use crate::history::History;
use crate::nemesis::{self, Fault, Planned, Target};
use crate::net::{PORT, SimDialer, incoming};
use crate::seeds::{Seeds, fnv1a};
use crate::workload::{self, AdminPlan, Leaders, ProducerPlan, ReaderOrder, ReshardOrder};

/// What the run's actors share: the history, the phase, the leaders the observer saw.
#[derive(Debug, Default)]
pub struct State {
    pub history: History,
    /// When the stream became active and the workload (and the nemesis) started.
    pub workload_start: Option<Duration>,
    pub stop_workload: bool,
    /// When the driver lifted every fault.
    pub healed_at: Option<Duration>,
    /// Producers still running: the final read waits for every batch to be resolved.
    pub producers_running: u32,
    /// Set by the admin once the final read is done: every client then ends.
    pub finished: bool,
    pub leaders: Leaders,
    /// Reshards the nemesis ordered and the operations client has not run yet.
    pub reshards: Vec<ReshardOrder>,
    /// A split or merge is under way: the final read waits for it.
    pub reshard_in_flight: bool,
}

pub type Shared = Arc<Mutex<State>>;

/// Which faults a run gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// A random plan drawn from the seed (at least one crash, partition and leader kill).
    Random,
    /// Every node loses power at once, twice; honest disks must keep every ack.
    MajorityCrash,
    /// The control-plane leader is isolated, then a shard leader is killed while a
    /// bridge partition holds.
    LeaderChurn,
    /// Deliberately unsafe: disks acknowledge flushes they never made, then a majority
    /// loses power. The checker must report lost acknowledged records.
    LyingDisk,
    /// Splits and merges while shard leaders are killed and the network partitions.
    Reshard,
    /// Wall clocks of leaders jump by hours, forward and back (below retention), while
    /// producers write, shards split and merge and a leader is killed.
    ClockJumps,
}

impl Scenario {
    pub const ALL: [Scenario; 6] = [
        Scenario::Random,
        Scenario::MajorityCrash,
        Scenario::LeaderChurn,
        Scenario::LyingDisk,
        Scenario::Reshard,
        Scenario::ClockJumps,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Random => "random",
            Scenario::MajorityCrash => "majority-crash",
            Scenario::LeaderChurn => "leader-churn",
            Scenario::LyingDisk => "lying-disk",
            Scenario::Reshard => "reshard",
            Scenario::ClockJumps => "clock-jumps",
        }
    }

    pub fn parse(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub seed: u64,
    pub scenario: Scenario,
    /// How long the workload runs under faults, in simulated time.
    pub fault_window: Duration,
    /// How soon after healing the cluster must serve writes again.
    pub recovery_bound: Duration,
    /// Whether random plans split and merge shards.
    pub reshard: bool,
    /// Whether random plans jump clocks. Without, the other faults of a seed stay the
    /// same, which tells a clock bug from another.
    pub clock_jumps: bool,
    /// The order in which the final reader visits shards (children first is unsafe, to
    /// show the checker failing).
    pub reader: ReaderOrder,
    /// The nodes' `--down-after`. Shorter than the faults, it makes the control plane
    /// replace the replicas of crashed and cut-off nodes while the workload runs.
    pub down_after: Duration,
}

impl RunOptions {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            scenario: Scenario::Random,
            fault_window: Duration::from_secs(15),
            recovery_bound: Duration::from_secs(30),
            reshard: true,
            clock_jumps: true,
            reader: ReaderOrder::Lineage,
            down_after: strait_node::config::DEFAULT_DOWN_AFTER,
        }
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let mut command = format!("cargo run -p strait-simulation -- --seed {}", self.seed);
        if self.scenario != Scenario::Random {
            command.push_str(&format!(" --scenario {}", self.scenario.name()));
        }
        if self.fault_window != RunOptions::new(0).fault_window {
            command.push_str(&format!(" --fault-window-secs {}", self.fault_window.as_secs()));
        }
        if !self.reshard {
            command.push_str(" --no-reshard");
        }
        if !self.clock_jumps {
            command.push_str(" --no-clock-jumps");
        }
        if self.reader != ReaderOrder::Lineage {
            command.push_str(&format!(" --reader {}", self.reader.name()));
        }
        if self.down_after != RunOptions::new(0).down_after {
            command.push_str(&format!(" --down-after-ms {}", self.down_after.as_millis()));
        }
        command.push_str(" --trace");
        command
    }
}

/// The result of a run.
#[derive(Debug)]
pub struct Outcome {
    pub options: RunOptions,
    pub nodes: usize,
    pub shards: u32,
    pub history: History,
    pub violations: Vec<Violation>,
    /// FNV-1a of the event log: equal for equal runs.
    pub event_hash: u64,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        let h = &self.history;
        format!(
            "seed {} [{}] nodes={} shards={} acked={} unknown={} read={} crashes={} \
             crashes-losing-writes={} partitions={} leader-kills={} clock-jumps={} reshards={} \
             recovered={} events={} hash={:016x} {}",
            self.options.seed,
            self.options.scenario.name(),
            self.nodes,
            self.shards,
            h.acks.len(),
            h.unknown.len(),
            h.read.as_ref().map_or(0, Vec::len),
            h.crashes,
            h.lossy_crashes,
            h.partitions,
            h.leader_kills,
            h.clock_jumps,
            h.reshards,
            h.recovered_after
                .map_or("never".to_string(), |d| format!("{:.1}s", d.as_secs_f64())),
            h.events.len(),
            self.event_hash,
            if self.passed() { "ok" } else { "FAILED" },
        )
    }
}

/// Raft timing for the simulation: fast elections, frequent snapshots so that catch-up
/// by snapshot and log purging are exercised.
fn tuning() -> RaftTuning {
    RaftTuning {
        heartbeat_ms: 100,
        election_min_ms: 500,
        election_max_ms: 1000,
        snapshot_every_entries: 200,
        keep_entries_behind_snapshot: 50,
        // Short, so that groups go quiet and wake many times under the faults.
        quiet_after_ms: Some(1_000),
    }
}

const BASE_MAX_LATENCY: Duration = Duration::from_millis(10);
/// How long a planned crash may wait for its node to hold unflushed writes and for a
/// majority to be up without it.
const CRASH_PATIENCE: Duration = Duration::from_secs(6);

/// Runs one simulation and checks its history.
///
/// Runs are serialized within a process and each starts from the same state of tokio's
/// process-wide task-id counter: tokio files tasks into lists by id, so the order in which
/// a crashed host's tasks (and their sockets) are dropped depends on the ids, and ids
/// handed out by an earlier run (or by a concurrent one) would change the replay. Each
/// run also gets a fresh thread, so nothing thread-local carries over.
pub fn run(options: RunOptions) -> Outcome {
    crate::assert_deterministic_build();
    static RUNS: Mutex<()> = Mutex::new(());
    let _serialized = RUNS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    align_task_ids();
    let name = format!("sim-{}", options.seed);
    let handle = std::thread::Builder::new()
        .name(name)
        .spawn(move || run_here(options))
        .expect("spawn the simulation thread");
    match handle.join() {
        Ok(outcome) => outcome,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Advances tokio's global task-id counter to the next multiple of a large power of two.
fn align_task_ids() {
    const ALIGN: u64 = 1 << 16;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a bare current-thread runtime");
    loop {
        let id: u64 = runtime
            .spawn(async {})
            .id()
            .to_string()
            .parse()
            .expect("task ids display as numbers");
        if id % ALIGN == ALIGN - 1 {
            return;
        }
    }
}

fn run_here(options: RunOptions) -> Outcome {
    let seeds = Seeds::new(options.seed);
    let mut cluster_rng = seeds.rng("cluster", 0);
    let node_count = cluster_rng.random_range(3..=5usize);
    let shard_count = cluster_rng.random_range(1..=4u32);
    let client_count = cluster_rng.random_range(2..=3u32);
    let stream = "orders".to_string();

    let mut sim = turmoil::Builder::new()
        .rng_seed(seeds.sub("turmoil", 0))
        .enable_random_order()
        .tcp_capacity(1 << 16)
        .epoch(epoch())
        .min_message_latency(Duration::from_millis(0))
        .max_message_latency(BASE_MAX_LATENCY)
        .simulation_duration(options.fault_window + Duration::from_secs(240))
        .build();

    let names: Vec<String> = (1..=node_count).map(|i| format!("n{i}")).collect();
    let initial: BTreeMap<u64, String> = names
        .iter()
        .enumerate()
        .map(|(i, name)| (i as u64 + 1, format!("{name}:{PORT}")))
        .collect();
    let disks: Vec<SimDisk> = (0..node_count).map(|_| SimDisk::new()).collect();
    // Like the disks, the clocks outlive a restart: a node comes back to the same
    // (possibly jumped) wall clock.
    let clocks: Vec<SimClock> = (0..node_count).map(|_| SimClock::new()).collect();
    for (i, name) in names.iter().enumerate() {
        let disk = disks[i].clone();
        let clock = clocks[i].clone();
        let config = NodeConfig {
            node_id: i as u64 + 1,
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)),
            advertise: format!("{name}:{PORT}"),
            data_dir: PathBuf::from(format!("/sim/{name}")),
            initial_cluster: initial.clone(),
            replication_factor: 3,
            down_after: options.down_after,
            raft: tuning(),
            ..NodeConfig::single(
                i as u64 + 1,
                SocketAddr::from((Ipv4Addr::UNSPECIFIED, PORT)),
                PathBuf::new(),
            )
        };
        let node_seed = seeds.sub("node", i as u64);
        let incarnation = Arc::new(AtomicU64::new(0));
        sim.host(name.as_str(), move || {
            let disk = disk.clone();
            let clock = clock.clone();
            let config = config.clone();
            // A restarted node draws fresh randomness (its producer session must differ
            // from the previous incarnation's), still from the seed.
            let seed = node_seed
                ^ incarnation
                    .fetch_add(1, Ordering::Relaxed)
                    .wrapping_mul(0x9e37_79b9);
            async move {
                let listener = turmoil::net::TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)).await?;
                let environment = NodeEnvironment {
                    engine: Arc::new(disk),
                    engine_flush_blocks: false,
                    dialer: Arc::new(SimDialer::default()),
                    clock: Arc::new(clock),
                    seed,
                    disk_path: None,
                };
                crate::log::name_this_host(&config.advertise);
                serve_with(config, environment, incoming(listener), std::future::pending()).await?;
                Ok(())
            }
        });
    }

    let shared: Shared = Arc::new(Mutex::new(State {
        producers_running: client_count,
        ..State::default()
    }));
    let admin = AdminPlan {
        nodes: names.clone(),
        stream: stream.clone(),
        shard_count,
        setup_timeout: Duration::from_secs(60),
        recovery_bound: options.recovery_bound,
        read_timeout: Duration::from_secs(90),
        reader: options.reader,
    };
    sim.client("admin", workload::admin(admin, shared.clone()));
    sim.client(
        "observer",
        workload::observer(names.clone(), stream.clone(), shared.clone()),
    );
    sim.client(
        "ops",
        workload::resharder(names.clone(), stream.clone(), shared.clone()),
    );
    let mut clients = vec!["admin".to_string(), "observer".to_string(), "ops".to_string()];
    let lulls = workload::lulls(
        &mut StdRng::seed_from_u64(seeds.sub("lulls", 0)),
        options.fault_window,
    );
    for c in 1..=client_count {
        let plan = ProducerPlan {
            client: c,
            nodes: names.clone(),
            stream: stream.clone(),
            keys: (0..3).map(|k| format!("key-{c}-{k}")).collect(),
            seed: seeds.sub("workload", u64::from(c)),
            lulls: lulls.clone(),
        };
        let name = format!("c{c}");
        sim.client(name.as_str(), workload::producer(plan, shared.clone()));
        clients.push(name);
    }
    {
        let mut state = shared.lock().expect("state");
        state.history.log(
            Duration::ZERO,
            "sim",
            format!(
                "seed {} scenario {} nodes {node_count} shards {shard_count} clients {client_count}",
                options.seed,
                options.scenario.name()
            ),
        );
    }

    let mut fault_rng = seeds.rng("faults", 0);
    let plan = match options.scenario {
        Scenario::Random => {
            let mut plan =
                nemesis::random_plan(&mut fault_rng, node_count, options.fault_window, options.reshard);
            if !options.clock_jumps {
                plan.retain(|p| !matches!(p.fault, Fault::ClockJump { .. }));
            }
            plan
        }
        Scenario::MajorityCrash => vec![
            Planned {
                at: Duration::from_secs(3),
                duration: Duration::from_secs(2),
                fault: Fault::CrashMany((0..node_count).collect()),
            },
            Planned {
                at: Duration::from_secs(9),
                duration: Duration::from_secs(1),
                fault: Fault::CrashMany((0..node_count).collect()),
            },
            Planned {
                at: Duration::from_secs(6),
                duration: Duration::from_secs(2),
                fault: Fault::Isolate(0),
            },
            Planned {
                at: Duration::from_secs(7),
                duration: Duration::from_secs(2),
                fault: Fault::KillShardLeader,
            },
        ],
        Scenario::LeaderChurn => vec![
            Planned {
                at: Duration::from_secs(2),
                duration: Duration::from_secs(4),
                fault: Fault::Isolate(usize::MAX),
            },
            Planned {
                at: Duration::from_secs(7),
                duration: Duration::from_secs(5),
                fault: Fault::Bridge { bridge: 0 },
            },
            Planned {
                at: Duration::from_secs(8),
                duration: Duration::from_secs(3),
                fault: Fault::KillShardLeader,
            },
            Planned {
                at: Duration::from_secs(10),
                duration: Duration::from_secs(2),
                fault: Fault::Crash(node_count - 1),
            },
        ],
        Scenario::Reshard => {
            let at = |ms: u64, duration_ms: u64, fault: Fault| Planned {
                at: Duration::from_millis(ms),
                duration: Duration::from_millis(duration_ms),
                fault,
            };
            vec![
                at(1500, 0, Fault::Reshard { merge: false }),
                at(2500, 2000, Fault::KillShardLeader),
                at(5000, 0, Fault::Reshard { merge: false }),
                at(5200, 3000, Fault::Isolate(0)),
                at(8500, 0, Fault::Reshard { merge: true }),
                at(9000, 1500, Fault::Crash(node_count - 1)),
                at(11000, 0, Fault::Reshard { merge: true }),
            ]
        }
        Scenario::ClockJumps => {
            const HOUR: i64 = 60 * 60 * 1000;
            let at = |ms: u64, duration_ms: u64, fault: Fault| Planned {
                at: Duration::from_millis(ms),
                duration: Duration::from_millis(duration_ms),
                fault,
            };
            let jump = |target: Target, offset_ms: i64| Fault::ClockJump { target, offset_ms };
            vec![
                at(1000, 3000, jump(Target::ShardLeader, 3 * HOUR)),
                at(1500, 0, Fault::Reshard { merge: false }),
                at(2500, 4000, jump(Target::ControlLeader, -2 * HOUR)),
                at(4000, 2000, Fault::KillShardLeader),
                at(5000, 2500, jump(Target::Node(0), 5 * HOUR)),
                at(6000, 0, Fault::Reshard { merge: true }),
                at(7000, 2000, Fault::Isolate(node_count - 1)),
                at(8000, 1500, Fault::Crash(1)),
                at(9000, 3000, jump(Target::ShardLeader, -6 * HOUR)),
                at(10000, 2000, jump(Target::ControlLeader, 4 * HOUR)),
            ]
        }
        Scenario::LyingDisk => vec![Planned {
            at: options.fault_window.saturating_sub(Duration::from_secs(4)),
            duration: Duration::from_secs(1),
            fault: Fault::CrashMany((0..node_count).collect()),
        }],
    };

    let mut driver = Driver {
        names: names.clone(),
        clients,
        disks: disks.clone(),
        clocks,
        down: BTreeSet::new(),
        undo: Vec::new(),
        fault_rng,
        disk_rng: seeds.rng("disk", 0),
        shared: shared.clone(),
    };
    let mut pending: Vec<Planned> = plan;
    pending.reverse();
    let mut healed = false;
    let mut lying = false;
    // When each deferred crash first came due, by its planned offset.
    let mut crash_due: BTreeMap<Duration, Duration> = BTreeMap::new();
    loop {
        let finished = match sim.step() {
            Ok(finished) => finished,
            Err(e) => {
                let mut state = shared.lock().expect("state");
                let at = sim.elapsed();
                state.history.log(at, "sim", format!("stopped: {e}"));
                state.history.run_errors.push(format!("simulation stopped: {e}"));
                break;
            }
        };
        if finished {
            break;
        }
        let now = sim.elapsed();
        let Some(start) = shared.lock().expect("state").workload_start else {
            continue;
        };
        if options.scenario == Scenario::LyingDisk && !lying && now >= start + Duration::from_secs(1) {
            lying = true;
            for disk in &disks {
                disk.set_lying(true);
            }
            shared
                .lock()
                .expect("state")
                .history
                .log(now, "nemesis", "disks start lying about flushes");
        }
        if healed {
            continue;
        }
        if now >= start + options.fault_window {
            healed = true;
            for disk in &disks {
                disk.set_lying(false);
            }
            driver.heal(&mut sim, now);
            let mut state = shared.lock().expect("state");
            state.stop_workload = true;
            state.healed_at = Some(now);
            // Every seed reshards at least once: if the faults refused every order, the
            // first is carried out right after healing, before the final read.
            let keep = (state.history.reshards == 0 && !state.reshards.is_empty()).then(|| state.reshards[0]);
            state.reshards.clear();
            if let Some(order) = keep {
                state.reshards.push(order);
                state.history.log(
                    now,
                    "nemesis",
                    "no reshard completed under faults: one more after healing",
                );
            }
            continue;
        }
        let mut due = Vec::new();
        while let Some(next) = pending.last()
            && start + next.at <= now
        {
            due.push(pending.pop().expect("checked above"));
        }
        // Leader kills first: an extra crash must not take the one slot a small cluster
        // has for a node down while a leader kill waits for it.
        due.sort_by_key(|p| !matches!(p.fault, Fault::KillControlLeader | Fault::KillShardLeader));
        let mut deferred = Vec::new();
        for planned in due {
            let resolved = driver.resolve(&planned);
            // A planned power loss waits until its node has unflushed writes, so that it
            // exercises the lost-write paths, and until taking the node down leaves a
            // majority up; a leader kill waits until a leader is known and can go down,
            // and, while the run has no crash that lost writes yet, for the leader to have
            // unflushed writes too (a plan whose crashes are all leader kills must still
            // lose writes once). Leaders are looked up again at every try. While the run
            // has no crash that lost writes (or no leader kill) yet, the wait lasts until
            // the faults stop; otherwise for a while.
            let (lossy_needed, leader_kill_needed) = {
                let history = &shared.lock().expect("state").history;
                (history.lossy_crashes == 0, history.leader_kills == 0)
            };
            if let Fault::Crash(node) = resolved.fault
                && ((!resolved.leader_kill && disks[node].unflushed() == 0)
                    || (resolved.leader_kill
                        && (resolved.killed_leader.is_none()
                            || (lossy_needed && disks[node].unflushed() == 0)))
                    || driver.down.contains(&node)
                    || driver.down.len() + 1 > (node_count - 1) / 2)
            {
                let first_due = *crash_due.entry(planned.at).or_insert(now);
                let needed = if resolved.leader_kill {
                    leader_kill_needed
                } else {
                    lossy_needed
                };
                if needed || now < first_due + CRASH_PATIENCE {
                    deferred.push(planned);
                    continue;
                }
            }
            driver.apply(&mut sim, now, planned.duration, resolved);
        }
        // Deferred faults are due again at the next step.
        pending.extend(deferred.into_iter().rev());
        driver.undo_due(&mut sim, now);
    }

    let history = std::mem::take(&mut shared.lock().expect("state").history);
    let violations = checker::check(&history);
    let event_hash = fnv1a(history.event_log().as_bytes());
    Outcome {
        options,
        nodes: node_count,
        shards: shard_count,
        history,
        violations,
        event_hash,
    }
}

/// How to undo an applied fault.
#[derive(Debug, Clone)]
enum Undo {
    Repair(Vec<(String, String)>),
    RepairOneway(String, String),
    Restart(Vec<usize>),
    Release(usize),
    Latency(usize),
    FailRate(usize),
    /// Sets the node's clock back to true time, unless a later jump replaced the offset.
    Clock(usize, i64),
}

/// A planned fault with its leader looked up: what the driver applies.
#[derive(Debug, Clone)]
struct Resolved {
    fault: Fault,
    /// Whether this is a leader kill (a crash of whichever node leads).
    leader_kill: bool,
    /// For a leader kill, which leader it kills, if one is known.
    killed_leader: Option<String>,
}

struct Driver {
    names: Vec<String>,
    clients: Vec<String>,
    disks: Vec<SimDisk>,
    clocks: Vec<SimClock>,
    down: BTreeSet<usize>,
    undo: Vec<(Duration, Undo)>,
    fault_rng: StdRng,
    disk_rng: StdRng,
    shared: Shared,
}

impl Driver {
    fn log(&self, at: Duration, text: impl AsRef<str>) {
        self.shared
            .lock()
            .expect("state")
            .history
            .log(at, "nemesis", text);
    }

    fn others(&self, node: usize, with_clients: bool) -> Vec<String> {
        let mut out: Vec<String> = (0..self.names.len())
            .filter(|n| *n != node)
            .map(|n| self.names[n].clone())
            .collect();
        if with_clients {
            out.extend(self.clients.iter().cloned());
        }
        out
    }

    fn partition(&self, sim: &mut turmoil::Sim<'_>, pairs: &[(String, String)]) {
        for (a, b) in pairs {
            sim.partition(a.as_str(), b.as_str());
        }
    }

    /// A node leading the control plane, or one leading a shard of the stream, as the
    /// observer last saw them; a random node when no leader is known.
    fn leader(&mut self, target: Target) -> (usize, Option<String>) {
        let n = self.names.len();
        match target {
            Target::Node(node) => (node, None),
            Target::ControlLeader => {
                let leader = self.shared.lock().expect("state").leaders.control;
                match leader {
                    Some(id) => (id as usize - 1, Some("control leader".to_string())),
                    None => (self.fault_rng.random_range(0..n), None),
                }
            }
            Target::ShardLeader => {
                let leaders: Vec<(String, u64)> = self
                    .shared
                    .lock()
                    .expect("state")
                    .leaders
                    .shards
                    .iter()
                    .map(|(s, l)| (s.clone(), *l))
                    .collect();
                if leaders.is_empty() {
                    (self.fault_rng.random_range(0..n), None)
                } else {
                    let (shard, leader) = &leaders[self.fault_rng.random_range(0..leaders.len())];
                    (*leader as usize - 1, Some(format!("leader of {shard}")))
                }
            }
        }
    }

    /// Looks up the leader a planned fault targets.
    fn resolve(&mut self, planned: &Planned) -> Resolved {
        let leader_kill = matches!(planned.fault, Fault::KillControlLeader | Fault::KillShardLeader);
        let (fault, killed_leader) = match planned.fault.clone() {
            Fault::Isolate(usize::MAX) => (Fault::Isolate(self.leader(Target::ControlLeader).0), None),
            Fault::KillControlLeader | Fault::KillShardLeader => {
                let target = if planned.fault == Fault::KillControlLeader {
                    Target::ControlLeader
                } else {
                    Target::ShardLeader
                };
                let (node, leader) = self.leader(target);
                (Fault::Crash(node), leader)
            }
            Fault::ClockJump { target, offset_ms } => {
                let node = self.leader(target).0;
                (
                    Fault::ClockJump {
                        target: Target::Node(node),
                        offset_ms,
                    },
                    None,
                )
            }
            other => (other, None),
        };
        Resolved {
            fault,
            leader_kill,
            killed_leader,
        }
    }

    fn apply(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration, duration: Duration, resolved: Resolved) {
        let until = now + duration;
        let n = self.names.len();
        let fault = resolved.fault;
        if fault.is_partition() {
            self.shared.lock().expect("state").history.partitions += 1;
        }
        match fault {
            Fault::Isolate(node) => {
                let pairs: Vec<(String, String)> = self
                    .others(node, true)
                    .into_iter()
                    .map(|o| (self.names[node].clone(), o))
                    .collect();
                self.log(now, format!("isolate {}", self.names[node]));
                self.partition(sim, &pairs);
                self.undo.push((until, Undo::Repair(pairs)));
            }
            Fault::Split(side) => {
                let mut pairs = Vec::new();
                for &a in &side {
                    for b in (0..n).filter(|b| !side.contains(b)) {
                        pairs.push((self.names[a].clone(), self.names[b].clone()));
                    }
                    for c in &self.clients {
                        pairs.push((self.names[a].clone(), c.clone()));
                    }
                }
                let side_names: Vec<&str> = side.iter().map(|i| self.names[*i].as_str()).collect();
                self.log(now, format!("split off {}", side_names.join(",")));
                self.partition(sim, &pairs);
                self.undo.push((until, Undo::Repair(pairs)));
            }
            Fault::OneWay { from, to } => {
                self.log(now, format!("drop {} -> {}", self.names[from], self.names[to]));
                sim.partition_oneway(self.names[from].as_str(), self.names[to].as_str());
                self.undo.push((
                    until,
                    Undo::RepairOneway(self.names[from].clone(), self.names[to].clone()),
                ));
            }
            Fault::Bridge { bridge } => {
                let (a, b) = nemesis::bridge_halves(n, bridge);
                let mut pairs = Vec::new();
                for x in &a {
                    for y in &b {
                        pairs.push((self.names[*x].clone(), self.names[*y].clone()));
                    }
                }
                self.log(now, format!("bridge through {}", self.names[bridge]));
                self.partition(sim, &pairs);
                self.undo.push((until, Undo::Repair(pairs)));
            }
            Fault::Crash(node) => {
                if let Some(leader) = &resolved.killed_leader
                    && !self.down.contains(&node)
                    && self.down.len() < (n - 1) / 2
                {
                    self.shared.lock().expect("state").history.leader_kills += 1;
                    self.log(now, format!("kill {leader}: {}", self.names[node]));
                }
                if self.down.contains(&node) {
                    self.log(now, format!("skip crash of {} (already down)", self.names[node]));
                } else if self.down.len() + 1 > (n - 1) / 2 {
                    self.log(
                        now,
                        format!("skip crash of {} (a majority must stay up)", self.names[node]),
                    );
                } else {
                    self.crash(sim, now, &[node]);
                    self.undo.push((until, Undo::Restart(vec![node])));
                }
            }
            Fault::CrashMany(nodes) => {
                let nodes: Vec<usize> = nodes.into_iter().filter(|n| !self.down.contains(n)).collect();
                self.crash(sim, now, &nodes);
                self.undo.push((until, Undo::Restart(nodes)));
            }
            Fault::Pause(node) => {
                self.log(now, format!("pause {}", self.names[node]));
                for o in self.others(node, true) {
                    sim.hold(self.names[node].as_str(), o.as_str());
                }
                self.undo.push((until, Undo::Release(node)));
            }
            Fault::Delay { node, max_ms } => {
                self.log(
                    now,
                    format!("slow links of {} (up to {max_ms} ms)", self.names[node]),
                );
                for o in self.others(node, false) {
                    sim.set_link_max_message_latency(
                        self.names[node].as_str(),
                        o.as_str(),
                        Duration::from_millis(max_ms),
                    );
                }
                self.undo.push((until, Undo::Latency(node)));
            }
            Fault::Lossy { node, rate } => {
                self.log(
                    now,
                    format!("lossy links of {} (fail rate {rate:.3})", self.names[node]),
                );
                for o in self.others(node, false) {
                    sim.set_link_fail_rate(self.names[node].as_str(), o.as_str(), rate);
                }
                self.undo.push((until, Undo::FailRate(node)));
            }
            Fault::Reshard { merge } => {
                let pick = self.fault_rng.random();
                self.log(now, if merge { "order a merge" } else { "order a split" });
                self.shared
                    .lock()
                    .expect("state")
                    .reshards
                    .push(ReshardOrder { merge, pick });
            }
            Fault::ClockJump {
                target: Target::Node(node),
                offset_ms,
            } => {
                self.shared.lock().expect("state").history.clock_jumps += 1;
                self.clocks[node].set_offset_ms(offset_ms);
                self.log(
                    now,
                    format!(
                        "clock of {} jumps {} {:.1}s",
                        self.names[node],
                        if offset_ms >= 0 { "forward" } else { "back" },
                        offset_ms.unsigned_abs() as f64 / 1000.0
                    ),
                );
                self.undo.push((until, Undo::Clock(node, offset_ms)));
            }
            Fault::ClockJump { .. } | Fault::KillControlLeader | Fault::KillShardLeader => {
                unreachable!("resolved to a node before it is applied")
            }
        }
    }

    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration, nodes: &[usize]) {
        for &node in nodes {
            sim.crash(self.names[node].as_str());
            self.shared.lock().expect("state").history.crashes += 1;
            let report = self.disks[node].crash(&mut self.disk_rng, true);
            self.down.insert(node);
            if report.lost > 0 {
                self.shared.lock().expect("state").history.lossy_crashes += 1;
            }
            self.log(
                now,
                format!(
                    "crash {} (lost {} unflushed batches, {} torn through)",
                    self.names[node], report.lost, report.kept
                ),
            );
        }
    }

    fn undo_due(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration) {
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.undo)
            .into_iter()
            .partition(|(at, _)| *at <= now);
        self.undo = later;
        for (_, undo) in due {
            self.undo_one(sim, now, undo);
        }
    }

    fn undo_one(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration, undo: Undo) {
        match undo {
            Undo::Repair(pairs) => {
                for (a, b) in &pairs {
                    sim.repair(a.as_str(), b.as_str());
                }
                self.log(now, format!("heal {} links", pairs.len()));
            }
            Undo::RepairOneway(from, to) => {
                sim.repair_oneway(from.as_str(), to.as_str());
                self.log(now, format!("heal {from} -> {to}"));
            }
            Undo::Restart(nodes) => {
                for node in nodes {
                    if self.down.remove(&node) {
                        sim.bounce(self.names[node].as_str());
                        self.log(now, format!("restart {}", self.names[node]));
                    }
                }
            }
            Undo::Release(node) => {
                for o in self.others(node, true) {
                    sim.release(self.names[node].as_str(), o.as_str());
                }
                self.log(now, format!("resume {}", self.names[node]));
            }
            Undo::Latency(node) => {
                for o in self.others(node, false) {
                    sim.set_link_max_message_latency(self.names[node].as_str(), o.as_str(), BASE_MAX_LATENCY);
                }
                self.log(now, format!("restore links of {}", self.names[node]));
            }
            Undo::Clock(node, offset_ms) => {
                if self.clocks[node].offset_ms() == offset_ms {
                    self.clocks[node].set_offset_ms(0);
                    self.log(
                        now,
                        format!("clock of {} set back to true time", self.names[node]),
                    );
                }
            }
            Undo::FailRate(node) => {
                for o in self.others(node, false) {
                    sim.set_link_fail_rate(self.names[node].as_str(), o.as_str(), 0.0);
                }
                self.log(now, format!("reliable links of {}", self.names[node]));
            }
        }
    }

    /// Lifts every fault: the liveness phase starts.
    fn heal(&mut self, sim: &mut turmoil::Sim<'_>, now: Duration) {
        let pending = std::mem::take(&mut self.undo);
        for (_, undo) in pending {
            self.undo_one(sim, now, undo);
        }
        for clock in &self.clocks {
            clock.set_offset_ms(0);
        }
        let mut hosts = self.names.clone();
        hosts.extend(self.clients.iter().cloned());
        for (i, a) in hosts.iter().enumerate() {
            for b in &hosts[i + 1..] {
                sim.release(a.as_str(), b.as_str());
                sim.repair(a.as_str(), b.as_str());
            }
        }
        self.log(now, "heal everything; liveness phase");
    }
}
