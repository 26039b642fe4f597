//! A `SESSION` TVF makes sessions of the rows its `PARTITION BY` columns
//! share, and of all rows without the clause; a window aggregate grouped
//! by other keys aggregates each group within those sessions. A row whose
//! own session the watermark passed still joins an open session it
//! touches. The rows equal Flink 2.3's on the golden clicks
//! (bench-harness/flink/golden_features.py, `session_*`), with one-row
//! batches on one core so the watermark moves after every row as in Flink.

use std::collections::BTreeMap;

use spate_sql::{Session, Value};

mod common;
use common::{clicks_and_users_ddl, config, error_after, materialize_counts, run_select};

/// The rows `query` leaves over the golden clicks, one row per batch.
fn rows(query: &str) -> Vec<String> {
    let mut c = config(1);
    c.runtime.batch_records_max = 1;
    let mut s = Session::new(c);
    let (rows, _) = run_select(&mut s, &format!("{}{query}", clicks_and_users_ddl()));
    let mut lines: Vec<String> = materialize_counts(&rows)
        .into_iter()
        .flat_map(|(r, n)| {
            let line = r
                .iter()
                .map(|v| match v {
                    // Seconds of the minute: the clicks are all in 00:00.
                    Value::Timestamp(ms) => format!("{}", ms.rem_euclid(60_000) / 1000),
                    v => v.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ");
            std::iter::repeat_n(line, n.max(0) as usize)
        })
        .collect();
    lines.sort();
    lines
}

fn flink(lines: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[test]
fn without_partition_by_sessions_span_all_rows_and_groups_split_them() {
    let q = "SELECT user_name, window_start, window_end, COUNT(*), SUM(amount) \
             FROM TABLE(SESSION(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) \
             GROUP BY user_name, window_start, window_end;";
    // dave's click at 3 s comes after alice's at 15 s (watermark 13 s):
    // its own session [3, 8) is behind the watermark, but it touches the
    // open one [1, 20), which takes it.
    let want = flink(&[
        "alice 1 20 3 45",
        "bob 1 20 2 21",
        "carol 1 20 1 7",
        "carol 21 26 1 8",
        "dave 1 20 1 3",
    ]);
    assert_eq!(rows(q), want);
    let q = "SELECT window_start, window_end, COUNT(*), SUM(amount) \
             FROM TABLE(SESSION(TABLE clicks, DESCRIPTOR(ts), INTERVAL '5' SECOND)) \
             GROUP BY window_start, window_end;";
    assert_eq!(rows(q), flink(&["1 20 7 76", "21 26 1 8"]));
}

#[test]
fn partition_by_makes_sessions_per_partition() {
    let q = "SELECT user_name, window_start, window_end, COUNT(*), SUM(amount) \
             FROM TABLE(SESSION(TABLE clicks PARTITION BY user_name, DESCRIPTOR(ts), \
               INTERVAL '5' SECOND)) \
             GROUP BY user_name, window_start, window_end;";
    // dave's session [3, 8) touches no other of his: late, dropped.
    let want = flink(&[
        "alice 1 9 2 15",
        "alice 15 20 1 30",
        "bob 12 17 1 1",
        "bob 2 7 1 20",
        "carol 21 26 1 8",
        "carol 9 14 1 7",
    ]);
    assert_eq!(rows(q), want);
    let q = "SELECT url, window_start, window_end, COUNT(*) \
             FROM TABLE(SESSION(TABLE clicks PARTITION BY (url), DESCRIPTOR(ts), \
               INTERVAL '4' SECOND)) \
             GROUP BY url, window_start, window_end;";
    let want = flink(&[
        "/cart 2 8 2",
        "/home 1 5 1",
        "/home 9 16 2",
        "/pay 15 19 1",
        "/pay 21 25 1",
    ]);
    assert_eq!(rows(q), want);
}

#[test]
fn groups_other_than_the_partition_are_aggregated_within_its_sessions() {
    // Sessions per URL; each user's clicks within them. The sum over users
    // of a session equals the session's count per URL.
    let by_user = "SELECT url, user_name, window_start, window_end, COUNT(*) \
                   FROM TABLE(SESSION(TABLE clicks PARTITION BY url, DESCRIPTOR(ts), \
                     INTERVAL '4' SECOND)) \
                   GROUP BY url, user_name, window_start, window_end;";
    let mut per_session: BTreeMap<(String, String, String), i64> = BTreeMap::new();
    for line in rows(by_user) {
        let f: Vec<&str> = line.split(' ').collect();
        let n: i64 = f[4].parse().expect("a count");
        *per_session
            .entry((f[0].into(), f[2].into(), f[3].into()))
            .or_insert(0) += n;
    }
    let got: Vec<String> = per_session
        .into_iter()
        .map(|((u, s, e), n)| format!("{u} {s} {e} {n}"))
        .collect();
    assert_eq!(
        got,
        flink(&[
            "/cart 2 8 2",
            "/home 1 5 1",
            "/home 9 16 2",
            "/pay 15 19 1",
            "/pay 21 25 1"
        ])
    );
}

#[test]
fn the_session_table_function_gives_each_row_its_sessions_bounds() {
    let q = |part: &str| {
        format!(
            "SELECT user_name, amount, window_start, window_end \
             FROM TABLE(SESSION(TABLE clicks{part}, DESCRIPTOR(ts), INTERVAL '5' SECOND));"
        )
    };
    let all = flink(&[
        "alice 10 1 20",
        "alice 30 1 20",
        "alice 5 1 20",
        "bob 1 1 20",
        "bob 20 1 20",
        "carol 7 1 20",
        "carol 8 21 26",
        "dave 3 1 20",
    ]);
    assert_eq!(rows(&q("")), all);
    let per_user = flink(&[
        "alice 10 1 9",
        "alice 30 15 20",
        "alice 5 1 9",
        "bob 1 12 17",
        "bob 20 2 7",
        "carol 7 9 14",
        "carol 8 21 26",
    ]);
    assert_eq!(rows(&q(" PARTITION BY user_name")), per_user);
}

#[test]
fn partition_by_is_refused_outside_session_windows() {
    let err = error_after(
        &clicks_and_users_ddl(),
        "SELECT * FROM TABLE(TUMBLE(TABLE clicks PARTITION BY url, DESCRIPTOR(ts), \
         INTERVAL '5' SECOND));",
    )
    .to_string();
    assert!(
        err.contains("TUMBLE has no PARTITION BY; only SESSION windows are partitioned"),
        "{err}"
    );
}
