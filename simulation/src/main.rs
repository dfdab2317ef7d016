//! Runs simulations: one seed with a readable trace, or a sweep over many seeds.
//!
//! ```text
//! cargo run -p strait-simulation -- --seed 42 --trace
//! cargo run -p strait-simulation -- --seeds 10000
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use strait_simulation::workload::ReaderOrder;
use strait_simulation::{RunOptions, Scenario, run};

#[derive(Debug, Parser)]
#[command(
    name = "strait-simulation",
    about = "Deterministic whole-cluster simulation of Strait"
)]
struct Args {
    /// Run this one seed.
    #[arg(long, conflicts_with = "seeds")]
    seed: Option<u64>,
    /// Run this many seeds, starting at --first-seed.
    #[arg(long)]
    seeds: Option<u64>,
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// random, majority-crash, leader-churn, reshard, clock-jumps or lying-disk.
    #[arg(long, default_value = "random")]
    scenario: String,
    /// Simulated seconds of workload under faults.
    #[arg(long, default_value_t = 15)]
    fault_window_secs: u64,
    /// Leave splits and merges out of random fault plans.
    #[arg(long)]
    no_reshard: bool,
    /// Leave clock jumps out of random fault plans (the other faults stay the same).
    #[arg(long)]
    no_clock_jumps: bool,
    /// The final reader's shard order: lineage, or children-first (unsafe, to show the
    /// checker failing).
    #[arg(long, default_value = "lineage")]
    reader: String,
    /// The nodes' --down-after in milliseconds (default 30000). Shorter than the faults,
    /// the control plane moves replicas off crashed and cut-off nodes during the run.
    #[arg(long)]
    down_after_ms: Option<u64>,
    /// Print the event log, one line per event.
    #[arg(long)]
    trace: bool,
    /// Stop a sweep at the first failing seed.
    #[arg(long)]
    fail_fast: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .with_timer(strait_simulation::log::SimTime)
        .with_ansi(false)
        .init();
    let Some(scenario) = Scenario::parse(&args.scenario) else {
        eprintln!("unknown scenario {:?}", args.scenario);
        return ExitCode::FAILURE;
    };
    let Some(reader) = ReaderOrder::parse(&args.reader) else {
        eprintln!("unknown reader order {:?}", args.reader);
        return ExitCode::FAILURE;
    };
    let seeds: Vec<u64> = match (args.seed, args.seeds) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (args.first_seed..args.first_seed + count).collect(),
        (None, None) => vec![args.first_seed],
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut totals = Totals::default();
    for seed in &seeds {
        let mut options = RunOptions::new(*seed);
        options.scenario = scenario;
        options.fault_window = Duration::from_secs(args.fault_window_secs);
        options.reshard = !args.no_reshard;
        options.clock_jumps = !args.no_clock_jumps;
        options.reader = reader;
        if let Some(ms) = args.down_after_ms {
            options.down_after = Duration::from_millis(ms);
        }
        let began = Instant::now();
        let outcome = run(options);
        totals.add(&outcome.history);
        if args.trace {
            print!("{}", outcome.history.event_log());
        }
        println!("{} ({:.1}s)", outcome.summary(), began.elapsed().as_secs_f64());
        if !outcome.passed() {
            for violation in &outcome.violations {
                println!("  violation {violation}");
            }
            println!("  replay: {}", outcome.options.replay_command());
            failed.push(*seed);
            if args.fail_fast {
                break;
            }
        }
    }
    println!(
        "{} seeds, {} failed {:?}, {:.1}s; faults: {}",
        seeds.len(),
        failed.len(),
        failed,
        started.elapsed().as_secs_f64(),
        totals
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Fault counts summed over a sweep, and the fewest of each any one seed got.
#[derive(Debug, Default)]
struct Totals {
    seeds: usize,
    sums: [usize; 6],
    mins: [usize; 6],
}

impl Totals {
    const NAMES: [&str; 6] = [
        "crashes",
        "crashes-losing-writes",
        "partitions",
        "leader-kills",
        "clock-jumps",
        "reshards",
    ];

    fn add(&mut self, h: &strait_simulation::history::History) {
        let counts = [
            h.crashes,
            h.lossy_crashes,
            h.partitions,
            h.leader_kills,
            h.clock_jumps,
            h.reshards,
        ];
        for (i, count) in counts.into_iter().enumerate() {
            self.sums[i] += count;
            self.mins[i] = if self.seeds == 0 {
                count
            } else {
                self.mins[i].min(count)
            };
        }
        self.seeds += 1;
    }
}

impl std::fmt::Display for Totals {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = Self::NAMES
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name}={} (min {}/seed)", self.sums[i], self.mins[i]))
            .collect();
        f.write_str(&parts.join(" "))
    }
}
