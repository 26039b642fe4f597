//! `spate sql -f FILE`: runs a Flink SQL script.

use std::path::PathBuf;

use clap::Args;
use spate_sql::{Outcome, Session};

use crate::config_args::ConfigArgs;

/// Runs the statements of a SQL file in order.
#[derive(Args, Debug)]
pub struct SqlArgs {
    /// The SQL script.
    #[arg(short = 'f', long = "file", id = "script", value_name = "FILE")]
    pub script: PathBuf,
    /// Engine configuration.
    #[command(flatten)]
    pub config: ConfigArgs,
}

/// Runs `args.script`; prints each statement's outcome.
pub fn run(args: SqlArgs) -> anyhow::Result<()> {
    let sql = std::fs::read_to_string(&args.script)
        .map_err(|e| anyhow::anyhow!("reading {}: {e}", args.script.display()))?;
    let config = args.config.load()?.config;
    let mut session = Session::new(config);
    let result = session.execute_each(&sql, &mut |outcome| print_outcome(&outcome));
    result.map_err(|e| anyhow::anyhow!("{}: {e}", args.script.display()))
}

fn print_outcome(o: &Outcome) {
    match o {
        Outcome::Done(msg) => println!("{msg}"),
        Outcome::Explain(text) => println!("{text}"),
        Outcome::Inserted { table, result } => println!(
            "[INFO] INSERT INTO {table} finished: {} rows, checksum {:#018x}, {} late rows dropped, {:.3} s on {} cores",
            result.metrics.sink_records(),
            result.metrics.sink_checksum(),
            result.metrics.late_records,
            result.wall.as_secs_f64(),
            result.cores
        ),
        Outcome::Rows {
            schema,
            rows,
            result,
        } => {
            let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
            println!("op, {}", names.join(", "));
            for r in rows {
                println!("{r}");
            }
            println!(
                "[INFO] {} rows, checksum {:#018x}, {} late rows dropped, {:.3} s",
                rows.len(),
                result.metrics.sink_checksum(),
                result.metrics.late_records,
                result.wall.as_secs_f64()
            );
        }
    }
}
