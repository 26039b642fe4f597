//! Flink SQL forms the Nexmark texts use, on the small golden files:
//! statement sets (several INSERTs, one job), legacy group windows
//! (`GROUP BY TUMBLE(ts, ...)` with `TUMBLE_START`), aggregates with
//! `FILTER (WHERE ...)`, `CREATE FUNCTION` of a known UDF class, and
//! `REGEXP_EXTRACT`; and the errors each gives when misused.

use std::path::Path;

use spate_sql::{Outcome, Session};

mod common;
use common::{
    clicks_and_users_ddl, config, error_after, materialize_lines, run_select, sorted_lines,
};

fn ddl() -> String {
    clicks_and_users_ddl()
}

/// The final rows of `sql` (after the golden tables' DDL) on `cores` cores.
fn final_rows(sql: &str, cores: u32) -> Vec<String> {
    let mut s = Session::new(config(cores));
    let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
    materialize_lines(&rows)
        .into_iter()
        .map(|(line, n)| {
            assert_eq!(n, 1, "{line} is left {n} times");
            line
        })
        .collect()
}

/// Every line of the part files under `dir`, sorted.
fn lines_under(dir: &Path) -> Vec<String> {
    let mut lines: Vec<String> = std::fs::read_dir(dir)
        .expect("the sink's directory")
        .flat_map(|f| {
            let text = std::fs::read_to_string(f.expect("entry").path()).expect("a part file");
            text.lines().map(str::to_owned).collect::<Vec<_>>()
        })
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_statement_set_runs_its_inserts_as_one_job() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (big, home) = (dir.path().join("big"), dir.path().join("home"));
    let sinks = format!(
        "CREATE TABLE big (who STRING, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         CREATE TABLE home (who STRING) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n",
        big.display(),
        home.display()
    );
    for (i, form) in [
        "EXECUTE STATEMENT SET BEGIN\n{inserts}END;",
        "BEGIN STATEMENT SET;\n{inserts}END;",
    ]
    .iter()
    .enumerate()
    {
        let _ = std::fs::remove_dir_all(&big);
        let _ = std::fs::remove_dir_all(&home);
        let inserts = "INSERT INTO big SELECT user_name, amount FROM clicks WHERE amount >= 10;\n\
                       INSERT INTO home SELECT user_name FROM clicks WHERE url = '/home';\n";
        let script = format!("{}{sinks}{}", ddl(), form.replace("{inserts}", inserts));
        let mut s = Session::new(config(2));
        let outcomes = s.execute(&script).unwrap_or_else(|e| panic!("{e}"));
        let inserted: Vec<_> = outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Inserted { table, result } => Some((table.clone(), result)),
                _ => None,
            })
            .collect();
        assert_eq!(inserted.len(), 1, "form {i}: one job for the whole set");
        assert_eq!(inserted[0].0, "big, home");
        assert_eq!(inserted[0].1.metrics.sink_records(), 3 + 4, "form {i}");
        assert_eq!(
            inserted[0].1.metrics.source_records, 8,
            "form {i}: both INSERTs read the one scan of clicks"
        );
        assert_eq!(
            lines_under(&big),
            ["alice,10", "alice,30", "bob,20"],
            "form {i}"
        );
        assert_eq!(
            lines_under(&home),
            ["alice", "bob", "carol", "dave"],
            "form {i}"
        );
    }
}

#[test]
fn a_statement_set_holds_only_inserts_and_must_end() {
    let sink = "CREATE TABLE out (who STRING) WITH ('connector' = 'blackhole');\n";
    let with_select = error_after(
        &format!("{}{sink}", ddl()),
        "EXECUTE STATEMENT SET BEGIN\nINSERT INTO out SELECT user_name FROM clicks;\nSELECT 1 FROM clicks;\nEND;",
    )
    .to_string();
    assert!(
        with_select.contains("only INSERT INTO statements are allowed in a statement set")
            && with_select.contains("line 3"),
        "{with_select}"
    );
    let unended = error_after(
        &format!("{}{sink}", ddl()),
        "BEGIN STATEMENT SET;\nINSERT INTO out SELECT user_name FROM clicks;",
    )
    .to_string();
    assert!(unended.contains("has no END"), "{unended}");
    let stray = error_after(&ddl(), "END;").to_string();
    assert!(stray.contains("END without a statement set"), "{stray}");
}

