//! `spate sql -f FILE` runs a Flink SQL script; `spate sql` alone opens the
//! interactive shell (`sql_shell`).

use std::path::{Path, PathBuf};

use clap::Args;
use spate_sql::Session;

use spate_cluster::protocol::JobSpec;

use crate::cluster::{spec_settings, submit_job};
use crate::config_args::ConfigArgs;
use crate::sql_output::print_outcome;

/// Runs the statements of a SQL file in order, or a shell without one.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The SQL script; without it, an interactive shell reads statements.
    #[arg(short = 'f', long = "file", id = "script", value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Run the script on the cluster whose coordinator is at `HOST:PORT`:
    /// its DDL and SETs prepare, its INSERT INTO statements run there as one
    /// job (needs `-f`).
    #[arg(long, value_name = "HOST:PORT", requires = "script")]
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
    if let (Some(addr), Some(script)) = (&args.cluster, &args.script) {
        return run_on_cluster(addr, script, args.parallelism, &args.config);
    }
    let config = args.config.load()?.config;
    let Some(script) = args.script else {
        return crate::sql_shell::shell(config);
    };
    let sql = std::fs::read_to_string(&script)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", script.display()))?;
    let mut session = Session::new(config);
    let result = session.execute_each(&sql, &mut |outcome, settings| {
        print_outcome(&outcome, settings)
    });
    result.map_err(|e| anyhow::anyhow!("{}: {e}", script.display()))
}

/// Checks the script here (errors point into it), then submits it to the
/// cluster, where every worker builds the same job from its text.
fn run_on_cluster(
    addr: &str,
    script: &Path,
    parallelism: u32,
    config: &ConfigArgs,
) -> anyhow::Result<()> {
    let sql = std::fs::read_to_string(script)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", script.display()))?;
    let mut session = Session::new(config.load()?.config);
    let planned = session
        .job_of_script(&sql)
        .map_err(|e| anyhow::anyhow!("{}: {e}", script.display()))?;
    let parallelism = session
        .settings()
        .get("parallelism.default")
        .and_then(|p| p.parse().ok())
        .unwrap_or(parallelism);
    let spec = JobSpec {
        name: "sql".into(),
        args: vec![sql],
        settings: spec_settings(config)?,
        from_savepoint: None,
    };
    let r = submit_job(addr, spec, parallelism, false)?;
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
