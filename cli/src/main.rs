//! `spate`: run jobs and benchmarks, and explain configuration.

mod bench;
mod catalog;
mod checkpoints;
mod cluster;
mod config_args;
mod heap;
mod launchers;
mod progress;
mod run;
mod savepoint;
mod sql;
mod sql_live;
mod sql_live_table;
mod sql_output;
mod sql_shell;
mod status;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Spate: a thread-per-core stream-processing engine.
#[derive(Parser, Debug)]
#[command(name = "spate", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run benchmarks.
    Bench {
        #[command(subcommand)]
        bench: bench::BenchCommand,
    },
    /// Run one of the example jobs (word-count, windowed-csv, session-window).
    Run(run::RunArgs),
    /// List and inspect checkpoints in a checkpoint directory.
    Checkpoints {
        #[command(subcommand)]
        command: checkpoints::CheckpointsCommand,
    },
    /// Inspect the layered configuration.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Run a coordinator: plans jobs onto workers and tracks them.
    Coordinator(Box<cluster::CoordinatorArgs>),
    /// Run a worker that joins a coordinator.
    Worker(cluster::WorkerArgs),
    /// Start, stop or inspect a local cluster.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
    },
    /// Submit a job to a cluster and wait for its result.
    Submit(cluster::SubmitArgs),
    /// Write a savepoint of a job running on a cluster.
    Savepoint(savepoint::SavepointArgs),
    /// Run a Flink SQL script (`spate sql -f job.sql`).
    Sql(sql::SqlArgs),
    /// Show a cluster's workers, running job, checkpoints and backpressure
    /// (from the coordinator's REST API).
    Status(status::StatusArgs),
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Print every effective setting and the layer that set it.
    Explain(config_args::ConfigArgs),
}

/// Raises the soft limit on open files to the hard one. A worker holds a
/// socket per data link, RocksDB files per core and checkpoint files being
/// written; the soft limit of many systems (1024) is below what a busy
/// worker or a coordinator with many clients needs, and the hard limit
/// (often 524288 or more) is what the administrator allowed.
fn raise_open_files_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) if soft < hard => {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
                tracing::warn!("cannot raise the open-files limit from {soft} to {hard}: {e}");
            } else {
                tracing::info!("open-files limit raised from {soft} to {hard}");
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!("cannot read the open-files limit: {e}"),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long-running processes log what they do; commands only warn.
    let default_filter = match cli.command {
        Command::Coordinator(_) | Command::Worker(_) => "info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_filter.into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if matches!(cli.command, Command::Coordinator(_) | Command::Worker(_)) {
        raise_open_files_limit();
    }
    let result = match cli.command {
        Command::Bench { bench } => bench::run(bench),
        Command::Run(args) => run::run(args),
        Command::Coordinator(args) => cluster::run_coordinator(*args),
        Command::Worker(args) => cluster::run_worker_cmd(args),
        Command::Cluster { command } => cluster::cluster(command),
        Command::Submit(args) => cluster::submit(args),
        Command::Savepoint(args) => savepoint::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Status(args) => status::run(args),
        Command::Checkpoints { command } => checkpoints::run(command),
        Command::Config {
            command: ConfigCommand::Explain(args),
        } => args
            .load()
            .map(|loaded| print!("{}", loaded.explain_table())),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            for cause in e.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