#[test]
fn legacy_group_windows_equal_the_window_tvf() {
    let legacy = "SELECT user_name, COUNT(*) AS n, SUM(amount) AS total, \
                    TUMBLE_START(ts, INTERVAL '10' SECOND) AS ws, TUMBLE_END(ts, INTERVAL '10' SECOND) AS we \
                  FROM clicks GROUP BY user_name, TUMBLE(ts, INTERVAL '10' SECOND);";
    let tvf = "SELECT user_name, COUNT(*) AS n, SUM(amount) AS total, window_start, window_end \
               FROM TABLE(TUMBLE(TABLE clicks, DESCRIPTOR(ts), INTERVAL '10' SECOND)) \
               GROUP BY user_name, window_start, window_end;";
    let want = final_rows(tvf, 1);
    assert_eq!(want.len(), 7, "{want:?}");
    for cores in [1, 2] {
        assert_eq!(final_rows(legacy, cores), want, "{cores} cores");
    }
}

#[test]
fn a_legacy_session_window_closes_after_its_gap() {
    // alice at 1, 4, 15 s; bob at 2, 12 s; carol at 9, 21 s; dave at 3 s.
    let sql = "SELECT user_name, COUNT(*), SESSION_START(ts, INTERVAL '5' SECOND), \
                 SESSION_END(ts, INTERVAL '5' SECOND), SESSION_ROWTIME(ts, INTERVAL '5' SECOND) \
               FROM clicks GROUP BY SESSION(ts, INTERVAL '5' SECOND), user_name;";
    let want = [
        "alice, 1, 2026-01-01 00:00:15.000, 2026-01-01 00:00:20.000, 2026-01-01 00:00:19.999",
        "alice, 2, 2026-01-01 00:00:01.000, 2026-01-01 00:00:09.000, 2026-01-01 00:00:08.999",
        "bob, 1, 2026-01-01 00:00:02.000, 2026-01-01 00:00:07.000, 2026-01-01 00:00:06.999",
        "bob, 1, 2026-01-01 00:00:12.000, 2026-01-01 00:00:17.000, 2026-01-01 00:00:16.999",
        "carol, 1, 2026-01-01 00:00:09.000, 2026-01-01 00:00:14.000, 2026-01-01 00:00:13.999",
        "carol, 1, 2026-01-01 00:00:21.000, 2026-01-01 00:00:26.000, 2026-01-01 00:00:25.999",
        "dave, 1, 2026-01-01 00:00:03.000, 2026-01-01 00:00:08.000, 2026-01-01 00:00:07.999",
    ];
    for cores in [1, 2] {
        assert_eq!(final_rows(sql, cores), want, "{cores} cores");
    }
}

#[test]
fn misused_group_window_functions_are_errors() {
    let no_window = error_after(
        &ddl(),
        "SELECT TUMBLE_START(ts, INTERVAL '1' SECOND) FROM clicks GROUP BY user_name;",
    )
    .to_string();
    assert!(
        no_window.contains("TUMBLE_START needs GROUP BY TUMBLE(time_column, ...)"),
        "{no_window}"
    );
    let mismatch = error_after(
        &ddl(),
        "SELECT HOP_END(ts, INTERVAL '1' SECOND, INTERVAL '2' SECOND) FROM clicks \
         GROUP BY TUMBLE(ts, INTERVAL '1' SECOND);",
    )
    .to_string();
    assert!(
        mismatch.contains("does not match the query's GROUP BY TUMBLE(...)"),
        "{mismatch}"
    );
    let not_time = error_after(
        &ddl(),
        "SELECT COUNT(*) FROM clicks GROUP BY TUMBLE(amount, INTERVAL '1' SECOND);",
    )
    .to_string();
    assert!(
        not_time.contains("is not a time attribute") && not_time.contains("(`ts`)"),
        "{not_time}"
    );
}

