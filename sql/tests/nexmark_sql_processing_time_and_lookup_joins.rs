//! Nexmark q12 (windows of processing time, sessions too) and q13 (a lookup join on a
//! bounded side input), in nexmark-flink's text. q12's split of counts
//! among windows depends on the wall clock; each bidder's total, the
//! windows' alignment and their place in time do not.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use spate_sql::{Session, Value};

mod common;
use common::{
    config, grouped, materialize_counts, nexmark_ddl_at, nexmark_rows, query_as_select, query_file,
    run_select,
};

const EVENTS: u64 = 20_000;
const RATE: u64 = 500;
const B_AUCTION: usize = 0;
const B_BIDDER: usize = 1;
const B_PRICE: usize = 2;
const B_TIME: usize = 5;

fn int(v: &Value) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("{v:?} is not a number"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// q12 with windows of `size` (an INTERVAL literal) on `cores` cores: the
/// rows it leaves, and the wall-clock span the run took.
fn run_q12(size: &str, cores: u32) -> (Vec<Vec<Value>>, i64, i64) {
    let query = query_as_select("q12").replace("INTERVAL '10' SECOND", size);
    let sql = format!("{}\n{query}", nexmark_ddl_at(EVENTS, RATE));
    let mut s = Session::new(config(cores));
    let begin = now_ms();
    let (rows, _) = run_select(&mut s, &sql);
    let end = now_ms();
    let left = materialize_counts(&rows);
    let twice: Vec<_> = left.iter().filter(|(_, n)| **n != 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "rows left more than once: {twice:?} of {}",
        left.len()
    );
    (left.into_keys().collect(), begin, end)
}

#[test]
fn q12_counts_every_bid_once_in_aligned_windows_of_the_wall_clock() {
    let ddl = nexmark_ddl_at(EVENTS, RATE);
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for (bidder, group) in grouped(nexmark_rows(&ddl, "bid"), &[B_BIDDER]) {
        want.insert(int(&bidder[0]), group.len() as i64);
    }
    assert!(want.len() > 100, "only {} bidders", want.len());
    for (size, size_ms) in [
        ("INTERVAL '10' SECOND", 10_000),
        ("INTERVAL '0.02' SECOND", 20),
    ] {
        for cores in [1, 2] {
            let (rows, begin, end) = run_q12(size, cores);
            let mut got: BTreeMap<i64, i64> = BTreeMap::new();
            for r in &rows {
                let (start, stop) = (int(&r[2]), int(&r[3]));
                assert_eq!(stop - start, size_ms, "{r:?}");
                assert_eq!(start.rem_euclid(size_ms), 0, "{r:?} is not aligned");
                assert!(
                    stop > begin && start <= end,
                    "{r:?} lies outside the run's wall-clock span {begin}..{end}"
                );
                *got.entry(int(&r[0])).or_insert(0) += int(&r[1]);
            }
            assert_eq!(got, want, "{size} on {cores} cores");
        }
    }
}

#[test]
fn sessions_of_processing_time_count_every_bid_once_in_disjoint_sessions() {
    let ddl = nexmark_ddl_at(EVENTS, RATE);
    let mut want: BTreeMap<i64, i64> = BTreeMap::new();
    for (bidder, group) in grouped(nexmark_rows(&ddl, "bid"), &[B_BIDDER]) {
        want.insert(int(&bidder[0]), group.len() as i64);
    }
    let view = "CREATE VIEW B AS SELECT *, PROCTIME() AS p_time FROM bid;";
    let gap_ms = 30;
    for (form, query) in [
        (
            "TVF",
            "SELECT bidder, COUNT(*), window_start, window_end \
             FROM TABLE(SESSION(TABLE B, DESCRIPTOR(p_time), INTERVAL '0.03' SECOND)) \
             GROUP BY bidder, window_start, window_end;",
        ),
        (
            "group window",
            "SELECT bidder, COUNT(*), SESSION_START(p_time, INTERVAL '0.03' SECOND), \
             SESSION_END(p_time, INTERVAL '0.03' SECOND) \
             FROM B GROUP BY bidder, SESSION(p_time, INTERVAL '0.03' SECOND);",
        ),
    ] {
        for cores in [1, 2] {
            let mut s = Session::new(config(cores));
            let begin = now_ms();
            let (rows, _) = run_select(&mut s, &format!("{ddl}\n{view}\n{query}"));
            let end = now_ms();
            let left = materialize_counts(&rows);
            let mut got: BTreeMap<i64, i64> = BTreeMap::new();
            let mut sessions: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
            for (r, times) in &left {
                assert_eq!(*times, 1, "{form}: {r:?} left {times} times");
                let (start, stop) = (int(&r[2]), int(&r[3]));
                assert!(
                    stop - start >= gap_ms,
                    "{form}: {r:?} is shorter than the gap"
                );
                assert!(
                    start >= begin && stop <= end + gap_ms,
                    "{form}: {r:?} lies outside the run's wall-clock span {begin}..{end}"
                );
                *got.entry(int(&r[0])).or_insert(0) += int(&r[1]);
                sessions.entry(int(&r[0])).or_default().push((start, stop));
            }
            assert_eq!(got, want, "{form} on {cores} cores");
            for (bidder, mut spans) in sessions {
                spans.sort();
                for pair in spans.windows(2) {
                    assert!(
                        pair[0].1 <= pair[1].0,
                        "{form}: bidder {bidder}'s sessions {pair:?} overlap"
                    );
                }
            }
        }
    }
}

#[test]
fn sessions_of_processing_time_close_while_a_slow_source_runs() {
    // 600 rows over 0.4 s of wall clock on 100 keys: a key's rows come
    // about 67 ms apart, so with a 30 ms gap most close a session of their
    // own before the next one comes, while the job runs.
    let table = "CREATE TEMPORARY TABLE slow (k BIGINT, p AS PROCTIME()) WITH ( \
        'connector' = 'datagen', 'number-of-rows' = '600', 'rows-per-second' = '1500', \
        'throttle' = 'true', 'fields.k.min' = '1', 'fields.k.max' = '100');";
    let mut s = Session::new(config(1));
    let (all, _) = run_select(
        &mut s,
        &format!("{table}\nSELECT k, COUNT(*) FROM slow GROUP BY k;"),
    );
    let want: BTreeMap<i64, i64> = materialize_counts(&all)
        .into_keys()
        .map(|r| (int(&r[0]), int(&r[1])))
        .collect();
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let query = "SELECT k, COUNT(*), window_start, window_end \
             FROM TABLE(SESSION(TABLE slow PARTITION BY k, DESCRIPTOR(p), INTERVAL '0.03' SECOND)) \
             GROUP BY k, window_start, window_end;";
        let (rows, _) = run_select(&mut s, &format!("{table}\n{query}"));
        let left = materialize_counts(&rows);
        let mut got: BTreeMap<i64, i64> = BTreeMap::new();
        for r in left.keys() {
            *got.entry(int(&r[0])).or_insert(0) += int(&r[1]);
        }
        assert_eq!(got, want, "{cores} cores: every row in one session");
        assert!(
            left.len() > 2 * want.len(),
            "{cores} cores: {} sessions of {} keys; sessions should close while rows come",
            left.len(),
            want.len()
        );
    }
}

