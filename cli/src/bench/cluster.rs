//! `spate bench cluster`: one Nexmark query on a local cluster of N 1-core
//! workers beside the same query in one process with N cores, in
//! alternating rounds on the same machine. On a shared machine whose speed
//! drifts from minute to minute, only runs side by side compare; each run
//! is a fresh process, and the checksums of all runs must agree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use spate_bench::report::human;

use super::child::{NexmarkRun as Run, median_of, nexmark_run, spate_cmd};
use super::results::write_stamped;

/// `spate bench cluster`.
#[derive(Args, Debug)]
pub struct ClusterBenchArgs {
    /// The Nexmark query.
    #[arg(long, default_value = "q5")]
    query: String,
    /// Events per run.
    #[arg(long, default_value_t = 40_000_000)]
    events: u64,
    /// Worker processes of one core each; the single process gets as many cores.
    #[arg(long, default_value_t = 2)]
    workers: u32,
    /// Rounds, each one single-process run and one cluster run.
    #[arg(long, default_value_t = 3)]
    rounds: u32,
    /// Where the cluster keeps its pid files and logs.
    #[arg(long, default_value = "./spate-bench-cluster")]
    dir: PathBuf,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write `<date>-<machine>-cluster-<query>.{json,md}` into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct ClusterBench {
    query: String,
    events: u64,
    workers: u32,
    one_process: Vec<Run>,
    cluster: Vec<Run>,
    one_process_median: f64,
    cluster_median: f64,
    /// Median over the rounds of cluster / single-process throughput: each
    /// round's two runs are minutes apart at most, so the pairing cancels
    /// the machine's drift.
    ratio: f64,
    /// Median cluster / median single-process throughput (unpaired).
    ratio_of_medians: f64,
}

/// Stops the bench's cluster even when a run fails.
struct ClusterGuard<'a>(&'a Path);

impl Drop for ClusterGuard<'_> {
    fn drop(&mut self) {
        let _ = spate_cmd()
            .and_then(|mut c| Ok(c.args(["cluster", "stop", "--dir"]).arg(self.0).output()?));
    }
}

fn median(runs: &[Run]) -> f64 {
    median_of(runs.iter().map(|r| r.events_per_s).collect())
}

/// Runs the command.
pub fn run(args: ClusterBenchArgs) -> anyhow::Result<()> {
    if args.workers == 0 || args.rounds == 0 {
        bail!("--workers and --rounds must be at least 1");
    }
    let start = spate_cmd()?
        .args(["cluster", "start", "--cores-per-worker", "1", "--workers"])
        .arg(args.workers.to_string())
        .arg("--dir")
        .arg(&args.dir)
        .output()?;
    if !start.status.success() {
        bail!(
            "cannot start the cluster: {}",
            String::from_utf8_lossy(&start.stderr).trim()
        );
    }
    let _guard = ClusterGuard(&args.dir);
    let addr = std::fs::read_to_string(args.dir.join("coordinator.addr"))
        .context("the cluster wrote no coordinator.addr")?;
    let n = args.workers.to_string();
    let local = ["--cores".to_string(), n.clone()];
    let remote = [
        "--cluster".to_string(),
        addr.trim().to_string(),
        "--parallelism".to_string(),
        n,
    ];
    let (mut one_process, mut cluster) = (Vec::new(), Vec::new());
    for round in 1..=args.rounds {
        one_process.push(nexmark_run(&args.query, args.events, &local)?);
        cluster.push(nexmark_run(&args.query, args.events, &remote)?);
        if !args.json {
            eprintln!(
                "round {round}/{}: one process {}/s, cluster {}/s",
                args.rounds,
                human(one_process[one_process.len() - 1].events_per_s),
                human(cluster[cluster.len() - 1].events_per_s)
            );
        }
    }
    let all = one_process.iter().chain(&cluster);
    if let Some(odd) = all.clone().find(|r| r.checksum != one_process[0].checksum) {
        bail!(
            "the runs disagree: checksum {} beside {}",
            odd.checksum,
            one_process[0].checksum
        );
    }
    let (one_process_median, cluster_median) = (median(&one_process), median(&cluster));
    let paired = one_process
        .iter()
        .zip(&cluster)
        .map(|(one, cl)| cl.events_per_s / one.events_per_s.max(1e-9))
        .collect();
    let bench = ClusterBench {
        query: args.query.clone(),
        events: args.events,
        workers: args.workers,
        ratio: median_of(paired),
        ratio_of_medians: cluster_median / one_process_median.max(1e-9),
        one_process,
        cluster,
        one_process_median,
        cluster_median,
    };
    if args.json {
        println!("{}", serde_json::to_string(&bench)?);
    } else {
        print!("{}", summary(&bench));
    }
    if let Some(dir) = &args.results_dir {
        let (json, md) = write(dir, &bench)?;
        eprintln!("results written to {} and {}", json.display(), md.display());
    }
    Ok(())
}

fn summary(b: &ClusterBench) -> String {
    format!(
        "query           {}\nevents          {} per run, {} rounds\n\
         one process     {} events/s median ({} cores)\n\
         cluster         {} events/s median ({} workers × 1 core)\n\
         cluster / one   {:.2} (median of the rounds' ratios; {:.2} of the medians)\n\
         checksum        {} (every run)\n",
        b.query,
        human(b.events as f64),
        b.one_process.len(),
        human(b.one_process_median),
        b.workers,
        human(b.cluster_median),
        b.workers,
        b.ratio,
        b.ratio_of_medians,
        b.one_process.first().map_or("", |r| r.checksum.as_str()),
    )
}

fn write(dir: &Path, b: &ClusterBench) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut md = format!(
        "{} events per run; rounds alternate one process with {} cores and a local cluster of {} worker processes × 1 core (loopback TCP between them).\n\n",
        b.events, b.workers, b.workers
    );
    md.push_str(
        "| round | one process events/s | cluster events/s | cluster / one |\n|---|---|---|---|\n",
    );
    for (i, (one, cl)) in b.one_process.iter().zip(&b.cluster).enumerate() {
        writeln!(
            md,
            "| {} | {} | {} | {:.2} |",
            i + 1,
            human(one.events_per_s),
            human(cl.events_per_s),
            cl.events_per_s / one.events_per_s.max(1e-9)
        )?;
    }
    writeln!(
        md,
        "| median | {} | {} | **{:.2}** |\n\nThe ratio is the median of the rounds' ratios (the ratio of the medians: {:.2}). \
         Every run's output: {} records, checksum {}.",
        human(b.one_process_median),
        human(b.cluster_median),
        b.ratio,
        b.ratio_of_medians,
        b.one_process.first().map_or(0, |r| r.output_records),
        b.one_process.first().map_or("", |r| r.checksum.as_str()),
    )?;
    let title = format!("Nexmark {} on a cluster beside one process", b.query);
    write_stamped(dir, &format!("cluster-{}", b.query), &title, b, &md)
}
