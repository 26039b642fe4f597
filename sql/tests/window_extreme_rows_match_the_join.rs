//! A join of a relation with its own per-window MAX (or MIN) on equality
//! and window membership is planned as the rows at each window's extreme:
//! over a tumbling window of its rows (Nexmark q7) and over the windows a
//! window aggregate's rows carry (q5). Its rows equal those of the join it
//! replaces (planned as a join when the condition compares with `m + 0`),
//! late rows included: they are left out of the extreme, and still
//! emitted when they equal their window's extreme.

use std::collections::BTreeMap;

use spate_sql::{Outcome, Session, Value};

mod common;
use common::{config, materialize_counts, run_select};

/// Window [0, 10 s) with a tie at its maximum 50, nothing in [10 s, 20 s),
/// then 200 rows in [20 s, 40 s); after them rows too late for [0, 10 s)
/// (at, above and below its maximum) and one for the empty [10 s, 20 s).
fn table() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.csv");
    // (ms, price); the late rows come several source batches after the
    // rows that moved the watermark past their window.
    let mut rows: Vec<(i64, i64)> = (0..10).map(|s| (s * 1000, 10 + s)).collect();
    rows[3].1 = 50;
    rows[7].1 = 50;
    rows.extend((0..200).map(|i| (20_000 + i * 100, (i * 7) % 23)));
    rows.extend([(5_000, 50), (6_000, 80), (2_000, 1), (15_000, 99)]);
    let text: String = rows
        .iter()
        .enumerate()
        .map(|(i, (ms, p))| {
            format!(
                "r{i},{p},2026-01-01 00:00:{:02}.{:03}\n",
                ms / 1000,
                ms % 1000
            )
        })
        .collect();
    std::fs::write(&path, text).expect("write");
    let ddl = format!(
        "CREATE TABLE t (id STRING, price BIGINT, ts TIMESTAMP(3), \
           WATERMARK FOR ts AS ts - INTERVAL '2' SECOND) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        path.display()
    );
    (dir, ddl)
}

fn query(agg: &str, right: &str) -> String {
    format!(
        "SELECT B.id, B.price, B.ts, B1.m, B1.s, B1.e FROM t B JOIN (
            SELECT {agg}(price) AS m, window_start AS s, window_end AS e
            FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND))
            GROUP BY window_start, window_end) B1
         ON B.price = {right} WHERE B.ts >= B1.s AND B.ts < B1.e;"
    )
}

fn explain(ddl: &str, q: &str) -> String {
    let mut s = Session::new(config(1));
    let outcomes = s
        .execute(&format!("{ddl}EXPLAIN {q}"))
        .unwrap_or_else(|e| panic!("{e}"));
    outcomes
        .into_iter()
        .find_map(|o| match o {
            Outcome::Explain(text) => Some(text),
            _ => None,
        })
        .expect("an EXPLAIN")
}

fn rows(ddl: &str, q: &str, cores: u32) -> (BTreeMap<Vec<Value>, i64>, u64) {
    let mut s = Session::new(config(cores));
    let (rows, result) = run_select(&mut s, &format!("{ddl}{q}"));
    (materialize_counts(&rows), result.metrics.late_records)
}

#[test]
fn rows_at_each_window_extreme_equal_the_join_late_rows_included() {
    let (_dir, ddl) = table();
    for agg in ["MAX", "MIN"] {
        let (rewritten, joined) = (query(agg, "B1.m"), query(agg, "B1.m + 0"));
        assert!(explain(&ddl, &rewritten).contains("WindowExtremeRows"));
        assert!(!explain(&ddl, &joined).contains("WindowExtremeRows"));
        let (want, want_late) = rows(&ddl, &joined, 1);
        let (got, got_late) = rows(&ddl, &rewritten, 1);
        assert_eq!(got, want, "{agg}");
        assert_eq!(got_late, want_late, "{agg}: late rows counted");
        assert!(got_late >= 4, "{agg}: {got_late} late rows");
        // An expression (which could fail on a row) stays a join.
        let expression = rewritten
            .replace(&format!("{agg}(price)"), &format!("{agg}(price * 2)"))
            .replace("B.price = B1.m", "B.price * 2 = B1.m");
        assert!(!explain(&ddl, &expression).contains("WindowExtremeRows"));
        if agg == "MAX" {
            // The tie at 50 and the late row at 50 in [0, 10 s); the late
            // rows at 80 and 1 and the one in [10 s, 20 s) match nothing.
            let first: Vec<&str> = got
                .keys()
                .filter(|r| r[4] == Value::Timestamp(1_767_225_600_000))
                .filter_map(|r| r[0].as_str())
                .collect();
            assert_eq!(first, vec!["r210", "r3", "r7"]);
        }
    }
}

/// q5's shape: the counts of a window aggregate joined with each window's
/// MAX (or MIN) count on both window bounds and `n >= m` (`n <= m`).
fn counts_query(kind: &str, agg: &str, cmp: &str, right: &str) -> String {
    let counts = format!(
        "SELECT MOD(price, 3) AS k, COUNT(*) AS n, window_start AS s, window_end AS e
         FROM TABLE({kind}) GROUP BY MOD(price, 3), window_start, window_end"
    );
    format!(
        "SELECT A.k, A.n, A.s, A.e, M.m FROM ({counts}) A JOIN (
            SELECT {agg}(C.n) AS m, C.s, C.e FROM ({counts}) C GROUP BY C.s, C.e) M
         ON A.s = M.s AND A.e = M.e AND A.n {cmp} {right};"
    )
}

#[test]
fn counts_at_each_carried_window_extreme_equal_the_join() {
    let (_dir, ddl) = table();
    let kinds = [
        "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND)",
        // Cumulating windows share their start: kept apart by their end.
        "CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND, INTERVAL '20' SECOND)",
    ];
    for kind in kinds {
        for (agg, cmp) in [("MAX", ">="), ("MIN", "<="), ("MAX", "=")] {
            let rewritten = counts_query(kind, agg, cmp, "M.m");
            let joined = counts_query(kind, agg, cmp, "M.m + 0");
            assert!(explain(&ddl, &rewritten).contains("WindowExtremeRows(window=[Attached"));
            assert!(!explain(&ddl, &joined).contains("WindowExtremeRows"));
            let (want, _) = rows(&ddl, &joined, 1);
            let (got, _) = rows(&ddl, &rewritten, 1);
            assert!(want.len() >= 10, "{kind} {agg}: {want:?}");
            assert_eq!(got, want, "{kind} {agg} {cmp}");
        }
    }
    // `n >= MIN(n)` holds for every row, not only those at the minimum.
    let not_extreme = counts_query(kinds[0], "MIN", ">=", "M.m");
    assert!(!explain(&ddl, &not_extreme).contains("WindowExtremeRows"));
}
