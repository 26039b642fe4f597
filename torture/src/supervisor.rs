//! The supervisor: runs the oracle job on a real local cluster (a
//! coordinator and three worker processes on loopback), injects faults on
//! a schedule drawn from a seed, logs each fault with its time, waits for
//! the job to finish and checks what it committed.
//!
//! A suite runs in rounds: each round submits one oracle job sized to
//! outlast its faults, and checks its output; the cluster lives across
//! rounds, so its coordinator's memory and descriptors before the first
//! round and after the last say whether anything leaks.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::checker::{Report, check};
use crate::cluster::{LocalCluster, Member, Resources, latest_checkpoint, signal};
use crate::disk::CheckpointDisk;
use crate::error::{Result, TortureError, io};
use crate::oracle::OracleArgs;
use crate::rng::Rng;

/// Workers of the cluster, and the job's parallelism.
pub const WORKERS: u32 = 3;
/// How often the supervisor looks at the job, the checkpoints and the log.
const POLL_MS: u64 = 20;
/// The coordinator's log line of a restart.
const RESTART_MARK: &str = "; restarting from ";
/// The coordinator's log line of a checkpoint a worker declined.
const DECLINE_MARK: &str = " declined: ";

/// Which faults a suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    /// `kill -9` of a random worker (sometimes two at once).
    Kill,
    /// `SIGSTOP` of a random worker for longer than the heartbeat timeout,
    /// then `SIGCONT`.
    Stop,
    /// The checkpoint disk (a size-capped tmpfs) full, or read-only, for a
    /// while; sometimes a worker is killed meanwhile, so the job restores
    /// from the disk while it cannot take checkpoints.
    Disk,
}

impl SuiteKind {
    /// The suite's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SuiteKind::Kill => "kill",
            SuiteKind::Stop => "stop",
            SuiteKind::Disk => "disk",
        }
    }
}

/// How a suite runs.
#[derive(Debug, Clone)]
pub struct SuiteConfig {
    /// The faults.
    pub kind: SuiteKind,
    /// The seed of the fault schedule.
    pub seed: u64,
    /// Faults to inject over all rounds.
    pub faults_target: u32,
    /// Faults per round (one job each).
    pub faults_per_round: u32,
    /// The longest wait before a fault.
    pub fault_interval_ms_max: u64,
    /// Percent of kills that kill two workers at once.
    pub burst_percent: u64,
    /// The coordinator's heartbeat timeout.
    pub heartbeat_timeout_ms: u64,
    /// `checkpoint.interval_ms` of the job.
    pub checkpoint_interval_ms: u64,
    /// The oracle's keys (a multiple of [`WORKERS`]).
    pub keys: u64,
    /// The oracle's records per second.
    pub rate: u64,
    /// Seconds of input a round has beyond its faults' mean schedule.
    pub slack_s: u64,
    /// Where the cluster, outputs, checkpoints and logs go.
    pub work_dir: PathBuf,
    /// The `spate` executable.
    pub spate: PathBuf,
    /// Extra `KEY=VALUE` settings of the job (e.g. `state.backend=rocksdb`).
    pub job_settings: Vec<String>,
    /// Size of the checkpoint disk of the disk suite.
    pub disk_bytes: u64,
}

impl SuiteConfig {
    /// The short form CI runs: a few faults, well under two minutes.
    pub fn short(kind: SuiteKind, seed: u64, work_dir: PathBuf, spate: PathBuf) -> Self {
        Self {
            kind,
            seed,
            faults_target: 3,
            faults_per_round: 3,
            fault_interval_ms_max: 6_000,
            burst_percent: 10,
            heartbeat_timeout_ms: 1_500,
            checkpoint_interval_ms: 250,
            keys: 600,
            rate: 6_000,
            slack_s: 6,
            work_dir,
            spate,
            job_settings: Vec::new(),
            disk_bytes: 16 << 20,
        }
    }

    /// The long form: 200 faults in rounds of 20.
    pub fn long(kind: SuiteKind, seed: u64, work_dir: PathBuf, spate: PathBuf) -> Self {
        Self {
            faults_target: 200,
            faults_per_round: 20,
            ..Self::short(kind, seed, work_dir, spate)
        }
    }
}

