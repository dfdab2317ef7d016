//! `strait dev`: a local cluster of `strait serve` child processes.
//!
//! The supervisor starts one child per node, forwards each child's output line by line with
//! a `[node N]` prefix, waits until every node reports the cluster ready, and prints the
//! endpoints. From then on it waits for a shutdown signal, reporting any child that exits on
//! its own. On shutdown it sends SIGTERM to every child and waits for them, killing those
//! still running after a grace period.
//!
//! Children run in their own process group, so a Ctrl-C in the terminal reaches only the
//! supervisor, which then stops the nodes in order. On Linux each child also asks to be sent
//! SIGTERM should the supervisor die without cleaning up.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{ExitCode, ExitStatus, Stdio};
use std::time::Duration;

use anyhow::Context;
use strait_client::StraitClient;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::cli::{DevArgs, GlobalArgs, LogFormat};
use crate::commands::{shutdown_signal, usage};

/// How long nodes get to stop after SIGTERM before they are killed.
const GRACE_PERIOD: Duration = Duration::from_secs(10);
/// How often readiness is polled.
const READY_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// One node of the dev cluster.
#[derive(Debug, Clone)]
struct DevNode {
    id: u64,
    address: String,
    /// Where the node serves the Kinesis API.
    kinesis_address: String,
    data_dir: PathBuf,
}

/// A child that has exited: its node id and how it ended.
type Exit = (u64, std::io::Result<ExitStatus>);

pub async fn run(global: &GlobalArgs, args: DevArgs) -> anyhow::Result<ExitCode> {
    let nodes = plan(&args)?;
    let initial_cluster = nodes
        .iter()
        .map(|node| format!("{}={}", node.id, node.address))
        .collect::<Vec<_>>()
        .join(",");
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let exe = std::env::current_exe().context("cannot find the strait executable")?;

    let (exits_sender, mut exits) = mpsc::unbounded_channel::<Exit>();
    // Node id to process id, for every child still running.
    let mut running: BTreeMap<u64, u32> = BTreeMap::new();
    for node in &nodes {
        match spawn_node(&exe, node, &initial_cluster, global, &args, exits_sender.clone()) {
            Ok(pid) => {
                running.insert(node.id, pid);
            }
            Err(error) => {
                stop_all(&mut running, &mut exits).await;
                return Err(error);
            }
        }
    }
    eprintln!(
        "strait dev: started {} node(s); waiting up to {:?} for the cluster to be ready",
        nodes.len(),
        args.ready_timeout
    );

    let ready = wait_until_ready(&nodes, Instant::now() + args.ready_timeout);
    tokio::pin!(ready);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut is_ready = false;
    let code = loop {
        tokio::select! {
            result = &mut ready, if !is_ready => match result {
                Ok(()) => {
                    is_ready = true;
                    print_endpoints(&nodes);
                }
                Err(reasons) => {
                    eprintln!(
                        "strait dev: the cluster was not ready within {:?}:",
                        args.ready_timeout
                    );
                    for (id, reason) in reasons {
                        eprintln!("  node {id}: {reason}");
                    }
                    break ExitCode::FAILURE;
                }
            },
            Some((id, status)) = exits.recv() => {
                running.remove(&id);
                eprintln!("strait dev: node {id} exited unexpectedly ({})", describe_exit(&status));
                if running.is_empty() {
                    eprintln!("strait dev: every node has exited");
                    return Ok(ExitCode::FAILURE);
                }
            }
            () = &mut shutdown => break ExitCode::SUCCESS,
        }
    };
    stop_all(&mut running, &mut exits).await;
    Ok(code)
}

/// Lays out the nodes: ids 1..=N on consecutive ports, each with its own data directory.
fn plan(args: &DevArgs) -> anyhow::Result<Vec<DevNode>> {
    for (flag, base) in [
        ("--base-port", args.base_port),
        ("--kinesis-base-port", args.kinesis_base_port),
    ] {
        let last_port = u64::from(base) + args.nodes - 1;
        if base == 0 || last_port > u64::from(u16::MAX) {
            return Err(usage(format!(
                "{flag} {base} leaves no room for {} nodes (ports must be 1-65535)",
                args.nodes
            )));
        }
    }
    Ok((1..=args.nodes)
        .map(|id| DevNode {
            id,
            address: format!("127.0.0.1:{}", u64::from(args.base_port) + id - 1),
            kinesis_address: format!("127.0.0.1:{}", u64::from(args.kinesis_base_port) + id - 1),
            data_dir: args.data_dir.join(format!("node-{id}")),
        })
        .collect())
}

