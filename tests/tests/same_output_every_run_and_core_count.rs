//! Determinism: the same input gives the same output checksum on every run
//! and every core count, and it equals the checksum of the independent
//! reference implementation's rows.

#![allow(clippy::unwrap_used)]

use spate_bench::nexmark::{Event, Generator, GeneratorConfig, reference};
use spate_bench::runner::{self, BenchSpec};
use spate_bench::source::EventInput;
use spate_scenarios::{engine_checksum, test_config};

fn input() -> (GeneratorConfig, Vec<Event>) {
    let cfg = GeneratorConfig {
        seed: 11,
        rate_events_per_s: 3_000,
        events_max: Some(30_000),
        out_of_order_group_size: 50,
        prob_delayed_event: 0.05,
        occasional_delay_ms: 2_000,
        ..GeneratorConfig::default()
    };
    let events = Generator::new(cfg.clone(), 0, 1).unwrap().collect();
    (cfg, events)
}

fn reference_checksum(query: &str, events: &[Event]) -> (u64, u64) {
    macro_rules! sum {
        ($rows:expr) => {{
            let rows = $rows.unwrap();
            (rows.len() as u64, engine_checksum(&rows))
        }};
    }
    match query {
        "q0" => sum!(reference::q0(events)),
        "q1" => sum!(reference::q1(events)),
        "q2" => sum!(reference::q2(events)),
        "q3" => sum!(reference::q3(events)),
        "q4" => sum!(reference::q4(events)),
        "q5" => sum!(reference::q5(events)),
        "q6" => sum!(reference::q6(events)),
        "q7" => sum!(reference::q7(events)),
        "q8" => sum!(reference::q8(events)),
        other => panic!("no reference for {other}"),
    }
}

#[test]
fn every_query_has_one_checksum_across_runs_and_core_counts() {
    let (cfg, events) = input();
    for query in spate_bench::queries::QUERIES {
        let (count, checksum) = reference_checksum(query, &events);
        let spec = BenchSpec {
            query: query.to_string(),
            input: EventInput::Generator(cfg.clone()),
            rate_per_s: 0,
            progress: None,
            fail_once_after_events: None,
            savepoint_after_events: None,
            from_savepoint: None,
        };
        for cores in [1, 2, 2, 1] {
            let report = runner::run(&spec, &test_config(cores)).unwrap();
            assert_eq!(report.events, events.len() as u64);
            assert_eq!(
                report.output_records, count,
                "{query} on {cores} cores: output count"
            );
            assert_eq!(
                report.checksum,
                format!("{checksum:016x}"),
                "{query} on {cores} cores: checksum differs from the reference"
            );
        }
    }
}
