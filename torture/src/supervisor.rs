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
use crate::cluster::{
    LocalCluster, Member, Resources, latest_checkpoint, signal, still_alive_after,
};
use crate::disk::CheckpointDisk;
use crate::error::{Result, TortureError, io};
use crate::faultfs::FaultFs;
use crate::oracle::OracleArgs;
use crate::proxy::{FaultProxy, ProxyStats};
use crate::rng::Rng;

/// Workers of the cluster, and the job's parallelism.
pub const WORKERS: u32 = 3;
/// How often the supervisor looks at the job, the checkpoints and the log.
const POLL_MS: u64 = 20;
/// The coordinator's log line of a restart.
const RESTART_MARK: &str = "; restarting from ";
/// A restarted coordinator's log line of the job it resumes.
const RESUME_MARK: &str = "which ran when the coordinator stopped, from ";
/// Starts the description of a fault on a worker's control link.
pub const CONTROL_LINK_MARK: &str = "control link of a worker, ";
/// How long the workers of a killed coordinator may take to notice and exit.
const ORPHANS_EXIT_MS_MAX: u64 = 15_000;
/// The coordinator's log line of a checkpoint a worker declined.
const DECLINE_MARK: &str = " declined: ";
/// A data link whose peer is silent this long is closed (the workers run
/// with `NetConfig`'s default): a shorter stall only slows the job, a
/// longer one must fail it over.
const DATA_LINK_HEARTBEAT_TIMEOUT_MS: u64 = 5_000;
/// Per-direction bandwidth of every link while the network is throttled:
/// below the oracle's own data rate, so backpressure reaches the sources.
const THROTTLE_BYTES_PER_S: u64 = 64 * 1024;

/// Which faults a suite injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SuiteKind {
    /// `kill -9` of a random worker (sometimes two at once), or of the
    /// coordinator, which is then started again.
    Kill,
    /// `SIGSTOP` of a random worker for longer than the heartbeat timeout,
    /// then `SIGCONT`.
    Stop,
    /// RocksDB's disk failing with `EIO`, or the checkpoint disk (a
    /// size-capped tmpfs) full, or read-only, for a
    /// while; sometimes a worker is killed meanwhile, so the job restores
    /// from the disk while it cannot take checkpoints.
    Disk,
    /// Every link, through a fault proxy (the data links between workers,
    /// and each worker's control link to the coordinator): cut, a byte
    /// flipped, one direction closed, stalled (connected and silent), or
    /// every link delayed or throttled for a while.
    Network,
}

impl SuiteKind {
    /// The suite's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SuiteKind::Kill => "kill",
            SuiteKind::Stop => "stop",
            SuiteKind::Disk => "disk",
            SuiteKind::Network => "network",
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
    /// Percent of kills that kill the coordinator (kill suite).
    pub coordinator_percent: u64,
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
    /// The network suite hits only the workers' control links to the
    /// coordinator.
    pub control_links_only: bool,
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
            coordinator_percent: 10,
            heartbeat_timeout_ms: 1_500,
            checkpoint_interval_ms: 250,
            keys: 600,
            rate: 6_000,
            slack_s: 6,
            work_dir,
            spate,
            job_settings: Vec::new(),
            disk_bytes: 16 << 20,
            control_links_only: false,
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
    /// `kill -9` of the coordinator, started again once its workers exited.
    KillCoordinator,
    /// `SIGSTOP`, then `SIGCONT` after the pause.
    Pause,
    /// The checkpoint disk full (`ENOSPC`) for a while.
    DiskFull,
    /// The checkpoint disk read-only (`EROFS`) for a while.
    DiskReadOnly,
    /// RocksDB's own disk failing every write and fsync with `EIO` for a
    /// while (a FUSE file system under `state.rocksdb_local_dir`).
    RocksDbEio,
    /// A data link cut mid-stream.
    LinkCut,
    /// One byte of a data link flipped.
    LinkCorrupt,
    /// A data link closed in one direction only.
    LinkHalfClose,
    /// A data link stalled (connected, relaying nothing) for a while.
    LinkStall,
    /// Every data link delayed for a while.
    LinksDelayed,
    /// Every data link throttled for a while.
    LinksThrottled,
}

impl FaultKind {
    fn timed(self) -> bool {
        self.is_disk()
            || matches!(
                self,
                FaultKind::LinkStall | FaultKind::LinksDelayed | FaultKind::LinksThrottled
            )
    }

