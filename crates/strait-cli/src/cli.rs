//! The command line: every command and flag, with the help text a person reads.
//!
//! Every flag can also be set through an environment variable named `STRAIT_` plus the
//! flag's name in upper snake case (`--node-id` is `STRAIT_NODE_ID`). A flag on the command
//! line wins over its variable. `strait serve` also reads a config file, which sits below
//! both: defaults < config file < environment < flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use strait_core::{IteratorType, StreamName};

use crate::parse;

/// Strait: a replicated stream cluster with the Kinesis Data Streams API.
#[derive(Debug, Parser)]
#[command(
    name = "strait",
    version,
    propagate_version = true,
    about = "Run a Strait node or a local cluster, and manage and use its streams.",
    long_about = "Strait is a replicated stream cluster that speaks the Kinesis Data Streams API.\n\n\
        Use `strait serve` to run one node of a cluster and `strait dev` to run a whole cluster \
        on this machine. The other commands talk to a running cluster over gRPC: `stream` \
        creates, describes, lists and deletes streams, `put` writes records, `tail` reads \
        them, and `cluster status` reports on the cluster's health.\n\n\
        Every flag can also be set through an environment variable named STRAIT_ plus the \
        flag's name in upper snake case; for example, --endpoint can be set with \
        STRAIT_ENDPOINT. A flag given on the command line wins over its environment variable.\n\n\
        Exit codes: 0 on success, 1 when the cluster answered with an error or a record could \
        not be stored, 2 when no endpoint could be reached or the command line is invalid."
)]
pub struct Cli {
    /// Flags shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Flags accepted by every command.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// The cluster endpoints that client commands connect to, as http://host:port, separated
    /// by commas. The client tries them in order, fails over to the next one when a node
    /// cannot be reached, and learns the remaining members of the cluster from the first
    /// node that answers, so a single endpoint is enough.
    #[arg(
        long,
        global = true,
        env = "STRAIT_ENDPOINT",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:7001",
        value_name = "URL[,URL...]"
    )]
    pub endpoint: Vec<String>,

    /// The region that client commands address streams in. Streams with the same name in
    /// different regions are unrelated. When neither this flag nor STRAIT_REGION is set,
    /// the AWS_REGION environment variable is used, and us-east-1 when that is unset too.
    #[arg(long, global = true, env = "STRAIT_REGION", value_name = "REGION")]
    pub region: Option<String>,

    /// The 12-digit account that streams belong to. Client commands send it with every
    /// request; `strait serve` uses it for requests that name no account. The default is
    /// 000000000000.
    #[arg(long, global = true, env = "STRAIT_ACCOUNT_ID", value_name = "ACCOUNT")]
    pub account_id: Option<String>,

    /// How long client commands wait for one node to answer one request before trying the
    /// next endpoint, such as 500ms, 10s or 1m.
    #[arg(
        long,
        global = true,
        env = "STRAIT_TIMEOUT",
        default_value = "10s",
        value_parser = parse::duration,
        value_name = "DURATION"
    )]
    pub timeout: Duration,

    /// Which log messages to print to standard error, as a filter in the RUST_LOG syntax:
    /// a level such as debug, or per-module directives such as
    /// `info,strait_raft=debug`. The default is info for `serve` (with openraft's own
    /// messages from warn up) and `dev`, and warn for the other commands; when this flag
    /// is not given, RUST_LOG is honored.
    #[arg(long, global = true, env = "STRAIT_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// The format of log messages: `text` for people or `json` for one JSON object per
    /// line. The default is text.
    #[arg(long, global = true, env = "STRAIT_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
}

