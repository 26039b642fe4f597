//! `spate-torture`: checks the committed output of an oracle job.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use spate_torture::{Expected, check};

#[derive(Parser, Debug)]
#[command(name = "spate-torture", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Check the committed output of an oracle job against a fault-free run.
    Check(CheckArgs),
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The oracle job's output directory (holds `state/` and `windows/`).
    #[arg(long)]
    output: PathBuf,
    /// The job's `--keys`.
    #[arg(long)]
    keys: u64,
    /// The job's `--records`.
    #[arg(long)]
    records: u64,
    /// The job's `--window-ms`.
    #[arg(long, default_value_t = 50)]
    window_ms: u64,
}

fn run_check(args: &CheckArgs) -> anyhow::Result<bool> {
    let expected = Expected {
        keys: args.keys,
        records: args.records,
        window_ms: args.window_ms,
    };
    let report = check(&args.output, &expected)?;
    print!("{report}");
    Ok(report.is_clean())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(args) => run_check(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
