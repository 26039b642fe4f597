//! Binds `JOIN t FOR SYSTEM_TIME AS OF s.proc_time [AS a] ON ...`, Flink's
//! lookup join (a processing-time temporal join): the left side's
//! processing-time attribute names the instant, the right side is a table
//! read whole, and the `ON` condition's equalities on the table's columns
//! are the lookup key.

use std::sync::Arc;

use sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, JoinConstraint, TableFactor,
};

use crate::bind_expr::pos_of;
use crate::bind_join::qualifier_of;
use crate::bind_query::QueryBinder;
use crate::catalog::{Entry, TableDef};
use crate::error::{Pos, Result};
use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{JoinType, LogicalPlan};
use crate::rules::max_column;
use crate::rules_join::{and_all, conjuncts};
use crate::schema::Schema;
use crate::script::SYSTEM_TIME_AS_OF;
use crate::value::DataType;

/// The expression of `t FOR SYSTEM_TIME AS OF expr` (which the script
/// parser turned into the argument list `t (<SYSTEM_TIME_AS_OF>(expr))`).
pub(crate) fn system_time_as_of(t: &TableFactor) -> Option<&Expr> {
    let TableFactor::Table {
        args: Some(args), ..
    } = t
    else {
        return None;
    };
    let [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Function(f)))] = args.args.as_slice()
    else {
        return None;
    };
    let [part] = f.name.0.as_slice() else {
        return None;
    };
    let ident = part.as_ident()?;
    if ident.quote_style.is_some() || ident.value != SYSTEM_TIME_AS_OF {
        return None;
    }
    match &f.args {
        FunctionArguments::List(l) => match l.args.as_slice() {
            [FunctionArg::Unnamed(FunctionArgExpr::Expr(e))] => Some(e),
            _ => None,
        },
        _ => None,
    }
}