/// How log messages are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// How command results are printed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned, human-readable text.
    #[default]
    Text,
    /// JSON, for scripts.
    Json,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs one node of a Strait cluster.
    #[command(
        long_about = "Runs one node of a Strait cluster until it receives SIGTERM or \
        Ctrl-C, then shuts down cleanly.\n\n\
        Settings come from four layers, each overriding the one before: built-in defaults, \
        the config file given with --config, STRAIT_* environment variables, and flags. The \
        config file is TOML with the same keys as the long flags, in snake_case or \
        kebab-case, for example:\n\n\
        \x20   node_id = 2\n\
        \x20   listen = \"0.0.0.0:7002\"\n\
        \x20   advertise = \"10.0.0.2:7002\"\n\
        \x20   initial_cluster = \"1=10.0.0.1:7001,2=10.0.0.2:7002,3=10.0.0.3:7003\"\n\n\
        To start a three-node cluster, run one `strait serve` per node with the same \
        --initial-cluster and each node's own --node-id and --advertise address; or use \
        `strait dev` to do that on this machine."
    )]
    Serve(Box<ServeArgs>),

    /// Runs a local cluster of several nodes for development.
    #[command(long_about = "Runs a cluster of several nodes on 127.0.0.1 for development, \
        each a `strait serve` child process listening on consecutive ports from --base-port \
        and keeping its data in its own directory under --data-dir.\n\n\
        Once every node reports that the cluster is ready, the command prints the endpoints \
        and the --endpoint value that client commands should use. The nodes' log output is \
        forwarded with a `[node N]` prefix. Ctrl-C or SIGTERM stops every node cleanly \
        (nodes that do not stop within ten seconds are killed). A node that exits on its own \
        is reported.")]
    Dev(DevArgs),

    /// Creates, describes, lists and deletes streams.
    #[command(subcommand)]
    Stream(StreamCommand),

    /// Writes records to a stream, one given on the command line or one per line of
    /// standard input.
    #[command(long_about = "Writes records to a stream.\n\n\
        With DATA, writes that one record and prints its shard and sequence number. \
        Without DATA, reads standard input and writes each line as one record, without its \
        line ending (\\n or \\r\\n); empty lines are skipped. Lines are sent in concurrent \
        batches of up to 500 records, so large inputs are written quickly, and records that \
        fail are retried, across nodes, until the deadline.\n\n\
        A summary (records stored and failed, time taken, records per second) is printed to \
        standard error at the end. The command exits with 1 if any record could not be \
        stored, and lists the line numbers of those records on standard error. A record \
        whose write timed out may have been stored nonetheless.")]
    Put(PutArgs),

    /// Prints the records of a stream, from every shard.
    #[command(long_about = "Prints the records of a stream, reading every shard.\n\n\
        Shards are read in lineage order: the children of a split or merged shard are read \
        only after their parents, so the records of each partition key are printed in the \
        order they were written. Shards created while the command runs are followed too.\n\n\
        Without --no-follow the command keeps printing new records until it is interrupted. \
        With --no-follow it prints every record committed up to the moment it started, in \
        all shards including closed ones, and exits.")]
    Tail(TailArgs),

    /// Reports on the health of the cluster.
    #[command(subcommand)]
    Cluster(ClusterCommand),

    /// Manages the cluster's nodes.
    #[command(subcommand)]
    Node(NodeCommand),

    /// Measures a cluster: write throughput and latency, catch-up reads, put-to-read latency.
    #[command(
        long_about = "Generates load against a running cluster and measures it, over \
        gRPC or the Kinesis HTTP API: `produce` (records/s, MB/s, request latency \
        percentiles), `consume` (catch-up read throughput of a filled stream) and `e2e` \
        (put-to-read latency through GetRecords polling and the push subscription).\n\n\
        Every run is bounded by --count and --duration, prints a progress line to standard \
        error and ends with one line of JSON on standard output."
    )]
    Bench(crate::commands::bench::BenchArgs),
}

/// `strait serve`. Every field is optional so that the config file can fill what neither
/// a flag nor the environment set; the defaults are applied after that, in `commands::serve`.
#[derive(Debug, Clone, Default, Args)]
pub struct ServeArgs {
    /// A TOML file with settings for this node, using the same keys as the long flags
    /// (node_id, listen, data_dir, ...). Flags and STRAIT_* environment variables override
    /// the file.
    #[arg(long, env = "STRAIT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// This node's id, unique within the cluster and at least 1. The default is 1, or,
    /// with --cluster-size and --peer-address-template, the ordinal at the end of the host
    /// name plus one (pod strait-0 is node 1).
    #[arg(long, env = "STRAIT_NODE_ID", value_name = "N")]
    pub node_id: Option<u64>,

