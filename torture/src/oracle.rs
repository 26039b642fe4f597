//! The oracle job: a replayable source of numbered records over many keys,
//! a keyed count in `ValueState`, a tumbling event-time window count, and
//! two two-phase-commit file sinks. Its fault-free output is known from the
//! arguments alone (see [`Expected`]), which is what lets the checker judge
//! a run that was killed, paused and restored many times.
//!
//! Record `n` (of `0..records`) belongs to key `n % keys` and is that key's
//! record number `seq = n / keys`; its event time is `seq` ms. The source
//! gives split `i` of `p` the records `n ≡ i (mod p)`, so when `keys` is a
//! multiple of `p` every key comes from one split, in `seq` order, and its
//! output is in `seq` order too: out-of-order output is then a fault.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Parser;
use spate::keyed::{KeyedContext, OpenContext, ValueState};
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::{FileFormat, TwoPhaseFileSink};
use spate::sources::{GeneratorSource, SplitInfo};
use spate::time::WatermarkStrategy;
use spate::window::TumblingEventTimeWindows;
use spate::{Job, SpateError};

/// The subdirectory of the per-record state output, `(key, seq, count, checksum)`.
pub const STATE_DIR: &str = "state";
/// The subdirectory of the window output, `(key, window, count)`.
pub const WINDOWS_DIR: &str = "windows";

/// One source record: `(key, seq, checksum)`.
pub type OracleRecord = (u64, u64, u64);
/// One state output line: `(key, seq, count, checksum)`.
pub type StateRecord = (u64, u64, u64, u64);
/// One window output line: `(key, window index, count)`.
pub type WindowRecord = (u64, u64, u64);

/// Arguments of the `oracle` job.
#[derive(Parser, Debug, Clone, PartialEq, Eq)]
#[command(name = "oracle", no_binary_name = true)]
pub struct OracleArgs {
    /// Keys; a multiple of the job's parallelism.
    #[arg(long, default_value_t = 600)]
    pub keys: u64,
    /// Records over all keys.
    #[arg(long, default_value_t = 300_000)]
    pub records: u64,
    /// Records per second over all subtasks (0: unthrottled).
    #[arg(long, default_value_t = 10_000)]
    pub rate: u64,
    /// Tumbling window size in ms of event time (a key's record `seq` has event time `seq` ms).
    #[arg(long, default_value_t = 50)]
    pub window_ms: u64,
    /// Directory of the committed output (`state/` and `windows/` under it).
    #[arg(long)]
    pub output: PathBuf,
}

impl OracleArgs {
    /// The short job of the single-fault tests on a real cluster: 36 000
    /// records over 600 keys at 6 000/s (about 6 s), 50 ms windows.
    pub fn short_run(output: PathBuf) -> Self {
        Self {
            keys: 600,
            records: 36_000,
            rate: 6_000,
            window_ms: 50,
            output,
        }
    }

    /// The arguments as a job spec carries them.
    pub fn to_args(&self) -> Vec<String> {
        vec![
            "--keys".into(),
            self.keys.to_string(),
            "--records".into(),
            self.records.to_string(),
            "--rate".into(),
            self.rate.to_string(),
            "--window-ms".into(),
            self.window_ms.to_string(),
            "--output".into(),
            self.output.display().to_string(),
        ]
    }

    /// What a fault-free run of these arguments commits.
    pub fn expected(&self) -> Expected {
        Expected {
            keys: self.keys,
            records: self.records,
            window_ms: self.window_ms,
        }
    }
}

/// The checksum of a key's record `seq`: a mix of both, so a record whose
/// key or seq was altered on the way (or a line written half) is caught.
pub fn checksum(key: u64, seq: u64) -> u64 {
    let mut x = key.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ seq.rotate_left(29);
    // splitmix64's finaliser.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Record `n` of a source with `keys` keys.
pub fn record(n: u64, keys: u64) -> OracleRecord {
    let keys = keys.max(1);
    let (key, seq) = (n % keys, n / keys);
    (key, seq, checksum(key, seq))
}

/// The output of a fault-free run, computed from the job's arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expected {
    /// Keys.
    pub keys: u64,
    /// Records over all keys.
    pub records: u64,
    /// Window size in ms (= records of one key per window).
    pub window_ms: u64,
}

impl Expected {
    /// Records of `key`: its final count; its last seq is one less.
    pub fn records_of(&self, key: u64) -> u64 {
        let keys = self.keys.max(1);
        self.records / keys + u64::from(key < self.records % keys)
    }

    /// Windows of `key` that fire.
    pub fn windows_of(&self, key: u64) -> u64 {
        self.records_of(key).div_ceil(self.window_ms.max(1))
    }

    /// The count of `key`'s window `window`.
    pub fn window_count(&self, key: u64, window: u64) -> u64 {
        let w = self.window_ms.max(1);
        self.records_of(key)
            .saturating_sub(window.saturating_mul(w))
            .min(w)
    }
}

