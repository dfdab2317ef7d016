//! The `strait serve` config file, and how it layers with flags and defaults.
//!
//! The file is TOML with the same keys as the long flags, in snake_case or kebab-case
//! (`node_id = 2` or `node-id = 2`). Unknown keys are errors, so that a misspelled setting
//! does not silently fall back to its default.
//!
//! Layering is done in one place, [`resolve`]: a value set by a flag or a `STRAIT_*`
//! variable (clap merges those two, the flag winning) beats the file, which beats the
//! default.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use serde::Deserialize;
use strait_core::AccountId;
use strait_node::NodeConfig;
use strait_raft::config::RaftTuning;

use crate::cli::{LogFormat, ServeArgs};
use crate::{identity, parse};

/// The default address the gRPC server binds to.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7001";
/// The default address of the Kinesis HTTP API.
pub const DEFAULT_KINESIS_LISTEN: &str = "127.0.0.1:4567";
/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = "./strait-data";
/// The default replication factor.
pub const DEFAULT_REPLICATION_FACTOR: usize = 3;

/// The settings a config file may hold. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeFile {
    pub node_id: Option<u64>,
    pub cluster_size: Option<u64>,
    pub peer_address_template: Option<String>,
    pub shutdown_timeout: Option<String>,
    pub listen: Option<String>,
    pub kinesis_listen: Option<String>,
    pub kinesis_tls_cert: Option<PathBuf>,
    pub kinesis_tls_key: Option<PathBuf>,
    pub shard_throughput_limits: Option<bool>,
    pub advertise: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub initial_cluster: Option<InitialClusterValue>,
    pub join: Option<String>,
    pub down_after: Option<String>,
    pub account_id: Option<String>,
    pub replication_factor: Option<usize>,
    pub raft_snapshot_every: Option<u64>,
    pub raft_keep_behind_snapshot: Option<u64>,
    pub raft_heartbeat_ms: Option<u64>,
    pub raft_election_min_ms: Option<u64>,
    pub raft_election_max_ms: Option<u64>,
    pub raft_quiet_after_ms: Option<u64>,
    pub min_free_disk_bytes: Option<u64>,
    pub cache_bytes: Option<u64>,
    pub log_level: Option<String>,
    pub log_format: Option<LogFormat>,
}

/// The initial cluster in a file: the flag's text, or a table of id to address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum InitialClusterValue {
    /// `initial_cluster = "1=a:7001,2=b:7001"`.
    Text(String),
    /// `[initial_cluster]` with `1 = "a:7001"` lines.
    Table(BTreeMap<String, String>),
}

impl ServeFile {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> anyhow::Result<ServeFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("config file {}", path.display()))
    }

    /// Parses the text of a config file. Kebab-case keys are read as snake_case.
    pub fn parse(text: &str) -> anyhow::Result<ServeFile> {
        let table: toml::Table = text.parse()?;
        let mut normalized = toml::Table::new();
        for (key, value) in table {
            let snake = key.replace('-', "_");
            if normalized.insert(snake.clone(), value).is_some() {
                bail!("the key {snake} is given twice (in snake_case and kebab-case)");
            }
        }
        Ok(ServeFile::deserialize(toml::Value::Table(normalized))?)
    }
}

/// The fully resolved settings of `strait serve`.
#[derive(Debug, Clone)]
pub struct ServeSettings {
    pub node_id: u64,
    pub shutdown_timeout: Option<std::time::Duration>,
    pub listen: String,
    /// The Kinesis API address, or `None` when it is `off`.
    pub kinesis_listen: Option<String>,
    /// The certificate chain and key the Kinesis API serves HTTPS with.
    pub kinesis_tls: Option<(PathBuf, PathBuf)>,
    /// Whether the per-shard throughput limits are enforced.
    pub shard_throughput_limits: bool,
    pub advertise: String,
    pub data_dir: PathBuf,
    pub initial_cluster: BTreeMap<u64, String>,
    pub join: Option<Vec<String>>,
    pub down_after: Option<std::time::Duration>,
    pub account_id: String,
    pub replication_factor: usize,
    pub raft: RaftTuning,
    pub min_free_disk_bytes: Option<u64>,
    pub cache_bytes: Option<u64>,
}

