//! `PRIMARY KEY (...) NOT ENFORCED` of `CREATE TABLE`, at the table's end
//! or on one column, as Flink accepts it: declared, never checked (the
//! engine does not own the data), so `NOT ENFORCED` is required. Other
//! constraints (UNIQUE, FOREIGN KEY, CHECK) Flink does not support either.

use sqlparser::ast::{self, ColumnOption, ConstraintCharacteristics, Expr, TableConstraint};

use crate::bind_expr::{pos_ident, pos_of};
use crate::error::{Errors, Result};
use crate::schema::Schema;

/// The primary key's columns (indices in `schema`), empty when none is
/// declared.
pub(crate) fn primary_key(
    ct: &ast::CreateTable,
    schema: &Schema,
    errors: &Errors<'_>,
) -> Result<Vec<usize>> {
    let mut declared: Vec<(
        Vec<&ast::Ident>,
        &Option<ConstraintCharacteristics>,
        crate::error::Pos,
    )> = Vec::new();
    for c in &ct.constraints {
        let TableConstraint::PrimaryKey(pk) = c else {
            return Err(errors.unsupported(
                pos_of(c),
                "table constraints other than PRIMARY KEY ... NOT ENFORCED",
            ));
        };
        let mut columns = Vec::new();
        for ic in &pk.columns {
            let Expr::Identifier(id) = &ic.column.expr else {
                return Err(
                    errors.semantic(pos_of(&ic.column.expr), "a PRIMARY KEY lists column names")
                );
            };
            columns.push(id);
        }
        declared.push((columns, &pk.characteristics, pos_of(c)));
    }
    for col in &ct.columns {
        for opt in &col.options {
            match &opt.option {
                ColumnOption::PrimaryKey(pk) => {
                    declared.push((vec![&col.name], &pk.characteristics, pos_ident(&col.name)));
                }
                ColumnOption::Unique(_) | ColumnOption::ForeignKey(_) | ColumnOption::Check(_) => {
                    return Err(errors.unsupported(
                        pos_ident(&col.name),
                        "column constraints other than PRIMARY KEY NOT ENFORCED",
                    ));
                }
                _ => {}
            }
        }
    }
    let Some((columns, characteristics, at)) = declared.first() else {
        return Ok(Vec::new());
    };
    if declared.len() > 1 {
        return Err(errors.semantic(declared[1].2, "a table has at most one PRIMARY KEY"));
    }
    if characteristics.as_ref().and_then(|c| c.enforced) != Some(false) {
        return Err(errors.semantic(
            *at,
            "a PRIMARY KEY must be declared NOT ENFORCED: the constraint is not checked on \
             the data, which the engine does not own",
        ));
    }
    let mut key = Vec::with_capacity(columns.len());
    for id in columns {
        let Some(i) = schema.index_of(&id.value) else {
            return Err(errors.semantic(
                pos_ident(id),
                format!(
                    "unknown column `{}` in the PRIMARY KEY; expected one of: {}",
                    id.value,
                    schema.names()
                ),
            ));
        };
        if key.contains(&i) {
            return Err(errors.semantic(
                pos_ident(id),
                format!("column `{}` is listed twice in the PRIMARY KEY", id.value),
            ));
        }
        key.push(i);
    }
    Ok(key)
}
