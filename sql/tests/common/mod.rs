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

/// The `clicks` (tests/golden/clicks.csv, with a 2 s watermark delay) and
/// `users` (users.csv) tables over the small golden files.
pub fn clicks_and_users_ddl() -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    format!(
        "CREATE TABLE clicks (user_name STRING, url STRING, amount BIGINT, ts TIMESTAMP(3), \
           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE users (name STRING, country STRING) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        dir.join("clicks.csv").display(),
        dir.join("users.csv").display()
    )
}

/// Runs `ddl` then `sql` on one core; returns the error `sql` must give.
pub fn error_after(ddl: &str, sql: &str) -> spate_sql::SqlError {
    let mut s = Session::new(config(1));
    s.execute(ddl).expect("the DDL is valid");
    s.execute(sql).expect_err("the statement is refused")
}

/// The rows a changelog leaves, as `a, b, c` lines with how many times
/// each is left (rows retracted to zero are gone).
pub fn materialize_lines(rows: &[Row]) -> std::collections::BTreeMap<String, i64> {
    let mut table = std::collections::BTreeMap::new();
    for r in rows {
        let key = r
            .values
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        *table.entry(key).or_insert(0) += if r.kind.is_addition() { 1 } else { -1 };
    }
    table.retain(|_, n| *n != 0);
    table
}

/// The rows a changelog leaves, with how often each is left; none may be
/// retracted more often than added.
pub fn materialize_counts(rows: &[Row]) -> std::collections::BTreeMap<Vec<spate_sql::Value>, i64> {
    let mut table: std::collections::BTreeMap<Vec<spate_sql::Value>, i64> =
        std::collections::BTreeMap::new();
    for r in rows {
        *table.entry(r.values.clone()).or_insert(0) += if r.kind.is_addition() { 1 } else { -1 };
    }
    table.retain(|_, n| *n != 0);
    assert!(
        table.values().all(|n| *n > 0),
        "a row retracted more often than added"
    );
    table
}

/// The rows a changelog leaves, each of which must be left once.
pub fn materialize(rows: &[Row]) -> Vec<Vec<spate_sql::Value>> {
    let table = materialize_counts(rows);
    assert!(
        table.values().all(|n| *n == 1),
        "a row left other than once"
    );
    table.into_keys().collect()
}

/// The Nexmark DDL with `events` events per table, `rate` events per
/// second of event time apart.
pub fn nexmark_ddl_at(events: u64, rate: u64) -> String {
    nexmark_ddl(events).replace(
        "'events.num'",
        &format!("'next-event.rate' = '{rate}', 'events.num'"),
    )
}

/// Every row of the Nexmark table `table` as the tables of `ddl` give it.
pub fn nexmark_rows(ddl: &str, table: &str) -> Vec<Vec<spate_sql::Value>> {
    let mut s = Session::new(config(1));
    let sql = format!("{ddl}\nSELECT * FROM {table};");
    run_select(&mut s, &sql)
        .0
        .into_iter()
        .map(|r| r.values)
        .collect()
}

/// `rows` grouped by the values of the columns `key`.
pub fn grouped(
    rows: Vec<Vec<spate_sql::Value>>,
    key: &[usize],
) -> std::collections::BTreeMap<Vec<spate_sql::Value>, Vec<Vec<spate_sql::Value>>> {
    let mut m: std::collections::BTreeMap<_, Vec<_>> = std::collections::BTreeMap::new();
    for r in rows {
        m.entry(key.iter().map(|&i| r[i].clone()).collect::<Vec<_>>())
            .or_default()
            .push(r);
    }
    m
}

/// A Nexmark query file run as a query: its statements with the INSERT
/// INTO line taken out, so the SELECT's rows come back.
pub fn query_as_select(query: &str) -> String {
    let text = query_file(&format!("{query}.sql"));
    let insert = format!("INSERT INTO nexmark_{query}\n");
    assert!(
        text.contains(&insert),
        "{query} inserts into its sink table"
    );
    text.replace(&insert, "")
}