    /// The number of initial members of a cluster run as a Kubernetes StatefulSet (or any
    /// set of hosts named <name>-0, <name>-1, ...). With --peer-address-template it stands
    /// in for --initial-cluster, and --node-id and --advertise default from the host name.
    #[arg(long, env = "STRAIT_CLUSTER_SIZE", value_name = "N")]
    pub cluster_size: Option<u64>,

    /// The address of the member with a given ordinal, with {ordinal} in its place, such
    /// as strait-{ordinal}.strait-peers.default.svc.cluster.local:7001. Used with
    /// --cluster-size. Names are resolved each time a peer is dialed, so they need not
    /// resolve yet when the node starts.
    #[arg(long, env = "STRAIT_PEER_ADDRESS_TEMPLATE", value_name = "TEMPLATE")]
    pub peer_address_template: Option<String>,

    /// How long a shutdown (SIGTERM, Ctrl-C) may take, such as 20s: /readyz fails at once,
    /// the node hands the leadership of its groups to other nodes, finishes the requests
    /// in flight and exits; whatever is left at the end of this time is abandoned. Keep
    /// it below Kubernetes' terminationGracePeriodSeconds. The default is 20s.
    #[arg(long, env = "STRAIT_SHUTDOWN_TIMEOUT", value_parser = parse::duration, value_name = "DURATION")]
    pub shutdown_timeout: Option<Duration>,

    /// The address the gRPC server binds to. The default is 127.0.0.1:7001.
    #[arg(long, env = "STRAIT_LISTEN", value_parser = parse::host_port, value_name = "HOST:PORT")]
    pub listen: Option<String>,

    /// The address the Kinesis-compatible HTTP API (for boto3, the AWS CLI and the AWS
    /// SDKs) binds to, or `off` to serve none. The default is 127.0.0.1:4567.
    #[arg(long, env = "STRAIT_KINESIS_LISTEN", value_parser = parse::host_port_or_off, value_name = "HOST:PORT|off")]
    pub kinesis_listen: Option<String>,

