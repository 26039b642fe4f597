//! Binds a `FROM` clause with several relations: each relation's columns
//! are qualified by its alias (or table name), and joins (inner, left,
//! right, full) combine them left to right. Relations separated by commas are joined on what `WHERE`
//! says, which the rules move into the join.

use sqlparser::ast::{Expr, JoinConstraint, JoinOperator, TableFactor, TableWithJoins};

use crate::bind_expr::pos_of;
use crate::bind_lookup::system_time_as_of;
use crate::bind_query::QueryBinder;
use crate::error::{Pos, Result, SqlError};
use crate::expr::ScalarExpr;
use crate::logical::{JoinType, LogicalPlan};
use crate::schema::Schema;
use crate::value::DataType;

impl QueryBinder<'_> {
    /// The relation the `FROM` items make.
    pub(crate) fn bind_from(&self, items: &[TableWithJoins]) -> Result<LogicalPlan> {
        let mut plan: Option<LogicalPlan> = None;
        for item in items {
            let mut cur = self.relation(&item.relation)?;
            for j in &item.joins {
                let at = pos_of(&j.relation);
                let (kind, constraint) = match &j.join_operator {
                    JoinOperator::Join(c) | JoinOperator::Inner(c) => (JoinType::Inner, c),
                    JoinOperator::CrossJoin(c @ JoinConstraint::None) => (JoinType::Inner, c),
                    JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (JoinType::Left, c),
                    JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (JoinType::Right, c),
                    JoinOperator::FullOuter(c) => (JoinType::Full, c),
                    other => {
                        return Err(self.errors.unsupported(at, join_name(other)));
                    }
                };
                if let Some(as_of) = system_time_as_of(&j.relation) {
                    cur = self.lookup_join(kind, cur, &j.relation, as_of, constraint, at)?;
                    continue;
                }
                let right = self.relation(&j.relation)?;
                if kind != JoinType::Inner && matches!(constraint, JoinConstraint::None) {
                    return Err(self
                        .errors
                        .semantic(at, "an outer join needs a condition; expected ON ..."));
                }
                cur = self.join_on(kind, cur, right, constraint, at)?;
            }
            plan = Some(match plan {
                None => cur,
                Some(left) => join(JoinType::Inner, left, cur, None),
            });
        }
        plan.ok_or_else(|| SqlError::Internal("a FROM clause without relations".into()))
    }

    /// One relation of `FROM`, its columns qualified by its alias or name.
    fn relation(&self, t: &TableFactor) -> Result<LogicalPlan> {
        let plan = self.table_factor(t)?;
        Ok(match qualifier_of(t) {
            Some(q) => requalify(plan, &q),
            None => plan,
        })
    }

    /// `ON on` bound over the joined columns `schema`: a BOOLEAN condition.
    pub(crate) fn join_condition(&self, on: &Expr, schema: &Schema) -> Result<ScalarExpr> {
        let (condition, ty) = self.exprs().bind(on, schema, None)?;
        if ty != DataType::Boolean && ty != DataType::Null {
            return Err(self.errors.semantic(
                pos_of(on),
                format!("expected a BOOLEAN join condition after ON, found {ty}"),
            ));
        }
        Ok(condition)
    }

    fn join_on(
        &self,
        kind: JoinType,
        left: LogicalPlan,
        right: LogicalPlan,
        constraint: &JoinConstraint,
        at: Pos,
    ) -> Result<LogicalPlan> {
        let on = match constraint {
            JoinConstraint::On(e) => e,
            JoinConstraint::None => return Ok(join(kind, left, right, None)),
            JoinConstraint::Using(_) | JoinConstraint::UsingAlias(..) => {
                return Err(self
                    .errors
                    .unsupported(at, "JOIN ... USING (JOIN ... ON is planned)"));
            }
            JoinConstraint::Natural => {
                return Err(self
                    .errors
                    .unsupported(at, "NATURAL JOIN (JOIN ... ON is planned)"));
            }
        };
        let plan = join(kind, left, right, None);
        let condition = self.join_condition(on, &plan.schema())?;
        let LogicalPlan::Join {
            left,
            right,
            mut schema,
            ..
        } = plan
        else {
            return Err(SqlError::Internal("join() made no join".into()));
        };
        // An interval join keeps the left rowtime as a time attribute.
        schema.rowtime =
            crate::physical_join::JoinSpec::plan(kind, &left, &right, Some(&condition))
                .ok()
                .and_then(|spec| spec.output_rowtime());
        Ok(LogicalPlan::Join {
            kind,
            left,
            right,
            condition: Some(condition),
            schema,
        })
    }
}

/// What qualifies the columns of relation `t` in a `FROM` clause: its
/// alias, or a table's name (its last part).
pub(crate) fn qualifier_of(t: &TableFactor) -> Option<String> {
    match t {
        TableFactor::Table { name, alias, .. } => Some(match alias {
            Some(a) => a.name.value.clone(),
            None => name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.clone())
                .unwrap_or_else(|| name.to_string()),
        }),
        TableFactor::Derived { alias, .. } | TableFactor::TableFunction { alias, .. } => {
            alias.as_ref().map(|a| a.name.value.clone())
        }
        _ => None,
    }
}

/// The join of `left` and `right` where `condition` holds. Its columns
/// keep their qualifiers; a join result has no time attribute (as in
/// Flink, a regular join's output rowtime is a plain timestamp), except an
/// interval join's left rowtime, which `JOIN ... ON` marks.
pub(crate) fn join(
    kind: JoinType,
    left: LogicalPlan,
    right: LogicalPlan,
    condition: Option<ScalarExpr>,
) -> LogicalPlan {
    let mut fields = left.schema().fields;
    fields.extend(right.schema().fields);
    LogicalPlan::Join {
        kind,
        left: Box::new(left),
        right: Box::new(right),
        condition,
        schema: Schema::new(fields),
    }
}

/// `plan` with its columns qualified by `q`: a projection that renames
/// nothing, kept only for its schema.
fn requalify(plan: LogicalPlan, q: &str) -> LogicalPlan {
    let schema = plan.schema().qualified(q);
    let exprs = (0..schema.len()).map(ScalarExpr::Column).collect();
    LogicalPlan::Project {
        input: Box::new(plan),
        exprs,
        schema,
    }
}

fn join_name(op: &JoinOperator) -> &'static str {
    match op {
        JoinOperator::CrossJoin(_) => "CROSS JOIN with a condition",
        JoinOperator::Semi(_) | JoinOperator::LeftSemi(_) | JoinOperator::RightSemi(_) => {
            "SEMI JOIN"
        }
        JoinOperator::Anti(_) | JoinOperator::LeftAnti(_) | JoinOperator::RightAnti(_) => {
            "ANTI JOIN"
        }
        JoinOperator::AsOf { .. } => "ASOF JOIN",
        _ => "this kind of join",
    }
}
