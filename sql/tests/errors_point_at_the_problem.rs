//! Syntax and semantic errors name the line and column, show the line with
//! a caret under the problem and say what was expected; unsupported
//! features are reported as such instead of running.

use spate_sql::{Pos, Session, SqlError};

mod common;
use common::config;

const DDL: &str = "CREATE TABLE bid (
  auction BIGINT,
  price BIGINT,
  dateTime TIMESTAMP(3),
  WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND
) WITH ('connector' = 'nexmark', 'events.num' = '100');
";

/// Runs `DDL` then `sql` (which starts on line 8) and returns the error.
fn error_of(sql: &str) -> SqlError {
    let mut s = Session::new(config(1));
    s.execute(DDL).expect("the DDL is valid");
    s.execute(&format!("\n\n\n\n\n\n\n{sql}"))
        .expect_err("the statement is wrong")
}

fn pos_of(e: &SqlError) -> Pos {
    match e {
        SqlError::Syntax { pos, .. }
        | SqlError::Semantic { pos, .. }
        | SqlError::Unsupported { pos, .. } => *pos,
        other => panic!("not a positioned error: {other}"),
    }
}

#[test]
fn syntax_error_shows_the_line_and_a_caret() {
    let e = error_of("SELECT auction\nFROM bid WHERE price >");
    assert!(matches!(e, SqlError::Syntax { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "syntax error at line 9, column 23: expected an expression, found: EOF\n   9 | FROM bid WHERE price >\n                             ^"
    );
}

#[test]
fn a_syntax_error_in_an_explained_statement_points_into_it() {
    let e = error_of("EXPLAIN SELECT auction\nFROM bid WHERE price >");
    assert!(matches!(e, SqlError::Syntax { .. }), "{e}");
    assert_eq!(pos_of(&e), Pos::new(9, 23), "{e}");
    assert!(e.to_string().contains("expected an expression"), "{e}");
}

#[test]
fn unknown_column_lists_the_columns() {
    let e = error_of("SELECT auctoin FROM bid");
    assert_eq!(pos_of(&e), Pos::new(8, 8));
    assert_eq!(
        e.to_string(),
        "error at line 8, column 8: unknown column `auctoin`; expected one of: auction, price, dateTime\n   8 | SELECT auctoin FROM bid\n              ^"
    );
}

#[test]
fn unknown_table_lists_the_tables() {
    let e = error_of("SELECT * FROM bids");
    assert_eq!(pos_of(&e), Pos::new(8, 15));
    assert!(
        e.to_string()
            .contains("unknown table or view `bids`; expected one of: bid"),
        "{e}"
    );
}

#[test]
fn type_mismatch_says_what_was_expected() {
    let e = error_of("SELECT auction FROM bid WHERE price = 'cheap'");
    assert_eq!(pos_of(&e), Pos::new(8, 39));
    assert!(
        e.to_string()
            .contains("cannot compare BIGINT with STRING; expected an expression of type BIGINT"),
        "{e}"
    );
    let e = error_of("SELECT UPPER(price) FROM bid");
    assert!(
        e.to_string()
            .contains("UPPER: argument 1 must be STRING, not BIGINT"),
        "{e}"
    );
    let e = error_of("SELECT ABS(auction, price) FROM bid");
    assert!(
        e.to_string().contains("ABS EXPECTS 1 ARGUMENT(S), FOUND 2"),
        "{e}"
    );
}

#[test]
fn grouping_mistakes_are_semantic_errors() {
    let e = error_of("SELECT auction, price, COUNT(*) FROM bid GROUP BY auction");
    assert_eq!(pos_of(&e), Pos::new(8, 17));
    assert!(
        e.to_string()
            .contains("column `price` must appear in GROUP BY or be used in an aggregate function"),
        "{e}"
    );
    let e = error_of("SELECT auction FROM bid WHERE COUNT(*) > 1");
    assert!(
        e.to_string()
            .contains("not allowed in WHERE; expected them in HAVING"),
        "{e}"
    );
}

#[test]
fn unsupported_features_are_named_not_run() {
    let cases = [
        (
            "SELECT a.auction FROM bid a JOIN bid b USING (auction)",
            "JOIN ... USING (JOIN ... ON is planned)",
            Pos::new(8, 34),
        ),
        (
            "SELECT auction FROM bid ORDER BY price",
            "ORDER BY on a streaming query",
            Pos::new(8, 34),
        ),
        (
            "SELECT auction, MAX(price) OVER (ORDER BY dateTime GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM bid",
            "GROUPS frames",
            Pos::new(8, 17),
        ),
        (
            "SELECT auction FROM bid EXCEPT SELECT auction FROM bid",
            "EXCEPT of queries (UNION ALL is planned)",
            Pos::new(8, 1),
        ),
        (
            "SELECT DISTINCT auction FROM bid",
            "SELECT DISTINCT",
            Pos::new(8, 1),
        ),
    ];
    for (sql, feature, pos) in cases {
        let e = error_of(sql);
        assert!(matches!(e, SqlError::Unsupported { .. }), "{sql}: {e}");
        assert!(
            e.to_string()
                .contains(&format!("{feature} is not supported yet")),
            "{sql}: {e}"
        );
        assert_eq!(pos_of(&e), pos, "{sql}: {e}");
    }
}

#[test]
fn window_function_needs_the_time_attribute() {
    let e =
        error_of("SELECT * FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(price), INTERVAL '10' SECOND))");
    assert_eq!(pos_of(&e), Pos::new(8, 50));
    assert!(
        e.to_string().contains("`price` is not a time attribute"),
        "{e}"
    );
}

#[test]
fn ddl_errors_point_into_the_create_table() {
    let mut s = Session::new(config(1));
    let e = s
        .execute("CREATE TABLE t (\n  a BIGINT,\n  WATERMARK FOR b AS b - INTERVAL '1' SECOND\n) WITH ('connector' = 'datagen')")
        .expect_err("unknown watermark column");
    assert_eq!(pos_of(&e), Pos::new(3, 17));
    assert!(
        e.to_string()
            .contains("unknown column `b` in WATERMARK FOR"),
        "{e}"
    );
    let e = s
        .execute("CREATE TABLE t (\n  a BIGINT,\n  p AS PROCTIME(),\n  WATERMARK FOR p AS p\n) WITH ('connector' = 'datagen')")
        .expect_err("a watermark on processing time");
    assert_eq!(pos_of(&e), Pos::new(4, 17));
    assert!(
        e.to_string()
            .contains("`p` is a processing-time attribute (PROCTIME())"),
        "{e}"
    );
    let e = s
        .execute("CREATE TABLE t (a BIGINT) WITH ('connector' = 'datagen', 'rows-per-secnd' = '5')")
        .expect_err("typo in an option");
    assert!(matches!(e, SqlError::Connector { .. }), "{e}");
    assert!(
        e.to_string().contains("unknown option 'rows-per-secnd'"),
        "{e}"
    );
    let e = s
        .execute("CREATE TABLE t (a BIGINT) WITH ('connector' = 'kafka')")
        .expect_err("no such connector");
    assert!(e.to_string().contains("unknown connector 'kafka'"), "{e}");
}

#[test]
fn primary_keys_must_be_not_enforced_and_name_known_columns() {
    let mut s = Session::new(config(1));
    let e = s
        .execute(
            "CREATE TABLE t (\n  a BIGINT,\n  PRIMARY KEY (a)\n) WITH ('connector' = 'blackhole')",
        )
        .expect_err("an enforced key");
    assert!(matches!(e, SqlError::Semantic { .. }), "{e}");
    assert_eq!(pos_of(&e).line, 3, "{e}");
    assert!(
        e.to_string().contains("must be declared NOT ENFORCED"),
        "{e}"
    );
    let e = s
        .execute("CREATE TABLE t (\n  a BIGINT,\n  PRIMARY KEY (b) NOT ENFORCED\n) WITH ('connector' = 'blackhole')")
        .expect_err("an unknown key column");
    assert_eq!(pos_of(&e), Pos::new(3, 16));
    assert!(
        e.to_string()
            .contains("unknown column `b` in the PRIMARY KEY; expected one of: a"),
        "{e}"
    );
    let e = s
        .execute("CREATE TABLE t (a BIGINT, UNIQUE (a)) WITH ('connector' = 'blackhole')")
        .expect_err("a unique constraint");
    assert!(matches!(e, SqlError::Unsupported { .. }), "{e}");
}

#[test]
fn a_bad_input_line_fails_the_job_with_its_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("in.csv");
    std::fs::write(&path, "1,a\nx,b\n").expect("write");
    let mut s = Session::new(config(1));
    let e = s
        .execute(&format!(
            "CREATE TABLE t (n BIGINT, s STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\nSELECT n FROM t;",
            path.display()
        ))
        .expect_err("line 2 is bad");
    let text = e.to_string();
    assert!(
        text.contains("in.csv:2: field 1 (`n`): cannot cast 'x' to BIGINT"),
        "{text}"
    );
}

#[test]
fn min_over_an_updating_input_is_unsupported_not_wrong() {
    let e =
        error_of("SELECT MIN(n) FROM (SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction)");
    assert!(matches!(e, SqlError::Unsupported { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "unsupported: MIN/MAX over an updating (changelog) input is not supported yet"
    );
}

#[test]
fn count_over_an_updating_input_retracts() {
    // Counts of counts: the inner changelog's -U rows retract from the outer groups.
    let mut s = Session::new(config(2));
    s.execute(DDL).expect("DDL");
    let out = s
        .execute("SELECT n, COUNT(*) AS auctions FROM (SELECT auction, COUNT(*) AS n FROM bid GROUP BY auction) GROUP BY n")
        .expect("runs");
    let Some(spate_sql::Outcome::Rows { rows, .. }) = out.last() else {
        panic!("no rows");
    };
    // The final table: for each n, the auctions with exactly n bids.
    let mut table = std::collections::BTreeMap::new();
    for r in rows {
        let n = r.get(0).as_i64().unwrap_or(-1);
        let c = r.get(1).as_i64().unwrap_or(-1);
        if r.kind.is_addition() {
            table.insert(n, c);
        } else {
            assert_eq!(
                table.remove(&n),
                Some(c),
                "a retraction matches the last value of {n}"
            );
        }
    }
    let auctions: i64 = table.values().sum();
    let bids: i64 = table.iter().map(|(n, c)| n * c).sum();
    assert!(auctions > 0);
    // 100 events hold 92 bids (46 of every 50 events).
    assert_eq!(bids, 92);
}
