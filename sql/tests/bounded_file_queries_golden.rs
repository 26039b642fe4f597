//! Small bounded-file queries (CSV and JSON lines) against golden outputs in
//! tests/golden/*.out. Set SPATE_BLESS=1 to rewrite the goldens after
//! checking a change by hand.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spate_sql::{Row, RowKind, Session};

mod common;
use common::{config, run_select, sorted_lines};

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn ddl(format: &str) -> String {
    let (file, fmt) = match format {
        "csv" => ("clicks.csv", "csv"),
        _ => ("clicks.jsonl", "json"),
    };
    format!(
        "CREATE TABLE clicks (\n  user_name STRING,\n  url STRING,\n  amount BIGINT,\n  ts TIMESTAMP(3),\n  WATERMARK FOR ts AS ts - INTERVAL '2' SECOND\n) WITH (\n  'connector' = 'filesystem',\n  'path' = '{}',\n  'format' = '{fmt}'\n);\n",
        golden_dir().join(file).display()
    )
}

fn check_golden(name: &str, lines: &[String]) {
    let path = golden_dir().join(format!("{name}.out"));
    let text = lines.join("\n") + "\n";
    if std::env::var_os("SPATE_BLESS").is_some() {
        std::fs::write(&path, &text).expect("write golden");
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(text, want, "{name} differs from {}", path.display());
}

/// Applies a changelog: the rows that remain, with their multiplicity.
fn materialize(rows: &[Row]) -> BTreeMap<Vec<String>, i64> {
    let mut table = BTreeMap::new();
    for r in rows {
        let key: Vec<String> = r.values.iter().map(ToString::to_string).collect();
        let n = table.entry(key.clone()).or_insert(0i64);
        *n += if r.kind.is_addition() { 1 } else { -1 };
        if *n == 0 {
            table.remove(&key);
        }
    }
    table
}

const GROUP_BY: &str = "SELECT user_name, COUNT(*) AS cnt, SUM(amount) AS total, MAX(amount) AS top, COUNT(DISTINCT url) AS urls FROM clicks GROUP BY user_name;";

#[test]
fn group_aggregate_changelog_golden() {
    // One core reads the file in order, so the changelog order is fixed.
    let mut s = Session::new(config(1));
    let (rows, _) = run_select(&mut s, &format!("{}{GROUP_BY}", ddl("csv")));
    let lines: Vec<String> = rows.iter().map(ToString::to_string).collect();
    check_golden("group_aggregate_changelog", &lines);
    assert!(rows.iter().any(|r| r.kind == RowKind::UpdateBefore));
}

#[test]
fn group_aggregate_final_result_is_the_same_on_two_cores_and_from_json() {
    let mut one = Session::new(config(1));
    let (a, _) = run_select(&mut one, &format!("{}{GROUP_BY}", ddl("csv")));
    let mut two = Session::new(config(2));
    let (b, _) = run_select(&mut two, &format!("{}{GROUP_BY}", ddl("json")));
    assert_eq!(materialize(&a), materialize(&b));
    assert_eq!(materialize(&a).len(), 4, "one final row per user");
}

#[test]
fn tumble_window_aggregate_golden_drops_the_late_row() {
    let mut cfg = config(1);
    // Two rows per source poll: the watermark (max ts - 2 s) reaches 13 s
    // before dave's row at 3 s arrives, so its window [0 s, 10 s) is closed.
    cfg.runtime.batch_records_max = 2;
    let mut s = Session::new(cfg);
    let sql = format!(
        "{}SELECT window_start, window_end, user_name, COUNT(*) AS cnt, SUM(amount) AS total \
         FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
         GROUP BY window_start, window_end, user_name;",
        ddl("csv")
    );
    let (rows, result) = run_select(&mut s, &sql);
    check_golden("tumble_window_aggregate", &sorted_lines(&rows));
    assert_eq!(
        result.metrics.late_records, 1,
        "dave's row is late and counted"
    );
    assert!(rows.iter().all(|r| r.kind == RowKind::Insert));
}

#[test]
fn hop_and_cumulate_windows_golden() {
    let mut s = Session::new(config(2));
    let hop = format!(
        "{}SELECT window_start, window_end, COUNT(*) AS cnt, MIN(amount) AS low \
         FROM TABLE(HOP(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '10' SECOND)) \
         GROUP BY window_start, window_end;",
        ddl("csv")
    );
    let (rows, _) = run_select(&mut s, &hop);
    let mut lines = sorted_lines(&rows);
    let mut s = Session::new(config(2));
    let cumulate = format!(
        "{}SELECT window_start, window_end, SUM(amount) AS total \
         FROM TABLE(CUMULATE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND)) \
         GROUP BY window_start, window_end;",
        ddl("csv")
    );
    let (rows, _) = run_select(&mut s, &cumulate);
    lines.push("-- cumulate".into());
    lines.extend(sorted_lines(&rows));
    check_golden("hop_and_cumulate_windows", &lines);
}

#[test]
fn session_window_golden() {
    let mut s = Session::new(config(2));
    let sql = format!(
        "{}SELECT user_name, window_start, window_end, COUNT(*) AS cnt \
         FROM TABLE(SESSION(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) \
         GROUP BY user_name, window_start, window_end;",
        ddl("csv")
    );
    let (rows, _) = run_select(&mut s, &sql);
    // Without PARTITION BY, sessions span every user's clicks (as in Flink).
    check_golden("session_window", &sorted_lines(&rows));
}

#[test]
fn session_window_partitioned_golden() {
    let mut s = Session::new(config(2));
    let sql = format!(
        "{}SELECT user_name, window_start, window_end, COUNT(*) AS cnt \
         FROM TABLE(SESSION(TABLE clicks PARTITION BY user_name, DESCRIPTOR(ts), \
           INTERVAL '5' SECOND)) \
         GROUP BY user_name, window_start, window_end;",
        ddl("csv")
    );
    let (rows, _) = run_select(&mut s, &sql);
    check_golden("session_window_partitioned", &sorted_lines(&rows));
}

#[test]
fn expressions_golden() {
    let mut s = Session::new(config(2));
    let sql = format!(
        "{}SELECT user_name, UPPER(url) AS u, amount * 2 + 1 AS a2, \
           CASE WHEN amount >= 10 THEN 'big' WHEN amount >= 5 THEN 'mid' ELSE 'small' END AS size, \
           CAST(amount AS DOUBLE) / 4 AS q, CHAR_LENGTH(url) AS len, ts + INTERVAL '1' MINUTE AS later, \
           CAST(amount AS STRING) || '!' AS s, amount % 3 AS m, COALESCE(NULL, url) AS c \
         FROM clicks WHERE url LIKE '/%a%' OR amount BETWEEN 3 AND 7;",
        ddl("csv")
    );
    let (rows, _) = run_select(&mut s, &sql);
    check_golden("expressions", &sorted_lines(&rows));
}
