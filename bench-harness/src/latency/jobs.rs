//! The two latency jobs, shaped like the Flink peer's.

use std::sync::Arc;

use spate::keyed::{KeyedContext, OpenContext, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::{Job, Result, SpateError};

use super::shared::RunShared;
use super::sink::LatencySink;
use super::source::{LatencyRecord, PacedSource};

/// Which job to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LatencyQuery {
    /// source → rebalance (a real exchange) → map `value * 0.908` → sink.
    Q1,
    /// source → key_by(key) → running sum in `ValueState<u64>` → sink.
    Keyed,
}

impl LatencyQuery {
    /// The peer's name for it.
    pub fn name(self) -> &'static str {
        match self {
            LatencyQuery::Q1 => "q1",
            LatencyQuery::Keyed => "keyed",
        }
    }

    /// The shape of the job, for the summary.
    pub fn shape(self) -> &'static str {
        match self {
            LatencyQuery::Q1 => "source → rebalance → map → sink",
            LatencyQuery::Keyed => "source → key_by → running sum (ValueState) → sink",
        }
    }
}

impl std::str::FromStr for LatencyQuery {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "q1" => Ok(LatencyQuery::Q1),
            "keyed" => Ok(LatencyQuery::Keyed),
            other => Err(format!(
                "unknown latency query `{other}`; choose q1 or keyed"
            )),
        }
    }
}

/// The parameters of one job run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JobParams {
    pub(crate) query: LatencyQuery,
    pub(crate) rate_per_s: u64,
    pub(crate) seconds: f64,
    pub(crate) warmup_s: f64,
}

/// Builds the job; its sources and sinks report into `shared`.
pub(crate) fn build(p: JobParams, shared: &Arc<RunShared>) -> Result<Job> {
    let job = Job::builder(&format!("latency {}", p.query.name()));
    let src_shared = shared.clone();
    let records = job.source("paced", move |split| {
        Ok(PacedSource::new(
            p.rate_per_s,
            p.seconds,
            p.warmup_s,
            split,
            src_shared.clone(),
        ))
    });
    let warmup_ns = (p.warmup_s * 1e9) as u64;
    match p.query {
        LatencyQuery::Q1 => records
            .rebalance()
            .map(|(k, v, created): LatencyRecord| (k, v as f64 * 0.908, created))
            .sink(
                "latency",
                LatencySink::<f64>::new(shared.clone(), warmup_ns),
            ),
        LatencyQuery::Keyed => records
            .key_by(|r: &LatencyRecord| r.0)
            .process(RunningSum { sum: None })
            .sink(
                "latency",
                LatencySink::<u64>::new(shared.clone(), warmup_ns),
            ),
    }
    job.build()
}

/// The peer's `RunningSum`: per key, the sum of the values so far, emitted
/// after every record with the record's creation stamp.
#[derive(Clone)]
struct RunningSum {
    sum: Option<ValueState<u64, u64>>,
}

impl KeyedProcessFunction<u64, LatencyRecord, LatencyRecord> for RunningSum {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.sum = Some(ctx.value_state("sum", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (key, value, created): LatencyRecord,
        ctx: &mut KeyedContext<'_, u64, LatencyRecord>,
    ) -> Result<()> {
        let state = self
            .sum
            .ok_or_else(|| SpateError::internal("running sum state not opened"))?;
        let mut sum = value;
        // One lookup for read and write (the peer's value() + update()).
        state.modify(ctx, |cur| match cur {
            Some(s) => {
                *s = s.wrapping_add(value);
                sum = *s;
                None
            }
            None => Some(value),
        })?;
        ctx.collect((key, sum, created));
        Ok(())
    }
}
