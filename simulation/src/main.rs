//! Runs simulations: one seed with a readable trace, or a sweep over many seeds.
//!
//! ```text
//! cargo run -p strait-simulation -- --seed 42 --trace
//! cargo run -p strait-simulation -- --seeds 10000
//! ```

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
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
    /// random, majority-crash, leader-churn or lying-disk.
    #[arg(long, default_value = "random")]
    scenario: String,
    /// Simulated seconds of workload under faults.
    #[arg(long, default_value_t = 15)]
    fault_window_secs: u64,
    /// Leave splits and merges out of random fault plans.
    #[arg(long)]
    no_reshard: bool,
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
        .init();
    let Some(scenario) = Scenario::parse(&args.scenario) else {
        eprintln!("unknown scenario {:?}", args.scenario);
        return ExitCode::FAILURE;
    };
    let seeds: Vec<u64> = match (args.seed, args.seeds) {
        (Some(seed), _) => vec![seed],
        (None, Some(count)) => (args.first_seed..args.first_seed + count).collect(),
        (None, None) => vec![args.first_seed],
    };
    let started = Instant::now();
    let mut failed = Vec::new();
    for seed in &seeds {
        let mut options = RunOptions::new(*seed);
        options.scenario = scenario;
        options.fault_window = Duration::from_secs(args.fault_window_secs);
        options.reshard = !args.no_reshard;
        let began = Instant::now();
        let outcome = run(options);
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
        "{} seeds, {} failed {:?}, {:.1}s",
        seeds.len(),
        failed.len(),
        failed,
        started.elapsed().as_secs_f64()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
