//! The logical plan: relational operators over bound expressions.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::catalog::TableDef;
use crate::expr::ScalarExpr;
use crate::schema::Schema;
use crate::value::DataType;

/// A window table-valued function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowKind {
    /// `TUMBLE(..., size)`.
    Tumble {
        /// Window size, ms.
        size_ms: i64,
    },
    /// `HOP(..., slide, size)`.
    Hop {
        /// Slide, ms.
        slide_ms: i64,
        /// Window size, ms.
        size_ms: i64,
    },
    /// `CUMULATE(..., step, max size)`.
    Cumulate {
        /// Step, ms.
        step_ms: i64,
        /// Largest window size, ms.
        size_ms: i64,
    },
    /// `SESSION(..., gap)`.
    Session {
        /// Inactivity gap, ms.
        gap_ms: i64,
    },
}

/// One of the columns a window function adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowColumn {
    /// `window_start`.
    Start,
    /// `window_end`.
    End,
    /// `window_time` (`window_end - 1 ms`, the rowtime of a window's result).
    Time,
}

/// An aggregate function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggFunc {
    /// `COUNT(*)`.
    CountStar,
    /// `COUNT(x)` (non-null values).
    Count,
    /// `COUNT(DISTINCT x)`.
    CountDistinct,
    /// `SUM(x)`.
    Sum,
    /// `MIN(x)`.
    Min,
    /// `MAX(x)`.
    Max,
    /// `AVG(x)`.
    Avg,
}

/// An aggregate call: its function, argument and result type.
#[derive(Clone, Debug, PartialEq)]
pub struct AggCall {
    /// The function.
    pub func: AggFunc,
    /// The argument (`None` for `COUNT(*)`).
    pub arg: Option<ScalarExpr>,
    /// The result type.
    pub ty: DataType,
}

/// A group-by item of a window aggregate.
#[derive(Clone, Debug, PartialEq)]
pub enum WindowGroup {
    /// A window column.
    Window(WindowColumn),
    /// A key expression over the input.
    Key(ScalarExpr),
}

/// A relational operator tree.
#[derive(Clone, Debug)]
pub enum LogicalPlan {
    /// Reads a table.
    Scan {
        /// The table.
        table: Arc<TableDef>,
    },
    /// A window TVF: the input's columns plus `window_start`, `window_end`, `window_time`.
    Window {
        /// The input.
        input: Box<LogicalPlan>,
        /// Which windows.
        kind: WindowKind,
        /// The time attribute (must be the input's rowtime).
        time_col: usize,
        /// The output columns.
        schema: Schema,
    },
    /// Keeps rows whose predicate is TRUE.
    Filter {
        /// The input.
        input: Box<LogicalPlan>,
        /// The predicate.
        predicate: ScalarExpr,
    },
    /// Computes new columns.
    Project {
        /// The input.
        input: Box<LogicalPlan>,
        /// One expression per output column.
        exprs: Vec<ScalarExpr>,
        /// The output columns.
        schema: Schema,
    },
    /// Filter and projection fused (produced by the rules).
    Calc {
        /// The input.
        input: Box<LogicalPlan>,
        /// The predicate, if any.
        filter: Option<ScalarExpr>,
        /// One expression per output column.
        exprs: Vec<ScalarExpr>,
        /// The output columns.
        schema: Schema,
    },
    /// `GROUP BY` without windows: an updating result (a changelog).
    Aggregate {
        /// The input.
        input: Box<LogicalPlan>,
        /// The group keys.
        group: Vec<ScalarExpr>,
        /// The aggregates.
        aggs: Vec<AggCall>,
        /// `[keys..., aggs...]`.
        schema: Schema,
    },
    /// `GROUP BY window_start, window_end, ...` over a window TVF: one final
    /// row per window and key (produced by the rules).
    WindowAggregate {
        /// The window TVF's input.
        input: Box<LogicalPlan>,
        /// Which windows.
        kind: WindowKind,
        /// The group-by items in order.
        group: Vec<WindowGroup>,
        /// The aggregates.
        aggs: Vec<AggCall>,
        /// `[group items..., aggs...]`.
        schema: Schema,
    },
}

impl LogicalPlan {
    /// The output columns.
    pub fn schema(&self) -> Schema {
        match self {
            LogicalPlan::Scan { table } => table.schema.clone(),
            LogicalPlan::Filter { input, .. } => input.schema(),
            LogicalPlan::Window { schema, .. }
            | LogicalPlan::Project { schema, .. }
            | LogicalPlan::Calc { schema, .. }
            | LogicalPlan::Aggregate { schema, .. }
            | LogicalPlan::WindowAggregate { schema, .. } => schema.clone(),
        }
    }

    /// True when the output is only inserts (no updates or deletes).
    pub fn is_insert_only(&self) -> bool {
        match self {
            LogicalPlan::Scan { .. } => true,
            LogicalPlan::Aggregate { .. } => false,
            LogicalPlan::WindowAggregate { input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Calc { input, .. } => input.is_insert_only(),
        }
    }

    /// An indented tree, one operator a line (`EXPLAIN`).
    pub fn explain(&self) -> String {
        let mut out = String::new();
        self.explain_into(&mut out, 0);
        out
    }

    fn explain_into(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        let names = |s: &Schema| s.names();
        let list = |e: &[ScalarExpr]| {
            e.iter()
                .map(|x| format!("{x:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let aggs = |a: &[AggCall]| {
            a.iter()
                .map(|c| match &c.arg {
                    Some(x) => format!("{:?}({x:?})", c.func),
                    None => format!("{:?}(*)", c.func),
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = match self {
            LogicalPlan::Scan { table } => writeln!(
                out,
                "{pad}TableScan(table=[{}], fields=[{}], connector=[{}])",
                table.name,
                names(&table.schema),
                table.option("connector").unwrap_or("?")
            ),
            LogicalPlan::Window { kind, time_col, .. } => {
                writeln!(
                    out,
                    "{pad}WindowTableFunction({kind:?}, time_col=${time_col})"
                )
            }
            LogicalPlan::Filter { predicate, .. } => {
                writeln!(out, "{pad}Filter(condition=[{predicate:?}])")
            }
            LogicalPlan::Project { exprs, schema, .. } => writeln!(
                out,
                "{pad}Project(fields=[{}], exprs=[{}])",
                names(schema),
                list(exprs)
            ),
            LogicalPlan::Calc {
                filter,
                exprs,
                schema,
                ..
            } => writeln!(
                out,
                "{pad}Calc(fields=[{}], exprs=[{}]{})",
                names(schema),
                list(exprs),
                filter
                    .as_ref()
                    .map(|f| format!(", where=[{f:?}]"))
                    .unwrap_or_default()
            ),
            LogicalPlan::Aggregate { group, aggs: a, .. } => writeln!(
                out,
                "{pad}GroupAggregate(groupBy=[{}], select=[{}], changelog=[I,UB,UA,D])",
                list(group),
                aggs(a)
            ),
            LogicalPlan::WindowAggregate {
                kind,
                group,
                aggs: a,
                ..
            } => writeln!(
                out,
                "{pad}WindowAggregate(window=[{kind:?}], groupBy=[{group:?}], select=[{}])",
                aggs(a)
            ),
        };
        match self {
            LogicalPlan::Scan { .. } => {}
            LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Calc { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::WindowAggregate { input, .. } => input.explain_into(out, depth + 1),
        }
    }
}
