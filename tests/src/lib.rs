//! A harness that runs real `strait` processes on loopback for end-to-end tests.
//!
//! [`TestCluster`] starts N `strait serve` processes with their own data directories and
//! ports, waits until the cluster reports ready, and can `kill -9` and restart members.
//! Every process is killed when the cluster is dropped, so a failing test leaves nothing
//! running. Each node's output goes to `node-N.log` in the cluster's directory; set
//! `STRAIT_TEST_KEEP=1` to keep the directory for inspection.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use strait_proto::v1::stream_service_client::StreamServiceClient;
use strait_proto::v1::{self as pb};
use tonic::transport::{Channel, Endpoint};

/// The `strait` binary under test: `STRAIT_BIN`, or the one built next to this test.
pub fn strait_binary() -> PathBuf {
    if let Ok(path) = std::env::var("STRAIT_BIN") {
        return PathBuf::from(path);
    }
    // Test executables live in `<target>/<profile>/deps/`, binaries (this crate's own
    // tools among them) in `<target>/<profile>/`.
    let exe = std::env::current_exe().expect("current exe");
    let dir = exe.parent().expect("executable inside a directory");
    let sibling = dir.join("strait");
    if sibling.exists() {
        return sibling;
    }
    dir.parent()
        .expect("test executable inside <target>/<profile>/deps")
        .join("strait")
}

/// Extra settings for the nodes of a test cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Extra arguments for every `strait serve`.
    pub extra_args: Vec<String>,
}

/// One member of a test cluster.
pub struct TestNode {
    pub id: u64,
    pub address: String,
    /// Where the node serves the Kinesis HTTP API.
    pub kinesis_address: String,
    pub data_dir: PathBuf,
    /// The member a node added later asks for admission; `None` for initial members.
    join: Option<String>,
    process: Option<Child>,
}

/// A cluster of real `strait` processes on 127.0.0.1.
pub struct TestCluster {
    pub dir: tempfile::TempDir,
    pub nodes: Vec<TestNode>,
    initial_cluster: String,
    options: ClusterOptions,
    _slot: tokio::sync::OwnedMutexGuard<()>,
}

/// Test clusters run one at a time: several three-node clusters at once on a two-core
/// machine would starve each other's Raft timers and test nothing but the scheduler.
fn cluster_slot() -> Arc<tokio::sync::Mutex<()>> {
    static SLOT: OnceLock<Arc<tokio::sync::Mutex<()>>> = OnceLock::new();
    SLOT.get_or_init(|| Arc::new(tokio::sync::Mutex::new(()))).clone()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on loopback")
}

