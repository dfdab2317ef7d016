//! The fault schedule: one fault after another, each held for a while and then healed, and
//! the next one only once every node reports the cluster ready and writes are being
//! acknowledged again. Cycles through the schedule until the run's duration is used up.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cluster::{Cluster, DISK_NODE, MIN_FREE_DISK_BYTES, NODES};
use crate::history::{Fault, now_ms};
use crate::interruptible_sleep;

/// The faults, in the order they are injected.
pub const SCHEDULE: [&str; 6] = [
    "kill9",
    "pause",
    "partition",
    "rolling-restart",
    "restart",
    "disk-full",
];
/// How long the cluster may take to be ready again after a fault is healed.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Free space the disk-full fault leaves: below MIN_FREE_DISK_BYTES, so the node refuses
/// writes, but enough for the Raft log entries it still has to append as a follower.
const LEFT_FREE: u64 = MIN_FREE_DISK_BYTES / 2;

pub struct Nemesis<'a> {
    pub cluster: &'a mut dyn Cluster,
    /// The `strait` binary, for `strait cluster status`.
    pub strait: PathBuf,
    /// Records acknowledged so far, as the workload reports them.
    pub acked: Arc<AtomicU64>,
    /// When the producer acknowledged least recently got its last acknowledgement.
    pub oldest_last_ack: Arc<AtomicU64>,
    /// How long each fault is held.
    pub hold: Duration,
    pub faults: Vec<Fault>,
}

impl Nemesis<'_> {
    /// The cluster status as one node sees it: (ready, parsed JSON).
    fn status(&self, node: usize) -> Option<(bool, serde_json::Value)> {
        let endpoint = &self.cluster.endpoints()[node - 1];
        let output = self
            .cluster
            .client_command(&self.strait)
            .args([
                "cluster",
                "status",
                "--format",
                "json",
                "--timeout",
                "2s",
                "--endpoint",
                endpoint,
            ])
            .output()
            .ok()?;
        let json = serde_json::from_slice(&output.stdout).ok()?;
        Some((output.status.success(), json))
    }

    /// Waits until every node reports the cluster ready.
    pub fn wait_ready(&self) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        for node in 1..=NODES {
            loop {
                match self.status(node) {
                    Some((true, _)) => break,
                    other if Instant::now() > deadline => {
                        let reasons = other.map(|(_, json)| json["not_ready_reasons"].to_string());
                        bail!("node {node} not ready after {READY_TIMEOUT:?}: {reasons:?}");
                    }
                    _ => interruptible_sleep(Duration::from_millis(250))?,
                }
            }
        }
        Ok(())
    }

    /// Waits until every producer has been acknowledged since `since` (ms since the epoch).
    fn wait_writes(&self, since: u64) -> Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while self.oldest_last_ack.load(Ordering::Relaxed) < since {
            if Instant::now() > deadline {
                bail!("writes did not resume within {READY_TIMEOUT:?} of healing");
            }
            interruptible_sleep(Duration::from_millis(50))?;
        }
        Ok(())
    }

    /// How many groups (the control group included) each node leads, as one node sees it.
    fn leaders(&self) -> [usize; NODES + 1] {
        let mut counts = [0usize; NODES + 1];
        if let Some((_, json)) = (1..=NODES).find_map(|n| self.status(n)) {
            let leaders = json["groups"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|g| &g["leader"])
                .chain(std::iter::once(&json["control_leader"]));
            for leader in leaders.filter_map(serde_json::Value::as_u64) {
                if let Some(count) = counts.get_mut(leader as usize) {
                    *count += 1;
                }
            }
        }
        counts
    }

    /// The node leading the most groups; the lowest id on a tie.
    fn leader_heavy(&self) -> usize {
        let counts = self.leaders();
        (1..=NODES)
            .max_by_key(|&n| (counts[n], std::cmp::Reverse(n)))
            .unwrap_or(1)
    }

    /// Runs the schedule until `duration` has passed (at least once through).
    pub fn run(&mut self, duration: Duration) -> Result<()> {
        let started = Instant::now();
        let mut cycle = 0;
        loop {
            for kind in SCHEDULE {
                // Rotate the target so each node takes its share of the faults.
                let node = (cycle + 1) % NODES + 1;
                self.inject(kind, node)?;
            }
            cycle += 1;
            if started.elapsed() >= duration {
                return Ok(());
            }
        }
    }

    fn inject(&mut self, kind: &str, rotated: usize) -> Result<()> {
        let node = match kind {
            "kill9" => self.leader_heavy(),
            "disk-full" => DISK_NODE,
            "rolling-restart" => 0,
            _ => rotated,
        };
        let start = now_ms();
        let acked_before = self.acked.load(Ordering::Relaxed);
        let leads = self.leaders()[node.min(NODES)];
        log(&format!("{kind} node {node} (leading {leads} groups)"));
        match kind {
            "kill9" => {
                self.cluster.kill(node)?;
                interruptible_sleep(self.hold)?;
                self.cluster.start(node)?;
            }
            "pause" => {
                self.cluster.pause(node)?;
                interruptible_sleep(self.hold)?;
                self.cluster.resume(node)?;
            }
            "partition" => {
                self.cluster.isolate(node)?;
                interruptible_sleep(self.hold)?;
                self.cluster.rejoin(node)?;
            }
            "rolling-restart" => {
                for n in 1..=NODES {
                    self.cluster.stop(n)?;
                    self.cluster.start(n)?;
                    self.wait_ready()?;
                }
            }
            "restart" => {
                self.cluster.stop(node)?;
                interruptible_sleep(self.hold)?;
                self.cluster.start(node)?;
            }
            "disk-full" => {
                let ballast = fill_disk(&self.cluster.disk_mount())?;
                interruptible_sleep(self.hold)?;
                std::fs::remove_file(&ballast)?;
            }
            other => bail!("unknown fault {other}"),
        }
        let healed = now_ms();
        let acked_during = self.acked.load(Ordering::Relaxed) - acked_before;
        self.wait_ready()?;
        self.wait_writes(healed)?;
        let recovered = now_ms();
        log(&format!(
            "{kind} node {node}: healed after {:.1}s, recovered after {:.1}s, {acked_during} records acknowledged meanwhile",
            (healed - start) as f64 / 1000.0,
            (recovered - start) as f64 / 1000.0
        ));
        self.faults.push(Fault {
            kind: kind.to_string(),
            node,
            start,
            healed,
            recovered,
            acked_during,
        });
        Ok(())
    }
}

