//! Column trimming: every operator keeps only the columns some operator
//! above it reads, and a `nexmark` scan generates only those (the rest of
//! the event is passed over). Rows are then narrower at every hop, in
//! every exchange and in join and window state.
//!
//! [`trim`] rewrites a plan so that its output holds at least the columns
//! asked for, and says where each old column went. Operators whose rows
//! are compared whole (Top-N, OVER, UNION ALL inputs) keep their input's
//! columns; their own inputs are still trimmed below them.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::catalog::TableDef;
use crate::expr::ScalarExpr;
use crate::logical::{AggCall, ExtremeWindows, LogicalPlan, WindowGroup, WindowKind};
use crate::rules::{map_children, substitute, visit};
use crate::schema::Schema;
use crate::value::Value;

/// Where each old column of a trimmed plan is (`None`: dropped).
type Mapping = Vec<Option<usize>>;

/// `plan` with the columns nothing reads dropped below its output, which
/// keeps every column.
pub(crate) fn trim_columns(plan: LogicalPlan) -> LogicalPlan {
    let all: BTreeSet<usize> = (0..plan.schema().len()).collect();
    trim(plan, &all).0
}

/// The columns `e` reads.
fn columns_of(e: &ScalarExpr, into: &mut BTreeSet<usize>) {
    visit(e, &mut |x| {
        if let ScalarExpr::Column(i) = x {
            into.insert(*i);
        }
    });
}

/// `e` over the trimmed columns.
fn remap(e: &ScalarExpr, m: &Mapping) -> ScalarExpr {
    let inputs: Vec<ScalarExpr> = m
        .iter()
        .map(|c| c.map_or(ScalarExpr::Literal(Value::Null), ScalarExpr::Column))
        .collect();
    substitute(e, &inputs)
}

fn remap_index(i: usize, m: &Mapping) -> usize {
    m.get(i).copied().flatten().unwrap_or(i)
}

fn identity(n: usize) -> Mapping {
    (0..n).map(Some).collect()
}

/// `plan` trimmed to (at least) the columns `need` of its output.
fn trim(plan: LogicalPlan, need: &BTreeSet<usize>) -> (LogicalPlan, Mapping) {
    match plan {
        LogicalPlan::Scan { table } => trim_scan(table, need),
        LogicalPlan::Calc {
            input,
            filter,
            exprs,
            schema,
        } => trim_calc(*input, filter, exprs, schema, need),
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => trim_calc(*input, None, exprs, schema, need),
        LogicalPlan::Filter { input, predicate } => {
            let mut below = need.clone();
            columns_of(&predicate, &mut below);
            let (input, m) = trim(*input, &below);
            let predicate = remap(&predicate, &m);
            (
                LogicalPlan::Filter {
                    input: Box::new(input),
                    predicate,
                },
                m,
            )
        }
        LogicalPlan::Window {
            input,
            kind,
            time_col,
            partition,
            schema,
        } => trim_window(*input, (kind, time_col, partition), schema, need),
        LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        } => {
            let mut below = BTreeSet::new();
            group.iter().for_each(|g| columns_of(g, &mut below));
            args_columns(&aggs, &mut below);
            let (input, m) = trim(*input, &below);
            let n = schema.len();
            (
                LogicalPlan::Aggregate {
                    input: Box::new(input),
                    group: group.iter().map(|g| remap(g, &m)).collect(),
                    aggs: remap_args(aggs, &m),
                    schema,
                },
                identity(n),
            )
        }
        LogicalPlan::WindowAggregate {
            input,
            kind,
            proctime,
            group,
            aggs,
            sessions,
            schema,
        } => trim_window_aggregate(*input, (kind, proctime, sessions), group, aggs, schema),
        LogicalPlan::Join {
            kind,
            left,
            right,
            condition,
            schema,
        } => trim_join(kind, *left, *right, condition, schema, need),
        extreme @ LogicalPlan::WindowExtremeRows { .. } => trim_extreme(extreme, need),
        // Rows compared whole, or several inputs that must keep one
        // layout: every input column stays.
        other => keep_inputs(other),
    }
}

