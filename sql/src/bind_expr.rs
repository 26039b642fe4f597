//! Binds sqlparser expressions to typed [`ScalarExpr`]s over a schema.

use sqlparser::ast::{
    self as ast, BinaryOperator, CastKind, DateTimeField, Expr, FunctionArg, FunctionArgExpr,
    FunctionArguments, Spanned, UnaryOperator,
};

use crate::catalog::Catalog;
use crate::error::{Errors, Pos, Result, SqlError};
use crate::expr::{BinOp, ScalarExpr};
use crate::function::{Func, check_regex};
use crate::logical::{AggCall, AggFunc};
use crate::schema::{Schema, Unresolved};
use crate::value::{DataType, Value};

/// The position where `node` starts.
pub fn pos_of(node: &impl Spanned) -> Pos {
    Pos::from(node.span().start)
}

/// The aggregates and group keys of a `GROUP BY` query, while its SELECT
/// list and HAVING are bound: columns must be group keys, and aggregate
/// calls become columns after the keys.
#[derive(Debug, Default)]
pub struct AggScope {
    /// The bound group keys (over the input).
    pub group: Vec<ScalarExpr>,
    /// Their types.
    pub group_types: Vec<DataType>,
    /// Aggregates found so far.
    pub aggs: Vec<AggCall>,
    /// The legacy group window of `GROUP BY ..., TUMBLE(col, size)`, whose
    /// `TUMBLE_START(...)` and friends read its bounds.
    pub legacy_window: Option<LegacyWindow>,
}

/// A legacy group window among the group keys.
#[derive(Debug, Clone, Copy)]
pub struct LegacyWindow {
    /// `TUMBLE`, `HOP` or `SESSION`.
    pub name: &'static str,
    /// The group keys holding the window's start and end.
    pub start_key: usize,
    /// See `start_key`.
    pub end_key: usize,
}

/// Binds expressions of one script.
#[derive(Clone, Copy, Debug)]
pub struct ExprBinder<'a> {
    /// Positioned error builder.
    pub errors: Errors<'a>,
    /// Where functions registered by `CREATE FUNCTION` are found.
    pub catalog: Option<&'a Catalog>,
}

/// The position of an identifier.
pub fn pos_ident(id: &ast::Ident) -> Pos {
    Pos::from(id.span.start)
}

/// True when `e` contains an aggregate call (in the expression forms the binder accepts).
pub fn contains_aggregate(e: &Expr) -> bool {
    let any = |xs: &[&Expr]| xs.iter().any(|x| contains_aggregate(x));
    match e {
        // `SUM(x) OVER (...)` is a window function, not a grouping aggregate.
        Expr::Function(f) if f.over.is_some() => false,
        Expr::Function(f) => {
            agg_func_of(&f.name.to_string()).is_some()
                || match &f.args {
                    FunctionArguments::List(l) => l.args.iter().any(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => contains_aggregate(x),
                        _ => false,
                    }),
                    _ => false,
                }
        }
        Expr::BinaryOp { left, right, .. } => any(&[left, right]),
        Expr::UnaryOp { expr, .. }
        | Expr::Nested(expr)
        | Expr::Cast { expr, .. }
        | Expr::IsNull(expr)
        | Expr::IsNotNull(expr)
        | Expr::Trim { expr, .. }
        | Expr::Floor { expr, .. }
        | Expr::Ceil { expr, .. } => contains_aggregate(expr),
        Expr::Between {
            expr, low, high, ..
        } => any(&[expr, low, high]),
        Expr::Like { expr, pattern, .. } => any(&[expr, pattern]),
        Expr::In { expr, target, .. } => {
            contains_aggregate(expr)
                || matches!(target, ast::InTarget::List(l) if l.iter().any(contains_aggregate))
        }
        Expr::Substring {
            expr,
            substring_from,
            substring_for,
            ..
        } => {
            contains_aggregate(expr)
                || substring_from.as_deref().is_some_and(contains_aggregate)
                || substring_for.as_deref().is_some_and(contains_aggregate)
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            operand.as_deref().is_some_and(contains_aggregate)
                || conditions
                    .iter()
                    .any(|c| contains_aggregate(&c.condition) || contains_aggregate(&c.result))
                || else_result.as_deref().is_some_and(contains_aggregate)
        }
        _ => false,
    }
}

