//! The physical plan: a logical plan turned into DataStream operators.
//!
//! Each `Calc` is one chained process operator; `Aggregate` and
//! `WindowAggregate` first compute their keys and arguments in a chained
//! `Calc`, then cross a keyed exchange (rows are rkyv-serialized there).

use std::cell::RefCell;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use spate::keyed::StateTtl;
use spate::operators::process::Context;
use spate::window::{
    EventTimeSessionWindows, SlidingEventTimeWindows, TimeWindow, TumblingEventTimeWindows,
    WindowAssigner,
};
use spate::{DataStream, JobBuilder, KeyedStream, SpateError};
use spate_state::AggregateFunction;

use crate::aggregate::{Acc, Accs};
use crate::catalog::TableDef;
use crate::compiled::CompiledExpr;
use crate::connectors::TableSource;
use crate::error::{Result, SqlError};
use crate::expr::ScalarExpr;
use crate::group_aggregate::{GroupAggregate, GroupInput};
use crate::group_key::GroupKey;
use crate::local_aggregate::LocalAggregate;
use crate::local_window_aggregate::{LocalWindowAggregate, slice_ms};
use crate::logical::{AggCall, AggFunc, LogicalPlan, WindowGroup, WindowKind};
use crate::mini_batch::{GROUPS_HELD_DEFAULT, MiniBatch};
use crate::physical_extreme::{ExtremeSpec, build_window_extreme_rows};
use crate::physical_join::{JoinSpec, build_join};
use crate::physical_lookup::{LookupSpec, build_lookup_join};
use crate::physical_over::{OverSpec, build_over};
use crate::physical_rank::{InputShape, build_top_n};
use crate::projection::Projection;
use crate::row::Row;
use crate::session_groups::{SessionGroups, build_session_groups, build_session_tvf};
use crate::value::{DataType, Value};

/// Settings of the physical plan that come from the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhysicalOptions {
    /// `table.exec.state.ttl`: how long a regular join's, a group
    /// aggregate's and a Top-N's state for a key lives after its last
    /// write (processing time, as in Flink); `None` keeps it for good.
    /// Window operators free their state by the watermark instead.
    pub state_ttl: Option<StateTtl>,
    /// `table.exec.mini-batch.*`: group aggregates fold their changes per
    /// input batch (and split into two phases); `None` when off.
    pub mini_batch: Option<MiniBatch>,
    /// `table.optimizer.agg-phase-strategy` = `ONE_PHASE`: window
    /// aggregates get no local phase (by default they do, mini-batch or
    /// not, as in Flink).
    pub window_one_phase: bool,
}

/// The physical planning of one job: where its operators go, the
/// session's options, and the sub-plans built so far. Any sub-plan that
/// occurs twice is built once and its rows go to every reader: a table read
/// twice (a self-join, the INSERTs of a statement set) is one scan, q5's two
/// window counts of bids are one operator, as Flink's
/// `table.optimizer.reuse-source-enabled` and `reuse-sub-plan-enabled` do
/// by default.
pub struct JobPlanner<'a> {
    job: &'a JobBuilder,
    opts: PhysicalOptions,
    /// Each distinct sub-plan built so far and its output (plans are small:
    /// a linear search is cheaper than hashing them).
    built: RefCell<Vec<(LogicalPlan, DataStream<Row>)>>,
    /// Set to stop every scan without draining (a live query cancelled).
    cancel: Option<Arc<AtomicBool>>,
}

impl<'a> JobPlanner<'a> {
    /// A planner adding to `job`.
    pub fn new(job: &'a JobBuilder, opts: PhysicalOptions) -> Self {
        Self {
            job,
            opts,
            built: RefCell::new(Vec::new()),
            cancel: None,
        }
    }

    /// Scans stop without draining once `cancel` is set.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// Builds the operators of `plan`; returns its output stream.
    pub fn build(&self, plan: &LogicalPlan) -> Result<DataStream<Row>> {
        build(self, plan)
    }

