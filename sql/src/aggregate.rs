//! Accumulators of the aggregate functions, shared by the changelog group
//! aggregate and the window aggregate.

use std::collections::BTreeMap;

use crate::logical::{AggCall, AggFunc};
use crate::value::{DataType, Value};

/// The running state of one aggregate call (keyed state: it goes into
/// checkpoints).
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub enum Acc {
    /// COUNT(*) and COUNT(x): rows (or non-null values) counted.
    Count(i64),
    /// SUM(x): the sum and how many non-null values are in it.
    Sum(Value, i64),
    /// MIN(x) / MAX(x) (insert-only input: the planner forbids retraction).
    Extreme(Option<Value>),
    /// AVG(x): sum and count.
    Avg(Value, i64),
    /// COUNT(DISTINCT x): each value and how many rows hold it.
    Distinct(#[rkyv(with = rkyv::with::AsVec)] BTreeMap<Value, i64>),
}

impl Acc {
    /// The empty accumulator of `call`.
    pub fn new(call: &AggCall) -> Acc {
        match call.func {
            AggFunc::CountStar | AggFunc::Count => Acc::Count(0),
            AggFunc::Sum => Acc::Sum(zero(call.ty), 0),
            AggFunc::Avg => Acc::Avg(zero(call.ty), 0),
            AggFunc::Min | AggFunc::Max => Acc::Extreme(None),
            AggFunc::CountDistinct => Acc::Distinct(BTreeMap::new()),
        }
    }

    /// Adds (`sign` = 1) or retracts (`sign` = -1) the value `v` (NULL for COUNT(*)).
    pub fn update(&mut self, func: AggFunc, v: &Value, sign: i64) {
        if func != AggFunc::CountStar && v.is_null() {
            return;
        }
        match self {
            Acc::Count(n) => *n += sign,
            Acc::Sum(s, n) | Acc::Avg(s, n) => {
                *s = add(s, v, sign);
                *n += sign;
            }
            Acc::Extreme(cur) => {
                let better = match cur {
                    None => true,
                    Some(c) => match func {
                        AggFunc::Min => {
                            crate::expr::compare(v, c) == Some(std::cmp::Ordering::Less)
                        }
                        _ => crate::expr::compare(v, c) == Some(std::cmp::Ordering::Greater),
                    },
                };
                if better {
                    *cur = Some(v.clone());
                }
            }
            Acc::Distinct(m) => {
                let e = m.entry(v.clone()).or_insert(0);
                *e += sign;
                if *e <= 0 {
                    m.remove(v);
                }
            }
        }
    }

    /// Merges `other`, an accumulator of the same call, into this one in
    /// place (sessions merging, a window's slices, partial aggregates).
    pub fn merge_from(&mut self, other: &Acc, func: AggFunc) {
        match (self, other) {
            (Acc::Count(a), Acc::Count(b)) => *a += b,
            (Acc::Sum(a, n), Acc::Sum(b, m)) | (Acc::Avg(a, n), Acc::Avg(b, m)) => {
                *a = add(a, b, 1);
                *n += m;
            }
            (acc @ Acc::Extreme(_), Acc::Extreme(Some(b))) => acc.update(func, b, 1),
            (Acc::Distinct(a), Acc::Distinct(b)) => {
                for (k, n) in b {
                    *a.entry(k.clone()).or_insert(0) += n;
                }
            }
            _ => {}
        }
    }

    /// The aggregate's value.
    pub fn result(&self) -> Value {
        match self {
            Acc::Count(n) => Value::Int(*n),
            Acc::Sum(s, n) => {
                if *n == 0 {
                    Value::Null
                } else {
                    s.clone()
                }
            }
            Acc::Avg(s, n) => match s {
                _ if *n == 0 => Value::Null,
                // AVG of integers is an integer in Flink (truncating division).
                Value::Int(i) => Value::Int(i / n),
                Value::Double(d) => Value::Double(d / *n as f64),
                _ => Value::Null,
            },
            Acc::Extreme(v) => v.clone().unwrap_or(Value::Null),
            Acc::Distinct(m) => Value::Int(m.len() as i64),
        }
    }
}

fn zero(ty: DataType) -> Value {
    if ty == DataType::Double {
        Value::Double(0.0)
    } else {
        Value::Int(0)
    }
}

fn add(a: &Value, b: &Value, sign: i64) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(y.wrapping_mul(sign))),
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => Value::Double(x + y * sign as f64),
            _ => a.clone(),
        },
    }
}

/// The accumulators of a list of calls.
#[derive(Clone, Debug, PartialEq, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub struct Accs {
    /// One per call.
    pub accs: Vec<Acc>,
    /// Rows accumulated minus rows retracted: 0 means the group is empty.
    pub rows: i64,
}

impl Accs {
    /// Empty accumulators for `calls`.
    pub fn new(calls: &[AggCall]) -> Self {
        Accs {
            accs: calls.iter().map(Acc::new).collect(),
            rows: 0,
        }
    }