impl QueryBinder<'_> {
    /// `left JOIN t FOR SYSTEM_TIME AS OF as_of ON ...`.
    pub(crate) fn lookup_join(
        &self,
        kind: JoinType,
        left: LogicalPlan,
        right: &TableFactor,
        as_of: &Expr,
        constraint: &JoinConstraint,
        at: Pos,
    ) -> Result<LogicalPlan> {
        if !matches!(kind, JoinType::Inner | JoinType::Left) {
            return Err(self.errors.unsupported(
                at,
                "RIGHT and FULL lookup joins (FOR SYSTEM_TIME AS OF); Flink plans INNER and LEFT",
            ));
        }
        let left_schema = left.schema();
        self.check_proctime(as_of, &left_schema)?;
        let (table, qualifier) = self.lookup_table(right, at)?;
        let on = match constraint {
            JoinConstraint::On(e) => e,
            _ => {
                return Err(self.errors.semantic(
                    at,
                    "a lookup join needs a condition; expected ON with an equality on the table's columns",
                ));
            }
        };
        let n = left_schema.len();
        let right_schema = table.schema.clone().qualified(&qualifier);
        let mut fields = left_schema.fields.clone();
        fields.extend(right_schema.fields.iter().cloned());
        let joined = Schema {
            fields,
            rowtime: left_schema.rowtime,
            proctime: left_schema.proctime,
        };
        let condition = self.join_condition(on, &joined)?;
        let (keys, residual) = lookup_keys(condition, &joined.types(), n);
        if keys.is_empty() {
            return Err(self.errors.semantic(
                pos_of(on),
                format!(
                    "a lookup join needs an equality between a column of `{}` and an expression of the left side, e.g. ON {qualifier}.{} = ...",
                    table.name,
                    table.schema.fields.first().map_or("key", |f| f.name.as_str())
                ),
            ));
        }
        Ok(LogicalPlan::LookupJoin {
            kind,
            input: Box::new(left),
            table,
            keys,
            residual,
            schema: joined,
        })
    }

    /// `as_of` must name the left side's processing-time attribute.
    fn check_proctime(&self, as_of: &Expr, left: &Schema) -> Result<()> {
        let (x, _) = self.exprs().bind(as_of, left, None)?;
        match x {
            ScalarExpr::Column(i) if left.proctime == Some(i) => Ok(()),
            ScalarExpr::Column(i) if left.rowtime == Some(i) => Err(self.errors.unsupported(
                pos_of(as_of),
                "event-time temporal joins (FOR SYSTEM_TIME AS OF an event-time attribute, against a versioned table); a lookup join names a PROCTIME() column",
            )),
            _ => Err(self.errors.semantic(
                pos_of(as_of),
                format!(
                    "`{as_of}` is not a processing-time attribute; FOR SYSTEM_TIME AS OF needs the left side's PROCTIME() column{}",
                    left.proctime
                        .and_then(|i| left.fields.get(i))
                        .map(|f| format!(" (`{}`)", f.name))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// The table a lookup join reads, and the qualifier of its columns.
    fn lookup_table(&self, t: &TableFactor, at: Pos) -> Result<(Arc<TableDef>, String)> {
        let (TableFactor::Table { name, .. }, Some(qualifier)) = (t, qualifier_of(t)) else {
            return Err(self.errors.internal_at(at));
        };
        let text = name.to_string();
        let table = match self.catalog.get(&text) {
            Some(Entry::Table(t)) => t.clone(),
            Some(Entry::View(_)) => {
                return Err(self.errors.unsupported(
                    pos_of(t),
                    format!("a view (`{text}`) on the right of FOR SYSTEM_TIME AS OF; a lookup join reads a table"),
                ));
            }
            None => {
                return Err(self.errors.semantic(
                    pos_of(t),
                    format!(
                        "unknown table `{text}`; expected one of: {}",
                        self.catalog.names().join(", ")
                    ),
                ));
            }
        };
        if table.option("connector") != Some("filesystem") {
            return Err(self.errors.unsupported(
                pos_of(t),
                format!(
                    "a lookup join on table `{text}` (connector '{}'); a lookup join reads a bounded 'filesystem' table whole",
                    table.option("connector").unwrap_or("?")
                ),
            ));
        }
        Ok((table, qualifier))
    }
}

/// The lookup key of `condition` over the joined columns of `types` (`n`
/// left columns, then the table's): each conjunct `table column =
/// expression of the left side` (either way round), and the conjuncts left
/// over. A key expression of another type is cast to its column's (NULL,
/// matching nothing, where the cast fails), as SQL compares them.
fn lookup_keys(
    condition: ScalarExpr,
    types: &[DataType],
    n: usize,
) -> (Vec<(ScalarExpr, usize)>, Option<ScalarExpr>) {
    let (mut keys, mut rest) = (Vec::new(), Vec::new());
    for c in conjuncts(condition) {
        match key_pair(&c, n) {
            Some((e, j)) => {
                let ty = types.get(j).copied().unwrap_or(DataType::Null);
                let same = matches!(e, ScalarExpr::Column(i) if types.get(i) == Some(&ty));
                let probe = if same {
                    e
                } else {
                    ScalarExpr::Cast(Box::new(e), ty, true)
                };
                keys.push((probe, j - n));
            }
            None => rest.push(c),
        }
    }
    (keys, and_all(rest))
}

/// `(left expression, joined column index)` of `c` when it is a key equality.
fn key_pair(c: &ScalarExpr, n: usize) -> Option<(ScalarExpr, usize)> {
    let ScalarExpr::Binary(BinOp::Eq, a, b) = c else {
        return None;
    };
    let left_only = |e: &ScalarExpr| max_column(e).is_none_or(|m| m < n);
    match (a.as_ref(), b.as_ref()) {
        (ScalarExpr::Column(j), e) | (e, ScalarExpr::Column(j)) if *j >= n && left_only(e) => {
            Some((e.clone(), *j))
        }
        _ => None,
    }
}