/// Starts one node and the tasks that forward its output and report its exit. Returns the
/// child's process id.
fn spawn_node(
    exe: &std::path::Path,
    node: &DevNode,
    initial_cluster: &str,
    global: &GlobalArgs,
    args: &DevArgs,
    exits: mpsc::UnboundedSender<Exit>,
) -> anyhow::Result<u32> {
    let mut command = tokio::process::Command::new(exe);
    command
        .arg("serve")
        .args(["--node-id", &node.id.to_string()])
        .args(["--listen", &node.address])
        .args(["--kinesis-listen", &node.kinesis_address])
        .args(["--initial-cluster", initial_cluster])
        .arg("--data-dir")
        .arg(&node.data_dir);
    if let Some(factor) = args.replication_factor {
        command.args(["--replication-factor", &factor.to_string()]);
    }
    if let Some(ms) = args.raft_quiet_after_ms {
        command.args(["--raft-quiet-after-ms", &ms.to_string()]);
    }
    if let Some(level) = &global.log_level {
        command.args(["--log-level", level]);
    }
    if let Some(format) = global.log_format {
        let format = match format {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        };
        command.args(["--log-format", format]);
    }
    // The children get every setting as a flag; a STRAIT_* variable meant for this command
    // (STRAIT_JOIN, STRAIT_CONFIG, ...) must not leak into them.
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("STRAIT_") {
            command.env_remove(key);
        }
    }
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    #[cfg(target_os = "linux")]
    // SAFETY: the closure runs in the child between fork and exec and only makes the
    // async-signal-safe prctl system call.
    unsafe {
        command.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
            Ok(())
        });
    }
    let mut child = command
        .spawn()
        .with_context(|| format!("cannot start node {}", node.id))?;
    let pid = child
        .id()
        .context("a child that was just started has no process id")?;
    let prefix = format!("[node {}] ", node.id);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward(stdout, prefix.clone(), false));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward(stderr, prefix, true));
    }
    let id = node.id;
    tokio::spawn(async move {
        let status = child.wait().await;
        // The supervisor may be gone already; then nobody needs to know.
        let _ = exits.send((id, status));
    });
    Ok(pid)
}

/// Copies a child's output line by line to ours, each line prefixed.
async fn forward(reader: impl AsyncRead + Unpin, prefix: String, to_stderr: bool) {
    use std::io::Write;
    let mut reader = BufReader::new(reader);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        // A closed terminal is no reason to stop the nodes; the line is dropped.
        let _ = if to_stderr {
            writeln!(std::io::stderr().lock(), "{prefix}{text}")
        } else {
            writeln!(std::io::stdout().lock(), "{prefix}{text}")
        };
    }
}

/// Polls every node's ClusterStatus until all report ready, or returns each unready node's
/// last reason at the deadline.
async fn wait_until_ready(nodes: &[DevNode], deadline: Instant) -> Result<(), BTreeMap<u64, String>> {
    let probes: Vec<(u64, Option<StraitClient>)> = nodes
        .iter()
        .map(|node| {
            let client = StraitClient::builder([format!("http://{}", node.address)])
                .discover(false)
                .request_timeout(Duration::from_secs(1))
                .connect_timeout(Duration::from_millis(500))
                .retry_deadline(Duration::ZERO)
                .build()
                .ok();
            (node.id, client)
        })
        .collect();
    loop {
        let mut reasons = BTreeMap::new();
        for (id, probe) in &probes {
            let Some(probe) = probe else {
                reasons.insert(*id, "the address is not a valid endpoint".to_owned());
                continue;
            };
            match probe.cluster_status().await {
                Ok(status) if status.ready => {}
                Ok(status) => {
                    let reason = if status.not_ready_reasons.is_empty() {
                        "not ready".to_owned()
                    } else {
                        status.not_ready_reasons.join("; ")
                    };
                    reasons.insert(*id, reason);
                }
                Err(error) => {
                    reasons.insert(*id, error.to_string());
                }
            }
        }
        if reasons.is_empty() {
            return Ok(());
        }
        if Instant::now() + READY_POLL_INTERVAL > deadline {
            return Err(reasons);
        }
        tokio::time::sleep(READY_POLL_INTERVAL).await;
    }
}

