//! A wall clock driven by simulated time.

use strait_raft::Clock;

/// Milliseconds since the Unix epoch at the start of every simulation (2026-01-01).
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// Reads turmoil's simulated time since the fixed epoch; never the system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SimClock;

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        // Outside a simulated host (never on the node's paths) time stands at the epoch.
        turmoil::since_epoch()
            .map(|d| d.as_millis() as u64)
            .unwrap_or(EPOCH_MS)
    }
}

/// The epoch handed to turmoil's builder, so `since_epoch` starts at [`EPOCH_MS`].
pub fn epoch() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(EPOCH_MS)
}
