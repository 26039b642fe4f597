//! The physical join. Both sides are partitioned by the equi-join keys and
//! meet in one keyed co-process operator that stores each side's rows per
//! key and joins every new row with the other side's (Flink's regular
//! streaming join). A retraction removes its row and retracts the joined
//! rows. An outer join emits a preserved row padded with NULLs while it
//! matches nothing, and retracts that row when a match arrives. When both sides are windowed and the keys include both
//! window bounds, it is a window join: a key's rows are dropped once the
//! watermark passes its window, so state stays bounded by the open windows.

use spate::keyed::{KeyedContext, ListState, OpenContext, StateTtl};
use spate::operators::co_process::KeyedCoProcessFunction;
use spate::operators::keyed_process::TimeDomain;
use spate::time::WATERMARK_MAX;
use spate::{DataStream, KeyedStream, SpateError};

use crate::compiled::CompiledExpr;
use crate::error::{Result, SqlError};
use crate::expr::{BinOp, ScalarExpr};
use crate::group_key::GroupKey;
use crate::interval_bounds::{IntervalBounds, interval_bounds};
use crate::logical::{JoinType, LogicalPlan, WindowColumn, WindowGroup, WindowKind};
use crate::row::{Row, RowKind};
use crate::rules::{max_column, substitute};
use crate::rules_join::{and_all, conjuncts, min_column, shift_down};
use crate::schema::Schema;
use crate::value::{DataType, Value};

/// How two sides join: the key expressions over each side's row, what else
/// the pair must satisfy, and the window-end columns of a window join.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct JoinSpec {
    kind: JoinType,
    left_keys: Vec<ScalarExpr>,
    right_keys: Vec<ScalarExpr>,
    residual: Option<ScalarExpr>,
    /// The joined row's column types (left, then right).
    types: Vec<DataType>,
    /// When a stored row can match nothing more: window and interval joins.
    expiry: Option<Expiry>,
}

/// When a stored row of a window or interval join can match no row that
/// is still to come, so the watermark frees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Expiry {
    /// A window join: `(left, right)` columns of the window end; a row
    /// goes when its window closes, and the key (which holds the window
    /// bounds) with it.
    Window(usize, usize),
    /// An interval join: `(left, right)` time columns and the bounds of
    /// `left time - right time`.
    Interval(usize, usize, IntervalBounds),
    /// A regular inner join of a window operator's rows (the `windowed`
    /// side) with rows whose time column `time` the condition bounds by the
    /// window's end column `end`: `time - end ∈ bounds`. A window's row
    /// comes before the watermark passes its end, so a row of the other
    /// side is freed once no window that is still to come can match it.
    /// The window rows stay (a late row may still match them), so the
    /// results are the regular join's, with bounded state (Nexmark q7).
    Windowed {
        windowed: Side,
        time: usize,
        end: usize,
        bounds: IntervalBounds,
    },
}

impl Expiry {
    /// The last watermark at which a row of `side` can still join a row
    /// that is to come; `None` while any row may still match it.
    fn last_match(&self, side: Side, row: &[Value]) -> Option<i64> {
        let at = |col: usize| row.get(col).and_then(Value::as_i64).unwrap_or(i64::MIN);
        Some(match (*self, side) {
            (Expiry::Window(l, _), Side::Left) => at(l).saturating_sub(1),
            (Expiry::Window(_, r), Side::Right) => at(r).saturating_sub(1),
            // A right row at `t` comes at `l - upper` at the earliest.
            (Expiry::Interval(l, _, b), Side::Left) => at(l).saturating_sub(b.lower),
            (Expiry::Interval(_, r, b), Side::Right) => at(r).saturating_add(b.upper),
            (Expiry::Windowed { windowed, .. }, _) if side == windowed => return None,
            // The latest matching window ends at `time - lower`; a window
            // ending at `e` comes while the watermark is below `e - 1`.
            (Expiry::Windowed { time, bounds, .. }, _) => {
                at(time).saturating_sub(bounds.lower).saturating_sub(1)
            }
        })
    }

