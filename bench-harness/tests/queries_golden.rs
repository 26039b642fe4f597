//! Every Nexmark query written with the DataStream API gives exactly the
//! rows of the independent reference implementation, on 1 and 2 cores, for
//! generated streams (in order and disordered) and the hand-written inputs.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::fmt::Debug;
use std::path::Path;
use std::sync::Arc;

use spate::DataStream;
use spate::config::Config;
use spate_bench::nexmark::{
    Event, Generator, GeneratorConfig, NexmarkError, read_events_jsonl, reference,
};
use spate_bench::queries;
use spate_bench::runner::{BenchSpec, run_collect};
use spate_bench::source::EventInput;

fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    // Small batches: many watermarks and partial flushes, the hard case.
    c.runtime.batch_records_max = 64;
    c
}

fn generated(seed: u64, rate: u64, events: u64, disordered: bool) -> (EventInput, Vec<Event>) {
    let mut cfg = GeneratorConfig {
        seed,
        rate_events_per_s: rate,
        events_max: Some(events),
        ..GeneratorConfig::default()
    };
    if disordered {
        cfg.out_of_order_group_size = 100;
        cfg.prob_delayed_event = 0.1;
        cfg.occasional_delay_ms = 3_000;
    }
    let all: Vec<Event> = Generator::new(cfg.clone(), 0, 1).unwrap().collect();
    (EventInput::Generator(cfg), all)
}

fn hand(file: &str) -> (EventInput, Vec<Event>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/hand")
        .join(file);
    let events = read_events_jsonl(&path).unwrap();
    (EventInput::File(Arc::new(events.clone()), path), events)
}

fn check<T>(
    name: &str,
    input: &(EventInput, Vec<Event>),
    engine: fn(&DataStream<Event>) -> DataStream<T>,
    reference: fn(&[Event]) -> Result<Vec<T>, NexmarkError>,
) where
    T: spate::Data + Sync + std::hash::Hash + Ord + Debug,
{
    let mut expected = reference(&input.1).unwrap();
    expected.sort();
    for cores in [1, 2] {
        let spec = BenchSpec {
            query: name.to_string(),
            input: input.0.clone(),
            rate_per_s: 0,
            progress: None,
            fail_once_after_events: None,
            savepoint_after_events: None,
            from_savepoint: None,
        };
        let (mut got, result) = run_collect(&spec, &config(cores), engine).unwrap();
        got.sort();
        assert_eq!(result.metrics.source_records, input.1.len() as u64);
        assert_eq!(
            got.len(),
            expected.len(),
            "{name} on {cores} cores: row count"
        );
        assert!(
            got == expected,
            "{name} on {cores} cores: rows differ from the reference"
        );
    }
}

macro_rules! golden {
    ($($test:ident: $input:expr;)*) => {$(
        #[test]
        fn $test() {
            let input = $input;
            check("q0", &input, queries::q0, reference::q0);
            check("q1", &input, queries::q1, reference::q1);
            check("q2", &input, queries::q2, reference::q2);
            check("q3", &input, queries::q3, reference::q3);
            check("q4", &input, queries::q4, reference::q4);
            check("q5", &input, queries::q5, reference::q5);
            check("q6", &input, queries::q6, reference::q6);
            check("q7", &input, queries::q7, reference::q7);
            check("q8", &input, queries::q8, reference::q8);
        }
    )*};
}

golden! {
    generated_at_benchmark_rate: generated(0, 10_000_000, 50_000, false);
    generated_slow_so_windows_close: generated(1, 2_000, 40_000, false);
    generated_disordered_within_bound: generated(7, 5_000, 40_000, true);
    hand_q0_q1_q2: hand("q0_q1_q2.jsonl");
    hand_q3: hand("q3.jsonl");
    hand_q4: hand("q4_q6.jsonl");
    hand_q6_last10: hand("q6_last10.jsonl");
    hand_q5: hand("q5.jsonl");
    hand_q7: hand("q7.jsonl");
    hand_q8: hand("q8.jsonl");
}
