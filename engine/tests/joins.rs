//! Connected streams, co-process functions, interval joins and window joins
//! give hand-computed results, the same on 1 and 2 cores.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use std::fmt::Debug;
use std::time::{Duration, Instant};

use spate::config::Config;
use spate::keyed::{ListState, OpenContext, ValueState};
use spate::operators::co_process::{
    CoContext, CoProcessFunction, KeyedCoContext, KeyedCoProcessFunction,
};
use spate::operators::keyed_process::TimeDomain;
use spate::operators::process::Context;
use spate::sinks::CollectSink;
use spate::sources::{Source, SourceCollector, SourcePoll, SplitInfo};
use spate::time::{Timestamp, WatermarkStrategy};
use spate::window::{TumblingEventTimeWindows, WindowCollector};
use spate::{DataStream, Job, OutputTag, Result, SpateError};

fn config(cores: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    // Small batches: watermarks advance (once per batch) while records still
    // arrive, so state cleanup and timers run mid-stream, not only at the end.
    c.runtime.batch_records_max = 8;
    c
}

/// Runs the job that `build` sets up on `cores` cores and returns the sorted
/// records of the sink it returns, with the job's late-record count.
fn run_sorted<T: Ord + Send + 'static>(
    cores: u32,
    build: impl FnOnce(&spate::JobBuilder) -> CollectSink<T>,
) -> (Vec<T>, u64) {
    let job = Job::builder("joins");
    let out = build(&job);
    let job = job.build().expect("the job builds");
    let result = job.run(&config(cores)).expect("the job runs");
    let mut got = out.take();
    got.sort();
    (got, result.metrics.late_records)
}

/// Runs on 1 and on 2 cores, asserts both give the same sorted output, and
/// returns it.
fn same_on_one_and_two_cores<T: Ord + Debug + Send + 'static>(
    build: impl Fn(&spate::JobBuilder) -> CollectSink<T>,
) -> Vec<T> {
    let (one, late1) = run_sorted(1, &build);
    let (two, late2) = run_sorted(2, &build);
    assert_eq!(one, two, "1 core and 2 cores disagree");
    assert_eq!((late1, late2), (0, 0), "no record is late");
    one
}

/// Pairs every record with its event timestamp.
fn with_ts<T: spate::Data>(s: &DataStream<T>) -> DataStream<(T, Timestamp)> {
    s.process(|v: T, ctx: &mut Context<'_, (T, Timestamp)>| {
        let ts = ctx.timestamp().unwrap_or(i64::MIN);
        ctx.collect((v, ts));
    })
}

fn s(x: &str) -> String {
    x.to_string()
}

// ---------------------------------------------------------------------------
// Keyed co-process: enrichment with shared keyed state
// ---------------------------------------------------------------------------

/// (key, multiplier, ts)
type Rule = (String, u64, i64);
/// (key, value, ts)
type Reading = (String, u64, i64);

/// Enriches readings with their key's rule. A reading that arrives before
/// its rule waits in keyed list state; the rule flushes it. A reading still
/// waiting when the combined watermark passes `ts + 50` has no rule and is
/// emitted unmatched (`None`) by an event-time timer.
#[derive(Clone, Default)]
struct Enrich {
    rule: Option<ValueState<String, u64>>,
    pending: Option<ListState<String, u64>>,
}

impl Enrich {
    fn handles(&self) -> Result<(ValueState<String, u64>, ListState<String, u64>)> {
        match (self.rule, self.pending) {
            (Some(r), Some(p)) => Ok((r, p)),
            _ => Err(SpateError::internal("state not opened")),
        }
    }
}

