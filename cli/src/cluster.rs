//! `spate coordinator`, `spate worker`, `spate cluster start|stop|status`
//! and `spate submit`: the cluster's processes and their clients.

use std::fs;
use std::net::{IpAddr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use spate_cluster::client::{self, ClusterJobResult};
use spate_cluster::coordinator::{self, CoordinatorConfig};
use spate_cluster::launcher::write_pid;
use spate_cluster::protocol::{Assignment, JobSpec, StatusReport};
use spate_cluster::worker::{WorkerOptions, run_worker};
use spate_net::NetConfig;

use crate::catalog::{Catalog, JOBS};
use crate::config_args::ConfigArgs;

/// `spate coordinator`.
#[derive(Args, Debug)]
pub struct CoordinatorArgs {
    /// Address to listen on for workers and clients.
    #[arg(long, default_value = "127.0.0.1:6123")]
    listen: SocketAddr,
    /// Write the bound address into this file once listening.
    #[arg(long, value_name = "FILE")]
    addr_file: Option<PathBuf>,
    /// Launch and keep this many workers with --launcher (0: workers join by hand).
    #[arg(long, default_value_t = 0)]
    workers: u32,
    /// Cores of each launched worker.
    #[arg(long, default_value_t = 1)]
    cores_per_worker: u32,
    /// Directory for launched workers' pid and log files.
    #[arg(long, default_value = "./spate-cluster")]
    dir: PathBuf,
    /// A worker silent this long is declared dead and fenced.
    #[arg(long, default_value_t = 5_000)]
    heartbeat_timeout_ms: u64,
    /// How often workers send heartbeats.
    #[arg(long, default_value_t = 500)]
    heartbeat_interval_ms: u64,
    /// Serve /healthz, /readyz, /v1/status and /metrics (Prometheus) here.
    #[arg(long, value_name = "ADDR")]
    http: Option<SocketAddr>,
    /// Write the bound HTTP address into this file once listening.
    #[arg(long, value_name = "FILE")]
    http_addr_file: Option<PathBuf>,
    /// Keep the running job's record here (a persistent volume on
    /// Kubernetes): a coordinator restarted with the same directory resumes
    /// the job from its newest checkpoint. Without it, a job dies with its
    /// coordinator.
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    #[command(flatten)]
    launcher: crate::launchers::LauncherArgs,
}

/// `spate worker`.
#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// The coordinator's address, `HOST:PORT` (a name is resolved, and retried
    /// until it answers).
    #[arg(long)]
    coordinator: String,
    /// Cores to offer.
    #[arg(long, default_value_t = 1)]
    cores: u32,
    /// Address the data links listen on.
    #[arg(long, default_value = "127.0.0.1")]
    data_host: IpAddr,
    /// Run only on these CPUs, e.g. `2,3` or `4-7` (default: every CPU the
    /// process may use); core `c` pins to the `c`-th of them.
    #[arg(long, value_name = "LIST")]
    cpus: Option<String>,
    /// Leave the executors unpinned (for workers that share CPUs).
    #[arg(long, conflicts_with = "cpus")]
    no_pin: bool,
    /// Receive buffers (credits) each input channel from another worker
    /// asks for; fewer are given once the core's pool runs short.
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    buffers_per_channel: u32,
    /// Dial other workers' data links through this HTTP CONNECT proxy,
    /// `HOST:PORT` (a sidecar or egress gateway; the torture suites' fault
    /// proxy).
    #[arg(long, value_name = "HOST:PORT")]
    data_proxy: Option<SocketAddr>,
    /// Dial the coordinator through this HTTP CONNECT proxy, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    control_proxy: Option<SocketAddr>,
}

/// `spate cluster`.
#[derive(Subcommand, Debug)]
pub enum ClusterCommand {
    /// Start a local cluster: a coordinator that launches N worker processes on loopback.
    /// Started again in the same directory after its coordinator died, it
    /// resumes the job that ran from its newest checkpoint.
    Start(StartArgs),
    /// Stop the cluster started in DIR.
    Stop(DirArgs),
    /// Show the workers and jobs of the cluster in DIR.
    Status(DirArgs),
}

