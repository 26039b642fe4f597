//! The window aggregation of q5's first stage in SQL (HOP, COUNT(*) per
//! auction) equals the same stage written with the DataStream API.

use spate::Job;
use spate::config::Config;
use spate::sinks::BlackholeSink;
use spate::window::{Count, SlidingEventTimeWindows, TimeWindow};
use spate_bench::nexmark::rows::Q5Row;
use spate_bench::nexmark::{Event, GeneratorConfig};
use spate_bench::source::{EventInput, NexmarkSource};
use spate_sql::Session;

mod common;
use common::{config, nexmark_ddl, query_file, run_insert};

const EVENTS: u64 = 30_000;

fn datastream(cfg: &Config) -> (u64, u64) {
    let input = EventInput::Generator(GeneratorConfig {
        events_max: Some(EVENTS),
        // 1000 events/s of event time: 30 s of events, many windows.
        rate_events_per_s: 1_000,
        ..GeneratorConfig::default()
    });
    let job = Job::builder("q5 counts");
    job.source_with_watermarks("nexmark", move |split| NexmarkSource::new(&input, split, 0))
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b.auction),
            _ => None,
        })
        .key_by(|a: &u64| *a)
        .window(SlidingEventTimeWindows::of(10_000, 2_000))
        .aggregate_with(Count::<u64>::new(), |a: &u64, w: &TimeWindow, num: u64| {
            Q5Row {
                auction: *a,
                num,
                window_start: w.start,
                window_end: w.end,
            }
        })
        .sink_with_checksum("out", BlackholeSink);
    let r = job.build().expect("builds").run(cfg).expect("runs");
    (r.metrics.sink_records(), r.metrics.sink_checksum())
}

#[test]
fn hop_window_counts_match_datastream() {
    for cores in [1, 2] {
        let want = datastream(&config(cores));
        let ddl = nexmark_ddl(EVENTS).replace(
            "'events.num'",
            "'next-event.rate' = '1000',\n    'events.num'",
        );
        let mut session = Session::new(config(cores));
        let result = run_insert(
            &mut session,
            &format!("{ddl}\n{}", query_file("q5_counts.sql")),
        );
        assert!(want.0 > 100, "too few windows: {}", want.0);
        assert_eq!(
            (
                result.metrics.sink_records(),
                result.metrics.sink_checksum()
            ),
            want,
            "{cores} cores"
        );
        assert_eq!(result.metrics.late_records, 0);
    }
}
