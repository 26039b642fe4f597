//! Join rules: a `WHERE` over an inner join becomes its condition, and the
//! parts of a join condition that read one side only move below the join
//! as filters on that side when that side is not preserved by an outer
//! join (the join keeps the same rows either way, and the side then
//! stores and ships fewer).

use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{JoinType, LogicalPlan};
use crate::rules::{max_column, substitute, visit};

/// Rewrites `plan` when it is a join, or a filter over an inner join.
pub(crate) fn push_into_join(plan: LogicalPlan) -> LogicalPlan {
    let plan = match plan {
        LogicalPlan::Filter { input, predicate } => match *input {
            // Over an outer join a WHERE also removes padded rows, which
            // an ON condition would keep: only an inner join takes it in.
            LogicalPlan::Join {
                kind: JoinType::Inner,
                left,
                right,
                condition,
                schema,
            } => LogicalPlan::Join {
                kind: JoinType::Inner,
                left,
                right,
                condition: and_all(condition.into_iter().chain([predicate]).collect()),
                schema,
            },
            other => {
                return LogicalPlan::Filter {
                    input: Box::new(other),
                    predicate,
                };
            }
        },
        other => other,
    };
    let LogicalPlan::Join {
        kind,
        left,
        right,
        condition: Some(condition),
        schema,
    } = plan
    else {
        return plan;
    };
    let n = left.schema().len();
    let (mut on_left, mut on_right, mut both) = (Vec::new(), Vec::new(), Vec::new());
    for c in conjuncts(condition) {
        // A condition on a preserved side decides matching, not which of
        // its rows exist: it stays in the join.
        match (min_column(&c), max_column(&c)) {
            (Some(_), Some(hi)) if hi < n && !kind.keeps_left() => on_left.push(c),
            (Some(lo), Some(_)) if lo >= n && !kind.keeps_right() => {
                on_right.push(shift_down(&c, n))
            }
            _ => both.push(c),
        }
    }
    let below = |input: Box<LogicalPlan>, preds: Vec<ScalarExpr>| match and_all(preds) {
        Some(predicate) => Box::new(LogicalPlan::Filter { input, predicate }),
        None => input,
    };
    LogicalPlan::Join {
        kind,
        left: below(left, on_left),
        right: below(right, on_right),
        condition: and_all(both),
        schema,
    }
}

/// The `AND`ed parts of `e`.
pub(crate) fn conjuncts(e: ScalarExpr) -> Vec<ScalarExpr> {
    match e {
        ScalarExpr::Binary(BinOp::And, a, b) => {
            let mut out = conjuncts(*a);
            out.extend(conjuncts(*b));
            out
        }
        other => vec![other],
    }
}

/// `a AND b AND ...`, or `None` for no parts.
pub(crate) fn and_all(parts: Vec<ScalarExpr>) -> Option<ScalarExpr> {
    parts
        .into_iter()
        .reduce(|a, b| ScalarExpr::Binary(BinOp::And, Box::new(a), Box::new(b)))
}

/// The smallest column index `e` reads, if any.
pub(crate) fn min_column(e: &ScalarExpr) -> Option<usize> {
    let mut m: Option<usize> = None;
    visit(e, &mut |x| {
        if let ScalarExpr::Column(i) = x {
            m = Some(m.map_or(*i, |v| v.min(*i)));
        }
    });
    m
}

/// `e` with every column index lowered by `n` (all are at least `n`):
/// an expression over the joined row moved onto the right side's row.
pub(crate) fn shift_down(e: &ScalarExpr, n: usize) -> ScalarExpr {
    let width = max_column(e).map_or(0, |m| m + 1);
    let inputs: Vec<ScalarExpr> = (0..width)
        .map(|i| ScalarExpr::Column(i.saturating_sub(n)))
        .collect();
    substitute(e, &inputs)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::TableDef;
    use crate::schema::{Field, Schema};
    use crate::value::{DataType, Value};

    fn eq(a: usize, b: usize) -> ScalarExpr {
        ScalarExpr::Binary(
            BinOp::Eq,
            Box::new(ScalarExpr::Column(a)),
            Box::new(ScalarExpr::Column(b)),
        )
    }

    fn is(a: usize, v: i64) -> ScalarExpr {
        ScalarExpr::Binary(
            BinOp::Eq,
            Box::new(ScalarExpr::Column(a)),
            Box::new(ScalarExpr::Literal(Value::Int(v))),
        )
    }

    fn scan(name: &str, n: usize) -> LogicalPlan {
        let fields = (0..n)
            .map(|i| Field::new(format!("c{i}"), DataType::BigInt))
            .collect();
        LogicalPlan::Scan {
            table: Arc::new(TableDef {
                name: name.into(),
                schema: Schema::new(fields),
                computed: vec![None; n],
                watermark: None,
                options: Default::default(),
                temporary: false,
                primary_key: Vec::new(),
                partition_keys: Vec::new(),
            }),
        }
    }

    #[test]
    fn single_side_conditions_move_below_the_join() {
        let plan = LogicalPlan::Filter {
            input: Box::new(crate::bind_join::join(
                JoinType::Inner,
                scan("l", 2),
                scan("r", 3),
                None,
            )),
            predicate: and_all(vec![is(0, 10), eq(1, 3), is(4, 7)]).unwrap_or(is(0, 0)),
        };
        let LogicalPlan::Join {
            left,
            right,
            condition,
            ..
        } = push_into_join(plan)
        else {
            panic!("expected a join");
        };
        assert_eq!(condition, Some(eq(1, 3)), "the cross-side part stays");
        match (*left, *right) {
            (
                LogicalPlan::Filter { predicate: l, .. },
                LogicalPlan::Filter { predicate: r, .. },
            ) => {
                assert_eq!(l, is(0, 10));
                assert_eq!(r, is(2, 7), "right-side columns are renumbered");
            }
            other => panic!("expected a filter on each side, got {other:?}"),
        }
    }

    #[test]
    fn a_left_join_keeps_conditions_on_its_left_side_and_takes_no_where() {
        let cond = and_all(vec![is(0, 10), eq(1, 3), is(4, 7)]);
        let join = crate::bind_join::join(JoinType::Left, scan("l", 2), scan("r", 3), cond);
        let LogicalPlan::Join {
            left,
            right,
            condition,
            ..
        } = push_into_join(join)
        else {
            panic!("expected a join");
        };
        assert_eq!(condition, and_all(vec![is(0, 10), eq(1, 3)]));
        assert!(matches!(*left, LogicalPlan::Scan { .. }));
        assert!(matches!(*right, LogicalPlan::Filter { .. }));
        let over = LogicalPlan::Filter {
            input: Box::new(crate::bind_join::join(
                JoinType::Left,
                scan("l", 2),
                scan("r", 3),
                Some(eq(1, 3)),
            )),
            predicate: is(4, 7),
        };
        assert!(
            matches!(push_into_join(over), LogicalPlan::Filter { .. }),
            "a WHERE stays above an outer join"
        );
    }

    #[test]
    fn conjuncts_split_and_join_again() {
        let parts = vec![is(0, 1), eq(1, 2), is(3, 4)];
        let all = and_all(parts.clone());
        assert_eq!(all.map(conjuncts), Some(parts));
        assert_eq!(and_all(Vec::new()), None);
        assert_eq!(min_column(&eq(5, 3)), Some(3));
        assert_eq!(shift_down(&eq(5, 3), 3), eq(2, 0));
    }
}
