//! A wall clock driven by simulated time, which the nemesis can jump.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use strait_raft::Clock;

/// Milliseconds since the Unix epoch at the start of every simulation (2026-01-01).
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// Reads turmoil's simulated time since the fixed epoch, never the system clock, shifted
/// by the node's offset.
///
/// Every node has its own clock; the nemesis sets its offset to jump it forward or back
/// (a stepped NTP correction, a wrong RTC after a reboot) and sets it back to zero when
/// the fault ends, which is a jump in the other direction. Tokio time (timers, Raft
/// elections) is not affected: only code that reads the wall clock through [`Clock`]
/// sees the jump, as on a real machine where timers run on a monotonic clock.
#[derive(Debug, Default, Clone)]
pub struct SimClock {
    offset_ms: Arc<AtomicI64>,
}

impl SimClock {
    /// A clock with no offset.
    pub fn new() -> Self {
        Self::default()
    }

    /// Jumps the clock to simulated time plus `offset_ms` (negative: behind).
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// The current offset from simulated time.
    pub fn offset_ms(&self) -> i64 {
        self.offset_ms.load(Ordering::Relaxed)
    }
}

impl Clock for SimClock {
    fn now_ms(&self) -> u64 {
        // Outside a simulated host (never on the node's paths) time stands at the epoch.
        let base = turmoil::since_epoch()
            .map(|d| d.as_millis() as u64)
            .unwrap_or(EPOCH_MS);
        base.saturating_add_signed(self.offset_ms())
    }
}

/// The epoch handed to turmoil's builder, so `since_epoch` starts at [`EPOCH_MS`].
pub fn epoch() -> std::time::SystemTime {
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(EPOCH_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_shifts_the_clock_both_ways() {
        let clock = SimClock::new();
        assert_eq!(clock.now_ms(), EPOCH_MS);
        let shared = clock.clone();
        shared.set_offset_ms(90_000);
        assert_eq!(clock.now_ms(), EPOCH_MS + 90_000);
        shared.set_offset_ms(-3_600_000);
        assert_eq!(clock.now_ms(), EPOCH_MS - 3_600_000);
        shared.set_offset_ms(0);
        assert_eq!(clock.now_ms(), EPOCH_MS);
    }
}
