//! Bound scalar expressions over a row, and their evaluation.

use crate::function::{Func, call};
use crate::row::Row;
use crate::value::{DataType, Value};

/// A binary operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND`
    And,
    /// `OR`
    Or,
}

/// An expression bound to column indices and typed.
#[derive(Clone, Debug, PartialEq)]
pub enum ScalarExpr {
    /// Column `i` of the input row.
    Column(usize),
    /// A constant.
    Literal(Value),
    /// `l op r`.
    Binary(BinOp, Box<ScalarExpr>, Box<ScalarExpr>),
    /// `NOT e`.
    Not(Box<ScalarExpr>),
    /// `-e`.
    Neg(Box<ScalarExpr>),
    /// `e IS [NOT] NULL` (`true`: IS NOT NULL).
    IsNull(Box<ScalarExpr>, bool),
    /// `CASE WHEN c THEN v ... ELSE e END` (a simple CASE is rewritten to this).
    Case(Vec<(ScalarExpr, ScalarExpr)>, Box<ScalarExpr>),
    /// `CAST(e AS ty)`; `TRY_CAST` gives NULL instead of failing.
    Cast(Box<ScalarExpr>, DataType, bool),
    /// A function call.
    Call(Func, Vec<ScalarExpr>),
    /// `e [NOT] IN (list)` (`true`: NOT IN).
    InList(Box<ScalarExpr>, Vec<ScalarExpr>, bool),
    /// `e [NOT] LIKE pattern` (`true`: NOT LIKE).
    Like(Box<ScalarExpr>, Box<ScalarExpr>, bool),
}

/// A failed evaluation (a cast that cannot convert, ...): fails the job, as in Flink.
pub type EvalResult = Result<Value, String>;

impl ScalarExpr {
    /// Evaluates on `row`.
    pub fn eval(&self, row: &Row) -> EvalResult {
        Ok(match self {
            ScalarExpr::Column(i) => row.get(*i).clone(),
            ScalarExpr::Literal(v) => v.clone(),
            ScalarExpr::Binary(op, l, r) => binary(*op, l, r, row)?,
            ScalarExpr::Not(e) => match e.eval(row)? {
                Value::Bool(b) => Value::Bool(!b),
                _ => Value::Null,
            },
            ScalarExpr::Neg(e) => match e.eval(row)? {
                Value::Int(i) => Value::Int(i.wrapping_neg()),
                Value::Double(d) => Value::Double(-d),
                Value::Interval(i) => Value::Interval(-i),
                _ => Value::Null,
            },
            ScalarExpr::IsNull(e, negated) => Value::Bool(e.eval(row)?.is_null() != *negated),
            ScalarExpr::Case(whens, otherwise) => {
                for (cond, then) in whens {
                    if cond.eval(row)?.as_bool() == Some(true) {
                        return then.eval(row);
                    }
                }
                otherwise.eval(row)?
            }
            ScalarExpr::Cast(e, ty, try_cast) => match cast(e.eval(row)?, *ty) {
                Ok(v) => v,
                Err(_) if *try_cast => Value::Null,
                Err(msg) => return Err(msg),
            },
            // Up to four arguments are evaluated on the stack: no
            // allocation per call and row.
            ScalarExpr::Call(f, args) if args.len() <= 4 => {
                let mut vals = [Value::Null, Value::Null, Value::Null, Value::Null];
                for (slot, a) in vals.iter_mut().zip(args) {
                    *slot = a.eval(row)?;
                }
                call(*f, vals.get(..args.len()).unwrap_or_default())?
            }
            ScalarExpr::Call(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(row))
                    .collect::<Result<Vec<_>, _>>()?;
                call(*f, &vals)?
            }
            ScalarExpr::InList(e, list, negated) => {
                let v = e.eval(row)?;
                if v.is_null() {
                    return Ok(Value::Null);
                }
                let mut saw_null = false;
                for item in list {
                    let c = item.eval(row)?;
                    if c.is_null() {
                        saw_null = true;
                    } else if compare(&v, &c) == Some(std::cmp::Ordering::Equal) {
                        return Ok(Value::Bool(!negated));
                    }
                }
                if saw_null {
                    Value::Null
                } else {
                    Value::Bool(*negated)
                }
            }
            ScalarExpr::Like(e, p, negated) => match (e.eval(row)?, p.eval(row)?) {
                (Value::Str(s), Value::Str(p)) => Value::Bool(like(&s, &p) != *negated),
                _ => Value::Null,
            },
        })
    }

    /// True when the expression is `TRUE` on `row` (NULL and FALSE filter out).
    pub fn is_true(&self, row: &Row) -> Result<bool, String> {
        Ok(self.eval(row)?.as_bool() == Some(true))
    }
}

