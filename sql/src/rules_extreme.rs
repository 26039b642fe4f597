//! A join of a relation with its own tumbling-window `MAX` (or `MIN`), on
//! equality with it and window membership, becomes `WindowExtremeRows`:
//! Nexmark q7's "bids at the highest price of each window".
//!
//! As a join it keeps every row of the relation keyed by the aggregated
//! value until its window closes (the other side only exists then); what
//! it means is a per-window extreme with the rows at it, which needs only
//! the rows at each partial extreme. The rows it emits are the join's.

use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{AggFunc, JoinType, LogicalPlan, WindowColumn, WindowGroup, WindowKind};
use crate::rules::identity;
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
    size_ms: i64,
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
    if without_renames(left) != without_renames(r.input) || !left.is_insert_only() {
        return None;
    }
    let time = left.schema().rowtime?;
    let n = left.schema().len();
    // The right side's columns of the extreme and the window bounds.
    let extreme_at = r.group.len();
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
        right_col(extreme_at)?,
        group_col(WindowColumn::Start)?,
        group_col(WindowColumn::End)?,
    );
    let parts: Vec<Normal> = conjuncts(condition.clone())
        .iter()
        .map(|c| normal(c, n))
        .collect::<Option<_>>()?;
    let t = ScalarExpr::Column(time);
    let want = [
        Normal(r.value.clone(), BinOp::Eq, extreme),
        Normal(t.clone(), BinOp::GtEq, start),
        Normal(t, BinOp::Lt, end),
    ];
    // Three distinct parts, each one of the three wanted.
    if parts.len() != want.len() || !want.iter().all(|w| parts.contains(w)) {
        return None;
    }
    Some(LogicalPlan::WindowExtremeRows {
        input: left.clone(),
        size_ms: r.size_ms,
        value: r.value.clone(),
        max: r.max,
        group: r.group.to_vec(),
        right: r.exprs,
        schema: schema.clone(),
    })
}

/// `Calc`/`Project` (no filter) over a tumbling, event-time window
/// aggregate grouped by window columns only, with one `MAX` or `MIN`.
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
        kind: WindowKind::Tumble { size_ms },
        proctime: false,
        group,
        aggs,
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
        size_ms: *size_ms,
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

/// `plan` under projections that only rename (a `FROM t AS b` alias).
fn without_renames(plan: &LogicalPlan) -> &LogicalPlan {
    match plan {
        LogicalPlan::Calc {
            input,
            filter: None,
            exprs,
            ..
        }
        | LogicalPlan::Project { input, exprs, .. }
            if *exprs == identity(&input.schema()) =>
        {
            without_renames(input)
        }
        other => other,
    }
}
