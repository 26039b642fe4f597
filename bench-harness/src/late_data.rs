//! A windowed job with late data, whose output is the same on every run,
//! core count and cluster layout: the equivalence test of the cluster
//! issue runs it on one process and on three workers.
//!
//! Lateness is only deterministic when it does not depend on how records
//! interleave across channels, so only split 0 produces records (the other
//! splits end at once, and ended channels drop out of the watermark
//! minimum), and every displaced record is displaced by far more than a
//! source batch spans: whatever the batch boundaries, a record 3.5 s behind
//! always lands in an already-fired window within the allowed lateness (a
//! late firing), and one 100 s behind is always dropped to the late side
//! output.
//!
//! One thing is left to timing: until the other splits' end markers reach a
//! window subtask, their channels hold its watermark at the minimum, so
//! nothing is late yet. In one process they arrive within microseconds; on
//! a cluster they cross the network after the workers start, which is not
//! at one instant. Split 0 therefore starts producing only
//! `START_DELAY_MS` after its first poll, far longer than the end markers
//! take on loopback.

use spate::sources::{SourceCollector, SourcePoll, SplitInfo};
use spate::time::WatermarkStrategy;
use spate::window::TumblingEventTimeWindows;
use spate::{Job, OutputTag, Result, sinks::BlackholeSink};

/// Event time of the first record: far from zero, so displaced records keep
/// positive timestamps.
const START_MS: i64 = 1_000_000;
/// Records a poll produces at most: bounds the event time one batch spans
/// (1 ms a record), which the displacements must exceed.
const POLL_RECORDS_MAX: usize = 256;
/// Every this many records, one lands 3.5 s late (a late firing).
const LATE_FIRING_EVERY: u64 = 50;
/// Every this many records, one lands 100 s late (dropped to the side output).
const DROPPED_EVERY: u64 = 333;

/// How long split 0 waits before producing (see the module doc).
const START_DELAY_MS: u64 = 1_000;

/// `(key, event time ms)` records of split 0.
struct LateSource {
    next: u64,
    end: u64,
    /// When split 0 may start producing (set at its first poll).
    start_at: Option<std::time::Instant>,
}

impl spate::sources::Source for LateSource {
    type Item = (u64, i64);

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, (u64, i64)>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        if self.end > 0 {
            let start_at = *self.start_at.get_or_insert_with(|| {
                std::time::Instant::now() + std::time::Duration::from_millis(START_DELAY_MS)
            });
            let now = std::time::Instant::now();
            if now < start_at {
                let wait_us = start_at.duration_since(now).as_micros() as u64;
                return Ok(SourcePoll::Pending {
                    retry_after_us: wait_us.min(10_000),
                });
            }
        }
        let n = (self.end - self.next).min(count_max.min(POLL_RECORDS_MAX) as u64);
        for i in self.next..self.next + n {
            let t = START_MS + i as i64;
            let ts = if i % DROPPED_EVERY == DROPPED_EVERY - 1 {
                t - 100_000
            } else if i % LATE_FIRING_EVERY == LATE_FIRING_EVERY - 1 {
                t - 3_500
            } else {
                t
            };
            out.collect((i % 97, ts));
        }
        self.next += n;
        Ok(if self.next == self.end {
            SourcePoll::Exhausted
        } else {
            SourcePoll::Ready
        })
    }
}

/// Per key and 1 s tumbling window: the record count and the latest event
/// time, with 5 s of allowed lateness; records later than that are counted
/// in the `late` sink. Both sinks are checksummed.
pub fn late_data_job(events: u64) -> Result<Job> {
    let job = Job::builder("late data");
    let records = job.source("late-data", move |split: SplitInfo| {
        let end = if split.index == 0 { events } else { 0 };
        Ok(LateSource {
            next: 0,
            end,
            start_at: None,
        })
    });
    let late = OutputTag::<(u64, i64, u64)>::new("late");
    let windows = records
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            1_000,
            |r: &(u64, i64)| r.1,
        ))
        .map(|(key, ts)| (key, ts, 1u64))
        .key_by(|r: &(u64, i64, u64)| r.0)
        .window(TumblingEventTimeWindows::of(1_000))
        .allowed_lateness_ms(5_000)
        .side_output_late_data(&late)
        .reduce(|a, b| (a.0, a.1.max(b.1), a.2 + b.2));
    windows.sink_with_checksum("windows", BlackholeSink);
    windows
        .side_output(&late)
        .sink_with_checksum("late", BlackholeSink);
    job.build()
}
