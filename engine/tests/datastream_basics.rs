//! Basic DataStream jobs on 1 and 2 cores give the expected results.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use spate::config::Config;
use spate::sinks::CollectSink;
use spate::time::WatermarkStrategy;
use spate::window::{Count, SlidingEventTimeWindows, TumblingEventTimeWindows};
use spate::{Job, OutputTag};

fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c
}

fn word_count(cores: u32) -> Vec<(String, u64)> {
    let out = CollectSink::new();
    let job = Job::builder("word count");
    let lines = vec!["a b c", "b c", "c", "d d d d"];
    job.from_collection(lines.into_iter().map(String::from).collect())
        .flat_map(|l: String| {
            l.split_whitespace()
                .map(|w| (w.to_string(), 1u64))
                .collect::<Vec<_>>()
        })
        .key_by(|(w, _): &(String, u64)| w.clone())
        .reduce(|a, b| (a.0.clone(), a.1 + b.1))
        .sink("counts", out.clone());
    job.build().unwrap().run(&config(cores)).unwrap();
    let mut got = out.take();
    got.sort();
    got
}

#[test]
fn rolling_word_count_is_the_same_on_one_and_two_cores() {
    let one = word_count(1);
    let two = word_count(2);
    assert_eq!(one, two);
    let finals: Vec<_> = one
        .iter()
        .filter(|(w, n)| matches!((w.as_str(), n), ("a", 1) | ("b", 2) | ("c", 3) | ("d", 4)))
        .collect();
    assert_eq!(
        finals.len(),
        4,
        "every word reaches its final count: {one:?}"
    );
    assert_eq!(one.len(), 10, "one rolling update per word occurrence");
}

fn windowed_sums(cores: u32) -> (Vec<(u64, i64, u64)>, Vec<(u64, i64)>) {
    let out = CollectSink::new();
    let late_out = CollectSink::new();
    let late = OutputTag::<(u64, i64)>::new("late");
    let job = Job::builder("windows");
    // Watermarks advance once per source batch: small batches make the
    // watermark pass the late record's window before it arrives.
    // (key, event time ms); the last record is 5 s behind and late.
    let mut events: Vec<(u64, i64)> = (0..1000i64).map(|i| ((i % 3) as u64, i * 10)).collect();
    events.push((1, 0));
    let windowed = job
        .from_collection(events)
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            0,
            |e: &(u64, i64)| e.1,
        ))
        .key_by(|e: &(u64, i64)| e.0)
        .window(TumblingEventTimeWindows::of(1000))
        .side_output_late_data(&late)
        .aggregate_with(
            Count::new(),
            |k: &u64, w: &spate::window::TimeWindow, n: u64| (*k, w.start, n),
        );
    windowed.sink("sums", out.clone());
    windowed.side_output(&late).sink("late", late_out.clone());
    let mut c = config(cores);
    c.runtime.batch_records_max = 100;
    job.build().unwrap().run(&c).unwrap();
    let mut got = out.take();
    got.sort();
    (got, late_out.take())
}

#[test]
fn tumbling_windows_fire_at_end_of_bounded_input() {
    let (sums, late) = windowed_sums(1);
    // 10 s of data in 1 s windows, 3 keys each.
    assert_eq!(sums.len(), 30, "{sums:?}");
    let total: u64 = sums.iter().map(|s| s.2).sum();
    assert_eq!(total, 1000, "the late record is not counted");
    assert!(sums.contains(&(0, 0, 34)));
    assert_eq!(
        late,
        vec![(1, 0)],
        "the late record goes to the side output"
    );
    let (sums2, late2) = windowed_sums(2);
    assert_eq!(sums, sums2);
    assert_eq!(late, late2);
}

#[test]
fn sliding_windows_count_each_record_in_every_window() {
    let out = CollectSink::new();
    let job = Job::builder("sliding");
    let events: Vec<(u64, i64)> = (0..100i64).map(|i| (7u64, i * 100)).collect();
    job.from_collection(events)
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            100,
            |e: &(u64, i64)| e.1,
        ))
        .key_by(|e: &(u64, i64)| e.0)
        .window(SlidingEventTimeWindows::of(2000, 1000))
        .aggregate(Count::new())
        .sink("out", out.clone());
    job.build().unwrap().run(&config(2)).unwrap();
    let got = out.take();
    assert_eq!(got.iter().sum::<u64>(), 200, "each record is in 2 windows");
    assert_eq!(got.len(), 11);
}

#[test]
fn event_time_window_without_timestamps_is_rejected_at_build() {
    let job = Job::builder("bad");
    job.from_collection(vec![(1u64, 2i64)])
        .key_by(|e: &(u64, i64)| e.0)
        .window(TumblingEventTimeWindows::of(1000))
        .aggregate(Count::new())
        .sink("out", CollectSink::new());
    let err = job.build().err().expect("must be rejected");
    assert!(
        err.to_string().contains("assign_timestamps_and_watermarks"),
        "{err}"
    );
}