impl KeyedCoProcessFunction<String, Rule, Reading, (String, u64, Option<u64>)> for Enrich {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.rule = Some(ctx.value_state("rule", None)?);
        self.pending = Some(ctx.list_state("pending", None)?);
        Ok(())
    }

    fn process_element1(
        &mut self,
        r: Rule,
        ctx: &mut KeyedCoContext<'_, String, (String, u64, Option<u64>)>,
    ) -> Result<()> {
        let (rule, pending) = self.handles()?;
        rule.update(ctx, r.1)?;
        for v in pending.get(ctx)? {
            ctx.collect((r.0.clone(), v, Some(v * r.1)));
        }
        pending.clear(ctx)
    }

    fn process_element2(
        &mut self,
        d: Reading,
        ctx: &mut KeyedCoContext<'_, String, (String, u64, Option<u64>)>,
    ) -> Result<()> {
        let (rule, pending) = self.handles()?;
        match rule.value(ctx)? {
            Some(m) => ctx.collect((d.0, d.1, Some(d.1 * m))),
            None => {
                pending.add(ctx, d.1)?;
                ctx.register_event_time_timer(d.2 + 50);
            }
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _ts: Timestamp,
        domain: TimeDomain,
        ctx: &mut KeyedCoContext<'_, String, (String, u64, Option<u64>)>,
    ) -> Result<()> {
        assert_eq!(domain, TimeDomain::EventTime);
        let (_, pending) = self.handles()?;
        let key = ctx.key().clone();
        for v in pending.get(ctx)? {
            ctx.collect((key.clone(), v, None));
        }
        pending.clear(ctx)
    }
}

fn readings() -> Vec<Reading> {
    let keys = ["a", "b", "c", "d"];
    (0..200u64)
        .map(|i| (s(keys[(i % 4) as usize]), i, (i * 10) as i64))
        .collect()
}

#[test]
fn keyed_co_process_enriches_with_shared_state_and_timers() {
    let got = same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        let rules: Vec<Rule> = vec![(s("a"), 10, 0), (s("b"), 100, 0), (s("d"), 1000, 5)];
        let rules = job
            .from_collection(rules)
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|r: &Rule| r.2))
            .key_by(|r: &Rule| r.0.clone());
        let data = job
            .from_collection(readings())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|d: &Reading| d.2))
            .key_by(|d: &Reading| d.0.clone());
        rules
            .connect(&data)
            .process(Enrich::default())
            .sink("enriched", out.clone());
        out
    });
    let mut expected: Vec<(String, u64, Option<u64>)> = readings()
        .into_iter()
        .map(|(k, v, _)| {
            let m = match k.as_str() {
                "a" => Some(10),
                "b" => Some(100),
                "d" => Some(1000),
                _ => None,
            };
            (k, v, m.map(|m| v * m))
        })
        .collect();
    expected.sort();
    assert_eq!(got.len(), 200);
    assert_eq!(got, expected);
    assert!(
        got.contains(&(s("c"), 2, None)),
        "key c has no rule: its readings leave by timer"
    );
    assert!(got.contains(&(s("d"), 3, Some(3000))));
}

/// Counts the second input's records per key; a timer registered by the
/// first input reports the count.
#[derive(Clone, Default)]
struct CountUntilTimer {
    count: Option<ValueState<u64, u64>>,
}

impl KeyedCoProcessFunction<u64, (u64, i64), (u64, i64), (u64, u64, bool)> for CountUntilTimer {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.value_state("count", None)?);
        Ok(())
    }
    fn process_element1(
        &mut self,
        v: (u64, i64),
        ctx: &mut KeyedCoContext<'_, u64, (u64, u64, bool)>,
    ) -> Result<()> {
        ctx.register_event_time_timer(v.1);
        Ok(())
    }
    fn process_element2(
        &mut self,
        _v: (u64, i64),
        ctx: &mut KeyedCoContext<'_, u64, (u64, u64, bool)>,
    ) -> Result<()> {
        let count = self
            .count
            .ok_or_else(|| SpateError::internal("not opened"))?;
        count.modify(ctx, |c| Some(c.map_or(1, |c| *c + 1)))
    }
    fn on_timer(
        &mut self,
        ts: Timestamp,
        _d: TimeDomain,
        ctx: &mut KeyedCoContext<'_, u64, (u64, u64, bool)>,
    ) -> Result<()> {
        let count = self
            .count
            .ok_or_else(|| SpateError::internal("not opened"))?;
        let n = count.value(ctx)?.unwrap_or(0);
        let passed = ctx.current_watermark() >= ts;
        let key = *ctx.key();
        ctx.collect((key, n, passed));
        Ok(())
    }
}

