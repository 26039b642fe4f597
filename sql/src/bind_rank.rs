//! `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)` in a SELECT list
//! binds to a `Rank` below the projection, whose extra column the item
//! reads; a filter on that number above (`WHERE rn <= 10`, `rn < 4`,
//! `rn = 1`) becomes the Rank's limit: Flink's Top-N and deduplication.

use sqlparser::ast::{self as ast, OrderBySort, SelectItem, WindowType};

use crate::bind_expr::pos_of;
use crate::bind_query::QueryBinder;
use crate::error::Result;
use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{LogicalPlan, SortKey};
use crate::rules_join::{and_all, conjuncts};
use crate::schema::{Field, Schema};
use crate::value::{DataType, Value};

/// The name of the row-number column a `Rank` adds (not a valid SQL
/// identifier, so no table column can clash with it; `SELECT *` skips it).
pub const ROW_NUMBER_COLUMN: &str = "$row_number";

/// The most rows of one partition a Top-N keeps (its state per key).
pub const TOP_N_MAX: u64 = 100_000;

impl QueryBinder<'_> {
    /// Wraps `plan` in a `Rank` when the SELECT list has a `ROW_NUMBER()
    /// OVER (...)`; other OVER windows are refused by name.
    pub(crate) fn rank_over(&self, items: &[SelectItem], plan: LogicalPlan) -> Result<LogicalPlan> {
        let calls = crate::bind_over::over_calls(items);
        let is_rank = |f: &&&ast::Function| f.name.to_string().eq_ignore_ascii_case("ROW_NUMBER");
        let Some(f) = calls.first() else {
            return Ok(plan);
        };
        let at = pos_of(*f);
        match calls.iter().filter(is_rank).count() {
            0 => return self.over_aggregates(&calls, plan),
            n if n < calls.len() => {
                return Err(self
                    .errors
                    .unsupported(at, "ROW_NUMBER() beside OVER aggregations in one SELECT"));
            }
            _ => {}
        }
        if calls.len() > 1 {
            return Err(self
                .errors
                .unsupported(at, "several OVER windows in one SELECT"));
        }
        if !f.name.to_string().eq_ignore_ascii_case("ROW_NUMBER") {
            return Err(self.errors.unsupported(
                at,
                format!("the OVER aggregation `{}(...) OVER (...)`", f.name),
            ));
        }
        let Some(WindowType::WindowSpec(spec)) = &f.over else {
            return Err(self.errors.unsupported(at, "named windows (OVER w)"));
        };
        if spec.window_frame.is_some() {
            return Err(self
                .errors
                .unsupported(at, "a window frame on ROW_NUMBER()"));
        }
        if spec.order_by.is_empty() {
            return Err(self.errors.semantic(
                at,
                "ROW_NUMBER() needs an order; expected OVER (PARTITION BY ... ORDER BY ...)",
            ));
        }
        let input = plan.schema();
        let mut partition = Vec::new();
        for e in &spec.partition_by {
            partition.push(self.exprs().bind(e, &input, None)?.0);
        }
        let mut order = Vec::new();
        for o in &spec.order_by {
            let descending = match &o.options.sort {
                None | Some(OrderBySort::Asc) => false,
                Some(OrderBySort::Desc) => true,
                Some(OrderBySort::Using(_)) => {
                    return Err(self.errors.unsupported(pos_of(o), "ORDER BY ... USING"));
                }
            };
            if o.options.nulls_first.is_some() {
                return Err(self
                    .errors
                    .unsupported(pos_of(o), "NULLS FIRST / NULLS LAST in OVER"));
            }
            let expr = self.exprs().bind(&o.expr, &input, None)?.0;
            order.push(SortKey { expr, descending });
        }
        let mut fields = input.fields.clone();
        fields.push(Field::new(ROW_NUMBER_COLUMN, DataType::BigInt));
        Ok(LogicalPlan::Rank {
            input: Box::new(plan),
            partition,
            order,
            limit: None,
            schema: Schema {
                fields,
                rowtime: input.rowtime,
                proctime: input.proctime,
            },
        })
    }
}

