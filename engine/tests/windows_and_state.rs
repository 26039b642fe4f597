//! Session windows, global windows with a count trigger, allowed lateness,
//! processing-time timers and state TTL, each on 1 and 2 cores.

#![allow(clippy::unwrap_used, clippy::type_complexity)]

use spate::config::Config;
use spate::keyed::{KeyedContext, OpenContext, StateTtl, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::sinks::CollectSink;
use spate::time::WatermarkStrategy;
use spate::window::{
    CountTrigger, EventTimeSessionWindows, GlobalWindow, GlobalWindows, TimeWindow,
    TumblingEventTimeWindows, WindowCollector,
};
use spate::{Job, OutputTag, Result};

fn config(cores: u32, batch: u32) -> Config {
    let mut c = Config::default();
    c.runtime.cores = cores;
    c.runtime.io_memory_kib = 256;
    c.runtime.batch_records_max = batch;
    c
}

type Ev = (u64, i64);

fn by_time() -> WatermarkStrategy<Ev> {
    WatermarkStrategy::bounded_out_of_orderness(0, |e: &Ev| e.1)
}

/// `(key, start, end, records)` of each session (gap 10) of `events`
/// (watermark 10 behind the latest time), sorted, and the late records.
fn session_windows(events: Vec<Ev>, cores: u32, batch: u32) -> (Vec<(u64, i64, i64, usize)>, u64) {
    let out = CollectSink::new();
    let job = Job::builder("sessions");
    job.from_collection(events)
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            10,
            |e: &Ev| e.1,
        ))
        .key_by(|e: &Ev| e.0)
        .window(EventTimeSessionWindows::with_gap(10))
        .process(
            |k: &u64,
             w: &TimeWindow,
             items: &[Ev],
             out: &mut WindowCollector<'_, (u64, i64, i64, usize)>| {
                out.collect((*k, w.start, w.end, items.len()));
                Ok(())
            },
        )
        .sink("out", out.clone());
    let result = job.build().unwrap().run(&config(cores, batch)).unwrap();
    let mut got = out.take();
    got.sort();
    (got, result.metrics.late_records)
}

fn sessions(cores: u32) -> Vec<(u64, i64, i64, usize)> {
    // Key 1: clicks at 0, 5, 9 (one session: gap 10), then 30, 31 (another).
    // Key 2: out of order within the bound: 20, 12 → merged into one session.
    let events: Vec<Ev> = vec![(1, 0), (1, 5), (1, 9), (2, 20), (2, 12), (1, 30), (1, 31)];
    session_windows(events, cores, 2).0
}

#[test]
fn session_windows_merge_per_key() {
    let expected = vec![(1, 0, 19, 3), (1, 30, 41, 2), (2, 12, 30, 2)];
    assert_eq!(sessions(1), expected);
    assert_eq!(sessions(2), expected);
}

/// Rows 10 and 18 make the session [10, 28); row 33 moves the watermark
/// to 22; then row 5, whose own session [5, 15) the watermark passed,
/// touches the open one: it is merged in (lateness is judged on the merged
/// window, as in Flink), not dropped.
fn late_row_touching_an_open_session(cores: u32) -> (Vec<(u64, i64, i64, usize)>, u64) {
    let events: Vec<Ev> = vec![(1, 10), (1, 18), (1, 33), (1, 5), (2, 1)];
    session_windows(events, cores, 1)
}

#[test]
fn a_late_row_that_touches_an_open_session_is_merged_into_it() {
    // One core: one split, so the watermark is 22 when row 5 comes; key
    // 2's row at 1 touches nothing open and its session is late.
    let (got, late) = late_row_touching_an_open_session(1);
    assert_eq!(got, vec![(1, 5, 28, 3), (1, 33, 43, 1)]);
    assert_eq!(late, 1);
    // Two cores: two splits, whose watermarks may hold row 5 on time; key
    // 1's sessions are the same either way.
    let (got, _) = late_row_touching_an_open_session(2);
    let key_1: Vec<_> = got.into_iter().filter(|r| r.0 == 1).collect();
    assert_eq!(key_1, vec![(1, 5, 28, 3), (1, 33, 43, 1)]);
}

fn global_counts(cores: u32) -> Vec<(u64, u64)> {
    let out = CollectSink::new();
    let job = Job::builder("global count trigger");
    let events: Vec<Ev> = (0..25i64).map(|i| ((i % 2) as u64, i)).collect();
    job.from_collection(events)
        .key_by(|e: &Ev| e.0)
        .window(GlobalWindows::create())
        .trigger(CountTrigger::<GlobalWindow>::of(5))
        .process(
            |k: &u64, _: &GlobalWindow, items: &[Ev], out: &mut WindowCollector<'_, (u64, u64)>| {
                out.collect((*k, items.len() as u64));
                Ok(())
            },
        )
        .sink("out", out.clone());
    job.build().unwrap().run(&config(cores, 4)).unwrap();
    let mut got = out.take();
    got.sort();
    got
}