pub(crate) fn agg_func_of(name: &str) -> Option<AggFunc> {
    Some(match name.to_ascii_uppercase().as_str() {
        "COUNT" => AggFunc::Count,
        "SUM" => AggFunc::Sum,
        "MIN" => AggFunc::Min,
        "MAX" => AggFunc::Max,
        "AVG" => AggFunc::Avg,
        _ => return None,
    })
}

/// Window and other functions that are known but not supported here.
const UNSUPPORTED_FUNCS: &[&str] = &[
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "LAG",
    "LEAD",
    "FIRST_VALUE",
    "LAST_VALUE",
    "LISTAGG",
    "COLLECT",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VAR_POP",
    "VAR_SAMP",
    "NOW",
    "CURRENT_TIMESTAMP",
];

impl<'a> ExprBinder<'a> {
    /// Binds `e` over `schema`; with `agg`, as a SELECT/HAVING item of a grouped query.
    pub fn bind(
        &self,
        e: &Expr,
        schema: &Schema,
        agg: Option<&mut AggScope>,
    ) -> Result<(ScalarExpr, DataType)> {
        let mut agg = agg;
        // A whole expression equal to a group key is that key's column.
        if let Some(scope) = agg.as_deref_mut()
            && !contains_aggregate(e)
            && let Ok((bound, _)) = self.bind(e, schema, None)
            && let Some(i) = scope.group.iter().position(|g| *g == bound)
        {
            let ty = scope.group_types.get(i).copied().unwrap_or(DataType::Null);
            return Ok((ScalarExpr::Column(i), ty));
        }
        let at = pos_of(e);
        match e {
            Expr::Identifier(id) => self.column(None, &id.value, pos_ident(id), schema, agg),
            Expr::CompoundIdentifier(parts) => match parts.as_slice() {
                [q, name] => self.column(Some(&q.value), &name.value, pos_ident(q), schema, agg),
                [] | [_] => Err(self.errors.semantic(at, "expected a column name")),
                _ => Err(self
                    .errors
                    .unsupported(at, "nested field access (ROW types)")),
            },
            Expr::Value(v) => literal(&v.value)
                .map(|(v, t)| (ScalarExpr::Literal(v), t))
                .ok_or_else(|| self.errors.unsupported(at, format!("the literal {v}"))),
            Expr::Nested(inner) => self.bind(inner, schema, agg),
            Expr::Interval(iv) => self.interval(iv, at),
            Expr::UnaryOp { op, expr } => {
                let (x, t) = self.bind(expr, schema, agg)?;
                match op {
                    UnaryOperator::Not => {
                        self.want(t, DataType::Boolean, pos_of(expr.as_ref()), "NOT")?;
                        Ok((ScalarExpr::Not(Box::new(x)), DataType::Boolean))
                    }
                    UnaryOperator::Minus => {
                        if !(t.is_numeric() || t == DataType::Interval) {
                            return Err(self.type_error(
                                pos_of(expr.as_ref()),
                                "a number after `-`",
                                t,
                            ));
                        }
                        Ok((ScalarExpr::Neg(Box::new(x)), t))
                    }
                    UnaryOperator::Plus => Ok((x, t)),
                    other => Err(self.errors.unsupported(at, format!("the operator {other}"))),
                }
            }
            Expr::BinaryOp { left, op, right } => self.binary(left, op, right, schema, agg, at),
            Expr::IsNull(x) | Expr::IsNotNull(x) => {
                let (b, _) = self.bind(x, schema, agg)?;
                Ok((
                    ScalarExpr::IsNull(Box::new(b), matches!(e, Expr::IsNotNull(_))),
                    DataType::Boolean,
                ))
            }
            Expr::Between {
                expr,
                negated,
                low,
                high,
            } => {
                let ge = Expr::BinaryOp {
                    left: expr.clone(),
                    op: BinaryOperator::GtEq,
                    right: low.clone(),
                };
                let le = Expr::BinaryOp {
                    left: expr.clone(),
                    op: BinaryOperator::LtEq,
                    right: high.clone(),
                };
                let (a, _) = self.bind(&ge, schema, agg.as_deref_mut())?;
                let (b, _) = self.bind(&le, schema, agg)?;
                let both = ScalarExpr::Binary(BinOp::And, Box::new(a), Box::new(b));
                let out = if *negated {
                    ScalarExpr::Not(Box::new(both))
                } else {
                    both
                };
                Ok((out, DataType::Boolean))
            }
            Expr::In {
                expr,
                target,
                negated,
                ..
            } => {
                let ast::InTarget::List(list) = target else {
                    return Err(self.errors.unsupported(at, "IN with a subquery"));
                };
                let (x, _) = self.bind(expr, schema, agg.as_deref_mut())?;
                let mut items = Vec::with_capacity(list.len());
                for item in list {
                    items.push(self.bind(item, schema, agg.as_deref_mut())?.0);
                }
                Ok((
                    ScalarExpr::InList(Box::new(x), items, *negated),
                    DataType::Boolean,
                ))
            }
            Expr::Like {
                negated,
                any,
                expr,
                pattern,
                escape_char,
            } => {
                if *any || escape_char.is_some() {
                    return Err(self.errors.unsupported(at, "LIKE ANY / LIKE ... ESCAPE"));
                }
                let (x, t) = self.bind(expr, schema, agg.as_deref_mut())?;
                self.want(t, DataType::String, pos_of(expr.as_ref()), "LIKE")?;
                let (p, _) = self.bind(pattern, schema, agg)?;
                Ok((
                    ScalarExpr::Like(Box::new(x), Box::new(p), *negated),
                    DataType::Boolean,
                ))
            }
            Expr::Case {
                operand,
                conditions,
                else_result,
                ..
            } => self.case(
                operand.as_deref(),
                conditions,
                else_result.as_deref(),
                schema,
                agg,
                at,
            ),
            Expr::Cast {
                kind,
                expr,
                data_type,
                format,
            } => {
                if format.is_some() {
                    return Err(self.errors.unsupported(at, "CAST ... FORMAT"));
                }
                let try_cast = match kind {
                    CastKind::Cast => false,
                    CastKind::TryCast | CastKind::SafeCast => true,
                    CastKind::DoubleColon => false,
                };
                let (x, _) = self.bind(expr, schema, agg)?;
                let ty = self.data_type(data_type, at)?;
                Ok((ScalarExpr::Cast(Box::new(x), ty, try_cast), ty))
            }
            Expr::Substring {
                expr,
                substring_from,
                substring_for,
                ..
            } => {
                let mut args = vec![expr.as_ref().clone()];
                args.extend(substring_from.iter().map(|b| b.as_ref().clone()));
                args.extend(substring_for.iter().map(|b| b.as_ref().clone()));
                self.call(Func::Substring, &args, schema, agg, at)
            }
            Expr::Trim {
                expr,
                trim_where,
                trim_what,
                trim_characters,
            } => {
                if trim_where.is_some() || trim_what.is_some() || trim_characters.is_some() {
                    return Err(self
                        .errors
                        .unsupported(at, "TRIM with BOTH/LEADING/TRAILING or characters"));
                }
                self.call(
                    Func::Trim,
                    std::slice::from_ref(expr.as_ref()),
                    schema,
                    agg,
                    at,
                )
            }
            Expr::Floor { expr, field } | Expr::Ceil { expr, field } => {
                if !matches!(
                    field,
                    ast::CeilFloorKind::DateTimeField(DateTimeField::NoDateTime)
                ) {
                    return Err(self.errors.unsupported(at, "FLOOR/CEIL ... TO a time unit"));
                }
                let f = if matches!(e, Expr::Floor { .. }) {
                    Func::Floor
                } else {
                    Func::Ceil
                };
                self.call(f, std::slice::from_ref(expr.as_ref()), schema, agg, at)
            }
            Expr::TypedString(ts) => {
                let text = match &ts.value.value {
                    ast::Value::SingleQuotedString(s) => s.clone(),
                    other => other.to_string(),
                };
                let ty = self.data_type(&ts.data_type, at)?;
                let v = crate::expr::cast(Value::Str(text.as_str().into()), ty)
                    .map_err(|m| self.errors.semantic(at, m))?;
                Ok((ScalarExpr::Literal(v), ty))
            }
            Expr::Function(f) => self.function(f, schema, agg, at),
            other => Err(self
                .errors
                .unsupported(at, format!("the expression `{other}`"))),
        }
    }

