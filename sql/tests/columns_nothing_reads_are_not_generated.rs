//! Column trimming: each operator keeps only the columns read above it,
//! and a nexmark scan generates only those and its rowtime; the rows
//! (checked against the DataStream versions in
//! `nexmark_sql_queries_match_datastream`) do not change.

use spate_sql::{Outcome, Session};

mod common;
use common::{config, nexmark_ddl, query_as_select};

fn optimized(sql: &str) -> String {
    let mut s = Session::new(config(1));
    let outcomes = s.execute(sql).unwrap_or_else(|e| panic!("{e}"));
    let text = outcomes
        .into_iter()
        .find_map(|o| match o {
            Outcome::Explain(text) => Some(text),
            _ => None,
        })
        .expect("an EXPLAIN");
    let from = text.find("== Optimized").expect("the optimized plan");
    let to = text.find("== Physical").unwrap_or(text.len());
    text[from..to].to_string()
}

fn explain_query(q: &str) -> String {
    let select = query_as_select(q);
    let at = select.find("SELECT").expect("a SELECT");
    let (ddl, query) = select.split_at(at);
    optimized(&format!("{}\n{ddl}EXPLAIN {query}", nexmark_ddl(1000)))
}

#[test]
fn nexmark_scans_generate_only_the_columns_read() {
    let q2 = explain_query("q2");
    assert!(
        q2.contains("TableScan(table=[bid], fields=[auction, price, dateTime]"),
        "{q2}"
    );
    let q5 = explain_query("q5");
    assert_eq!(
        q5.matches("TableScan(table=[bid], fields=[auction, dateTime]")
            .count(),
        1,
        "{q5}"
    );
    let q8 = explain_query("q8");
    assert!(
        q8.contains("TableScan(table=[person], fields=[id, name, dateTime]"),
        "{q8}"
    );
    assert!(
        q8.contains("TableScan(table=[auction], fields=[dateTime, seller]"),
        "{q8}"
    );
    // q4's join stores only what its condition and the aggregates read.
    let q4 = explain_query("q4");
    assert!(
        q4.contains("TableScan(table=[auction], fields=[id, dateTime, expires, category]"),
        "{q4}"
    );
    assert!(
        q4.contains("TableScan(table=[bid], fields=[auction, price, dateTime]"),
        "{q4}"
    );
}

#[test]
fn a_file_scan_keeps_its_columns_and_a_full_row_keeps_them_all() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.csv");
    std::fs::write(&path, "a,1,2\n").expect("write");
    let ddl = format!(
        "CREATE TABLE t (k STRING, x BIGINT, y BIGINT) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        path.display()
    );
    // CSV fields are read by position: the scan keeps every column, and
    // the projection above picks.
    let plan = optimized(&format!("{ddl}EXPLAIN SELECT y FROM t;"));
    assert!(
        plan.contains("TableScan(table=[t], fields=[k, x, y]"),
        "{plan}"
    );
    let q0 = explain_query("q0");
    assert!(
        q0.contains(
            "TableScan(table=[bid], fields=[auction, bidder, price, channel, url, dateTime, extra]"
        ),
        "{q0}"
    );
}
