//! A join of a relation with its own per-window `MAX` (or `MIN`), on
//! equality with it and window membership, becomes `WindowExtremeRows`:
//! Nexmark q7's "bids at the highest price of each tumbling window", and
//! q5's "auctions with the most bids in each hopping window" (where the
//! relation is itself a window aggregate whose rows carry their windows).
//!
//! As a join it keeps every row of the relation until its window's
//! extreme exists (when the window closes); what it means is a per-window
//! extreme with the rows at it, which needs only the rows at each partial
//! extreme. The rows it emits are the join's.

use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{
    AggFunc, ExtremeWindows, JoinType, LogicalPlan, WindowColumn, WindowGroup, WindowKind,
};
use crate::rules::{identity, substitute};
use crate::rules_join::conjuncts;

/// Rewrites `plan` when it is such a join; returns it unchanged otherwise.
pub(crate) fn window_extreme_rows(plan: LogicalPlan) -> LogicalPlan {
    match matched(&plan) {
        Some(rewritten) => rewritten,
        None => plan,
    }
}

/// The window aggregate under the join's right side, with the right
/// side's expressions over its row.
struct RightSide<'a> {
    input: &'a LogicalPlan,
    kind: WindowKind,
    group: &'a [WindowGroup],
    value: &'a ScalarExpr,
    max: bool,
    exprs: Vec<ScalarExpr>,
}

fn matched(plan: &LogicalPlan) -> Option<LogicalPlan> {
    let LogicalPlan::Join {
        kind: JoinType::Inner,
        left,
        right,
        condition: Some(condition),
        schema,
    } = plan
    else {
        return None;
    };
    let r = right_side(right)?;
    // Both sides must read one relation, through projections of it.
    let (left_base, left_cols) = base(left);
    let (right_base, right_cols) = base(r.input);
    if left_base != right_base || !left.is_insert_only() {
        return None;
    }
    let on_base = |e: &ScalarExpr, cols: &[ScalarExpr]| substitute(e, cols);
    let n = left.schema().len();
    // The join's columns of the extreme and of the window bounds.
    let right_col = |target: usize| {
        r.exprs
            .iter()
            .position(|e| *e == ScalarExpr::Column(target))
            .map(|p| n + p)
    };
    let group_col = |w: WindowColumn| {
        r.group
            .iter()
            .position(|g| *g == WindowGroup::Window(w))
            .and_then(right_col)
    };
    let (extreme, start, end) = (
        right_col(r.group.len())?,
        group_col(WindowColumn::Start)?,
        group_col(WindowColumn::End)?,
    );
    let parts: Vec<Normal> = conjuncts(condition.clone())
        .iter()
        .map(|c| normal(c, n))
        .collect::<Option<_>>()?;
    let part = |col: usize| parts.iter().find(|p| p.2 == col);
    if parts.len() != 3 {
        return None;
    }
    // `v = extreme`, or `v >= MAX(v)` / `v <= MIN(v)`, which only the rows
    // at the extreme meet.
    let at_extreme = part(extreme)?;
    let op_ok = match at_extreme.1 {
        BinOp::Eq => true,
        BinOp::GtEq => r.max,
        BinOp::LtEq => !r.max,
        _ => false,
    };
    // A column: reading it cannot fail, where an expression that fails on
    // some row would have failed the join's job (the operator's
    // accumulator has no way to report it).
    let is_column = matches!(at_extreme.0, ScalarExpr::Column(_));
    if !op_ok || !is_column || on_base(&at_extreme.0, &left_cols) != on_base(r.value, &right_cols) {
        return None;
    }
    let (s, e) = (part(start)?, part(end)?);
    let windows = match r.kind {
        WindowKind::Tumble { size_ms } => {
            // `t >= window_start AND t < window_end` over the rowtime.
            let t = ScalarExpr::Column(left.schema().rowtime?);
            let same_time = r.input.schema().rowtime.is_some_and(|it| {
                on_base(&t, &left_cols) == on_base(&ScalarExpr::Column(it), &right_cols)
            });
            let bounds = (s.0 == t && s.1 == BinOp::GtEq) && (e.0 == t && e.1 == BinOp::Lt);
            if !(same_time && bounds) {
                return None;
            }
            ExtremeWindows::Tumble { size_ms }
        }
        WindowKind::Attached { start_col, end_col } => {
            // `start = window_start AND end = window_end`: the windows the
            // rows carry.
            let same = |p: &Normal, col: usize| {
                p.1 == BinOp::Eq
                    && on_base(&p.0, &left_cols) == on_base(&ScalarExpr::Column(col), &right_cols)
            };
            let (ScalarExpr::Column(sc), ScalarExpr::Column(ec)) = (&s.0, &e.0) else {
                return None;
            };
            if !(same(s, start_col) && same(e, end_col)) {
                return None;
            }
            ExtremeWindows::Attached {
                start_col: *sc,
                end_col: *ec,
            }
        }
        _ => return None,
    };
    Some(LogicalPlan::WindowExtremeRows {
        input: left.clone(),
        windows,
        value: at_extreme.0.clone(),
        max: r.max,
        group: r.group.to_vec(),
        right: r.exprs,
        schema: schema.clone(),
    })
}