    fn column(
        &self,
        qualifier: Option<&str>,
        name: &str,
        at: Pos,
        schema: &Schema,
        agg: Option<&mut AggScope>,
    ) -> Result<(ScalarExpr, DataType)> {
        let shown = match qualifier {
            Some(q) => format!("{q}.{name}"),
            None => name.to_string(),
        };
        let i = match schema.resolve(qualifier, name) {
            Ok(i) => i,
            Err(Unresolved::Unknown) => {
                return Err(self.errors.semantic(
                    at,
                    format!(
                        "unknown column `{shown}`; expected one of: {}",
                        schema.column_list()
                    ),
                ));
            }
            Err(Unresolved::Ambiguous(all)) => {
                return Err(self.errors.semantic(
                    at,
                    format!(
                        "column `{shown}` is ambiguous: it could be {}; expected a qualified name",
                        all.join(" or ")
                    ),
                ));
            }
        };
        let name = shown.as_str();
        let ty = schema.fields.get(i).map(|f| f.ty).unwrap_or(DataType::Null);
        match agg {
            None => Ok((ScalarExpr::Column(i), ty)),
            Some(scope) => match scope.group.iter().position(|g| *g == ScalarExpr::Column(i)) {
                Some(k) => Ok((ScalarExpr::Column(k), ty)),
                None => Err(self.errors.semantic(
                    at,
                    format!("column `{name}` must appear in GROUP BY or be used in an aggregate function"),
                )),
            },
        }
    }