/// Compares two non-null values of comparable types (numbers across int/double).
pub fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Null, _) | (_, Value::Null) => None,
        _ => Some(a.cmp(b)),
    }
}

fn binary(op: BinOp, l: &ScalarExpr, r: &ScalarExpr, row: &Row) -> EvalResult {
    // AND/OR follow SQL's three-valued logic and short-circuit.
    if op == BinOp::And || op == BinOp::Or {
        let short = op == BinOp::Or;
        let a = l.eval(row)?.as_bool();
        if a == Some(short) {
            return Ok(Value::Bool(short));
        }
        let b = r.eval(row)?.as_bool();
        return Ok(match (a, b) {
            (_, Some(x)) if x == short => Value::Bool(short),
            (Some(_), Some(_)) => Value::Bool(!short),
            _ => Value::Null,
        });
    }
    let (a, b) = (l.eval(row)?, r.eval(row)?);
    if a.is_null() || b.is_null() {
        return Ok(Value::Null);
    }
    use std::cmp::Ordering::*;
    let cmp = |want: &[std::cmp::Ordering]| match compare(&a, &b) {
        Some(o) => Value::Bool(want.contains(&o)),
        None => Value::Null,
    };
    Ok(match op {
        BinOp::Eq => cmp(&[Equal]),
        BinOp::NotEq => cmp(&[Less, Greater]),
        BinOp::Lt => cmp(&[Less]),
        BinOp::LtEq => cmp(&[Less, Equal]),
        BinOp::Gt => cmp(&[Greater]),
        BinOp::GtEq => cmp(&[Greater, Equal]),
        _ => arithmetic(op, a, b)?,
    })
}

fn arithmetic(op: BinOp, a: Value, b: Value) -> EvalResult {
    use Value::*;
    Ok(match (a, b) {
        (Int(x), Int(y)) => match op {
            BinOp::Add => Int(x.wrapping_add(y)),
            BinOp::Sub => Int(x.wrapping_sub(y)),
            BinOp::Mul => Int(x.wrapping_mul(y)),
            BinOp::Div if y == 0 => return Err("division by zero".into()),
            BinOp::Div => Int(x.wrapping_div(y)),
            BinOp::Mod if y == 0 => return Err("division by zero (MOD)".into()),
            BinOp::Mod => Int(x.wrapping_rem(y)),
            _ => Null,
        },
        (Timestamp(t), Interval(i)) => match op {
            BinOp::Add => Timestamp(t.saturating_add(i)),
            BinOp::Sub => Timestamp(t.saturating_sub(i)),
            _ => Null,
        },
        (Interval(i), Timestamp(t)) if op == BinOp::Add => Timestamp(t.saturating_add(i)),
        (Interval(x), Interval(y)) => match op {
            BinOp::Add => Interval(x.saturating_add(y)),
            BinOp::Sub => Interval(x.saturating_sub(y)),
            _ => Null,
        },
        (a, b) => match (a.as_f64(), b.as_f64()) {
            (Some(x), Some(y)) => Double(match op {
                BinOp::Add => x + y,
                BinOp::Sub => x - y,
                BinOp::Mul => x * y,
                BinOp::Div => x / y,
                BinOp::Mod => x % y,
                _ => return Ok(Null),
            }),
            _ => Null,
        },
    })
}

