//! `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` with a bound on the
//! number (Flink's Top-N and deduplication) on a small bounded file, against
//! results worked out by hand from tests/golden/clicks.csv: the changelog
//! (renumbered rows retracted and emitted again) leaves the first N rows of
//! each partition with their numbers, on one and two cores.

use spate_sql::{Outcome, Row, RowKind, Session, SqlError};

mod common;
use common::{clicks_and_users_ddl, config, error_after, materialize_lines, run_select};

fn ddl() -> String {
    clicks_and_users_ddl()
}

/// The rows a changelog leaves (each once: a Top-N row is unique).
fn materialize(rows: &[Row]) -> Vec<String> {
    let table = materialize_lines(rows);
    assert!(
        table.values().all(|n| *n == 1),
        "a row left twice or retracted too often: {table:?}"
    );
    table.into_keys().collect()
}

fn check(sql: &str, want: &[&str]) -> Vec<Row> {
    let mut last = Vec::new();
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
        assert_eq!(materialize(&rows), want, "{cores} cores: {rows:?}");
        last = rows;
    }
    last
}

#[test]
fn the_two_largest_amounts_of_each_user_with_their_numbers() {
    let rows = check(
        "SELECT user_name, amount, rn FROM ( \
           SELECT user_name, amount, \
                  ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY amount DESC) AS rn \
           FROM clicks) \
         WHERE rn <= 2;",
        &[
            "alice, 10, 2",
            "alice, 30, 1",
            "bob, 1, 2",
            "bob, 20, 1",
            "carol, 7, 2",
            "carol, 8, 1",
            "dave, 3, 1",
        ],
    );
    // alice's 30 arrives after her 10 and 5: it takes number 1 and pushes
    // the others down, which the changelog shows as updates.
    assert!(
        rows.iter().any(|r| r.kind == RowKind::UpdateBefore),
        "{rows:?}"
    );
}

#[test]
fn the_first_and_the_last_click_of_each_user_deduplicate_by_time() {
    check(
        "SELECT user_name, url, ts FROM ( \
           SELECT *, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts ASC) AS rownum \
           FROM clicks) \
         WHERE rownum = 1;",
        &[
            "alice, /home, 2026-01-01 00:00:01.000",
            "bob, /cart, 2026-01-01 00:00:02.000",
            "carol, /home, 2026-01-01 00:00:09.000",
            "dave, /home, 2026-01-01 00:00:03.000",
        ],
    );
    check(
        "SELECT t.user_name, t.url FROM ( \
           SELECT user_name, url, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts DESC) AS rownum \
           FROM clicks) AS t \
         WHERE 1 >= t.rownum;",
        &["alice, /pay", "bob, /home", "carol, /pay", "dave, /home"],
    );
}

#[test]
fn a_top_n_without_partitions_ranks_the_whole_stream() {
    check(
        "SELECT * FROM ( \
           SELECT amount, user_name, ROW_NUMBER() OVER (ORDER BY amount DESC, user_name) AS r \
           FROM clicks WHERE url <> '/home') \
         WHERE r < 4 AND amount > 5;",
        &["20, bob, 2", "30, alice, 1", "8, carol, 3"],
    );
}

#[test]
fn explain_shows_the_rank_and_its_bound() {
    let mut s = Session::new(config(1));
    let out = s
        .execute(&format!(
            "{}EXPLAIN SELECT * FROM (SELECT user_name, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts DESC) AS rn FROM clicks) WHERE rn <= 3;",
            ddl()
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    let Some(Outcome::Explain(text)) = out.last() else {
        panic!("no plan");
    };
    assert!(
        text.contains("Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd=3]"),
        "{text}"
    );
}

fn error(sql: &str) -> SqlError {
    error_after(&ddl(), sql)
}

#[test]
fn what_is_not_a_top_n_is_refused_by_name() {
    let unbounded = error(
        "SELECT user_name, ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts) AS rn FROM clicks;",
    );
    assert!(
        unbounded
            .to_string()
            .contains("without a bound on the number"),
        "{unbounded}"
    );
    let mixed = error(
        "SELECT user_name, SUM(amount) OVER (PARTITION BY user_name ORDER BY ts), \
           ROW_NUMBER() OVER (PARTITION BY user_name ORDER BY ts) FROM clicks;",
    );
    assert!(matches!(mixed, SqlError::Unsupported { .. }), "{mixed}");
    assert!(
        mixed
            .to_string()
            .contains("ROW_NUMBER() beside OVER aggregations in one SELECT is not supported yet"),
        "{mixed}"
    );
    let huge = error(
        "SELECT * FROM (SELECT user_name, ROW_NUMBER() OVER (ORDER BY ts) AS rn FROM clicks) \
         WHERE rn <= 1000000;",
    );
    assert!(
        huge.to_string().contains(
            "a Top-N of 1000000 rows per partition (at most 100000) is not supported yet"
        ),
        "{huge}"
    );
}

#[test]
fn a_top_n_over_an_updating_aggregate_follows_its_retractions() {
    // Totals: alice 10+5+30 = 45, bob 20+1 = 21, carol 7+8 = 15, dave 3.
    // On the way, bob (20) leads alice (15) until her 30 comes: the
    // changelog retracts and re-ranks, and leaves the final two.
    let sql = "SELECT * FROM (SELECT user_name, total, ROW_NUMBER() OVER (ORDER BY total DESC) AS rn \
                 FROM (SELECT user_name, SUM(amount) AS total FROM clicks GROUP BY user_name)) \
               WHERE rn <= 2;";
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
        let left = materialize_lines(&rows);
        let want: Vec<(String, i64)> = vec![("alice, 45, 1".into(), 1), ("bob, 21, 2".into(), 1)];
        assert_eq!(left.into_iter().collect::<Vec<_>>(), want, "{cores} cores");
        assert!(
            rows.iter().any(|r| !r.kind.is_addition()),
            "ranks changed on the way: {rows:?}"
        );
    }
}
