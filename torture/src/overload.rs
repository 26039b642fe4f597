//! The overload suite: the oracle job on the local cluster, offered twice
//! the input it can take, for a while. Backpressure must hold the workers'
//! memory flat (the sources slow down instead of queueing), checkpoints
//! must keep completing (barriers get through full channels), and the
//! output must be exactly that of an unloaded run.
//!
//! "Twice" is measured, not assumed: a calibration job first runs the same
//! oracle unthrottled on the same cluster, and its throughput is the
//! cluster's capacity. The overload job's source is then paced at twice
//! that, with input for `seconds` at the offered rate, so it runs about
//! twice as long while its sources always have more to send than the job
//! can take.

use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::checker::{Report, check};
use crate::cluster::{LocalCluster, latest_checkpoint};
use crate::error::{Result, TortureError, io};
use crate::oracle::OracleArgs;
use crate::supervisor::WORKERS;

/// How often memory and checkpoints are sampled.
const SAMPLE_MS: u64 = 500;

/// How an overload run goes.
#[derive(Debug, Clone)]
pub struct OverloadConfig {
    /// Seconds of input at the offered rate (twice the capacity).
    pub seconds: u64,
    /// Records of the calibration job.
    pub calibration_records: u64,
    /// The offered rate as a multiple of the capacity, in percent.
    pub overload_percent: u64,
    /// `checkpoint.interval_ms` of the job.
    pub checkpoint_interval_ms: u64,
    /// The oracle's keys (a multiple of the workers).
    pub keys: u64,
    /// The largest growth of the workers' memory from the first half of
    /// the run to the second, in percent, beyond `rss_slack_mib`.
    pub rss_growth_percent_max: u64,
    /// Growth allowed on top of the percentage (allocator noise), MiB.
    pub rss_slack_mib: u64,
    /// Where the cluster, outputs, checkpoints and logs go.
    pub work_dir: PathBuf,
    /// The `spate` executable.
    pub spate: PathBuf,
}

impl OverloadConfig {
    /// The short form CI runs: 8 s of input at twice the capacity.
    pub fn short(work_dir: PathBuf, spate: PathBuf) -> Self {
        Self {
            seconds: 8,
            calibration_records: 300_000,
            overload_percent: 200,
            checkpoint_interval_ms: 1_000,
            keys: 600,
            rss_growth_percent_max: 25,
            rss_slack_mib: 48,
            work_dir,
            spate,
        }
    }

    /// The long form: 60 s of input at twice the capacity.
    pub fn long(work_dir: PathBuf, spate: PathBuf) -> Self {
        Self {
            seconds: 60,
            calibration_records: 1_000_000,
            ..Self::short(work_dir, spate)
        }
    }
}

/// One sample taken while the overload job ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    /// Since the job was submitted, ms.
    pub at_ms: u64,
    /// Resident memory of all workers, KiB.
    pub workers_rss_kib: u64,
    /// The newest completed checkpoint.
    pub checkpoint: Option<u64>,
}

/// What an overload run found.
#[derive(Debug, Clone)]
pub struct OverloadOutcome {
    /// The run's settings.
    pub config: OverloadConfig,
    /// Records per second the unthrottled calibration job took.
    pub capacity_per_s: u64,
    /// The rate the overload job's sources were paced at.
    pub offered_per_s: u64,
    /// Records of the overload job.
    pub records: u64,
    /// How long the overload job took.
    pub wall: Duration,
    /// Whether the job ended successfully.
    pub job_succeeded: bool,
    /// Memory and checkpoints over the run.
    pub samples: Vec<Sample>,
    /// The checker's verdict on the committed output.
    pub report: Report,
}

impl OverloadOutcome {
    /// Records per second the overload job took.
    pub fn achieved_per_s(&self) -> u64 {
        (self.records as f64 / self.wall.as_secs_f64().max(1e-3)) as u64
    }

    /// The largest worker memory in the first and in the second half of
    /// the run, KiB.
    pub fn rss_halves_kib(&self) -> (u64, u64) {
        let half = self.samples.len() / 2;
        let max = |s: &[Sample]| s.iter().map(|s| s.workers_rss_kib).max().unwrap_or(0);
        let (first, second) = self.samples.split_at(half);
        (max(first), max(second))
    }

    /// True when the second half's memory stays within the allowed growth
    /// of the first half's.
    pub fn memory_flat(&self) -> bool {
        let (first, second) = self.rss_halves_kib();
        let allowed = first.saturating_mul(100 + self.config.rss_growth_percent_max) / 100
            + self.config.rss_slack_mib * 1024;
        first > 0 && second <= allowed
    }

