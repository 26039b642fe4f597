//! The lookup join (`JOIN t FOR SYSTEM_TIME AS OF s.proc_time ON ...`):
//! the bounded table is read whole into a hash index when the job is
//! planned, and every input row probes it in a chained, stateless operator.
//!
//! Flink looks a row up at its processing time in a table that may change
//! under it. A bounded table here is read once, so each row sees the same
//! table: the results are those of the join at any instant, on every run,
//! core count and replay, and a restored job needs no state for it.

use std::collections::HashMap;
use std::sync::Arc;

use spate::DataStream;
use spate::operators::process::Context;
use spate::sources::SplitInfo;

use crate::catalog::TableDef;
use crate::compiled::CompiledExpr;
use crate::connectors::{ReadPoll, open_reader};
use crate::error::{Result, SqlError};
use crate::expr::ScalarExpr;
use crate::group_key::GroupKey;
use crate::logical::JoinType;
use crate::row::Row;
use crate::value::{DataType, Value};

/// The most rows a looked-up table may hold (it lives in every process).
pub const LOOKUP_ROWS_MAX: usize = 10_000_000;

/// Rows read per call while loading a table.
const LOAD_BATCH_ROWS: usize = 4096;

/// A lookup join's shape, as the logical plan gives it.
pub(crate) struct LookupSpec<'a> {
    /// Inner or left.
    pub kind: JoinType,
    /// The table looked up.
    pub table: &'a TableDef,
    /// `(expression over the input, the table's column)` pairs.
    pub keys: &'a [(ScalarExpr, usize)],
    /// The rest of the condition, over the joined row.
    pub residual: Option<&'a ScalarExpr>,
    /// The input's column types.
    pub input_types: &'a [DataType],
}

/// The table's rows by the values of its key columns. Rows with a NULL
/// key are left out: NULL equals nothing.
type Index = HashMap<GroupKey, Vec<Row>>;

/// Reads `table` whole and indexes it by `columns`.
fn load(table: &TableDef, columns: &[usize]) -> Result<Index> {
    if table.computed.iter().any(Option::is_some) {
        return Err(SqlError::Unsupported {
            pos: Default::default(),
            feature: format!(
                "computed columns on table `{}`, which a lookup join reads",
                table.name
            ),
            snippet: String::new(),
        });
    }
    let mut reader = open_reader(table, SplitInfo { index: 0, count: 1 })?;
    let (mut index, mut rows, mut buf) = (Index::new(), 0usize, Vec::new());
    loop {
        let poll = reader.read(&mut buf, LOAD_BATCH_ROWS)?;
        rows += buf.len();
        if rows > LOOKUP_ROWS_MAX {
            return Err(SqlError::Connector {
                table: table.name.clone(),
                message: format!(
                    "a lookup join holds its table in memory, and this one has more than {LOOKUP_ROWS_MAX} rows"
                ),
            });
        }
        for row in buf.drain(..) {
            let key: GroupKey = columns.iter().map(|&c| row.get(c).clone()).collect();
            if !key.iter().any(Value::is_null) {
                index.entry(key).or_default().push(row);
            }
        }
        match poll {
            ReadPoll::Ready => {}
            ReadPoll::Exhausted => return Ok(index),
            ReadPoll::Pending(_) => {
                return Err(SqlError::Connector {
                    table: table.name.clone(),
                    message: "a lookup join reads its table whole when the job starts, and this table's input is not bounded".into(),
                });
            }
        }
    }
}

/// The join of `input` with the table of `spec`.
pub(crate) fn build_lookup_join(
    input: &DataStream<Row>,
    spec: LookupSpec<'_>,
) -> Result<DataStream<Row>> {
    let columns: Vec<usize> = spec.keys.iter().map(|(_, c)| *c).collect();
    let index = Arc::new(load(spec.table, &columns)?);
    let probes: Vec<CompiledExpr> = spec
        .keys
        .iter()
        .map(|(e, _)| CompiledExpr::new(e, spec.input_types))
        .collect();
    let mut joined_types = spec.input_types.to_vec();
    joined_types.extend(spec.table.schema.types());
    let residual = spec.residual.map(|r| CompiledExpr::new(r, &joined_types));
    let (keep_unmatched, width) = (spec.kind.keeps_left(), spec.table.schema.len());
    let fail = |reason: String| spate::SpateError::Operator {
        operator: "lookup join".into(),
        reason,
    };
    Ok(input.process(move |row: Row, ctx: &mut Context<'_, Row>| {
        let mut key = GroupKey::new();
        for p in &probes {
            match p.eval(&row) {
                Ok(v) => key.push(v),
                Err(m) => return ctx.fail(fail(m)),
            }
        }
        let matches = if key.iter().any(Value::is_null) {
            None
        } else {
            index.get(&key)
        };
        let mut matched = false;
        for right in matches.into_iter().flatten() {
            let mut values = Vec::with_capacity(row.values.len() + width);
            values.extend(row.values.iter().cloned());
            values.extend(right.values.iter().cloned());
            let joined = Row::of(row.kind, values);
            match residual.as_ref().map_or(Ok(true), |r| r.is_true(&joined)) {
                Ok(true) => {
                    matched = true;
                    ctx.collect(joined);
                }
                Ok(false) => {}
                Err(m) => return ctx.fail(fail(m)),
            }
        }
        if !matched && keep_unmatched {
            let mut values = row.values;
            values.resize(values.len() + width, Value::Null);
            ctx.collect(Row::of(row.kind, values));
        }
    }))
}