/// Layers flags and environment (`args`, `account_id`) over the file over the defaults.
pub fn resolve(
    args: &ServeArgs,
    account_id: Option<&str>,
    file: &ServeFile,
) -> anyhow::Result<ServeSettings> {
    let cluster_size = args.cluster_size.or(file.cluster_size);
    let template = args
        .peer_address_template
        .as_ref()
        .or(file.peer_address_template.as_ref());
    let stateful = match (cluster_size, template) {
        (Some(size), Some(template)) => Some(identity::stateful_identity(
            size,
            template,
            args.node_id.or(file.node_id),
            identity::hostname,
        )?),
        (None, None) => None,
        (Some(_), None) => bail!("--cluster-size needs --peer-address-template"),
        (None, Some(_)) => bail!("--peer-address-template needs --cluster-size"),
    };
    let node_id = args
        .node_id
        .or(file.node_id)
        .or(stateful.as_ref().map(|s| s.node_id))
        .unwrap_or(1);
    let shutdown_timeout = match (args.shutdown_timeout, &file.shutdown_timeout) {
        (Some(timeout), _) => Some(timeout),
        (None, Some(text)) => {
            Some(parse::duration(text).map_err(|error| anyhow!("shutdown_timeout: {error}"))?)
        }
        (None, None) => None,
    };
    let listen = match (&args.listen, &file.listen) {
        (Some(listen), _) => listen.clone(),
        (None, Some(listen)) => checked("listen", listen)?,
        (None, None) => DEFAULT_LISTEN.to_owned(),
    };
    let kinesis_listen = match (&args.kinesis_listen, &file.kinesis_listen) {
        (Some(address), _) => address.clone(),
        (None, Some(address)) => {
            parse::host_port_or_off(address).map_err(|error| anyhow!("kinesis_listen: {error}"))?
        }
        (None, None) => DEFAULT_KINESIS_LISTEN.to_owned(),
    };
    let kinesis_listen = (kinesis_listen != "off").then_some(kinesis_listen);
    let advertise = match (&args.advertise, &file.advertise) {
        (Some(advertise), _) => advertise.clone(),
        (None, Some(advertise)) => checked("advertise", advertise)?,
        (None, None) => match &stateful {
            Some(stateful) => stateful.advertise.clone(),
            None => listen.clone(),
        },
    };
    let initial_cluster = match (&args.initial_cluster, &file.initial_cluster) {
        (Some(cluster), _) => cluster.0.clone(),
        (None, Some(InitialClusterValue::Text(text))) => {
            parse::initial_cluster(text)
                .map_err(|error| anyhow!("initial_cluster: {error}"))?
                .0
        }
        (None, Some(InitialClusterValue::Table(table))) => {
            let text = table
                .iter()
                .map(|(id, address)| format!("{id}={address}"))
                .collect::<Vec<_>>()
                .join(",");
            parse::initial_cluster(&text)
                .map_err(|error| anyhow!("initial_cluster: {error}"))?
                .0
        }
        // A joining node learns the members from the cluster.
        (None, None) if args.join.is_some() || file.join.is_some() => BTreeMap::new(),
        (None, None) => match &stateful {
            Some(stateful) => stateful.initial_cluster.clone(),
            None => BTreeMap::from([(node_id, advertise.clone())]),
        },
    };
    let down_after = match (args.down_after, &file.down_after) {
        (Some(duration), _) => Some(duration),
        (None, Some(text)) => Some(parse::duration(text).map_err(|error| anyhow!("down_after: {error}"))?),
        (None, None) => None,
    };
    let join = match (&args.join, &file.join) {
        (Some(join), _) => Some(join.clone()),
        (None, Some(join)) => Some(
            join.split(',')
                .map(|seed| checked("join", seed.trim()))
                .collect::<anyhow::Result<Vec<String>>>()?,
        ),
        (None, None) => stateful.as_ref().and_then(|s| s.join.clone()),
    };
    let kinesis_tls = match (
        args.kinesis_tls_cert.as_ref().or(file.kinesis_tls_cert.as_ref()),
        args.kinesis_tls_key.as_ref().or(file.kinesis_tls_key.as_ref()),
    ) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        _ => bail!("--kinesis-tls-cert and --kinesis-tls-key go together"),
    };
    let shard_throughput_limits =
        args.shard_throughput_limits || file.shard_throughput_limits.unwrap_or(false);
    let defaults = RaftTuning::default();
    let raft = RaftTuning {
        heartbeat_ms: args
            .raft_heartbeat_ms
            .or(file.raft_heartbeat_ms)
            .unwrap_or(defaults.heartbeat_ms),
        election_min_ms: args
            .raft_election_min_ms
            .or(file.raft_election_min_ms)
            .unwrap_or(defaults.election_min_ms),
        election_max_ms: args
            .raft_election_max_ms
            .or(file.raft_election_max_ms)
            .unwrap_or(defaults.election_max_ms),
        snapshot_every_entries: args
            .raft_snapshot_every
            .or(file.raft_snapshot_every)
            .unwrap_or(defaults.snapshot_every_entries),
        keep_entries_behind_snapshot: args
            .raft_keep_behind_snapshot
            .or(file.raft_keep_behind_snapshot)
            .unwrap_or(defaults.keep_entries_behind_snapshot),
        quiet_after_ms: match args.raft_quiet_after_ms.or(file.raft_quiet_after_ms) {
            Some(0) => None,
            Some(ms) => Some(ms),
            None => defaults.quiet_after_ms,
        },
    };
    if !(raft.heartbeat_ms < raft.election_min_ms && raft.election_min_ms < raft.election_max_ms) {
        bail!(
            "Raft timing must satisfy heartbeat < election min < election max, got {} < {} < {} ms",
            raft.heartbeat_ms,
            raft.election_min_ms,
            raft.election_max_ms
        );
    }
    Ok(ServeSettings {
        node_id,
        shutdown_timeout,
        listen,
        kinesis_listen,
        kinesis_tls,
        shard_throughput_limits,
        advertise,
        data_dir: args
            .data_dir
            .clone()
            .or_else(|| file.data_dir.clone())
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
        initial_cluster,
        join,
        down_after,
        account_id: account_id
            .map(str::to_owned)
            .or_else(|| file.account_id.clone())
            .unwrap_or_else(|| AccountId::DEFAULT.to_owned()),
        replication_factor: args
            .replication_factor
            .or(file.replication_factor)
            .unwrap_or(DEFAULT_REPLICATION_FACTOR),
        raft,
        min_free_disk_bytes: args.min_free_disk_bytes.or(file.min_free_disk_bytes),
        cache_bytes: args.cache_bytes.or(file.cache_bytes),
    })
}