/// A side input of `keys` rows `i,value-i`, skipping multiples of 3 (so
/// some bids find nothing), in `dir/data/side_input.txt`.
fn write_side_input(dir: &std::path::Path, keys: i64) {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("creating the data directory");
    let lines: String = (0..keys)
        .filter(|i| i % 3 != 0)
        .map(|i| format!("{i},value-{i}\n"))
        .collect();
    std::fs::write(data.join("side_input.txt"), lines).expect("writing the side input");
}

fn q13_sql(dir: &std::path::Path, query: &str) -> String {
    format!(
        "{}\n{}",
        nexmark_ddl_at(EVENTS, RATE),
        query.replace("${NEXMARK_DIR}", &dir.display().to_string())
    )
}

#[test]
fn q13_enriches_each_bid_with_the_side_input_row_of_its_auction() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_side_input(dir.path(), 10_000);
    let bids = nexmark_rows(&nexmark_ddl_at(EVENTS, RATE), "bid");
    let mut want: BTreeMap<Vec<Value>, i64> = BTreeMap::new();
    for b in &bids {
        let key = int(&b[B_AUCTION]).rem_euclid(10_000);
        if key % 3 != 0 {
            let row = vec![
                b[B_AUCTION].clone(),
                b[B_BIDDER].clone(),
                b[B_PRICE].clone(),
                b[B_TIME].clone(),
                Value::Str(format!("value-{key}").as_str().into()),
            ];
            *want.entry(row).or_insert(0) += 1;
        }
    }
    let dropped = bids.len() as i64 - want.values().sum::<i64>();
    assert!(dropped > 100 && want.len() > 1000, "{dropped} bids dropped");
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let sql = q13_sql(dir.path(), &query_as_select("q13"));
        let got = materialize_counts(&run_select(&mut s, &sql).0);
        assert_eq!(got, want, "q13 on {cores} cores");
    }
}