    fn want(&self, got: DataType, want: DataType, at: Pos, what: &str) -> Result<()> {
        if got == want || got == DataType::Null {
            Ok(())
        } else {
            Err(self.type_error(at, &format!("{want} for {what}"), got))
        }
    }

    fn type_error(&self, at: Pos, expected: &str, got: DataType) -> SqlError {
        self.errors.semantic(
            at,
            format!("expected {expected}, found an expression of type {got}"),
        )
    }

    fn binary(
        &self,
        left: &Expr,
        op: &BinaryOperator,
        right: &Expr,
        schema: &Schema,
        mut agg: Option<&mut AggScope>,
        at: Pos,
    ) -> Result<(ScalarExpr, DataType)> {
        let bop = match op {
            BinaryOperator::Plus => BinOp::Add,
            BinaryOperator::Minus => BinOp::Sub,
            BinaryOperator::Multiply => BinOp::Mul,
            BinaryOperator::Divide => BinOp::Div,
            BinaryOperator::Modulo => BinOp::Mod,
            BinaryOperator::Eq => BinOp::Eq,
            BinaryOperator::NotEq => BinOp::NotEq,
            BinaryOperator::Lt => BinOp::Lt,
            BinaryOperator::LtEq => BinOp::LtEq,
            BinaryOperator::Gt => BinOp::Gt,
            BinaryOperator::GtEq => BinOp::GtEq,
            BinaryOperator::And => BinOp::And,
            BinaryOperator::Or => BinOp::Or,
            BinaryOperator::StringConcat => {
                return self.call(
                    Func::Concat,
                    &[left.clone(), right.clone()],
                    schema,
                    agg,
                    at,
                );
            }
            other => return Err(self.errors.unsupported(at, format!("the operator {other}"))),
        };
        let (l, lt) = self.bind(left, schema, agg.as_deref_mut())?;
        let (r, rt) = self.bind(right, schema, agg)?;
        use DataType as T;
        let ty = match bop {
            BinOp::And | BinOp::Or => {
                self.want(lt, T::Boolean, pos_of(left), "AND/OR")?;
                self.want(rt, T::Boolean, pos_of(right), "AND/OR")?;
                T::Boolean
            }
            BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq => {
                let comparable = lt == rt
                    || lt == T::Null
                    || rt == T::Null
                    || (lt.is_numeric() && rt.is_numeric());
                if !comparable {
                    return Err(self.errors.semantic(
                        pos_of(right),
                        format!(
                            "cannot compare {lt} with {rt}; expected an expression of type {lt}"
                        ),
                    ));
                }
                T::Boolean
            }
            _ => match (lt, rt) {
                (T::BigInt, T::BigInt) => T::BigInt,
                (a, b) if a.is_numeric() && b.is_numeric() => T::Double,
                (T::Timestamp, T::Interval) if matches!(bop, BinOp::Add | BinOp::Sub) => {
                    T::Timestamp
                }
                (T::Interval, T::Timestamp) if bop == BinOp::Add => T::Timestamp,
                (T::Interval, T::Interval) if matches!(bop, BinOp::Add | BinOp::Sub) => T::Interval,
                (T::Null, t) | (t, T::Null) => t,
                (a, b) => {
                    return Err(self.errors.semantic(
                        at,
                        format!("cannot apply {op} to {a} and {b}; expected numbers (or a timestamp and an interval)"),
                    ));
                }
            },
        };
        Ok((ScalarExpr::Binary(bop, Box::new(l), Box::new(r)), ty))
    }