/// `spate cluster start`.
#[derive(Args, Debug)]
pub struct StartArgs {
    /// Worker processes.
    #[arg(long, default_value_t = 3)]
    workers: u32,
    /// Cores per worker.
    #[arg(long, default_value_t = 1)]
    cores_per_worker: u32,
    /// Where the pid files, logs and `coordinator.addr` go.
    #[arg(long, default_value = "./spate-cluster")]
    dir: PathBuf,
    /// Heartbeat timeout of the coordinator.
    #[arg(long, default_value_t = 5_000)]
    heartbeat_timeout_ms: u64,
    /// The workers dial each other's data links through this HTTP CONNECT
    /// proxy, `HOST:PORT`.
    #[arg(long, value_name = "HOST:PORT")]
    data_proxy: Option<SocketAddr>,
    /// The workers dial the coordinator through this HTTP CONNECT proxy.
    #[arg(long, value_name = "HOST:PORT")]
    control_proxy: Option<SocketAddr>,
}

/// A cluster directory, or a coordinator address.
#[derive(Args, Debug)]
pub struct DirArgs {
    /// The cluster's directory (holds `coordinator.addr`).
    #[arg(long, default_value = "./spate-cluster")]
    dir: PathBuf,
    /// The coordinator's address, `HOST:PORT` (instead of reading it from DIR).
    #[arg(long)]
    coordinator: Option<String>,
}

impl DirArgs {
    pub(crate) fn addr(&self) -> anyhow::Result<String> {
        match &self.coordinator {
            Some(a) => Ok(a.clone()),
            None => read_addr(&self.dir).map(|a| a.to_string()),
        }
    }
}

/// `spate submit`.
#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The job: nexmark, late-data, overload or oracle.
    job: String,
    /// Subtasks of every operator over the cluster.
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Start from the savepoint in DIR (or s3://bucket/prefix), with any
    /// parallelism.
    #[arg(long, value_name = "DIR")]
    from_savepoint: Option<PathBuf>,
    #[command(flatten)]
    target: DirArgs,
    #[command(flatten)]
    config: ConfigArgs,
    /// When the coordinator is lost while the job runs, wait this long for
    /// a restarted coordinator to resume it (0: fail at once).
    #[arg(long, default_value_t = REATTACH_TIMEOUT_MS_DEFAULT)]
    reattach_timeout_ms: u64,
    /// The job's own arguments, after `--` (e.g. `-- --query q5 --events 1000000`).
    #[arg(last = true)]
    args: Vec<String>,
}

fn read_addr(dir: &Path) -> anyhow::Result<SocketAddr> {
    let path = dir.join("coordinator.addr");
    let text = fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}; is a cluster running there (`spate cluster start --dir {}`)?",
            path.display(),
            dir.display()
        )
    })?;
    text.trim().parse().with_context(|| {
        format!(
            "{} does not hold an address: `{}`",
            path.display(),
            text.trim()
        )
    })
}

/// Runs the coordinator until it is told to shut down.
pub fn run_coordinator(args: CoordinatorArgs) -> anyhow::Result<()> {
    // Crash tests arm points where the coordinator dies mid-checkpoint (it
    // writes the manifests).
    let armed = spate_state::crash_point::arm_from_var(
        spate_state::crash_point::COORDINATOR_CRASH_POINTS_VAR,
    )?;
    if !armed.is_empty() {
        tracing::warn!("crash points armed (the coordinator may abort on purpose): {armed:?}");
    }
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let launcher = crate::launchers::build(
        &args.launcher,
        args.workers,
        args.cores_per_worker,
        &args.dir,
    )?;
    let http = match args.http {
        Some(a) => Some(TcpListener::bind(a).with_context(|| format!("cannot serve http on {a}"))?),
        None => None,
    };
    if let (Some(path), Some(http)) = (&args.http_addr_file, &http) {
        write_addr(path, http.local_addr()?)?;
    }
    if let Some(path) = &args.addr_file {
        write_addr(path, addr)?;
    }
    tracing::info!("coordinator listening on {addr}");
    let cfg = CoordinatorConfig {
        heartbeat_interval_ms: args.heartbeat_interval_ms,
        heartbeat_timeout_ms: args.heartbeat_timeout_ms,
        workers_target: args.workers,
        ..CoordinatorConfig::default()
    };
    coordinator::serve(listener, http, cfg, launcher, args.state_dir.as_deref())?;
    Ok(())
}