    /// A PEM certificate chain: with --kinesis-tls-key, the Kinesis API is served over
    /// HTTPS (ALPN h2 and http/1.1) instead of HTTP, as the KPL requires.
    #[arg(
        long,
        env = "STRAIT_KINESIS_TLS_CERT",
        value_name = "FILE",
        requires = "kinesis_tls_key"
    )]
    pub kinesis_tls_cert: Option<PathBuf>,

    /// The PEM private key of --kinesis-tls-cert.
    #[arg(
        long,
        env = "STRAIT_KINESIS_TLS_KEY",
        value_name = "FILE",
        requires = "kinesis_tls_cert"
    )]
    pub kinesis_tls_key: Option<PathBuf>,

    /// Enforce Kinesis's per-shard throughput limits (writes: 1 MiB/s and 1,000 records/s;
    /// GetRecords: 2 MiB/s and 5 calls/s), answering ProvisionedThroughputExceededException
    /// beyond them. Off by default.
    #[arg(long, env = "STRAIT_SHARD_THROUGHPUT_LIMITS")]
    pub shard_throughput_limits: bool,

    /// The address other nodes and clients use to reach this node. It must match this
    /// node's entry in --initial-cluster. The default is the --listen address, which only
    /// works when that is not a wildcard such as 0.0.0.0.
    #[arg(long, env = "STRAIT_ADVERTISE", value_parser = parse::host_port, value_name = "HOST:PORT")]
    pub advertise: Option<String>,

    /// The directory where the node keeps its data. It is created if missing. The default
    /// is ./strait-data.
    #[arg(long, env = "STRAIT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// The members of a new cluster, as id=host:port pairs separated by commas, identical
    /// on every initial member. The default is a single-node cluster of just this node at
    /// its advertised address.
    #[arg(
        long,
        env = "STRAIT_INITIAL_CLUSTER",
        value_parser = parse::initial_cluster,
        value_name = "ID=HOST:PORT,..."
    )]
    pub initial_cluster: Option<parse::InitialCluster>,

    /// Members of a running cluster to join, for a node added after the cluster was
    /// formed, separated by commas. The node asks them in turn to admit it under its
    /// --node-id (unique, never used before in this cluster) and --advertise address; the
    /// cluster then moves replicas and leaderships onto it until the load is even. Do not
    /// give --initial-cluster with --join. On restarts, keep the flag: asking again is
    /// harmless. In a StatefulSet (--cluster-size), pods beyond the initial size join by
    /// themselves.
    #[arg(
        long,
        env = "STRAIT_JOIN",
        value_parser = parse::host_port,
        value_delimiter = ',',
        value_name = "HOST:PORT[,HOST:PORT...]"
    )]
    pub join: Option<Vec<String>>,

    /// How long a member may go without answering the control-plane leader before it is
    /// considered down and its replicas are re-created on the other nodes (from the
    /// surviving replicas), such as 30s or 5m. A node that comes back after that deletes
    /// the replicas that were moved away. The default is 30s.
    #[arg(long, env = "STRAIT_DOWN_AFTER", value_parser = parse::duration, value_name = "DURATION")]
    pub down_after: Option<Duration>,

    /// How many replicas each shard keeps (fewer while the cluster has fewer nodes). The
    /// default is 3.
    #[arg(long, env = "STRAIT_REPLICATION_FACTOR", value_name = "N")]
    pub replication_factor: Option<usize>,

    /// Raft log entries between two snapshots of a group. The default is 20000.
    #[arg(long, env = "STRAIT_RAFT_SNAPSHOT_EVERY", hide = true, value_name = "ENTRIES")]
    pub raft_snapshot_every: Option<u64>,

    /// Raft log entries kept behind the latest snapshot. The default is 5000.
    #[arg(
        long,
        env = "STRAIT_RAFT_KEEP_BEHIND_SNAPSHOT",
        hide = true,
        value_name = "ENTRIES"
    )]
    pub raft_keep_behind_snapshot: Option<u64>,

    /// The Raft heartbeat interval in milliseconds. The default is 100.
    #[arg(long, env = "STRAIT_RAFT_HEARTBEAT_MS", hide = true, value_name = "MS")]
    pub raft_heartbeat_ms: Option<u64>,

    /// The shortest Raft election timeout in milliseconds. The default is 150.
    #[arg(long, env = "STRAIT_RAFT_ELECTION_MIN_MS", hide = true, value_name = "MS")]
    pub raft_election_min_ms: Option<u64>,

    /// The longest Raft election timeout in milliseconds. The default is 300.
    #[arg(long, env = "STRAIT_RAFT_ELECTION_MAX_MS", hide = true, value_name = "MS")]
    pub raft_election_max_ms: Option<u64>,

    /// A shard group with no new record for this many milliseconds stops its Raft timers
    /// until the next write; the nodes' pings to each other stand in for its heartbeats.
    /// 0 keeps every group ticking. The default is 2000.
    #[arg(long, env = "STRAIT_RAFT_QUIET_AFTER_MS", hide = true, value_name = "MS")]
    pub raft_quiet_after_ms: Option<u64>,

    /// Writes are refused, with a retryable error, while the data directory's file system
    /// has less free space than this many bytes. The default is 268435456 (256 MiB).
    #[arg(long, env = "STRAIT_MIN_FREE_DISK_BYTES", hide = true, value_name = "BYTES")]
    pub min_free_disk_bytes: Option<u64>,

    /// The size of the storage engine's page cache in bytes. The default is 67108864
    /// (64 MiB).
    #[arg(long, env = "STRAIT_CACHE_BYTES", hide = true, value_name = "BYTES")]
    pub cache_bytes: Option<u64>,
}