#[test]
fn keyed_co_process_timers_wait_for_the_slower_input() {
    // Input 1 holds one timer per key at 9995 and ends at once; input 2
    // brings 1000 records per key up to ts 9990. The timer may fire only
    // once input 2's watermark passes 9995 too, so it sees all 1000.
    let got = same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        let first = job
            .from_collection(vec![(1u64, 9995i64), (2, 9995)])
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|v: &(u64, i64)| v.1))
            .key_by(|v: &(u64, i64)| v.0);
        let second_data: Vec<(u64, i64)> = (0..2000i64)
            .map(|i| ((i % 2 + 1) as u64, (i / 2) * 10))
            .collect();
        let second = job
            .from_collection(second_data)
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|v: &(u64, i64)| v.1))
            .key_by(|v: &(u64, i64)| v.0);
        first
            .connect(&second)
            .process(CountUntilTimer::default())
            .sink("counts", out.clone());
        out
    });
    assert_eq!(got, vec![(1, 1000, true), (2, 1000, true)]);
}

// ---------------------------------------------------------------------------
// Non-keyed connect
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Describe {
    long_words: OutputTag<String>,
}

impl CoProcessFunction<u64, String, String> for Describe {
    fn process_element1(&mut self, n: u64, ctx: &mut CoContext<'_, String>) {
        ctx.collect(format!("n{n}"));
    }
    fn process_element2(&mut self, w: String, ctx: &mut CoContext<'_, String>) {
        if w.len() > 4 {
            ctx.side_output(&self.long_words, w.clone());
        }
        ctx.collect(w.to_uppercase());
    }
}

#[test]
fn non_keyed_connect_processes_both_inputs() {
    let long_out = CollectSink::new();
    let got = {
        let long_out = long_out.clone();
        same_on_one_and_two_cores(move |job| {
            let out = CollectSink::new();
            let tag = OutputTag::<String>::new("long");
            let numbers = job.from_collection((1..=5u64).collect::<Vec<_>>());
            let words = job.from_collection(vec![s("ab"), s("hello"), s("xyz"), s("streams")]);
            let described = numbers.connect(&words).process(Describe {
                long_words: tag.clone(),
            });
            described.sink("described", out.clone());
            described.side_output(&tag).sink("long", long_out.clone());
            out
        })
    };
    let expected: Vec<String> = [
        "AB", "HELLO", "STREAMS", "XYZ", "n1", "n2", "n3", "n4", "n5",
    ]
    .iter()
    .map(|x| x.to_string())
    .collect();
    assert_eq!(got, expected);
    let mut long = long_out.take();
    long.sort();
    // Two runs (1 and 2 cores) each emit the two long words.
    assert_eq!(
        long,
        vec![s("hello"), s("hello"), s("streams"), s("streams")]
    );
}

#[test]
fn connected_map_and_keyed_connect_of_connected_streams() {
    let got = same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        let a = job.from_collection(vec![1u64, 2, 3]);
        let b = job.from_collection(vec![s("x"), s("yy")]);
        a.connect(&b)
            .map(|n| n * 10, |w: String| w.len() as u64)
            .sink("mapped", out.clone());
        out
    });
    assert_eq!(got, vec![1, 2, 10, 20, 30]);
}

/// Sums both inputs per key with `ConnectedStreams::key_by`.
#[derive(Clone, Default)]
struct SumBoth {
    sum: Option<ValueState<u64, u64>>,
}

impl SumBoth {
    fn add(&self, v: u64, ctx: &mut KeyedCoContext<'_, u64, (u64, u64)>) -> Result<()> {
        let sum = self.sum.ok_or_else(|| SpateError::internal("not opened"))?;
        sum.modify(ctx, |s| Some(s.map_or(v, |s| *s + v)))?;
        let total = sum.value(ctx)?.unwrap_or(0);
        let key = *ctx.key();
        ctx.collect((key, total));
        Ok(())
    }
}

impl KeyedCoProcessFunction<u64, u64, (u64, u64), (u64, u64)> for SumBoth {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.sum = Some(ctx.value_state("sum", None)?);
        Ok(())
    }
    fn process_element1(
        &mut self,
        v: u64,
        ctx: &mut KeyedCoContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        self.add(v, ctx)
    }
    fn process_element2(
        &mut self,
        v: (u64, u64),
        ctx: &mut KeyedCoContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        self.add(v.1, ctx)
    }
}

