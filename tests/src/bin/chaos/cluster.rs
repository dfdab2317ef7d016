//! The three nodes under test and the faults that can be applied to them, behind one trait
//! with two implementations: `strait serve` processes in network namespaces (`netns.rs`)
//! and the Strait image as containers on the Docker engine (`docker.rs`).
//!
//! Node 3 keeps its data on a small tmpfs of its own, so a disk can be filled on purpose.
//! Everything a cluster creates (namespaces, routes, containers, networks, mounts,
//! processes) is removed when it is dropped, also after an error or an interrupt.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The nodes of a chaos cluster are 1, 2 and 3.
pub const NODES: usize = 3;
/// The node whose data directory is a small tmpfs.
pub const DISK_NODE: usize = 3;
/// Size of that tmpfs.
const DISK_SIZE: &str = "512m";
/// Writes are refused below this much free space: the disk-full fault fills the tmpfs
/// past it, while leaving room for the Raft log a follower must still append.
pub const MIN_FREE_DISK_BYTES: u64 = 64 << 20;
/// The gRPC and Kinesis ports inside a namespace or container.
pub const GRPC_PORT: u16 = 7001;
pub const KINESIS_PORT: u16 = 4567;

/// A running three-node cluster that faults can be applied to.
pub trait Cluster {
    /// Starts a node, or starts it again with its data intact.
    fn start(&mut self, node: usize) -> Result<()>;
    /// SIGKILL: no shutdown, no flush.
    fn kill(&mut self, node: usize) -> Result<()>;
    /// SIGTERM, then waits for the node to exit (SIGKILL after a bound).
    fn stop(&mut self, node: usize) -> Result<()>;
    /// SIGSTOP and SIGCONT.
    fn pause(&mut self, node: usize) -> Result<()>;
    fn resume(&mut self, node: usize) -> Result<()>;
    /// Cuts a node off the network completely, and reconnects it.
    fn isolate(&mut self, node: usize) -> Result<()>;
    fn rejoin(&mut self, node: usize) -> Result<()>;
    /// The nodes' gRPC endpoints, as reachable by `client_command`.
    fn endpoints(&self) -> Vec<String>;
    /// A command running `program` where the endpoints are reachable.
    fn client_command(&self, program: &Path) -> Command;
    /// The mount point of the disk node's tmpfs, as seen by this process.
    fn disk_mount(&self) -> PathBuf;
    /// Copies what the nodes logged into the run directory, where it is not there already.
    fn save_logs(&self) -> Result<()>;
}

/// Runs a command to completion; its stderr goes into the error.
pub fn run(command: &mut Command) -> Result<String> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Runs a clean-up command, ignoring failure (the thing may already be gone).
pub fn run_quietly(command: &mut Command) {
    let _ = command.output();
}

/// Sends a signal to a process we started.
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; a stale pid at worst gets ESRCH.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// A /24 of 10.<second>.<k>.0 that no route of this machine covers, and its third octet.
pub fn free_subnet(second: u8) -> Result<String> {
    let routes = run(Command::new("ip").args(["-4", "route", "show", "table", "all"]))?;
    let start = std::process::id() as usize % 200;
    for k in (0..200).map(|i| 20 + (start + i) % 200) {
        let subnet = format!("10.{second}.{k}");
        if !routes.contains(&format!("{subnet}.")) {
            return Ok(subnet);
        }
    }
    bail!("no free 10.{second}.x.0/24 subnet")
}

/// Mounts the small tmpfs for the disk node at `mount`, with its data directory inside.
pub fn mount_small_disk(mount: &Path, owner: Option<u32>) -> Result<PathBuf> {
    std::fs::create_dir_all(mount)?;
    run(Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            &format!("size={DISK_SIZE},mode=0755"),
            "tmpfs",
        ])
        .arg(mount))?;
    let data = mount.join("data");
    std::fs::create_dir_all(&data)?;
    if let Some(uid) = owner {
        chown(&data, uid)?;
    }
    Ok(data)
}

/// Unmounts the small tmpfs (its contents go with it).
pub fn unmount_small_disk(mount: &Path) {
    run_quietly(Command::new("umount").arg("-l").arg(mount));
}

/// Gives a directory to a numeric user, for containers that run unprivileged.
pub fn chown(path: &Path, uid: u32) -> Result<()> {
    run(Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path))?;
    Ok(())
}

/// The `strait serve` arguments every node gets, after `serve`.
pub fn serve_args(
    node: usize,
    listen_host: &str,
    advertise: &str,
    peers: &[String],
    data_dir: &str,
) -> Vec<String> {
    let initial: Vec<String> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{}={p}", i + 1))
        .collect();
    vec![
        "serve".into(),
        format!("--node-id={node}"),
        format!("--listen={listen_host}:{GRPC_PORT}"),
        format!("--advertise={advertise}"),
        format!("--kinesis-listen={listen_host}:{KINESIS_PORT}"),
        format!("--data-dir={data_dir}"),
        format!("--initial-cluster={}", initial.join(",")),
        format!("--min-free-disk-bytes={MIN_FREE_DISK_BYTES}"),
    ]
}
