//! `WindowExtremeRows` on the engine. Over tumbling windows of event time
//! it runs in two stages, as the hand-written q7 does: per window and
//! partition of rows (by event time modulo [`PARTIALS`], so a window's rows
//! spread over the cores), the partial extreme and the rows at it; then,
//! keyed by window, once the watermark passes its end, the rows at the
//! overall extreme with the window's columns after them. Over the windows
//! rows carry (a window aggregate's results, as in q5), the first stage is
//! local: each input batch's rows folded per window before the exchange.
//!
//! Rows too late for their tumbling window (the watermark passed its end)
//! are left out of the extreme, as the window aggregate of the join drops
//! them; the join still matched them with their window's extreme, so they
//! go to the second stage, which emits each one at its window's extreme
//! (kept per window once it fired, as the join kept the aggregate's row).
//! A window aggregate's results are never late.

use std::sync::Arc;

use spate::keyed::{KeyedContext, ListState, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::operators::process::{Context, ProcessFunction};
use spate::window::{TimeWindow, TumblingEventTimeWindows};
use spate::{DataStream, OutputTag, SpateError};
use spate_state::AggregateFunction;

use crate::compiled::CompiledExpr;
use crate::expr::{ScalarExpr, compare};
use crate::logical::{ExtremeWindows, WindowGroup};
use crate::row::Row;
use crate::value::{DataType, Value};

/// Partitions of the first stage per window.
const PARTIALS: i64 = 256;

/// What `WindowExtremeRows` computes.
pub(crate) struct ExtremeSpec {
    /// Which window each row is in.
    pub windows: ExtremeWindows,
    /// The aggregated expression.
    pub value: ScalarExpr,
    /// `MAX` (or `MIN`).
    pub max: bool,
    /// The window aggregate's group items.
    pub group: Vec<WindowGroup>,
    /// The right side's expressions over the window aggregate's row.
    pub right: Vec<ScalarExpr>,
    /// The input's rowtime column.
    pub time_col: Option<usize>,
    /// The input's column types.
    pub input_types: Vec<DataType>,
}

/// `(window start, window end, extreme, rows at it, late)`: a partial
/// result, or one late row.
type Partial = (i64, i64, Value, Vec<Row>, bool);

/// Builds the stages over `input`.
pub(crate) fn build_window_extreme_rows(
    input: &DataStream<Row>,
    spec: ExtremeSpec,
) -> crate::error::Result<DataStream<Row>> {
    let value = CompiledExpr::new(&spec.value, &spec.input_types);
    let partials = match spec.windows {
        ExtremeWindows::Tumble { size_ms } => {
            let time_col = spec.time_col.ok_or_else(|| {
                crate::error::SqlError::Internal("a window extreme's input has no rowtime".into())
            })?;
            partial_extremes(input, &value, spec.max, size_ms, time_col)
        }
        ExtremeWindows::Attached { start_col, end_col } => input.process(LocalExtremes {
            value: value.clone(),
            max: spec.max,
            bounds: (start_col, end_col),
            tops: Vec::new(),
        }),
    };
    // Keyed by both bounds: cumulating windows share their start.
    Ok(partials
        .key_by(|p: &Partial| (p.0, p.1))
        .process(RowsAtExtreme {
            value,
            max: spec.max,
            group: Arc::new(spec.group),
            right: Arc::new(spec.right),
            state: None,
        }))
}

/// Windows one [`LocalExtremes`] holds at once: a batch of a window
/// aggregate's results spans a few windows (more flush early).
const LOCAL_WINDOWS_MAX: usize = 64;

/// The first stage over the windows rows carry: the rows of one input batch
/// folded per window into the extreme and the rows at it, so the exchange
/// carries a few rows per window and batch instead of one per group (a
/// window aggregate emits all of a window's groups at once, when the
/// watermark passes its end, and the fold goes out before that watermark
/// does). Each row would have gone on alone; rows off the extreme would
/// only have been left out by the second stage.
#[derive(Clone)]
struct LocalExtremes {
    value: CompiledExpr,
    max: bool,
    /// The columns of the window start and end.
    bounds: (usize, usize),
    /// The batch's windows (few: a linear search) with their fold so far
    /// and the latest timestamp of their rows.
    tops: Vec<((i64, i64), Top, i64)>,
}

impl LocalExtremes {
    fn flush(&mut self, ctx: &mut Context<'_, Partial>) {
        for ((start, end), top, ts) in self.tops.drain(..) {
            if let Some((v, rows)) = top {
                ctx.collect_with_timestamp((start, end, v, rows, false), ts);
            }
        }
    }
}

impl ProcessFunction<Row, Partial> for LocalExtremes {
    fn process_element(&mut self, r: Row, ctx: &mut Context<'_, Partial>) {
        let bound = |c: usize| r.get(c).as_i64().unwrap_or(0);
        let window = (bound(self.bounds.0), bound(self.bounds.1));
        // The value is a column (the rule requires it): reading it cannot fail.
        let v = self.value.eval(&r).unwrap_or(Value::Null);
        let ts = ctx.timestamp().unwrap_or(window.1 - 1);
        let at = match self.tops.iter().position(|(w, ..)| *w == window) {
            Some(i) => i,
            None => {
                if self.tops.len() >= LOCAL_WINDOWS_MAX {
                    self.flush(ctx);
                }
                self.tops.push((window, None, ts));
                self.tops.len() - 1
            }
        };
        if let Some((_, top, latest)) = self.tops.get_mut(at) {
            *latest = (*latest).max(ts);
            fold(top, v, std::iter::once(r), self.max);
        }
    }

    fn on_batch_end(&mut self, ctx: &mut Context<'_, Partial>) {
        if !self.tops.is_empty() {
            self.flush(ctx);
        }
    }
}

/// The first stage over tumbling windows, with the late rows after it.
fn partial_extremes(
    input: &DataStream<Row>,
    value: &CompiledExpr,
    max: bool,
    size_ms: i64,
    time_col: usize,
) -> DataStream<Partial> {
    let late_tag: OutputTag<Row> = OutputTag::new("rows too late for their window's extreme");
    let partials = input
        .key_by(move |r: &Row| time_of(r, time_col).rem_euclid(PARTIALS))
        .window(TumblingEventTimeWindows::of(size_ms as u64))
        .side_output_late_data(&late_tag)
        .aggregate_with(
            AtExtreme {
                value: value.clone(),
                max,
            },
            |_: &i64, w: &TimeWindow, top: Top| -> Partial {
                let (extreme, rows) = top.unwrap_or((Value::Null, Vec::new()));
                (w.start, w.end, extreme, rows, false)
            },
        );
    let late = partials
        .side_output(&late_tag)
        .map(move |r: Row| -> Partial {
            let t = time_of(&r, time_col);
            let start = t - t.rem_euclid(size_ms);
            (start, start + size_ms, Value::Null, vec![r], true)
        });
    partials.union(&[late])
}

fn time_of(r: &Row, time_col: usize) -> i64 {
    // The rowtime column is never NULL: the source checks it.
    r.get(time_col).as_i64().unwrap_or(0)
}

/// True when `a` is strictly beyond `b` in the extreme's direction.
fn beyond(a: &Value, b: &Value, max: bool) -> bool {
    match compare(a, b) {
        Some(std::cmp::Ordering::Greater) => max,
        Some(std::cmp::Ordering::Less) => !max,
        _ => false,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(std::cmp::Ordering::Equal)
}

/// The first stage's accumulator: the extreme so far and the rows at it.
#[derive(Clone)]
struct AtExtreme {
    value: CompiledExpr,
    max: bool,
}

impl AggregateFunction for AtExtreme {
    type In = Row;
    type Acc = Top;
    type Out = Top;

    fn create_accumulator(&self) -> Top {
        None
    }
    fn add(&self, row: Row, acc: &mut Top) {
        // The value is a column (the rule requires it): reading it cannot
        // fail, so an error would be a bug, never a row to drop silently.
        let v = self.value.eval(&row).unwrap_or(Value::Null);
        fold(acc, v, std::iter::once(row), self.max);
    }
    fn get_result(&self, acc: &Top) -> Top {
        acc.clone()
    }
    fn merge(&self, mut a: Top, b: Top) -> Top {
        if let Some((v, rows)) = b {
            fold(&mut a, v, rows, self.max);
        }
        a
    }
}

/// A window's extreme so far and the rows at it (`None`: no row yet).
type Top = Option<(Value, Vec<Row>)>;

/// Folds rows whose value is `v` into `top`: they replace its rows when `v`
/// is beyond its extreme, join them when equal, and are left out otherwise.
/// A NULL value is never at the extreme (`MAX` skips it and `=` never
/// holds), nor is a value without rows.
fn fold(top: &mut Top, v: Value, rows: impl IntoIterator<Item = Row>, max: bool) {
    match top {
        Some(t) => fold_into(t, v, rows, max),
        None if v.is_null() => {}
        None => {
            let rows: Vec<Row> = rows.into_iter().collect();
            if !rows.is_empty() {
                *top = Some((v, rows));
            }
        }
    }
}

/// [`fold`] into an extreme that has rows.
fn fold_into(
    top: &mut (Value, Vec<Row>),
    v: Value,
    rows: impl IntoIterator<Item = Row>,
    max: bool,
) {
    if v.is_null() || beyond(&top.0, &v, max) {
        return;
    }
    let mut rows = rows.into_iter().peekable();
    if rows.peek().is_none() {
        return;
    }
    if equal(&top.0, &v) {
        top.1.extend(rows);
    } else {
        *top = (v, rows.collect());
    }
}

#[derive(Clone)]
struct Handles {
    /// The extreme so far and the rows at it.
    top: ValueState<(i64, i64), (Value, Vec<Row>)>,
    late: ListState<(i64, i64), Row>,
    fired: ValueState<(i64, i64), Value>,
}

/// The second stage, keyed by window.
#[derive(Clone)]
struct RowsAtExtreme {
    value: CompiledExpr,
    max: bool,
    group: Arc<Vec<WindowGroup>>,
    right: Arc<Vec<ScalarExpr>>,
    state: Option<Handles>,
}

impl RowsAtExtreme {
    fn handles(&self) -> spate::Result<Handles> {
        self.state
            .clone()
            .ok_or_else(|| SpateError::internal("window extreme state not opened"))
    }

    /// The join's right-side columns for window `[start, end)` at `extreme`.
    fn right_values(&self, start: i64, end: i64, extreme: &Value) -> spate::Result<Vec<Value>> {
        let mut row: Vec<Value> = self
            .group
            .iter()
            .map(|g| match g {
                WindowGroup::Window(c) => c.value_in(start, end),
                WindowGroup::Key(_) => Value::Null,
            })
            .collect();
        row.push(extreme.clone());
        let row = Row::insert(row);
        self.right
            .iter()
            .map(|e| e.eval(&row))
            .collect::<Result<_, _>>()
            .map_err(|reason| SpateError::Operator {
                operator: "window extreme rows".into(),
                reason,
            })
    }

    fn emit(&self, row: Row, right: &[Value], ctx: &mut KeyedContext<'_, (i64, i64), Row>) {
        let mut values = row.values;
        values.extend(right.iter().cloned());
        ctx.collect(Row::insert(values));
    }

    fn at(&self, row: &Row, extreme: &Value) -> bool {
        self.value
            .eval(row)
            .is_ok_and(|v| !v.is_null() && equal(&v, extreme))
    }
}

impl KeyedProcessFunction<(i64, i64), Partial, Row> for RowsAtExtreme {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(Handles {
            top: ctx.value_state("window extreme so far", None)?,
            late: ctx.list_state("late rows", None)?,
            fired: ctx.value_state("window extreme", None)?,
        });
        Ok(())
    }

    fn process_element(
        &mut self,
        (start, end, v, rows, late): Partial,
        ctx: &mut KeyedContext<'_, (i64, i64), Row>,
    ) -> spate::Result<()> {
        let h = self.handles()?;
        if !late {
            ctx.register_event_time_timer(end - 1);
            // In place: the rows at the extreme so far are not copied.
            let max = self.max;
            return h.top.modify(ctx, |cur| match cur {
                Some(t) => {
                    fold_into(t, v, rows, max);
                    None
                }
                None => {
                    let mut top = None;
                    fold(&mut top, v, rows, max);
                    top
                }
            });
        }
        match h.fired.value(ctx)? {
            Some(extreme) => {
                let right = self.right_values(start, end, &extreme)?;
                for row in rows.into_iter().filter(|r| self.at(r, &extreme)) {
                    self.emit(row, &right, ctx);
                }
                Ok(())
            }
            None => {
                // The window has not fired here yet: held until it does.
                ctx.register_event_time_timer(end - 1);
                rows.into_iter().try_for_each(|r| h.late.add(ctx, r))
            }
        }
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, (i64, i64), Row>,
    ) -> spate::Result<()> {
        let h = self.handles()?;
        let (start, end) = *ctx.key();
        let top = h.top.value(ctx)?;
        let late = h.late.get(ctx)?;
        h.top.clear(ctx)?;
        h.late.clear(ctx)?;
        // A window without on-time rows has no extreme: its late rows
        // matched nothing in the join either.
        let Some((extreme, rows)) = top else {
            return Ok(());
        };
        let right = self.right_values(start, end, &extreme)?;
        for row in rows {
            self.emit(row, &right, ctx);
        }
        for row in late.into_iter().filter(|r| self.at(r, &extreme)) {
            self.emit(row, &right, ctx);
        }
        h.fired.update(ctx, extreme)
    }
}
