//! `SET 'table.exec.state.ttl'`: a regular join's and a group aggregate's
//! state for a key expires that long after its last write (processing
//! time, as in Flink), so a row that comes later finds nothing; without
//! it, the same rows join and count up. Sources are throttled so rows are
//! far apart in wall-clock time (a gap 50 times the TTL), and a bad
//! duration is an error that says what is expected.

use spate_sql::Session;

mod common;
use common::{config, error_after, materialize_lines, run_select};

/// `name`: ids 1..=`rows`, 10 per second of wall-clock time.
fn throttled(name: &str, rows: u64) -> String {
    format!(
        "CREATE TEMPORARY TABLE {name} (id BIGINT) WITH ('connector' = 'datagen', \
         'rows-per-second' = '10', 'throttle' = 'true', 'fields.id.kind' = 'sequence', \
         'fields.id.start' = '1', 'fields.id.end' = '{rows}');\n"
    )
}

fn final_rows(ttl: Option<&str>, ddl: &str, select: &str) -> Vec<(String, i64)> {
    let set = ttl
        .map(|t| format!("SET 'table.exec.state.ttl' = '{t}';\n"))
        .unwrap_or_default();
    let mut s = Session::new(config(1));
    let (rows, _) = run_select(&mut s, &format!("{set}{ddl}{select}"));
    materialize_lines(&rows).into_iter().collect()
}

#[test]
fn a_join_forgets_rows_older_than_the_ttl() {
    // Row `b.id = k` arrives 1 s before the row `a.id = k + 10` it joins.
    let ddl = format!("{}{}", throttled("a", 20), throttled("b", 10));
    let select = "SELECT a.id, b.id FROM a JOIN b ON a.id = b.id + 10;";
    let kept = final_rows(None, &ddl, select);
    assert_eq!(kept.len(), 10, "{kept:?}");
    assert!(kept.contains(&("20, 10".to_string(), 1)), "{kept:?}");
    let forgotten = final_rows(Some("20 ms"), &ddl, select);
    assert!(forgotten.is_empty(), "{forgotten:?}");
}

#[test]
fn a_group_aggregate_starts_over_once_its_state_expired() {
    let ddl = throttled("a", 6);
    let select = "SELECT MOD(id, 1) AS k, COUNT(*) FROM a GROUP BY MOD(id, 1);";
    assert_eq!(final_rows(None, &ddl, select), [("0, 6".to_string(), 1)]);
    // Each row finds its group gone and inserts a new count of 1.
    assert_eq!(
        final_rows(Some("2 ms"), &ddl, select),
        [("0, 1".to_string(), 6)]
    );
}

#[test]
fn a_ttl_is_a_duration() {
    let mut s = Session::new(config(1));
    for ok in ["0", "3600000", "1 h", "30 min", "10s", "1 d", "250 ms"] {
        s.execute(&format!("SET 'table.exec.state.ttl' = '{ok}';"))
            .unwrap_or_else(|e| panic!("{ok}: {e}"));
    }
    let unit = error_after("", "SET 'table.exec.state.ttl' = '5 parsecs';").to_string();
    assert!(
        unit.contains("unknown time unit `parsecs`; expected ms, s, min, h or d"),
        "{unit}"
    );
    let text = error_after("", "SET 'table.exec.state.ttl' = 'soon';").to_string();
    assert!(text.contains("expected a duration such as '1 h'"), "{text}");
}