/// A filter over (projections of) a `Rank` that bounds its row number
/// becomes the Rank's limit; the rest of the filter stays.
pub(crate) fn top_n(plan: LogicalPlan) -> LogicalPlan {
    let LogicalPlan::Filter { input, predicate } = plan else {
        return plan;
    };
    let Some(rank_col) = rank_column_through(&input) else {
        return LogicalPlan::Filter { input, predicate };
    };
    let mut limit: Option<u64> = None;
    let mut rest = Vec::new();
    for c in conjuncts(predicate.clone()) {
        match bound_of(&c, rank_col) {
            Some(n) => limit = Some(limit.map_or(n, |m| m.min(n))),
            None => rest.push(c),
        }
    }
    let Some(n) = limit else {
        return LogicalPlan::Filter { input, predicate };
    };
    let mut input = input;
    set_limit(&mut input, n);
    match and_all(rest) {
        Some(predicate) => LogicalPlan::Filter { input, predicate },
        None => *input,
    }
}

/// The column of `plan` that is a Rank's row number, following plain
/// column references down through projections.
fn rank_column_through(plan: &LogicalPlan) -> Option<usize> {
    match plan {
        LogicalPlan::Rank { schema, .. } => Some(schema.len() - 1),
        LogicalPlan::Project { input, exprs, .. } => {
            let below = rank_column_through(input)?;
            exprs.iter().position(|e| *e == ScalarExpr::Column(below))
        }
        _ => None,
    }
}

fn set_limit(plan: &mut LogicalPlan, n: u64) {
    match plan {
        LogicalPlan::Rank { limit, .. } => *limit = Some(limit.map_or(n, |m| m.min(n))),
        LogicalPlan::Project { input, .. } => set_limit(input, n),
        _ => {}
    }
}

/// The largest row number `c` allows when it bounds column `col` from
/// above by a constant: `col <= n`, `col < n`, `col = n` (n = 1 only:
/// other equalities are not a Top-N), or the same mirrored.
fn bound_of(c: &ScalarExpr, col: usize) -> Option<u64> {
    let ScalarExpr::Binary(op, a, b) = c else {
        return None;
    };
    let (op, n) = match (a.as_ref(), b.as_ref()) {
        (ScalarExpr::Column(i), ScalarExpr::Literal(Value::Int(n))) if *i == col => (*op, *n),
        (ScalarExpr::Literal(Value::Int(n)), ScalarExpr::Column(i)) if *i == col => {
            (mirror(*op)?, *n)
        }
        _ => return None,
    };
    let bound = match op {
        BinOp::LtEq => n,
        BinOp::Lt => n - 1,
        BinOp::Eq if n == 1 => 1,
        _ => return None,
    };
    u64::try_from(bound).ok()
}

fn mirror(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::GtEq => BinOp::LtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::Eq => BinOp::Eq,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(op: BinOp, a: ScalarExpr, b: ScalarExpr) -> ScalarExpr {
        ScalarExpr::Binary(op, Box::new(a), Box::new(b))
    }

    #[test]
    fn bounds_on_the_row_number_are_recognised() {
        let col = ScalarExpr::Column(3);
        let n = |v| ScalarExpr::Literal(Value::Int(v));
        assert_eq!(bound_of(&cmp(BinOp::LtEq, col.clone(), n(10)), 3), Some(10));
        assert_eq!(bound_of(&cmp(BinOp::Lt, col.clone(), n(4)), 3), Some(3));
        assert_eq!(bound_of(&cmp(BinOp::Eq, col.clone(), n(1)), 3), Some(1));
        assert_eq!(bound_of(&cmp(BinOp::GtEq, n(5), col.clone()), 3), Some(5));
        assert_eq!(bound_of(&cmp(BinOp::Eq, col.clone(), n(2)), 3), None);
        assert_eq!(bound_of(&cmp(BinOp::Gt, col.clone(), n(2)), 3), None);
        assert_eq!(
            bound_of(&cmp(BinOp::LtEq, ScalarExpr::Column(2), n(2)), 3),
            None
        );
        assert_eq!(
            bound_of(&cmp(BinOp::Lt, col, n(0)), 3),
            None,
            "no row qualifies"
        );
    }
}