/// Fills the disk node's tmpfs until less than MIN_FREE_DISK_BYTES is free; returns the
/// ballast file to delete.
fn fill_disk(mount: &Path) -> Result<PathBuf> {
    let available = available_bytes(mount)?;
    let size = available.saturating_sub(LEFT_FREE);
    let ballast = mount.join("ballast");
    let mut file =
        std::fs::File::create(&ballast).with_context(|| format!("creating {}", ballast.display()))?;
    // Written, not truncated: a sparse file would take no space on tmpfs.
    let chunk = vec![0u8; 1 << 20];
    let mut written = 0u64;
    while written < size {
        let n = chunk.len().min((size - written) as usize);
        file.write_all(&chunk[..n])?;
        written += n as u64;
    }
    file.sync_all()?;
    log(&format!(
        "disk of node {DISK_NODE}: {} MiB written, {} MiB left free",
        written >> 20,
        available_bytes(mount)? >> 20
    ));
    Ok(ballast)
}

fn available_bytes(path: &Path) -> Result<u64> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())?;
    // SAFETY: statvfs writes into the struct we pass and reads the NUL-terminated path.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        bail!("statvfs {}: {}", path.display(), std::io::Error::last_os_error());
    }
    Ok(stat.f_bavail as u64 * stat.f_frsize as u64)
}

/// A line on standard error, stamped with the seconds since the run began.
pub fn log(message: &str) {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let elapsed = START.get_or_init(Instant::now).elapsed();
    eprintln!("[chaos {:7.1}s] {message}", elapsed.as_secs_f64());
}