/// What a fault was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// `kill -9` of one worker.
    KillWorker,
    /// `kill -9` of two workers at once.
    KillBurst,
    /// `SIGSTOP`, then `SIGCONT` after the pause.
    Pause,
    /// The checkpoint disk full (`ENOSPC`) for a while.
    DiskFull,
    /// The checkpoint disk read-only (`EROFS`) for a while.
    DiskReadOnly,
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::KillWorker => "kill -9 of one worker",
            FaultKind::KillBurst => "kill -9 of two workers at once",
            FaultKind::Pause => "SIGSTOP past the heartbeat timeout, then SIGCONT",
            FaultKind::DiskFull => "checkpoint disk full",
            FaultKind::DiskReadOnly => "checkpoint disk read-only",
        })
    }
}

/// One injected fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// Since the suite started.
    pub at_ms: u64,
    /// What it was.
    pub kind: FaultKind,
    /// The processes it hit.
    pub targets: Vec<Member>,
    /// True when it hit before the job recovered from the previous fault
    /// (during a restart or restore).
    pub during_recovery: bool,
    /// How long the process was paused, or the disk faulty (0 for kills).
    pub duration_ms: u64,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<String> = self
            .targets
            .iter()
            .map(|m| format!("{} (pid {})", m.name, m.pid))
            .collect();
        write!(f, "[{:>9.3} s] {}", self.at_ms as f64 / 1000.0, self.kind)?;
        let disk = matches!(self.kind, FaultKind::DiskFull | FaultKind::DiskReadOnly);
        if disk {
            write!(f, " for {} ms", self.duration_ms)?;
            if !targets.is_empty() {
                write!(f, ", and kill -9 meanwhile of {}", targets.join(", "))?;
            }
        } else {
            write!(f, ": {}", targets.join(", "))?;
            if self.duration_ms > 0 {
                write!(f, " for {} ms", self.duration_ms)?;
            }
        }
        if self.during_recovery {
            f.write_str(", during the recovery from the previous fault")?;
        }
        Ok(())
    }
}

/// One job of a suite.
#[derive(Debug, Clone)]
pub struct Round {
    /// The job's arguments.
    pub job: OracleArgs,
    /// True when `spate submit` reported success.
    pub job_succeeded: bool,
    /// The end of the submit log (its summary, or why it failed).
    pub submit_log_tail: String,
    /// The checker's verdict on the committed output.
    pub report: Report,
    /// Faults injected during this job.
    pub faults: u32,
    /// Restarts the coordinator logged for this job.
    pub restarts: u32,
}

impl Round {
    /// True when the job succeeded and its output is a fault-free run's.
    pub fn passed(&self) -> bool {
        self.job_succeeded && self.report.is_clean()
    }
}

/// What a suite did and found.
#[derive(Debug, Clone)]
pub struct SuiteOutcome {
    /// How it ran.
    pub config: SuiteConfig,
    /// Its jobs.
    pub rounds: Vec<Round>,
    /// Every fault, in order.
    pub faults: Vec<Fault>,
    /// Per measured fault: from the fault to the first checkpoint completed
    /// after the restart it caused, in ms.
    pub recoveries_ms: Vec<u64>,
    /// Faults whose recovery was cut short by the next fault (or the end).
    pub recoveries_unmeasured: u32,
    /// The cluster before the first fault.
    pub resources_before: Resources,
    /// The cluster after the last round.
    pub resources_after: Resources,
    /// Paused workers that were still alive 10 s after `SIGCONT` (they
    /// should exit once fenced).
    pub stale_survivors: Vec<Member>,
    /// Checkpoints a worker declined, as the coordinator logged them (a
    /// disk fault shows here: the worker could not store its state).
    pub declines_logged: usize,
    /// The whole suite.
    pub wall: Duration,
}

impl SuiteOutcome {
    /// True when every round passed and no fenced worker lingered.
    pub fn passed(&self) -> bool {
        !self.rounds.is_empty()
            && self.rounds.iter().all(Round::passed)
            && self.stale_survivors.is_empty()
    }
}

