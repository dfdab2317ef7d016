//! Exponential backoff with jitter, bounded by a deadline.
//!
//! Every retry loop of the client (a call failing over between endpoints, the producer
//! resending failed records) waits between rounds with a [`Backoff`]. The delay doubles from
//! `initial` up to `max`, and each wait is drawn from the upper half of the current delay, so
//! that many clients retrying the same failure spread out instead of arriving together.

use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

/// The first delay of a call's retry loop.
pub(crate) const INITIAL_DELAY: Duration = Duration::from_millis(50);
/// The longest delay of a call's retry loop.
pub(crate) const MAX_DELAY: Duration = Duration::from_secs(1);

/// A sequence of growing, jittered delays.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    current: Duration,
    max: Duration,
}

impl Backoff {
    /// Starts at `initial` and doubles up to `max`.
    pub(crate) fn new(initial: Duration, max: Duration) -> Backoff {
        Backoff {
            current: initial,
            max,
        }
    }

    /// The backoff used between rounds of a call's attempts.
    pub(crate) fn for_calls() -> Backoff {
        Backoff::new(INITIAL_DELAY, MAX_DELAY)
    }

    /// Returns the next delay: between half and all of the current step.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        let half = step / 2;
        let jitter_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
        half + Duration::from_millis(rand::rng().random_range(0..=jitter_ms))
    }

    /// Sleeps for the next delay, cut short at `deadline`. Returns false, without sleeping,
    /// when the deadline has already passed.
    pub(crate) async fn wait(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let delay = self.next_delay().min(deadline - now);
        tokio::time::sleep(delay).await;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_and_stay_in_the_upper_half() {
        let mut backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(400));
        let steps = [100, 200, 400, 400, 400];
        for step in steps {
            let delay = backoff.next_delay();
            let step = Duration::from_millis(step);
            assert!(delay >= step / 2 && delay <= step, "{delay:?} for {step:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_stops_at_the_deadline() {
        let mut backoff = Backoff::new(Duration::from_secs(10), Duration::from_secs(10));
        let deadline = Instant::now() + Duration::from_secs(1);
        assert!(backoff.wait(deadline).await);
        assert_eq!(Instant::now(), deadline);
        assert!(!backoff.wait(deadline).await);
    }
}