    /// A source of `table`'s rows (built once per job: see [`build`]).
    fn scan(&self, table: &Arc<TableDef>) -> DataStream<Row> {
        let t = table.clone();
        let name = format!("scan {}", table.name);
        let cancel = self.cancel.clone();
        let open =
            move |split| TableSource::open(t.clone(), split).map(|s| s.with_cancel(cancel.clone()));
        if table.watermark.is_some() {
            self.job.source_with_watermarks(&name, open)
        } else {
            self.job.source(&name, open)
        }
    }
}

/// Builds the operators of `plan` into the planner's job, once per
/// distinct sub-plan.
fn build(cx: &JobPlanner<'_>, plan: &LogicalPlan) -> Result<DataStream<Row>> {
    let found = cx
        .built
        .borrow()
        .iter()
        .find(|(p, _)| p == plan)
        .map(|(_, s)| s.clone());
    if let Some(stream) = found {
        return Ok(stream);
    }
    let stream = build_new(cx, plan)?;
    cx.built.borrow_mut().push((plan.clone(), stream.clone()));
    Ok(stream)
}

fn build_new(cx: &JobPlanner<'_>, plan: &LogicalPlan) -> Result<DataStream<Row>> {
    Ok(match plan {
        LogicalPlan::Scan { table } => cx.scan(table),
        LogicalPlan::Calc {
            input,
            filter,
            exprs,
            ..
        } => {
            let stream = build(cx, input)?;
            if filter.is_none() && *exprs == crate::rules::identity(&input.schema()) {
                // Only renames (`window_start AS starttime`): nothing to compute.
                stream
            } else {
                calc(
                    &stream,
                    filter.clone(),
                    exprs.clone(),
                    &input.schema().types(),
                )
            }
        }
        LogicalPlan::Rank {
            input,
            partition,
            order,
            limit,
            ..
        } => build_top_n(
            build(cx, input)?,
            partition.clone(),
            order.clone(),
            *limit,
            InputShape {
                width: input.schema().len(),
                insert_only: input.is_insert_only(),
                rowtime: input.schema().rowtime,
            },
            cx.opts.state_ttl,
        )?,
        LogicalPlan::Over {
            input,
            partition,
            time_col,
            frame,
            aggs,
            ..
        } => build_over(
            build(cx, input)?,
            OverSpec {
                partition: partition.clone(),
                time_col: *time_col,
                frame: *frame,
                aggs: aggs.clone(),
                width: input.schema().len(),
            },
            input.is_insert_only(),
        )?,
        LogicalPlan::Union { inputs, .. } => {
            let streams = inputs
                .iter()
                .map(|i| build(cx, i))
                .collect::<Result<Vec<_>>>()?;
            match streams.split_first() {
                Some((first, rest)) => first.union(rest),
                None => return Err(SqlError::Internal("UNION ALL without inputs".into())),
            }
        }
        LogicalPlan::Join {
            kind,
            left,
            right,
            condition,
            ..
        } => {
            let spec = JoinSpec::plan(*kind, left, right, condition.as_ref())?;
            let widths = (left.schema().len(), right.schema().len());
            let ttl = cx
                .opts
                .state_ttl
                .filter(|_| !spec.is_window_join() && !spec.is_interval_join());
            let inputs = (build(cx, left)?, build(cx, right)?);
            build_join(inputs, widths, spec, ttl)
        }
        LogicalPlan::WindowExtremeRows {
            input,
            windows,
            value,
            max,
            group,
            right,
            ..
        } => {
            let schema = input.schema();
            build_window_extreme_rows(
                &build(cx, input)?,
                ExtremeSpec {
                    windows: *windows,
                    value: value.clone(),
                    max: *max,
                    group: group.clone(),
                    right: right.clone(),
                    time_col: schema.rowtime,
                    input_types: schema.types(),
                },
            )?
        }
        LogicalPlan::LookupJoin {
            kind,
            input,
            table,
            keys,
            residual,
            ..
        } => build_lookup_join(
            &build(cx, input)?,
            LookupSpec {
                kind: *kind,
                table,
                keys,
                residual: residual.as_ref(),
                input_types: &input.schema().types(),
            },
        )?,
        LogicalPlan::Filter { input, predicate } => {
            let schema = input.schema();
            calc(
                &build(cx, input)?,
                Some(predicate.clone()),
                (0..schema.len()).map(ScalarExpr::Column).collect(),
                &schema.types(),
            )
        }
        LogicalPlan::Project { input, exprs, .. } => calc(
            &build(cx, input)?,
            None,
            exprs.clone(),
            &input.schema().types(),
        ),
        LogicalPlan::Window {
            input,
            kind,
            time_col,
            partition,
            ..
        } => match kind {
            WindowKind::Session { .. } if input.is_insert_only() => build_session_tvf(
                &build(cx, input)?,
                *kind,
                input.schema().proctime == Some(*time_col),
                partition.as_deref().unwrap_or_default(),
            )?,
            _ => window_tvf(&build(cx, input)?, *kind, *time_col)?,
        },
        LogicalPlan::Aggregate {
            input, group, aggs, ..
        } => {
            if !input.is_insert_only()
                && aggs
                    .iter()
                    .any(|a| matches!(a.func, AggFunc::Min | AggFunc::Max))
            {
                return Err(SqlError::Unsupported {
                    pos: Default::default(),
                    feature: "MIN/MAX over an updating (changelog) input".into(),
                    snippet: String::new(),
                });
            }
            group_aggregate(cx, &build(cx, input)?, input, group, aggs)
        }
        LogicalPlan::WindowAggregate {
            input,
            kind,
            proctime,
            group,
            aggs,
            sessions,
            ..
        } => {
            if !input.is_insert_only() {
                return Err(SqlError::Unsupported {
                    pos: Default::default(),
                    feature: "window aggregation over an updating (changelog) input".into(),
                    snippet: String::new(),
                });
            }
            if let Some(partition) = sessions {
                let spec = SessionGroups {
                    kind: *kind,
                    proctime: *proctime,
                    partition,
                    group,
                    aggs,
                };
                let types = input.schema().types();
                return build_session_groups(&build(cx, input)?, &types, spec);
            }
            let keys: Vec<ScalarExpr> = group
                .iter()
                .filter_map(|g| match g {
                    WindowGroup::Key(e) => Some(e.clone()),
                    WindowGroup::Window(_) => None,
                })
                .collect();
            // Attached windows travel behind the arguments, where the
            // assigner reads them.
            let (mut args, width) = (agg_args(aggs), keys.len() + aggs.len());
            if let WindowKind::Attached { start_col, end_col } = *kind {
                args.extend([ScalarExpr::Column(start_col), ScalarExpr::Column(end_col)]);
            }
            let calls = Arc::new(aggs.clone());
            let (k, types) = (keys.len(), input.schema().types());
            let rows = keys_and_args(&build(cx, input)?, keys, args, &types);
            let local = slice_ms(*kind)
                .filter(|_| !*proctime && !cx.opts.window_one_phase && Accs::can_split(aggs));
            let (keyed, input) = match local {
                Some(slice) => {
                    let partials_max = cx
                        .opts
                        .mini_batch
                        .map_or(GROUPS_HELD_DEFAULT, |b| b.groups_held_max);
                    let local = LocalWindowAggregate::new(calls.clone(), k, slice, partials_max);
                    (by_key_prefix(&rows.process(local), k), GroupInput::Partials)
                }
                None => (by_key_prefix(&rows, k), GroupInput::Rows),
            };
            let agg = RowAggregate {
                calls,
                keys: k,
                input,
            };
            let group = Arc::new(group.clone());
            let finish = move |key: &GroupKey, w: &TimeWindow, results: Vec<Value>| {
                window_row(&group, key.iter().cloned(), w, results)
            };
            if *proctime {
                if let WindowKind::Attached { .. } = kind {
                    return Err(SqlError::Internal(
                        "a window aggregate over another's windows is in event time".into(),
                    ));
                }
                return Ok(keyed
                    .window(WindowsOfKind {
                        kind: *kind,
                        event_time: false,
                    })
                    .aggregate_with(agg, finish));
            }
            match *kind {
                WindowKind::Tumble { size_ms } => keyed
                    .window(TumblingEventTimeWindows::of(size_ms as u64))
                    .aggregate_with(agg, finish),
                WindowKind::Hop { slide_ms, size_ms } => keyed
                    .window(SlidingEventTimeWindows::of(size_ms as u64, slide_ms as u64))
                    .aggregate_with(agg, finish),
                WindowKind::Cumulate { .. } => keyed
                    .window(WindowsOfKind {
                        kind: *kind,
                        event_time: true,
                    })
                    .aggregate_with(agg, finish),
                WindowKind::Session { gap_ms } => keyed
                    .window(EventTimeSessionWindows::with_gap(gap_ms as u64))
                    .aggregate_with(agg, finish),
                WindowKind::Attached { .. } => keyed
                    .window(AttachedWindows { start_col: width })
                    .aggregate_with(agg, finish),
            }
        }
    })
}

