//! The sliced path against the per-window path: the same records and
//! watermarks must give the same results, fired at the same step, and the
//! same late records.

use std::cell::RefCell;
use std::rc::Rc;

use proptest::prelude::*;
use spate_state::{AggregateFunction, AggregatingTable, KeyGroupRange};

use super::*;
use crate::runtime::side::TypedSide;
use crate::time::WATERMARK_MAX;
use crate::window::operator::{PerWindowOp, WindowOp};
use crate::window::{AggregateContents, DefaultTrigger};

/// `(key, value)`; the event time travels beside it.
type Ev = (u64, u64);
/// `(key, window start, window end, count, sum)`.
type Row = (u64, i64, i64, u64, u64);
/// What reached an output: the step it was emitted at, the value, its timestamp.
type Seen<X> = Rc<RefCell<Vec<(usize, X, Timestamp)>>>;

/// Count and sum: merging adds both.
#[derive(Clone)]
struct CountSum;

impl AggregateFunction for CountSum {
    type In = Ev;
    type Acc = (u64, u64);
    type Out = (u64, u64);
    fn create_accumulator(&self) -> (u64, u64) {
        (0, 0)
    }
    fn add(&self, v: Ev, acc: &mut (u64, u64)) {
        acc.0 += 1;
        acc.1 += v.1;
    }
    fn get_result(&self, acc: &(u64, u64)) -> (u64, u64) {
        *acc
    }
    fn merge(&self, a: (u64, u64), b: (u64, u64)) -> (u64, u64) {
        (a.0 + b.0, a.1 + b.1)
    }
    /// Keys from 100 up stand for `max(value, 1)` records each, as if
    /// they were partial aggregates.
    fn input_records(&self, v: &Ev) -> u64 {
        if v.0 >= 100 { v.1.max(1) } else { 1 }
    }
}

/// Collects records with the step they arrived at.
struct Collect<X> {
    seen: Seen<X>,
    step: Rc<RefCell<usize>>,
}

impl<X: 'static> Output<X> for Collect<X> {
    fn record(&mut self, _: &mut TaskCx, v: X, ts: Timestamp) {
        self.seen.borrow_mut().push((*self.step.borrow(), v, ts));
    }
    fn watermark(&mut self, _: &mut TaskCx, _: Timestamp) {}
    fn idle(&mut self, _: &mut TaskCx, _: bool) {}
    fn batch_end(&mut self, _: &mut TaskCx) {}
    fn tick(&mut self, _: &mut TaskCx) {}
    fn end(&mut self, _: &mut TaskCx) {}
}

fn task_cx() -> TaskCx {
    TaskCx::for_tests()
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Record(u64, i64),
    Watermark(i64),
}

/// What one operator emitted for a script.
#[derive(Debug, PartialEq)]
struct Emitted {
    rows: Vec<(usize, Row, Timestamp)>,
    late: Vec<(usize, Ev, Timestamp)>,
    late_metric: u64,
}

fn finish(k: &u64, w: &TimeWindow, (count, sum): (u64, u64)) -> Row {
    (*k, w.start, w.end, count, sum)
}

type Finish = fn(&u64, &TimeWindow, (u64, u64)) -> Row;
type Contents = AggregateContents<u64, TimeWindow, CountSum, Finish>;

/// Runs `steps`, then the final watermark, through the sliced or the
/// per-window operator: sliding `size`/`slide` windows with `lateness`,
/// late records to a side output.
fn run(steps: &[Step], size: u64, slide: u64, lateness: i64, sliced: bool) -> Emitted {
    let mut out = run_in_order(steps, size, slide, lateness, sliced);
    out.rows.sort();
    out
}