    /// Checkpoints that completed while the job ran.
    pub fn checkpoints_completed(&self) -> u64 {
        let first = self.samples.first().and_then(|s| s.checkpoint).unwrap_or(0);
        let newest = self.samples.iter().filter_map(|s| s.checkpoint).max();
        newest.unwrap_or(0).saturating_sub(first)
    }

    /// Checkpoints kept completing: at least one per three intervals of
    /// the job's wall time (barriers get through channels kept full; the
    /// slack is for a machine shared with other tests).
    pub fn checkpoints_kept_up(&self) -> bool {
        let expected =
            self.wall.as_millis() as u64 / (3 * self.config.checkpoint_interval_ms).max(1);
        self.checkpoints_completed() >= expected.max(1)
    }

    /// The verdict: the job succeeded with exactly the fault-free output,
    /// memory stayed flat, checkpoints kept completing, and the job really
    /// was overloaded (it took less than was offered).
    pub fn passed(&self) -> bool {
        self.job_succeeded
            && self.report.is_clean()
            && self.memory_flat()
            && self.checkpoints_kept_up()
            && self.achieved_per_s() < self.offered_per_s
    }
}

impl fmt::Display for OverloadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (first, second) = self.rss_halves_kib();
        writeln!(
            f,
            "capacity {} records/s (unthrottled calibration); offered {} records/s \
             ({} %); the job took {} records/s over {:.1} s",
            self.capacity_per_s,
            self.offered_per_s,
            self.config.overload_percent,
            self.achieved_per_s(),
            self.wall.as_secs_f64()
        )?;
        writeln!(
            f,
            "workers' memory: {} MiB at most in the first half, {} MiB in the second \
             ({} samples): {}",
            first / 1024,
            second / 1024,
            self.samples.len(),
            if self.memory_flat() { "flat" } else { "GREW" }
        )?;
        writeln!(
            f,
            "{} checkpoints completed during the run (every {} ms asked): {}",
            self.checkpoints_completed(),
            self.config.checkpoint_interval_ms,
            if self.checkpoints_kept_up() {
                "kept up"
            } else {
                "FELL BEHIND"
            }
        )?;
        write!(f, "{}", self.report)
    }
}

/// Runs the calibration job, then the overload job, on a fresh cluster.
pub fn run_overload(cfg: &OverloadConfig, log: &mut dyn FnMut(&str)) -> Result<OverloadOutcome> {
    if cfg.keys == 0 || !cfg.keys.is_multiple_of(u64::from(WORKERS)) {
        return Err(TortureError::Usage(format!(
            "--keys ({}) must be a positive multiple of the {WORKERS} workers",
            cfg.keys
        )));
    }
    std::fs::create_dir_all(&cfg.work_dir).map_err(|e| io("creating", &cfg.work_dir, e))?;
    let mut cluster = LocalCluster::start(
        &cfg.spate,
        &cfg.work_dir.join("cluster"),
        WORKERS,
        5_000,
        None,
        &[],
    )?;
    let outcome = overload_on(&cluster, cfg, log);
    cluster.stop();
    outcome
}

fn overload_on(
    cluster: &LocalCluster,
    cfg: &OverloadConfig,
    log: &mut dyn FnMut(&str),
) -> Result<OverloadOutcome> {
    let calibration = OracleArgs {
        keys: cfg.keys,
        records: cfg.calibration_records,
        rate: 0,
        window_ms: 50,
        output: cfg.work_dir.join("calibration").join("output"),
    };
    let (ok, wall) = run_job(cluster, cfg, &calibration, "calibration", &mut |_| {})?;
    if !ok {
        return Err(TortureError::Cluster(format!(
            "the unthrottled calibration job failed; see {}",
            cfg.work_dir
                .join("calibration")
                .join("submit.log")
                .display()
        )));
    }
    let capacity_per_s = (calibration.records as f64 / wall.as_secs_f64().max(1e-3)) as u64;
    let offered_per_s = capacity_per_s.saturating_mul(cfg.overload_percent) / 100;
    log(&format!(
        "calibration: {} records unthrottled in {:.1} s: capacity {capacity_per_s} records/s; \
         offering {offered_per_s} records/s",
        calibration.records,
        wall.as_secs_f64()
    ));
    let job = OracleArgs {
        keys: cfg.keys,
        records: offered_per_s.saturating_mul(cfg.seconds),
        rate: offered_per_s,
        window_ms: 50,
        output: cfg.work_dir.join("overload").join("output"),
    };
    let mut samples = Vec::new();
    let (job_succeeded, wall) = run_job(cluster, cfg, &job, "overload", &mut |s| {
        samples.push(s);
    })?;
    let report = check(&job.output, &job.expected())?;
    Ok(OverloadOutcome {
        config: cfg.clone(),
        capacity_per_s,
        offered_per_s,
        records: job.records,
        wall,
        job_succeeded,
        samples,
        report,
    })
}