fn eval_error(message: String) -> SpateError {
    SpateError::Operator {
        operator: "calc".into(),
        reason: message,
    }
}

/// Filter and projection in one chained operator; the row kind passes
/// through. `types` are the input's column types (empty when unknown: the
/// expressions are then interpreted).
pub(crate) fn calc(
    input: &DataStream<Row>,
    filter: Option<ScalarExpr>,
    exprs: Vec<ScalarExpr>,
    types: &[DataType],
) -> DataStream<Row> {
    let filter = filter.map(|f| CompiledExpr::new(&f, types));
    let projection = Projection::new(&exprs, types);
    input.process(move |row: Row, ctx: &mut Context<'_, Row>| {
        if let Some(f) = &filter {
            match f.is_true(&row) {
                Ok(true) => {}
                Ok(false) => return crate::row_pool::recycle(row.values),
                Err(m) => return ctx.fail(eval_error(m)),
            }
        }
        match projection.apply(row) {
            Ok(out) => ctx.collect(out),
            Err(m) => ctx.fail(eval_error(m)),
        }
    })
}

/// The argument of each aggregate call (NULL for `COUNT(*)`).
pub(crate) fn agg_args(aggs: &[AggCall]) -> Vec<ScalarExpr> {
    aggs.iter()
        .map(|a| a.arg.clone().unwrap_or(ScalarExpr::Literal(Value::Null)))
        .collect()
}

