//! A SELECT started live (`Session::start_query`, what the shell runs)
//! hands its rows over while it runs, over an unbounded table too, and a
//! cancel ends it without draining: a window still open is not closed.

use std::time::{Duration, Instant};

use spate_sql::Session;
use spate_sql::live::LiveRow;

mod common;
use common::{config, run_select};

/// The bid table without `events.num`: it never ends by itself.
const UNBOUNDED_BIDS: &str = "CREATE TABLE bid (auction BIGINT, bidder BIGINT, price BIGINT, \
    channel VARCHAR, url VARCHAR, dateTime TIMESTAMP(3), extra VARCHAR, \
    WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND) \
    WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid');";

const SELECT: &str = "SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;";

/// Reads rows until `n` came, failing after a generous bound.
fn read(live: &spate_sql::live::LiveQuery, n: usize) -> Vec<spate_sql::Row> {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut rows = Vec::new();
    while rows.len() < n {
        assert!(Instant::now() < deadline, "only {} rows came", rows.len());
        match live.next_row(Duration::from_millis(100)) {
            LiveRow::Row(r) => rows.push(r),
            LiveRow::Waiting => {}
            LiveRow::Ended => panic!("an unbounded query ended after {} rows", rows.len()),
        }
    }
    rows
}

#[test]
fn an_unbounded_select_streams_its_rows_and_ends_when_cancelled() {
    let mut session = Session::new(config(1));
    session.execute(UNBOUNDED_BIDS).expect("DDL");
    let live = session
        .start_query(SELECT)
        .expect("plans")
        .expect("a SELECT runs live");
    assert_eq!(live.schema.names(), "auction, price");
    let first = read(&live, 200);
    live.cancel();
    // What was written before the cancel still comes, then the end.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "the cancelled query did not end");
        if let LiveRow::Ended = live.next_row(Duration::from_millis(100)) {
            break;
        }
    }
    let result = live.finish().expect("a cancelled query ends cleanly");
    assert!(result.metrics.sink_records() >= 200);
    // On one core the rows are the bounded table's, in the same order.
    let mut bounded = Session::new(config(1));
    let ddl = UNBOUNDED_BIDS.replace("'bid');", "'bid', 'events.num' = '200000');");
    let (all, _) = run_select(&mut bounded, &format!("{ddl}{SELECT}"));
    assert!(all.len() >= 200, "{} rows", all.len());
    assert_eq!(first, all[..200]);
}

#[test]
fn a_cancelled_window_aggregate_closes_no_window() {
    // A 1000-day window never closes on the data; draining would close it
    // with the final watermark and write its count.
    let mut session = Session::new(config(2));
    session.execute(UNBOUNDED_BIDS).expect("DDL");
    let live = session
        .start_query(
            "SELECT window_start, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(dateTime), \
             INTERVAL '1000' DAY)) GROUP BY window_start, window_end;",
        )
        .expect("plans")
        .expect("a SELECT runs live");
    std::thread::sleep(Duration::from_millis(300));
    live.cancel();
    let result = live.finish().expect("a cancelled query ends cleanly");
    assert_eq!(result.metrics.sink_records(), 0);
}

#[test]
fn statements_other_than_one_select_are_not_live() {
    let mut session = Session::new(config(1));
    session.execute(UNBOUNDED_BIDS).expect("DDL");
    for sql in [
        "SET 'parallelism.default' = '1';",
        "EXPLAIN SELECT * FROM bid;",
        "SELECT 1; SELECT 2;",
    ] {
        assert!(session.start_query(sql).expect(sql).is_none(), "{sql}");
    }
    let e = session
        .start_query("SELECT nope FROM bid;")
        .err()
        .expect("an unknown column is an error");
    assert!(e.to_string().contains("nope"), "{e}");
}

#[test]
fn shell_inputs_are_told_apart_for_a_cluster() {
    use spate_sql::script_job::{ScriptKind, script_kind};
    let kind = |sql: &str| script_kind(sql).expect(sql);
    assert_eq!(kind("INSERT INTO t SELECT * FROM s;"), ScriptKind::Writes);
    assert_eq!(
        kind("EXECUTE STATEMENT SET BEGIN INSERT INTO t SELECT * FROM s; END;"),
        ScriptKind::Writes
    );
    assert_eq!(kind("SELECT 1;"), ScriptKind::Reads);
    assert_eq!(kind("EXPLAIN SELECT 1;"), ScriptKind::Explains);
    assert_eq!(kind("SET 'a' = 'b'; RESET;"), ScriptKind::Prepares);
    assert_eq!(kind(UNBOUNDED_BIDS), ScriptKind::Prepares);
    assert_eq!(
        kind("SET 'a' = 'b'; INSERT INTO t SELECT * FROM s;"),
        ScriptKind::Mixed
    );
    assert_eq!(kind("SET 'a' = 'b'; EXPLAIN SELECT 1;"), ScriptKind::Mixed);
}