    fn case(
        &self,
        operand: Option<&Expr>,
        conditions: &[ast::CaseWhen],
        else_result: Option<&Expr>,
        schema: &Schema,
        mut agg: Option<&mut AggScope>,
        at: Pos,
    ) -> Result<(ScalarExpr, DataType)> {
        let mut whens = Vec::with_capacity(conditions.len());
        let mut ty = DataType::Null;
        for w in conditions {
            let cond = match operand {
                Some(op) => Expr::BinaryOp {
                    left: Box::new(op.clone()),
                    op: BinaryOperator::Eq,
                    right: Box::new(w.condition.clone()),
                },
                None => w.condition.clone(),
            };
            let (c, ct) = self.bind(&cond, schema, agg.as_deref_mut())?;
            self.want(
                ct,
                DataType::Boolean,
                pos_of(&w.condition),
                "a WHEN condition",
            )?;
            let (r, rt) = self.bind(&w.result, schema, agg.as_deref_mut())?;
            ty = self.unify(ty, rt, pos_of(&w.result))?;
            whens.push((c, r));
        }
        let otherwise = match else_result {
            Some(e) => {
                let (x, t) = self.bind(e, schema, agg)?;
                ty = self.unify(ty, t, pos_of(e))?;
                x
            }
            None => ScalarExpr::Literal(Value::Null),
        };
        if whens.is_empty() {
            return Err(self.errors.syntax(at, "expected WHEN in CASE"));
        }
        // Mixed int/double branches produce a double, as in Flink.
        if ty == DataType::Double {
            for (_, r) in whens.iter_mut() {
                *r = ScalarExpr::Cast(Box::new(r.clone()), DataType::Double, false);
            }
        }
        Ok((ScalarExpr::Case(whens, Box::new(otherwise)), ty))
    }

    fn unify(&self, a: DataType, b: DataType, at: Pos) -> Result<DataType> {
        Ok(match (a, b) {
            (DataType::Null, t) | (t, DataType::Null) => t,
            (x, y) if x == y => x,
            (x, y) if x.is_numeric() && y.is_numeric() => DataType::Double,
            (x, y) => {
                return Err(self.errors.semantic(
                    at,
                    format!(
                        "expected an expression of type {x} like the other branches, found {y}"
                    ),
                ));
            }
        })
    }