#[test]
fn connected_streams_key_by_shares_state_between_inputs() {
    // The rolling sums depend on how the inputs interleave; the count of
    // updates and each key's final sum do not.
    let finals = |cores: u32| {
        let (got, _) = run_sorted(cores, |job| {
            let out = CollectSink::new();
            // Input 1: bare values keyed by value % 3; input 2: (key, value).
            let a = job.from_collection((1..=30u64).collect::<Vec<_>>());
            let b = job.from_collection((0..30u64).map(|i| (i % 3, 100)).collect::<Vec<_>>());
            a.connect(&b)
                .key_by(|v: &u64| v % 3, |v: &(u64, u64)| v.0)
                .process(SumBoth::default())
                .sink("sums", out.clone());
            out
        });
        assert_eq!(got.len(), 60, "one update per record");
        (0..3u64)
            .map(|k| {
                (
                    k,
                    got.iter()
                        .filter(|(key, _)| *key == k)
                        .map(|(_, s)| *s)
                        .max()
                        .unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let sum_of = |k: u64| (1..=30u64).filter(|v| v % 3 == k).sum::<u64>() + 10 * 100;
    let expected = vec![(0, sum_of(0)), (1, sum_of(1)), (2, sum_of(2))];
    assert_eq!(finals(1), expected);
    assert_eq!(finals(2), expected);
}

// ---------------------------------------------------------------------------
// Interval join
// ---------------------------------------------------------------------------

/// (key, id, ts)
/// Records carry owned strings: keyed exchanges need types that can cross
/// processes (`ExchangeData`), which `&'static str` cannot.
type Ev = (u64, String, i64);

fn owned(v: Vec<(u64, &'static str, i64)>) -> Vec<Ev> {
    v.into_iter()
        .map(|(k, s, t)| (k, s.to_string(), t))
        .collect()
}

/// Results name records by `&'static str`, as the expectations are written.
fn st(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn left_events() -> Vec<Ev> {
    owned(vec![(1, "a1", 10), (2, "a3", 10), (1, "a2", 20)])
}

fn right_events() -> Vec<Ev> {
    // Sorted by time, so no record is ever behind the watermark.
    owned(vec![
        (1, "b4", 7),
        (1, "b1", 8),
        (2, "b7", 10),
        (3, "b8", 10),
        (1, "b10", 12),
        (1, "b2", 13),
        (2, "b9", 13),
        (1, "b3", 14),
        (1, "b5", 18),
        (1, "b6", 23),
    ])
}

fn interval_join(
    lower: i64,
    upper: i64,
    lower_exclusive: bool,
    upper_exclusive: bool,
) -> Vec<((&'static str, &'static str), Timestamp)> {
    same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        let left = job
            .from_collection(left_events())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
            .key_by(|e: &Ev| e.0);
        let right = job
            .from_collection(right_events())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
            .key_by(|e: &Ev| e.0);
        let mut joined = left.interval_join(&right).between(lower, upper);
        if lower_exclusive {
            joined = joined.lower_bound_exclusive();
        }
        if upper_exclusive {
            joined = joined.upper_bound_exclusive();
        }
        with_ts(&joined.process(|a: &Ev, b: &Ev| (st(&a.1), st(&b.1)))).sink("pairs", out.clone());
        out
    })
}

#[test]
fn interval_join_matches_inclusive_bounds() {
    // b.ts in [a.ts - 2, a.ts + 3]: a1@10 -> [8, 13], a2@20 -> [18, 23],
    // a3@10 (key 2) -> [8, 13]. Output time is max(a.ts, b.ts).
    let got = interval_join(-2, 3, false, false);
    let expected = vec![
        (("a1", "b1"), 10), // lower edge: 8 = 10 - 2
        (("a1", "b10"), 12),
        (("a1", "b2"), 13), // upper edge: 13 = 10 + 3
        (("a2", "b5"), 20), // lower edge: 18 = 20 - 2
        (("a2", "b6"), 23), // upper edge: 23 = 20 + 3
        (("a3", "b7"), 10),
        (("a3", "b9"), 13), // upper edge, key 2
    ];
    assert_eq!(got, expected);
}

#[test]
fn interval_join_honours_exclusive_bounds() {
    // b.ts in (a.ts - 2, a.ts + 3): the edge pairs are gone.
    let got = interval_join(-2, 3, true, true);
    assert_eq!(got, vec![(("a1", "b10"), 12), (("a3", "b7"), 10)]);
    // Only the lower bound exclusive: the upper edges stay.
    let got = interval_join(-2, 3, true, false);
    assert_eq!(
        got,
        vec![
            (("a1", "b10"), 12),
            (("a1", "b2"), 13),
            (("a2", "b6"), 23),
            (("a3", "b7"), 10),
            (("a3", "b9"), 13)
        ]
    );
}

#[test]
fn interval_join_with_a_positive_interval() {
    // b.ts in [a.ts + 3, a.ts + 4]: a1@10 -> [13, 14], a2@20 -> [23, 24],
    // a3@10 -> [13, 14].
    let got = interval_join(3, 4, false, false);
    assert_eq!(
        got,
        vec![
            (("a1", "b2"), 13),
            (("a1", "b3"), 14),
            (("a2", "b6"), 23),
            (("a3", "b9"), 13)
        ]
    );
}

/// A deterministic pseudo-random stream: (key, id, ts) with timestamps
/// rising by 0..10 ms per record and jittered up to 15 ms out of order.
fn jittered(seed: u64, n: u64) -> Vec<(u64, u64, i64)> {
    let mut x = seed;
    let mut next = move || {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        x >> 33
    };
    let mut t = 0i64;
    (0..n)
        .map(|id| {
            t += (next() % 10) as i64;
            let jitter = (next() % 16) as i64;
            (next() % 7, id, (t - jitter).max(0))
        })
        .collect()
}

#[test]
fn interval_join_equals_brute_force_on_out_of_order_input() {
    type R = (u64, u64, i64);
    let (left, right) = (jittered(1, 600), jittered(2, 600));
    for (lower, upper) in [(-30i64, 10i64), (5, 40), (-40, -5), (0, 0)] {
        let (l, r) = (left.clone(), right.clone());
        let got = same_on_one_and_two_cores(move |job| {
            let out = CollectSink::new();
            // The bound covers the 15 ms jitter: no record is late.
            let keyed = |v: Vec<R>| {
                job.from_collection(v)
                    .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
                        16,
                        |e: &R| e.2,
                    ))
                    .key_by(|e: &R| e.0)
            };
            let joined = keyed(l.clone())
                .interval_join(&keyed(r.clone()))
                .between(lower, upper)
                .process(|a: &R, b: &R| (a.1, b.1));
            with_ts(&joined).sink("pairs", out.clone());
            out
        });
        let mut expected = Vec::new();
        for a in &left {
            for b in &right {
                if a.0 == b.0 && a.2 + lower <= b.2 && b.2 <= a.2 + upper {
                    expected.push(((a.1, b.1), a.2.max(b.2)));
                }
            }
        }
        expected.sort();
        assert!(
            expected.len() > 10,
            "the data must produce pairs: {}",
            expected.len()
        );
        assert_eq!(got, expected, "between({lower}, {upper})");
    }
}

/// A left source that emits one record, waits, then one far behind the
/// watermark (split 0 only).
struct SlowThenLate {
    step: usize,
    waited_since: Option<Instant>,
    split: usize,
}

impl Source for SlowThenLate {
    type Item = Ev;
    fn poll(&mut self, out: &mut SourceCollector<'_, Ev>, _max: usize) -> Result<SourcePoll> {
        if self.split != 0 {
            return Ok(SourcePoll::Exhausted);
        }
        self.step += 1;
        match self.step {
            1 => {
                out.collect((1, "on-time".to_string(), 100));
                Ok(SourcePoll::Ready)
            }
            _ => {
                // Waits long enough for the right input to end and the
                // watermark 99 to reach the join.
                let since = *self.waited_since.get_or_insert_with(Instant::now);
                if since.elapsed() < Duration::from_millis(400) {
                    return Ok(SourcePoll::Pending {
                        retry_after_us: 10_000,
                    });
                }
                out.collect((1, "late".to_string(), 5));
                Ok(SourcePoll::Exhausted)
            }
        }
    }
}

#[test]
fn interval_join_drops_and_counts_late_records() {
    for cores in [1, 2] {
        let out = CollectSink::new();
        let late_out = CollectSink::new();
        let late_tag = OutputTag::<Ev>::new("late-left");
        let job = Job::builder("late");
        let left = job
            .source("slow", |split: SplitInfo| {
                Ok(SlowThenLate {
                    step: 0,
                    waited_since: None,
                    split: split.index,
                })
            })
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
            .key_by(|e: &Ev| e.0);
        let right = job
            .from_collection(owned(vec![(1u64, "r", 6i64), (1, "r2", 101)]))
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
            .key_by(|e: &Ev| e.0);
        let joined = left
            .interval_join(&right)
            .between(-2, 3)
            .side_output_left_late_data(&late_tag)
            .process(|a: &Ev, b: &Ev| (st(&a.1), st(&b.1)));
        joined.sink("pairs", out.clone());
        joined.side_output(&late_tag).sink("late", late_out.clone());
        let result = job.build().unwrap().run(&config(cores)).unwrap();
        // "late"@5 would match "r"@6, but arrives behind the watermark 99.
        assert_eq!(out.take(), vec![("on-time", "r2")], "cores={cores}");
        assert_eq!(
            late_out.take(),
            vec![(1, "late".to_string(), 5)],
            "cores={cores}"
        );
        assert_eq!(result.metrics.late_records, 1, "cores={cores}");
    }
}

#[test]
fn interval_join_without_event_time_is_rejected_at_build() {
    let job = Job::builder("bad");
    let left = job.from_collection(left_events()).key_by(|e: &Ev| e.0);
    let right = job
        .from_collection(right_events())
        .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
        .key_by(|e: &Ev| e.0);
    left.interval_join(&right)
        .between(-1, 1)
        .process(|a: &Ev, b: &Ev| (st(&a.1), st(&b.1)))
        .sink("out", CollectSink::new());
    let err = job.build().err().expect("must be rejected");
    let msg = err.to_string();
    assert!(
        msg.contains("interval join") && msg.contains("assign_timestamps_and_watermarks"),
        "{msg}"
    );
}

#[test]
fn interval_join_with_inverted_bounds_is_rejected_at_build() {
    let job = Job::builder("bad bounds");
    let timed = |v: Vec<Ev>| {
        job.from_collection(v)
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Ev| e.2))
            .key_by(|e: &Ev| e.0)
    };
    let (left, right) = (timed(left_events()), timed(right_events()));
    left.interval_join(&right)
        .between(5, 1)
        .process(|a: &Ev, b: &Ev| (st(&a.1), st(&b.1)))
        .sink("out", CollectSink::new());
    let err = job.build().err().expect("must be rejected");
    assert!(
        err.to_string()
            .contains("lower bound (5) exceeds its upper bound (1)"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------
// Window join and co-group
// ---------------------------------------------------------------------------

/// (key, id, ts)
type Item = (String, String, i64);

fn items(v: Vec<(&'static str, &'static str, i64)>) -> Vec<Item> {
    v.into_iter()
        .map(|(k, id, t)| (k.to_string(), id.to_string(), t))
        .collect()
}

fn window_left() -> Vec<Item> {
    items(vec![
        ("k1", "a1", 1),
        ("k1", "a2", 5),
        ("k2", "a3", 7),
        ("k1", "a4", 12),
        ("k2", "a5", 25),
    ])
}

fn window_right() -> Vec<Item> {
    items(vec![
        ("k1", "b1", 3),
        ("k2", "b2", 9),
        ("k1", "b3", 10),
        ("k1", "b4", 15),
        ("k2", "b5", 21),
        ("k3", "b6", 22),
    ])
}

fn timed_items(job: &spate::JobBuilder, items: Vec<Item>) -> DataStream<Item> {
    job.from_collection(items)
        .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|e: &Item| e.2))
}

#[test]
fn window_join_pairs_records_of_the_same_key_and_window() {
    let got = same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        let joined = timed_items(job, window_left())
            .join(&timed_items(job, window_right()))
            .where_key(|a: &Item| a.0.clone())
            .equal_to(|b: &Item| b.0.clone())
            .window(TumblingEventTimeWindows::of(10))
            .apply(|a: &Item, b: &Item| (st(&a.1), st(&b.1)));
        with_ts(&joined).sink("pairs", out.clone());
        out
    });
    // [0,10): k1 {a1,a2}x{b1}, k2 {a3}x{b2}; [10,20): k1 {a4}x{b3,b4};
    // [20,30): k2 {a5}x{b5}, k3 has no left record. Results carry the
    // window's last timestamp.
    let expected = vec![
        (("a1", "b1"), 9),
        (("a2", "b1"), 9),
        (("a3", "b2"), 9),
        (("a4", "b3"), 19),
        (("a4", "b4"), 19),
        (("a5", "b5"), 29),
    ];
    assert_eq!(got, expected);
}