    /// When to look for a row whose last match is `last`: then, for a
    /// window join (one timer per key and window), or for interval bounds
    /// the end of `last`'s granule, an eighth of their width. A key's timer scans
    /// its rows, so one timer per row would make freeing quadratic in a hot
    /// key's rows; freed up to an eighth of the bounds late, they join
    /// nothing more (what could still match them is late itself).
    fn timer_at(&self, last: i64) -> i64 {
        let Some(granule) = self.granule() else {
            return last;
        };
        last.saturating_add(granule - 1 - last.rem_euclid(granule))
    }

    /// The step interval-bounded rows are freed in (none for a window join).
    fn granule(&self) -> Option<i64> {
        let bounds = match self {
            Expiry::Window(..) => return None,
            Expiry::Interval(_, _, b) | Expiry::Windowed { bounds: b, .. } => b,
        };
        let width = bounds.upper.saturating_sub(bounds.lower).saturating_add(1);
        Some((width / 8).max(1))
    }

    /// How far behind the watermark an interval join's output can be: a
    /// new row pairs with rows up to `max(upper, -lower)` older, and an
    /// unmatched row is padded once the watermark has passed its interval
    /// (and the granule it is freed in). The output watermark is held back
    /// by that much, so nothing it emits is late downstream.
    fn output_delay_ms(&self) -> i64 {
        match self {
            Expiry::Interval(_, _, b) => {
                let reach = b.upper.max(b.lower.saturating_neg()).max(0);
                reach.saturating_add(self.granule().unwrap_or(1))
            }
            Expiry::Window(..) | Expiry::Windowed { .. } => 0,
        }
    }

    /// True when a row that can join nothing still to come is dropped
    /// unjoined (a late row of a window join, as in Flink); false when it
    /// still joins the rows kept and is only not stored. (A late row of an
    /// interval join is handled before this is asked: it joins the rows
    /// rows to come could still match, as Flink's `TimeIntervalJoin`.)
    fn drops_late_rows(&self) -> bool {
        !matches!(self, Expiry::Windowed { .. })
    }
}

impl JoinSpec {
    /// Splits `condition` over `[left..., right...]` into equi-join keys
    /// and a residual; fails without a key (a cross product would keep
    /// every row of both sides on one core).
    pub(crate) fn plan(
        kind: JoinType,
        left: &LogicalPlan,
        right: &LogicalPlan,
        condition: Option<&ScalarExpr>,
    ) -> Result<Self> {
        let (n, left_schema, right_schema) = (left.schema().len(), left.schema(), right.schema());
        let mut spec = JoinSpec {
            kind,
            left_keys: Vec::new(),
            right_keys: Vec::new(),
            residual: None,
            types: [left_schema.types(), right_schema.types()].concat(),
            expiry: None,
        };
        let mut rest = Vec::new();
        for c in condition.cloned().map(conjuncts).unwrap_or_default() {
            match equi_pair(&c, n) {
                // Keys compare by value: columns of two types (BIGINT and
                // DOUBLE, say) are compared by the residual, which converts.
                Some((l, r))
                    if !differ(
                        column_type(&l, &left_schema),
                        column_type(&r, &right_schema),
                    ) =>
                {
                    spec.left_keys.push(l);
                    spec.right_keys.push(r);
                }
                _ => rest.push(c),
            }
        }
        if spec.left_keys.is_empty() {
            return Err(SqlError::Unsupported {
                pos: Default::default(),
                feature: "a join without an equality between columns of its two sides \
                          (a cross join) on a stream"
                    .into(),
                snippet: String::new(),
            });
        }
        spec.expiry = spec
            .window_join(left, right)
            .map(|(l, r)| Expiry::Window(l, r));
        // Rows of append-only inputs are never retracted: the watermark
        // alone can tell when they have joined all they can.
        let appends = left.is_insert_only() && right.is_insert_only();
        if spec.expiry.is_none() && appends {
            // Outer interval joins too (Flink's LEFT/RIGHT/FULL interval
            // joins); a join freed on one side only stays inner.
            spec.expiry = interval_of(left, right, &rest);
            if spec.expiry.is_none() && kind == JoinType::Inner {
                spec.expiry = windowed_of(left, right, &rest);
            }
        }
        spec.residual = and_all(rest);
        Ok(spec)
    }