    /// Adds or retracts one row whose aggregate arguments are `args` (one per call).
    pub fn update(&mut self, calls: &[AggCall], args: &[Value], sign: i64) {
        for (i, (acc, call)) in self.accs.iter_mut().zip(calls).enumerate() {
            acc.update(call.func, args.get(i).unwrap_or(&Value::Null), sign);
        }
        self.rows += sign;
    }

    /// The results, one per call.
    pub fn results(&self) -> Vec<Value> {
        self.accs.iter().map(Acc::result).collect()
    }

    /// Whether every call can be split into a local and a global phase:
    /// its accumulator travels as plain values and merges by addition (or
    /// by taking the extreme). COUNT(DISTINCT) holds every value it saw.
    pub fn can_split(calls: &[AggCall]) -> bool {
        calls.iter().all(|c| c.func != AggFunc::CountDistinct)
    }

    /// The insert row `[key..., partial...]` a local phase sends to the
    /// global one for these accumulators ([`write_partial`](Self::write_partial)).
    pub fn partial_row(&self, key: &[Value]) -> crate::row::Row {
        let mut values = Vec::with_capacity(key.len() + 1 + 2 * self.accs.len());
        values.extend_from_slice(key);
        self.write_partial(&mut values);
        crate::row::Row::insert(values)
    }

    /// Appends these accumulators as a partial aggregate's values (what a
    /// local phase sends to the global one): the row count, then each
    /// call's fields. Only for calls that [`can_split`](Self::can_split).
    pub fn write_partial(&self, out: &mut Vec<Value>) {
        out.push(Value::Int(self.rows));
        for acc in &self.accs {
            match acc {
                Acc::Count(n) => out.push(Value::Int(*n)),
                Acc::Sum(s, n) | Acc::Avg(s, n) => out.extend([s.clone(), Value::Int(*n)]),
                // NULL is never accumulated, so it stands for "none".
                Acc::Extreme(v) => out.push(v.clone().unwrap_or(Value::Null)),
                Acc::Distinct(_) => out.push(Value::Null),
            }
        }
    }

    /// Merges `other` (accumulators of the same calls) into these in place.
    pub fn merge_from(&mut self, other: &Accs, calls: &[AggCall]) {
        for ((x, y), c) in self.accs.iter_mut().zip(&other.accs).zip(calls) {
            x.merge_from(y, c.func);
        }
        self.rows += other.rows;
    }

    /// Merges a partial aggregate written by
    /// [`write_partial`](Self::write_partial) for the same calls. An error
    /// (a sentence) when its values do not have that shape.
    pub fn merge_partial(&mut self, calls: &[AggCall], values: &[Value]) -> Result<(), String> {
        let mut it = values.iter();
        let mut next = || {
            it.next()
                .ok_or_else(|| "a partial aggregate has fewer values than its calls".to_string())
        };
        let count = |v: &Value| {
            v.as_i64()
                .ok_or_else(|| format!("a partial aggregate's count is {v:?}, not a number"))
        };
        self.rows += count(next()?)?;
        for (acc, call) in self.accs.iter_mut().zip(calls) {
            match acc {
                Acc::Count(n) => *n += count(next()?)?,
                Acc::Sum(s, n) | Acc::Avg(s, n) => {
                    let part = next()?;
                    if !part.is_null() {
                        *s = add(s, part, 1);
                    }
                    *n += count(next()?)?;
                }
                Acc::Extreme(_) => acc.update(call.func, next()?, 1),
                Acc::Distinct(_) => {
                    return Err("COUNT(DISTINCT) has no partial aggregate".to_string());
                }
            }
        }
        Ok(())
    }

