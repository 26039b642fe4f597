//! The logical plan: relational operators over bound expressions.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::catalog::TableDef;
use crate::expr::ScalarExpr;
use crate::schema::Schema;
use crate::value::{DataType, Value};

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
    /// The windows an upstream window operator already assigned: each row
    /// carries its window's bounds in these input columns (a window
    /// aggregate over a window aggregate's rows, as Flink cascades them).
    Attached {
        /// The input column of `window_start`.
        start_col: usize,
        /// The input column of `window_end`.
        end_col: usize,
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

impl WindowColumn {
    /// This column's value for the window `[start, end)`.
    pub fn value_in(self, start: i64, end: i64) -> Value {
        Value::Timestamp(match self {
            WindowColumn::Start => start,
            WindowColumn::End => end,
            WindowColumn::Time => end - 1,
        })
    }
}

/// The windows of a `WindowExtremeRows`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExtremeWindows {
    /// Tumbling windows of the rows' event time.
    Tumble {
        /// Window size, ms.
        size_ms: i64,
    },
    /// The windows the rows carry (a window aggregate's output).
    Attached {
        /// The input column of `window_start`.
        start_col: usize,
        /// The input column of `window_end`.
        end_col: usize,
    },
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

/// One `ORDER BY` item of a window.
#[derive(Clone, Debug, PartialEq)]
pub struct SortKey {
    /// What is sorted on.
    pub expr: ScalarExpr,
    /// `DESC`.
    pub descending: bool,
}

/// Which rows a join keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinType {
    /// Matching pairs only.
    Inner,
    /// Also every left row without a match, with NULLs on the right.
    Left,
    /// Also every right row without a match, with NULLs on the left.
    Right,
    /// Both of the above.
    Full,
}

impl JoinType {
    /// True when unmatched left rows are kept (padded with NULLs).
    pub fn keeps_left(self) -> bool {
        matches!(self, JoinType::Left | JoinType::Full)
    }

    /// True when unmatched right rows are kept (padded with NULLs).
    pub fn keeps_right(self) -> bool {
        matches!(self, JoinType::Right | JoinType::Full)
    }

    /// Flink's name in `EXPLAIN`.
    pub fn flink_name(self) -> &'static str {
        match self {
            JoinType::Inner => "InnerJoin",
            JoinType::Left => "LeftOuterJoin",
            JoinType::Right => "RightOuterJoin",
            JoinType::Full => "FullOuterJoin",
        }
    }
}

/// The rows an OVER aggregate covers: the current row and those before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: UNBOUNDED).
    Rows(Option<u64>),
    /// `RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT ROW`, in ms
    /// (`None`: UNBOUNDED, the default with ORDER BY); rows at the same
    /// time are peers and see each other.
    Range(Option<i64>),
}

