//! `spate run`: the example jobs.

#[allow(dead_code)]
#[path = "../../engine/examples/session_window.rs"]
mod session_window;
#[allow(dead_code)]
#[path = "../../engine/examples/windowed_csv.rs"]
mod windowed_csv;
#[allow(dead_code)]
#[path = "../../engine/examples/word_count.rs"]
mod word_count;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, ValueEnum};

use crate::config_args::ConfigArgs;

/// The example jobs.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum Example {
    /// Running word count over a text file.
    WordCount,
    /// Per-sensor 10 s tumbling windows over a CSV file.
    WindowedCsv,
    /// Per-user session windows over a JSON-lines click file.
    SessionWindow,
}

/// `spate run <job>`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// The job to run.
    #[arg(value_enum)]
    job: Example,
    /// Input file (default: the example's bundled data).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Write results as part files into this directory instead of printing them.
    #[arg(long)]
    output: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

fn bundled(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../engine/examples/data")
        .join(name)
}

/// Builds an example job from its input file and optional output directory.
type BuildFn = fn(&Path, Option<&Path>) -> spate::Result<spate::Job>;

/// Runs the example and prints a one-line summary on stderr.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    let config = args.config.load()?.into_config();
    let (default_input, build): (&str, BuildFn) = match args.job {
        Example::WordCount => ("words.txt", word_count::build),
        Example::WindowedCsv => ("readings.csv", windowed_csv::build),
        Example::SessionWindow => ("clicks.jsonl", session_window::build),
    };
    let input = args.input.unwrap_or_else(|| bundled(default_input));
    if !input.exists() {
        anyhow::bail!("the input file {} does not exist", input.display());
    }
    let job = build(&input, args.output.as_deref()).context("building the job")?;
    let result = job.run(&config)?;
    eprintln!(
        "{}: {} input records, {} output records in {:.3} s on {} core(s)",
        job.name(),
        result.metrics.source_records,
        result.metrics.sink_records(),
        result.wall.as_secs_f64(),
        result.cores
    );
    Ok(())
}