/// The columns the aggregates' arguments read.
fn args_columns(aggs: &[AggCall], into: &mut BTreeSet<usize>) {
    for a in aggs {
        if let Some(x) = &a.arg {
            columns_of(x, into);
        }
    }
}

/// The aggregates over the trimmed columns.
fn remap_args(aggs: Vec<AggCall>, m: &Mapping) -> Vec<AggCall> {
    aggs.into_iter()
        .map(|mut a| {
            a.arg = a.arg.map(|x| remap(&x, m));
            a
        })
        .collect()
}

/// A window aggregate asks for its keys, arguments and window columns,
/// and keeps its own output.
fn trim_window_aggregate(
    input: LogicalPlan,
    (kind, proctime, sessions): (WindowKind, bool, Option<Vec<ScalarExpr>>),
    group: Vec<WindowGroup>,
    aggs: Vec<AggCall>,
    schema: Schema,
) -> (LogicalPlan, Mapping) {
    let mut below = BTreeSet::new();
    for g in &group {
        if let WindowGroup::Key(k) = g {
            columns_of(k, &mut below);
        }
    }
    for p in sessions.iter().flatten() {
        columns_of(p, &mut below);
    }
    args_columns(&aggs, &mut below);
    if let WindowKind::Attached { start_col, end_col } = kind {
        below.extend([start_col, end_col]);
    }
    // Windows of event time read the records' timestamps, which the
    // source stamps from its rowtime column: that column stays.
    below.extend(input.schema().rowtime);
    let (input, m) = trim(input, &below);
    let kind = match kind {
        WindowKind::Attached { start_col, end_col } => WindowKind::Attached {
            start_col: remap_index(start_col, &m),
            end_col: remap_index(end_col, &m),
        },
        other => other,
    };
    let group = group
        .into_iter()
        .map(|g| match g {
            WindowGroup::Key(k) => WindowGroup::Key(remap(&k, &m)),
            w => w,
        })
        .collect();
    let sessions = sessions.map(|p| p.iter().map(|e| remap(e, &m)).collect());
    let n = schema.len();
    (
        LogicalPlan::WindowAggregate {
            input: Box::new(input),
            kind,
            proctime,
            group,
            aggs: remap_args(aggs, &m),
            sessions,
            schema,
        },
        identity(n),
    )
}

/// The window-extreme operator asks for the columns read above it, its
/// value, its rowtime and the windows its rows carry.
fn trim_extreme(plan: LogicalPlan, need: &BTreeSet<usize>) -> (LogicalPlan, Mapping) {
    let LogicalPlan::WindowExtremeRows {
        input,
        windows,
        value,
        max,
        group,
        right,
        schema,
    } = plan
    else {
        return keep_inputs(plan);
    };
    let n = input.schema().len();
    let mut below: BTreeSet<usize> = need.iter().copied().filter(|&i| i < n).collect();
    columns_of(&value, &mut below);
    below.extend(input.schema().rowtime);
    if let ExtremeWindows::Attached { start_col, end_col } = windows {
        below.extend([start_col, end_col]);
    }
    let (input, m) = trim(*input, &below);
    let kept = input.schema();
    let value = remap(&value, &m);
    let windows = match windows {
        ExtremeWindows::Attached { start_col, end_col } => ExtremeWindows::Attached {
            start_col: remap_index(start_col, &m),
            end_col: remap_index(end_col, &m),
        },
        tumble => tumble,
    };
    let (fields, mapping) = appended(&kept, m, &schema, n);
    (
        LogicalPlan::WindowExtremeRows {
            input: Box::new(input),
            windows,
            value,
            max,
            group,
            right,
            schema: Schema {
                fields,
                rowtime: None,
                proctime: None,
            },
        },
        mapping,
    )
}

