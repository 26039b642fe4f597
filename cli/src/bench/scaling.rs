//! `spate bench scaling`: each Nexmark query on 1 core and on N cores in
//! alternating rounds, every run a fresh process. On a shared machine
//! whose speed drifts from minute to minute, only runs side by side
//! compare, so the figure is the median of each round's own ratio; the
//! order within a round alternates too, so a drift does not always favour
//! the same side. Every run of a query must give the same checksum: the
//! output does not depend on the core count.
//!
//! Each round also measures the machine's own ceiling: N independent
//! 1-core processes at once, each pinned to its own CPU (`taskset`), share
//! nothing but the machine. Their combined rate over the 1-core run is the
//! most any engine could scale here; the engine's ratio is read against it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::bail;
use clap::Args;
use serde::Serialize;
use spate_bench::report::human;

use super::child::{
    NexmarkRun as Run, json_of, median_of, nexmark_args, nexmark_of, nexmark_run, spate_cmd,
};
use super::results::write_stamped;

/// `spate bench scaling`.
#[derive(Args, Debug)]
pub struct ScalingArgs {
    /// Nexmark queries, comma-separated.
    #[arg(long, default_value = "q1,q5")]
    query: String,
    /// Events per run.
    #[arg(long, default_value_t = 20_000_000)]
    events: u64,
    /// The core count compared with 1 core (0 = all of this machine's).
    #[arg(long, default_value_t = 0)]
    cores: usize,
    /// Rounds per query, each one run on 1 core and one on `--cores`.
    #[arg(long, default_value_t = 7)]
    rounds: u32,
    /// Print JSON instead of the summary.
    #[arg(long)]
    json: bool,
    /// Write `<date>-<machine>-scaling.{json,md}` into this directory.
    #[arg(long, value_name = "DIR")]
    results_dir: Option<PathBuf>,
}

/// One query's rounds.
#[derive(Debug, Serialize)]
struct QueryScaling {
    query: String,
    one_core: Vec<Run>,
    many_cores: Vec<Run>,
    one_core_median: f64,
    many_cores_median: f64,
    /// Each round's many-core / one-core throughput.
    ratios: Vec<f64>,
    /// The median of `ratios`.
    ratio: f64,
    /// Each round's N pinned 1-core processes at once: N × the slowest
    /// one's rate, over the round's 1-core run (`None`: no `taskset`).
    ceilings: Vec<Option<f64>>,
    /// The median of `ceilings`.
    ceiling: Option<f64>,
}

#[derive(Debug, Serialize)]
struct ScalingBench {
    events: u64,
    cores: usize,
    rounds: u32,
    queries: Vec<QueryScaling>,
}