    /// Both sides' window start and end among the key pairs: a window join.
    fn window_join(&self, left: &LogicalPlan, right: &LogicalPlan) -> Option<(usize, usize)> {
        let ((ls, le), (rs, re)) = (window_columns(left)?, window_columns(right)?);
        let keyed = |l: usize, r: usize| {
            self.left_keys
                .iter()
                .zip(&self.right_keys)
                .any(|pair| pair == (&ScalarExpr::Column(l), &ScalarExpr::Column(r)))
        };
        (keyed(ls, rs) && keyed(le, re)).then_some((le, re))
    }

    /// True for a window join.
    pub(crate) fn is_window_join(&self) -> bool {
        matches!(self.expiry, Some(Expiry::Window(..)))
    }

    /// True when the join's output is only inserts: an inner join of
    /// append-only inputs, or an outer window or interval join of them
    /// (its NULL-padded rows wait until nothing can match them any more
    /// instead of being retracted).
    pub(crate) fn is_insert_only(&self) -> bool {
        self.kind == JoinType::Inner || self.is_window_join() || self.is_interval_join()
    }

    /// True for an interval join.
    pub(crate) fn is_interval_join(&self) -> bool {
        matches!(self.expiry, Some(Expiry::Interval(..)))
    }

    /// The output column that stays a time attribute: the left input's
    /// rowtime, for an inner or left interval join (as in Flink, whose
    /// interval joins keep their inputs' time attributes; a right or full
    /// one may pad it with NULL). Output records carry its value as their
    /// timestamp, and the output watermark is held back so that none is
    /// late downstream.
    pub(crate) fn output_rowtime(&self) -> Option<usize> {
        match self.expiry {
            Some(Expiry::Interval(l, _, _)) if !self.kind.keeps_right() => Some(l),
            _ => None,
        }
    }

    /// True for a regular join whose non-window side the watermark frees.
    pub(crate) fn is_window_bounded(&self) -> bool {
        matches!(self.expiry, Some(Expiry::Windowed { .. }))
    }
}

/// The interval join of append-only `left` and `right` that `conditions`
/// (the non-key part of an inner join's condition) make, if any: time
/// attributes bounded against each other.
fn interval_of(
    left: &LogicalPlan,
    right: &LogicalPlan,
    conditions: &[ScalarExpr],
) -> Option<Expiry> {
    let (lt, rt) = (left.schema().rowtime?, right.schema().rowtime?);
    let bounds = interval_bounds(conditions, left.schema().len(), (lt, rt))?;
    (bounds.lower <= bounds.upper).then_some(Expiry::Interval(lt, rt, bounds))
}

/// The window-bounded regular join of append-only `left` and `right` that
/// `conditions` make, if any: one side a fixed-size window operator's rows,
/// the other with a time attribute bounded by the window's start and end
/// (`b.t >= w.starttime AND b.t < w.endtime`).
fn windowed_of(
    left: &LogicalPlan,
    right: &LogicalPlan,
    conditions: &[ScalarExpr],
) -> Option<Expiry> {
    let n = left.schema().len();
    let width = n + right.schema().len();
    let sides = [
        (
            Side::Right,
            left.schema().rowtime,
            window_operator_columns(right),
            n,
        ),
        (
            Side::Left,
            right.schema().rowtime,
            window_operator_columns(left),
            0,
        ),
    ];
    sides
        .into_iter()
        .find_map(|(windowed, time, window, offset)| {
            let (time, (start, end, size)) = (time?, window?);
            // `start` is `end - size`: rewritten so the bounds are on one column.
            let mut columns: Vec<ScalarExpr> = (0..width).map(ScalarExpr::Column).collect();
            *columns.get_mut(offset + start)? = ScalarExpr::Binary(
                BinOp::Sub,
                Box::new(ScalarExpr::Column(offset + end)),
                Box::new(ScalarExpr::Literal(Value::Interval(size))),
            );
            let rewritten: Vec<ScalarExpr> =
                conditions.iter().map(|c| substitute(c, &columns)).collect();
            let bounds = match windowed {
                Side::Right => interval_bounds(&rewritten, n, (time, end))?,
                // Bounds on `window end - time`, mirrored.
                Side::Left => {
                    let b = interval_bounds(&rewritten, n, (end, time))?;
                    IntervalBounds {
                        lower: b.upper.checked_neg()?,
                        upper: b.lower.checked_neg()?,
                    }
                }
            };
            (bounds.lower <= bounds.upper).then_some(Expiry::Windowed {
                windowed,
                time,
                end,
                bounds,
            })
        })
}