/// `Calc`/`Project` (no filter) over a tumbling or attached-window,
/// event-time window aggregate grouped by window columns only, with one
/// `MAX` or `MIN`.
fn right_side(plan: &LogicalPlan) -> Option<RightSide<'_>> {
    let (wa, exprs) = match plan {
        LogicalPlan::Calc {
            input,
            filter: None,
            exprs,
            ..
        }
        | LogicalPlan::Project { input, exprs, .. } => (input.as_ref(), Some(exprs.clone())),
        other => (other, None),
    };
    let LogicalPlan::WindowAggregate {
        input,
        kind: kind @ (WindowKind::Tumble { .. } | WindowKind::Attached { .. }),
        proctime: false,
        group,
        aggs,
        sessions: None,
        schema,
    } = wa
    else {
        return None;
    };
    let [agg] = aggs.as_slice() else {
        return None;
    };
    let max = match agg.func {
        AggFunc::Max => true,
        AggFunc::Min => false,
        _ => return None,
    };
    if !group.iter().all(|g| matches!(g, WindowGroup::Window(_))) {
        return None;
    }
    Some(RightSide {
        input,
        kind: *kind,
        group,
        value: agg.arg.as_ref()?,
        max,
        exprs: exprs.unwrap_or_else(|| identity(schema)),
    })
}

/// A comparison with the left side's expression first: `left op right
/// column` (`op` one of `=`, `>=`, `<`, ...).
#[derive(Debug, Clone, PartialEq)]
struct Normal(ScalarExpr, BinOp, usize);

/// `c` as a [`Normal`] over `n` left columns, if it compares a left
/// expression with one right column.
fn normal(c: &ScalarExpr, n: usize) -> Option<Normal> {
    let ScalarExpr::Binary(op, a, b) = c else {
        return None;
    };
    let left_only = |e: &ScalarExpr| crate::rules::max_column(e).is_some_and(|m| m < n);
    let right_col = |e: &ScalarExpr| match e {
        ScalarExpr::Column(j) if *j >= n => Some(*j),
        _ => None,
    };
    let flipped = match op {
        BinOp::Eq => BinOp::Eq,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        BinOp::Lt => BinOp::Gt,
        _ => return None,
    };
    if left_only(a) {
        Some(Normal((**a).clone(), *op, right_col(b)?))
    } else if left_only(b) {
        Some(Normal((**b).clone(), flipped, right_col(a)?))
    } else {
        None
    }
}

/// The relation under `plan`'s projections (no filter), and each of
/// `plan`'s columns as an expression over it.
fn base(plan: &LogicalPlan) -> (&LogicalPlan, Vec<ScalarExpr>) {
    match plan {
        LogicalPlan::Calc {
            input,
            filter: None,
            exprs,
            ..
        }
        | LogicalPlan::Project { input, exprs, .. } => {
            let (b, cols) = base(input);
            (b, exprs.iter().map(|e| substitute(e, &cols)).collect())
        }
        other => (other, identity(&other.schema())),
    }
}
