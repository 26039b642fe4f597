//! Nexmark q0-q3, q5, q7 and q8 written in SQL (sql/queries) give the same
//! output as the hand-written DataStream queries (bench-harness/src/queries)
//! on the same generated events, on 1 and 2 cores: the same row count and
//! checksum. The SQL runs with the settings `spate bench nexmark --sql`
//! uses (nexmark-flink's: mini-batch aggregation on).

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
    let script = format!(
        "{}{}\n{}",
        spate_sql::nexmark::SETTINGS,
        ddl_at(rate),
        query_file(&format!("{query}.sql"))
    );
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

/// Events per second of event time for the window-maximum queries: 20 000
/// events then span 40 s, four q7 windows and two dozen q5 windows.
const SLOW_RATE: u64 = 500;

/// q5's join of the hop counts with each window's maximum count is
/// insert-only, so the checksums compare directly.
#[test]
fn nexmark_q5_sql_hop_counts_at_each_window_maximum_match_datastream() {
    check_at("q5", SLOW_RATE, 4);
}

/// q7's join of the bids with each window's maximum price.
#[test]
fn nexmark_q7_sql_join_with_the_window_maximum_matches_datastream() {
    check_at("q7", SLOW_RATE, 4);
}

/// q5's plan: the join of each hop count with its window's maximum count
/// is planned as the counts at each window's maximum (no join state and no
/// second aggregate), over one HOP count: one window aggregate in all.
#[test]
fn nexmark_q5_plans_one_hop_count_and_the_rows_at_each_window_maximum() {
    let text = query_file("q5.sql");
    let at = text.find("INSERT INTO").expect("q5 inserts");
    let script = format!(
        "{}\n{}EXPLAIN {}",
        ddl_at(SLOW_RATE),
        &text[..at],
        &text[at..]
    );
    let mut session = Session::new(config(2));
    let outcomes = session.execute(&script).unwrap_or_else(|e| panic!("{e}"));
    let Some(spate_sql::Outcome::Explain(plan)) = outcomes.last() else {
        panic!("EXPLAIN gave no plan: {outcomes:?}");
    };
    let optimized = plan.split("== Optimized").nth(1).unwrap_or_default();
    assert!(
        optimized.contains("WindowExtremeRows(window=[Attached"),
        "{plan}"
    );
    assert!(!optimized.contains("Join("), "{plan}");
    assert!(!optimized.contains("GroupAggregate"), "{plan}");
    assert_eq!(plan.matches("task window_aggregate").count(), 1, "{plan}");
}
