//! `spate-torture`: checks an oracle output, or runs a fault suite on a
//! local cluster and checks what it committed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use spate_torture::overload::{self, OverloadConfig};
use spate_torture::supervisor::{SuiteConfig, SuiteKind, run_suite};
use spate_torture::{Expected, check, cluster, results};

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
    /// Run a fault suite on a local cluster, then check the job's output.
    Run(RunArgs),
    /// Run the deterministic simulation of the coordinator's failover logic.
    Sim(SimArgs),
    /// Offer the job on a local cluster twice the input it can take (its
    /// capacity measured first, unthrottled), and check that memory stays
    /// flat, checkpoints keep completing and nothing is lost.
    Overload(OverloadArgs),
}

#[derive(clap::Args, Debug)]
struct OverloadArgs {
    /// The long form: 60 s of input at the offered rate, and `--results`
    /// regenerated (default: 8 s).
    #[arg(long)]
    long: bool,
    /// Seconds of input at the offered rate.
    #[arg(long)]
    seconds: Option<u64>,
    /// The offered rate as a multiple of the measured capacity, in percent.
    #[arg(long, default_value_t = 200)]
    overload_percent: u64,
    /// Where the cluster, outputs and logs go (default: a new directory under /tmp).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The `spate` executable (default: $SPATE_BIN, or next to this one).
    #[arg(long)]
    spate: Option<PathBuf>,
    /// The results file a long run writes.
    #[arg(long, default_value = "tests/RESULTS-overload.md")]
    results: PathBuf,
}

fn run_overload_cmd(args: &OverloadArgs) -> anyhow::Result<bool> {
    let spate = match &args.spate {
        Some(p) => p.clone(),
        None => cluster::find_spate_binary()?,
    };
    let work_dir = args
        .work_dir
        .clone()
        .unwrap_or_else(overload::default_work_dir);
    let mut cfg = if args.long {
        OverloadConfig::long(work_dir, spate)
    } else {
        OverloadConfig::short(work_dir, spate)
    };
    if let Some(s) = args.seconds {
        cfg.seconds = s;
    }
    cfg.overload_percent = args.overload_percent;
    let outcome = overload::run_overload(&cfg, &mut |line| println!("{line}"))?;
    print!("{outcome}");
    println!(
        "overload: {}.",
        if outcome.passed() {
            "memory flat, checkpoints kept up, exactly the output of an unloaded run"
        } else {
            "FAILED"
        }
    );
    if args.long {
        let command = format!(
            "spate-torture overload --long --overload-percent {}",
            args.overload_percent
        );
        let text = overload::render(&outcome, &command, &results::today());
        std::fs::write(&args.results, text)?;
        println!("wrote {}", args.results.display());
    }
    Ok(outcome.passed())
}

#[derive(clap::Args, Debug)]
struct SimArgs {
    /// Run only this seed (a failing seed printed by an earlier run).
    #[arg(long)]
    seed: Option<u64>,
    /// Otherwise, run seeds 0..N, each twice.
    #[arg(long, default_value_t = 1_000)]
    seeds: u64,
}

fn run_sim(args: &SimArgs) -> anyhow::Result<bool> {
    let seeds: Vec<u64> = match args.seed {
        Some(s) => vec![s],
        None => (0..args.seeds).collect(),
    };
    let (mut kills, mut restores, mut coordinator_kills) = (0u64, 0u64, 0u64);
    for &seed in &seeds {
        let first = spate_torture::sim::simulate(seed);
        let again = spate_torture::sim::simulate(seed);
        if first != again {
            println!("seed {seed}: two runs differ; the simulation is not deterministic.");
            return Ok(false);
        }
        if let Some(v) = &first.violation {
            println!("seed {seed}: {v}");
            return Ok(false);
        }
        kills += u64::from(first.kills);
        restores += u64::from(first.restores);
        coordinator_kills += u64::from(first.coordinator_kills);
    }
    println!(
        "{} seeds, each run twice with equal traces: {kills} worker kills, {coordinator_kills} \
         coordinator kills, {restores} restores, every invariant held.",
        seeds.len()
    );
    Ok(true)
}

