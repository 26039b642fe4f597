//! A windowed aggregation over a CSV file of sensor readings
//! (`sensor,timestamp_ms,value`): per sensor and 10 s tumbling window, the
//! count, mean and maximum, in event time with a 2 s bound on disorder and
//! 1 s of allowed lateness. Readings too late for their window go to a side
//! output; lines that do not parse go to the bad-records side output.
//!
//! `cargo run --release --example windowed_csv -- [FILE]`, or `spate run windowed-csv`.

use std::path::Path;

use spate::keyed::AggregateFunction;
use spate::sinks::{FileFormat, FileSink, StdoutSink};
use spate::sources::{BadRecordPolicy, bad_records_tag};
use spate::time::WatermarkStrategy;
use spate::window::{TimeWindow, TumblingEventTimeWindows};
use spate::{Job, OutputTag, Result};

/// One reading.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
// `key_by` sends records across cores and processes: they derive rkyv's
// traits (through `spate::rkyv`, so the job needs no rkyv dependency).
#[derive(spate::rkyv::Archive, spate::rkyv::Serialize, spate::rkyv::Deserialize)]
#[rkyv(crate = spate::rkyv)]
pub struct Reading {
    /// Sensor id.
    pub sensor: String,
    /// Event time, ms.
    pub timestamp_ms: i64,
    /// Measured value.
    pub value: f64,
}

/// Count, sum and max of a window.
#[derive(Debug, Clone, Copy)]
pub struct Stats;

impl AggregateFunction for Stats {
    type In = Reading;
    type Acc = (u64, f64, f64);
    type Out = (u64, f64, f64);
    fn create_accumulator(&self) -> Self::Acc {
        (0, 0.0, f64::NEG_INFINITY)
    }
    fn add(&self, r: Reading, acc: &mut Self::Acc) {
        acc.0 += 1;
        acc.1 += r.value;
        acc.2 = acc.2.max(r.value);
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Out {
        *acc
    }
    fn merge(&self, a: Self::Acc, b: Self::Acc) -> Self::Acc {
        (a.0 + b.0, a.1 + b.1, a.2.max(b.2))
    }
}

/// A window's result.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SensorWindow {
    /// Sensor id.
    pub sensor: String,
    /// Window start, ms.
    pub window_start: i64,
    /// Readings in the window.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// Their maximum.
    pub max: f64,
}

impl std::fmt::Display for SensorWindow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{}] count={} mean={:.2} max={:.2}",
            self.sensor, self.window_start, self.count, self.mean, self.max
        )
    }
}

/// Builds the job over the CSV file `input`.
pub fn build(input: &Path, output: Option<&Path>) -> Result<Job> {
    let job = Job::builder("windowed csv");
    let late = OutputTag::<Reading>::new("late readings");
    let readings = job.read_csv::<Reading>(input, true, BadRecordPolicy::SideOutput);
    let windows = readings
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            2_000,
            |r: &Reading| r.timestamp_ms,
        ))
        .key_by(|r: &Reading| r.sensor.clone())
        .window(TumblingEventTimeWindows::of(10_000))
        .allowed_lateness_ms(1_000)
        .side_output_late_data(&late)
        .aggregate_with(
            Stats,
            |sensor: &String, w: &TimeWindow, (n, sum, max): (u64, f64, f64)| SensorWindow {
                sensor: sensor.clone(),
                window_start: w.start,
                count: n,
                mean: sum / n.max(1) as f64,
                max,
            },
        );
    match output {
        Some(dir) => windows.sink("windows", FileSink::new(dir, FileFormat::JsonLines)),
        None => windows.sink("windows", StdoutSink::new()),
    }
    windows
        .side_output(&late)
        .map(|r: Reading| format!("late: {} at {} ({})", r.sensor, r.timestamp_ms, r.value))
        .sink("late", StdoutSink::new());
    readings
        .side_output(&bad_records_tag())
        .map(|b| format!("skipped {b}"))
        .sink("bad records", StdoutSink::new());
    job.build()
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let input = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/readings.csv").to_string()
    });
    build(Path::new(&input), None)?.run(&spate::config::Config::default())?;
    Ok(())
}