    /// Whether nothing was accumulated since [`new`](Self::new): a
    /// partial that changes nothing is not sent.
    pub fn is_empty(&self, calls: &[AggCall]) -> bool {
        self.rows == 0 && self.accs.iter().zip(calls).all(|(a, c)| *a == Acc::new(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(func: AggFunc, ty: DataType) -> AggCall {
        AggCall {
            func,
            arg: None,
            ty,
        }
    }

    #[test]
    fn accumulate_and_retract() {
        let calls = [
            call(AggFunc::CountStar, DataType::BigInt),
            call(AggFunc::Sum, DataType::BigInt),
            call(AggFunc::Avg, DataType::Double),
            call(AggFunc::CountDistinct, DataType::BigInt),
            call(AggFunc::Max, DataType::BigInt),
        ];
        let mut a = Accs::new(&calls);
        let row = |x: i64| {
            vec![
                Value::Null,
                Value::Int(x),
                Value::Double(x as f64),
                Value::Int(x % 2),
                Value::Int(x),
            ]
        };
        for x in [1, 2, 3, 4] {
            a.update(&calls, &row(x), 1);
        }
        assert_eq!(
            a.results(),
            vec![
                Value::Int(4),
                Value::Int(10),
                Value::Double(2.5),
                Value::Int(2),
                Value::Int(4)
            ]
        );
        a.update(&calls[..4], &row(2), -1);
        a.update(&calls[..4], &row(4), -1);
        assert_eq!(a.accs[3].result(), Value::Int(1), "only odd values remain");
        assert_eq!(a.accs[1].result(), Value::Int(4));
        assert_eq!(a.rows, 2);
    }

    #[test]
    fn merging_two_accumulators_equals_accumulating_all_their_rows() {
        let calls = [
            call(AggFunc::CountStar, DataType::BigInt),
            call(AggFunc::Sum, DataType::BigInt),
            call(AggFunc::Avg, DataType::Double),
            call(AggFunc::CountDistinct, DataType::BigInt),
            call(AggFunc::Max, DataType::BigInt),
            call(AggFunc::Min, DataType::BigInt),
        ];
        let accs = |xs: &[i64]| {
            let mut a = Accs::new(&calls);
            for &x in xs {
                let v = Value::Int(x);
                let row = [
                    Value::Null,
                    v.clone(),
                    Value::Double(x as f64),
                    v.clone(),
                    v.clone(),
                    v,
                ];
                a.update(&calls, &row, 1);
            }
            a
        };
        for (left, right) in [(&[3, 9][..], &[4, 1, 9][..]), (&[], &[5]), (&[7], &[])] {
            let (mut a, b) = (accs(left), accs(right));
            let all = accs(&[left, right].concat());
            a.merge_from(&b, &calls);
            assert_eq!(a.accs, all.accs, "{left:?} + {right:?}");
            assert_eq!(a.rows, all.rows, "{left:?} + {right:?}");
        }
    }

    #[test]
    fn partials_merged_in_any_grouping_give_the_one_phase_result() {
        let calls = [
            call(AggFunc::CountStar, DataType::BigInt),
            call(AggFunc::Count, DataType::BigInt),
            call(AggFunc::Sum, DataType::BigInt),
            call(AggFunc::Avg, DataType::BigInt),
            call(AggFunc::Max, DataType::BigInt),
            call(AggFunc::Min, DataType::Double),
        ];
        assert!(Accs::can_split(&calls));
        let row = |x: i64| {
            let v = if x % 3 == 0 {
                Value::Null
            } else {
                Value::Int(x)
            };
            vec![
                Value::Null,
                v.clone(),
                v.clone(),
                v.clone(),
                Value::Int(x),
                Value::Double(x as f64),
            ]
        };
        // Adds 1..=9, then retracts 2 and 4 from the first four calls (MIN
        // and MAX only ever see additions).
        let changes: Vec<(i64, i64)> = (1..=9).map(|x| (x, 1)).chain([(2, -1), (4, -1)]).collect();
        let apply = |a: &mut Accs, (x, sign): (i64, i64)| {
            let n = if sign > 0 { calls.len() } else { 4 };
            a.update(&calls[..n], &row(x), sign);
        };
        let mut one_phase = Accs::new(&calls);
        changes.iter().for_each(|c| apply(&mut one_phase, *c));
        for split in [1, 4, 10] {
            let mut global = Accs::new(&calls);
            for part in changes.chunks(split) {
                let mut local = Accs::new(&calls);
                part.iter().for_each(|c| apply(&mut local, *c));
                let mut values = Vec::new();
                local.write_partial(&mut values);
                global.merge_partial(&calls, &values).unwrap();
            }
            assert_eq!(global.results(), one_phase.results(), "chunks of {split}");
            assert_eq!(global.rows, one_phase.rows);
        }
        assert_eq!(
            one_phase.results(),
            vec![
                Value::Int(7),
                Value::Int(4),
                Value::Int(1 + 5 + 7 + 8),
                Value::Int(21 / 4),
                Value::Int(9),
                Value::Double(1.0)
            ]
        );
        let mut short = Accs::new(&calls);
        let err = short.merge_partial(&calls, &[Value::Int(1), Value::Int(1)]);
        assert!(err.unwrap_err().contains("fewer values"));
        assert!(Accs::new(&calls).is_empty(&calls));
        assert!(!one_phase.is_empty(&calls));
        assert!(!Accs::can_split(&[call(
            AggFunc::CountDistinct,
            DataType::BigInt
        )]));
    }

    #[test]
    fn sum_of_nothing_is_null_and_merge_adds() {
        let c = call(AggFunc::Sum, DataType::BigInt);
        let a = Acc::new(&c);
        assert_eq!(a.result(), Value::Null);
        let mut b = Acc::new(&c);
        b.update(AggFunc::Sum, &Value::Int(5), 1);
        let mut d = Acc::new(&c);
        d.update(AggFunc::Sum, &Value::Int(7), 1);
        b.merge_from(&d, AggFunc::Sum);
        assert_eq!(b.result(), Value::Int(12));
    }
}