/// Writes an address atomically (temporary file, then rename), so a reader
/// never sees half of it.
fn write_addr(path: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let tmp = path.with_extension("addr.tmp");
    fs::write(&tmp, format!("{addr}\n"))
        .and_then(|()| fs::rename(&tmp, path))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs a worker until the cluster shuts down.
pub fn run_worker_cmd(args: WorkerArgs) -> anyhow::Result<()> {
    // Crash tests arm points where this worker dies mid-checkpoint.
    let armed = spate_state::crash_point::arm_from_env()?;
    if !armed.is_empty() {
        tracing::warn!("crash points armed (this worker may abort on purpose): {armed:?}");
    }
    if let Some(list) = &args.cpus {
        // Before any thread starts: every thread of the worker inherits it.
        spate::cpus::restrict_to(&spate::cpus::parse_list(list)?)?;
        tracing::info!("running on CPUs {list}");
    }
    let opts = WorkerOptions {
        coordinator: args.coordinator.clone(),
        cores: args.cores,
        data_host: args.data_host,
        connect_timeout_ms: 60_000,
        control_proxy: args.control_proxy,
        deploy_timeout_ms: 30_000,
        net: NetConfig {
            connect_via: args.data_proxy,
            ..NetConfig::default()
        },
        buffers_per_channel: args.buffers_per_channel,
        pin_cores: !args.no_pin,
        release_memory: Some(crate::heap::release_free_memory),
    };
    run_worker(&opts, Arc::new(Catalog))?;
    Ok(())
}

/// Runs a `spate cluster` command.
pub fn cluster(cmd: ClusterCommand) -> anyhow::Result<()> {
    match cmd {
        ClusterCommand::Start(args) => start(&args),
        ClusterCommand::Stop(args) => stop(&args),
        ClusterCommand::Status(args) => {
            print!("{}", format_status(&client::status(&args.addr()?)?));
            Ok(())
        }
    }
}

fn start(args: &StartArgs) -> anyhow::Result<()> {
    if args.workers == 0 || args.cores_per_worker == 0 {
        bail!("a cluster needs at least one worker with at least one core");
    }
    fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    let addr_file = args.dir.join("coordinator.addr");
    if let Ok(addr) = read_addr(&args.dir)
        && client::status(&addr.to_string()).is_ok()
    {
        bail!(
            "a cluster already runs in {} (coordinator {addr}); stop it first with `spate cluster stop --dir {}`",
            args.dir.display(),
            args.dir.display()
        );
    }
    let _ = fs::remove_file(&addr_file);
    let _ = fs::remove_file(args.dir.join("http.addr"));
    let log_path = args.dir.join("coordinator.log");
    // Appended to: a coordinator started again after a crash keeps the
    // dead one's log before its own.
    let log = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("cannot open {}", log_path.display()))?;
    let binary = std::env::current_exe().context("cannot find the spate executable")?;
    let child = Command::new(binary)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        )
        .args(["coordinator", "--listen", "127.0.0.1:0"])
        .arg("--addr-file")
        .arg(&addr_file)
        .arg("--workers")
        .arg(args.workers.to_string())
        .arg("--cores-per-worker")
        .arg(args.cores_per_worker.to_string())
        .arg("--heartbeat-timeout-ms")
        .arg(args.heartbeat_timeout_ms.to_string())
        .args(
            args.data_proxy
                .iter()
                .flat_map(|p| ["--worker-data-proxy".to_string(), p.to_string()]),
        )
        .args(
            args.control_proxy
                .iter()
                .flat_map(|p| ["--worker-control-proxy".to_string(), p.to_string()]),
        )
        .arg("--dir")
        .arg(&args.dir)
        // Started again in the same directory, it resumes the job that ran.
        .arg("--state-dir")
        .arg(args.dir.join("coordinator-state"))
        // The operations API, for `spate status --dir`.
        .args(["--http", "127.0.0.1:0", "--http-addr-file"])
        .arg(args.dir.join("http.addr"))
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .context("cannot start the coordinator process")?;
    write_pid(&args.dir.join("coordinator.pid"), child.id())?;
    let addr = wait_for(Duration::from_secs(30), "the coordinator to listen", || {
        read_addr(&args.dir).ok()
    })?;
    wait_for(Duration::from_secs(60), "every worker to register", || {
        client::status(&addr.to_string())
            .ok()
            .filter(|s| s.workers.len() as u32 >= args.workers)
    })
    .with_context(|| format!("see the logs in {}", args.dir.display()))?;
    println!(
        "cluster started: coordinator {addr}, {} workers × {} cores; files in {}",
        args.workers,
        args.cores_per_worker,
        args.dir.display()
    );
    Ok(())
}

