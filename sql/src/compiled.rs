//! Scalar expressions compiled against their input's column types.
//!
//! The interpreter ([`ScalarExpr::eval`]) builds a [`Value`] at every node
//! and matches on both operands' variants at every operator. Where the
//! planned types are known (a `BIGINT` column, an integer literal, a
//! comparison of two numbers...), [`CompiledExpr`] instead builds a tree of
//! typed closures once per operator: an integer node yields an `i64`, a
//! comparison a `bool`, and no `Value` exists until the result. What it
//! cannot type (strings, functions other than `MOD`, `CASE`, casts between
//! other types...) runs in the interpreter, subtree and all, so every
//! expression keeps the interpreter's exact semantics: NULL propagation,
//! three-valued logic, wrapping integer arithmetic and its errors. A
//! proptest checks the two agree on random expressions.

use std::cmp::Ordering;
use std::sync::Arc;

use crate::expr::{BinOp, EvalResult, ScalarExpr};
use crate::function::Func;
use crate::row::Row;
use crate::value::{DataType, Value};

/// A typed evaluation: `Ok(None)` is SQL NULL.
type Typed<T> = Result<Option<T>, String>;

/// A compiled node yielding `T`.
type Fx<T> = Arc<dyn Fn(&Row) -> Typed<T> + Send + Sync>;

#[derive(Clone)]
enum Node {
    /// `BIGINT`.
    Int(Fx<i64>),
    /// `TIMESTAMP(3)`, in ms.
    Time(Fx<i64>),
    /// `DOUBLE`.
    Double(Fx<f64>),
    /// `BOOLEAN`.
    Bool(Fx<bool>),
    /// Anything else: interpreted.
    Other(Arc<ScalarExpr>),
}

/// A scalar expression ready to evaluate per row; see the module docs.
#[derive(Clone)]
pub struct CompiledExpr(Node);

impl std::fmt::Debug for CompiledExpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.0 {
            Node::Int(_) => "CompiledExpr(BIGINT)",
            Node::Time(_) => "CompiledExpr(TIMESTAMP)",
            Node::Double(_) => "CompiledExpr(DOUBLE)",
            Node::Bool(_) => "CompiledExpr(BOOLEAN)",
            Node::Other(_) => "CompiledExpr(interpreted)",
        })
    }
}

impl CompiledExpr {
    /// Compiles `expr` over rows whose column `i` has type `types[i]` (a
    /// column past the end of `types` is of unknown type: interpreted).
    pub fn new(expr: &ScalarExpr, types: &[DataType]) -> Self {
        CompiledExpr(compile(expr, types))
    }

    /// Evaluates on `row`; equal to [`ScalarExpr::eval`].
    #[inline]
    pub fn eval(&self, row: &Row) -> EvalResult {
        Ok(match &self.0 {
            Node::Int(f) => f(row)?.map_or(Value::Null, Value::Int),
            Node::Time(f) => f(row)?.map_or(Value::Null, Value::Timestamp),
            Node::Double(f) => f(row)?.map_or(Value::Null, Value::Double),
            Node::Bool(f) => f(row)?.map_or(Value::Null, Value::Bool),
            Node::Other(e) => e.eval(row)?,
        })
    }

    /// True when the expression is `TRUE` on `row`; equal to [`ScalarExpr::is_true`].
    #[inline]
    pub fn is_true(&self, row: &Row) -> Result<bool, String> {
        match &self.0 {
            Node::Bool(f) => Ok(f(row)? == Some(true)),
            _ => Ok(self.eval(row)?.as_bool() == Some(true)),
        }
    }

    /// False when the whole expression runs in the interpreter.
    pub fn is_typed(&self) -> bool {
        !matches!(self.0, Node::Other(_))
    }
}

fn other(e: &ScalarExpr) -> Node {
    Node::Other(Arc::new(e.clone()))
}

