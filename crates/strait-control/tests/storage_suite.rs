//! openraft's storage conformance suite against the control group's stores.

use std::sync::Arc;

use openraft::StorageError;
use openraft::rt::deterministic_rng::DeterministicRng;
use openraft::testing::log::{StoreBuilder, Suite};
use openraft_rt_tokio::TokioRuntime;
use strait_control::{ControlRaftConfig, ControlStateMachine};
use strait_raft::{GroupId, LogStore};
use strait_storage::{Flusher, KvEngine, MemoryEngine};

struct ControlStores;

impl StoreBuilder<ControlRaftConfig, LogStore<ControlRaftConfig>, ControlStateMachine, ()> for ControlStores {
    async fn build(
        &self,
    ) -> Result<((), LogStore<ControlRaftConfig>, ControlStateMachine), StorageError<ControlRaftConfig>> {
        let engine: Arc<dyn KvEngine> = Arc::new(MemoryEngine::new());
        let flusher = Flusher::start(engine.clone(), false);
        let log = LogStore::new(engine.clone(), flusher.clone(), GroupId::CONTROL, None);
        Ok(((), log, ControlStateMachine::new(engine, flusher)))
    }
}

#[tokio::test]
async fn control_stores_pass_the_openraft_suite() {
    DeterministicRng::<TokioRuntime>::scope(1, async {
        Suite::test_all(ControlStores).await.expect("storage suite");
    })
    .await;
}