fn wait_for<T>(
    limit: Duration,
    what: &str,
    mut poll: impl FnMut() -> Option<T>,
) -> anyhow::Result<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = poll() {
            return Ok(v);
        }
        if start.elapsed() > limit {
            bail!("timed out after {} s waiting for {what}", limit.as_secs());
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn stop(args: &DirArgs) -> anyhow::Result<()> {
    let addr = args.addr()?;
    let asked = client::shutdown(&addr);
    // Whatever the coordinator did, no process of this cluster survives.
    let pids = pid_files(&args.dir);
    let _ = wait_for(
        Duration::from_secs(10),
        "the cluster's processes to exit",
        || pids.iter().all(|(_, pid)| !alive(*pid)).then_some(()),
    );
    for (file, pid) in &pids {
        if alive(*pid) {
            eprintln!("{} (pid {pid}) did not exit; killing it", file.display());
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let _ = fs::remove_file(file);
    }
    let _ = fs::remove_file(args.dir.join("coordinator.addr"));
    let _ = fs::remove_file(args.dir.join("http.addr"));
    match asked {
        Ok(()) => println!("cluster stopped ({addr})"),
        Err(e) => println!("cluster processes stopped; the coordinator did not answer: {e}"),
    }
    Ok(())
}

fn pid_files(dir: &Path) -> Vec<(PathBuf, u32)> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "pid"))
        .filter_map(|p| {
            let pid = fs::read_to_string(&p).ok()?.trim().parse().ok()?;
            Some((p, pid))
        })
        .collect()
}

fn alive(pid: u32) -> bool {
    // A zombie is dead for our purpose: its /proc stat says `Z`.
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().to_string())
        })
        .is_some_and(|rest| !rest.starts_with('Z'))
}

fn format_status(s: &StatusReport) -> String {
    let mut out = format!("workers         {}\n", s.workers.len());
    for w in &s.workers {
        out.push_str(&format!(
            "  worker {:<3} pid {:<8} cores {:<3} epoch {:<4} heartbeat {} ms ago{}\n",
            w.worker,
            w.pid,
            w.cores,
            w.epoch,
            w.since_heartbeat_ms,
            w.job
                .map(|j| format!(", running job {j}"))
                .unwrap_or_default()
        ));
    }
    match &s.running {
        Some((id, name, phase)) => {
            out.push_str(&format!("running         job {id} ({name}), {phase}\n"))
        }
        None => out.push_str("running         none\n"),
    }
    for (id, name, outcome) in s.finished.iter().rev().take(10) {
        out.push_str(&format!("  job {id} ({name}) {outcome}\n"));
    }
    out
}

