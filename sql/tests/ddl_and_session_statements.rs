//! CREATE VIEW, CREATE TEMPORARY TABLE, computed columns, SET, EXPLAIN, and
//! the datagen, print, blackhole and filesystem connectors.

use spate_sql::{Outcome, Session, Value};

mod common;
use common::{config, run_insert, run_select, sorted_lines};

const DATAGEN: &str = "CREATE TEMPORARY TABLE gen (
  id BIGINT,
  score BIGINT,
  doubled AS id * 2,
  ts TIMESTAMP(3),
  WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH (
  'connector' = 'datagen',
  'rows-per-second' = '10',
  'fields.id.kind' = 'sequence',
  'fields.id.start' = '1',
  'fields.id.end' = '100',
  'fields.score.min' = '0',
  'fields.score.max' = '9'
);
";

#[test]
fn datagen_sequence_with_computed_column_and_view() {
    let mut s = Session::new(config(2));
    let sql = format!(
        "{DATAGEN}CREATE VIEW big AS SELECT id, doubled FROM gen WHERE id > 90;\nSELECT * FROM big;"
    );
    let (rows, _) = run_select(&mut s, &sql);
    let mut ids: Vec<(i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r.get(0).as_i64().unwrap_or(-1),
                r.get(1).as_i64().unwrap_or(-1),
            )
        })
        .collect();
    ids.sort();
    let want: Vec<(i64, i64)> = (91..=100).map(|i| (i, i * 2)).collect();
    assert_eq!(ids, want);
}

#[test]
fn datagen_is_deterministic_across_core_counts() {
    let q = format!("{DATAGEN}SELECT id, score FROM gen;");
    let (a, _) = run_select(&mut Session::new(config(1)), &q);
    let (b, _) = run_select(&mut Session::new(config(2)), &q);
    assert_eq!(a.len(), 100);
    assert_eq!(sorted_lines(&a), sorted_lines(&b));
    assert!(a.iter().all(|r| matches!(r.get(1), Value::Int(0..=9))));
}

#[test]
fn tumbling_counts_over_datagen_event_time() {
    // 10 rows per second of event time: 100 rows make ten 1 s windows of 10.
    let q = format!(
        "{DATAGEN}SELECT window_start, COUNT(*) AS n, SUM(id) AS total FROM TABLE(TUMBLE(TABLE gen, DESCRIPTOR(ts), INTERVAL '1' SECOND)) GROUP BY window_start, window_end;"
    );
    let (rows, result) = run_select(&mut Session::new(config(2)), &q);
    assert_eq!(rows.len(), 10);
    assert!(rows.iter().all(|r| r.get(1) == &Value::Int(10)));
    let total: i64 = rows.iter().filter_map(|r| r.get(2).as_i64()).sum();
    assert_eq!(total, 5050);
    assert_eq!(result.metrics.late_records, 0);
}

#[test]
fn set_changes_parallelism_and_explain_shows_the_plans() {
    let mut s = Session::new(config(1));
    s.execute("SET 'parallelism.default' = '2';").expect("set");
    assert_eq!(s.config.runtime.cores, 2);
    assert_eq!(
        s.settings().get("parallelism.default").map(String::as_str),
        Some("2")
    );
    let out = s
        .execute(&format!(
            "{DATAGEN}EXPLAIN SELECT window_start, COUNT(*) FROM TABLE(HOP(TABLE gen, DESCRIPTOR(ts), INTERVAL '1' SECOND, INTERVAL '2' SECOND)) WHERE score > 3 GROUP BY window_start, window_end;"
        ))
        .expect("explain");
    let Some(Outcome::Explain(text)) = out.last() else {
        panic!("no explain output: {out:?}");
    };
    for part in [
        "== Optimized Logical Plan ==",
        "WindowAggregate(window=[Hop",
        "Calc(",
        "TableScan(table=[gen]",
        "window_aggregate",
        "(hash)",
    ] {
        assert!(text.contains(part), "missing {part} in:\n{text}");
    }
    // The filter moved below the window aggregation.
    let opt = text
        .split("== Optimized Logical Plan ==")
        .nth(1)
        .unwrap_or("");
    assert!(opt.find("WindowAggregate") < opt.find("where="), "{opt}");
    // Flink's explain details and `EXPLAIN PLAN FOR` explain the same plan.
    let query = "SELECT score, COUNT(*) FROM gen GROUP BY score;";
    let plain = explain_text(&mut s, &format!("EXPLAIN {query}"));
    assert!(plain.contains("GroupAggregate("), "{plain}");
    for form in [
        "EXPLAIN PLAN FOR",
        "EXPLAIN CHANGELOG_MODE, ESTIMATED_COST",
        "EXPLAIN PLAN_ADVICE",
    ] {
        let text = explain_text(&mut s, &format!("{form} {query}"));
        assert_eq!(text, plain, "{form}");
    }
}