#[test]
fn aggregates_with_filter_count_only_their_rows() {
    let sql = "SELECT user_name, COUNT(*) FILTER (WHERE amount > 5), \
                 SUM(amount) FILTER (WHERE url = '/home'), \
                 COUNT(DISTINCT url) FILTER (WHERE amount < 10), \
                 MAX(amount) FILTER (WHERE amount < 0) \
               FROM clicks GROUP BY user_name;";
    let want = [
        "alice, 2, 10, 1, NULL",
        "bob, 1, 1, 1, NULL",
        "carol, 2, 7, 2, NULL",
        "dave, 0, 3, 1, NULL",
    ];
    for cores in [1, 2] {
        assert_eq!(final_rows(sql, cores), want, "{cores} cores");
    }
    let bad = error_after(&ddl(), "SELECT COUNT(*) FILTER (WHERE amount) FROM clicks;").to_string();
    assert!(bad.contains("a BOOLEAN condition in FILTER"), "{bad}");
    let scalar = error_after(
        &ddl(),
        "SELECT UPPER(url) FILTER (WHERE amount > 1) FROM clicks;",
    )
    .to_string();
    assert!(
        scalar.contains("only allowed on aggregate functions"),
        "{scalar}"
    );
}

#[test]
fn create_function_registers_a_known_udf_class_and_names_others() {
    let udf = "CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';\n";
    let mut s = Session::new(config(1));
    let (rows, _) = run_select(
        &mut s,
        &format!(
            "{}{udf}SELECT user_name, url, count_char(url, 'a') FROM clicks WHERE user_name = 'alice';",
            ddl()
        ),
    );
    assert_eq!(
        sorted_lines(&rows),
        [
            "+I[alice, /cart, 1]",
            "+I[alice, /home, 0]",
            "+I[alice, /pay, 1]"
        ]
    );
    let unknown = error_after(&ddl(), "SELECT count_char(url, 'a') FROM clicks;").to_string();
    assert!(
        unknown.contains("unknown function `count_char`"),
        "{unknown}"
    );
    let class = error_after(&ddl(), "CREATE FUNCTION f AS 'com.example.Mine';").to_string();
    assert!(
        class.contains("com.example.Mine")
            && class.contains("Spate runs no JVM")
            && class.contains("com.github.nexmark.flink.udf.CountChar"),
        "{class}"
    );
    let twice = error_after(&format!("{}{udf}", ddl()), udf).to_string();
    assert!(twice.contains("`count_char` already exists"), "{twice}");
    let mut s = Session::new(config(1));
    s.execute(&format!(
        "{udf}CREATE FUNCTION IF NOT EXISTS count_char AS 'com.github.nexmark.flink.udf.CountChar';"
    ))
    .expect("IF NOT EXISTS keeps the first");
    let python = error_after(
        &ddl(),
        "CREATE TEMPORARY SYSTEM FUNCTION f AS 'm.f' LANGUAGE PYTHON;",
    )
    .to_string();
    assert!(python.contains("LANGUAGE PYTHON"), "{python}");
}

#[test]
fn regexp_extract_takes_a_group_and_a_bad_pattern_is_an_error() {
    let sql = "SELECT user_name, REGEXP_EXTRACT(url, '/(c|p)(a)', 1), REGEXP_EXTRACT(url, 'a(.)') \
               FROM clicks WHERE user_name = 'alice';";
    let mut s = Session::new(config(1));
    let (rows, _) = run_select(&mut s, &format!("{}{sql}", ddl()));
    assert_eq!(
        sorted_lines(&rows),
        [
            "+I[alice, NULL, NULL]",
            "+I[alice, c, ar]",
            "+I[alice, p, ay]"
        ]
    );
    let bad = error_after(
        &ddl(),
        "SELECT REGEXP_EXTRACT(url,\n  '(unclosed') FROM clicks;",
    )
    .to_string();
    assert!(
        bad.contains("does not compile") && bad.contains("line 2"),
        "{bad}"
    );
}