#[test]
fn a_left_lookup_join_pads_bids_without_a_match_and_keeps_the_rowtime() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_side_input(dir.path(), 10_000);
    let ddl = query_file("q13.sql");
    let ddl = &ddl[..ddl.find("CREATE TABLE nexmark_q13").expect("q13's sink")];
    // The residual condition drops the rows of even keys after the lookup;
    // the join's rowtime (the bid's) still feeds a window downstream.
    let query = format!(
        "{ddl}
        CREATE VIEW enriched AS
        SELECT B.auction, B.`dateTime`, S.`value`
        FROM (SELECT *, PROCTIME() AS p_time FROM bid) B
        LEFT JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S
        ON S.key = mod(B.auction, 10000) AND mod(S.key, 2) = 1;
        SELECT window_start, count(*) AS n, count(`value`) AS matched
        FROM TABLE(TUMBLE(TABLE enriched, DESCRIPTOR(`dateTime`), INTERVAL '10' SECOND))
        GROUP BY window_start, window_end;"
    );
    let bids = nexmark_rows(&nexmark_ddl_at(EVENTS, RATE), "bid");
    let mut want: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    for b in &bids {
        let key = int(&b[B_AUCTION]).rem_euclid(10_000);
        let t = int(&b[B_TIME]);
        let e = want.entry(t - t.rem_euclid(10_000)).or_insert((0, 0));
        e.0 += 1;
        e.1 += i64::from(key % 3 != 0 && key % 2 == 1);
    }
    for cores in [1, 2] {
        let mut s = Session::new(config(cores));
        let rows = run_select(&mut s, &q13_sql(dir.path(), &query)).0;
        let got: BTreeMap<i64, (i64, i64)> = materialize_counts(&rows)
            .into_keys()
            .map(|r| (int(&r[0]), (int(&r[1]), int(&r[2]))))
            .collect();
        assert_eq!(got, want, "on {cores} cores");
    }
}

#[test]
fn lookup_joins_that_cannot_be_planned_say_why() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    write_side_input(dir.path(), 10);
    let ddl = query_file("q13.sql");
    let ddl = &ddl[..ddl.find("CREATE TABLE nexmark_q13").expect("q13's sink")];
    let cases = [
        (
            "JOIN side_input FOR SYSTEM_TIME AS OF B.`dateTime` AS S ON B.auction = S.key",
            "event-time temporal joins",
        ),
        (
            "JOIN side_input FOR SYSTEM_TIME AS OF B.price AS S ON B.auction = S.key",
            "is not a processing-time attribute",
        ),
        (
            "JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S ON B.auction > S.key",
            "needs an equality between a column of `side_input`",
        ),
        (
            "JOIN person FOR SYSTEM_TIME AS OF B.p_time AS S ON B.bidder = S.id",
            "a lookup join reads a bounded 'filesystem' table",
        ),
        (
            "FULL JOIN side_input FOR SYSTEM_TIME AS OF B.p_time AS S ON B.auction = S.key",
            "RIGHT and FULL lookup joins",
        ),
    ];
    for (join, want) in cases {
        let sql = q13_sql(
            dir.path(),
            &format!(
                "{ddl}\nSELECT B.auction FROM (SELECT *, PROCTIME() AS p_time FROM bid) B\n{join};"
            ),
        );
        let err = Session::new(config(1))
            .execute(&sql)
            .expect_err(join)
            .to_string();
        assert!(err.contains(want), "{join}: {err}");
    }
    let sql = q13_sql(
        dir.path(),
        &format!(
            "{ddl}\nSELECT * FROM side_input FOR SYSTEM_TIME AS OF TIMESTAMP '2020-01-01 00:00:00';"
        ),
    );
    let err = Session::new(config(1))
        .execute(&sql)
        .expect_err("AS OF without a join")
        .to_string();
    assert!(
        err.contains("FOR SYSTEM_TIME AS OF outside a join"),
        "{err}"
    );
}
