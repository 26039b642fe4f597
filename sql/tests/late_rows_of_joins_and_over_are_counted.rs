//! Rows that come behind the watermark are dropped by OVER aggregations
//! and interval joins, as by window aggregates, and counted in the job's
//! late-records metric (what `spate sql` prints as "late rows dropped").

use spate_sql::Session;

mod common;
use common::{config, run_select};

/// 200 rows one second apart, then one at 0 s: by then the watermark
/// (2 s behind the largest time) is far past it.
fn table() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.csv");
    let mut text: String = (0..200)
        .map(|i| format!("k{},{i},2026-01-01 00:{:02}:{:02}\n", i % 3, i / 60, i % 60))
        .collect();
    text.push_str("k0,999,2026-01-01 00:00:00\n");
    std::fs::write(&path, text).expect("write");
    let ddl = format!(
        "CREATE TABLE t (k STRING, v BIGINT, ts TIMESTAMP(3), \
           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        path.display()
    );
    (dir, ddl)
}

#[test]
fn a_late_row_is_dropped_and_counted_by_over_and_by_an_interval_join() {
    let (_dir, ddl) = table();
    let mut s = Session::new(config(1));
    let (rows, result) = run_select(
        &mut s,
        &format!(
            "{ddl}SELECT k, v, SUM(v) OVER (PARTITION BY k ORDER BY ts \
               ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t;"
        ),
    );
    assert_eq!(rows.len(), 200, "the late row is not aggregated");
    assert!(
        rows.iter()
            .all(|r| r.values[1] != spate_sql::Value::Int(999))
    );
    assert_eq!(result.metrics.late_records, 1);

    let (rows, result) = run_select(
        &mut s,
        "SELECT a.v, b.v FROM t a JOIN t b ON a.k = b.k \
           AND b.ts BETWEEN a.ts AND a.ts + INTERVAL '3' SECOND;",
    );
    // Each row meets itself and the row of its key 3 s later.
    assert_eq!(rows.len(), 200 + 197);
    // The late row comes on both sides of the self-join.
    assert_eq!(result.metrics.late_records, 2);
}
