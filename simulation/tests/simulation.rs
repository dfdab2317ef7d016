//! The simulation's own guarantees: the build is deterministic, a seed replays byte for
//! byte, the checker catches a lying disk, and the named hard cases pass.

use std::time::Duration;

use strait_simulation::workload::ReaderOrder;
use strait_simulation::{Outcome, RunOptions, Scenario, assert_deterministic_build, run};

fn describe(outcome: &Outcome) -> String {
    let mut text = outcome.summary();
    for violation in &outcome.violations {
        text.push_str(&format!("\n  violation {violation}"));
    }
    text.push_str(&format!("\n  replay: {}", outcome.options.replay_command()));
    text
}

#[test]
fn the_build_has_tokio_unstable() {
    assert_deterministic_build();
}

#[test]
fn a_seed_replays_byte_for_byte() {
    for seed in [42, 4242] {
        let first = run(RunOptions::new(seed));
        let second = run(RunOptions::new(seed));
        let (a, b) = (first.history.event_log(), second.history.event_log());
        if a != b {
            let divergence = a
                .lines()
                .zip(b.lines())
                .enumerate()
                .find(|(_, (x, y))| x != y)
                .map(|(i, (x, y))| format!("line {}:\n  first:  {x}\n  second: {y}", i + 1))
                .unwrap_or_else(|| "one log is a prefix of the other".to_string());
            panic!(
                "seed {seed} diverged (hashes {:016x} vs {:016x}) at {divergence}",
                first.event_hash, second.event_hash
            );
        }
        assert_eq!(first.event_hash, second.event_hash);
        assert!(first.history.events.len() > 50, "a run records events");
    }
}

#[test]
fn the_checker_reports_records_a_lying_disk_loses() {
    let mut options = RunOptions::new(7);
    options.scenario = Scenario::LyingDisk;
    let outcome = run(options);
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.invariant == "acked_durable" && v.detail.contains("acknowledged records lost")),
        "disks that acknowledge unflushed writes, then a majority crash, must lose acknowledged \
         records and the checker must say so:\n{}",
        describe(&outcome)
    );
}

#[test]
fn the_checker_reports_a_reader_that_reads_children_before_parents() {
    let mut options = RunOptions::new(11);
    options.scenario = Scenario::Reshard;
    options.reader = ReaderOrder::ChildrenFirst;
    let outcome = run(options);
    assert!(
        outcome
            .violations
            .iter()
            .any(|v| v.invariant == "key_lineage_order" && v.detail.contains("but read before it")),
        "a reader visiting children before their parents reads a key's later records first, \
         and the checker must say so:\n{}",
        describe(&outcome)
    );
}

#[test]
fn clock_jumps_of_hours_keep_every_acknowledged_record_in_order() {
    let mut options = RunOptions::new(13);
    options.scenario = Scenario::ClockJumps;
    let outcome = run(options);
    assert!(outcome.passed(), "{}", describe(&outcome));
    assert!(outcome.history.clock_jumps >= 5, "{}", describe(&outcome));
}

#[test]
fn every_node_losing_power_at_once_keeps_every_acknowledged_record() {
    let mut options = RunOptions::new(3);
    options.scenario = Scenario::MajorityCrash;
    let outcome = run(options);
    assert!(outcome.passed(), "{}", describe(&outcome));
    assert!(outcome.history.lossy_crashes > 0, "{}", describe(&outcome));
}

#[test]
fn leader_churn_keeps_every_acknowledged_record() {
    let mut options = RunOptions::new(5);
    options.scenario = Scenario::LeaderChurn;
    options.fault_window = Duration::from_secs(15);
    let outcome = run(options);
    assert!(outcome.passed(), "{}", describe(&outcome));
    assert!(outcome.history.leader_kills > 0 && outcome.history.partitions > 0);
}

#[test]
fn splits_and_merges_under_faults_keep_every_acknowledged_record() {
    let mut options = RunOptions::new(11);
    options.scenario = Scenario::Reshard;
    let outcome = run(options);
    assert!(outcome.passed(), "{}", describe(&outcome));
    assert!(outcome.history.reshards > 0, "{}", describe(&outcome));
}

/// Seed 116 starts a split through a node whose clock is 57 s ahead, and the request is
/// cut off: the control leader must finish it within seconds (timed on its own clock from
/// when it saw the reshard), so the stream accepts the seed's second split before the end.
#[test]
fn a_reshard_cut_off_on_a_node_with_a_fast_clock_is_finished_in_time() {
    let outcome = run(RunOptions::new(116));
    assert!(outcome.passed(), "{}", describe(&outcome));
    assert!(outcome.history.clock_jumps > 0, "{}", describe(&outcome));
    assert!(outcome.history.reshards >= 2, "{}", describe(&outcome));
}