/// `kept`'s columns (the trimmed input, `m` from the old `n` input
/// columns), then the old schema's columns after the input's.
fn appended(
    kept: &Schema,
    m: Mapping,
    old: &Schema,
    n: usize,
) -> (Vec<crate::schema::Field>, Mapping) {
    let mut fields = kept.fields.clone();
    fields.extend(old.fields.iter().skip(n).cloned());
    let mut mapping = m;
    mapping.extend((0..old.len().saturating_sub(n)).map(|j| Some(kept.len() + j)));
    (fields, mapping)
}

/// A nexmark scan generates only the columns needed (and the rowtime,
/// which stamps records and drives the watermark); other connectors read
/// fields by position and keep them all.
fn trim_scan(table: Arc<TableDef>, need: &BTreeSet<usize>) -> (LogicalPlan, Mapping) {
    let n = table.schema.len();
    let prunable =
        table.option("connector") == Some("nexmark") && table.computed.iter().all(Option::is_none);
    let mut keep = need.clone();
    keep.extend(table.schema.rowtime);
    if let Some((c, e)) = &table.watermark {
        keep.insert(*c);
        columns_of(e, &mut keep);
    }
    keep.retain(|&i| i < n);
    if !prunable || keep.len() == n || keep.is_empty() {
        return (LogicalPlan::Scan { table }, identity(n));
    }
    let keep: Vec<usize> = keep.into_iter().collect();
    let mut m: Mapping = vec![None; n];
    for (new, &old) in keep.iter().enumerate() {
        if let Some(slot) = m.get_mut(old) {
            *slot = Some(new);
        }
    }
    let narrowed = narrowed(&table, &keep, &m);
    (
        LogicalPlan::Scan {
            table: Arc::new(narrowed),
        },
        m,
    )
}

/// `table` with only the columns `keep` (old indices, ascending).
fn narrowed(table: &TableDef, keep: &[usize], m: &Mapping) -> TableDef {
    let fields = keep
        .iter()
        .filter_map(|&i| table.schema.fields.get(i).cloned())
        .collect();
    let all_kept = |cols: &[usize]| -> Vec<usize> {
        let mapped: Vec<usize> = cols
            .iter()
            .filter_map(|&c| m.get(c).copied().flatten())
            .collect();
        if mapped.len() == cols.len() {
            mapped
        } else {
            Vec::new()
        }
    };
    TableDef {
        name: table.name.clone(),
        schema: Schema {
            fields,
            rowtime: table
                .schema
                .rowtime
                .and_then(|r| m.get(r).copied().flatten()),
            proctime: None,
        },
        computed: vec![None; keep.len()],
        watermark: table
            .watermark
            .as_ref()
            .map(|(c, e)| (remap_index(*c, m), remap(e, m))),
        options: table.options.clone(),
        temporary: table.temporary,
        primary_key: all_kept(&table.primary_key),
        partition_keys: all_kept(&table.partition_keys),
    }
}

/// A `Calc` (or `Project`) keeps only the expressions asked for.
fn trim_calc(
    input: LogicalPlan,
    filter: Option<ScalarExpr>,
    exprs: Vec<ScalarExpr>,
    schema: Schema,
    need: &BTreeSet<usize>,
) -> (LogicalPlan, Mapping) {
    let mut keep: Vec<usize> = need.iter().copied().filter(|&i| i < exprs.len()).collect();
    if keep.is_empty() && !exprs.is_empty() {
        // A row of no columns still counts (COUNT(*) above).
        keep.push(0);
    }
    let mut below = BTreeSet::new();
    for &i in &keep {
        if let Some(e) = exprs.get(i) {
            columns_of(e, &mut below);
        }
    }
    if let Some(f) = &filter {
        columns_of(f, &mut below);
    }
    let (input, m) = trim(input, &below);
    let mut mapping: Mapping = vec![None; exprs.len()];
    for (new, &old) in keep.iter().enumerate() {
        if let Some(slot) = mapping.get_mut(old) {
            *slot = Some(new);
        }
    }
    let new_exprs = keep
        .iter()
        .filter_map(|&i| exprs.get(i).map(|e| remap(e, &m)))
        .collect();
    let fields = keep
        .iter()
        .filter_map(|&i| schema.fields.get(i).cloned())
        .collect();
    let schema = Schema {
        fields,
        rowtime: schema
            .rowtime
            .and_then(|r| mapping.get(r).copied().flatten()),
        proctime: schema
            .proctime
            .and_then(|r| mapping.get(r).copied().flatten()),
    };
    (
        LogicalPlan::Calc {
            input: Box::new(input),
            filter: filter.map(|f| remap(&f, &m)),
            exprs: new_exprs,
            schema,
        },
        mapping,
    )
}

