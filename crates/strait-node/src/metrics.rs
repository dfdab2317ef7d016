//! The node's Prometheus metrics: what is recorded on the request path, and what is
//! sampled when `/metrics` is scraped.
//!
//! ```text
//!  recorded (atomics, keyed by group id)      sampled at scrape time
//!  ├─ per shard: puts, records, bytes,        ├─ per Raft group: role, term, last log,
//!  │  failed records, gets, records and       │  commit and apply index, replication lag
//!  │  bytes read, iterator age                │  per follower (leaders only)
//!  ├─ per shard group: commit latency         └─ per node: groups hosted, leaders, size of
//!  └─ per API and operation and error type:      the database on disk, ready, draining
//!     request latency (its count is the
//!     request count)
//! ```
//!
//! Shard counters are kept by shard group id, which is unique in the cluster for the
//! shard's lifetime; the stream and shard labels are looked up in the metadata at scrape
//! time, and counters of groups the metadata says are gone are dropped then. Counters
//! count what this node served: a request forwarded to another node's leader is counted
//! where it arrived, so summing over nodes gives the cluster's totals.
//!
//! Every metric name starts with `strait_`.

mod exposition;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use openraft::{RaftMetrics, RaftTypeConfig, ServerState};
use strait_control::ControlView;

pub use exposition::{Exposition, Histogram, Kind, LATENCY_BUCKETS};

/// The metrics a node records as it serves.
#[derive(Debug, Default)]
pub struct NodeMetrics {
    shards: RwLock<BTreeMap<u64, Arc<ShardCounters>>>,
    commits: RwLock<BTreeMap<u64, Arc<Histogram>>>,
    requests: RwLock<BTreeMap<RequestKey, Arc<Histogram>>>,
}

/// What one node served of one shard.
#[derive(Debug, Default)]
struct ShardCounters {
    put_batches: AtomicU64,
    put_records: AtomicU64,
    put_bytes: AtomicU64,
    put_failed_records: AtomicU64,
    get_calls: AtomicU64,
    get_records: AtomicU64,
    get_bytes: AtomicU64,
    /// The `MillisBehindLatest` of the last GetRecords answered here.
    iterator_age_ms: AtomicU64,
}

/// One API's requests of one operation that ended one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    api: &'static str,
    operation: &'static str,
    /// The Kinesis error type, or [`NO_ERROR`].
    error: &'static str,
}

/// The error label of requests that succeeded.
const NO_ERROR: &str = "none";

/// The Kinesis HTTP API's label in the request metrics.
pub const KINESIS_API: &str = "kinesis";

/// The shared entry for `key`, created on first use. The read lock is the common path;
/// a new key (a new shard, operation or error type) takes the write lock once.
fn entry<K: Ord + Copy, V: Default>(map: &RwLock<BTreeMap<K, Arc<V>>>, key: K) -> Arc<V> {
    if let Some(value) = map.read().expect("metrics lock").get(&key) {
        return value.clone();
    }
    map.write().expect("metrics lock").entry(key).or_default().clone()
}

fn add(counter: &AtomicU64, n: usize) {
    counter.fetch_add(n as u64, Ordering::Relaxed);
}

impl NodeMetrics {
    /// Records a batch of `records` (`bytes` of data) committed to shard group `group`.
    pub fn record_put(&self, group: u64, records: usize, bytes: usize) {
        let shard = entry(&self.shards, group);
        add(&shard.put_batches, 1);
        add(&shard.put_records, records);
        add(&shard.put_bytes, bytes);
    }

    /// Records a batch of `records` that shard group `group` did not store.
    pub fn record_put_failure(&self, group: u64, records: usize) {
        let shard = entry(&self.shards, group);
        add(&shard.put_batches, 1);
        add(&shard.put_failed_records, records);
    }

    /// Records a GetRecords answered from shard group `group`.
    pub fn record_get(&self, group: u64, records: usize, bytes: usize, millis_behind_latest: u64) {
        let shard = entry(&self.shards, group);
        add(&shard.get_calls, 1);
        add(&shard.get_records, records);
        add(&shard.get_bytes, bytes);
        shard
            .iterator_age_ms
            .store(millis_behind_latest, Ordering::Relaxed);
    }