/// Runs a suite to the end and returns what happened; an `Err` means the
/// harness itself could not run (the cluster did not start, ...).
pub fn run_suite(cfg: &SuiteConfig, log: &mut dyn FnMut(&str)) -> Result<SuiteOutcome> {
    if cfg.keys == 0 || !cfg.keys.is_multiple_of(u64::from(WORKERS)) {
        return Err(TortureError::Usage(format!(
            "--keys ({}) must be a positive multiple of the {WORKERS} workers",
            cfg.keys
        )));
    }
    let start = Instant::now();
    std::fs::create_dir_all(&cfg.work_dir).map_err(|e| io("creating", &cfg.work_dir, e))?;
    let mut cluster = LocalCluster::start(
        &cfg.spate,
        &cfg.work_dir.join("cluster"),
        WORKERS,
        cfg.heartbeat_timeout_ms,
    )?;
    log(&format!(
        "cluster started in {} (heartbeat timeout {} ms)",
        cluster.dir().display(),
        cfg.heartbeat_timeout_ms
    ));
    let mut run = Run {
        cfg,
        cluster: &cluster,
        rng: Rng::new(cfg.seed),
        start,
        faults: Vec::new(),
        recoveries_ms: Vec::new(),
        recoveries_unmeasured: 0,
        pending: None,
        stopped: Vec::new(),
        disk: None,
        disk_heal_at: None,
    };
    let resources_before = cluster.resources();
    let mut rounds = Vec::new();
    while run.faults.len() < cfg.faults_target as usize {
        let index = rounds.len();
        let round = run.round(index, log)?;
        log(&format!(
            "round {index}: {} faults, {} restarts, job {}; {}",
            round.faults,
            round.restarts,
            if round.job_succeeded {
                "succeeded"
            } else {
                "FAILED"
            },
            round.report.to_string().trim_end().replace('\n', " ")
        ));
        let failed = !round.passed();
        rounds.push(round);
        if failed {
            break;
        }
    }
    let stale_survivors = run.stale_survivors();
    let (faults, recoveries_ms, recoveries_unmeasured) =
        (run.faults, run.recoveries_ms, run.recoveries_unmeasured);
    let resources_after = cluster.resources();
    let declines_logged = cluster.coordinator_log().matches(DECLINE_MARK).count();
    cluster.stop();
    Ok(SuiteOutcome {
        config: cfg.clone(),
        rounds,
        faults,
        recoveries_ms,
        recoveries_unmeasured,
        resources_before,
        resources_after,
        stale_survivors,
        declines_logged,
        wall: start.elapsed(),
    })
}

/// A fault whose recovery is being timed.
struct PendingRecovery {
    at: Instant,
    /// Restarts in the coordinator's log when the fault hit; the recovery
    /// counts from a restart after it.
    restarts_before: usize,
    /// The newest checkpoint when the fault hit.
    checkpoint_before: Option<u64>,
    /// Set once the restart shows in the log.
    restarted: bool,
}

struct Run<'a> {
    cfg: &'a SuiteConfig,
    cluster: &'a LocalCluster,
    rng: Rng,
    start: Instant,
    faults: Vec<Fault>,
    recoveries_ms: Vec<u64>,
    recoveries_unmeasured: u32,
    pending: Option<PendingRecovery>,
    /// Paused workers, and when they were resumed.
    stopped: Vec<(Member, Instant)>,
    /// The round's checkpoint disk (disk suite).
    disk: Option<CheckpointDisk>,
    /// When the disk's current fault ends.
    disk_heal_at: Option<Instant>,
}