/// Runs the command.
pub fn run(args: ScalingArgs) -> anyhow::Result<()> {
    let cores = match args.cores {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    if cores < 2 || args.rounds == 0 {
        bail!(
            "scaling needs --cores of at least 2 (this machine has {cores}) and --rounds of at least 1"
        );
    }
    let mut queries = Vec::new();
    for query in args
        .query
        .split(',')
        .map(str::trim)
        .filter(|q| !q.is_empty())
    {
        queries.push(query_rounds(&args, query, cores)?);
    }
    let bench = ScalingBench {
        events: args.events,
        cores,
        rounds: args.rounds,
        queries,
    };
    if args.json {
        println!("{}", serde_json::to_string(&bench)?);
    } else {
        print!("{}", table(&bench)?);
    }
    if let Some(dir) = &args.results_dir {
        let (json, md) = write(dir, &bench)?;
        eprintln!("results written to {} and {}", json.display(), md.display());
    }
    Ok(())
}

fn query_rounds(args: &ScalingArgs, query: &str, cores: usize) -> anyhow::Result<QueryScaling> {
    let on = |n: usize| ["--cores".to_string(), n.to_string()];
    let (mut one_core, mut many_cores) = (Vec::new(), Vec::new());
    let mut ceilings = Vec::new();
    for round in 1..=args.rounds {
        // Odd rounds run 1 core first, even rounds N cores first.
        if round % 2 == 1 {
            one_core.push(nexmark_run(query, args.events, &on(1))?);
            many_cores.push(nexmark_run(query, args.events, &on(cores))?);
        } else {
            many_cores.push(nexmark_run(query, args.events, &on(cores))?);
            one_core.push(nexmark_run(query, args.events, &on(1))?);
        }
        let one = one_core[one_core.len() - 1].events_per_s;
        let pinned = pinned_processes(query, args.events, cores)?;
        ceilings.push(pinned.map(|slowest| cores as f64 * slowest / one.max(1e-9)));
        if !args.json {
            eprintln!(
                "{query} round {round}/{}: 1 core {}/s, {cores} cores {}/s, {cores} pinned 1-core processes {}",
                args.rounds,
                human(one),
                human(many_cores[many_cores.len() - 1].events_per_s),
                pinned.map_or("not run (no taskset)".into(), |r| format!(
                    "{}/s each (slowest)",
                    human(r)
                ))
            );
        }
    }
    let first = &one_core[0];
    if let Some(odd) = one_core
        .iter()
        .chain(&many_cores)
        .find(|r| r.checksum != first.checksum)
    {
        bail!(
            "{query}: the runs disagree: checksum {} beside {} (the output must not depend on the core count)",
            odd.checksum,
            first.checksum
        );
    }
    let ratios: Vec<f64> = one_core
        .iter()
        .zip(&many_cores)
        .map(|(one, many)| many.events_per_s / one.events_per_s.max(1e-9))
        .collect();
    let median = |runs: &[Run]| median_of(runs.iter().map(|r| r.events_per_s).collect());
    let measured: Vec<f64> = ceilings.iter().flatten().copied().collect();
    Ok(QueryScaling {
        ceiling: (!measured.is_empty()).then(|| median_of(measured)),
        ceilings,
        query: query.to_string(),
        one_core_median: median(&one_core),
        many_cores_median: median(&many_cores),
        ratio: median_of(ratios.clone()),
        ratios,
        one_core,
        many_cores,
    })
}

/// Runs `n` 1-core processes of `query` at once, process `i` pinned to the
/// `i`-th allowed CPU; the slowest one's events/s, or `None` without
/// `taskset` or enough CPUs.
fn pinned_processes(query: &str, events: u64, n: usize) -> anyhow::Result<Option<f64>> {
    let cpus = spate::cpus::allowed();
    if cpus.len() < n
        || std::process::Command::new("taskset")
            .arg("-V")
            .output()
            .is_err()
    {
        return Ok(None);
    }
    let args = nexmark_args(query, events, &["--cores".into(), "1".into()]);
    let exe = spate_cmd()?.get_program().to_owned();
    let children = cpus
        .iter()
        .take(n)
        .map(|cpu| {
            std::process::Command::new("taskset")
                .args(["-c", &cpu.to_string()])
                .arg(&exe)
                .args(&args)
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut slowest = f64::INFINITY;
    for child in children {
        let run = nexmark_of(&json_of(child.wait_with_output()?, &args)?)?;
        slowest = slowest.min(run.events_per_s);
    }
    Ok(Some(slowest))
}

fn table(b: &ScalingBench) -> anyhow::Result<String> {
    let mut out = format!(
        "| query | 1 core events/s (median) | {} cores events/s (median) | {} cores / 1 core: median of the rounds (min–max) | machine ceiling: {} pinned 1-core processes / 1 core (median) | output |\n|---|---|---|---|---|---|\n",
        b.cores, b.cores, b.cores
    );
    for q in &b.queries {
        let lo = q.ratios.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = q.ratios.iter().copied().fold(0.0, f64::max);
        let first = q.one_core.first();
        writeln!(
            out,
            "| {} | {} | {} | **{:.2}** ({lo:.2}–{hi:.2}) | {} | {} records, checksum {} in every run |",
            q.query,
            human(q.one_core_median),
            human(q.many_cores_median),
            q.ratio,
            q.ceiling
                .map_or("not measured".into(), |c| format!("{c:.2}")),
            first.map_or(0, |r| r.output_records),
            first.map_or("", |r| r.checksum.as_str()),
        )?;
    }
    Ok(out)
}

fn write(dir: &Path, b: &ScalingBench) -> anyhow::Result<(PathBuf, PathBuf)> {
    let mut md = format!(
        "`spate bench scaling`: {} events per run, {} rounds per query; each round runs the query on 1 core and on {} cores, \
         each run a fresh process, the order alternating between rounds. The ratio is the median of the rounds' own ratios. \
         The machine ceiling: in each round, {} independent 1-core processes ran at once, each pinned to its own CPU; {} × the slowest one's rate \
         over the round's 1-core rate is the scaling this machine allows when nothing is shared.\n\n",
        b.events, b.rounds, b.cores, b.cores, b.cores
    );
    md.push_str(&table(b)?);
    md.push_str("\nEvery round:\n\n| query | round | 1 core events/s | many cores events/s | ratio | ceiling |\n|---|---|---|---|---|---|\n");
    for q in &b.queries {
        let rounds = q.one_core.iter().zip(&q.many_cores).zip(&q.ratios);
        for (i, (((one, many), r), c)) in rounds.zip(&q.ceilings).enumerate() {
            writeln!(
                md,
                "| {} | {} | {} | {} | {r:.2} | {} |",
                q.query,
                i + 1,
                human(one.events_per_s),
                human(many.events_per_s),
                c.map_or("-".into(), |c| format!("{c:.2}"))
            )?;
        }
    }
    write_stamped(
        dir,
        "scaling",
        "Nexmark on 1 core and on every core",
        b,
        &md,
    )
}