/// Checks a `host:port` value read from the file.
fn checked(key: &str, value: &str) -> anyhow::Result<String> {
    parse::host_port(value).map_err(|error| anyhow!("{key}: {error}"))
}

impl ServeSettings {
    /// Builds and validates the node's configuration.
    pub fn node_config(&self) -> anyhow::Result<NodeConfig> {
        let listen = resolve_address(&self.listen)?;
        let account = AccountId::new(self.account_id.clone())
            .map_err(|error| anyhow!("--account-id: {}", error.message()))?;
        let mut config = NodeConfig::single(self.node_id, listen, self.data_dir.clone());
        config.advertise = self.advertise.clone();
        config.kinesis_listen = self.kinesis_listen.as_deref().map(resolve_address).transpose()?;
        config.kinesis_tls = self.kinesis_tls.clone();
        config.shard_throughput_limits = self.shard_throughput_limits;
        config.initial_cluster = self.initial_cluster.clone();
        if let Some(timeout) = self.shutdown_timeout {
            config.shutdown_timeout = timeout;
        }
        config.join = self.join.clone();
        if let Some(down_after) = self.down_after {
            config.down_after = down_after;
        }
        config.default_account = account;
        config.replication_factor = self.replication_factor;
        config.raft = self.raft.clone();
        if let Some(bytes) = self.min_free_disk_bytes {
            config.min_free_disk_bytes = bytes;
        }
        if let Some(bytes) = self.cache_bytes {
            config.cache_bytes = bytes;
        }
        config.validate().map_err(|error| anyhow!(error))?;
        Ok(config)
    }
}