/// A `GROUP BY` aggregate: keys and arguments computed, then (mini-batch
/// on, calls that can be split) a local phase before the exchange, then
/// the group aggregate keyed by the group.
fn group_aggregate(
    cx: &JobPlanner<'_>,
    stream: &DataStream<Row>,
    input: &LogicalPlan,
    group: &[ScalarExpr],
    aggs: &[AggCall],
) -> DataStream<Row> {
    let calls = Arc::new(aggs.to_vec());
    let keys = group.len();
    let mut rows = keys_and_args(
        stream,
        group.to_vec(),
        agg_args(aggs),
        &input.schema().types(),
    );
    let batch = cx.opts.mini_batch;
    let mut kind = GroupInput::Rows;
    if let Some(b) = batch.filter(|b| b.two_phase && Accs::can_split(aggs)) {
        rows = rows.process(LocalAggregate::new(calls.clone(), keys, b.groups_held_max));
        kind = GroupInput::Partials;
    }
    by_key_prefix(&rows, keys).process(GroupAggregate::new(
        calls,
        keys,
        kind,
        cx.opts.state_ttl,
        batch.map(|b| b.groups_held_max),
    ))
}

/// The rows `[keys..., args...]` of an aggregate's input.
pub(crate) fn keys_and_args(
    input: &DataStream<Row>,
    keys: Vec<ScalarExpr>,
    args: Vec<ScalarExpr>,
    types: &[DataType],
) -> DataStream<Row> {
    let mut exprs = keys;
    exprs.extend(args);
    calc(input, None, exprs, types)
}