fn compile(e: &ScalarExpr, types: &[DataType]) -> Node {
    let compiled = match e {
        ScalarExpr::Column(i) => column(*i, types.get(*i).copied()),
        ScalarExpr::Literal(v) => literal(v),
        ScalarExpr::Binary(op, l, r) => binary(*op, compile(l, types), compile(r, types), r),
        ScalarExpr::Not(x) => match compile(x, types) {
            Node::Bool(f) => Some(Node::Bool(Arc::new(move |row| Ok(f(row)?.map(|b| !b))))),
            _ => None,
        },
        ScalarExpr::Neg(x) => match compile(x, types) {
            Node::Int(f) => Some(Node::Int(Arc::new(move |row| {
                Ok(f(row)?.map(i64::wrapping_neg))
            }))),
            Node::Double(f) => Some(Node::Double(Arc::new(move |row| Ok(f(row)?.map(|d| -d))))),
            _ => None,
        },
        ScalarExpr::IsNull(x, negated) => Some(is_null(compile(x, types), *negated)),
        ScalarExpr::Cast(x, DataType::Double, _) => match compile(x, types) {
            Node::Double(f) => Some(Node::Double(f)),
            Node::Int(f) => Some(Node::Double(widen(f))),
            _ => None,
        },
        ScalarExpr::Cast(x, DataType::BigInt, _) => match compile(x, types) {
            Node::Int(f) => Some(Node::Int(f)),
            _ => None,
        },
        ScalarExpr::Call(Func::Mod, args) => match args.as_slice() {
            [a, b] => match (compile(a, types), compile(b, types)) {
                (Node::Int(a), Node::Int(b)) => Some(int_op(BinOp::Mod, a, b)),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    compiled.unwrap_or_else(|| other(e))
}

fn mismatch(i: usize, v: &Value, planned: &str) -> String {
    format!("internal error: column {i} holds '{v}' where the plan has {planned}")
}

fn column(i: usize, ty: Option<DataType>) -> Option<Node> {
    Some(match ty? {
        DataType::BigInt => Node::Int(read(i, "BIGINT", |v| match v {
            Value::Int(x) => Some(*x),
            _ => None,
        })),
        DataType::Timestamp => Node::Time(read(i, "TIMESTAMP", |v| match v {
            Value::Timestamp(x) => Some(*x),
            _ => None,
        })),
        DataType::Double => Node::Double(read(i, "DOUBLE", |v| match v {
            Value::Double(x) => Some(*x),
            _ => None,
        })),
        DataType::Boolean => Node::Bool(read(i, "BOOLEAN", |v| match v {
            Value::Bool(x) => Some(*x),
            _ => None,
        })),
        _ => return None,
    })
}

/// Reads column `i` with `pick` (a closure, so each type's read inlines):
/// NULL is `None`; a value `pick` refuses is an error naming the column.
fn read<T, P>(i: usize, planned: &'static str, pick: P) -> Fx<T>
where
    T: 'static,
    P: Fn(&Value) -> Option<T> + Send + Sync + 'static,
{
    Arc::new(move |row| match row.get(i) {
        Value::Null => Ok(None),
        v => pick(v).map(Some).ok_or_else(|| mismatch(i, v, planned)),
    })
}

fn literal(v: &Value) -> Option<Node> {
    Some(match *v {
        Value::Int(x) => Node::Int(Arc::new(move |_| Ok(Some(x)))),
        Value::Timestamp(x) => Node::Time(Arc::new(move |_| Ok(Some(x)))),
        Value::Double(x) => Node::Double(Arc::new(move |_| Ok(Some(x)))),
        Value::Bool(x) => Node::Bool(Arc::new(move |_| Ok(Some(x)))),
        _ => return None,
    })
}

fn widen(f: Fx<i64>) -> Fx<f64> {
    Arc::new(move |row| Ok(f(row)?.map(|x| x as f64)))
}

fn is_null(x: Node, negated: bool) -> Node {
    fn test<T: 'static>(f: Fx<T>, negated: bool) -> Fx<bool> {
        Arc::new(move |row| Ok(Some(f(row)?.is_none() != negated)))
    }
    Node::Bool(match x {
        Node::Int(f) | Node::Time(f) => test(f, negated),
        Node::Double(f) => test(f, negated),
        Node::Bool(f) => test(f, negated),
        Node::Other(e) => Arc::new(move |row| Ok(Some(e.eval(row)?.is_null() != negated))),
    })
}

/// `l op r`; `r_expr` is the right operand's expression (an interval
/// literal is only seen there).
fn binary(op: BinOp, l: Node, r: Node, r_expr: &ScalarExpr) -> Option<Node> {
    use Node::*;
    match op {
        BinOp::And | BinOp::Or => match (l, r) {
            (Bool(a), Bool(b)) => Some(logic(op == BinOp::Or, a, b)),
            _ => None,
        },
        BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq => {
            Some(Bool(match (l, r) {
                (Int(a), Int(b)) | (Time(a), Time(b)) => {
                    comparison(op, a, b, |x, y| Some(x.cmp(y)))
                }
                (Double(a), Double(b)) => comparison(op, a, b, f64::partial_cmp),
                (Int(a), Double(b)) => comparison(op, widen(a), b, f64::partial_cmp),
                (Double(a), Int(b)) => comparison(op, a, widen(b), f64::partial_cmp),
                (Bool(a), Bool(b)) => comparison(op, a, b, |x, y| Some(x.cmp(y))),
                _ => return None,
            }))
        }
        BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod => match (l, r) {
            (Int(a), Int(b)) => Some(int_op(op, a, b)),
            (Double(a), Double(b)) => Some(double_op(op, a, b)),
            (Int(a), Double(b)) => Some(double_op(op, widen(a), b)),
            (Double(a), Int(b)) => Some(double_op(op, a, widen(b))),
            (Time(t), _) => shifted(op, t, r_expr),
            _ => None,
        },
    }
}

/// SQL's three-valued AND (`or` false) or OR (`or` true), short-circuiting
/// as the interpreter does: the right side is not evaluated (and cannot
/// fail) once the left decides.
fn logic(or: bool, a: Fx<bool>, b: Fx<bool>) -> Node {
    Node::Bool(Arc::new(move |row| {
        let x = a(row)?;
        if x == Some(or) {
            return Ok(Some(or));
        }
        Ok(match (x, b(row)?) {
            (_, Some(y)) if y == or => Some(or),
            (Some(_), Some(_)) => Some(!or),
            _ => None,
        })
    }))
}

fn comparison<T: 'static>(
    op: BinOp,
    a: Fx<T>,
    b: Fx<T>,
    cmp: fn(&T, &T) -> Option<Ordering>,
) -> Fx<bool> {
    let holds = move |o: Ordering| match op {
        BinOp::Eq => o == Ordering::Equal,
        BinOp::NotEq => o != Ordering::Equal,
        BinOp::Lt => o == Ordering::Less,
        BinOp::LtEq => o != Ordering::Greater,
        BinOp::Gt => o == Ordering::Greater,
        _ => o != Ordering::Less,
    };
    Arc::new(move |row| {
        // Both sides are evaluated (and may fail) before NULL decides.
        let (x, y) = (a(row)?, b(row)?);
        Ok(match (x, y) {
            (Some(x), Some(y)) => cmp(&x, &y).map(holds),
            _ => None,
        })
    })
}

fn int_op(op: BinOp, a: Fx<i64>, b: Fx<i64>) -> Node {
    Node::Int(Arc::new(move |row| {
        let (Some(x), Some(y)) = (a(row)?, b(row)?) else {
            return Ok(None);
        };
        Ok(Some(match op {
            BinOp::Add => x.wrapping_add(y),
            BinOp::Sub => x.wrapping_sub(y),
            BinOp::Mul => x.wrapping_mul(y),
            BinOp::Div if y == 0 => return Err("division by zero".into()),
            BinOp::Div => x.wrapping_div(y),
            BinOp::Mod if y == 0 => return Err("division by zero (MOD)".into()),
            _ => x.wrapping_rem(y),
        }))
    }))
}

fn double_op(op: BinOp, a: Fx<f64>, b: Fx<f64>) -> Node {
    Node::Double(Arc::new(move |row| {
        let (Some(x), Some(y)) = (a(row)?, b(row)?) else {
            return Ok(None);
        };
        Ok(Some(match op {
            BinOp::Add => x + y,
            BinOp::Sub => x - y,
            BinOp::Mul => x * y,
            BinOp::Div => x / y,
            _ => x % y,
        }))
    }))
}

/// `t ± INTERVAL '...'` with a literal interval (a watermark or an interval
/// join bound): saturating, as the interpreter.
fn shifted(op: BinOp, t: Fx<i64>, r: &ScalarExpr) -> Option<Node> {
    let ScalarExpr::Literal(Value::Interval(ms)) = *r else {
        return None;
    };
    let f: Fx<i64> = match op {
        BinOp::Add => Arc::new(move |row| Ok(t(row)?.map(|x| x.saturating_add(ms)))),
        BinOp::Sub => Arc::new(move |row| Ok(t(row)?.map(|x| x.saturating_sub(ms)))),
        _ => return None,
    };
    Some(Node::Time(f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Column types of the rows the tests evaluate on.
    const TYPES: [DataType; 6] = [
        DataType::BigInt,
        DataType::BigInt,
        DataType::Double,
        DataType::Timestamp,
        DataType::Boolean,
        DataType::String,
    ];

    fn value_of(ty: DataType) -> BoxedStrategy<Value> {
        let v = match ty {
            DataType::BigInt => prop_oneof![
                (-5i64..5).prop_map(Value::Int),
                any::<i64>().prop_map(Value::Int),
                Just(Value::Int(i64::MIN)),
            ]
            .boxed(),
            DataType::Double => prop_oneof![
                (-5i32..5).prop_map(|x| Value::Double(f64::from(x) / 2.0)),
                Just(Value::Double(0.0)),
            ]
            .boxed(),
            DataType::Timestamp => (-3i64..3).prop_map(|x| Value::Timestamp(x * 1_000)).boxed(),
            DataType::Boolean => any::<bool>().prop_map(Value::Bool).boxed(),
            _ => "[ab]{0,2}"
                .prop_map(|s| Value::Str(s.as_str().into()))
                .boxed(),
        };
        prop_oneof![1 => Just(Value::Null), 5 => v].boxed()
    }

    fn row() -> impl Strategy<Value = Row> {
        TYPES
            .iter()
            .map(|t| value_of(*t))
            .collect::<Vec<_>>()
            .prop_map(Row::insert)
    }

    fn literal() -> impl Strategy<Value = ScalarExpr> {
        prop_oneof![
            (-3i64..3).prop_map(Value::Int),
            Just(Value::Int(0)),
            (-3i32..3).prop_map(|x| Value::Double(f64::from(x))),
            any::<bool>().prop_map(Value::Bool),
            (0i64..3).prop_map(|x| Value::Interval(x * 1_000)),
            Just(Value::Null),
            Just(Value::Str("a".into())),
        ]
        .prop_map(ScalarExpr::Literal)
    }

    fn op() -> impl Strategy<Value = BinOp> {
        use BinOp::*;
        proptest::sample::select(vec![
            Add, Sub, Mul, Div, Mod, Eq, NotEq, Lt, LtEq, Gt, GtEq, And, Or,
        ])
    }

    fn expr() -> impl Strategy<Value = ScalarExpr> {
        let leaf = prop_oneof![(0usize..7).prop_map(ScalarExpr::Column), literal()];
        leaf.prop_recursive(4, 24, 2, |inner| {
            let b = |e: ScalarExpr| Box::new(e);
            prop_oneof![
                (op(), inner.clone(), inner.clone()).prop_map(move |(o, l, r)| ScalarExpr::Binary(
                    o,
                    b(l),
                    b(r)
                )),
                inner.clone().prop_map(move |e| ScalarExpr::Not(b(e))),
                inner.clone().prop_map(move |e| ScalarExpr::Neg(b(e))),
                (inner.clone(), any::<bool>()).prop_map(move |(e, n)| ScalarExpr::IsNull(b(e), n)),
                inner
                    .clone()
                    .prop_map(move |e| ScalarExpr::Cast(b(e), DataType::Double, false)),
                inner
                    .clone()
                    .prop_map(move |e| ScalarExpr::Cast(b(e), DataType::BigInt, true)),
                (inner.clone(), inner.clone())
                    .prop_map(|(x, y)| ScalarExpr::Call(Func::Mod, vec![x, y])),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The compiled expression gives exactly the interpreter's value or
        /// error on every row.
        #[test]
        fn compiled_evaluation_equals_the_interpreter(e in expr(), r in row()) {
            let c = CompiledExpr::new(&e, &TYPES);
            prop_assert_eq!(c.eval(&r), e.eval(&r), "{:?} on {:?}", e, r);
            prop_assert_eq!(c.is_true(&r), e.is_true(&r));
        }
    }

    #[test]
    fn nexmark_filters_and_projections_compile_to_typed_code() {
        use ScalarExpr::*;
        let col = |i| Box::new(Column(i));
        let lit = |v| Box::new(Literal(v));
        // q2: MOD(auction, 123) = 0.
        let q2 = Binary(
            BinOp::Eq,
            Box::new(Call(Func::Mod, vec![Column(0), Literal(Value::Int(123))])),
            lit(Value::Int(0)),
        );
        // q1: 0.908 * price (the price widened by the binder).
        let q1 = Binary(
            BinOp::Mul,
            lit(Value::Double(0.908)),
            Box::new(Cast(col(1), DataType::Double, false)),
        );
        // A watermark: dateTime - INTERVAL '4' SECOND.
        let wm = Binary(BinOp::Sub, col(3), lit(Value::Interval(4_000)));
        for e in [q2, q1, wm] {
            assert!(CompiledExpr::new(&e, &TYPES).is_typed(), "{e:?}");
        }
        // Strings run in the interpreter.
        let s = Binary(BinOp::Eq, col(5), lit(Value::Str("a".into())));
        assert!(!CompiledExpr::new(&s, &TYPES).is_typed());
        let r = Row::insert(vec![
            Value::Int(246),
            Value::Int(10),
            Value::Null,
            Value::Timestamp(5_000),
            Value::Bool(true),
            Value::Str("a".into()),
        ]);
        assert_eq!(CompiledExpr::new(&s, &TYPES).is_true(&r), Ok(true));
    }

    #[test]
    fn a_value_of_another_type_than_planned_is_an_error_not_a_wrong_answer() {
        let c = CompiledExpr::new(&ScalarExpr::Column(0), &[DataType::BigInt]);
        let r = Row::insert(vec![Value::Str("x".into())]);
        let err = c.eval(&r).unwrap_err();
        assert!(err.contains("column 0 holds 'x'"), "{err}");
    }
}