    /// Records how long shard group `group`, led here, took to commit and apply a batch.
    pub fn observe_commit(&self, group: u64, elapsed: Duration) {
        entry(&self.commits, group).observe(elapsed);
    }

    /// Records one API request, `error` being its Kinesis error type if it failed.
    pub fn observe_request(
        &self,
        api: &'static str,
        operation: &'static str,
        error: Option<&'static str>,
        elapsed: Duration,
    ) {
        let key = RequestKey {
            api,
            operation,
            error: error.unwrap_or(NO_ERROR),
        };
        entry(&self.requests, key).observe(elapsed);
    }

    /// Renders every metric, sampling the Raft groups in `scrape`.
    pub fn render(&self, scrape: &Scrape<'_>) -> String {
        self.forget_removed_groups(scrape.view);
        let mut out = Exposition::default();
        render_node(&mut out, scrape);
        render_groups(&mut out, scrape);
        self.render_commits(&mut out, scrape.view);
        self.render_shards(&mut out, scrape.view);
        self.render_requests(&mut out);
        out.finish()
    }

    /// Drops the counters of shard groups the metadata says were deleted.
    fn forget_removed_groups(&self, view: &ControlView) {
        let gone = |group: &u64| *group < view.state.next_group && !view.state.groups.contains_key(group);
        self.shards.write().expect("metrics lock").retain(|g, _| !gone(g));
        self.commits
            .write()
            .expect("metrics lock")
            .retain(|g, _| !gone(g));
    }

    fn render_commits(&self, out: &mut Exposition, view: &ControlView) {
        const NAME: &str = "strait_raft_commit_latency_seconds";
        out.family(
            NAME,
            Kind::Histogram,
            "Time from proposing a batch of records to its commit and apply, on the shard group's leader.",
        );
        for (group, histogram) in self.commits.read().expect("metrics lock").iter() {
            let Some(labels) = ShardLabels::of(view, *group) else {
                continue;
            };
            out.histogram(NAME, &labels.as_labels(), histogram);
        }
    }

    fn render_shards(&self, out: &mut Exposition, view: &ControlView) {
        let shards: Vec<(ShardLabels, Arc<ShardCounters>)> = self
            .shards
            .read()
            .expect("metrics lock")
            .iter()
            .filter_map(|(group, counters)| Some((ShardLabels::of(view, *group)?, counters.clone())))
            .collect();
        for family in SHARD_FAMILIES {
            out.family(family.name, family.kind, family.help);
            for (labels, counters) in &shards {
                out.sample(
                    family.name,
                    &labels.as_labels(),
                    (family.value)(counters).load(Ordering::Relaxed) as f64,
                );
            }
        }
    }

    fn render_requests(&self, out: &mut Exposition) {
        const NAME: &str = "strait_api_request_duration_seconds";
        out.family(
            NAME,
            Kind::Histogram,
            "API requests by API, operation and error type (none when it succeeded), and how long they took to answer.",
        );
        for (key, histogram) in self.requests.read().expect("metrics lock").iter() {
            out.histogram(
                NAME,
                &[
                    ("api", key.api),
                    ("operation", key.operation),
                    ("error", key.error),
                ],
                histogram,
            );
        }
    }
}

/// One metric family rendered from a field of every shard's or group's record.
struct Family<T> {
    name: &'static str,
    kind: Kind,
    help: &'static str,
    value: T,
}

/// Reads one counter of a shard.
type ShardField = fn(&ShardCounters) -> &AtomicU64;
/// Reads one value of a group's sample.
type GroupField = fn(&GroupSample) -> u64;