/// A relational operator tree.
#[derive(Clone, Debug, PartialEq)]
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
        /// The time attribute: the input's rowtime, or its proctime.
        time_col: usize,
        /// A `SESSION` TVF's `PARTITION BY` columns (empty without the
        /// clause: sessions then span all rows); `None` for a legacy
        /// `GROUP BY SESSION(...)` window (sessions per group) and the
        /// other kinds.
        partition: Option<Vec<ScalarExpr>>,
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
        /// Windows of processing time (`PROCTIME()`): a row falls in the
        /// windows of the wall-clock time it reaches the window operator,
        /// and a window fires when the clock passes its end (or at the end
        /// of a bounded input). Otherwise event time.
        proctime: bool,
        /// The group-by items in order.
        group: Vec<WindowGroup>,
        /// The aggregates.
        aggs: Vec<AggCall>,
        /// Session windows that span the rows equal in these expressions
        /// (none: all rows), not each group: the groups are then
        /// aggregated within each session, as Flink does for a `SESSION`
        /// TVF whose `PARTITION BY` differs from the group keys. `None`:
        /// windows per group.
        sessions: Option<Vec<ScalarExpr>>,
        /// `[group items..., aggs...]`.
        schema: Schema,
    },
    /// `ROW_NUMBER() OVER (PARTITION BY ... ORDER BY ...)`: the input's
    /// columns plus each row's number within its partition. With `limit`
    /// (set by the rules from a filter on the number), only the first
    /// `limit` rows of each partition: Top-N, and with 1, deduplication.
    Rank {
        /// The input.
        input: Box<LogicalPlan>,
        /// The partition keys.
        partition: Vec<ScalarExpr>,
        /// The order within a partition.
        order: Vec<SortKey>,
        /// The largest row number kept.
        limit: Option<u64>,
        /// `[input columns..., row number]`.
        schema: Schema,
    },
    /// `agg(x) OVER (PARTITION BY ... ORDER BY time [frame])`: each input
    /// row with the aggregates over its frame, in event-time order.
    Over {
        /// The input (append-only).
        input: Box<LogicalPlan>,
        /// The partition keys.
        partition: Vec<ScalarExpr>,
        /// The time attribute the rows are ordered by.
        time_col: usize,
        /// Which rows before each row its aggregates cover.
        frame: OverFrame,
        /// The aggregates.
        aggs: Vec<AggCall>,
        /// `[input columns..., aggregates...]`.
        schema: Schema,
    },
    /// A join of an append-only relation with its own per-window `MAX`
    /// (or `MIN`) on equality with it and window membership (Nexmark q7,
    /// over a tumbling window of its rows; q5, over the windows its rows
    /// carry), planned as what it means: in each window, the rows at the
    /// extreme. Rows are the input's columns, then the right side's (its
    /// expressions over the window aggregate's row).
    WindowExtremeRows {
        /// The relation (both sides of the join).
        input: Box<LogicalPlan>,
        /// Which window each input row is in.
        windows: ExtremeWindows,
        /// The aggregated column, over the input.
        value: ScalarExpr,
        /// `MAX` (or `MIN`).
        max: bool,
        /// The window aggregate's group items (window columns only); its
        /// row is these, then the extreme.
        group: Vec<WindowGroup>,
        /// The join's right side, over the window aggregate's row.
        right: Vec<ScalarExpr>,
        /// The join's output columns.
        schema: Schema,
    },
    /// `UNION ALL`: every row of every input.
    Union {
        /// Two or more inputs with the same column types.
        inputs: Vec<LogicalPlan>,
        /// The output columns (the first input's names).
        schema: Schema,
    },
    /// A join: `[left columns..., right columns...]` where the condition
    /// holds, and for an outer join the unmatched rows of its preserved
    /// side(s) with NULLs for the other.
    Join {
        /// Inner, left, right or full.
        kind: JoinType,
        /// The left input.
        left: Box<LogicalPlan>,
        /// The right input.
        right: Box<LogicalPlan>,
        /// Over the joined columns; `None` (every pair) until the rules
        /// move a `WHERE` over it in.
        condition: Option<ScalarExpr>,
        /// The output columns.
        schema: Schema,
    },
    /// `JOIN t FOR SYSTEM_TIME AS OF left.proc_time ON ...`: each input row
    /// looks up the rows of a bounded table (read whole when the job
    /// starts) whose key columns equal its key expressions. The input's
    /// columns, then the table's; the input's time attributes stay.
    LookupJoin {
        /// Inner (matching pairs) or left (also unmatched rows, NULL-padded).
        kind: JoinType,
        /// The probing input.
        input: Box<LogicalPlan>,
        /// The table looked up.
        table: Arc<TableDef>,
        /// `(expression over the input, the table's column)` pairs that
        /// must be equal.
        keys: Vec<(ScalarExpr, usize)>,
        /// The rest of the `ON` condition, over the joined columns.
        residual: Option<ScalarExpr>,
        /// The output columns.
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
            | LogicalPlan::WindowAggregate { schema, .. }
            | LogicalPlan::Join { schema, .. }
            | LogicalPlan::LookupJoin { schema, .. }
            | LogicalPlan::WindowExtremeRows { schema, .. }
            | LogicalPlan::Union { schema, .. }
            | LogicalPlan::Over { schema, .. }
            | LogicalPlan::Rank { schema, .. } => schema.clone(),
        }
    }

    /// True when the output is only inserts (no updates or deletes).
    pub fn is_insert_only(&self) -> bool {
        match self {
            LogicalPlan::Scan { .. } => true,
            // A new row ahead of others renumbers them.
            LogicalPlan::Aggregate { .. } | LogicalPlan::Rank { .. } => false,
            LogicalPlan::Union { inputs, .. } => inputs.iter().all(LogicalPlan::is_insert_only),
            // An outer join retracts a NULL-padded row when its match
            // comes, except a window join, which pads when the window closes.
            LogicalPlan::Join {
                kind,
                left,
                right,
                condition,
                ..
            } => {
                left.is_insert_only()
                    && right.is_insert_only()
                    && (*kind == JoinType::Inner
                        || crate::physical_join::JoinSpec::plan(
                            *kind,
                            left,
                            right,
                            condition.as_ref(),
                        )
                        .is_ok_and(|s| s.is_insert_only()))
            }
            LogicalPlan::WindowAggregate { input, .. }
            | LogicalPlan::LookupJoin { input, .. }
            | LogicalPlan::WindowExtremeRows { input, .. }
            | LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Over { input, .. }
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
            LogicalPlan::Window {
                kind,
                time_col,
                partition,
                ..
            } => {
                writeln!(
                    out,
                    "{pad}WindowTableFunction({kind:?}, time_col=${time_col}{})",
                    partition
                        .as_ref()
                        .map(|p| format!(", partitionBy=[{}]", list(p)))
                        .unwrap_or_default()
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
                proctime,
                group,
                aggs: a,
                sessions,
                ..
            } => writeln!(
                out,
                "{pad}WindowAggregate(window=[{kind:?}]{}{}, groupBy=[{group:?}], select=[{}])",
                if *proctime { ", time=[proctime]" } else { "" },
                sessions
                    .as_ref()
                    .map(|p| format!(", sessionsBy=[{}]", list(p)))
                    .unwrap_or_default(),
                aggs(a)
            ),
            LogicalPlan::Join {
                kind,
                left,
                right,
                condition,
                schema,
            } => writeln!(
                out,
                "{pad}{}(joinType=[{}], where=[{}], select=[{}])",
                match crate::physical_join::JoinSpec::plan(*kind, left, right, condition.as_ref()) {
                    Ok(spec) if spec.is_window_join() => "WindowJoin",
                    Ok(spec) if spec.is_interval_join() => "IntervalJoin",
                    // A regular join whose non-window side the watermark frees.
                    Ok(spec) if spec.is_window_bounded() => "Join[WindowBoundedState]",
                    _ => "Join",
                },
                kind.flink_name(),
                condition
                    .as_ref()
                    .map(|c| format!("{c:?}"))
                    .unwrap_or_else(|| "true".into()),
                schema.column_list()
            ),
            LogicalPlan::Union { inputs, .. } => {
                writeln!(out, "{pad}Union(all=[true], inputs=[{}])", inputs.len())
            }
            LogicalPlan::WindowExtremeRows {
                windows,
                value,
                max,
                schema,
                ..
            } => writeln!(
                out,
                "{pad}WindowExtremeRows(window=[{windows:?}], {}=[{value:?}], select=[{}])",
                if *max { "max" } else { "min" },
                schema.column_list()
            ),
            LogicalPlan::LookupJoin {
                kind,
                table,
                keys,
                residual,
                schema,
                ..
            } => writeln!(
                out,
                "{pad}LookupJoin(table=[{}], joinType=[{}], lookup=[{}]{}, select=[{}])",
                table.name,
                kind.flink_name(),
                keys.iter()
                    .map(|(e, c)| format!(
                        "{}={e:?}",
                        table.schema.fields.get(*c).map_or("?", |f| f.name.as_str())
                    ))
                    .collect::<Vec<_>>()
                    .join(", "),
                residual
                    .as_ref()
                    .map(|r| format!(", where=[{r:?}]"))
                    .unwrap_or_default(),
                schema.column_list()
            ),
            LogicalPlan::Over {
                partition,
                time_col,
                frame,
                aggs: a,
                ..
            } => writeln!(
                out,
                "{pad}OverAggregate(partitionBy=[{}], orderBy=[${time_col} ASC], frame=[{frame:?}], select=[{}])",
                list(partition),
                aggs(a)
            ),
            LogicalPlan::Rank {
                partition,
                order,
                limit,
                ..
            } => writeln!(
                out,
                "{pad}Rank(rankType=[ROW_NUMBER], rankRange=[rankStart=1, rankEnd={}], partitionBy=[{}], orderBy=[{}])",
                limit.map_or_else(|| "unbounded".to_string(), |n| n.to_string()),
                list(partition),
                order
                    .iter()
                    .map(|k| format!("{:?} {}", k.expr, if k.descending { "DESC" } else { "ASC" }))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        match self {
            LogicalPlan::Scan { .. } => {}
            LogicalPlan::Union { inputs, .. } => {
                for i in inputs {
                    i.explain_into(out, depth + 1);
                }
            }
            LogicalPlan::Join { left, right, .. } => {
                left.explain_into(out, depth + 1);
                right.explain_into(out, depth + 1);
            }
            LogicalPlan::Window { input, .. }
            | LogicalPlan::Filter { input, .. }
            | LogicalPlan::Project { input, .. }
            | LogicalPlan::Calc { input, .. }
            | LogicalPlan::Aggregate { input, .. }
            | LogicalPlan::WindowAggregate { input, .. }
            | LogicalPlan::LookupJoin { input, .. }
            | LogicalPlan::WindowExtremeRows { input, .. }
            | LogicalPlan::Over { input, .. }
            | LogicalPlan::Rank { input, .. } => input.explain_into(out, depth + 1),
        }
    }
}