/// `strait dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// How many nodes to run, from 1 to 9.
    #[arg(
        long,
        env = "STRAIT_NODES",
        default_value_t = 3,
        value_parser = clap::value_parser!(u64).range(1..=9),
        value_name = "N"
    )]
    pub nodes: u64,

    /// The port of node 1; node N listens on this port plus N - 1.
    #[arg(long, env = "STRAIT_BASE_PORT", default_value_t = 7001, value_name = "PORT")]
    pub base_port: u16,

    /// The Kinesis API port of node 1; node N serves it on this port plus N - 1.
    #[arg(
        long,
        env = "STRAIT_KINESIS_BASE_PORT",
        default_value_t = 4567,
        value_name = "PORT"
    )]
    pub kinesis_base_port: u16,

    /// The directory holding the nodes' data, one subdirectory node-N per node. Data is
    /// kept between runs, so a restarted dev cluster still has its streams.
    #[arg(
        long,
        env = "STRAIT_DATA_DIR",
        default_value = "./strait-dev-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,

    /// How many replicas each shard keeps. The default is 3, or the number of nodes when
    /// that is smaller.
    #[arg(long, env = "STRAIT_REPLICATION_FACTOR", value_name = "N")]
    pub replication_factor: Option<usize>,

    /// Passed to every node's `--raft-quiet-after-ms`: how long a shard group goes without
    /// a write before its Raft timers stop (0: never).
    #[arg(long, hide = true, value_name = "MS")]
    pub raft_quiet_after_ms: Option<u64>,

    /// How long to wait for every node to report the cluster ready before giving up and
    /// stopping the nodes.
    #[arg(
        long,
        env = "STRAIT_READY_TIMEOUT",
        default_value = "60s",
        value_parser = parse::duration,
        value_name = "DURATION"
    )]
    pub ready_timeout: Duration,
}

/// `strait stream ...`.
#[derive(Debug, Subcommand)]
pub enum StreamCommand {
    /// Creates a stream and waits until it is ACTIVE.
    Create(CreateArgs),
    /// Deletes a stream and all of its records.
    Delete(DeleteArgs),
    /// Describes a stream and its shards.
    Describe(DescribeArgs),
    /// Lists the streams of the account in the region.
    List(ListArgs),
    /// Splits an open shard in two at a hash key (by default the middle of its range).
    /// Producers keep writing throughout; the command returns once the two new shards
    /// accept writes.
    Split(SplitArgs),
    /// Merges two adjacent open shards into one. Producers keep writing throughout.
    Merge(MergeArgs),
    /// Reshards the stream to a number of evenly sized open shards, by splits and merges
    /// (at most doubling or halving the count in one call).
    Scale(ScaleArgs),
    /// Sets how long records are kept, from 24 to 8760 hours. Records already past the old
    /// period stay expired when it grows.
    Retention(RetentionArgs),
}

/// `strait stream retention`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// The stream.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,
    /// The new retention period in hours.
    #[arg(long, value_name = "HOURS")]
    pub hours: u32,
}

/// `strait stream split`.
#[derive(Debug, Clone, Args)]
pub struct SplitArgs {
    /// The stream.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,
    /// The open shard to split, as `shardId-000000000001` or just `1`.
    pub shard: String,
    /// The first hash key (decimal) of the upper new shard; it must lie strictly inside the
    /// shard's range. The default is the middle of the range.
    #[arg(long, value_name = "HASH_KEY")]
    pub at: Option<String>,
}

/// `strait stream merge`.
#[derive(Debug, Clone, Args)]
pub struct MergeArgs {
    /// The stream.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,
    /// The shard that becomes the new shard's parent.
    pub shard: String,
    /// The adjacent shard (its range touches the first one's) that becomes the adjacent parent.
    pub adjacent: String,
}

/// `strait stream scale`.
#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    /// The stream.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,
    /// The number of open shards wanted.
    #[arg(long, value_name = "N")]
    pub shards: u32,
}

/// `strait stream create`.
#[derive(Debug, Clone, Args)]
pub struct CreateArgs {
    /// The name of the new stream: 1 to 128 letters, digits, `_`, `.` or `-`.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,