/// Runs one oracle job, sampling memory and checkpoints until it ends;
/// (succeeded, wall time).
fn run_job(
    cluster: &LocalCluster,
    cfg: &OverloadConfig,
    job: &OracleArgs,
    name: &str,
    sample: &mut dyn FnMut(Sample),
) -> Result<(bool, Duration)> {
    let dir = cfg.work_dir.join(name);
    let checkpoints = dir.join("checkpoints");
    std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
    let settings = vec![
        format!("checkpoint.interval_ms={}", cfg.checkpoint_interval_ms),
        format!("checkpoint.dir={}", checkpoints.display()),
        "runtime.io_memory_kib=256".to_string(),
    ];
    let submit_log = dir.join("submit.log");
    let start = Instant::now();
    let mut child = cluster.submit("oracle", WORKERS, &settings, &job.to_args(), &submit_log)?;
    // Generous: the input at the offered rate, run at half of it, twice over.
    let limit = Duration::from_secs(job.records / job.rate.max(1) * 4 + 120);
    let mut next_sample = start;
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| TortureError::Cluster(format!("cannot wait for `spate submit`: {e}")))?
        {
            return Ok((status.success(), start.elapsed()));
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            return Err(TortureError::Cluster(format!(
                "the {name} job did not finish within {} s; see {}",
                limit.as_secs(),
                submit_log.display()
            )));
        }
        if Instant::now() >= next_sample {
            sample(Sample {
                at_ms: start.elapsed().as_millis() as u64,
                workers_rss_kib: cluster.resources().workers_rss_kib,
                checkpoint: latest_checkpoint(&checkpoints),
            });
            next_sample += Duration::from_millis(SAMPLE_MS);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Where an overload run's files go by default.
pub fn default_work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("spate-torture-overload-{}", std::process::id()))
}

/// The Markdown of a long run's results.
pub fn render(outcome: &OverloadOutcome, command: &str, date: &str) -> String {
    let mut s = String::new();
    s.push_str("# Overload suite results\n\n");
    s.push_str(&format!(
        "{date} · `{command}` · {} workers on loopback · `spate` binary {}\n\n",
        WORKERS,
        outcome.config.spate.display()
    ));
    s.push_str("| figure | value |\n|---|---|\n");
    let (first, second) = outcome.rss_halves_kib();
    let rows = [
        (
            "capacity (unthrottled calibration)",
            format!("{} records/s", outcome.capacity_per_s),
        ),
        (
            "offered",
            format!(
                "{} records/s ({} %)",
                outcome.offered_per_s, outcome.config.overload_percent
            ),
        ),
        ("taken", format!("{} records/s", outcome.achieved_per_s())),
        ("records", outcome.records.to_string()),
        (
            "job wall time",
            format!("{:.1} s", outcome.wall.as_secs_f64()),
        ),
        (
            "workers' memory, first half (max)",
            format!("{} MiB", first / 1024),
        ),
        (
            "workers' memory, second half (max)",
            format!("{} MiB", second / 1024),
        ),
        (
            "checkpoints completed",
            outcome.checkpoints_completed().to_string(),
        ),
        ("lost", outcome.report.lost.to_string()),
        ("duplicated", outcome.report.duplicates.to_string()),
        (
            "verdict",
            if outcome.passed() {
                "passed".into()
            } else {
                "FAILED".into()
            },
        ),
    ];
    for (k, v) in rows {
        s.push_str(&format!("| {k} | {v} |\n"));
    }
    s.push_str("\nMemory over the run (every sample):\n\n| s | workers' RSS MiB | newest checkpoint |\n|---|---|---|\n");
    for x in &outcome.samples {
        s.push_str(&format!(
            "| {:.1} | {} | {} |\n",
            x.at_ms as f64 / 1000.0,
            x.workers_rss_kib / 1024,
            x.checkpoint.map_or("-".into(), |c| c.to_string())
        ));
    }
    s
}
