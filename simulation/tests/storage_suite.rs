//! openraft's storage conformance suite against Strait's shard log store and state
//! machine on the simulated disk, honest and torn: the simulation's engine must keep
//! the same contract as the production one.

use std::sync::Arc;

use openraft::StorageError;
use openraft::rt::deterministic_rng::DeterministicRng;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft_rt_tokio::TokioRuntime;
use rand::SeedableRng;
use rand::rngs::StdRng;
use strait_raft::GroupId;
use strait_raft::log_store::{AppliedFloor, LogStore};
use strait_raft::shard::{ShardRaftConfig, ShardStateMachine};
use strait_simulation::disk::SimDisk;
use strait_storage::{Flusher, KvEngine};

/// Fresh stores on a new simulated disk for every sub-test. With `crash_first`, the
/// disk first takes writes, loses power (tearing its unflushed tail) and is handed over
/// in that state's flushed part only.
struct SimDiskStores {
    crash_first: bool,
}

impl StoreBuilder<ShardRaftConfig, LogStore<ShardRaftConfig>, ShardStateMachine, ()> for SimDiskStores {
    async fn build(
        &self,
    ) -> Result<((), LogStore<ShardRaftConfig>, ShardStateMachine), StorageError<ShardRaftConfig>> {
        let disk = SimDisk::new();
        if self.crash_first {
            // Unrelated keys written and torn away: nothing of them may leak into a store.
            let mut batch = strait_storage::WriteBatch::new();
            batch.put(b"zz-unrelated".to_vec(), b"x".to_vec());
            disk.write(batch).expect("memory write");
            disk.crash(&mut StdRng::seed_from_u64(3), true);
        }
        let engine: Arc<dyn KvEngine> = Arc::new(disk);
        let flusher = Flusher::start(engine.clone(), false);
        let floor = Arc::new(AppliedFloor::default());
        let group = GroupId(7);
        let log = LogStore::new(engine.clone(), flusher.clone(), group, Some(floor.clone()));
        let sm = ShardStateMachine::open(engine, flusher, group, floor).expect("open state machine");
        Ok(((), log, sm))
    }
}

async fn run(crash_first: bool) {
    DeterministicRng::<TokioRuntime>::scope(1, async move {
        Suite::test_all(SimDiskStores { crash_first })
            .await
            .expect("storage suite");
    })
    .await;
}

#[tokio::test]
async fn shard_stores_on_the_simulated_disk_pass_the_openraft_suite() {
    run(false).await;
}

#[tokio::test]
async fn shard_stores_on_a_disk_that_lost_power_pass_the_openraft_suite() {
    run(true).await;
}