    fn interval(&self, iv: &ast::Interval, at: Pos) -> Result<(ScalarExpr, DataType)> {
        let text = match iv.value.as_ref() {
            Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => s.clone(),
                other => other.to_string(),
            },
            _ => return Err(self.errors.unsupported(at, "a non-literal INTERVAL")),
        };
        if iv.last_field.is_some() {
            return Err(self
                .errors
                .unsupported(at, "INTERVAL ranges such as DAY TO SECOND"));
        }
        let unit_ms: i64 = match &iv.leading_field {
            Some(DateTimeField::Millisecond | DateTimeField::Milliseconds) => 1,
            Some(DateTimeField::Second | DateTimeField::Seconds) => 1000,
            Some(DateTimeField::Minute | DateTimeField::Minutes) => 60_000,
            Some(DateTimeField::Hour | DateTimeField::Hours) => 3_600_000,
            Some(DateTimeField::Day | DateTimeField::Days) => 86_400_000,
            Some(other) => {
                return Err(self.errors.unsupported(at, format!("INTERVAL in {other}")));
            }
            None => {
                return Err(self
                    .errors
                    .syntax(at, "expected a unit after the INTERVAL value, e.g. SECOND"));
            }
        };
        let n: f64 = text.trim().parse().map_err(|_| {
            self.errors.semantic(
                at,
                format!("expected a number in the INTERVAL, found '{text}'"),
            )
        })?;
        Ok((
            ScalarExpr::Literal(Value::Interval((n * unit_ms as f64).round() as i64)),
            DataType::Interval,
        ))
    }

    /// The SQL type `t`.
    pub fn data_type(&self, t: &ast::DataType, at: Pos) -> Result<DataType> {
        use ast::DataType as A;
        Ok(match t {
            A::Boolean | A::Bool => DataType::Boolean,
            A::TinyInt(_)
            | A::SmallInt(_)
            | A::Int(_)
            | A::Integer(_)
            | A::BigInt(_)
            | A::Int64
            | A::Int8(_)
            | A::Int16
            | A::Int32 => DataType::BigInt,
            A::Float(_)
            | A::Real
            | A::Double(_)
            | A::DoublePrecision
            | A::Float64
            | A::Decimal(_)
            | A::Numeric(_)
            | A::Dec(_) => DataType::Double,
            A::Char(_)
            | A::Varchar(_)
            | A::CharVarying(_)
            | A::String(_)
            | A::Text
            | A::Nvarchar(_) => DataType::String,
            A::Timestamp(_, _) | A::Datetime(_) => DataType::Timestamp,
            A::Custom(name, _) if name.to_string().eq_ignore_ascii_case("TIMESTAMP_LTZ") => {
                DataType::Timestamp
            }
            A::Custom(name, _) if name.to_string().eq_ignore_ascii_case("STRING") => {
                DataType::String
            }
            other => return Err(self.errors.unsupported(at, format!("the type {other}"))),
        })
    }

    fn function(
        &self,
        f: &ast::Function,
        schema: &Schema,
        agg: Option<&mut AggScope>,
        at: Pos,
    ) -> Result<(ScalarExpr, DataType)> {
        let name = f.name.to_string();
        if f.over.is_some()
            && agg.is_none()
            && let Some(i) = schema.index_of(&crate::bind_over::over_column(f))
        {
            // The Over node below the projection (bind_over) holds it.
            let ty = schema.fields.get(i).map_or(DataType::Null, |x| x.ty);
            return Ok((ScalarExpr::Column(i), ty));
        }
        if f.over.is_some() {
            // The Rank below the projection (bind_rank) holds the number.
            if name.eq_ignore_ascii_case("ROW_NUMBER")
                && agg.is_none()
                && let Some(i) = schema.index_of(crate::bind_rank::ROW_NUMBER_COLUMN)
            {
                return Ok((ScalarExpr::Column(i), DataType::BigInt));
            }
            return Err(self.errors.unsupported(
                at,
                "OVER windows other than ROW_NUMBER() in a SELECT without GROUP BY",
            ));
        }
        if let Some(bound) = self.legacy_window_bound(&name, agg.as_deref(), at)? {
            return Ok(bound);
        }
        if !f.within_group.is_empty() {
            return Err(self.errors.unsupported(at, "WITHIN GROUP on aggregates"));
        }
        if f.filter.is_some() && agg_func_of(&name).is_none() {
            return Err(self.errors.semantic(
                at,
                format!("FILTER (WHERE ...) is only allowed on aggregate functions, not {name}"),
            ));
        }
        let (args, distinct) = match &f.args {
            FunctionArguments::None => (Vec::new(), false),
            FunctionArguments::Subquery(_) => {
                return Err(self
                    .errors
                    .unsupported(at, "a subquery as a function argument"));
            }
            FunctionArguments::List(l) => {
                if !l.clauses.is_empty() {
                    return Err(self
                        .errors
                        .unsupported(at, format!("clauses inside {name}(...)")));
                }
                let distinct = matches!(
                    l.duplicate_treatment,
                    Some(ast::DuplicateTreatment::Distinct)
                );
                let mut args = Vec::with_capacity(l.args.len());
                for a in &l.args {
                    match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                            args.push(Some(e.clone()))
                        }
                        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) => args.push(None),
                        _ => {
                            return Err(self.errors.unsupported(
                                at,
                                format!("named or qualified arguments of {name}"),
                            ));
                        }
                    }
                }
                (args, distinct)
            }
        };
        if let Some(func) = agg_func_of(&name) {
            let call = AggSyntax {
                func,
                args: &args,
                distinct,
                filter: f.filter.as_deref(),
            };
            return self.aggregate(call, schema, agg, at, &name);
        }
        if distinct {
            return Err(self.errors.semantic(
                at,
                format!("DISTINCT is only allowed in aggregate functions, not {name}"),
            ));
        }
        let upper = name.to_ascii_uppercase();
        if UNSUPPORTED_FUNCS.contains(&upper.as_str()) {
            return Err(self.errors.unsupported(at, format!("the function {upper}")));
        }
        let registered = || self.catalog.and_then(|c| c.function(&name));
        let Some(func) = Func::by_name(&name).or_else(registered) else {
            return Err(self
                .errors
                .semantic(at, format!("unknown function `{name}`")));
        };
        let mut exprs = Vec::with_capacity(args.len());
        for a in args {
            match a {
                Some(e) => exprs.push(e),
                None => {
                    return Err(self
                        .errors
                        .semantic(at, format!("`*` is not an argument of {upper}")));
                }
            }
        }
        self.call(func, &exprs, schema, agg, at)
    }

    fn call(
        &self,
        func: Func,
        args: &[Expr],
        schema: &Schema,
        mut agg: Option<&mut AggScope>,
        at: Pos,
    ) -> Result<(ScalarExpr, DataType)> {
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let want = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.errors.semantic(
                at,
                format!("{func:?} expects {want} argument(s), found {}", args.len()).to_uppercase(),
            ));
        }
        let mut bound = Vec::with_capacity(args.len());
        let mut types = Vec::with_capacity(args.len());
        for a in args {
            let (x, t) = self.bind(a, schema, agg.as_deref_mut())?;
            bound.push(x);
            types.push(t);
        }
        if func == Func::RegexpExtract
            && let (Some(ScalarExpr::Literal(Value::Str(p))), Some(e)) = (bound.get(1), args.get(1))
        {
            check_regex(p).map_err(|m| self.errors.semantic(pos_of(e), m))?;
        }
        let ty = func.result_type(&types).map_err(|m| {
            self.errors
                .semantic(at, format!("{}: {m}", format!("{func:?}").to_uppercase()))
        })?;
        Ok((ScalarExpr::Call(func, bound), ty))
    }

    fn aggregate(
        &self,
        syntax: AggSyntax<'_>,
        schema: &Schema,
        agg: Option<&mut AggScope>,
        at: Pos,
        name: &str,
    ) -> Result<(ScalarExpr, DataType)> {
        let AggSyntax {
            func,
            args,
            distinct,
            filter,
        } = syntax;
        let Some(scope) = agg else {
            return Err(self.errors.semantic(
                at,
                format!("aggregate function {name} is not allowed here; expected it in a SELECT list or HAVING"),
            ));
        };
        let (func, arg, ty) = match (func, args) {
            (AggFunc::Count, [None]) if !distinct => (AggFunc::CountStar, None, DataType::BigInt),
            (_, [Some(e)]) => {
                if contains_aggregate(e) {
                    return Err(self
                        .errors
                        .semantic(pos_of(e), "aggregate functions cannot be nested"));
                }
                let (x, t) = self.bind(e, schema, None)?;
                let func = match (func, distinct) {
                    (AggFunc::Count, true) => AggFunc::CountDistinct,
                    (f, false) => f,
                    (_, true) => {
                        return Err(self.errors.unsupported(at, format!("{name}(DISTINCT ...)")));
                    }
                };
                let ty = match func {
                    AggFunc::Count | AggFunc::CountDistinct => DataType::BigInt,
                    AggFunc::Sum | AggFunc::Avg => {
                        if !t.is_numeric() {
                            return Err(self.type_error(
                                pos_of(e),
                                &format!("a number for {name}"),
                                t,
                            ));
                        }
                        t
                    }
                    _ => t,
                };
                (func, Some(x), ty)
            }
            _ => {
                return Err(self
                    .errors
                    .semantic(at, format!("{name} expects one argument")));
            }
        };
        let (func, arg) = match filter {
            None => (func, arg),
            Some(f) => self.filtered(func, arg, f, schema)?,
        };
        let call = AggCall { func, arg, ty };
        let idx = match scope.aggs.iter().position(|c| *c == call) {
            Some(i) => i,
            None => {
                scope.aggs.push(call);
                scope.aggs.len() - 1
            }
        };
        Ok((ScalarExpr::Column(scope.group.len() + idx), ty))
    }
}

