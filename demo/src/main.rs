//! `strangle-demo`: the whole strangler path on the fixture shop, under
//! load, in one command (`scripts/strangle-demo` builds and runs it).
//!
//! It starts two throwaway PostgreSQL clusters (the monolith's and the
//! catalog service's), the fixture monolith (`fixtures/shop-monolith`,
//! migrated and seeded) and the service extracted from it
//! (`fixtures/shop-catalog`); runs `strangler analyze` to write the plan and
//! moves the category tree's routes and tables to the service through
//! `strangler_plan::PlanFile`; starts `strangler proxy` and `strangler sync
//! run`; puts an open-loop load on the whole shop through the proxy; and
//! steps the category tree from the monolith to the service and back and
//! forth again (shadow, canary, live, cutover, owned, decommission, and a
//! rollback from every stage), printing `strangler status` after each step.
//! At the end it checks with plain SQL that every acknowledged write is in
//! the database that owns its table, and prints one summary line. The exit
//! code is 1 when a request failed or a write was lost, 2 on an error.

mod load;
mod report;
mod scenario;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

/// The scenario's settings (`strangle-demo --help`).
#[derive(Debug, Parser)]
#[command(
    name = "strangle-demo",
    about = "Strangle the fixture shop end to end, under load."
)]
pub struct Args {
    /// Seconds of load in all: each step keeps the load on for its share
    /// (the moves themselves take as long as they take on top).
    #[arg(long, default_value_t = 120)]
    pub duration: u64,
    /// Requests per second, sent at a fixed rate whatever the answers take
    /// (open loop).
    #[arg(long, default_value_t = 300)]
    pub rate: u32,
    /// Kill the catalog service at canary, and again while it owns its
    /// table, and start it again a few seconds later.
    #[arg(long)]
    pub fault: bool,
    /// The strangler binary.
    #[arg(long, env = "STRANGLER_BIN")]
    pub strangler: PathBuf,
    /// The built fixture monolith (`shop`).
    #[arg(long)]
    pub monolith: PathBuf,
    /// The built catalog service (`shop-catalog`).
    #[arg(long)]
    pub service: PathBuf,
    /// The monolith's source, for `strangler analyze`.
    #[arg(long, default_value = "fixtures/shop-monolith")]
    pub repo: PathBuf,
    /// Where the plan, the logs and the archive go (default: a fresh
    /// temporary directory, kept when the run fails).
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

impl Args {
    /// How long each of the scenario's steps keeps the load on.
    fn dwell(&self) -> Duration {
        Duration::from_millis(self.duration * 1000 / scenario::STEPS)
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("strangle-demo: cannot start a Tokio runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(scenario::run(&args)) {
        Ok(summary) if summary.passed() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("strangle-demo: {e:#}");
            ExitCode::from(2)
        }
    }
}
