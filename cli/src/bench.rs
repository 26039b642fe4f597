//! `spate bench nexmark`: runs Nexmark queries on the embedded engine and
//! reports throughput, latency, memory and the output checksum; optionally
//! runs the real Apache Flink beside it and writes the results files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use anyhow::Context;
use clap::{Args, Subcommand};
use spate_bench::nexmark::{GeneratorConfig, read_events_jsonl};
use spate_bench::queries::QUERIES;
use spate_bench::report::BenchReport;
use spate_bench::runner::{self, BenchSpec};
use spate_bench::source::EventInput;

use crate::config_args::ConfigArgs;
use crate::progress::Progress;

mod child;
mod cluster;
mod embed;
mod flink;
mod kafka;
mod latency;
mod latency_rounds;
mod net;
mod profiles;
mod results;
mod scaling;
mod sql;

/// Benchmarks.
#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Nexmark queries on the embedded engine (one process, all cores by default).
    Nexmark(NexmarkArgs),
    /// End-to-end latency per record at a paced rate (q1 or keyed), like the Flink latency peer.
    Latency(latency::LatencyArgs),
    /// Memory of keyed heap state: counts N distinct keys in a ValueState<u64>.
    State(StateArgs),
    /// Checkpoint cost with large keyed state: N keys loaded, then a share of them changing per interval.
    Checkpoint(CheckpointArgs),
    /// Network transport: link vs plain TCP throughput on loopback, and ping-pong latency.
    Net(net::NetArgs),
    /// A query on a local cluster of 1-core workers beside one process, in alternating rounds.
    Cluster(cluster::ClusterBenchArgs),
    /// Each Nexmark query on 1 core and on every core, in alternating rounds: the scaling ratio.
    Scaling(scaling::ScalingArgs),
    /// The receiving process of `spate bench net` (started by it).
    #[command(hide = true)]
    NetReceiver(net::NetReceiverArgs),
    /// Embedded engine: latency from `Ingest::send` to the output callback at 50 % of the max rate.
    Embed(embed::EmbedArgs),
    /// The config profiles side by side, each on the metric it is tuned for.
    Profiles(profiles::ProfilesArgs),
    /// Kafka to Kafka, at least once and exactly once, on one broker.
    Kafka(kafka::KafkaArgs),
}

/// `spate bench state`.
#[derive(Args, Debug)]
pub struct StateArgs {
    /// Distinct keys to hold in state.
    #[arg(long, default_value_t = 10_000_000)]
    keys: u64,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    config: ConfigArgs,
}

fn state(args: StateArgs) -> anyhow::Result<()> {
    let config = args.config.load()?.into_config();
    let m = spate_bench::state_bench::run(args.keys, &config)?;
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
    } else {
        println!(
            "keys            {}\nrss growth      {:.1} MiB ({:.1} -> {:.1})\nper key         {:.1} bytes\nwall time       {:.2} s",
            m.keys,
            m.rss_after_mib - m.rss_before_mib,
            m.rss_before_mib,
            m.rss_after_mib,
            m.bytes_per_key,
            m.wall_s
        );
    }
    Ok(())
}