/// As [`run`], with the rows in the order the operator emitted them.
fn run_in_order(steps: &[Step], size: u64, slide: u64, lateness: i64, sliced: bool) -> Emitted {
    let range = KeyGroupRange::all(128);
    let spec = WindowSpec {
        assigner: SlidingEventTimeWindows::of(size, slide),
        trigger: DefaultTrigger { event_time: true },
        allowed_lateness_ms: lateness,
        late_tag: Some("late".to_string()),
    };
    let contents: Contents = AggregateContents {
        table: AggregatingTable::new(range, None, CountSum),
        finish: finish as Finish,
    };
    let step = Rc::new(RefCell::new(0));
    let rows: Seen<Row> = Rc::default();
    let late: Seen<Ev> = Rc::default();
    let next = Box::new(Collect {
        seen: rows.clone(),
        step: step.clone(),
    });
    let late_out: Box<dyn crate::runtime::side::ErasedOutput> =
        Box::new(TypedSide::<Ev>(Box::new(Collect {
            seen: late.clone(),
            step: step.clone(),
        })));
    let side = SideOutputs::new(vec![("late".to_string(), late_out)]);
    let key_fn: Arc<dyn Fn(&Ev) -> u64 + Send + Sync> = Arc::new(|e: &Ev| e.0);
    let mut op: Box<dyn Output<Ev>> = if sliced {
        let op = WindowOp::new(spec, key_fn, contents, range, next, side, 128);
        assert!(
            op.is_sliced(),
            "sliding windows with an aggregate are sliced"
        );
        Box::new(op)
    } else {
        Box::new(PerWindowOp::new(
            spec, key_fn, contents, range, next, side, 128,
        ))
    };
    let mut cx = task_cx();
    for (i, s) in steps.iter().enumerate() {
        *step.borrow_mut() = i;
        match *s {
            Step::Record(key, ts) => op.record(&mut cx, (key, ts.unsigned_abs() % 7), ts),
            Step::Watermark(wm) => op.watermark(&mut cx, wm),
        }
    }
    *step.borrow_mut() = steps.len();
    op.watermark(&mut cx, WATERMARK_MAX);
    assert!(cx.failure.is_none(), "{:?}", cx.failure);
    Emitted {
        rows: rows.take(),
        late: late.take(),
        late_metric: cx.metrics.snapshot().late_records,
    }
}

fn same_on_both_paths(steps: &[Step], size: u64, slide: u64, lateness: i64) -> Emitted {
    let per_window = run(steps, size, slide, lateness, false);
    let sliced = run(steps, size, slide, lateness, true);
    assert_eq!(
        sliced, per_window,
        "size {size} slide {slide} lateness {lateness}"
    );
    sliced
}

#[test]
fn in_order_records_fire_each_window_once_at_its_end() {
    let steps: Vec<Step> = (0..40i64)
        .flat_map(|i| {
            [
                Step::Record(i as u64 % 3, i * 250),
                Step::Watermark(i * 250 - 1),
            ]
        })
        .collect();
    let out = same_on_both_paths(&steps, 2_000, 1_000, 0);
    // Windows [-1000, 1000) .. [9000, 11000), 3 keys each.
    assert_eq!(out.rows.len(), 11 * 3);
    let total: u64 = out.rows.iter().map(|r| r.1.3).sum();
    assert_eq!(total, 80, "each record is in two windows");
    assert!(out.late.is_empty());
}

#[test]
fn a_watermark_past_several_windows_fires_each_keys_windows_oldest_first() {
    // 3 keys in slices from 0 to 5 s, then one watermark past every window:
    // the 8 windows of 4 s sliding by 1 s that hold data fire in one pass.
    let steps: Vec<Step> = (0..30i64)
        .map(|i| Step::Record(i as u64 % 3, i * 170))
        .chain([Step::Watermark(20_000)])
        .collect();
    let out = run_in_order(&steps, 4_000, 1_000, 0, true);
    for key in 0..3 {
        let starts: Vec<i64> = out
            .rows
            .iter()
            .filter(|r| r.1.0 == key)
            .map(|r| r.1.1)
            .collect();
        assert_eq!(
            starts,
            (-3..=4).map(|s| s * 1_000).collect::<Vec<_>>(),
            "key {key}"
        );
    }
    assert!(
        out.rows.iter().all(|r| r.0 == 30),
        "all fire at the watermark"
    );
    // The same rows as the per-window path, in another order.
    same_on_both_paths(&steps, 4_000, 1_000, 0);
}

