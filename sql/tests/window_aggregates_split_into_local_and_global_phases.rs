//! A TUMBLE, HOP or CUMULATE window aggregate whose calls can be split
//! gets a local phase before the keyed exchange (Flink's two-phase window
//! aggregation, on unless `table.optimizer.agg-phase-strategy` is
//! `ONE_PHASE`): the rows of a batch are combined per group and window
//! slice. Its rows, its checksum and its count of late rows equal those of
//! one phase, on one and two cores, with late rows of one group arriving
//! together (a partial of several late rows counts as all of them).

use std::collections::BTreeMap;

use spate_sql::{Outcome, Session, Value};

mod common;
use common::{config, materialize_counts, run_select};

const ONE_PHASE: &str = "SET 'table.optimizer.agg-phase-strategy' = 'ONE_PHASE';\n";

/// 600 rows of three keys over a minute, in time order; then (`late`),
/// together, five rows of `a` in [0, 10 s) and two of `b` in [10 s,
/// 20 s), behind every window they fall in.
fn table(late: bool) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.csv");
    let keys = ["a", "b", "c"];
    let mut rows: Vec<(&str, i64, i64)> = (0..600)
        .map(|i| (keys[(i * 7 % 3) as usize], i * 100, (i * 13) % 97))
        .collect();
    if late {
        rows.extend([1_000, 2_500, 4_000, 7_500, 9_900].map(|ms| ("a", ms, 500)));
        rows.extend([12_000, 18_000].map(|ms| ("b", ms, 700)));
    }
    let text: String = rows
        .iter()
        .map(|(k, ms, v)| {
            format!(
                "{k},{v},2026-01-01 00:{:02}:{:02}.{:03}\n",
                ms / 60_000,
                ms / 1000 % 60,
                ms % 1000
            )
        })
        .collect();
    std::fs::write(&path, text).expect("write");
    let ddl = format!(
        "CREATE TABLE t (k STRING, v BIGINT, ts TIMESTAMP(3), \
           WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) \
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        path.display()
    );
    (dir, ddl)
}

const WINDOWS: &[(&str, &str)] = &[
    (
        "tumble",
        "TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)",
    ),
    (
        "hop",
        "HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '4' SECOND, INTERVAL '6' SECOND)",
    ),
    (
        "cumulate",
        "CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '2' SECOND, INTERVAL '10' SECOND)",
    ),
];

fn query(window: &str) -> String {
    format!(
        "SELECT k, window_start, window_end, COUNT(*) AS n, SUM(v) AS s, MIN(v) AS lo, \
           MAX(v) AS hi, AVG(v) AS mean \
         FROM TABLE({window}) GROUP BY k, window_start, window_end;"
    )
}

struct Run {
    rows: BTreeMap<Vec<Value>, i64>,
    late: u64,
    checksum: u64,
}

fn run(settings: &str, ddl: &str, q: &str, cores: u32) -> Run {
    let mut s = Session::new(config(cores));
    let (rows, result) = run_select(&mut s, &format!("{settings}{ddl}{q}"));
    Run {
        rows: materialize_counts(&rows),
        late: result.metrics.late_records,
        checksum: result.metrics.sink_checksum(),
    }
}

/// The physical plan's operators before the first keyed exchange.
fn before_exchange(settings: &str, ddl: &str, q: &str) -> usize {
    let mut s = Session::new(config(1));
    let text = s
        .execute(&format!("{settings}{ddl}EXPLAIN {q}"))
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .find_map(|o| match o {
            Outcome::Explain(text) => Some(text),
            _ => None,
        })
        .expect("an EXPLAIN");
    let physical = text
        .split("== Physical Execution Plan ==")
        .nth(1)
        .expect("a physical plan");
    physical
        .lines()
        .take_while(|l| !l.contains("(hash)"))
        .filter(|l| l.trim_start().starts_with('['))
        .count()
}

#[test]
fn two_phases_leave_the_rows_and_late_counts_of_one() {
    // One core: the file is one split, so which rows are late does not
    // depend on how two splits' watermarks interleave.
    let (_dir, ddl) = table(true);
    for (name, window) in WINDOWS {
        let q = query(window);
        let want = run(ONE_PHASE, &ddl, &q, 1);
        assert!(want.rows.len() >= 18, "{name}: {} rows", want.rows.len());
        assert_eq!(want.late, 7, "{name}: late rows with one phase");
        let got = run("", &ddl, &q, 1);
        assert!(got.rows == want.rows, "{name}: rows differ");
        assert_eq!(got.late, want.late, "{name}: late rows");
        assert_eq!(got.checksum, want.checksum, "{name}: checksum");
    }
}

#[test]
fn two_phases_on_two_cores_leave_the_rows_of_one_phase_on_one() {
    let (_dir, ddl) = table(false);
    for (name, window) in WINDOWS {
        let q = query(window);
        let want = run(ONE_PHASE, &ddl, &q, 1);
        assert_eq!(want.late, 0, "{name}: late rows");
        for (mode, settings) in [("one phase", ONE_PHASE), ("two phases", "")] {
            let got = run(settings, &ddl, &q, 2);
            assert!(got.rows == want.rows, "{name}, {mode}: rows differ");
            assert_eq!(got.checksum, want.checksum, "{name}, {mode}: checksum");
        }
    }
}

#[test]
fn the_local_phase_is_planned_unless_one_phase_is_asked_for() {
    let (_dir, ddl) = table(false);
    for (name, window) in WINDOWS {
        let q = query(window);
        let one = before_exchange(ONE_PHASE, &ddl, &q);
        let two = before_exchange("", &ddl, &q);
        assert_eq!(two, one + 1, "{name}: a local phase before the exchange");
    }
    // Sessions merge windows: no slice to combine by.
    let q = query("SESSION(TABLE t, DESCRIPTOR(ts), INTERVAL '5' SECOND)");
    assert_eq!(
        before_exchange("", &ddl, &q),
        before_exchange(ONE_PHASE, &ddl, &q)
    );
    // COUNT(DISTINCT) holds every value: it cannot be split.
    let q = "SELECT k, window_start, COUNT(DISTINCT v) AS d \
             FROM TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
             GROUP BY k, window_start, window_end;";
    assert_eq!(
        before_exchange("", &ddl, q),
        before_exchange(ONE_PHASE, &ddl, q)
    );
}
