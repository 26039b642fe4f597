//! Nexmark q0-q3 and q8 written in SQL (sql/queries) give the same output
//! checksum and row count as the hand-written DataStream queries
//! (bench-harness/src/queries) on the same generated events, on 1 and 2 cores.

use spate_bench::nexmark::GeneratorConfig;
use spate_bench::runner::{BenchSpec, blackhole_job};
use spate_bench::source::EventInput;
use spate_sql::Session;

mod common;
use common::{config, nexmark_ddl, query_file, run_insert};

const EVENTS: u64 = 20_000;

fn datastream(query: &str, cores: u32) -> (u64, u64) {
    let spec = BenchSpec {
        query: query.into(),
        input: EventInput::Generator(GeneratorConfig {
            events_max: Some(EVENTS),
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

fn sql(query: &str, cores: u32) -> (u64, u64) {
    let mut session = Session::new(config(cores));
    let script = format!(
        "{}\n{}",
        nexmark_ddl(EVENTS),
        query_file(&format!("{query}.sql"))
    );
    let result = run_insert(&mut session, &script);
    (
        result.metrics.sink_records(),
        result.metrics.sink_checksum(),
    )
}

fn check(query: &str) {
    for cores in [1, 2] {
        let want = datastream(query, cores);
        let got = sql(query, cores);
        assert!(want.0 > 0, "{query} produced no rows");
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
    check("q8");
}
