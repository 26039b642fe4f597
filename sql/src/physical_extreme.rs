//! `WindowExtremeRows` on the engine, in two stages as the hand-written q7
//! does. First, before the exchange, each input batch's rows folded per
//! window (a tumbling window of event time, or the window a window
//! aggregate's row carries, as in q5) into the extreme and the rows at it;
//! then, keyed by window, once the watermark passes its end, the rows at
//! the overall extreme with the window's columns after them.
//!
//! Rows too late for their window (the watermark at the second stage passed
//! its end) are left out of the extreme, as the window aggregate of the join
//! drops them, and counted; the join still matched them with their window's
//! extreme, so the second stage emits each one at its window's extreme
//! (kept per window once it fired, as the join kept the aggregate's row).
//! A window aggregate's results are never late.

use std::sync::Arc;

use spate::keyed::{KeyedContext, ListState, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::operators::process::{Context, ProcessFunction};
use spate::{DataStream, SpateError};

use crate::compiled::CompiledExpr;
use crate::expr::{ScalarExpr, compare};
use crate::logical::{ExtremeWindows, WindowGroup};
use crate::row::Row;
use crate::value::{DataType, Value};

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

/// `(window start, window end, extreme, rows at it)`: one batch's fold of
/// a window's rows, or one row of a window the watermark had passed.
type Partial = (i64, i64, Value, Vec<Row>);

/// Builds the stages over `input`.
pub(crate) fn build_window_extreme_rows(
    input: &DataStream<Row>,
    spec: ExtremeSpec,
) -> crate::error::Result<DataStream<Row>> {
    let value = CompiledExpr::new(&spec.value, &spec.input_types);
    let windows = match spec.windows {
        ExtremeWindows::Tumble { size_ms } => LocalWindows::Tumble {
            time_col: spec.time_col.ok_or_else(|| {
                crate::error::SqlError::Internal("a window extreme's input has no rowtime".into())
            })?,
            size_ms,
        },
        ExtremeWindows::Attached { start_col, end_col } => {
            LocalWindows::Carried(start_col, end_col)
        }
    };
    let partials = input.process(LocalExtremes {
        value: value.clone(),
        max: spec.max,
        windows,
        tops: Vec::new(),
    });
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

/// Windows one [`LocalExtremes`] holds at once: a batch spans a few
/// windows (more flush early).
const LOCAL_WINDOWS_MAX: usize = 64;

/// Which window a row of a [`LocalExtremes`] is in.
#[derive(Clone, Copy)]
enum LocalWindows {
    /// The tumbling window of `size_ms` its time column falls in.
    Tumble { time_col: usize, size_ms: i64 },
    /// The window whose start and end columns it carries.
    Carried(usize, usize),
}

/// The first stage: the rows of one input batch folded per window into the
/// extreme and the rows at it, before the exchange, so the exchange
/// carries a few rows per window and batch instead of every row (q7's bids)
/// or one per group (q5: a window aggregate emits all of a window's groups
/// at once, and the fold goes out before the watermark that fired them).
/// Rows off a batch's extreme could only be left out by the second stage.
/// A row of a window this operator's watermark has already passed goes on
/// alone, unfolded: the second stage may find it late, and a late row is
/// emitted when it equals the window's extreme, whatever the batch's.
#[derive(Clone)]
struct LocalExtremes {
    value: CompiledExpr,
    max: bool,
    windows: LocalWindows,
    /// The batch's windows (few: a linear search) with their fold so far
    /// and the latest timestamp of their rows.
    tops: Vec<((i64, i64), Top, i64)>,
}

impl LocalExtremes {
    fn flush(&mut self, ctx: &mut Context<'_, Partial>) {
        for ((start, end), top, ts) in self.tops.drain(..) {
            if let Some((v, rows)) = top {
                ctx.collect_with_timestamp((start, end, v, rows), ts);
            }
        }
    }
}

impl ProcessFunction<Row, Partial> for LocalExtremes {
    fn process_element(&mut self, r: Row, ctx: &mut Context<'_, Partial>) {
        let window = match self.windows {
            LocalWindows::Tumble { time_col, size_ms } => {
                let t = time_of(&r, time_col);
                let start = t - t.rem_euclid(size_ms);
                (start, start + size_ms)
            }
            LocalWindows::Carried(s, e) => (time_of(&r, s), time_of(&r, e)),
        };
        // The value is a column (the rule requires it): reading it cannot fail.
        let v = self.value.eval(&r).unwrap_or(Value::Null);
        let ts = ctx.timestamp().unwrap_or(window.1 - 1);
        if window.1.saturating_sub(1) <= ctx.current_watermark() {
            return ctx.collect((window.0, window.1, v, vec![r]));
        }
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
        (start, end, v, rows): Partial,
        ctx: &mut KeyedContext<'_, (i64, i64), Row>,
    ) -> spate::Result<()> {
        let h = self.handles()?;
        // The watermark passed the window's end: its extreme is decided
        // without these rows, which are late (as a window aggregate of the
        // join would find them).
        if end.saturating_sub(1) <= ctx.current_watermark() {
            rows.iter().for_each(|_| ctx.count_late_record());
        } else {
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