/// `rows` partitioned by their first `k` values.
pub(crate) fn by_key_prefix(rows: &DataStream<Row>, k: usize) -> KeyedStream<GroupKey, Row> {
    rows.key_by(move |r: &Row| r.values.iter().take(k).cloned().collect::<GroupKey>())
}

/// A window aggregate's row: its group items (window columns of `w`, keys
/// from `key` in order), then `results`. Vectors come from the row pool:
/// every firing emits a row per group.
pub(crate) fn window_row(
    group: &[WindowGroup],
    mut key: impl Iterator<Item = Value>,
    w: &TimeWindow,
    mut results: Vec<Value>,
) -> Row {
    let mut values = crate::row_pool::take(group.len() + results.len());
    for g in group {
        values.push(match g {
            WindowGroup::Window(c) => c.value_in(w.start, w.end),
            WindowGroup::Key(_) => key.next().unwrap_or(Value::Null),
        });
    }
    values.append(&mut results);
    crate::row_pool::recycle(results);
    Row::insert(values)
}

/// A window TVF without aggregation: each row once per window it falls in.
fn window_tvf(
    input: &DataStream<Row>,
    kind: WindowKind,
    time_col: usize,
) -> Result<DataStream<Row>> {
    if let WindowKind::Session { .. } = kind {
        return Err(SqlError::Unsupported {
            pos: Default::default(),
            feature: "SESSION windows over an updating (changelog) input".into(),
            snippet: String::new(),
        });
    }
    Ok(input.flat_map(move |row: Row| {
        let ts = row.get(time_col).as_i64().unwrap_or(0);
        windows_of(kind, ts)
            .into_iter()
            .map(|(start, end)| {
                let mut values = row.values.clone();
                values.extend([
                    Value::Timestamp(start),
                    Value::Timestamp(end),
                    Value::Timestamp(end - 1),
                ]);
                Row::of(row.kind, values)
            })
            .collect::<Vec<_>>()
    }))
}

/// The (start, end) of every window of `kind` containing `ts`, as Flink assigns them.
pub fn windows_of(kind: WindowKind, ts: i64) -> Vec<(i64, i64)> {
    let start_of = |size: i64| ts - ts.rem_euclid(size);
    match kind {
        WindowKind::Tumble { size_ms } => {
            let s = start_of(size_ms);
            vec![(s, s + size_ms)]
        }
        WindowKind::Hop { slide_ms, size_ms } => {
            let mut out = Vec::new();
            let mut s = start_of(slide_ms);
            while s > ts - size_ms {
                out.push((s, s + size_ms));
                s -= slide_ms;
            }
            out.reverse();
            out
        }
        WindowKind::Cumulate { step_ms, size_ms } => {
            let s = start_of(size_ms);
            let mut out = Vec::new();
            let mut end = start_of(step_ms) + step_ms;
            while end <= s + size_ms {
                out.push((s, end));
                end += step_ms;
            }
            out
        }
        WindowKind::Session { .. } | WindowKind::Attached { .. } => Vec::new(),
    }
}

/// The windows of `kind` (`TUMBLE`, `HOP` or `CUMULATE`) containing a
/// time, as [`windows_of`] gives them: of the record's event time
/// (`CUMULATE`; the engine has its own tumbling and sliding assigners), or
/// of the wall-clock time a row reaches the window operator (a `PROCTIME()`
/// column, as Flink evaluates a processing-time attribute), whose windows
/// fire when the clock passes their end, or all at once when a bounded
/// input ends.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WindowsOfKind {
    pub(crate) kind: WindowKind,
    pub(crate) event_time: bool,
}

