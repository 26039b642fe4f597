//! A `Calc`'s projection applied to a row it owns.
//!
//! Most projections keep some columns in their order and compute a few
//! more (nexmark's q1 keeps five of seven bid columns and scales one).
//! Since the calc owns its input row, kept columns are moved, not cloned,
//! and when every kept column moves to a position at or before its own,
//! in increasing order, the output is built in the input's own vector: no
//! allocation per row. A pure pass-through (a filter's projection) returns
//! the row as it is.

use smallvec::SmallVec;

use crate::compiled::CompiledExpr;
use crate::expr::ScalarExpr;
use crate::row::Row;
use crate::value::{DataType, Value};

#[derive(Clone, Debug)]
enum Out {
    /// The input's column, used here for the last time.
    Move(usize),
    /// The input's column, also used by a later output.
    Clone(usize),
    /// A computed value.
    Eval(CompiledExpr),
}

/// The outputs of a projection, planned once per operator.
#[derive(Clone, Debug)]
pub(crate) struct Projection {
    outs: Vec<Out>,
    /// Every output is `Move(k)` at position `k`.
    identity: bool,
    /// The output can be built in the input row's vector.
    in_place: bool,
}

impl Projection {
    /// Plans `exprs` over rows whose columns have `types`.
    pub(crate) fn new(exprs: &[ScalarExpr], types: &[DataType]) -> Self {
        let mut outs: Vec<Out> = exprs
            .iter()
            .map(|e| match e {
                ScalarExpr::Column(i) => Out::Clone(*i),
                e => Out::Eval(CompiledExpr::new(e, types)),
            })
            .collect();
        // The last use of each column takes it.
        for k in (0..outs.len()).rev() {
            if let Some(Out::Clone(i)) = outs.get(k).cloned()
                && !outs
                    .iter()
                    .skip(k + 1)
                    .any(|o| matches!(o, Out::Move(j) if *j == i))
                && let Some(o) = outs.get_mut(k)
            {
                *o = Out::Move(i);
            }
        }
        let identity = outs
            .iter()
            .enumerate()
            .all(|(k, o)| matches!(o, Out::Move(i) if *i == k));
        let mut last = None;
        let in_place = outs.iter().enumerate().all(|(k, o)| match o {
            Out::Move(i) => {
                let ok = *i >= k && last.is_none_or(|l| *i > l);
                last = Some(*i);
                ok
            }
            Out::Clone(_) => false,
            Out::Eval(_) => true,
        });
        Projection {
            outs,
            identity,
            in_place,
        }
    }

    /// The projected row; the row kind passes through.
    pub(crate) fn apply(&self, mut row: Row) -> Result<Row, String> {
        let n = self.outs.len();
        if self.identity && row.values.len() == n {
            return Ok(row);
        }
        if self.in_place && row.values.len() >= n {
            // Computed before any column moves; inline, as a projection
            // computes few values (no allocation per row).
            let mut computed: SmallVec<[Value; 4]> = SmallVec::new();
            for o in &self.outs {
                if let Out::Eval(e) = o {
                    computed.push(e.eval(&row)?);
                }
            }
            let mut computed = computed.into_iter();
            for (k, o) in self.outs.iter().enumerate() {
                // Moves read positions at or after `k`, not yet written.
                let v = match o {
                    Out::Move(i) if *i == k => continue,
                    Out::Move(i) => take(&mut row.values, *i),
                    _ => computed.next().unwrap_or(Value::Null),
                };
                if let Some(slot) = row.values.get_mut(k) {
                    *slot = v;
                }
            }
            row.values.truncate(n);
            return Ok(row);
        }
        let mut values = crate::row_pool::take(n);
        for o in &self.outs {
            values.push(match o {
                Out::Eval(e) => e.eval(&row)?,
                Out::Clone(i) => row.get(*i).clone(),
                Out::Move(_) => Value::Null,
            });
        }
        for (slot, o) in values.iter_mut().zip(&self.outs) {
            if let Out::Move(i) = o {
                *slot = take(&mut row.values, *i);
            }
        }
        let kind = row.kind;
        crate::row_pool::recycle(row.values);
        Ok(Row::of(kind, values))
    }
}

fn take(values: &mut [Value], i: usize) -> Value {
    values
        .get_mut(i)
        .map(|v| std::mem::replace(v, Value::Null))
        .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::BinOp;
    use crate::row::RowKind;
    use proptest::prelude::*;

    fn interpreted(exprs: &[ScalarExpr], row: &Row) -> Result<Row, String> {
        let values = exprs
            .iter()
            .map(|e| e.eval(row))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Row::of(row.kind, values))
    }

    fn output() -> impl Strategy<Value = ScalarExpr> {
        prop_oneof![
            3 => (0usize..6).prop_map(ScalarExpr::Column),
            1 => (0usize..6).prop_map(|i| ScalarExpr::Binary(
                BinOp::Add,
                Box::new(ScalarExpr::Column(i)),
                Box::new(ScalarExpr::Literal(Value::Int(1))),
            )),
        ]
    }

    proptest! {
        /// Moving, cloning and building in place give the interpreter's row.
        #[test]
        fn a_projection_equals_evaluating_each_output(
            exprs in proptest::collection::vec(output(), 0..8),
            ints in proptest::collection::vec(-3i64..3, 5),
        ) {
            let mut values: Vec<Value> = ints.into_iter().map(Value::Int).collect();
            values.push(Value::Str("s".into()));
            let row = Row::of(RowKind::UpdateAfter, values);
            let types = [DataType::BigInt; 5];
            let p = Projection::new(&exprs, &types);
            prop_assert_eq!(p.apply(row.clone()), interpreted(&exprs, &row));
        }
    }

    #[test]
    fn nexmark_q1_is_built_in_place_and_a_filter_passes_the_row_through() {
        use ScalarExpr::*;
        let scaled = Binary(
            BinOp::Mul,
            Box::new(Literal(Value::Double(0.908))),
            Box::new(Cast(Box::new(Column(2)), DataType::Double, false)),
        );
        let q1 = [Column(0), Column(1), scaled, Column(5), Column(6)];
        let p = Projection::new(&q1, &[DataType::BigInt; 7]);
        assert!(p.in_place && !p.identity);
        let all: Vec<ScalarExpr> = (0..7).map(Column).collect();
        assert!(Projection::new(&all, &[]).identity);
        let swapped = [Column(1), Column(0)];
        assert!(!Projection::new(&swapped, &[]).in_place);
    }
}