fn explain_text(s: &mut Session, sql: &str) -> String {
    let out = s.execute(sql).unwrap_or_else(|e| panic!("{e}"));
    match out.last() {
        Some(Outcome::Explain(text)) => text.clone(),
        other => panic!("no explain output: {other:?}"),
    }
}

#[test]
fn group_by_into_print_and_blackhole() {
    let mut s = Session::new(config(2));
    let sql = format!(
        "{DATAGEN}CREATE TABLE out (score BIGINT, n BIGINT) WITH ('connector' = 'print', 'print-identifier' = 'scores');\n\
         CREATE TABLE sink (score BIGINT, n BIGINT) WITH ('connector' = 'blackhole');\n\
         INSERT INTO out SELECT score, COUNT(*) FROM gen GROUP BY score;\n\
         INSERT INTO sink SELECT score, COUNT(*) FROM gen GROUP BY score;"
    );
    let outcomes = s.execute(&sql).expect("runs");
    let results: Vec<(u64, u64)> = outcomes
        .iter()
        .filter_map(|o| match o {
            Outcome::Inserted { result, .. } => Some((
                result.metrics.sink_records(),
                result.metrics.sink_checksum(),
            )),
            _ => None,
        })
        .collect();
    assert_eq!(results.len(), 2);
    // 100 rows: one +I per score, then a -U/+U pair for every later row of it.
    assert_eq!(results[0].0, 10 + 2 * 90);
    assert_eq!(
        results[0], results[1],
        "print and blackhole see the same changelog"
    );
}

#[test]
fn filesystem_sink_writes_csv_that_reads_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("out");
    let mut s = Session::new(config(2));
    let sql = format!(
        "{DATAGEN}CREATE TABLE files (id BIGINT, label STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         INSERT INTO files SELECT id, CASE WHEN MOD(id, 2) = 0 THEN 'even' ELSE 'odd' END FROM gen;",
        out_dir.display()
    );
    let r = run_insert(&mut s, &sql);
    assert_eq!(r.metrics.sink_records(), 100);
    let mut lines: Vec<String> = std::fs::read_dir(&out_dir)
        .expect("output dir")
        .flat_map(|f| {
            let text = std::fs::read_to_string(f.expect("entry").path()).expect("read part");
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    assert_eq!(lines.len(), 100);
    assert!(lines.contains(&"42,even".to_string()) && lines.contains(&"7,odd".to_string()));
}

#[test]
fn a_primary_key_not_enforced_is_recorded_as_flink_declares_it() {
    use spate_sql::catalog::Entry;
    let mut s = Session::new(config(1));
    s.execute(
        "CREATE TEMPORARY TABLE sink (bidder BIGINT, cnt BIGINT, sum_price BIGINT,
           PRIMARY KEY (bidder) NOT ENFORCED) WITH ('connector' = 'blackhole');
         CREATE TABLE agg (w BIGINT, k BIGINT PRIMARY KEY NOT ENFORCED, n BIGINT)
           WITH ('connector' = 'blackhole');",
    )
    .expect("Flink's DDL with primary keys");
    let key_of = |name: &str| match s.catalog().get(name) {
        Some(Entry::Table(t)) => t.primary_key.clone(),
        other => panic!("{name} is not a table: {other:?}"),
    };
    assert_eq!(key_of("sink"), vec![0]);
    assert_eq!(key_of("agg"), vec![1]);
}