/// `spate bench checkpoint`.
#[derive(Args, Debug)]
pub struct CheckpointArgs {
    /// Distinct keys to hold in state.
    #[arg(long, default_value_t = 10_000_000)]
    keys: u64,
    /// Share of the keys that change per checkpoint interval, in percent.
    #[arg(long, default_value_t = 1.0)]
    churn_percent: f64,
    /// Checkpoint intervals of churn (the summary's churn figures are those
    /// of the checkpoints of the last half of the churn intervals).
    #[arg(long, default_value_t = 10)]
    intervals: u64,
    /// Fail the job once when the churn is over, so it recovers from its
    /// last checkpoint, and report how long the recovery took.
    #[arg(long)]
    fail_at_end: bool,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Also write the result (JSON and a Markdown table, with the machine,
    /// commit and date) into this directory.
    #[arg(long)]
    results_dir: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

fn checkpoint(args: CheckpointArgs) -> anyhow::Result<()> {
    let mut config = args.config.load()?.into_config();
    if config.checkpoint.interval_ms == 0 {
        config.checkpoint.interval_ms = 1_000;
    }
    if args.fail_at_end {
        config.checkpoint.restarts_max = config.checkpoint.restarts_max.max(1);
    }
    let spec = spate_bench::checkpoint_bench::CheckpointSpec {
        keys: args.keys,
        churn_percent: args.churn_percent,
        intervals: args.intervals,
        fail_at_end: args.fail_at_end,
    };
    let m = spate_bench::checkpoint_bench::run(spec, &config)?;
    if let Some(dir) = &args.results_dir {
        let (json, md) = results::write_checkpoint(dir, &m, config.checkpoint.capture_changes)?;
        eprintln!("results written to {} and {}", json.display(), md.display());
    }
    if args.json {
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    let mib = results::mib;
    println!(
        "keys                  {}\nupdates per interval  {}\ncheckpoints           {}\nsync part, max        {:.0} µs (includes the load)\nsync part, churn      p50 {:.0} µs, max {:.0} µs (last half of the churn)\nlongest to durable    {} ms\nuploaded              {:.1} MiB; per checkpoint p50 {:.1}%, max {:.1}% of the state (last half of the churn)\nretained at the end   {:.1} MiB\nstate as stored       {:.1} MiB ({})\nadded per checkpoint  {} (% of its size, retained checkpoints)\nrecovery              {}\nwall time             {:.2} s",
        m.keys,
        m.updates_per_interval,
        m.completed,
        m.sync_us_max,
        m.sync_us_p50_churn,
        m.sync_us_max_churn,
        m.duration_ms_max,
        mib(m.uploaded_bytes),
        m.uploaded_percent_p50_churn,
        m.uploaded_percent_max_churn,
        mib(m.retained_bytes),
        mib(m.state_bytes),
        m.backend,
        m.added_percent_retained
            .iter()
            .map(|p| format!("{p:.1}%"))
            .collect::<Vec<_>>()
            .join(" "),
        results::recovery_cell(&m),
        m.wall_s
    );
    Ok(())
}

/// `spate bench nexmark`.
#[derive(Args, Debug)]
pub struct NexmarkArgs {
    /// Query: q0..q8, a comma-separated list, or `all`.
    #[arg(long, default_value = "q5")]
    query: String,
    /// Events to generate (over all cores).
    #[arg(long, default_value_t = 10_000_000)]
    events: u64,
    /// Pace the generator to this many events/s in processing time (default: unthrottled).
    #[arg(long, value_name = "EVENTS_PER_S")]
    rate: Option<u64>,
    /// Read events from a JSON-lines file instead of generating them.
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Generator seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object per query instead of the summary.
    #[arg(long)]
    json: bool,
    /// Do not draw a progress bar.
    #[arg(long)]
    no_progress: bool,
    /// Also run Apache Flink side by side (needs ../shared/peers/flink) and report the ratio.
    #[arg(long)]
    flink: bool,
    /// Also run each query's SQL version (`sql/queries/`; q0–q5, q7, q8) right after it, on
    /// the same events, and report its throughput as a share of the
    /// DataStream version's.
    #[arg(long, conflicts_with_all = ["input", "cluster"])]
    sql: bool,
    /// Write `<date>-<machine>.{json,md}` with every result into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
    /// Run on the cluster whose coordinator listens at HOST:PORT instead of in this process.
    #[arg(long, value_name = "ADDR")]
    cluster: Option<String>,
    /// Subtasks per operator on the cluster (with --cluster).
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Fail the job once after subtask 0 has read N events, to watch it
    /// recover from its last checkpoint (set checkpoint.interval_ms).
    #[arg(long, value_name = "N")]
    fail_once_after_events: Option<u64>,
    /// Take a savepoint into DIR during the run (after --savepoint-after-events);
    /// the job runs on to the end. Works with periodic checkpoints off.
    #[arg(long, value_name = "DIR")]
    savepoint_dir: Option<PathBuf>,
    /// When to take the --savepoint-dir savepoint: after N generated events
    /// (default: half of --events).
    #[arg(long, value_name = "N", requires = "savepoint_dir")]
    savepoint_after_events: Option<u64>,
    /// Restore the savepoint in DIR (or s3://bucket/prefix) before the run,
    /// with any core count or parallelism.
    #[arg(long, value_name = "DIR")]
    from_savepoint: Option<PathBuf>,
    #[command(flatten)]
    config: ConfigArgs,
}

fn queries(arg: &str) -> anyhow::Result<Vec<String>> {
    if arg == "all" {
        return Ok(QUERIES.iter().map(|q| q.to_string()).collect());
    }
    let list: Vec<String> = arg.split(',').map(|q| q.trim().to_lowercase()).collect();
    for q in &list {
        if !QUERIES.contains(&q.as_str()) {
            anyhow::bail!(
                "unknown query `{q}`; choose from {} or `all`",
                QUERIES.join(", ")
            );
        }
    }
    Ok(list)
}

/// Runs the command.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Nexmark(args) => nexmark(args),
        BenchCommand::Latency(args) => latency::run(args),
        BenchCommand::State(args) => state(args),
        BenchCommand::Checkpoint(args) => checkpoint(args),
        BenchCommand::Net(args) => net::run(args),
        BenchCommand::NetReceiver(args) => net::serve(args),
        BenchCommand::Cluster(args) => cluster::run(args),
        BenchCommand::Scaling(args) => scaling::run(args),
        BenchCommand::Embed(args) => embed::run(args),
        BenchCommand::Profiles(args) => profiles::run(args),
        BenchCommand::Kafka(args) => kafka::run(args),
    }
}

fn nexmark(args: NexmarkArgs) -> anyhow::Result<()> {
    let loaded = args.config.load()?;
    let config = loaded.config.clone();
    let queries = queries(&args.query)?;
    let input = match &args.input {
        Some(path) => {
            let events = read_events_jsonl(path)
                .with_context(|| format!("reading events from {}", path.display()))?;
            EventInput::File(Arc::new(events), path.clone())
        }
        None => EventInput::Generator(GeneratorConfig {
            seed: args.seed,
            events_max: Some(args.events),
            // Paced runs stamp events at the pace, so event time follows the clock.
            rate_events_per_s: args
                .rate
                .unwrap_or(GeneratorConfig::default().rate_events_per_s),
            ..GeneratorConfig::default()
        }),
    };
    let total = match &input {
        EventInput::File(events, _) => events.len() as u64,
        EventInput::Generator(_) => args.events,
    };
    let mut rows = Vec::new();
    let mut sql_runs = Vec::new();
    for query in &queries {
        let counter = Arc::new(AtomicU64::new(0));
        let spec = BenchSpec {
            query: query.clone(),
            input: input.clone(),
            rate_per_s: args.rate.unwrap_or(0),
            progress: Some(counter.clone()),
            fail_once_after_events: args.fail_once_after_events,
            savepoint_after_events: args.savepoint_dir.as_ref().map(|dir| {
                let at = args.savepoint_after_events.unwrap_or(total / 2);
                (at, PathBuf::from(crate::savepoint::location(dir)))
            }),
            from_savepoint: args
                .from_savepoint
                .as_deref()
                .map(|p| PathBuf::from(crate::savepoint::location(p))),
        };
        let show =
            !args.no_progress && !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
        let progress = Progress::start(counter, Some(total), query.clone(), show);
        let report = match &args.cluster {
            Some(addr) => run_on_cluster(addr, &args, query, &spec)?,
            None => runner::run(&spec, &config)?,
        };
        drop(progress);
        let flink = if args.flink {
            // A failing peer is reported, not fatal: Spate's results still count.
            flink::run(query, report.cores, total).unwrap_or_else(|e| {
                eprintln!("note: {e}");
                None
            })
        } else {
            None
        };
        print_report(&report, flink.as_ref(), args.json)?;
        if args.sql {
            match sql::run_beside(&report, &config)? {
                Some(run) if args.json => {
                    println!("{}", serde_json::to_string(&run)?);
                    sql_runs.push(run);
                }
                Some(run) => {
                    println!("{}", sql::line(&run));
                    sql_runs.push(run);
                }
                None => eprintln!("{query} SQL: not written in SQL yet"),
            }
        }
        rows.push((report, flink));
    }
    if let Some(dir) = &args.results_dir {
        let (json, md) = results::write(dir, &rows, &loaded)?;
        eprintln!("results written to {} and {}", json.display(), md.display());
        if !sql_runs.is_empty() {
            let title = "Nexmark in SQL beside DataStream";
            let body = sql::table(&sql_runs);
            let (json, md) = results::write_stamped(dir, "nexmark-sql", title, &sql_runs, &body)?;
            eprintln!(
                "SQL results written to {} and {}",
                json.display(),
                md.display()
            );
        }
    }
    Ok(())
}

/// Runs one query on a cluster; the report covers every worker.
fn run_on_cluster(
    addr: &str,
    args: &NexmarkArgs,
    query: &str,
    spec: &BenchSpec,
) -> anyhow::Result<BenchReport> {
    if args.input.is_some() {
        anyhow::bail!(
            "--input reads a local file, which the cluster's workers cannot see; generate events instead"
        );
    }
    let job_args = crate::catalog::NexmarkJobArgs {
        query: query.to_string(),
        events: args.events,
        seed: args.seed,
        rate: args.rate.unwrap_or(0),
    };
    if args.savepoint_dir.is_some() {
        anyhow::bail!(
            "--savepoint-dir takes a savepoint in this process; on a cluster, run \
             `spate savepoint <job> --into DIR` while the job runs"
        );
    }
    let job_spec = spate_cluster::protocol::JobSpec {
        name: "nexmark".into(),
        args: job_args.to_args(),
        settings: crate::cluster::spec_settings(&args.config)?,
        from_savepoint: args
            .from_savepoint
            .as_deref()
            .map(crate::savepoint::resolve)
            .transpose()?,
    };
    let r = crate::cluster::submit_job(
        &crate::cluster::SubmitTarget::fixed(addr),
        job_spec,
        args.parallelism,
        args.json,
    )?;
    let mut metrics = r.metrics;
    let checkpoint_dir = r.checkpoints.map(|c| {
        metrics.checkpoints.completed = c.completed;
        metrics.checkpoints.restarts = u64::from(c.restarts);
        metrics.checkpoints.restored_from = c.restored_from;
        std::path::PathBuf::from(c.dir)
    });
    let result = spate::JobResult {
        metrics,
        wall: r.wall,
        cores: args.parallelism as usize,
        checkpoint_dir,
    };
    Ok(BenchReport::new(spec, &result))
}

fn print_report(
    report: &BenchReport,
    flink: Option<&flink::FlinkRun>,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(report)?;
        if let (Some(f), Some(obj)) = (flink, v.as_object_mut()) {
            obj.insert("flink".into(), serde_json::to_value(f)?);
        }
        println!("{}", serde_json::to_string(&v)?);
    } else {
        print!("{}", report.summary());
        if let Some(f) = flink {
            println!(
                "flink           {} events/s per core ({} rows, par {}) → spate/flink = {:.1}×",
                spate_bench::report::human(f.per_core),
                f.rows,
                f.par,
                report.events_per_s_per_core / f.per_core.max(1e-9)
            );
        }
        println!();
    }
    Ok(())
}
