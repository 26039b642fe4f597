//! `spate sql -f FILE` runs a Flink SQL script; `spate sql` alone opens the
//! interactive shell (`sql_shell`).

use std::path::PathBuf;

use clap::Args;
use spate_sql::Session;

use crate::config_args::ConfigArgs;
use crate::sql_output::print_outcome;

/// Runs the statements of a SQL file in order, or a shell without one.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The SQL script; without it, an interactive shell reads statements.
    #[arg(short = 'f', long = "file", id = "script", value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Engine configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `args.script`, printing each statement's outcome, or the shell.
pub fn run(args: SqlArgs) -> anyhow::Result<()> {
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
