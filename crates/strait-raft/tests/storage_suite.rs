//! openraft's storage conformance suite, run against Strait's log store and shard state
//! machine on both engines: sled (production) and memory (simulation), with the log cache
//! (as nodes run shard groups) and without it (as when the cache's budget is spent).

use std::sync::Arc;

use openraft::StorageError;
use openraft::rt::deterministic_rng::DeterministicRng;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft_rt_tokio::TokioRuntime;
use strait_raft::GroupId;
use strait_raft::log_cache::{LOG_CACHE_BYTES, LogCacheBudget};
use strait_raft::log_store::{AppliedFloor, LogStore};
use strait_raft::shard::{ShardRaftConfig, ShardStateMachine};
use strait_storage::{Flusher, KvEngine, MemoryEngine, SledEngine};

/// Builds fresh stores on a new engine for every sub-test.
struct ShardStores {
    sled: bool,
    cached: bool,
    dirs: std::sync::Mutex<Vec<tempfile::TempDir>>,
}

impl StoreBuilder<ShardRaftConfig, LogStore<ShardRaftConfig>, ShardStateMachine, ()> for ShardStores {
    async fn build(
        &self,
    ) -> Result<((), LogStore<ShardRaftConfig>, ShardStateMachine), StorageError<ShardRaftConfig>> {
        let engine: Arc<dyn KvEngine> = if self.sled {
            let dir = tempfile::tempdir().expect("temp dir");
            let engine = SledEngine::open(dir.path(), 4 << 20).expect("open sled");
            self.dirs.lock().unwrap().push(dir);
            Arc::new(engine)
        } else {
            Arc::new(MemoryEngine::new())
        };
        let flusher = Flusher::start(engine.clone(), self.sled);
        let floor = Arc::new(AppliedFloor::default());
        let group = GroupId(7);
        let mut log = LogStore::new(engine.clone(), flusher.clone(), group, Some(floor.clone()));
        if self.cached {
            log = log.with_cache(LogCacheBudget::new(LOG_CACHE_BYTES));
        }
        let sm = ShardStateMachine::open(engine, flusher, group, floor).expect("open state machine");
        Ok(((), log, sm))
    }
}

async fn run(sled: bool, cached: bool) {
    DeterministicRng::<TokioRuntime>::scope(1, async move {
        Suite::test_all(ShardStores {
            sled,
            cached,
            dirs: Default::default(),
        })
        .await
        .expect("storage suite");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shard_stores_on_sled_pass_the_openraft_suite() {
    run(true, true).await;
}

#[tokio::test]
async fn shard_stores_on_memory_pass_the_openraft_suite() {
    run(false, true).await;
}

#[tokio::test]
async fn uncached_shard_stores_pass_the_openraft_suite() {
    run(false, false).await;
}