/// Counts a key's records and remembers its last seq, in `ValueState`.
#[derive(Clone, Default)]
struct CountAndLastSeq {
    state: Option<ValueState<u64, (u64, u64)>>,
}

impl KeyedProcessFunction<u64, OracleRecord, StateRecord> for CountAndLastSeq {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(ctx.value_state("count-and-last-seq", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (key, seq, sum): OracleRecord,
        ctx: &mut KeyedContext<'_, u64, StateRecord>,
    ) -> spate::Result<()> {
        let state = self
            .state
            .ok_or_else(|| SpateError::internal("the oracle's state was not opened"))?;
        let (count, _last_seq) = state.value(ctx)?.unwrap_or((0, 0));
        state.update(ctx, (count + 1, seq))?;
        ctx.collect((key, seq, count + 1, sum));
        Ok(())
    }
}

/// Called with each source record's number `n` before the job processes
/// it; `Some(reason)` fails the job there. In-process suites inject faults
/// with it (corrupting a checkpoint first, for instance).
pub type Injector = Arc<dyn Fn(u64) -> Option<String> + Send + Sync>;

/// The oracle job of `args`.
pub fn oracle_job(args: &OracleArgs) -> spate::Result<Job> {
    oracle_job_with(args, None)
}

/// The oracle job of `args`, with a fault injector after its source (the
/// job a cluster runs has none).
pub fn oracle_job_with(args: &OracleArgs, injector: Option<Injector>) -> spate::Result<Job> {
    if args.keys == 0 || args.window_ms == 0 {
        return Err(SpateError::InvalidJob {
            reason: "the oracle job needs at least one key and a window of at least 1 ms".into(),
        });
    }
    let job = Job::builder("oracle");
    let (keys, records, rate) = (args.keys, args.records, args.rate);
    let source = job.source("oracle", move |split: SplitInfo| {
        if !keys.is_multiple_of(split.count.max(1) as u64) {
            return Err(SpateError::InvalidJob {
                reason: format!(
                    "the oracle job's --keys ({keys}) must be a multiple of its parallelism \
                     ({}), so that each key comes from one split in order",
                    split.count
                ),
            });
        }
        Ok(
            GeneratorSource::new(move |n| record(n, keys), Some(records), split)
                .with_rate(rate, split),
        )
    });
    // A split's records come in seq order, so its watermark can trail its
    // latest event time by 1 ms and no record is ever late.
    let source = match injector {
        None => source,
        Some(inject) => source.process(
            move |r: OracleRecord,
                  ctx: &mut spate::operators::process::Context<'_, OracleRecord>| {
                match inject(r.1 * keys + r.0) {
                    Some(reason) => ctx.fail(SpateError::Operator {
                        operator: "fault-injector".into(),
                        reason,
                    }),
                    None => ctx.collect(r),
                }
            },
        ),
    };
    let timed = source.assign_timestamps_and_watermarks(
        WatermarkStrategy::bounded_out_of_orderness(0, |r: &OracleRecord| r.1 as i64),
    );
    timed
        .key_by(|r: &OracleRecord| r.0)
        .process(CountAndLastSeq::default())
        .sink_with_checksum("state", sink(&args.output, STATE_DIR));
    let window_ms = args.window_ms;
    timed
        .map(|(key, seq, _): OracleRecord| (key, seq, 1u64))
        .key_by(|r: &(u64, u64, u64)| r.0)
        .window(TumblingEventTimeWindows::of(window_ms))
        .reduce(|a, b| (a.0, a.1.max(b.1), a.2 + b.2))
        .map(move |(key, seq, count): (u64, u64, u64)| -> WindowRecord {
            (key, seq / window_ms, count)
        })
        .sink_with_checksum("windows", sink(&args.output, WINDOWS_DIR));
    job.build()
}

fn sink(output: &Path, sub: &str) -> TwoPhaseFileSink {
    TwoPhaseFileSink::new(output.join(sub), FileFormat::Csv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_counts_add_up_to_the_records() {
        let e = Expected {
            keys: 7,
            records: 1_000,
            window_ms: 30,
        };
        let total: u64 = (0..7).map(|k| e.records_of(k)).sum();
        assert_eq!(total, 1_000);
        for k in 0..7 {
            let windows: u64 = (0..e.windows_of(k)).map(|w| e.window_count(k, w)).sum();
            assert_eq!(windows, e.records_of(k), "key {k}");
            assert!(
                e.window_count(k, e.windows_of(k) - 1) > 0,
                "no empty window"
            );
        }
    }

    #[test]
    fn a_record_is_its_key_its_seq_and_their_checksum() {
        let (key, seq, sum) = record(1_234, 100);
        assert_eq!((key, seq), (34, 12));
        assert_eq!(sum, checksum(34, 12));
        assert_ne!(checksum(34, 12), checksum(12, 34));
    }
}
