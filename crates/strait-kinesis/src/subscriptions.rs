//! The SubscribeToShard rules that span calls: a consumer may subscribe to a shard at most
//! once every five seconds, and a new subscription takes over from the one before.
//!
//! Kinesis answers a second SubscribeToShard for the same consumer and shard within five
//! seconds of a successful one with ResourceInUseException; after that the new
//! subscription succeeds and the older one, if still open, ends with a
//! ResourceInUseException event. [`Subscriptions`] keeps, per (consumer ARN, shard), when
//! the last subscription started and a handle that ends it. Times come from the node's
//! clock ([`StreamOperations::now_ms`](strait_core::StreamOperations::now_ms)), so the rule
//! is deterministic under simulated time.
//!
//! The registry is per node: subscriptions are served by the node the client connected to,
//! and a client subscribing to the same shard through two nodes is not detected.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// How long after a successful subscription the same consumer may not subscribe to the
/// same shard again, in milliseconds.
pub const RESUBSCRIBE_INTERVAL_MS: u64 = 5_000;

/// One consumer's subscription to one shard.
type Key = (String, u32);

struct Entry {
    started_at_ms: u64,
    /// Distinguishes this subscription from later ones on the same key.
    generation: u64,
    /// Set to true to end the subscription because a newer one took over.
    superseded: watch::Sender<bool>,
}

/// The subscriptions this node serves, by consumer ARN and shard.
#[derive(Default)]
pub struct Subscriptions {
    entries: Mutex<BTreeMap<Key, Entry>>,
    generations: std::sync::atomic::AtomicU64,
}

/// Why a subscription could not start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooSoon;

impl Subscriptions {
    /// Starts a subscription of `consumer_arn` to `shard` at `now_ms`, ending the previous
    /// one if it is still open; refused within [`RESUBSCRIBE_INTERVAL_MS`] of the previous
    /// start.
    pub fn start(
        self: &Arc<Self>,
        consumer_arn: &str,
        shard: u32,
        now_ms: u64,
    ) -> Result<Subscription, TooSoon> {
        let key = (consumer_arn.to_owned(), shard);
        let mut entries = self.entries.lock().expect("subscriptions lock");
        // Ended subscriptions matter only for five seconds; forget older ones so the map
        // stays as small as the set of recent subscriptions.
        entries.retain(|_, entry| {
            !entry.superseded.is_closed() || entry.started_at_ms + RESUBSCRIBE_INTERVAL_MS > now_ms
        });
        if let Some(previous) = entries.get(&key)
            && now_ms < previous.started_at_ms + RESUBSCRIBE_INTERVAL_MS
        {
            return Err(TooSoon);
        }
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (sender, receiver) = watch::channel(false);
        if let Some(previous) = entries.insert(
            key.clone(),
            Entry {
                started_at_ms: now_ms,
                generation,
                superseded: sender,
            },
        ) {
            let _ = previous.superseded.send(true);
        }
        Ok(Subscription {
            registry: Arc::clone(self),
            key,
            generation,
            superseded: receiver,
        })
    }
}

/// A started subscription, owned by the task streaming it: it ends when
/// [`Subscription::superseded`] turns true, and leaves the registry when dropped (its start
/// time still counts for the five-second rule).
pub struct Subscription {
    registry: Arc<Subscriptions>,
    key: Key,
    generation: u64,
    /// Turns true when a newer subscription for the same consumer and shard took over.
    pub superseded: watch::Receiver<bool>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        release(&self.registry, &self.key, self.generation);
    }
}

/// Marks a subscription as ended: its entry stays for the five-second rule but no longer
/// holds the receiver open, so a newer one need not end it.
fn release(registry: &Subscriptions, key: &Key, generation: u64) {
    let mut entries = registry.entries.lock().expect("subscriptions lock");
    if let Some(entry) = entries.get_mut(key)
        && entry.generation == generation
    {
        // Replacing the sender closes the channel the ended subscription listened on.
        entry.superseded = watch::channel(true).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/app:1";

    #[test]
    fn a_second_subscription_within_five_seconds_is_refused() {
        let registry = Arc::new(Subscriptions::default());
        let first = registry.start(ARN, 0, 1_000).expect("first");
        assert!(registry.start(ARN, 0, 5_999).is_err());
        assert!(
            registry.start(ARN, 1, 1_000).is_ok(),
            "another shard is another key"
        );
        drop(first);
        assert!(
            registry.start(ARN, 0, 5_999).is_err(),
            "the rule outlives the stream"
        );
        assert!(registry.start(ARN, 0, 6_000).is_ok());
    }

    #[test]
    fn a_later_subscription_takes_over() {
        let registry = Arc::new(Subscriptions::default());
        let first = registry.start(ARN, 0, 0).expect("first");
        assert!(!*first.superseded.borrow());
        let second = registry
            .start(ARN, 0, RESUBSCRIBE_INTERVAL_MS)
            .expect("after five seconds");
        assert!(
            *first.superseded.borrow(),
            "the older subscription is told to end"
        );
        drop(first);
        assert!(
            !*second.superseded.borrow(),
            "ending the older one leaves the newer alone"
        );
    }

    #[test]
    fn ended_subscriptions_are_forgotten_after_five_seconds() {
        let registry = Arc::new(Subscriptions::default());
        for shard in 0..100 {
            drop(registry.start(ARN, shard, 0).expect("new"));
        }
        let _live = registry.start(ARN, 1_000, 10_000).expect("new");
        assert_eq!(registry.entries.lock().expect("lock").len(), 1);
    }
}
