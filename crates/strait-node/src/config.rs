//! A node's configuration: one typed struct, validated once at start-up.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use strait_core::AccountId;
use strait_raft::config::RaftTuning;

/// How long a member may go unanswered before the control leader declares it down, when
/// `--down-after` does not say.
pub const DEFAULT_DOWN_AFTER: std::time::Duration = std::time::Duration::from_secs(30);

/// Everything a node needs to run. The CLI builds it from flags, `STRAIT_*` environment
/// variables and an optional config file.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// This node's id, unique in the cluster.
    pub node_id: u64,
    /// Where the gRPC server binds.
    pub listen: SocketAddr,
    /// Where the Kinesis-compatible HTTP API binds, if it is served. The CLI's default is
    /// 127.0.0.1:4567; [`NodeConfig::single`] leaves it off so that several nodes (tests,
    /// the simulation) can run in one process without competing for the port.
    pub kinesis_listen: Option<SocketAddr>,
    /// What peers and clients dial to reach this node (`host:port`).
    pub advertise: String,
    /// Where the node keeps its database.
    pub data_dir: PathBuf,
    /// The initial members, `node id -> address`, identical on every initial member.
    /// A single-node cluster lists only itself.
    pub initial_cluster: BTreeMap<u64, String>,
    /// The account streams belong to when a request names none.
    pub default_account: AccountId,
    /// Replicas per shard (fewer when the cluster is smaller).
    pub replication_factor: usize,
    /// Raft timing and log retention.
    pub raft: RaftTuning,
    /// Writes are refused with a retryable error once free disk space falls below this.
    pub min_free_disk_bytes: u64,
    /// sled's page cache.
    pub cache_bytes: u64,
    /// How often the node trims records past retention from the shards it leads.
    pub trim_interval: std::time::Duration,
    /// How long a shutdown may take from the signal to the exit: leadership hand-off and
    /// draining the servers share it; what is left undone then is abandoned (the final
    /// flush still runs).
    pub shutdown_timeout: std::time::Duration,
    /// A member that has not answered the control leader for this long is down: its
    /// replicas are replaced on other nodes.
    pub down_after: std::time::Duration,
    /// Members to ask for admission, in turn, when this node is not an initial member
    /// (`--join`). Its initial cluster is then empty; the metadata tells it the members.
    pub join: Option<Vec<String>>,
    /// A PEM certificate chain and private key: with them the Kinesis API is served over
    /// HTTPS (ALPN `h2`, `http/1.1`), without them over cleartext HTTP.
    pub kinesis_tls: Option<(PathBuf, PathBuf)>,
    /// Whether Kinesis's per-shard throughput limits are enforced (off by default, so
    /// tests and benchmarks are not throttled).
    pub shard_throughput_limits: bool,
}

impl NodeConfig {
    /// A single-node configuration for `node_id` at `listen`, data in `data_dir`.
    pub fn single(node_id: u64, listen: SocketAddr, data_dir: PathBuf) -> Self {
        Self {
            node_id,
            listen,
            kinesis_listen: None,
            advertise: listen.to_string(),
            data_dir,
            initial_cluster: BTreeMap::from([(node_id, listen.to_string())]),
            default_account: AccountId::default_account(),
            replication_factor: 3,
            raft: RaftTuning::default(),
            min_free_disk_bytes: 256 << 20,
            cache_bytes: 64 << 20,
            trim_interval: std::time::Duration::from_secs(10),
            shutdown_timeout: std::time::Duration::from_secs(20),
            down_after: DEFAULT_DOWN_AFTER,
            join: None,
            kinesis_tls: None,
            shard_throughput_limits: false,
        }
    }

    /// Checks the combination of settings.
    pub fn validate(&self) -> Result<(), String> {
        if self.node_id == 0 {
            return Err("--node-id must be at least 1".into());
        }
        if self.replication_factor == 0 {
            return Err("--replication-factor must be at least 1".into());
        }
        if self.join.is_some() {
            if self.initial_cluster.contains_key(&self.node_id) {
                return Err(format!(
                    "node {} is an initial member; --join is for nodes added later",
                    self.node_id
                ));
            }
            return Ok(());
        }
        match self.initial_cluster.get(&self.node_id) {
            Some(address) if address == &self.advertise => Ok(()),
            Some(address) => Err(format!(
                "--initial-cluster names node {} at {address}, but this node advertises {}",
                self.node_id, self.advertise
            )),
            None => Err(format!(
                "--initial-cluster does not name this node ({})",
                self.node_id
            )),
        }
    }
}