const SHARD_FAMILIES: [Family<ShardField>; 8] = [
    Family {
        name: "strait_shard_put_requests_total",
        kind: Kind::Counter,
        help: "Batches of records this node sent to the shard (one per shard a put touched).",
        value: |c| &c.put_batches,
    },
    Family {
        name: "strait_shard_put_records_total",
        kind: Kind::Counter,
        help: "Records this node stored in the shard.",
        value: |c| &c.put_records,
    },
    Family {
        name: "strait_shard_put_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of record data this node stored in the shard.",
        value: |c| &c.put_bytes,
    },
    Family {
        name: "strait_shard_put_failed_records_total",
        kind: Kind::Counter,
        help: "Records this node could not store in the shard.",
        value: |c| &c.put_failed_records,
    },
    Family {
        name: "strait_shard_get_requests_total",
        kind: Kind::Counter,
        help: "GetRecords calls this node answered from the shard.",
        value: |c| &c.get_calls,
    },
    Family {
        name: "strait_shard_get_records_total",
        kind: Kind::Counter,
        help: "Records this node returned from the shard.",
        value: |c| &c.get_records,
    },
    Family {
        name: "strait_shard_get_bytes_total",
        kind: Kind::Counter,
        help: "Bytes of record data this node returned from the shard.",
        value: |c| &c.get_bytes,
    },
    Family {
        name: "strait_shard_iterator_age_milliseconds",
        kind: Kind::Gauge,
        help: "MillisBehindLatest of the last GetRecords this node answered from the shard.",
        value: |c| &c.iterator_age_ms,
    },
];

const GROUP_GAUGES: [Family<GroupField>; 4] = [
    Family {
        name: "strait_raft_term",
        kind: Kind::Gauge,
        help: "The group's current term.",
        value: |g| g.term,
    },
    Family {
        name: "strait_raft_last_log_index",
        kind: Kind::Gauge,
        help: "Index of the last entry in this replica's log.",
        value: |g| g.last_log_index,
    },
    Family {
        name: "strait_raft_commit_index",
        kind: Kind::Gauge,
        help: "Index of the last entry this replica knows committed.",
        value: |g| g.committed_index,
    },
    Family {
        name: "strait_raft_applied_index",
        kind: Kind::Gauge,
        help: "Index of the last entry this replica applied.",
        value: |g| g.applied_index,
    },
];

/// What a scrape samples besides the recorded metrics.
pub struct Scrape<'a> {
    pub node_id: u64,
    /// This node's replica of the metadata.
    pub view: &'a ControlView,
    /// The control group and every shard group hosted here.
    pub groups: Vec<GroupSample>,
    /// The size of the database on disk, where there is a disk.
    pub disk_bytes: Option<u64>,
    /// Storage flushes (one fsync each) since the node started, and the durability
    /// requests they answered: their ratio is how much group commit shares each fsync.
    pub flushes: u64,
    pub flush_requests: u64,
    /// Shard replicas here whose Raft timers are stopped because their group is idle.
    pub quiet_groups: usize,
    pub ready: bool,
    pub draining: bool,
}

/// One Raft group's state, as its metrics watch reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSample {
    pub group: u64,
    pub state: ServerState,
    pub term: u64,
    pub last_log_index: u64,
    pub committed_index: u64,
    pub applied_index: u64,
    /// Entries each follower's log is behind this leader's; empty on a follower.
    pub lag: BTreeMap<u64, u64>,
}

impl GroupSample {
    pub fn of<C>(group: u64, metrics: &RaftMetrics<C>) -> Self
    where
        C: RaftTypeConfig<NodeId = u64, Term = u64>,
    {
        let last_log_index = metrics.last_log_index.unwrap_or(0);
        let lag = metrics
            .replication
            .iter()
            .flatten()
            .filter(|(peer, _)| **peer != metrics.id)
            .map(|(peer, matched)| {
                let matched = matched.as_ref().map(|l| l.index()).unwrap_or(0);
                (*peer, last_log_index.saturating_sub(matched))
            })
            .collect();
        Self {
            group,
            state: metrics.state,
            term: metrics.current_term,
            last_log_index,
            committed_index: metrics.cluster_committed.as_ref().map(|l| l.index()).unwrap_or(0),
            applied_index: metrics.last_applied.as_ref().map(|l| l.index()).unwrap_or(0),
            lag,
        }
    }

    fn role(&self) -> &'static str {
        match self.state {
            ServerState::Leader => "leader",
            ServerState::Follower => "follower",
            ServerState::Candidate => "candidate",
            ServerState::Learner => "learner",
            ServerState::Shutdown => "shutdown",
        }
    }
}

