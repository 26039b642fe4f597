//! `WindowExtremeRows` on the engine, in two stages as the hand-written
//! q7 does: per window and partition of rows (by event time modulo
//! [`PARTIALS`], so a window's rows spread over the cores), the partial
//! extreme and the rows at it; then, keyed by window, once the watermark
//! passes its end, the rows at the overall extreme with the window's
//! columns after them.
//!
//! Rows too late for their window (the watermark passed its end) are left
//! out of the extreme, as the window aggregate of the join drops them; the
//! join still matched them with their window's extreme, so they go to the
//! second stage, which emits each one at its window's extreme (kept per
//! window once it fired, as the join kept the aggregate's row).

use std::sync::Arc;

use spate::keyed::{KeyedContext, ListState, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::window::{TimeWindow, TumblingEventTimeWindows};
use spate::{DataStream, OutputTag, SpateError};
use spate_state::AggregateFunction;

use crate::compiled::CompiledExpr;
use crate::expr::{ScalarExpr, compare};
use crate::logical::{WindowColumn, WindowGroup};
use crate::row::Row;
use crate::value::{DataType, Value};

/// Partitions of the first stage per window.
const PARTIALS: i64 = 256;

/// What `WindowExtremeRows` computes.
pub(crate) struct ExtremeSpec {
    /// The tumbling window's size, ms.
    pub size_ms: i64,
    /// The aggregated expression.
    pub value: ScalarExpr,
    /// `MAX` (or `MIN`).
    pub max: bool,
    /// The window aggregate's group items.
    pub group: Vec<WindowGroup>,
    /// The right side's expressions over the window aggregate's row.
    pub right: Vec<ScalarExpr>,
    /// The input's rowtime column.
    pub time_col: usize,
    /// The input's column types.
    pub input_types: Vec<DataType>,
}

/// `(window start, extreme, rows at it, late)`: a first-stage result, or
/// one late row.
type Partial = (i64, Value, Vec<Row>, bool);

/// Builds both stages over `input`.
pub(crate) fn build_window_extreme_rows(
    input: &DataStream<Row>,
    spec: ExtremeSpec,
) -> DataStream<Row> {
    let value = CompiledExpr::new(&spec.value, &spec.input_types);
    let (time_col, size_ms, max) = (spec.time_col, spec.size_ms, spec.max);
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
            |_: &i64, w: &TimeWindow, (extreme, rows): (Option<Value>, Vec<Row>)| -> Partial {
                (w.start, extreme.unwrap_or(Value::Null), rows, false)
            },
        );
    let late = partials
        .side_output(&late_tag)
        .map(move |r: Row| -> Partial {
            let t = time_of(&r, time_col);
            (t - t.rem_euclid(size_ms), Value::Null, vec![r], true)
        });
    partials
        .union(&[late])
        .key_by(|p: &Partial| p.0)
        .process(RowsAtExtreme {
            value,
            max,
            size_ms,
            group: Arc::new(spec.group),
            right: Arc::new(spec.right),
            state: None,
        })
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
/// A row whose value is NULL is never at the extreme (`MAX` skips it and
/// `=` never holds).
#[derive(Clone)]
struct AtExtreme {
    value: CompiledExpr,
    max: bool,
}

impl AggregateFunction for AtExtreme {
    type In = Row;
    type Acc = (Option<Value>, Vec<Row>);
    type Out = (Option<Value>, Vec<Row>);

    fn create_accumulator(&self) -> Self::Acc {
        (None, Vec::new())
    }
    fn add(&self, row: Row, acc: &mut Self::Acc) {
        // An expression that fails to evaluate is a NULL here, as the
        // join's MAX and `=` would have failed the job on it first.
        let v = self.value.eval(&row).unwrap_or(Value::Null);
        if v.is_null() {
            return;
        }
        match &acc.0 {
            Some(best) if beyond(best, &v, self.max) => {}
            Some(best) if equal(best, &v) => acc.1.push(row),
            _ => {
                acc.0 = Some(v);
                acc.1.clear();
                acc.1.push(row);
            }
        }
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Out {
        acc.clone()
    }
    fn merge(&self, mut a: Self::Acc, b: Self::Acc) -> Self::Acc {
        for row in b.1 {
            self.add(row, &mut a);
        }
        a
    }
}

#[derive(Clone)]
struct Handles {
    partials: ListState<i64, (Value, Vec<Row>)>,
    late: ListState<i64, Row>,
    fired: ValueState<i64, Value>,
}

/// The second stage, keyed by window start.
#[derive(Clone)]
struct RowsAtExtreme {
    value: CompiledExpr,
    max: bool,
    size_ms: i64,
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

    /// The join's right-side columns for window `start` at `extreme`.
    fn right_values(&self, start: i64, extreme: &Value) -> spate::Result<Vec<Value>> {
        let end = start + self.size_ms;
        let mut row: Vec<Value> = self
            .group
            .iter()
            .map(|g| match g {
                WindowGroup::Window(WindowColumn::Start) => Value::Timestamp(start),
                WindowGroup::Window(WindowColumn::End) => Value::Timestamp(end),
                WindowGroup::Window(WindowColumn::Time) => Value::Timestamp(end - 1),
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

    fn emit(&self, row: Row, right: &[Value], ctx: &mut KeyedContext<'_, i64, Row>) {
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

impl KeyedProcessFunction<i64, Partial, Row> for RowsAtExtreme {
    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.state = Some(Handles {
            partials: ctx.list_state("partial extremes", None)?,
            late: ctx.list_state("late rows", None)?,
            fired: ctx.value_state("window extreme", None)?,
        });
        Ok(())
    }

    fn process_element(
        &mut self,
        (start, extreme, rows, late): Partial,
        ctx: &mut KeyedContext<'_, i64, Row>,
    ) -> spate::Result<()> {
        let h = self.handles()?;
        if !late {
            ctx.register_event_time_timer(start + self.size_ms - 1);
            return h.partials.add(ctx, (extreme, rows));
        }
        match h.fired.value(ctx)? {
            Some(extreme) => {
                let right = self.right_values(start, &extreme)?;
                for row in rows.into_iter().filter(|r| self.at(r, &extreme)) {
                    self.emit(row, &right, ctx);
                }
                Ok(())
            }
            None => {
                // The window has not fired here yet: held until it does.
                ctx.register_event_time_timer(start + self.size_ms - 1);
                rows.into_iter().try_for_each(|r| h.late.add(ctx, r))
            }
        }
    }

    fn on_timer(
        &mut self,
        ts: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Row>,
    ) -> spate::Result<()> {
        let h = self.handles()?;
        let start = ts + 1 - self.size_ms;
        let partials = h.partials.get(ctx)?;
        let late = h.late.get(ctx)?;
        h.partials.clear(ctx)?;
        h.late.clear(ctx)?;
        let mut extreme: Option<&Value> = None;
        for (v, rows) in &partials {
            if !rows.is_empty() && extreme.is_none_or(|e| beyond(v, e, self.max)) {
                extreme = Some(v);
            }
        }
        // A window without on-time rows has no extreme: its late rows
        // matched nothing in the join either.
        let Some(extreme) = extreme.cloned() else {
            return Ok(());
        };
        let right = self.right_values(start, &extreme)?;
        for (v, rows) in partials {
            if equal(&v, &extreme) {
                for row in rows {
                    self.emit(row, &right, ctx);
                }
            }
        }
        for row in late.into_iter().filter(|r| self.at(r, &extreme)) {
            self.emit(row, &right, ctx);
        }
        h.fired.update(ctx, extreme)
    }
}