/// Resolves `host:port` to the first socket address it names.
fn resolve_address(address: &str) -> anyhow::Result<SocketAddr> {
    address
        .to_socket_addrs()
        .with_context(|| format!("--listen {address} cannot be resolved"))?
        .next()
        .ok_or_else(|| anyhow!("--listen {address} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn serve_args(flags: &[&str]) -> ServeArgs {
        let argv = ["strait", "serve"].iter().chain(flags).copied();
        match Cli::try_parse_from(argv).expect("valid flags").command {
            Command::Serve(args) => *args,
            _ => panic!("parsed as serve"),
        }
    }

    #[test]
    fn defaults_make_a_single_node_cluster() {
        let settings = resolve(&ServeArgs::default(), None, &ServeFile::default()).expect("valid");
        assert_eq!(settings.node_id, 1);
        assert_eq!(settings.listen, "127.0.0.1:7001");
        assert_eq!(settings.advertise, "127.0.0.1:7001");
        assert_eq!(settings.data_dir, PathBuf::from("./strait-data"));
        assert_eq!(
            settings.initial_cluster,
            BTreeMap::from([(1, "127.0.0.1:7001".to_owned())])
        );
        assert_eq!(settings.account_id, "000000000000");
        assert_eq!(settings.replication_factor, 3);
        let defaults = RaftTuning::default();
        assert_eq!(settings.raft.heartbeat_ms, defaults.heartbeat_ms);
        assert_eq!(settings.raft.election_min_ms, defaults.election_min_ms);
        assert_eq!(settings.raft.election_max_ms, defaults.election_max_ms);
        assert_eq!(settings.raft.snapshot_every_entries, 20_000);
        assert_eq!(settings.raft.keep_entries_behind_snapshot, 5_000);
        settings.node_config().expect("the defaults are valid");
    }

    #[test]
    fn the_kinesis_api_listens_on_4567_unless_told_otherwise() {
        let settings = resolve(&ServeArgs::default(), None, &ServeFile::default()).expect("valid");
        assert_eq!(settings.kinesis_listen.as_deref(), Some("127.0.0.1:4567"));
        let config = settings.node_config().expect("valid");
        assert_eq!(
            config.kinesis_listen,
            Some("127.0.0.1:4567".parse().expect("an address"))
        );

        let file = ServeFile::parse("kinesis-listen = \"127.0.0.1:4999\"").expect("valid");
        let settings = resolve(&serve_args(&[]), None, &file).expect("valid");
        assert_eq!(settings.kinesis_listen.as_deref(), Some("127.0.0.1:4999"));
        let settings = resolve(&serve_args(&["--kinesis-listen", "off"]), None, &file).expect("valid");
        assert_eq!(settings.kinesis_listen, None);
        assert_eq!(settings.node_config().expect("valid").kinesis_listen, None);
    }

    #[test]
    fn tls_and_throughput_limits_are_off_unless_asked_for() {
        let settings = resolve(&serve_args(&[]), None, &ServeFile::default()).expect("valid");
        let config = settings.node_config().expect("valid");
        assert_eq!(
            (config.kinesis_tls, config.shard_throughput_limits),
            (None, false)
        );

        let flags = [
            "--kinesis-tls-cert",
            "c.pem",
            "--kinesis-tls-key",
            "k.pem",
            "--shard-throughput-limits",
        ];
        let config = resolve(&serve_args(&flags), None, &ServeFile::default())
            .expect("valid")
            .node_config()
            .expect("valid");
        assert_eq!(
            config.kinesis_tls,
            Some((PathBuf::from("c.pem"), PathBuf::from("k.pem")))
        );
        assert!(config.shard_throughput_limits);

        let file =
            ServeFile::parse("shard-throughput-limits = true\nkinesis-tls-cert = \"c.pem\"").expect("valid");
        assert!(
            resolve(&serve_args(&[]), None, &file).is_err(),
            "a certificate needs its key"
        );
        let only_limits = ServeFile::parse("shard-throughput-limits = true").expect("valid");
        assert!(
            resolve(&serve_args(&[]), None, &only_limits)
                .expect("valid")
                .shard_throughput_limits
        );
        assert!(
            Cli::try_parse_from(["strait", "serve", "--kinesis-tls-cert", "c.pem"]).is_err(),
            "the flags go together"
        );
    }

    #[test]
    fn the_file_accepts_both_spellings_and_rejects_unknown_keys() {
        let file = ServeFile::parse(
            "node_id = 2\nreplication-factor = 1\nraft-heartbeat-ms = 100\n\
             [initial_cluster]\n1 = \"a:7001\"\n2 = \"b:7002\"\n",
        )
        .expect("valid");
        assert_eq!(file.node_id, Some(2));
        assert_eq!(file.replication_factor, Some(1));
        assert_eq!(file.raft_heartbeat_ms, Some(100));
        let error = ServeFile::parse("node_idd = 2").expect_err("misspelled");
        assert!(format!("{error:#}").contains("node_idd"), "{error:#}");
        assert!(ServeFile::parse("node_id = 1\nnode-id = 2").is_err());
    }

    #[test]
    fn precedence_is_defaults_then_file_then_environment_then_flags() {
        let file = ServeFile::parse(
            "node_id = 2\nlisten = \"127.0.0.1:7102\"\ndata_dir = \"/from/file\"\n\
             initial_cluster = \"1=127.0.0.1:7101,2=127.0.0.1:7102\"\n\
             replication_factor = 2\nraft_heartbeat_ms = 50\n",
        )
        .expect("valid");

        // The file beats the defaults.
        let settings = resolve(&serve_args(&[]), None, &file).expect("valid");
        assert_eq!(settings.node_id, 2);
        assert_eq!(settings.advertise, "127.0.0.1:7102");
        assert_eq!(settings.data_dir, PathBuf::from("/from/file"));
        assert_eq!(settings.replication_factor, 2);
        assert_eq!(settings.raft.heartbeat_ms, 50);
        assert_eq!(
            settings.raft.election_min_ms,
            RaftTuning::default().election_min_ms
        );
        settings.node_config().expect("consistent");

        // Flags beat the file.
        let settings = resolve(
            &serve_args(&["--data-dir", "/from/flag", "--replication-factor", "1"]),
            Some("123456789012"),
            &file,
        )
        .expect("valid");
        assert_eq!(settings.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(settings.replication_factor, 1);
        assert_eq!(settings.account_id, "123456789012");
        assert_eq!(settings.node_id, 2);

        // The environment beats the file, and a flag beats the environment. The variable is
        // only read by this test's own parses, which happen while it is set.
        // SAFETY: no other test reads or writes STRAIT_RAFT_ELECTION_MAX_MS.
        unsafe { std::env::set_var("STRAIT_RAFT_ELECTION_MAX_MS", "3000") };
        let from_env = resolve(&serve_args(&[]), None, &file).expect("valid");
        let from_flag =
            resolve(&serve_args(&["--raft-election-max-ms", "4000"]), None, &file).expect("valid");
        // SAFETY: as above.
        unsafe { std::env::remove_var("STRAIT_RAFT_ELECTION_MAX_MS") };
        assert_eq!(from_env.raft.election_max_ms, 3000);
        assert_eq!(from_flag.raft.election_max_ms, 4000);
    }

    #[test]
    fn a_node_missing_from_the_initial_cluster_is_rejected() {
        let settings = resolve(
            &serve_args(&["--node-id", "3", "--initial-cluster", "1=127.0.0.1:7001"]),
            None,
            &ServeFile::default(),
        )
        .expect("each value is valid");
        let error = settings.node_config().expect_err("node 3 is not listed");
        assert!(error.to_string().contains("does not name this node"), "{error}");
    }

    #[test]
    fn a_stateful_set_member_derives_its_peers_and_address_from_the_template() {
        let template = "strait-{ordinal}.strait-peers:7001";
        let settings = resolve(
            &serve_args(&[
                "--cluster-size",
                "3",
                "--peer-address-template",
                template,
                "--node-id",
                "2",
                "--listen",
                "0.0.0.0:7001",
                "--shutdown-timeout",
                "5s",
            ]),
            None,
            &ServeFile::default(),
        )
        .expect("valid");
        assert_eq!(settings.node_id, 2);
        assert_eq!(settings.advertise, "strait-1.strait-peers:7001");
        assert_eq!(
            settings.initial_cluster,
            BTreeMap::from([
                (1, "strait-0.strait-peers:7001".to_owned()),
                (2, "strait-1.strait-peers:7001".to_owned()),
                (3, "strait-2.strait-peers:7001".to_owned()),
            ])
        );
        assert_eq!(settings.shutdown_timeout, Some(std::time::Duration::from_secs(5)));
        let config = settings.node_config().expect("consistent");
        assert_eq!(config.shutdown_timeout, std::time::Duration::from_secs(5));

        // The same settings from a file; an explicit --advertise still wins.
        let file = ServeFile::parse(
            "cluster-size = 3\npeer_address_template = \"strait-{ordinal}.strait-peers:7001\"\n\
             node_id = 3\nshutdown_timeout = \"1m\"\n",
        )
        .expect("valid");
        let settings = resolve(&serve_args(&[]), None, &file).expect("valid");
        assert_eq!(settings.advertise, "strait-2.strait-peers:7001");
        assert_eq!(
            settings.shutdown_timeout,
            Some(std::time::Duration::from_secs(60))
        );

        // One without the other is refused.
        let error = resolve(&serve_args(&["--cluster-size", "3"]), None, &ServeFile::default())
            .expect_err("no template");
        assert!(
            error.to_string().contains("needs --peer-address-template"),
            "{error}"
        );
        // A pod past the initial size joins through the initial members.
        let settings = resolve(
            &serve_args(&[
                "--cluster-size",
                "3",
                "--peer-address-template",
                template,
                "--node-id",
                "4",
            ]),
            None,
            &ServeFile::default(),
        )
        .expect("valid");
        assert!(settings.initial_cluster.is_empty());
        assert_eq!(settings.join.as_ref().map(Vec::len), Some(3));
        assert_eq!(settings.advertise, "strait-3.strait-peers:7001");
        settings.node_config().expect("consistent");
    }

    #[test]
    fn inconsistent_raft_timing_is_rejected() {
        let args = serve_args(&["--raft-heartbeat-ms", "1500"]);
        assert!(resolve(&args, None, &ServeFile::default()).is_err());
    }
}