impl WindowAssigner<Row> for WindowsOfKind {
    type W = TimeWindow;
    fn assign(&self, value: &Row, ts: i64, out: &mut Vec<TimeWindow>) {
        if let WindowKind::Session { gap_ms } = self.kind {
            // A session starts as the row's own window, merged with the
            // key's sessions it overlaps (the operator merges), in either
            // time domain.
            let sessions = EventTimeSessionWindows::with_gap(gap_ms.max(1) as u64);
            return sessions.assign(value, ts, out);
        }
        out.extend(
            windows_of(self.kind, ts)
                .into_iter()
                .map(|(s, e)| TimeWindow::new(s, e)),
        );
    }
    fn is_event_time(&self) -> bool {
        self.event_time
    }
    fn is_merging(&self) -> bool {
        matches!(self.kind, WindowKind::Session { .. })
    }
}

/// The windows an upstream window operator assigned: a row's
/// `window_start` and `window_end` sit at `start_col` and the column after.
#[derive(Clone, Copy, Debug)]
struct AttachedWindows {
    start_col: usize,
}

impl WindowAssigner<Row> for AttachedWindows {
    type W = TimeWindow;
    fn assign(&self, row: &Row, _ts: i64, out: &mut Vec<TimeWindow>) {
        // Window bounds are never NULL: a window operator made them.
        let bound = |i: usize| row.values.get(i).and_then(Value::as_i64);
        if let (Some(s), Some(e)) = (bound(self.start_col), bound(self.start_col + 1)) {
            out.push(TimeWindow::new(s, e));
        }
    }
    fn is_event_time(&self) -> bool {
        true
    }
}

/// The aggregate of a window: accumulators over `[keys..., args...]` rows.
#[derive(Clone)]
struct RowAggregate {
    calls: Arc<Vec<AggCall>>,
    keys: usize,
    /// Rows, or a local phase's partial aggregates.
    input: GroupInput,
}

impl AggregateFunction for RowAggregate {
    type In = Row;
    type Acc = Accs;
    type Out = Vec<Value>;

    fn create_accumulator(&self) -> Accs {
        Accs::new(&self.calls)
    }
    fn add(&self, value: Row, acc: &mut Accs) {
        let tail = value.values.get(self.keys..).unwrap_or(&[]);
        match self.input {
            GroupInput::Rows => acc.update(&self.calls, tail, 1),
            GroupInput::Partials => {
                if let Err(m) = acc.merge_partial(&self.calls, tail) {
                    // Partials come from this plan's own local phase.
                    debug_assert!(false, "{m}");
                    tracing::error!("a window aggregate dropped a malformed partial: {m}");
                }
            }
        }
    }
    fn input_records(&self, value: &Row) -> u64 {
        match self.input {
            GroupInput::Rows => 1,
            // A partial's first value after the keys is its row count.
            GroupInput::Partials => value
                .get(self.keys)
                .as_i64()
                .map_or(1, |n| n.max(1).unsigned_abs()),
        }
    }
    fn get_result(&self, acc: &Accs) -> Vec<Value> {
        let mut out = crate::row_pool::take(acc.accs.len());
        out.extend(acc.accs.iter().map(Acc::result));
        out
    }
    fn merge(&self, mut a: Accs, b: Accs) -> Accs {
        a.merge_from(&b, &self.calls);
        a
    }
    fn merge_from(&self, acc: &mut Accs, other: &Accs) {
        acc.merge_from(other, &self.calls);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_assigned_like_flink() {
        assert_eq!(
            windows_of(WindowKind::Tumble { size_ms: 10 }, 23),
            vec![(20, 30)]
        );
        assert_eq!(
            windows_of(
                WindowKind::Hop {
                    slide_ms: 5,
                    size_ms: 10
                },
                23
            ),
            vec![(15, 25), (20, 30)]
        );
        assert_eq!(
            windows_of(
                WindowKind::Cumulate {
                    step_ms: 5,
                    size_ms: 15
                },
                23
            ),
            vec![(15, 25), (15, 30)]
        );
        assert_eq!(
            windows_of(WindowKind::Tumble { size_ms: 10 }, -1),
            vec![(-10, 0)]
        );
    }
}