/// Converts `v` to `ty`, as Flink's CAST does.
pub fn cast(v: Value, ty: DataType) -> EvalResult {
    use Value::*;
    let fail = |v: &Value| Err(format!("cannot cast '{v}' to {ty}"));
    Ok(match (v, ty) {
        (Null, _) => Null,
        (v @ Bool(_), DataType::Boolean) => v,
        (Str(s), DataType::Boolean) => match s.trim().to_ascii_lowercase().as_str() {
            "true" => Bool(true),
            "false" => Bool(false),
            _ => return fail(&Str(s)),
        },
        (Bool(b), DataType::BigInt) => Int(i64::from(b)),
        (v @ Int(_), DataType::BigInt) => v,
        (Double(d), DataType::BigInt) => Int(d.trunc() as i64),
        (Timestamp(t), DataType::BigInt) => Int(t.div_euclid(1000)),
        (Str(s), DataType::BigInt) => match s.trim().parse::<i64>() {
            Ok(i) => Int(i),
            Err(_) => return fail(&Str(s)),
        },
        (Int(i), DataType::Double) => Double(i as f64),
        (v @ Double(_), DataType::Double) => v,
        (Str(s), DataType::Double) => match s.trim().parse::<f64>() {
            Ok(d) => Double(d),
            Err(_) => return fail(&Str(s)),
        },
        (v @ Str(_), DataType::String) => v,
        (v, DataType::String) => Str(v.to_string().into()),
        (v @ Timestamp(_), DataType::Timestamp) => v,
        (Int(i), DataType::Timestamp) => Timestamp(i.saturating_mul(1000)),
        (Str(s), DataType::Timestamp) => match crate::value::parse_timestamp_ms(&s) {
            Some(t) => Timestamp(t),
            None => return fail(&Str(s)),
        },
        (v @ Interval(_), DataType::Interval) => v,
        (v, _) => return fail(&v),
    })
}

/// SQL `LIKE` with `%` and `_`.
fn like(s: &str, p: &str) -> bool {
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = p.chars().collect();
    // Iterative wildcard matching with one backtrack point for `%`.
    let (mut i, mut j) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while i < s.len() {
        match p.get(j) {
            Some('%') => {
                star = Some(j);
                mark = i;
                j += 1;
            }
            Some(c) if *c == '_' || Some(c) == s.get(i) => {
                i += 1;
                j += 1;
            }
            _ => match star {
                Some(st) => {
                    j = st + 1;
                    mark += 1;
                    i = mark;
                }
                None => return false,
            },
        }
    }
    p.get(j..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '%'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(v: Value) -> Box<ScalarExpr> {
        Box::new(ScalarExpr::Literal(v))
    }

    #[test]
    fn three_valued_logic_and_arithmetic() {
        let row = Row::insert(vec![Value::Int(7), Value::Null]);
        let and = ScalarExpr::Binary(
            BinOp::And,
            lit(Value::Bool(false)),
            Box::new(ScalarExpr::Column(1)),
        );
        assert_eq!(and.eval(&row), Ok(Value::Bool(false)));
        let or = ScalarExpr::Binary(
            BinOp::Or,
            lit(Value::Bool(false)),
            Box::new(ScalarExpr::Column(1)),
        );
        assert_eq!(or.eval(&row), Ok(Value::Null));
        let m = ScalarExpr::Binary(
            BinOp::Mul,
            lit(Value::Double(0.908)),
            Box::new(ScalarExpr::Column(0)),
        );
        assert_eq!(m.eval(&row), Ok(Value::Double(0.908 * 7.0)));
        let d = ScalarExpr::Binary(
            BinOp::Div,
            Box::new(ScalarExpr::Column(0)),
            lit(Value::Int(0)),
        );
        assert!(d.eval(&row).is_err());
    }

    #[test]
    fn casts_and_like() {
        assert_eq!(
            cast(Value::Str("42".into()), DataType::BigInt),
            Ok(Value::Int(42))
        );
        assert!(cast(Value::Str("x".into()), DataType::BigInt).is_err());
        assert_eq!(
            cast(Value::Double(2.9), DataType::BigInt),
            Ok(Value::Int(2))
        );
        assert!(like("channel-42", "channel-%"));
        assert!(like("abc", "a_c"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
    }
}
