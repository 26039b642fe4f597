//! `spate sql -f FILE` runs a Flink SQL script; `spate sql` alone opens the
//! interactive shell (`sql_shell`).

use std::path::{Path, PathBuf};

use clap::Args;
use spate_sql::Session;

use spate_cluster::protocol::JobSpec;

use crate::cluster::{SubmitTarget, spec_settings, submit_job};
use crate::config_args::ConfigArgs;
use crate::sql_output::print_outcome;

/// Runs the statements of a SQL file in order, or a shell without one.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The SQL script; without it, an interactive shell reads statements.
    #[arg(short = 'f', long = "file", id = "script", value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Run INSERT INTO statements on the cluster whose coordinator is at
    /// `HOST:PORT`: a script's DDL and SETs prepare, its INSERTs run there as
    /// one job; in the shell, each INSERT entered is a job.
    #[arg(long, value_name = "HOST:PORT")]
    pub cluster: Option<String>,
    /// Subtasks of every operator over the cluster (a script's `SET
    /// 'parallelism.default'` takes precedence).
    #[arg(long, default_value_t = 1, requires = "cluster")]
    pub parallelism: u32,
    /// Engine configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `args.script`, printing each statement's outcome, or the shell.
pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let config = args.config.load()?.config;
    let cluster = args.cluster.map(|addr| ClusterTarget {
        addr,
        parallelism: args.parallelism,
        config: args.config,
    });
    let Some(script) = args.script else {
        return crate::sql_shell::shell(config, cluster);
    };
    if let Some(target) = &cluster {
        return run_on_cluster(target, &script);
    }
    let sql = std::fs::read_to_string(&script)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", script.display()))?;
    let mut session = Session::new(config);
    let result = session.execute_each(&sql, &mut |outcome, settings| {
        print_outcome(&outcome, settings)
    });
    result.map_err(|e| anyhow::anyhow!("{}: {e}", script.display()))
}

/// Where `spate sql --cluster` sends its jobs.
pub(crate) struct ClusterTarget {
    /// The coordinator, `HOST:PORT`.
    pub addr: String,
    /// Subtasks unless the script sets `parallelism.default`.
    pub parallelism: u32,
    /// The config flags, sent to every worker.
    pub config: ConfigArgs,
}

fn run_on_cluster(target: &ClusterTarget, script: &Path) -> anyhow::Result<()> {
    let sql = std::fs::read_to_string(script)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", script.display()))?;
    submit_script(target, &sql).map_err(|e| anyhow::anyhow!("{}: {e}", script.display()))
}

/// Checks `sql` in a fresh session here (errors point into it), then
/// submits it to the cluster, where every worker builds the same job from
/// its text; prints the job's summary.
pub(crate) fn submit_script(target: &ClusterTarget, sql: &str) -> anyhow::Result<()> {
    let mut session = Session::new(target.config.load()?.config);
    let planned = session.job_of_script(sql)?;
    let parallelism = session
        .settings()
        .get("parallelism.default")
        .and_then(|p| p.parse().ok())
        .unwrap_or(target.parallelism);
    // The script's SETs of engine keys (checkpoints, state backend) apply
    // on the workers too, after the command line's.
    let mut settings = spec_settings(&target.config)?;
    settings.extend(session.engine_settings());
    let spec = JobSpec {
        name: "sql".into(),
        args: vec![sql.to_string()],
        settings,
        from_savepoint: None,
    };
    let r = submit_job(&SubmitTarget::fixed(&target.addr), spec, parallelism, false)?;
    let m = &r.metrics;
    println!(
        "[INFO] INSERT INTO {} finished on the cluster: {} rows, checksum {:#018x}, {} late rows dropped, {:.3} s with parallelism {parallelism}",
        planned.tables,
        m.sink_records(),
        m.sink_checksum(),
        m.late_records,
        r.wall.as_secs_f64(),
    );
    Ok(())
}