    /// How many shards the stream starts with. Each shard owns an equal slice of the hash
    /// key space.
    #[arg(long, env = "STRAIT_SHARDS", default_value_t = 1, value_name = "N")]
    pub shards: u32,

    /// The capacity mode: provisioned (a fixed number of shards) or on-demand.
    #[arg(long, env = "STRAIT_MODE", value_enum, default_value_t = ModeArg::Provisioned)]
    pub mode: ModeArg,

    /// Returns as soon as the cluster has accepted the request, without waiting for the
    /// stream to become ACTIVE.
    #[arg(long, env = "STRAIT_NO_WAIT")]
    pub no_wait: bool,

    /// How long to wait for the stream to become ACTIVE before reporting an error.
    #[arg(
        long,
        env = "STRAIT_WAIT_TIMEOUT",
        default_value = "60s",
        value_parser = parse::duration,
        value_name = "DURATION"
    )]
    pub wait_timeout: Duration,
}

/// A stream's capacity mode, as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// A fixed number of shards, changed only by resharding.
    Provisioned,
    /// Capacity managed by the cluster.
    OnDemand,
}

/// `strait stream delete`.
#[derive(Debug, Clone, Args)]
pub struct DeleteArgs {
    /// The stream to delete.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,
}

/// `strait stream describe`.
#[derive(Debug, Clone, Args)]
pub struct DescribeArgs {
    /// The stream to describe.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,

    /// `text` prints a summary and a table of shards (id, hash key range, parents, replicas,
    /// leader, state); `json` prints one JSON object.
    #[arg(long, env = "STRAIT_FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `strait stream list`.
#[derive(Debug, Clone, Args)]
pub struct ListArgs {
    /// `text` prints one name per line; `json` prints a JSON array of names.
    #[arg(long, env = "STRAIT_FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `strait put`.
#[derive(Debug, Clone, Args)]
pub struct PutArgs {
    /// The stream to write to.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,

    /// The record to write, as text. Without it, records are read from standard input, one
    /// per line.
    pub data: Option<String>,

    /// The partition key of every record. Records with the same key go to the same shard,
    /// in order. Without this flag or --key-field, each record gets a random key, which
    /// spreads records evenly over the shards.
    #[arg(
        long,
        env = "STRAIT_PARTITION_KEY",
        value_name = "KEY",
        conflicts_with = "key_field"
    )]
    pub partition_key: Option<String>,

    /// Takes each record's partition key from its N-th whitespace-separated field, counting
    /// from 1. The whole line is still the record's data. A line without that field is
    /// reported and counted as failed, and the others are still written.
    #[arg(long, env = "STRAIT_KEY_FIELD", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub key_field: Option<u64>,

    /// How many batches may be in flight at once when reading standard input.
    #[arg(long, env = "STRAIT_MAX_IN_FLIGHT", default_value_t = 8, value_name = "N")]
    pub max_in_flight: usize,

    /// How long a record is retried, through failures and failovers, before it is reported
    /// as not stored.
    #[arg(
        long,
        env = "STRAIT_DEADLINE",
        default_value = "30s",
        value_parser = parse::duration,
        value_name = "DURATION"
    )]
    pub deadline: Duration,
}

/// `strait tail`.
#[derive(Debug, Clone, Args)]
pub struct TailArgs {
    /// The stream to read.
    #[arg(value_parser = parse::stream_name)]
    pub name: StreamName,

    /// Where to start reading: `trim-horizon` (the oldest record kept), `latest` (only
    /// records written from now on), `at-sequence:N` (from sequence number N in its shard,
    /// then that shard's descendants), `after-sequence:N` (just after N), or
    /// `at-timestamp:T` (from time T, in milliseconds since the Unix epoch or RFC 3339 such
    /// as 2024-05-01T12:00:00Z).
    #[arg(
        long,
        env = "STRAIT_FROM",
        default_value = "latest",
        value_parser = parse::starting_point,
        value_name = "POSITION"
    )]
    pub from: IteratorType,

    /// Prints the records committed up to the moment the command started, in every shard,
    /// then exits instead of waiting for more.
    #[arg(long, env = "STRAIT_NO_FOLLOW")]
    pub no_follow: bool,

    /// `text` prints each record's data on its own line (base64 when it is not UTF-8);
    /// `json` prints one object per line with shard_id, sequence_number, partition_key,
    /// data (or data_base64 when the data is not UTF-8) and arrival_timestamp in
    /// milliseconds.
    #[arg(long, env = "STRAIT_FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