/// The labels naming a group: its id, and its stream and shard for a shard group.
struct ShardLabels {
    group: String,
    stream: Option<(String, String, String, String)>,
}

impl ShardLabels {
    /// The labels of `group`, or `None` for a shard group the metadata does not know (yet).
    fn of(view: &ControlView, group: u64) -> Option<Self> {
        if group == strait_raft::GroupId::CONTROL.0 {
            return Some(Self {
                group: group.to_string(),
                stream: None,
            });
        }
        let meta = view.state.groups.get(&group)?;
        Some(Self {
            group: group.to_string(),
            stream: Some((
                meta.stream.namespace.account.to_string(),
                meta.stream.namespace.region.to_string(),
                meta.stream.name.to_string(),
                meta.shard.to_string(),
            )),
        })
    }

    fn as_labels(&self) -> Vec<(&str, &str)> {
        let mut labels = vec![("group", self.group.as_str())];
        if let Some((account, region, stream, shard)) = &self.stream {
            labels.extend([
                ("account", account.as_str()),
                ("region", region.as_str()),
                ("stream", stream.as_str()),
                ("shard", shard.as_str()),
            ]);
        }
        labels
    }
}

fn render_node(out: &mut Exposition, scrape: &Scrape<'_>) {
    let node = scrape.node_id.to_string();
    out.family("strait_node_info", Kind::Gauge, "This node's id, as a label.");
    out.sample("strait_node_info", &[("node_id", &node)], 1.0);
    let shard_groups = scrape.groups.iter().filter(|g| g.group != 0);
    out.family(
        "strait_node_shard_groups",
        Kind::Gauge,
        "Shard groups with a replica on this node.",
    );
    out.sample(
        "strait_node_shard_groups",
        &[],
        shard_groups.clone().count() as f64,
    );
    out.family(
        "strait_node_shard_leaders",
        Kind::Gauge,
        "Shard groups this node leads.",
    );
    out.sample(
        "strait_node_shard_leaders",
        &[],
        shard_groups.filter(|g| g.state == ServerState::Leader).count() as f64,
    );
    out.family(
        "strait_node_quiet_shard_groups",
        Kind::Gauge,
        "Shard replicas on this node whose Raft timers are stopped because the group is idle.",
    );
    out.sample("strait_node_quiet_shard_groups", &[], scrape.quiet_groups as f64);
    if let Some(bytes) = scrape.disk_bytes {
        out.family(
            "strait_node_disk_bytes",
            Kind::Gauge,
            "Size of this node's database on disk.",
        );
        out.sample("strait_node_disk_bytes", &[], bytes as f64);
    }
    out.family(
        "strait_node_flushes_total",
        Kind::Counter,
        "Storage flushes to disk; each answers every durability request queued while the previous one ran.",
    );
    out.sample("strait_node_flushes_total", &[], scrape.flushes as f64);
    out.family(
        "strait_node_flush_requests_total",
        Kind::Counter,
        "Durability requests (Raft appends, votes, checkpoints) answered by storage flushes.",
    );
    out.sample(
        "strait_node_flush_requests_total",
        &[],
        scrape.flush_requests as f64,
    );
    out.family(
        "strait_node_ready",
        Kind::Gauge,
        "1 while this node reports ready (/readyz answers 200).",
    );
    out.sample("strait_node_ready", &[], f64::from(u8::from(scrape.ready)));
    out.family(
        "strait_node_draining",
        Kind::Gauge,
        "1 once this node is shutting down.",
    );
    out.sample("strait_node_draining", &[], f64::from(u8::from(scrape.draining)));
}