fn print_endpoints(nodes: &[DevNode]) {
    use std::io::Write;
    let endpoints: Vec<String> = nodes
        .iter()
        .map(|node| format!("http://{}", node.address))
        .collect();
    let mut text = format!("strait dev: {} node(s) ready\n", nodes.len());
    for (node, endpoint) in nodes.iter().zip(&endpoints) {
        text.push_str(&format!(
            "  node {}  {}  kinesis http://{}  data in {}\n",
            node.id,
            endpoint,
            node.kinesis_address,
            node.data_dir.display()
        ));
    }
    text.push_str(&format!("use: --endpoint {}\n", endpoints.join(",")));
    text.push_str(&format!("  or: export STRAIT_ENDPOINT={}\n", endpoints.join(",")));
    text.push_str(&format!(
        "kinesis: aws kinesis --endpoint-url http://{} ...\n",
        nodes.first().map_or("", |node| node.kinesis_address.as_str())
    ));
    // A closed standard output must not bring the cluster down.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush());
}

/// Stops every running child: SIGTERM, then SIGKILL for those left after the grace period.
async fn stop_all(running: &mut BTreeMap<u64, u32>, exits: &mut mpsc::UnboundedReceiver<Exit>) {
    if running.is_empty() {
        return;
    }
    eprintln!("strait dev: stopping {} node(s)", running.len());
    for pid in running.values() {
        signal(*pid, libc::SIGTERM);
    }
    wait_for_exits(running, exits, GRACE_PERIOD).await;
    if running.is_empty() {
        return;
    }
    for (id, pid) in running.iter() {
        eprintln!("strait dev: node {id} did not stop within {GRACE_PERIOD:?}; killing it");
        signal(*pid, libc::SIGKILL);
    }
    wait_for_exits(running, exits, Duration::from_secs(5)).await;
}

/// Waits until every child in `running` has exited, or `limit` passes.
async fn wait_for_exits(
    running: &mut BTreeMap<u64, u32>,
    exits: &mut mpsc::UnboundedReceiver<Exit>,
    limit: Duration,
) {
    let deadline = Instant::now() + limit;
    while !running.is_empty() {
        match tokio::time::timeout_at(deadline, exits.recv()).await {
            Ok(Some((id, status))) => {
                running.remove(&id);
                if let Ok(status) = &status
                    && !status.success()
                {
                    eprintln!("strait dev: node {id} stopped ({})", describe_exit(&Ok(*status)));
                }
            }
            Ok(None) | Err(_) => return,
        }
    }
}

/// Sends `signal` to the process `pid`. The process is one of our unreaped children, so the
/// id cannot have been reused.
fn signal(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, signal);
    }
}

fn describe_exit(status: &std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(error) => format!("its status could not be read: {error}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(nodes: u64, base_port: u16) -> DevArgs {
        DevArgs {
            nodes,
            base_port,
            kinesis_base_port: 4567,
            data_dir: PathBuf::from("dev"),
            replication_factor: None,
            raft_quiet_after_ms: None,
            ready_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn nodes_take_consecutive_ports_and_their_own_directories() {
        let nodes = plan(&args(3, 7001)).expect("fits");
        let addresses: Vec<&str> = nodes.iter().map(|n| n.address.as_str()).collect();
        assert_eq!(addresses, ["127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"]);
        assert_eq!(nodes[2].data_dir, PathBuf::from("dev/node-3"));
        assert_eq!(nodes[2].kinesis_address, "127.0.0.1:4569");
    }

    #[test]
    fn ports_must_fit() {
        assert!(plan(&args(2, 65535)).is_err());
        assert!(plan(&args(1, 65535)).is_ok());
    }
}