#[test]
fn out_of_order_records_within_the_watermark_are_counted() {
    let steps = [
        Step::Record(1, 900),
        Step::Record(1, 100),
        Step::Record(2, 1_500),
        Step::Watermark(400),
        Step::Record(1, 450),
        Step::Record(2, 50),
        Step::Watermark(999),
        Step::Record(1, 1_200),
        Step::Watermark(1_999),
    ];
    let out = same_on_both_paths(&steps, 1_000, 500, 0);
    assert!(
        out.rows
            .contains(&(6, (1, 0, 1_000, 3, 900 % 7 + 100 % 7 + 450 % 7), 999))
    );
    assert!(out.late.is_empty());
}

#[test]
fn late_records_within_the_allowed_lateness_fire_the_window_again() {
    let steps = [
        Step::Record(1, 100),
        Step::Watermark(1_000),
        // [0, 1000) fired at step 1; this late record fires it again.
        Step::Record(1, 200),
        Step::Watermark(1_400),
        // Within 500 ms of lateness for [0, 1000), not for [-500, 500).
        Step::Record(1, 300),
        Step::Watermark(1_499),
        // [0, 1000) is gone now: late for every window.
        Step::Record(1, 400),
        Step::Record(1, 900),
    ];
    let out = same_on_both_paths(&steps, 1_000, 500, 500);
    let for_window = |start: i64| -> Vec<(usize, u64)> {
        out.rows
            .iter()
            .filter(|r| r.1.1 == start)
            .map(|r| (r.0, r.1.3))
            .collect()
    };
    assert_eq!(for_window(0), vec![(1, 1), (2, 2), (4, 3)]);
    assert_eq!(out.late.iter().map(|l| l.0).collect::<Vec<_>>(), vec![6]);
    assert_eq!(out.late_metric, 1, "900 is still in [500, 1500)");
}

#[test]
fn records_too_late_for_every_window_go_to_the_side_output() {
    let steps = [
        Step::Record(1, 5_000),
        Step::Watermark(5_000),
        Step::Record(1, 1_000),
        Step::Record(2, 3_999),
        Step::Record(2, 4_000),
    ];
    let out = same_on_both_paths(&steps, 2_000, 1_000, 0);
    assert_eq!(out.late.len(), 2);
    assert_eq!(out.late_metric, 2);
}

#[test]
fn a_size_that_is_no_multiple_of_the_slide_and_gaps_between_windows() {
    let steps: Vec<Step> = (0..60i64)
        .map(|i| {
            if i % 7 == 6 {
                Step::Watermark(i * 5 - 20)
            } else {
                Step::Record(i as u64 % 4, i * 5 - (i % 3) * 9)
            }
        })
        .collect();
    same_on_both_paths(&steps, 10, 4, 0);
    same_on_both_paths(&steps, 10, 4, 7);
    same_on_both_paths(&steps, 3, 7, 2);
}

fn script() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec((0u64..4, -50i64..400, prop::bool::weighted(0.2)), 1..120).prop_map(
        |raw| {
            let mut wm = -100;
            raw.into_iter()
                .map(|(key, t, is_wm)| {
                    if is_wm {
                        wm = wm.max(t - 30);
                        Step::Watermark(wm)
                    } else {
                        Step::Record(key, t)
                    }
                })
                .collect()
        },
    )
}

proptest! {
    #[test]
    fn sliced_and_per_window_paths_agree(
        steps in script(),
        (size, slide) in prop_oneof![Just((100, 20)), Just((60, 40)), Just((30, 30)), Just((20, 50))],
        lateness in prop_oneof![Just(0i64), Just(25), Just(1_000)],
    ) {
        let per_window = run(&steps, size, slide, lateness, false);
        let sliced = run(&steps, size, slide, lateness, true);
        prop_assert_eq!(sliced, per_window);
    }
}

#[test]
fn a_late_record_counts_as_the_records_it_stands_for() {
    // Values are `ts % 7`: 3 and 5 records, both behind every window.
    let steps = [
        Step::Watermark(100),
        Step::Record(101, 3),
        Step::Record(102, 12),
    ];
    for sliced in [false, true] {
        let out = run(&steps, 10, 5, 0, sliced);
        assert_eq!(out.late.len(), 2, "sliced {sliced}");
        assert_eq!(out.late_metric, 8, "sliced {sliced}");
    }
}