/// `(window_start, window_end, size)` of `plan`'s rows when they come from
/// a tumbling or hopping window aggregation (never late: each is emitted
/// before the watermark passes its window's end), through projections.
fn window_operator_columns(plan: &LogicalPlan) -> Option<(usize, usize, i64)> {
    let size = window_operator_size(plan)?;
    let (start, end) = window_columns(plan)?;
    Some((start, end, size))
}

fn window_operator_size(plan: &LogicalPlan) -> Option<i64> {
    match plan {
        LogicalPlan::WindowAggregate {
            kind: WindowKind::Tumble { size_ms } | WindowKind::Hop { size_ms, .. },
            proctime: false,
            ..
        } => Some(*size_ms),
        LogicalPlan::Filter { input, .. }
        | LogicalPlan::Calc { input, .. }
        | LogicalPlan::Project { input, .. } => window_operator_size(input),
        _ => None,
    }
}

/// `a = b` with `a` over the left side only and `b` over the right only
/// (or the other way round), as `(left expr, right expr over its own row)`.
fn equi_pair(c: &ScalarExpr, n: usize) -> Option<(ScalarExpr, ScalarExpr)> {
    let ScalarExpr::Binary(BinOp::Eq, a, b) = c else {
        return None;
    };
    let side = |e: &ScalarExpr| match (min_column(e), max_column(e)) {
        (Some(_), Some(hi)) if hi < n => Some(true),
        (Some(lo), Some(_)) if lo >= n => Some(false),
        _ => None,
    };
    match (side(a)?, side(b)?) {
        (true, false) => Some(((**a).clone(), shift_down(b, n))),
        (false, true) => Some(((**b).clone(), shift_down(a, n))),
        _ => None,
    }
}

/// The type of a plain column; `None` for other expressions.
fn column_type(e: &ScalarExpr, schema: &Schema) -> Option<DataType> {
    match e {
        ScalarExpr::Column(i) => schema.fields.get(*i).map(|f| f.ty),
        _ => None,
    }
}

fn differ(a: Option<DataType>, b: Option<DataType>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x != y)
}

/// The `(window_start, window_end)` columns of `plan`'s rows when they
/// come from a window aggregation or a window TVF, through projections.
pub(crate) fn window_columns(plan: &LogicalPlan) -> Option<(usize, usize)> {
    match plan {
        // Windows of processing time carry no event time to join or cascade on.
        LogicalPlan::WindowAggregate { proctime: true, .. } => None,
        LogicalPlan::WindowAggregate { group, .. } => {
            let at = |w: WindowColumn| group.iter().position(|g| *g == WindowGroup::Window(w));
            Some((at(WindowColumn::Start)?, at(WindowColumn::End)?))
        }
        LogicalPlan::Window { schema, .. } => {
            let n = schema.len();
            // An event-time window TVF: its window_time is the rowtime.
            schema.rowtime?;
            Some((n.checked_sub(3)?, n.checked_sub(2)?))
        }
        LogicalPlan::Filter { input, .. } => window_columns(input),
        LogicalPlan::Calc { input, exprs, .. } | LogicalPlan::Project { input, exprs, .. } => {
            let (s, e) = window_columns(input)?;
            let at = |c: usize| exprs.iter().position(|x| *x == ScalarExpr::Column(c));
            Some((at(s)?, at(e)?))
        }
        _ => None,
    }
}

