//! Deterministic whole-cluster simulation of Strait.
//!
//! Several real nodes (the production node code, started through
//! [`strait_node::serve_with`]), clients and a nemesis run inside turmoil, all derived
//! from one seed. Clients record a history of what they asked for and what they were
//! told; after a fault phase and a healing phase a reader collects what the cluster
//! holds, and the [`checker`] verifies the invariants over the history.
//!
//! ```text
//!  seed ─┬─ cluster (size, shards)      ┌─ n1 … n5: serve_with(SimDisk, SimDialer, SimClock)
//!        ├─ workload (per client)  ──►  ├─ c1 … c3: PutRecords with producer ids ─► history
//!        ├─ nemesis (fault plan)        ├─ observer: ClusterStatus → leaders for the nemesis
//!        ├─ disk tears                  └─ reader: barrier puts, lineage read ─► history
//!        └─ turmoil + openraft seeds    then checker::check(history)
//! ```

pub mod checker;
pub mod clock;
pub mod disk;
pub mod history;
pub mod log;
pub mod nemesis;
pub mod net;
pub mod run;
pub mod seeds;
pub mod workload;

pub use run::{Outcome, RunOptions, Scenario, run};

/// Fails loudly when the build lacks `--cfg tokio_unstable`: without it turmoil cannot
/// seed tokio's own randomness and a seed does not reproduce a run.
pub fn assert_deterministic_build() {
    if !cfg!(tokio_unstable) {
        panic!(
            "the simulation needs `--cfg tokio_unstable` (set in .cargo/config.toml); \
             a RUSTFLAGS environment variable replaces it: unset RUSTFLAGS"
        );
    }
}