#[test]
fn window_co_group_sees_both_sides_even_when_one_is_empty() {
    let got = same_on_one_and_two_cores(|job| {
        let out = CollectSink::new();
        timed_items(job, window_left())
            .co_group(&timed_items(job, window_right()))
            .where_key(|a: &Item| a.0.clone())
            .equal_to(|b: &Item| b.0.clone())
            .window(TumblingEventTimeWindows::of(10))
            .apply(
                |a: &[Item],
                 b: &[Item],
                 out: &mut WindowCollector<'_, (&'static str, i64, usize, usize)>| {
                    let key = a.first().or(b.first()).map_or("?", |e| st(&e.0));
                    let start = a
                        .iter()
                        .chain(b)
                        .map(|e| e.2 - e.2 % 10)
                        .min()
                        .unwrap_or(-1);
                    out.collect((key, start, a.len(), b.len()));
                },
            )
            .sink("groups", out.clone());
        out
    });
    let expected = vec![
        ("k1", 0, 2, 1),
        ("k1", 10, 1, 2),
        ("k2", 0, 1, 1),
        ("k2", 20, 1, 1),
        ("k3", 20, 0, 1),
    ];
    assert_eq!(got, expected);
}

#[test]
fn window_join_without_event_time_is_rejected_at_build() {
    let job = Job::builder("bad join");
    job.from_collection(window_left())
        .join(&job.from_collection(window_right()))
        .where_key(|a: &Item| a.0.clone())
        .equal_to(|b: &Item| b.0.clone())
        .window(TumblingEventTimeWindows::of(10))
        .apply(|a: &Item, b: &Item| (st(&a.1), st(&b.1)))
        .sink("out", CollectSink::new());
    let err = job.build().err().expect("must be rejected");
    assert!(
        err.to_string().contains("assign_timestamps_and_watermarks"),
        "{err}"
    );
}

