//! Sweeps of random seeds, each with at least one crash that loses unflushed writes, one
//! partition, one leader kill and one clock jump, well within five minutes on two cores.
//! The sweep CI runs adds at least one completed split or merge per seed. Each seed's
//! summary line (its fault counts) is printed; `--nocapture` shows them.

use std::time::{Duration, Instant};

use strait_simulation::{Outcome, RunOptions, run};

const SEEDS: u64 = 50;
const BUDGET: Duration = Duration::from_secs(300);

fn describe(outcome: &Outcome) -> String {
    let mut text = outcome.summary();
    for violation in &outcome.violations {
        text.push_str(&format!("\n  violation {violation}"));
    }
    text.push_str(&format!("\n  replay: {}", outcome.options.replay_command()));
    text
}

fn sweep(reshard: bool) {
    let started = Instant::now();
    let mut failures = Vec::new();
    for seed in 0..SEEDS {
        let mut options = RunOptions::new(seed);
        options.fault_window = Duration::from_secs(8);
        options.reshard = reshard;
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
    assert!(
        failures.is_empty(),
        "{} seeds failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(elapsed < BUDGET, "{SEEDS} seeds took {elapsed:?}");
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