fn render_groups(out: &mut Exposition, scrape: &Scrape<'_>) {
    let groups: Vec<(ShardLabels, &GroupSample)> = scrape
        .groups
        .iter()
        .filter_map(|g| Some((ShardLabels::of(scrape.view, g.group)?, g)))
        .collect();
    out.family(
        "strait_raft_role",
        Kind::Gauge,
        "1 for this replica's current role in the group (leader, follower, candidate, learner).",
    );
    for (labels, group) in &groups {
        let mut labels = labels.as_labels();
        labels.push(("role", group.role()));
        out.sample("strait_raft_role", &labels, 1.0);
    }
    for family in GROUP_GAUGES {
        out.family(family.name, family.kind, family.help);
        for (labels, group) in &groups {
            out.sample(family.name, &labels.as_labels(), (family.value)(group) as f64);
        }
    }
    out.family(
        "strait_raft_replication_lag_entries",
        Kind::Gauge,
        "Entries a follower's log is behind the leader's; reported by leaders, one series per follower.",
    );
    for (labels, group) in &groups {
        for (peer, lag) in &group.lag {
            let peer = peer.to_string();
            let mut labels = labels.as_labels();
            labels.push(("peer", &peer));
            out.sample("strait_raft_replication_lag_entries", &labels, *lag as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(group: u64, state: ServerState, lag: &[(u64, u64)]) -> GroupSample {
        GroupSample {
            group,
            state,
            term: 3,
            last_log_index: 40,
            committed_index: 39,
            applied_index: 38,
            lag: lag.iter().copied().collect(),
        }
    }

    #[test]
    fn recorded_and_sampled_metrics_render_with_their_labels() {
        let metrics = NodeMetrics::default();
        metrics.record_put(5, 10, 1000);
        metrics.record_put(5, 2, 20);
        metrics.record_put_failure(5, 3);
        metrics.record_get(5, 4, 40, 1500);
        metrics.observe_commit(5, Duration::from_millis(2));
        metrics.observe_request(KINESIS_API, "PutRecords", None, Duration::from_millis(3));
        metrics.observe_request(
            KINESIS_API,
            "GetRecords",
            Some("ExpiredIteratorException"),
            Duration::from_millis(1),
        );
        // A group the metadata has never heard of is not rendered (no labels for it) but
        // kept: this node's metadata may be behind.
        metrics.record_put(1_000_000, 1, 1);

        let view = ControlView::default();
        let text = metrics.render(&Scrape {
            node_id: 2,
            view: &view,
            groups: vec![
                sample(0, ServerState::Leader, &[(1, 0), (3, 7)]),
                sample(5, ServerState::Follower, &[]),
            ],
            disk_bytes: Some(4096),
            flushes: 12,
            flush_requests: 30,
            quiet_groups: 1,
            ready: true,
            draining: false,
        });
        assert!(text.contains("strait_node_info{node_id=\"2\"} 1\n"), "{text}");
        assert!(text.contains("strait_node_shard_groups 1\n"), "{text}");
        assert!(text.contains("strait_node_shard_leaders 0\n"), "{text}");
        assert!(text.contains("strait_node_disk_bytes 4096\n"), "{text}");
        assert!(text.contains("strait_node_quiet_shard_groups 1\n"), "{text}");
        assert!(text.contains("strait_node_flushes_total 12\n"), "{text}");
        assert!(text.contains("strait_node_flush_requests_total 30\n"), "{text}");
        assert!(text.contains("strait_node_ready 1\n"), "{text}");
        assert!(
            text.contains("strait_raft_role{group=\"0\",role=\"leader\"} 1\n"),
            "{text}"
        );
        assert!(text.contains("strait_raft_term{group=\"0\"} 3\n"), "{text}");
        assert!(
            text.contains("strait_raft_commit_index{group=\"0\"} 39\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_raft_applied_index{group=\"0\"} 38\n"),
            "{text}"
        );
        assert!(
            text.contains("strait_raft_replication_lag_entries{group=\"0\",peer=\"3\"} 7\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "strait_api_request_duration_seconds_count{api=\"kinesis\",operation=\"PutRecords\",error=\"none\"} 1\n"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "strait_api_request_duration_seconds_count{api=\"kinesis\",operation=\"GetRecords\",error=\"ExpiredIteratorException\"} 1\n"
            ),
            "{text}"
        );
        // Group 5 is not in this (empty) metadata: sampled but unlabelled groups are left out.
        assert!(!text.contains("group=\"5\""), "{text}");
        assert!(!text.contains("group=\"1000000\""), "{text}");
        assert_eq!(metrics.shards.read().expect("lock").len(), 2);
        // Every family is announced once, before its samples.
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
    }
}