/// Partitions a side by its keys. Plain columns are read in place; other
/// key expressions are computed first and appended to the row (the join
/// drops them again), so an evaluation error fails the job.
pub(crate) fn keyed_side(
    input: DataStream<Row>,
    keys: &[ScalarExpr],
    width: usize,
) -> KeyedStream<GroupKey, Row> {
    let columns: Option<Vec<usize>> = keys
        .iter()
        .map(|k| match k {
            ScalarExpr::Column(i) => Some(*i),
            _ => None,
        })
        .collect();
    let (input, columns) = match columns {
        Some(c) => (input, c),
        None => {
            let mut exprs: Vec<ScalarExpr> = (0..width).map(ScalarExpr::Column).collect();
            exprs.extend(keys.iter().cloned());
            let c = (width..width + keys.len()).collect();
            (crate::physical::calc(&input, None, exprs, &[]), c)
        }
    };
    input.key_by(move |r: &Row| {
        columns
            .iter()
            .map(|&i| r.get(i).clone())
            .collect::<GroupKey>()
    })
}

/// Builds the join of `left` and `right` (of widths `widths`) by `spec`.
pub(crate) fn build_join(
    (left, right): (DataStream<Row>, DataStream<Row>),
    widths: (usize, usize),
    spec: JoinSpec,
    ttl: Option<StateTtl>,
) -> DataStream<Row> {
    let l = keyed_side(left, &spec.left_keys, widths.0);
    let r = keyed_side(right, &spec.right_keys, widths.1);
    let stamp = spec.output_rowtime();
    l.connect(&r).process(JoinFunction {
        kind: spec.kind,
        stamp,
        widths,
        residual: spec.residual.map(|c| CompiledExpr::new(&c, &spec.types)),
        expiry: spec.expiry,
        ttl,
        sides: None,
        probe: Row::of(RowKind::Insert, Vec::new()),
    })
}

/// The rows each side holds for the current key, each with the number of
/// rows of the other side it currently joins (an outer join pads a row
/// with NULLs while that number is 0).
type SideState = ListState<GroupKey, (Vec<Value>, u32)>;

#[derive(Clone)]
struct JoinFunction {
    kind: JoinType,
    /// The output column whose value is each output record's timestamp
    /// ([`JoinSpec::output_rowtime`]); records keep their input's
    /// timestamp otherwise.
    stamp: Option<usize>,
    widths: (usize, usize),
    residual: Option<CompiledExpr>,
    expiry: Option<Expiry>,
    /// `table.exec.state.ttl` (never for a window or interval join).
    ttl: Option<StateTtl>,
    sides: Option<(SideState, SideState)>,
    /// The pair a residual condition is tested on, reused: most probed
    /// pairs fail it (Nexmark q5 and q7), so a joined row is only built
    /// for a pair that matches.
    probe: Row,
}

/// Which input a row came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Side {
    Left,
    Right,
}