impl TestCluster {
    /// Starts `size` nodes and waits until the cluster is ready.
    pub async fn start(size: u64, options: ClusterOptions) -> Result<TestCluster> {
        let binary = strait_binary();
        if !binary.exists() {
            bail!(
                "{} not found: build it first with `cargo build -p strait-cli`",
                binary.display()
            );
        }
        let slot = cluster_slot().lock_owned().await;
        let dir = tempfile::Builder::new().prefix("strait-test-").tempdir()?;
        let nodes: Vec<TestNode> = (1..=size)
            .map(|id| TestNode {
                id,
                address: format!("127.0.0.1:{}", free_port()),
                kinesis_address: format!("127.0.0.1:{}", free_port()),
                data_dir: dir.path().join(format!("node-{id}")),
                join: None,
                process: None,
            })
            .collect();
        let initial_cluster = nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.address))
            .collect::<Vec<_>>()
            .join(",");
        let mut cluster = TestCluster {
            dir,
            nodes,
            initial_cluster,
            options,
            _slot: slot,
        };
        for id in 1..=size {
            cluster.spawn(id)?;
        }
        cluster.wait_ready(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    fn node(&mut self, id: u64) -> &mut TestNode {
        self.nodes
            .iter_mut()
            .find(|n| n.id == id)
            .expect("node id in cluster")
    }

    fn spawn(&mut self, id: u64) -> Result<()> {
        let initial = self.initial_cluster.clone();
        let extra = self.options.extra_args.clone();
        let log_path = self.dir.path().join(format!("node-{id}.log"));
        let node = self.node(id);
        let membership = match &node.join {
            Some(seed) => ["--join".to_string(), seed.clone()],
            None => ["--initial-cluster".to_string(), initial],
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)?;
        let child = Command::new(strait_binary())
            .arg("serve")
            .args(["--node-id", &id.to_string()])
            .args(["--listen", &node.address])
            .args(["--kinesis-listen", &node.kinesis_address])
            .args(membership)
            .arg("--data-dir")
            .arg(&node.data_dir)
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting node {id}"))?;
        node.process = Some(child);
        Ok(())
    }

    /// Starts a new node that joins the running cluster through node `via`, and returns
    /// its id. It does not wait: the cluster admits it and moves replicas onto it.
    pub fn join(&mut self, via: u64) -> Result<u64> {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let seed = self
            .nodes
            .iter()
            .find(|n| n.id == via)
            .context("the node to join through is not in the cluster")?
            .address
            .clone();
        self.nodes.push(TestNode {
            id,
            address: format!("127.0.0.1:{}", free_port()),
            kinesis_address: format!("127.0.0.1:{}", free_port()),
            data_dir: self.dir.path().join(format!("node-{id}")),
            join: Some(seed),
            process: None,
        });
        self.spawn(id)?;
        Ok(id)
    }

    /// `http://` endpoint of a node.
    pub fn endpoint(&self, id: u64) -> String {
        let node = self
            .nodes
            .iter()
            .find(|n| n.id == id)
            .expect("node id in cluster");
        format!("http://{}", node.address)
    }

    /// `http://` endpoint of a node's Kinesis HTTP API (for boto3's `endpoint_url`).
    pub fn kinesis_endpoint(&self, id: u64) -> String {
        let node = self
            .nodes
            .iter()
            .find(|n| n.id == id)
            .expect("node id in cluster");
        format!("http://{}", node.kinesis_address)
    }

    /// A gRPC client of one node.
    pub async fn client(&self, id: u64) -> Result<StreamServiceClient<Channel>> {
        let channel = Endpoint::from_shared(self.endpoint(id))?
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(30))
            .connect_lazy();
        Ok(StreamServiceClient::new(channel)
            .max_decoding_message_size(64 << 20)
            .max_encoding_message_size(64 << 20))
    }

    /// Kills a node with SIGKILL: no shutdown, no flush.
    pub fn kill9(&mut self, id: u64) {
        if let Some(mut child) = self.node(id).process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops a node with SIGTERM, as an orchestrator does, and waits up to `timeout` for it
    /// to exit cleanly. Returns how long it took; a node still running then is killed and
    /// the call fails, as does an exit with an error.
    pub async fn terminate(&mut self, id: u64, timeout: Duration) -> Result<Duration> {
        let Some(mut child) = self.node(id).process.take() else {
            bail!("node {id} is not running");
        };
        let started = Instant::now();
        let pid = libc::pid_t::try_from(child.id()).context("pid out of range")?;
        // SAFETY: kill has no memory-safety preconditions; the pid is our own child's,
        // not yet reaped, so it cannot name another process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        loop {
            if let Some(status) = child.try_wait()? {
                if !status.success() {
                    bail!("node {id} exited with {status} after SIGTERM\n{}", self.logs());
                }
                return Ok(started.elapsed());
            }
            if started.elapsed() > timeout {
                let _ = child.kill();
                let _ = child.wait();
                bail!(
                    "node {id} still running {timeout:?} after SIGTERM\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a stopped node again with the same data directory.
    pub fn restart(&mut self, id: u64) -> Result<()> {
        self.kill9(id);
        self.spawn(id)
    }

    /// Waits until every running node reports the cluster ready.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        for node in self.nodes.iter().filter(|n| n.process.is_some()) {
            loop {
                let status = match self.client(node.id).await {
                    Ok(mut c) => c.cluster_status(pb::ClusterStatusRequest {}).await,
                    Err(e) => Err(tonic::Status::unavailable(e.to_string())),
                };
                match status {
                    Ok(s) if s.get_ref().ready => break,
                    other => {
                        if Instant::now() > deadline {
                            bail!(
                                "node {} not ready after {timeout:?}: {other:?}\n{}",
                                node.id,
                                self.logs()
                            );
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
            }
        }
        Ok(())
    }

    /// The tail of every node's log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let path = self.dir.path().join(format!("node-{}.log", node.id));
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            out.push_str(&format!(
                "--- node {} ({}) ---\n{}\n",
                node.id,
                path.display(),
                tail.join("\n")
            ));
        }
        out
    }

    /// Creates a stream and waits until it is ACTIVE.
    pub async fn create_stream(&self, via: u64, name: &str, shards: u32) -> Result<()> {
        let mut client = self.client(via).await?;
        client
            .create_stream(pb::CreateStreamRequest {
                stream: name.to_string(),
                shard_count: shards,
                ..Default::default()
            })
            .await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let description = client
                .describe_stream(pb::DescribeStreamRequest {
                    stream: name.to_string(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .stream
                .context("describe without stream")?;
            if description.status == "ACTIVE" {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "stream {name} still {} after 30s\n{}",
                    description.status,
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.process.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if std::env::var("STRAIT_TEST_KEEP").is_ok() {
            let path = self.dir.path().to_path_buf();
            eprintln!("keeping test cluster directory {}", path.display());
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("temp dir"),
            ));
        }
    }
}
