//! Sweeps of random seeds, each with at least one crash that loses unflushed writes, one
//! partition, one leader kill and one clock jump, in under five minutes of CPU (about
//! 150 s; the wall time on a machine with a core to spare). The sweep CI runs adds at
//! least one completed split or merge per seed, and in every other seed replica moves off
//! nodes that stay unreachable for 2 s. Each seed's summary line (its fault
//! counts) is printed; `--nocapture` shows them.

use std::time::{Duration, Instant};

use strait_simulation::{Outcome, RunOptions, run};

const SEEDS: u64 = 50;
/// The odd seeds declare a node down after this long, far shorter than their faults, so
/// replicas move off crashed and cut-off nodes (and back) while the faults go on.
const MOVING_DOWN_AFTER: Duration = Duration::from_secs(2);
const BUDGET: Duration = Duration::from_secs(300);

fn describe(outcome: &Outcome) -> String {
    let mut text = outcome.summary();
    for violation in &outcome.violations {
        text.push_str(&format!("\n  violation {violation}"));
    }
    text.push_str(&format!("\n  replay: {}", outcome.options.replay_command()));
    text
}

/// CPU time (user and system) this process has used, from `/proc/self/stat` on Linux.
///
/// The budget is on the sweep's work: one simulation runs on one core, so on a machine
/// with a core to spare its wall time is its CPU time, while a machine shared with
/// other builds stretches wall time without the sweep doing more.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is in parentheses and may hold spaces; utime and stime are the
    // 14th and 15th fields, the 12th and 13th after it, in ticks of 1/100 s.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

fn sweep(reshard: bool) {
    let started = Instant::now();
    let cpu_started = cpu_time();
    let mut failures = Vec::new();
    for seed in 0..SEEDS {
        let mut options = RunOptions::new(seed);
        options.fault_window = Duration::from_secs(8);
        options.reshard = reshard;
        if seed % 2 == 1 {
            options.down_after = MOVING_DOWN_AFTER;
        }
        let outcome = run(options);
        let h = &outcome.history;
        println!("{}", outcome.summary());
        if !outcome.passed() {
            failures.push(describe(&outcome));
        }
        assert!(
            h.lossy_crashes >= 1 && h.partitions >= 1 && h.leader_kills >= 1 && h.clock_jumps >= 1,
            "every seed needs a lossy crash, a partition, a leader kill and a clock jump: {}",
            outcome.summary()
        );
        assert!(
            !reshard || h.reshards >= 1,
            "every seed of the resharding sweep needs a completed reshard: {}",
            outcome.summary()
        );
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time()
        .zip(cpu_started)
        .map(|(now, then)| now.saturating_sub(then));
    println!("{SEEDS} seeds: {elapsed:.1?} wall, {cpu:.1?} CPU");
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let used = cpu.unwrap_or(elapsed);
    assert!(
        used < BUDGET,
        "{SEEDS} seeds used {used:?} of CPU ({elapsed:?} wall)"
    );
}

/// The sweep CI runs: splits and merges among the random faults.
#[test]
fn fifty_random_seeds_with_reshards_keep_every_invariant() {
    sweep(true);
}

/// The same seeds without resharding, to tell a resharding bug from another. Not run by
/// default: two sweeps side by side would share the two cores and neither would keep
/// its five-minute budget.
#[test]
#[ignore = "CI runs the resharding sweep; run with --ignored"]
fn fifty_random_seeds_without_reshards_keep_every_invariant() {
    sweep(false);
}
