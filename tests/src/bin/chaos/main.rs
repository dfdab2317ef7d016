//! `chaos`: puts a three-node Strait cluster through faults while producers write and a
//! reader follows every shard, then checks that every acknowledged record is stored exactly
//! once, in per-shard order, and reports the longest write outage per fault type.
//!
//! ```text
//! chaos run --mode netns  --duration 60     # strait serve processes in network namespaces
//! chaos run --mode docker --duration 60     # the strait:dev image as three containers
//! chaos check DIR                           # check a finished run's history again
//! ```
//!
//! Runs as root (namespaces, mounts, the Docker engine). `deploy/chaos/run.sh` is the
//! documented entry point; it builds what is missing first. The run directory keeps the
//! history (`history.jsonl`), the faults (`faults.json`), the report (`report.json`) and every
//! node's log.

mod checker;
mod cluster;
mod docker;
mod history;
mod nemesis;
mod netns;
mod workload;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::checker::Report;
use crate::cluster::{Cluster, NODES};
use crate::history::Fault;
use crate::nemesis::{Nemesis, log};

#[derive(Debug, Parser)]
#[command(name = "chaos", about = "Fault-injection test of a three-node Strait cluster")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Starts a cluster, runs the workload through the fault schedule and checks the history.
    Run(RunArgs),
    /// The workload process (started by `run`, inside the client's network).
    Workload(workload::WorkloadArgs),
    /// Checks the history of a finished run again.
    Check {
        /// The run directory, holding history.jsonl and faults.json.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// `strait serve` processes in network namespaces.
    Netns,
    /// The image as containers on the Docker engine.
    Docker,
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[arg(long, value_enum, default_value = "netns")]
    mode: Mode,
    /// Seconds of faults: the schedule repeats until they are used up (at least once).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Seconds each fault is held before it is healed.
    #[arg(long, default_value_t = 5)]
    hold: u64,
    /// Records per second written over all producers.
    #[arg(long, default_value_t = 200)]
    rate: u32,
    /// The run directory; by default a new one under /var/tmp.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// The `strait` binary (default: next to this one).
    #[arg(long, env = "STRAIT_BIN")]
    strait: Option<PathBuf>,
    /// The image for --mode docker.
    #[arg(long, env = "STRAIT_IMAGE", default_value = "strait:dev")]
    image: String,
}

/// Set by SIGINT and SIGTERM: every wait of the orchestrator checks it, so an interrupted
/// run unwinds and its clusters clean up after themselves.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Sleeps, failing early once the run is interrupted.
pub fn interruptible_sleep(duration: Duration) -> Result<()> {
    let deadline = Instant::now() + duration;
    loop {
        if INTERRUPTED.load(Ordering::SeqCst) {
            bail!("interrupted");
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Workload(args) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(anyhow::Error::from)
            .and_then(|rt| rt.block_on(workload::run(args)))
            .map(|()| true),
        Command::Check { dir } => check_dir(&dir),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The workload process and what it reports.
struct WorkloadProcess {
    child: Child,
    acked: Arc<AtomicU64>,
    oldest_last_ack: Arc<AtomicU64>,
    ready: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
}

impl WorkloadProcess {
    fn spawn(cluster: &dyn Cluster, dir: &Path, rate: u32) -> Result<WorkloadProcess> {
        let me = std::env::current_exe()?;
        let workload_log = std::fs::File::create(dir.join("workload.log"))?;
        let mut child = cluster
            .client_command(&me)
            .arg("workload")
            .arg(format!("--endpoints={}", cluster.endpoints().join(",")))
            .arg(format!("--rate={rate}"))
            .arg("--history")
            .arg(dir.join("history.jsonl"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(workload_log)
            .spawn()
            .context("starting the workload")?;
        let acked = Arc::new(AtomicU64::new(0));
        let oldest_last_ack = Arc::new(AtomicU64::new(0));
        let ready = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let stdout = child.stdout.take().context("workload stdout")?;
        let (a, o, r, d) = (
            acked.clone(),
            oldest_last_ack.clone(),
            ready.clone(),
            done.clone(),
        );
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line == "ready" {
                    r.store(true, Ordering::SeqCst);
                } else if let Some(rest) = line.strip_prefix("progress ") {
                    for (name, value) in rest.split_whitespace().filter_map(|f| f.split_once('=')) {
                        let value = value.parse().unwrap_or(0);
                        match name {
                            "acked" => a.store(value, Ordering::SeqCst),
                            "oldest_last_ack" => o.store(value, Ordering::SeqCst),
                            _ => {}
                        }
                    }
                } else if line.starts_with("done") {
                    d.store(true, Ordering::SeqCst);
                    log(&format!("workload {line}"));
                }
            }
        });
        Ok(WorkloadProcess {
            child,
            acked,
            oldest_last_ack,
            ready,
            done,
        })
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.ready.load(Ordering::SeqCst) {
            if let Some(status) = self.child.try_wait()? {
                bail!("the workload exited ({status}) before it was ready: see workload.log");
            }
            if Instant::now() > deadline {
                bail!("the workload was not ready after {timeout:?}: see workload.log");
            }
            interruptible_sleep(Duration::from_millis(100))?;
        }
        Ok(())
    }

    /// Tells the workload to stop (closes its stdin) and waits for its final read.
    fn finish(&mut self, timeout: Duration) -> Result<()> {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() || !self.done.load(Ordering::SeqCst) {
                    bail!("the workload failed ({status}): see workload.log");
                }
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the workload did not finish within {timeout:?}: see workload.log");
            }
            interruptible_sleep(Duration::from_millis(100))?;
        }
    }
}