    fn is_disk(self) -> bool {
        matches!(
            self,
            FaultKind::DiskFull | FaultKind::DiskReadOnly | FaultKind::RocksDbEio
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultKind::KillWorker => "kill -9 of one worker",
            FaultKind::KillBurst => "kill -9 of two workers at once",
            FaultKind::KillCoordinator => "kill -9 of the coordinator, then a restart",
            FaultKind::Pause => "SIGSTOP past the heartbeat timeout, then SIGCONT",
            FaultKind::DiskFull => "checkpoint disk full",
            FaultKind::DiskReadOnly => "checkpoint disk read-only",
            FaultKind::RocksDbEio => "RocksDB's disk failing writes and fsyncs with EIO",
            FaultKind::LinkCut => "link cut mid-stream",
            FaultKind::LinkCorrupt => "a byte of a link flipped",
            FaultKind::LinkHalfClose => "link closed in one direction",
            FaultKind::LinkStall => "link stalled, connected and silent",
            FaultKind::LinksDelayed => "every data link delayed",
            FaultKind::LinksThrottled => "every data link throttled to 64 KiB/s",
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
    /// How long the process was paused, or the disk or network faulty (0
    /// for kills and one-off link faults).
    pub duration_ms: u64,
    /// The link it hit (network suite), e.g. `tunnel 3 to 127.0.0.1:4242`,
    /// and the delay added for a delay.
    pub link: Option<String>,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let targets: Vec<String> = self
            .targets
            .iter()
            .map(|m| format!("{} (pid {})", m.name, m.pid))
            .collect();
        write!(f, "[{:>9.3} s] {}", self.at_ms as f64 / 1000.0, self.kind)?;
        let disk = self.kind.is_disk();
        if let Some(link) = &self.link {
            write!(f, ": {link}")?;
            if self.duration_ms > 0 {
                write!(f, " for {} ms", self.duration_ms)?;
            }
        } else if disk {
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
    /// The cluster after each round, with the seconds since the suite
    /// started: growth over a long run (a soak) shows here.
    pub samples: Vec<(u64, Resources)>,
    /// Paused workers that were still alive 10 s after `SIGCONT` (they
    /// should exit once fenced).
    pub stale_survivors: Vec<Member>,
    /// Checkpoints a worker declined, as the coordinator logged them (a
    /// disk fault shows here: the worker could not store its state).
    pub declines_logged: usize,
    /// What the fault proxy relayed (network suite).
    pub proxy: Option<ProxyStats>,
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
    let proxy = match cfg.kind {
        SuiteKind::Network => Some(FaultProxy::start()?),
        _ => None,
    };
    let mut cluster = LocalCluster::start(
        &cfg.spate,
        &cfg.work_dir.join("cluster"),
        WORKERS,
        cfg.heartbeat_timeout_ms,
        proxy.as_ref().map(FaultProxy::addr),
        &[],
    )?;
    if let Some(p) = &proxy {
        log(&format!(
            "data links go through the fault proxy on {}",
            p.addr()
        ));
    }
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
        rocks_disk: None,
        heal_at: None,
        proxy: proxy.as_ref(),
    };
    let resources_before = cluster.resources();
    let mut samples = vec![(0, resources_before)];
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
        samples.push((start.elapsed().as_secs(), cluster.resources()));
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
    let proxy = proxy.as_ref().map(FaultProxy::stats);
    Ok(SuiteOutcome {
        config: cfg.clone(),
        rounds,
        faults,
        recoveries_ms,
        recoveries_unmeasured,
        resources_before,
        resources_after,
        samples,
        stale_survivors,
        declines_logged,
        proxy,
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
    /// The round's RocksDB disk (disk suite).
    rocks_disk: Option<FaultFs>,
    /// When the current disk or network fault ends.
    heal_at: Option<Instant>,
    /// The fault proxy on the data links (network suite).
    proxy: Option<&'a FaultProxy>,
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
        let mut settings = Vec::new();
        if cfg.kind == SuiteKind::Disk {
            // Keyed state in RocksDB on a disk that can fail; the user's
            // settings come after, so they may choose otherwise.
            let rocks = FaultFs::mount(&dir.join("rocks-disk"))?;
            settings.push("state.backend=rocksdb".to_string());
            settings.push(format!("state.rocksdb_local_dir={}", rocks.dir().display()));
            self.rocks_disk = Some(rocks);
        }
        settings.extend(cfg.job_settings.iter().cloned());
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
        self.heal_at = Some(Instant::now());
        self.heal()?;
        if let Some(disk) = self.disk.take() {
            disk.unmount()?;
        }
        self.rocks_disk = None;
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
            self.heal()?;
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

    /// Restarts of the job, and resumptions by a restarted coordinator.
    fn restarts_logged(&self) -> usize {
        let log = self.cluster.coordinator_log();
        log.matches(RESTART_MARK).count() + log.matches(RESUME_MARK).count()
    }

    fn time_recovery(&mut self, checkpoints: &Path) {
        let restarts = match &self.pending {
            Some(p) if !p.restarted => self.restarts_logged(),
            _ => 0,
        };
        let Some(p) = self.pending.as_mut() else {
            return;
        };
        if !p.restarted {
            // The restart must come first: a checkpoint that completes
            // between the fault and the restart is not a recovery.
            p.restarted = restarts > p.restarts_before;
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

    /// Ends the disk's or the network's fault when it is due.
    fn heal(&mut self) -> Result<()> {
        if self.heal_at.is_some_and(|at| at <= Instant::now()) {
            self.heal_at = None;
            if let Some(disk) = self.disk.as_mut() {
                disk.heal()?;
            }
            if let Some(rocks) = self.rocks_disk.as_ref() {
                rocks.set_failing(false)?;
            }
            if let Some(p) = self.proxy {
                p.unstall_all();
                p.set_delay_ms(0);
                p.set_throttle_bytes_per_s(0);
            }
        }
        Ok(())
    }

    /// Fills the checkpoint disk, makes it read-only, or makes RocksDB's
    /// disk fail with `EIO`, for 1–3 s; half the time also kills a worker
    /// meanwhile.
    fn inject_disk(&mut self, checkpoints: &Path) -> Result<Option<Fault>> {
        let (Some(disk), Some(rocks)) = (self.disk.as_mut(), self.rocks_disk.as_ref()) else {
            return Ok(None);
        };
        let kind = match self.rng.below(3) {
            0 => {
                disk.fill()?;
                FaultKind::DiskFull
            }
            1 => {
                disk.make_read_only()?;
                FaultKind::DiskReadOnly
            }
            _ => {
                rocks.set_failing(true)?;
                FaultKind::RocksDbEio
            }
        };
        let at_ms = self.start.elapsed().as_millis() as u64;
        let duration_ms = self.rng.between(1_000, 3_000);
        self.heal_at = Some(Instant::now() + Duration::from_millis(duration_ms));
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
            link: None,
        }))
    }

    /// Damages the data links: a one-off fault on a random link (cut,
    /// corrupt, half-close), a stall of one link for 1–8 s (past the links'
    /// heartbeat timeout or not), or a delay or throttle of every link for
    /// 1–3 s. `None` when no link is open (between restarts).
    fn inject_network(&mut self, checkpoints: &Path) -> Result<Option<Fault>> {
        let Some(proxy) = self.proxy else {
            return Ok(None);
        };
        if self.heal_at.is_some() {
            // One timed fault at a time: its heal would end the next one.
            return Ok(None);
        }
        let coordinator = self.cluster.coordinator_addr();
        let tunnels: Vec<u64> = proxy
            .tunnels()
            .into_iter()
            .filter(|&id| {
                !self.cfg.control_links_only
                    || (coordinator.is_some() && proxy.target(id) == coordinator)
            })
            .collect();
        if tunnels.is_empty() {
            return Ok(None);
        }
        let id = tunnels[self.rng.below(tunnels.len() as u64) as usize];
        let target = proxy.target(id);
        // A worker's link to its coordinator, or a data link between workers.
        let control = target.is_some() && target == coordinator;
        let link = format!(
            "{}tunnel {id} to {}",
            if control { CONTROL_LINK_MARK } else { "" },
            target.map_or("?".into(), |a| a.to_string())
        );
        // Faults of every link at once are not a control link's.
        let kinds = if self.cfg.control_links_only { 4 } else { 6 };
        let kind = match self.rng.below(kinds) {
            0 => FaultKind::LinkCut,
            1 => FaultKind::LinkCorrupt,
            2 => FaultKind::LinkHalfClose,
            3 => FaultKind::LinkStall,
            4 => FaultKind::LinksDelayed,
            _ => FaultKind::LinksThrottled,
        };
        let duration_ms = match kind {
            FaultKind::LinkStall => self.rng.between(1_000, 8_000),
            k if k.timed() => self.rng.between(1_000, 3_000),
            _ => 0,
        };
        let fails_over = match kind {
            FaultKind::LinkCut | FaultKind::LinkCorrupt | FaultKind::LinkHalfClose => true,
            // Heartbeats stop reaching the coordinator: the worker is fenced.
            FaultKind::LinkStall if control => duration_ms > self.cfg.heartbeat_timeout_ms,
            FaultKind::LinkStall => duration_ms > DATA_LINK_HEARTBEAT_TIMEOUT_MS,
            _ => false,
        };
        let at_ms = self.start.elapsed().as_millis() as u64;
        let delay_ms = self.rng.between(5, 50);
        let link = match kind {
            FaultKind::LinkCut => proxy.cut(id).then_some(link),
            FaultKind::LinkCorrupt => proxy.corrupt(id).then_some(link),
            FaultKind::LinkHalfClose => proxy.half_close(id).then_some(link),
            FaultKind::LinkStall => proxy.stall(id).then_some(link),
            FaultKind::LinksDelayed => {
                proxy.set_delay_ms(delay_ms);
                Some(format!("{} links, {delay_ms} ms per chunk", tunnels.len()))
            }
            _ => {
                proxy.set_throttle_bytes_per_s(THROTTLE_BYTES_PER_S);
                Some(format!("{} links", tunnels.len()))
            }
        };
        let Some(link) = link else {
            // The tunnel closed between the listing and the fault.
            return Ok(None);
        };
        // After the fault, which only starts the failure: the workers see
        // it no sooner than their next read, long after this.
        let during_recovery = if fails_over {
            self.expect_recovery(checkpoints)
        } else {
            self.pending.is_some()
        };
        if kind.timed() {
            self.heal_at = Some(Instant::now() + Duration::from_millis(duration_ms));
        }
        Ok(Some(Fault {
            at_ms,
            kind,
            targets: Vec::new(),
            during_recovery,
            duration_ms,
            link: Some(link),
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
        match self.cfg.kind {
            SuiteKind::Disk => return self.inject_disk(checkpoints),
            SuiteKind::Network => return self.inject_network(checkpoints),
            SuiteKind::Kill | SuiteKind::Stop => {}
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
        if self.cfg.kind == SuiteKind::Kill && self.rng.chance(self.cfg.coordinator_percent) {
            return self.kill_coordinator(checkpoints, workers).map(Some);
        }
        let (kind, count) = match self.cfg.kind {
            SuiteKind::Kill if workers.len() > 1 && self.rng.chance(self.cfg.burst_percent) => {
                (FaultKind::KillBurst, 2)
            }
            SuiteKind::Kill => (FaultKind::KillWorker, 1),
            SuiteKind::Stop | SuiteKind::Disk | SuiteKind::Network => (FaultKind::Pause, 1),
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
            link: None,
        }))
    }

    /// `kill -9` of the coordinator; once its workers exited (they must not
    /// run on alone), it is started again and resumes the job.
    fn kill_coordinator(&mut self, checkpoints: &Path, workers: Vec<Member>) -> Result<Fault> {
        let coordinator = self
            .cluster
            .members()
            .into_iter()
            .find(|m| m.name == "coordinator")
            .ok_or_else(|| TortureError::Cluster("the coordinator is not running".into()))?;
        let during_recovery = self.expect_recovery(checkpoints);
        let at_ms = self.start.elapsed().as_millis() as u64;
        signal(coordinator.pid, "KILL")?;
        let left = still_alive_after(&workers, Duration::from_millis(ORPHANS_EXIT_MS_MAX));
        if !left.is_empty() {
            let left: Vec<String> = left
                .iter()
                .map(|w| format!("{} (pid {})", w.name, w.pid))
                .collect();
            return Err(TortureError::Cluster(format!(
                "{} still ran {ORPHANS_EXIT_MS_MAX} ms after their coordinator was killed",
                left.join(", ")
            )));
        }
        self.cluster.restart_coordinator()?;
        Ok(Fault {
            at_ms,
            kind: FaultKind::KillCoordinator,
            targets: vec![coordinator],
            during_recovery,
            duration_ms: 0,
            link: None,
        })
    }

    /// Paused workers still alive: a fenced worker must exit (its share
    /// cannot stop in place) within 10 s of resuming.
    fn stale_survivors(&mut self) -> Vec<Member> {
        for (m, _) in std::mem::take(&mut self.stopped) {
            if crate::cluster::alive(m.pid) {
                let _ = signal(m.pid, "CONT");
            }
        }
        let paused: Vec<Member> = self
            .faults
            .iter()
            .filter(|f| f.kind == FaultKind::Pause)
            .flat_map(|f| f.targets.iter().cloned())
            .collect();
        still_alive_after(&paused, Duration::from_secs(10))
    }
}