/// An aggregate call as written.
struct AggSyntax<'s> {
    func: AggFunc,
    args: &'s [Option<Expr>],
    distinct: bool,
    filter: Option<&'s Expr>,
}

impl ExprBinder<'_> {
    /// `TUMBLE_START(...)`, `HOP_END(...)`, `SESSION_ROWTIME(...)` and the
    /// like: a bound of the query's legacy group window (a group key).
    fn legacy_window_bound(
        &self,
        name: &str,
        agg: Option<&AggScope>,
        at: Pos,
    ) -> Result<Option<(ScalarExpr, DataType)>> {
        let upper = name.to_ascii_uppercase();
        let Some((kind, part)) = upper.split_once('_') else {
            return Ok(None);
        };
        if !matches!(kind, "TUMBLE" | "HOP" | "SESSION")
            || !matches!(part, "START" | "END" | "ROWTIME")
        {
            return Ok(None);
        }
        let Some(w) = agg.and_then(|a| a.legacy_window) else {
            return Err(self.errors.semantic(
                at,
                format!("{upper} needs GROUP BY {kind}(time_column, ...) in the same query"),
            ));
        };
        if w.name != kind {
            return Err(self.errors.semantic(
                at,
                format!(
                    "{upper} does not match the query's GROUP BY {}(...)",
                    w.name
                ),
            ));
        }
        let end = ScalarExpr::Column(w.end_key);
        Ok(Some(match part {
            "START" => (ScalarExpr::Column(w.start_key), DataType::Timestamp),
            "END" => (end, DataType::Timestamp),
            // The window's last millisecond, a time attribute as in Flink.
            _ => (
                ScalarExpr::Binary(
                    BinOp::Sub,
                    Box::new(end),
                    Box::new(ScalarExpr::Literal(Value::Interval(1))),
                ),
                DataType::Timestamp,
            ),
        }))
    }

    /// `agg(x) FILTER (WHERE p)` as `agg(CASE WHEN p THEN x END)`, which
    /// every aggregate here reads the same way because it skips NULLs;
    /// `COUNT(*)` becomes `COUNT(CASE WHEN p THEN 1 END)`.
    fn filtered(
        &self,
        func: AggFunc,
        arg: Option<ScalarExpr>,
        filter: &Expr,
        schema: &Schema,
    ) -> Result<(AggFunc, Option<ScalarExpr>)> {
        if contains_aggregate(filter) {
            return Err(self.errors.semantic(
                pos_of(filter),
                "FILTER (WHERE ...) cannot hold an aggregate",
            ));
        }
        let (p, t) = self.bind(filter, schema, None)?;
        if t != DataType::Boolean && t != DataType::Null {
            return Err(self.type_error(pos_of(filter), "a BOOLEAN condition in FILTER", t));
        }
        let (func, arg) = match (func, arg) {
            (AggFunc::CountStar, _) => (AggFunc::Count, ScalarExpr::Literal(Value::Int(1))),
            (f, Some(x)) => (f, x),
            (f, None) => (f, ScalarExpr::Literal(Value::Null)),
        };
        let when = ScalarExpr::Case(vec![(p, arg)], Box::new(ScalarExpr::Literal(Value::Null)));
        Ok((func, Some(when)))
    }
}

/// A literal's value and type. Decimal literals evaluate as DOUBLE.
fn literal(v: &ast::Value) -> Option<(Value, DataType)> {
    Some(match v {
        ast::Value::Number(s, _) => match s.parse::<i64>() {
            Ok(i) => (Value::Int(i), DataType::BigInt),
            Err(_) => (Value::Double(s.parse::<f64>().ok()?), DataType::Double),
        },
        ast::Value::SingleQuotedString(s) | ast::Value::DoubleQuotedString(s) => {
            (Value::Str(s.as_str().into()), DataType::String)
        }
        ast::Value::Boolean(b) => (Value::Bool(*b), DataType::Boolean),
        ast::Value::Null => (Value::Null, DataType::Null),
        _ => return None,
    })
}