/// Passes input 2's records on with their own timestamps, and says its
/// output may be up to a second behind its input watermark.
#[derive(Clone, Default)]
struct HeldBack;

impl KeyedCoProcessFunction<u64, (u64, i64), (u64, i64), i64> for HeldBack {
    fn process_element1(
        &mut self,
        _: (u64, i64),
        _: &mut KeyedCoContext<'_, u64, i64>,
    ) -> Result<()> {
        Ok(())
    }
    fn process_element2(
        &mut self,
        v: (u64, i64),
        ctx: &mut KeyedCoContext<'_, u64, i64>,
    ) -> Result<()> {
        ctx.collect(v.1);
        Ok(())
    }
    fn output_watermark_delay_ms(&self) -> i64 {
        1_000
    }
}

#[test]
fn a_co_process_function_holds_its_output_watermark_back_by_its_delay() {
    // Each record leaves after the watermark of the batch before it (up to
    // 80 ms behind it); downstream the watermark must be a second further
    // behind, and the final watermark still fires downstream timers.
    for cores in [1, 2] {
        let out = CollectSink::new();
        let job = Job::builder("held back");
        let first = job
            .from_collection(vec![(1u64, 0i64)])
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|v: &(u64, i64)| v.1))
            .key_by(|v: &(u64, i64)| v.0);
        let second = job
            .from_collection((0..2000i64).map(|i| ((i % 5) as u64, i * 10)).collect())
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous(|v: &(u64, i64)| v.1))
            .key_by(|v: &(u64, i64)| v.0);
        first
            .connect(&second)
            .process(HeldBack)
            .process(|ts: i64, ctx: &mut Context<'_, (i64, i64)>| {
                let wm = ctx.current_watermark();
                ctx.collect((ts, wm));
            })
            .sink("seen", out.clone());
        job.build().unwrap().run(&config(cores)).unwrap();
        let seen = out.take();
        assert_eq!(seen.len(), 2000, "{cores} cores");
        let ahead: Vec<_> = seen
            .iter()
            .filter(|(ts, wm)| *wm > ts - 1_000)
            .take(3)
            .collect();
        assert!(
            ahead.is_empty(),
            "{cores} cores: watermark not held back: {ahead:?}"
        );
        assert!(
            seen.iter().any(|(_, wm)| *wm > 0),
            "{cores} cores: the watermark advanced while records came"
        );
    }
}
