//! Helpers shared by the SQL scenario tests.

#![allow(dead_code)]

use std::path::Path;

use spate::JobResult;
use spate::config::Config;
use spate_sql::{Outcome, Row, Session};

/// A small engine config: `cores` cores, small locked memory, small batches.
pub fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c.runtime.batch_records_max = 64;
    c
}

/// The text of `sql/queries/<name>`.
pub fn query_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("queries")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()))
}

/// The Nexmark DDL with `events` events per table.
pub fn nexmark_ddl(events: u64) -> String {
    spate_sql::nexmark::ddl(events)
}

/// Runs `sql` and returns the result of its last `INSERT INTO`.
pub fn run_insert(session: &mut Session, sql: &str) -> JobResult {
    let outcomes = session.execute(sql).unwrap_or_else(|e| panic!("{e}"));
    outcomes
        .into_iter()
        .rev()
        .find_map(|o| match o {
            Outcome::Inserted { result, .. } => Some(result),
            _ => None,
        })
        .expect("the script has an INSERT INTO")
}

/// Runs `sql` and returns the rows of its last `SELECT`.
pub fn run_select(session: &mut Session, sql: &str) -> (Vec<Row>, JobResult) {
    let outcomes = session.execute(sql).unwrap_or_else(|e| panic!("{e}"));
    outcomes
        .into_iter()
        .rev()
        .find_map(|o| match o {
            Outcome::Rows { rows, result, .. } => Some((rows, result)),
            _ => None,
        })
        .expect("the script has a SELECT")
}

/// The rows as `+I[..]` lines, sorted (for order-independent comparison).
pub fn sorted_lines(rows: &[Row]) -> Vec<String> {
    let mut v: Vec<String> = rows.iter().map(ToString::to_string).collect();
    v.sort();
    v
}
