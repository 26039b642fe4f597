//! The time bounds of an interval join: conditions between the two sides'
//! time attributes such as `l.t BETWEEN r.t - INTERVAL '5' SECOND AND
//! r.t`, read as `l.t - r.t ∈ [lower, upper]` (ms, inclusive). With both
//! bounds a stored row can be dropped once the watermark passes the last
//! time a row of the other side could still match it.

use crate::expr::{BinOp, ScalarExpr};
use crate::value::Value;

/// `l.t - r.t ∈ [lower, upper]`, in ms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IntervalBounds {
    pub lower: i64,
    pub upper: i64,
}

/// The bounds that `conditions` (over `[left..., right...]`, the left side
/// `width` columns wide) put on `left_time - right_time`; `None` unless
/// both a lower and an upper bound are found.
pub(crate) fn interval_bounds(
    conditions: &[ScalarExpr],
    width: usize,
    (left_time, right_time): (usize, usize),
) -> Option<IntervalBounds> {
    let (mut lower, mut upper) = (None::<i64>, None::<i64>);
    for c in conditions {
        let ScalarExpr::Binary(op, a, b) = c else {
            continue;
        };
        let (Some((ca, oa)), Some((cb, ob))) = (shifted_column(a), shifted_column(b)) else {
            continue;
        };
        let right = width + right_time;
        // `l + oa OP r + ob` is `l - r OP ob - oa`; the mirrored form flips OP.
        let (op, bound) = if (ca, cb) == (left_time, right) {
            (*op, ob.checked_sub(oa)?)
        } else if (ca, cb) == (right, left_time) {
            (flipped(*op)?, oa.checked_sub(ob)?)
        } else {
            continue;
        };
        match op {
            BinOp::GtEq => lower = Some(lower.map_or(bound, |l| l.max(bound))),
            BinOp::Gt => lower = Some(lower.map_or(bound + 1, |l| l.max(bound + 1))),
            BinOp::LtEq => upper = Some(upper.map_or(bound, |u| u.min(bound))),
            BinOp::Lt => upper = Some(upper.map_or(bound - 1, |u| u.min(bound - 1))),
            _ => {}
        }
    }
    Some(IntervalBounds {
        lower: lower?,
        upper: upper?,
    })
}

/// `a OP b` as `b OP' a`.
fn flipped(op: BinOp) -> Option<BinOp> {
    Some(match op {
        BinOp::Lt => BinOp::Gt,
        BinOp::LtEq => BinOp::GtEq,
        BinOp::Gt => BinOp::Lt,
        BinOp::GtEq => BinOp::LtEq,
        _ => return None,
    })
}

/// `col`, `col + INTERVAL` or `col - INTERVAL` as (column, offset in ms).
pub(crate) fn shifted_column(e: &ScalarExpr) -> Option<(usize, i64)> {
    match e {
        ScalarExpr::Column(i) => Some((*i, 0)),
        ScalarExpr::Binary(op @ (BinOp::Add | BinOp::Sub), a, b) => {
            let (ScalarExpr::Column(i), ScalarExpr::Literal(Value::Interval(ms))) = (&**a, &**b)
            else {
                return None;
            };
            Some((*i, if *op == BinOp::Add { *ms } else { -*ms }))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(i: usize) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Column(i))
    }

    fn shifted(i: usize, op: BinOp, ms: i64) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Binary(
            op,
            col(i),
            Box::new(ScalarExpr::Literal(Value::Interval(ms))),
        ))
    }

    #[test]
    fn between_and_mirrored_comparisons_give_both_bounds() {
        // Left is 3 columns wide, its time is column 1; the right's time is
        // its column 0, i.e. column 3 of the joined row.
        let between = [
            ScalarExpr::Binary(BinOp::GtEq, col(1), shifted(3, BinOp::Sub, 5_000)),
            ScalarExpr::Binary(BinOp::LtEq, col(1), col(3)),
        ];
        assert_eq!(
            interval_bounds(&between, 3, (1, 0)),
            Some(IntervalBounds {
                lower: -5_000,
                upper: 0
            })
        );
        // `r.t > l.t - 1 s AND r.t + 2 s >= l.t`: l - r < 1 s, l - r <= 2 s.
        let mirrored = [
            ScalarExpr::Binary(BinOp::Gt, col(3), shifted(1, BinOp::Sub, 1_000)),
            ScalarExpr::Binary(BinOp::GtEq, shifted(3, BinOp::Add, 2_000), col(1)),
            ScalarExpr::Binary(BinOp::GtEq, col(1), shifted(3, BinOp::Sub, 60_000)),
        ];
        assert_eq!(
            interval_bounds(&mirrored, 3, (1, 0)),
            Some(IntervalBounds {
                lower: -60_000,
                upper: 999
            })
        );
    }

    #[test]
    fn one_bound_or_other_columns_are_no_interval() {
        let one = [ScalarExpr::Binary(BinOp::LtEq, col(1), col(3))];
        assert_eq!(interval_bounds(&one, 3, (1, 0)), None);
        let other_column = [
            ScalarExpr::Binary(BinOp::GtEq, col(2), col(3)),
            ScalarExpr::Binary(BinOp::LtEq, col(2), col(3)),
        ];
        assert_eq!(interval_bounds(&other_column, 3, (1, 0)), None);
    }
}