/// The plan, as `submit` and `bench --cluster` print it.
pub fn format_plan(job: u64, plan: &[Assignment]) -> String {
    let mut out = format!("job {job} deployed:\n");
    for a in plan {
        out.push_str(&format!(
            "  worker {:<3} subtasks {}..{}  key groups [{}, {})\n",
            a.worker,
            a.subtask_offset,
            a.subtask_offset + a.cores,
            a.key_groups.0,
            a.key_groups.1
        ));
    }
    out
}

/// The settings a job spec carries from the config flags.
pub fn spec_settings(config: &ConfigArgs) -> anyhow::Result<Vec<String>> {
    if config.file.is_some() {
        bail!("--config files are not sent to a cluster; pass the keys with --set instead");
    }
    let mut settings: Vec<String> = config
        .profile
        .iter()
        .map(|p| format!("profile={p}"))
        .collect();
    settings.extend(config.overrides.iter().cloned());
    Ok(settings)
}

/// How long a client waits for a lost coordinator to come back and
/// resume its job, unless told otherwise.
pub const REATTACH_TIMEOUT_MS_DEFAULT: u64 = 120_000;

/// Where a submitted job's coordinator is, and is again after a restart.
pub struct SubmitTarget<'a> {
    /// Its address now.
    pub addr: String,
    /// The local cluster's directory, whose `coordinator.addr` names a
    /// restarted coordinator (it listens on a new port); `None`: the
    /// address stays (a Kubernetes Service).
    pub dir: Option<&'a Path>,
    /// How long to wait for a lost coordinator (0: do not wait).
    pub reattach_timeout_ms: u64,
}

impl SubmitTarget<'_> {
    /// A coordinator at a fixed address, waited for the default time.
    pub fn fixed(addr: &str) -> Self {
        Self {
            addr: addr.to_string(),
            dir: None,
            reattach_timeout_ms: REATTACH_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// Submits a job and waits for its result, attaching to it again if the
/// coordinator restarts meanwhile.
pub fn submit_job(
    target: &SubmitTarget<'_>,
    spec: JobSpec,
    parallelism: u32,
    quiet: bool,
) -> anyhow::Result<ClusterJobResult> {
    let mut addr_now = || match target.dir {
        Some(dir) => read_addr(dir).ok().map(|a| a.to_string()),
        None => Some(target.addr.clone()),
    };
    let reattach = (target.reattach_timeout_ms > 0).then_some(client::Reattach {
        addr: &mut addr_now,
        timeout_ms: target.reattach_timeout_ms,
    });
    let on_accepted = |job, plan: &[Assignment]| {
        if !quiet {
            eprint!("{}", format_plan(job, plan));
        }
    };
    let result =
        client::submit_reattaching(&target.addr, spec, parallelism, on_accepted, reattach)?;
    Ok(result)
}

/// `spate submit`.
pub fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    if !JOBS.contains(&args.job.as_str()) {
        bail!(
            "unknown job `{}`; the jobs are {}",
            args.job,
            JOBS.join(", ")
        );
    }
    // Fail here, not on every worker, if the arguments are wrong.
    crate::catalog::build_job(&args.job, &args.args).map_err(anyhow::Error::msg)?;
    let spec = JobSpec {
        name: args.job.clone(),
        args: args.args.clone(),
        settings: spec_settings(&args.config)?,
        from_savepoint: args
            .from_savepoint
            .as_deref()
            .map(crate::savepoint::resolve)
            .transpose()?,
    };
    let target = SubmitTarget {
        addr: args.target.addr()?,
        dir: args
            .target
            .coordinator
            .is_none()
            .then_some(args.target.dir.as_path()),
        reattach_timeout_ms: args.reattach_timeout_ms,
    };
    let r = submit_job(&target, spec, args.parallelism, false)?;
    let m = &r.metrics;
    println!(
        "job {} finished in {:.2} s\nsource records   {}\nsink records     {}\nlate records     {}\nchecksum         {:016x}\nfrom other processes: {} records deserialized, {} read in place",
        r.job,
        r.wall.as_secs_f64(),
        m.source_records,
        m.sink_records(),
        m.late_records,
        m.sink_checksum(),
        m.remote_records_deserialized,
        m.remote_records_read_in_place,
    );
    Ok(())
}