impl Run<'_> {
    fn round(&mut self, index: usize, log: &mut dyn FnMut(&str)) -> Result<Round> {
        let cfg = self.cfg;
        let dir = cfg.work_dir.join(format!("round-{index}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        let faults = cfg
            .faults_per_round
            .min(cfg.faults_target.saturating_sub(self.faults.len() as u32));
        let seconds = u64::from(faults) * cfg.fault_interval_ms_max / 2_000 + cfg.slack_s;
        let job = OracleArgs {
            keys: cfg.keys,
            records: cfg.rate * seconds,
            rate: cfg.rate,
            window_ms: 50,
            output: dir.join("output"),
        };
        let checkpoints = dir.join("checkpoints");
        let mut settings = cfg.job_settings.clone();
        settings.extend([
            format!("checkpoint.interval_ms={}", cfg.checkpoint_interval_ms),
            format!("checkpoint.dir={}", checkpoints.display()),
            // Every fault restarts the job; it must never run out of restarts.
            "checkpoint.restarts_max=1000000".to_string(),
            "runtime.io_memory_kib=256".to_string(),
        ]);
        if cfg.kind == SuiteKind::Disk {
            self.disk = Some(CheckpointDisk::mount(&checkpoints, cfg.disk_bytes)?);
        }
        let submit_log = dir.join("submit.log");
        let restarts_at_start = self.restarts_logged();
        let mut child =
            self.cluster
                .submit("oracle", WORKERS, &settings, &job.to_args(), &submit_log)?;
        log(&format!(
            "round {index}: oracle job of {} records over {} keys at {}/s, {faults} faults, in {}",
            job.records,
            job.keys,
            job.rate,
            dir.display()
        ));
        let mut injected = 0;
        let mut ended = None;
        while injected < faults {
            let wait_ms = self.rng.between(0, cfg.fault_interval_ms_max);
            ended = self.watch(&mut child, Duration::from_millis(wait_ms), &checkpoints)?;
            if ended.is_some() {
                break;
            }
            if let Some(f) = self.inject(&checkpoints)? {
                log(&f.to_string());
                self.faults.push(f);
                injected += 1;
            }
        }
        // Enough for the input at its rate, replays after every fault, and
        // a slow machine.
        let limit = Duration::from_secs(job.records / cfg.rate.max(1) * 3 + 120);
        let status = match ended {
            Some(s) => s,
            None => self
                .watch(&mut child, limit, &checkpoints)?
                .ok_or_else(|| {
                    let _ = child.kill();
                    TortureError::Cluster(format!(
                        "the oracle job of round {index} did not finish within {} s; see {}",
                        limit.as_secs(),
                        submit_log.display()
                    ))
                })?,
        };
        if self.pending.take().is_some() {
            self.recoveries_unmeasured += 1;
        }
        self.disk_heal_at = None;
        if let Some(disk) = self.disk.take() {
            disk.unmount()?;
        }
        let tail = std::fs::read_to_string(&submit_log).unwrap_or_default();
        let tail: String = tail
            .lines()
            .rev()
            .take(8)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        let report = check(&job.output, &job.expected())?;
        Ok(Round {
            job,
            job_succeeded: status,
            submit_log_tail: tail,
            report,
            faults: injected,
            restarts: (self.restarts_logged() - restarts_at_start) as u32,
        })
    }

    /// Watches the job for `wait`, timing recoveries and resuming paused
    /// workers; `Some(success)` when the job ended.
    fn watch(
        &mut self,
        child: &mut Child,
        wait: Duration,
        checkpoints: &Path,
    ) -> Result<Option<bool>> {
        let until = Instant::now() + wait;
        loop {
            self.resume_paused()?;
            self.heal_disk()?;
            self.time_recovery(checkpoints);
            if let Some(status) = child.try_wait().map_err(|e| {
                TortureError::Cluster(format!("cannot wait for `spate submit`: {e}"))
            })? {
                return Ok(Some(status.success()));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
    }

    fn restarts_logged(&self) -> usize {
        self.cluster.coordinator_log().matches(RESTART_MARK).count()
    }

    fn time_recovery(&mut self, checkpoints: &Path) {
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        if !p.restarted {
            // The restart must come first: a checkpoint that completes
            // between the fault and the restart is not a recovery.
            p.restarted =
                self.cluster.coordinator_log().matches(RESTART_MARK).count() > p.restarts_before;
            if !p.restarted {
                return;
            }
        }
        if latest_checkpoint(checkpoints) > p.checkpoint_before {
            self.recoveries_ms.push(p.at.elapsed().as_millis() as u64);
            self.pending = None;
        }
    }

    /// Resumes workers whose pause is over.
    fn resume_paused(&mut self) -> Result<()> {
        let now = Instant::now();
        for (m, until) in &self.stopped {
            if *until <= now && crate::cluster::alive(m.pid) {
                signal(m.pid, "CONT")?;
            }
        }
        self.stopped.retain(|(_, until)| *until > now);
        Ok(())
    }

    /// Ends the disk's fault when it is due.
    fn heal_disk(&mut self) -> Result<()> {
        if self.disk_heal_at.is_some_and(|at| at <= Instant::now()) {
            self.disk_heal_at = None;
            if let Some(disk) = self.disk.as_mut() {
                disk.heal()?;
            }
        }
        Ok(())
    }

    /// Fills the checkpoint disk or makes it read-only for 1–3 s; half the
    /// time also kills a worker meanwhile.
    fn inject_disk(&mut self, checkpoints: &Path) -> Result<Option<Fault>> {
        let Some(disk) = self.disk.as_mut() else {
            return Ok(None);
        };
        let kind = if self.rng.chance(50) {
            disk.fill()?;
            FaultKind::DiskFull
        } else {
            disk.make_read_only()?;
            FaultKind::DiskReadOnly
        };
        let at_ms = self.start.elapsed().as_millis() as u64;
        let duration_ms = self.rng.between(1_000, 3_000);
        self.disk_heal_at = Some(Instant::now() + Duration::from_millis(duration_ms));
        let mut targets = Vec::new();
        let mut during_recovery = false;
        let workers = self.cluster.workers();
        if !workers.is_empty() && self.rng.chance(50) {
            let victim = workers[self.rng.below(workers.len() as u64) as usize].clone();
            during_recovery = self.expect_recovery(checkpoints);
            signal(victim.pid, "KILL")?;
            targets.push(victim);
        }
        Ok(Some(Fault {
            at_ms,
            kind,
            during_recovery,
            targets,
            duration_ms,
        }))
    }

    /// Starts timing the recovery from a fault that restarts the job.
    fn expect_recovery(&mut self, checkpoints: &Path) -> bool {
        let during_recovery = self.pending.is_some();
        if during_recovery {
            self.recoveries_unmeasured += 1;
        }
        self.pending = Some(PendingRecovery {
            at: Instant::now(),
            restarts_before: self.restarts_logged(),
            checkpoint_before: latest_checkpoint(checkpoints),
            restarted: false,
        });
        during_recovery
    }

    fn inject(&mut self, checkpoints: &Path) -> Result<Option<Fault>> {
        if self.cfg.kind == SuiteKind::Disk {
            return self.inject_disk(checkpoints);
        }
        let paused: Vec<u32> = self.stopped.iter().map(|(m, _)| m.pid).collect();
        let mut workers: Vec<Member> = self
            .cluster
            .workers()
            .into_iter()
            .filter(|m| !paused.contains(&m.pid))
            .collect();
        if workers.is_empty() {
            return Ok(None);
        }
        let (kind, count) = match self.cfg.kind {
            SuiteKind::Kill if workers.len() > 1 && self.rng.chance(self.cfg.burst_percent) => {
                (FaultKind::KillBurst, 2)
            }
            SuiteKind::Kill => (FaultKind::KillWorker, 1),
            SuiteKind::Stop | SuiteKind::Disk => (FaultKind::Pause, 1),
        };
        let mut targets = Vec::new();
        for _ in 0..count {
            let i = self.rng.below(workers.len() as u64) as usize;
            targets.push(workers.swap_remove(i));
        }
        let pause_ms = match kind {
            FaultKind::Pause => self.cfg.heartbeat_timeout_ms + self.rng.between(500, 2_500),
            _ => 0,
        };
        let during_recovery = self.expect_recovery(checkpoints);
        let at_ms = self.start.elapsed().as_millis() as u64;
        for m in &targets {
            match kind {
                FaultKind::Pause => {
                    signal(m.pid, "STOP")?;
                    self.stopped
                        .push((m.clone(), Instant::now() + Duration::from_millis(pause_ms)));
                }
                _ => signal(m.pid, "KILL")?,
            }
        }
        Ok(Some(Fault {
            at_ms,
            kind,
            targets,
            during_recovery,
            duration_ms: pause_ms,
        }))
    }

    /// Paused workers still alive: a fenced worker must exit (its share
    /// cannot stop in place) within 10 s of resuming.
    fn stale_survivors(&mut self) -> Vec<Member> {
        for (m, _) in std::mem::take(&mut self.stopped) {
            if crate::cluster::alive(m.pid) {
                let _ = signal(m.pid, "CONT");
            }
        }
        let paused: Vec<&Member> = self
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::Pause)
            .flat_map(|f| f.targets.iter())
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let alive: Vec<Member> = paused
                .iter()
                .filter(|m| crate::cluster::alive(m.pid))
                .map(|m| (*m).clone())
                .collect();
            if alive.is_empty() || Instant::now() >= deadline {
                return alive;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