#[derive(ValueEnum, Debug, Clone, Copy)]
enum Suite {
    /// `kill -9` of a random worker every 0–6 s (sometimes two at once), or
    /// of the coordinator, which is started again.
    Kill,
    /// `SIGSTOP` of a random worker past the heartbeat timeout, then `SIGCONT`.
    Stop,
    /// The checkpoint disk (a tmpfs; needs root) full or read-only for 1–3 s,
    /// sometimes with a worker killed meanwhile.
    Disk,
    /// Every link through a fault proxy (data links between workers, and
    /// each worker's control link to the coordinator): cut, a byte flipped,
    /// closed one way, stalled 1–8 s, or all delayed or throttled.
    Network,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The faults.
    #[arg(long, value_enum)]
    suite: Suite,
    /// Seed of the fault schedule (the same seed injects the same schedule).
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The long form: 200 faults in rounds of 20, and `--results` regenerated.
    #[arg(long)]
    long: bool,
    /// Faults to inject (default: 3, or 200 with --long).
    #[arg(long)]
    faults: Option<u32>,
    /// Where the cluster, outputs and logs go (default: a new directory under /tmp).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// The `spate` executable (default: $SPATE_BIN, or next to this one).
    #[arg(long)]
    spate: Option<PathBuf>,
    /// The results file a long run writes [default: tests/RESULTS.md for
    /// the kill suite, tests/RESULTS-<suite>.md for the others].
    #[arg(long)]
    results: Option<PathBuf>,
    /// A setting of the job, `KEY=VALUE` (e.g. `state.backend=rocksdb`); repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    job_settings: Vec<String>,
    /// Network suite: hit only the workers' control links to the coordinator.
    #[arg(long)]
    control_links_only: bool,
}

fn run_suite_cmd(args: &RunArgs) -> anyhow::Result<bool> {
    let kind = match args.suite {
        Suite::Kill => SuiteKind::Kill,
        Suite::Stop => SuiteKind::Stop,
        Suite::Disk => SuiteKind::Disk,
        Suite::Network => SuiteKind::Network,
    };
    let spate = match &args.spate {
        Some(p) => p.clone(),
        None => cluster::find_spate_binary()?,
    };
    let work_dir = args.work_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "spate-torture-{}-{}-{}",
            kind.name(),
            args.seed,
            std::process::id()
        ))
    });
    let mut cfg = if args.long {
        SuiteConfig::long(kind, args.seed, work_dir, spate)
    } else {
        SuiteConfig::short(kind, args.seed, work_dir, spate)
    };
    if let Some(n) = args.faults {
        cfg.faults_target = n;
    }
    cfg.job_settings = args.job_settings.clone();
    cfg.control_links_only = args.control_links_only;
    let outcome = run_suite(&cfg, &mut |line| println!("{line}"))?;
    for r in &outcome.rounds {
        print!("{}", r.report);
    }
    for m in &outcome.stale_survivors {
        println!(
            "{} (pid {}) was paused past the heartbeat timeout and still runs 10 s after \
             SIGCONT: a fenced worker must exit.",
            m.name, m.pid
        );
    }
    println!(
        "{} faults over {} jobs in {:.0} s: {}.",
        outcome.faults.len(),
        outcome.rounds.len(),
        outcome.wall.as_secs_f64(),
        if outcome.passed() {
            "every job succeeded with exactly the output of a fault-free run"
        } else {
            "FAILED"
        }
    );
    if args.long {
        let faults = args
            .faults
            .map_or(String::new(), |n| format!(" --faults {n}"));
        let command = format!(
            "spate-torture run --suite {} --seed {} --long{faults}",
            kind.name(),
            args.seed
        );
        let text = results::render(&outcome, &command, &results::today());
        let path = args.results.clone().unwrap_or_else(|| match kind {
            SuiteKind::Kill => PathBuf::from("tests/RESULTS.md"),
            other => PathBuf::from(format!("tests/RESULTS-{}.md", other.name())),
        });
        std::fs::write(&path, text)?;
        println!("wrote {}", path.display());
    }
    Ok(outcome.passed())
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
        Command::Run(args) => run_suite_cmd(args),
        Command::Sim(args) => run_sim(args),
        Command::Overload(args) => run_overload_cmd(args),
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