impl Drop for WorkloadProcess {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn run(args: RunArgs) -> Result<bool> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("chaos run needs root (network namespaces, mounts, the Docker engine)");
    }
    catch_interrupts();
    let run_id = format!("strait-chaos-{}", std::process::id());
    let dir = match args.dir {
        Some(dir) => dir,
        None => PathBuf::from("/var/tmp").join(&run_id),
    };
    std::fs::create_dir_all(&dir)?;
    let dir = dir.canonicalize()?;
    let strait = match args.strait {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("strait"),
    };
    if !strait.exists() {
        bail!(
            "{} not found: build it with `cargo build -p strait-cli`",
            strait.display()
        );
    }
    log(&format!("{:?} run in {}", args.mode, dir.display()));

    let mut cluster: Box<dyn Cluster> = match args.mode {
        Mode::Netns => Box::new(netns::Netns::up(&dir, &strait)?),
        Mode::Docker => Box::new(docker::Docker::up(&dir, &args.image, &run_id)?),
    };
    let started = Instant::now();
    for node in 1..=NODES {
        cluster.start(node)?;
    }
    let hold = Duration::from_secs(args.hold);
    let mut workload;
    let faults = {
        let mut nemesis = Nemesis {
            cluster: cluster.as_mut(),
            strait: strait.clone(),
            acked: Arc::new(AtomicU64::new(0)),
            oldest_last_ack: Arc::new(AtomicU64::new(0)),
            hold,
            faults: Vec::new(),
        };
        nemesis.wait_ready()?;
        log(&format!(
            "cluster ready after {:.1}s",
            started.elapsed().as_secs_f64()
        ));
        workload = WorkloadProcess::spawn(nemesis.cluster, &dir, args.rate)?;
        nemesis.acked = workload.acked.clone();
        nemesis.oldest_last_ack = workload.oldest_last_ack.clone();
        workload.wait_ready(Duration::from_secs(90))?;
        log("workload running");
        interruptible_sleep(hold)?;
        let faults_started = Instant::now();
        let outcome = nemesis.run(Duration::from_secs(args.duration));
        // Whatever happened, record what was injected so far.
        std::fs::write(
            dir.join("faults.json"),
            serde_json::to_vec_pretty(&nemesis.faults)?,
        )?;
        outcome?;
        log(&format!(
            "{} faults in {:.0}s; quiet period, then the final read",
            nemesis.faults.len(),
            faults_started.elapsed().as_secs_f64()
        ));
        interruptible_sleep(hold)?;
        nemesis.faults
    };
    workload.finish(Duration::from_secs(300))?;
    cluster.save_logs()?;
    drop(cluster);
    let passed = report(&dir, &faults, started.elapsed())?;
    Ok(passed)
}

fn check_dir(dir: &Path) -> Result<bool> {
    let faults: Vec<Fault> = serde_json::from_slice(&std::fs::read(dir.join("faults.json"))?)?;
    report(dir, &faults, Duration::ZERO)
}

/// Checks the run's history, prints the summary and writes report.json.
fn report(dir: &Path, faults: &[Fault], elapsed: Duration) -> Result<bool> {
    let events = history::read_events(&dir.join("history.jsonl"))?;
    let report = checker::check(&events, faults);
    std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(&report)?)?;
    print!("{}", summary(&report, elapsed));
    println!("run directory: {}", dir.display());
    Ok(report.passed())
}

fn summary(report: &Report, elapsed: Duration) -> String {
    let mut out = String::new();
    if !elapsed.is_zero() {
        out.push_str(&format!(
            "run time: {:.0}s, faults: {}\n",
            elapsed.as_secs_f64(),
            report.faults.len()
        ));
    }
    out.push_str(&format!(
        "records acknowledged: {}, verified (stored once, in order, where acknowledged): {}\n\
         outcome unknown: {} ({} of them stored), read by the follower: {}, in the final read: {}\n",
        report.acknowledged,
        report.verified,
        report.unknown,
        report.unknown_stored,
        report.read_records,
        report.final_records
    ));
    if report.anomalies.is_empty() {
        out.push_str("anomalies: none\n");
    }
    for (name, (count, examples)) in &report.anomalies {
        out.push_str(&format!("ANOMALY {name}: {count}\n"));
        for example in examples {
            out.push_str(&format!("    {example}\n"));
        }
    }
    out.push_str(&format!(
        "longest write outage per fault type (baseline before the faults: {} ms)\n\
         {:<16} {:>5} {:>14} {:>14} {:>10} {:>9}  errors seen\n",
        report.baseline_outage_ms, "fault", "times", "producer (ms)", "cluster (ms)", "failed", "lasted"
    ));
    for kind in nemesis::SCHEDULE {
        let of_kind: Vec<_> = report.faults.iter().filter(|f| f.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let max = |f: fn(&checker::FaultOutage) -> u64| of_kind.iter().map(|o| f(o)).max().unwrap_or(0);
        let mut errors: Vec<&str> = of_kind
            .iter()
            .flat_map(|o| o.errors.iter().map(String::as_str))
            .collect();
        errors.sort_unstable();
        errors.dedup();
        out.push_str(&format!(
            "{:<16} {:>5} {:>14} {:>14} {:>10} {:>8.1}s  {}\n",
            kind,
            of_kind.len(),
            max(|o| o.longest_producer_outage_ms),
            max(|o| o.longest_global_gap_ms),
            of_kind.iter().map(|o| o.failed_attempts).sum::<usize>(),
            max(|o| o.duration_ms) as f64 / 1000.0,
            errors.join(", ")
        ));
    }
    out.push_str(
        "(producer: longest wait from sending a batch to its acknowledgement; cluster: longest time \
         without any acknowledgement; failed: write attempts that failed or timed out; lasted: \
         longest time from injecting the fault to writes flowing again)\n",
    );
    out
}