/// `strait cluster ...`.
#[derive(Debug, Subcommand)]
pub enum ClusterCommand {
    /// Shows the nodes, the control-plane leader and every shard group's leader, as seen
    /// by the first node that answers.
    #[command(
        long_about = "Shows the nodes and whether they are reachable, the control-plane \
        leader, and every shard group with its replicas and leader, as seen by the first \
        node that answers.\n\n\
        Exits with 0 when the cluster is ready (the answering node is a caught-up member, \
        a control-plane leader exists and every shard group has a leader), 1 when a node \
        answered but the cluster is not ready (the reasons are printed), and 2 when no \
        endpoint could be reached."
    )]
    Status(StatusArgs),
}

/// `strait node ...`.
#[derive(Debug, Subcommand)]
pub enum NodeCommand {
    /// Drains a node so that it can be shut down for good.
    #[command(long_about = "Drains a node so that it can leave the cluster.\n\n\
        The node stops receiving new replicas; each of its replicas is re-created on another \
        node (added as a learner, caught up, promoted, then the old copy is removed), and the \
        groups it leads hand their leadership to other replicas. Once it holds nothing, it is \
        removed from the cluster and can be stopped; its id is never reused.\n\n\
        Producers and consumers keep working throughout. The command waits until the node \
        is removed, printing progress, unless --no-wait is given; `strait cluster status` \
        shows the moves in flight.")]
    Decommission(DecommissionArgs),
}

/// `strait node decommission`.
#[derive(Debug, Clone, Args)]
pub struct DecommissionArgs {
    /// The id of the node to drain.
    #[arg(value_name = "NODE_ID")]
    pub node_id: u64,

    /// Return once the drain has started instead of waiting for it to finish.
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for the drain to finish, such as 10m.
    #[arg(long, default_value = "30m", value_parser = parse::duration, value_name = "DURATION")]
    pub wait_timeout: Duration,
}

/// `strait cluster status`.
#[derive(Debug, Clone, Args)]
pub struct StatusArgs {
    /// `text` prints tables; `json` prints one JSON object.
    #[arg(long, env = "STRAIT_FORMAT", value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn endpoints_split_on_commas() {
        let cli = Cli::try_parse_from(["strait", "--endpoint", "http://a:1,http://b:2", "stream", "list"])
            .expect("valid");
        assert_eq!(cli.global.endpoint, vec!["http://a:1", "http://b:2"]);
    }

    #[test]
    fn global_flags_may_follow_the_command() {
        let cli = Cli::try_parse_from([
            "strait",
            "tail",
            "orders",
            "--from",
            "trim-horizon",
            "--endpoint",
            "http://a:1",
            "--no-follow",
        ])
        .expect("valid");
        assert_eq!(cli.global.endpoint, vec!["http://a:1"]);
        let Command::Tail(tail) = cli.command else {
            panic!("parsed as tail");
        };
        assert_eq!(tail.from, IteratorType::TrimHorizon);
        assert!(tail.no_follow);
    }

    #[test]
    fn partition_key_and_key_field_exclude_each_other() {
        let parsed = Cli::try_parse_from([
            "strait",
            "put",
            "orders",
            "--partition-key",
            "k",
            "--key-field",
            "2",
        ]);
        assert!(parsed.is_err());
    }

    #[test]
    fn dev_allows_one_to_nine_nodes() {
        assert!(Cli::try_parse_from(["strait", "dev", "--nodes", "9"]).is_ok());
        assert!(Cli::try_parse_from(["strait", "dev", "--nodes", "0"]).is_err());
        assert!(Cli::try_parse_from(["strait", "dev", "--nodes", "10"]).is_err());
    }
}