/// A window TVF passes its input's columns through and appends three.
fn trim_window(
    input: LogicalPlan,
    (kind, time_col, partition): (WindowKind, usize, Option<Vec<ScalarExpr>>),
    schema: Schema,
    need: &BTreeSet<usize>,
) -> (LogicalPlan, Mapping) {
    let n = input.schema().len();
    let mut below: BTreeSet<usize> = need.iter().copied().filter(|&i| i < n).collect();
    below.insert(time_col);
    for p in partition.iter().flatten() {
        columns_of(p, &mut below);
    }
    let (input, m) = trim(input, &below);
    let kept = input.schema();
    let time_col = remap_index(time_col, &m);
    let partition = partition.map(|p| p.iter().map(|e| remap(e, &m)).collect());
    let (_, mapping) = appended(&kept, m, &schema, n);
    let schema = kept.with_window_columns(time_col);
    (
        LogicalPlan::Window {
            input: Box::new(input),
            kind,
            time_col,
            partition,
            schema,
        },
        mapping,
    )
}

/// Each side keeps what is asked of it, what the condition reads, and its
/// rowtime (interval and window joins are recognised by it).
fn trim_join(
    kind: crate::logical::JoinType,
    left: LogicalPlan,
    right: LogicalPlan,
    condition: Option<ScalarExpr>,
    schema: Schema,
    need: &BTreeSet<usize>,
) -> (LogicalPlan, Mapping) {
    let n = left.schema().len();
    let mut wanted = need.clone();
    if let Some(c) = &condition {
        columns_of(c, &mut wanted);
    }
    let mut need_left: BTreeSet<usize> = wanted.iter().copied().filter(|&i| i < n).collect();
    let mut need_right: BTreeSet<usize> = wanted.iter().filter_map(|&i| i.checked_sub(n)).collect();
    need_left.extend(left.schema().rowtime);
    need_right.extend(right.schema().rowtime);
    let (left, ml) = trim(left, &need_left);
    let (right, mr) = trim(right, &need_right);
    let new_n = left.schema().len();
    let mut mapping = ml;
    mapping.extend(mr.iter().map(|c| c.map(|j| new_n + j)));
    let condition = condition.map(|c| remap(&c, &mapping));
    let mut fields = left.schema().fields;
    fields.extend(right.schema().fields);
    let mut trimmed = Schema::new(fields);
    // An interval join's rowtime (the left one) stays a time attribute.
    trimmed.rowtime = schema
        .rowtime
        .and_then(|t| mapping.get(t).copied().flatten());
    (
        LogicalPlan::Join {
            kind,
            left: Box::new(left),
            right: Box::new(right),
            condition,
            schema: trimmed,
        },
        mapping,
    )
}

/// An operator that keeps its inputs' columns: its inputs are trimmed to
/// all their own columns (which still trims below them).
fn keep_inputs(plan: LogicalPlan) -> (LogicalPlan, Mapping) {
    let n = plan.schema().len();
    let full = |p: LogicalPlan| -> crate::error::Result<LogicalPlan> {
        let all: BTreeSet<usize> = (0..p.schema().len()).collect();
        let (trimmed, m) = trim(p.clone(), &all);
        // Every column was asked for, so none moved; otherwise keep `p`.
        Ok(if m.iter().enumerate().all(|(i, c)| *c == Some(i)) {
            trimmed
        } else {
            p
        })
    };
    let kept = plan.clone();
    (map_children(plan, &full).unwrap_or(kept), identity(n))
}
