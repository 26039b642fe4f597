//! `UNION ALL` on small bounded files: every row of each side once, on one
//! and two cores; mismatched sides and other set operations are errors
//! that say what differs.

use spate_sql::{Session, SqlError};

mod common;
use common::{clicks_and_users_ddl, config, error_after, run_select, sorted_lines};

fn ddl() -> String {
    clicks_and_users_ddl()
}

fn error(sql: &str) -> SqlError {
    error_after(&ddl(), sql)
}

#[test]
fn union_all_keeps_every_row_of_every_side() {
    let sql = "SELECT user_name, amount FROM clicks WHERE amount > 10 \
               UNION ALL SELECT name, 0 FROM users \
               UNION ALL SELECT user_name, amount FROM clicks WHERE url = '/pay';";
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
        assert_eq!(
            sorted_lines(&rows),
            [
                "+I[alice, 0]",
                "+I[alice, 30]",
                "+I[alice, 30]",
                "+I[bob, 0]",
                "+I[bob, 20]",
                "+I[carol, 0]",
                "+I[carol, 8]",
                "+I[erin, 0]",
            ],
            "{cores} cores"
        );
    }
}

#[test]
fn union_all_of_a_window_aggregate_and_a_filter_feeds_an_aggregate() {
    // The union is an input like any other: here of a changelog-free
    // window result and plain rows, counted per name.
    let sql = "SELECT who, COUNT(*) AS n FROM ( \
                 SELECT user_name AS who FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
                   GROUP BY user_name, window_start, window_end \
                 UNION ALL SELECT name FROM users WHERE country = 'NL') \
               GROUP BY who;";
    let mut s = Session::new(config(2));
    let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
    let mut last = std::collections::BTreeMap::new();
    for r in &rows {
        let v: Vec<String> = r.values.iter().map(ToString::to_string).collect();
        if r.kind.is_addition() {
            last.insert(v[0].clone(), v[1].clone());
        }
    }
    // Windows per user: alice 2 (0-10, 10-20), bob 2, carol 2, dave 1;
    // NL users: alice, carol.
    let want: Vec<(String, String)> = [("alice", "3"), ("bob", "2"), ("carol", "3"), ("dave", "1")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(last.into_iter().collect::<Vec<_>>(), want, "{rows:?}");
}

#[test]
fn mismatched_sides_and_other_set_operations_are_refused() {
    let count = error("SELECT user_name, amount FROM clicks UNION ALL SELECT name FROM users;");
    assert!(
        count
            .to_string()
            .contains("UNION ALL needs the same number of columns on both sides; found 2 and 1"),
        "{count}"
    );
    let types = error("SELECT amount FROM clicks UNION ALL SELECT name FROM users;");
    assert!(
        types.to_string().contains(
            "UNION ALL column 1 (`amount`) is BIGINT on the left and STRING on the right"
        ),
        "{types}"
    );
    let distinct = error("SELECT name FROM users UNION SELECT user_name FROM clicks;");
    assert!(
        matches!(distinct, SqlError::Unsupported { .. }),
        "{distinct}"
    );
    assert!(
        distinct
            .to_string()
            .contains("UNION of queries (UNION ALL is planned) is not supported yet"),
        "{distinct}"
    );
}