#[test]
fn global_window_fires_and_purges_every_n_records_per_key() {
    // Key 0 has 13 records, key 1 has 12: two firings of 5 each; the rest never fires.
    let expected = vec![(0, 5), (0, 5), (1, 5), (1, 5)];
    assert_eq!(global_counts(1), expected);
    assert_eq!(global_counts(2), expected);
}

#[test]
fn global_window_without_trigger_is_rejected() {
    let job = Job::builder("no trigger");
    job.from_collection(vec![(1u64, 1i64)])
        .key_by(|e: &Ev| e.0)
        .window(GlobalWindows::create())
        .process(|_: &u64, _: &GlobalWindow, _: &[Ev], _: &mut WindowCollector<'_, u64>| Ok(()))
        .sink("out", CollectSink::new());
    let err = job.build().err().expect("rejected");
    assert!(err.to_string().contains("trigger"), "{err}");
}

#[test]
fn allowed_lateness_fires_again_and_later_records_go_to_the_side_output() {
    let out = CollectSink::new();
    let late_out = CollectSink::new();
    let late = OutputTag::<Ev>::new("late");
    let job = Job::builder("lateness");
    // One source split (1 core) with batches of 1 record: the watermark moves
    // after every record. Window [0,10) closes at wm 9; lateness 5 keeps it
    // until wm 14. (1,3) at wm 11 is within lateness: the window fires again.
    // (1,4) at wm 19 is beyond: side output.
    let events: Vec<Ev> = vec![(1, 1), (1, 2), (1, 12), (1, 3), (1, 20), (1, 4)];
    let counts = job
        .from_collection(events)
        .assign_timestamps_and_watermarks(by_time())
        .key_by(|e: &Ev| e.0)
        .window(TumblingEventTimeWindows::of(10))
        .allowed_lateness_ms(5)
        .side_output_late_data(&late)
        .process(
            |_: &u64, w: &TimeWindow, items: &[Ev], out: &mut WindowCollector<'_, (i64, usize)>| {
                out.collect((w.start, items.len()));
                Ok(())
            },
        );
    counts.sink("counts", out.clone());
    counts.side_output(&late).sink("late", late_out.clone());
    let result = job.build().unwrap().run(&config(1, 1)).unwrap();
    let mut got = out.take();
    got.sort();
    assert_eq!(got, vec![(0, 2), (0, 3), (10, 1), (20, 1)]);
    assert_eq!(late_out.take(), vec![(1, 4)]);
    assert_eq!(result.metrics.late_records, 1);
}

/// Counts per key with a TTL'd state, and sets a processing-time timer that
/// emits the count once.
#[derive(Clone, Default)]
struct CountThenReport {
    count: Option<ValueState<u64, u64>>,
}

impl KeyedProcessFunction<u64, Ev, (u64, u64)> for CountThenReport {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.count = Some(ctx.value_state("count", Some(StateTtl::new(3_600_000)))?);
        Ok(())
    }
    fn process_element(
        &mut self,
        _: Ev,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        let mut n = 0;
        self.count.unwrap().modify_or_insert_with(
            ctx,
            || 0,
            |c| {
                *c += 1;
                n = *c;
            },
        )?;
        if n == 1 {
            let due = ctx.current_processing_time() + 20;
            ctx.register_processing_time_timer(due);
        }
        Ok(())
    }
    fn on_timer(
        &mut self,
        _: i64,
        domain: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, (u64, u64)>,
    ) -> Result<()> {
        assert_eq!(domain, TimeDomain::ProcessingTime);
        let n = self.count.unwrap().value(ctx)?.unwrap_or(0);
        let key = *ctx.key();
        ctx.collect((key, n));
        Ok(())
    }
}

#[test]
fn processing_time_timers_fire_while_the_source_is_quiet() {
    use spate::sources::{Source, SourceCollector, SourcePoll};
    /// Emits its records, then stays quiet for 200 ms before ending.
    struct QuietSource {
        items: Vec<Ev>,
        started: Option<std::time::Instant>,
    }
    impl Source for QuietSource {
        type Item = Ev;
        fn poll(&mut self, out: &mut SourceCollector<'_, Ev>, _: usize) -> Result<SourcePoll> {
            for e in self.items.drain(..) {
                out.collect(e);
            }
            let started = *self.started.get_or_insert_with(std::time::Instant::now);
            if started.elapsed().as_millis() >= 200 {
                Ok(SourcePoll::Exhausted)
            } else {
                Ok(SourcePoll::Pending {
                    retry_after_us: 5_000,
                })
            }
        }
    }
    for cores in [1, 2] {
        let out = CollectSink::new();
        let job = Job::builder("timers");
        job.source("quiet", |split| {
            let items = if split.index == 0 {
                vec![(1, 0), (2, 0), (1, 0)]
            } else {
                vec![]
            };
            Ok(QuietSource {
                items,
                started: None,
            })
        })
        .key_by(|e: &Ev| e.0)
        .process(CountThenReport::default())
        .sink("out", out.clone());
        job.build().unwrap().run(&config(cores, 8)).unwrap();
        let mut got = out.take();
        got.sort();
        assert_eq!(got, vec![(1, 2), (2, 1)], "on {cores} cores");
    }
}
