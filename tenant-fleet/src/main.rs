//! `tenant-fleet`: sqlx's migration files applied to every tenant home (schema or
//! database) with tenant-query's fleet migrator. A thin layer over
//! `tenant_query::fleet`: the arguments, the homes file, the progress display.
//!
//! ```text
//! tenant-fleet --control-url postgres://.../control --cell eu=postgres://.../app \
//!     --homes homes.txt --migrations migrations plan|migrate|resume|status
//! ```
//!
//! Exit status: 0 when every home is migrated (or current), 1 when some failed or were
//! left for `resume`, 2 when the command could not run.

mod homes;
mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tenant_query::fleet::{Fleet, Migrations, RunOptions, RunReport};
use uuid::Uuid;

#[derive(Parser)]
#[command(name = "tenant-fleet", version, about)]
struct Args {
    /// The control database, where runs are recorded.
    #[arg(long, env = "TENANT_FLEET_CONTROL_URL")]
    control_url: String,
    /// The directory of sqlx migration files.
    #[arg(long, default_value = "migrations")]
    migrations: PathBuf,
    /// A cell, as name=postgres://...; repeat for each.
    #[arg(long = "cell", required = true)]
    cells: Vec<String>,
    /// The homes file: `<tenant uuid> <cell> [<schema>]` a line.
    #[arg(long)]
    homes: PathBuf,
    /// Connections per cell at most.
    #[arg(long, default_value_t = 4)]
    budget: u32,
    /// Homes migrated at once over the fleet.
    #[arg(long, default_value_t = 8)]
    parallel: usize,
    /// Tenants to migrate first; the run stops if one fails (repeat, or comma-separated).
    #[arg(long, value_delimiter = ',')]
    canary: Vec<Uuid>,
    /// Leave out the library's audit log (built-in migration 0).
    #[arg(long)]
    without_audit_log: bool,
    /// Also log every home started and applied (failures are always logged).
    #[arg(long, short)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The dry run: which homes get which versions.
    Plan,
    /// A new run over every home with pending versions.
    Migrate,
    /// Takes up a run's failed, locked and unfinished homes (the latest run by default).
    Resume {
        /// The run to resume.
        #[arg(long)]
        run: Option<Uuid>,
    },
    /// Every home: applied, pending, checksum drift, last failure.
    Status,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let level = if args.verbose {
        tracing::Level::INFO
    } else {
        tracing::Level::WARN
    };
    tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .init();
    match run(args).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("tenant-fleet: {message}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode, String> {
    let cells = homes::cells(&args.cells, args.budget)?;
    let text = std::fs::read_to_string(&args.homes)
        .map_err(|e| format!("{}: {e}", args.homes.display()))?;
    let homes = homes::parse(&text, &cells)?;
    let mut migrations = Migrations::from_dir(&args.migrations)
        .await
        .map_err(|e| e.to_string())?;
    if !args.without_audit_log {
        migrations = migrations.with_audit_log();
    }
    let control = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&args.control_url)
        .await
        .map_err(|e| format!("control database: {e}"))?;
    let fleet = Fleet::new(control, migrations);
    let options = RunOptions::new()
        .parallel(args.parallel)
        .canary(args.canary.iter().copied());
    let fail = |e: tenant_query::fleet::FleetError| e.to_string();
    match args.command {
        Command::Plan => {
            let plan = fleet.plan(&homes).await.map_err(fail)?;
            for home in &plan {
                println!(
                    "{}\tpending {:?}\tdrift {:?}",
                    home.home, home.pending, home.drift
                );
            }
            println!("{} of {} homes have work to do", plan.len(), homes.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            let report = fleet.migrate(&homes, &progress::attach(options)).await;
            Ok(summary(&report.map_err(fail)?))
        }
        Command::Resume { run } => {
            let report = fleet.resume(run, &homes, &progress::attach(options)).await;
            Ok(summary(&report.map_err(fail)?))
        }
        Command::Status => {
            let mut behind = 0;
            for home in fleet.status(&homes).await.map_err(fail)? {
                behind += usize::from(!home.is_current());
                let failure = home
                    .failure
                    .as_ref()
                    .map(|f| {
                        format!(
                            "\tfailed at {:?}: {}",
                            f.version.unwrap_or_default(),
                            f.error.as_deref().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default();
                println!(
                    "{}\tapplied {:?}\tpending {:?}\tdrift {:?}\tunknown {:?}{failure}",
                    home.home, home.applied, home.pending, home.drift, home.unknown
                );
            }
            Ok(if behind == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
    }
}

fn summary(report: &RunReport) -> ExitCode {
    for failure in &report.failed {
        println!(
            "failed\t{}\tversion {}\t{}",
            failure.home, failure.version, failure.error
        );
    }
    println!(
        "run {}: {} migrated ({} versions applied), {} failed, {} locked, {} not started, \
         {} unchanged{}",
        report.run,
        report.migrated.len(),
        report.applied,
        report.failed.len(),
        report.locked.len(),
        report.not_started.len(),
        report.unchanged,
        if report.canary_failed {
            "; a canary failed, the run stopped"
        } else {
            ""
        }
    );
    if report.is_complete() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
