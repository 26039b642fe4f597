//! Nexmark q0-q3, q5, q7 and q8 written in SQL (sql/queries) give the same
//! output as the hand-written DataStream queries (bench-harness/src/queries)
//! on the same generated events, on 1 and 2 cores: the same row count and
//! checksum, or for q5 and q7, whose SQL joins an updating aggregate and so
//! writes a changelog, the same rows once the changelog is applied.

use spate_bench::nexmark::GeneratorConfig;
use spate_bench::runner::{BenchSpec, blackhole_job};
use spate_bench::source::EventInput;
use spate_sql::Session;

mod common;
use common::{config, nexmark_ddl, query_file, run_insert};

const EVENTS: u64 = 20_000;

/// The DataStream query's (rows, checksum) on events `rate` apart in event
/// time (events per second).
fn datastream_at(query: &str, cores: u32, rate: u64) -> (u64, u64) {
    let spec = BenchSpec {
        query: query.into(),
        input: EventInput::Generator(GeneratorConfig {
            events_max: Some(EVENTS),
            rate_events_per_s: rate,
            ..GeneratorConfig::default()
        }),
        rate_per_s: 0,
        progress: None,
        fail_once_after_events: None,
        savepoint_after_events: None,
        from_savepoint: None,
    };
    let result = blackhole_job(&spec)
        .expect("job builds")
        .run(&config(cores))
        .expect("job runs");
    (
        result.metrics.sink_records(),
        result.metrics.sink_checksum(),
    )
}

/// The Nexmark tables with events `rate` apart in event time.
fn ddl_at(rate: u64) -> String {
    nexmark_ddl(EVENTS).replace(
        "'events.num'",
        &format!("'next-event.rate' = '{rate}', 'events.num'"),
    )
}

fn sql(query: &str, cores: u32, rate: u64) -> (u64, u64) {
    let mut session = Session::new(config(cores));
    let script = format!("{}\n{}", ddl_at(rate), query_file(&format!("{query}.sql")));
    let result = run_insert(&mut session, &script);
    (
        result.metrics.sink_records(),
        result.metrics.sink_checksum(),
    )
}

fn check(query: &str) {
    check_at(query, GeneratorConfig::default().rate_events_per_s, 1);
}

/// Compares on events `rate` apart in event time; the DataStream version
/// must write at least `rows_min` rows.
fn check_at(query: &str, rate: u64, rows_min: u64) {
    for cores in [1, 2] {
        let want = datastream_at(query, cores, rate);
        let got = sql(query, cores, rate);
        assert!(want.0 >= rows_min, "{query} produced {} rows", want.0);
        assert_eq!(
            got, want,
            "{query} on {cores} cores: SQL (rows, checksum) differs from DataStream"
        );
    }
}

#[test]
fn nexmark_q0_sql_matches_datastream() {
    check("q0");
}

#[test]
fn nexmark_q1_sql_matches_datastream() {
    check("q1");
}

#[test]
fn nexmark_q2_sql_matches_datastream() {
    check("q2");
}

#[test]
fn nexmark_q3_sql_regular_join_matches_datastream() {
    check("q3");
}

#[test]
fn nexmark_q8_sql_window_join_matches_datastream() {
    // Four 10 s windows.
    check_at("q8", SLOW_RATE, 4);
}

/// The rows a changelog leaves, as `(count, checksum)` of insert rows: what
/// an insert-only stream of the same rows would sum to.
fn sql_materialized(query: &str, cores: u32) -> (u64, u64) {
    let text = query_file(&format!("{query}.sql"));
    let (_, select) = text
        .split_once(&format!("INSERT INTO nexmark_{query}\n"))
        .expect("the query inserts into its sink table");
    let mut session = Session::new(config(cores));
    let (rows, _) = common::run_select(&mut session, &format!("{}\n{select}", ddl_at(SLOW_RATE)));
    let mut table: std::collections::BTreeMap<Vec<spate_sql::Value>, i64> = Default::default();
    for r in &rows {
        *table.entry(r.values.clone()).or_insert(0) += if r.kind.is_addition() { 1 } else { -1 };
    }
    assert!(
        table.values().all(|n| *n >= 0),
        "{query}: a row retracted more than added"
    );
    let mut count = 0u64;
    let mut sum = 0u64;
    for (values, n) in table {
        for _ in 0..n {
            count += 1;
            sum = sum.wrapping_add(spate_state::checksum_hash(&spate_sql::Row::insert(
                values.clone(),
            )));
        }
    }
    (count, sum)
}

/// Events per second of event time for the window-maximum queries: 20 000
/// events then span 40 s, four q7 windows and two dozen q5 windows.
const SLOW_RATE: u64 = 500;

fn check_materialized(query: &str) {
    for cores in [1, 2] {
        let want = datastream_at(query, cores, SLOW_RATE);
        let got = sql_materialized(query, cores);
        assert!(want.0 >= 4, "{query} produced {} rows", want.0);
        assert_eq!(
            got, want,
            "{query} on {cores} cores: SQL's final (rows, checksum) differs from DataStream"
        );
    }
}

#[test]
fn nexmark_q5_sql_join_with_the_window_maximum_matches_datastream() {
    check_materialized("q5");
}

#[test]
fn nexmark_q7_sql_join_with_the_window_maximum_matches_datastream() {
    check_materialized("q7");
}