impl JoinFunction {
    fn on_row(
        &mut self,
        side: Side,
        mut row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let (left, right) = self
            .sides
            .ok_or_else(|| SpateError::internal("join state not opened"))?;
        let (own, other, width) = match side {
            Side::Left => (left, right, self.widths.0),
            Side::Right => (right, left, self.widths.1),
        };
        let (own_kept, other_kept) = match side {
            Side::Left => (self.kind.keeps_left(), self.kind.keeps_right()),
            Side::Right => (self.kind.keeps_right(), self.kind.keeps_left()),
        };
        row.values.truncate(width);
        // SQL equality never holds for NULL: such a row matches nothing
        // and is not stored (an outer join still pads it).
        if ctx.key().contains(&Value::Null) {
            if own_kept {
                self.emit(ctx, self.padded(side, row.kind, &row.values));
            }
            return Ok(());
        }
        let mut stored = true;
        // The watermark a late interval-join row came behind.
        let mut late_at = None;
        if let Some(expiry) = self.expiry
            && let Some(last) = expiry.last_match(side, &row.values)
        {
            if last > ctx.current_watermark() {
                ctx.register_event_time_timer(expiry.timer_at(last));
            } else if matches!(expiry, Expiry::Interval(..)) {
                // No row still to come can match it. As Flink's
                // TimeIntervalJoin, it still joins the other side's rows
                // that rows to come could match (not those only freeing
                // is late for), is not stored, and a preserved row that
                // joins nothing is padded at once.
                stored = false;
                late_at = Some(ctx.current_watermark());
            } else if expiry.drops_late_rows() {
                // A row that could only join rows the watermark has passed
                // is late and dropped, as Flink's window and interval joins do.
                ctx.count_late_record();
                return Ok(());
            } else {
                stored = false;
            }
        }
        let adding = row.kind.is_addition();
        // An outer window join pads a row when its window closes, if it
        // joined nothing by then: its output stays append-only.
        let pads_later = self.pads_later();
        let mut out = Vec::new();
        let mut probe = std::mem::replace(&mut self.probe, Row::of(row.kind, Vec::new()));
        probe.kind = row.kind;
        let matched = if other_kept {
            // The other side's match counts change: its rows are rewritten.
            other.modify(ctx, |others| -> spate::Result<u32> {
                let mut matched = 0;
                for (o, count) in others.iter_mut() {
                    if self.expired(side.other(), o, late_at) {
                        continue;
                    }
                    let Some(joined) = self.probe(&mut probe, side, &row.values, o)? else {
                        continue;
                    };
                    matched += 1;
                    if adding && *count == 0 && !pads_later {
                        // `o` joins something now: its padded row goes.
                        out.push(self.padded(side.other(), RowKind::Delete, o));
                    }
                    out.push(joined);
                    *count = if adding {
                        count.saturating_add(1)
                    } else {
                        count.saturating_sub(1)
                    };
                    if !adding && *count == 0 {
                        out.push(self.padded(side.other(), RowKind::Insert, o));
                    }
                }
                Ok(matched)
            })??
        } else {
            // Only read: the other side's rows are probed in place.
            let (mut matched, mut failed) = (0u32, None);
            other.for_each(ctx, |(o, _)| {
                if self.expired(side.other(), o, late_at) {
                    return;
                }
                match self.probe(&mut probe, side, &row.values, o) {
                    Ok(Some(joined)) => {
                        matched += 1;
                        out.push(joined);
                    }
                    Ok(None) => {}
                    Err(e) => failed = failed.take().or(Some(e)),
                }
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            matched
        };
        self.probe = probe;
        for r in out {
            self.emit(ctx, r);
        }
        if matched == 0 && own_kept && (!pads_later || late_at.is_some()) {
            self.emit(ctx, self.padded(side, row.kind, &row.values));
        } else if matched == 0 && late_at.is_some() {
            // Joined nothing and is not kept: a late row dropped.
            ctx.count_late_record();
        }
        if !adding {
            // Retracting a row never stored (it joined nothing) changes nothing.
            return own.modify(ctx, |rows| {
                if let Some(i) = rows.iter().position(|(r, _)| *r == row.values) {
                    rows.swap_remove(i);
                }
            });
        }
        if stored {
            own.add(ctx, (row.values, matched))?;
        }
        Ok(())
    }

    /// `[left, right]` of the row from `side` and a row of the other side
    /// (of `probe.kind`) when the pair satisfies the residual condition.
    /// The pair is assembled in `probe`, whose vector is handed over on a
    /// match only.
    fn probe(
        &self,
        probe: &mut Row,
        side: Side,
        row: &[Value],
        other: &[Value],
    ) -> spate::Result<Option<Row>> {
        let (first, second) = match side {
            Side::Left => (row, other),
            Side::Right => (other, row),
        };
        probe.values.clear();
        probe.values.extend(first.iter().chain(second).cloned());
        if !self.holds(probe)? {
            return Ok(None);
        }
        let values = std::mem::replace(
            &mut probe.values,
            Vec::with_capacity(first.len() + second.len()),
        );
        Ok(Some(Row::of(probe.kind, values)))
    }

    /// Whether `row` of `side` is a row a late row must not join: one that
    /// only rows already late could match (`late_at`: the watermark the
    /// late row came behind), whether or not its timer has freed it yet.
    fn expired(&self, side: Side, row: &[Value], late_at: Option<i64>) -> bool {
        match (self.expiry, late_at) {
            (Some(e), Some(wm)) => e.last_match(side, row).is_some_and(|last| last <= wm),
            _ => false,
        }
    }

    /// Emits `row`, stamped with its output rowtime when the join keeps one.
    fn emit(&self, ctx: &mut KeyedContext<'_, GroupKey, Row>, row: Row) {
        match self
            .stamp
            .and_then(|c| row.values.get(c).and_then(Value::as_i64))
        {
            Some(ts) => ctx.collect_with_timestamp(row, ts),
            None => ctx.collect(row),
        }
    }

    /// True for an outer window or interval join: an unmatched row is
    /// padded once nothing can match it any more (its window closed, its
    /// interval passed) rather than at once.
    fn pads_later(&self) -> bool {
        self.kind != JoinType::Inner
            && matches!(self.expiry, Some(Expiry::Window(..) | Expiry::Interval(..)))
    }

    /// Whether `side`'s unmatched rows are padded.
    fn keeps(&self, side: Side) -> bool {
        match side {
            Side::Left => self.kind.keeps_left(),
            Side::Right => self.kind.keeps_right(),
        }
    }

    /// Emits the padded row of every row of the kept sides that joined
    /// nothing (the current key's window closed).
    fn pad_unmatched(
        &self,
        (left, right): (SideState, SideState),
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        for (state, side) in [(left, Side::Left), (right, Side::Right)] {
            if !self.keeps(side) {
                continue;
            }
            let mut padded = Vec::new();
            state.for_each(ctx, |(r, count)| {
                if *count == 0 {
                    padded.push(self.padded(side, RowKind::Insert, r));
                }
            })?;
            for row in padded {
                self.emit(ctx, row);
            }
        }
        Ok(())
    }

    /// The row of `side` with NULLs for the other side's columns.
    fn padded(&self, side: Side, kind: RowKind, row: &[Value]) -> Row {
        let nulls = |n: usize| vec![Value::Null; n];
        let values = match side {
            Side::Left => [row, &nulls(self.widths.1)].concat(),
            Side::Right => [&nulls(self.widths.0), row].concat(),
        };
        Row::of(kind, values)
    }

    /// Whether the residual condition holds for a joined pair.
    fn holds(&self, joined: &Row) -> spate::Result<bool> {
        match &self.residual {
            None => Ok(true),
            Some(c) => c.is_true(joined).map_err(|m| SpateError::Operator {
                operator: "join".into(),
                reason: m,
            }),
        }
    }
}

impl Side {
    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

impl KeyedCoProcessFunction<GroupKey, Row, Row, Row> for JoinFunction {
    fn output_watermark_delay_ms(&self) -> i64 {
        self.expiry.map_or(0, |e| e.output_delay_ms())
    }

    fn open(&mut self, ctx: &mut OpenContext) -> spate::Result<()> {
        self.sides = Some((
            ctx.list_state("join-left", self.ttl)?,
            ctx.list_state("join-right", self.ttl)?,
        ));
        Ok(())
    }

    fn process_element1(
        &mut self,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        self.on_row(Side::Left, row, ctx)
    }

    fn process_element2(
        &mut self,
        row: Row,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        self.on_row(Side::Right, row, ctx)
    }

    /// A window join's window closed: its key's rows go. An interval
    /// join drops the rows that can join nothing after `timestamp`.
    fn on_timer(
        &mut self,
        timestamp: i64,
        _domain: TimeDomain,
        ctx: &mut KeyedContext<'_, GroupKey, Row>,
    ) -> spate::Result<()> {
        let (Some((left, right)), Some(expiry)) = (self.sides, self.expiry) else {
            return Ok(());
        };
        if ctx.current_watermark() == WATERMARK_MAX {
            // The inputs have ended: nothing is left to join the rows this
            // timer would free, and freeing a large state row by row only
            // delays the end of a bounded job (seconds for Nexmark q7).
            // Unmatched preserved rows are padded, once (a key may have
            // several timers left).
            if self.pads_later() {
                self.pad_unmatched((left, right), ctx)?;
                left.clear(ctx)?;
                right.clear(ctx)?;
            }
            return Ok(());
        }
        if let Expiry::Window(..) = expiry {
            if self.pads_later() {
                self.pad_unmatched((left, right), ctx)?;
            }
            left.clear(ctx)?;
            return right.clear(ctx);
        }
        let mut padded = Vec::new();
        for (state, side) in [(left, Side::Left), (right, Side::Right)] {
            if matches!(expiry, Expiry::Windowed { windowed, .. } if windowed == side) {
                continue; // kept for good
            }
            let pads = self.pads_later() && self.keeps(side);
            state.modify(ctx, |rows| {
                rows.retain(|(r, count)| {
                    let keep = expiry.last_match(side, r).is_none_or(|l| l > timestamp);
                    if !keep && pads && *count == 0 {
                        padded.push(self.padded(side, RowKind::Insert, r));
                    }
                    keep
                })
            })?;
        }
        for row in padded {
            self.emit(ctx, row);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interval_join_holds_its_output_watermark_back_by_its_reach_and_granule() {
        // `r.t BETWEEN l.t AND l.t + 3 s`: l.t - r.t in [-3 s, 0].
        let b = IntervalBounds {
            lower: -3_000,
            upper: 0,
        };
        let interval = Expiry::Interval(0, 1, b);
        // Pairs reach 3 s back; unmatched rows are freed (and padded) in
        // granules of 3001 / 8 = 375 ms.
        assert_eq!(interval.granule(), Some(375));
        assert_eq!(interval.output_delay_ms(), 3_375);
        // A left row at 10 s is padded once the watermark passes the end of
        // the granule holding 13 s: the output watermark then is below 10 s.
        let fired_at = interval.timer_at(
            interval
                .last_match(Side::Left, &[Value::Int(10_000)])
                .unwrap_or(0),
        );
        assert!(fired_at - interval.output_delay_ms() < 10_000, "{fired_at}");
        let late_side = Expiry::Interval(
            0,
            1,
            IntervalBounds {
                lower: 1_000,
                upper: 5_000,
            },
        );
        assert_eq!(late_side.output_delay_ms(), 5_000 + 500);
        assert_eq!(Expiry::Window(0, 1).output_delay_ms(), 0);
    }

    #[test]
    fn a_row_beside_windows_is_freed_once_no_window_that_can_match_is_still_to_come() {
        // `t >= end - 10 s AND t < end`: windows ending in (t, t + 10 s].
        let expiry = Expiry::Windowed {
            windowed: Side::Right,
            time: 0,
            end: 1,
            bounds: IntervalBounds {
                lower: -10_000,
                upper: -1,
            },
        };
        let row = [Value::Timestamp(5_000)];
        // The window ending at 15 s comes while the watermark is below
        // 14 999 ms; at 14 999 nothing that matches can come.
        assert_eq!(expiry.last_match(Side::Left, &row), Some(14_999));
        assert_eq!(expiry.last_match(Side::Right, &row), None);
        assert!(!expiry.drops_late_rows());
        // Timers fall on the last ms of 1 250 ms granules (an eighth of
        // the bounds), at or after the last match.
        assert_eq!(expiry.timer_at(14_999), 14_999);
        assert_eq!(expiry.timer_at(15_000), 16_249);
        assert_eq!(expiry.timer_at(-1), -1);
        assert_eq!(expiry.timer_at(i64::MAX - 3), i64::MAX);
        assert!(Expiry::Interval(0, 0, IntervalBounds { lower: 0, upper: 0 }).drops_late_rows());
    }
}
