//! Rewrite rules from the bound plan to the plan the physical planner takes:
//! window aggregation is recognised, filters and projections fuse into one
//! `Calc` per chain, and constant sub-expressions are folded.

use crate::error::Result;
use crate::expr::{BinOp, ScalarExpr};
use crate::logical::{LogicalPlan, WindowColumn, WindowGroup, WindowKind};
use crate::row::Row;
use crate::schema::Schema;
use crate::value::Value;

/// Applies every rule, bottom-up.
pub fn optimize(plan: LogicalPlan) -> Result<LogicalPlan> {
    // Window aggregation is matched top-down, before the filters below it fuse into a Calc.
    let plan = window_aggregate(plan);
    let plan = crate::rules_join::push_into_join(plan);
    let plan = crate::bind_rank::top_n(plan);
    let plan = map_children(plan, &optimize)?;
    let plan = crate::rules_extreme::window_extreme_rows(cascade_window_aggregate(plan));
    Ok(fuse_calc(plan))
}

/// `Aggregate(group by window_start, window_end, ...)` over the append-only
/// rows of a window operator (through projections, filters, renames)
/// becomes a `WindowAggregate` over the windows those rows already carry:
/// one final row per window, emitted when the watermark closes it, instead
/// of a changelog that updates with every input row. Flink plans such a
/// cascade the same way, and a join of two of them on both window bounds
/// becomes a window join (Nexmark q5's MaxBids).
fn cascade_window_aggregate(plan: LogicalPlan) -> LogicalPlan {
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        mut schema,
    } = plan
    else {
        return plan;
    };
    let windows = crate::physical_join::window_columns(&input).filter(|_| input.is_insert_only());
    let Some((start_col, end_col)) = windows else {
        return LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        };
    };
    let has = |c: usize| group.contains(&ScalarExpr::Column(c));
    if !(has(start_col) && has(end_col)) {
        return LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        };
    }
    let group = group
        .into_iter()
        .map(|g| match g {
            ScalarExpr::Column(c) if c == start_col => WindowGroup::Window(WindowColumn::Start),
            ScalarExpr::Column(c) if c == end_col => WindowGroup::Window(WindowColumn::End),
            other => WindowGroup::Key(other),
        })
        .collect();
    schema.rowtime = None;
    LogicalPlan::WindowAggregate {
        input,
        kind: WindowKind::Attached { start_col, end_col },
        proctime: false,
        group,
        aggs,
        sessions: None,
        schema,
    }
}

/// `plan` with `f` applied to each of its inputs.
pub(crate) fn map_children(
    plan: LogicalPlan,
    f: &dyn Fn(LogicalPlan) -> Result<LogicalPlan>,
) -> Result<LogicalPlan> {
    let b = |input: Box<LogicalPlan>| -> Result<Box<LogicalPlan>> { Ok(Box::new(f(*input)?)) };
    Ok(match plan {
        LogicalPlan::Scan { .. } => plan,
        LogicalPlan::Window {
            input,
            kind,
            time_col,
            partition,
            schema,
        } => LogicalPlan::Window {
            input: b(input)?,
            kind,
            time_col,
            partition,
            schema,
        },
        LogicalPlan::Filter { input, predicate } => LogicalPlan::Filter {
            input: b(input)?,
            predicate,
        },
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => LogicalPlan::Project {
            input: b(input)?,
            exprs,
            schema,
        },
        LogicalPlan::Calc {
            input,
            filter,
            exprs,
            schema,
        } => LogicalPlan::Calc {
            input: b(input)?,
            filter,
            exprs,
            schema,
        },
        LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        } => LogicalPlan::Aggregate {
            input: b(input)?,
            group,
            aggs,
            schema,
        },
        LogicalPlan::WindowAggregate {
            input,
            kind,
            proctime,
            group,
            aggs,
            sessions,
            schema,
        } => LogicalPlan::WindowAggregate {
            input: b(input)?,
            kind,
            proctime,
            group,
            aggs,
            sessions,
            schema,
        },
        LogicalPlan::Rank {
            input,
            partition,
            order,
            limit,
            schema,
        } => LogicalPlan::Rank {
            input: b(input)?,
            partition,
            order,
            limit,
            schema,
        },
        LogicalPlan::Over {
            input,
            partition,
            time_col,
            frame,
            aggs,
            schema,
        } => LogicalPlan::Over {
            input: b(input)?,
            partition,
            time_col,
            frame,
            aggs,
            schema,
        },
        LogicalPlan::LookupJoin {
            kind,
            input,
            table,
            keys,
            residual,
            schema,
        } => LogicalPlan::LookupJoin {
            kind,
            input: b(input)?,
            table,
            keys,
            residual,
            schema,
        },
        LogicalPlan::WindowExtremeRows {
            input,
            windows,
            value,
            max,
            group,
            right,
            schema,
        } => LogicalPlan::WindowExtremeRows {
            input: b(input)?,
            windows,
            value,
            max,
            group,
            right,
            schema,
        },
        LogicalPlan::Union { inputs, schema } => LogicalPlan::Union {
            inputs: inputs.into_iter().map(f).collect::<Result<_>>()?,
            schema,
        },
        LogicalPlan::Join {
            kind,
            left,
            right,
            condition,
            schema,
        } => LogicalPlan::Join {
            kind,
            left: b(left)?,
            right: b(right)?,
            condition,
            schema,
        },
    })
}

/// The largest column index `e` reads, if any.
pub(crate) fn max_column(e: &ScalarExpr) -> Option<usize> {
    let mut m: Option<usize> = None;
    visit(e, &mut |x| {
        if let ScalarExpr::Column(i) = x {
            m = Some(m.map_or(*i, |v| v.max(*i)));
        }
    });
    m
}

pub(crate) fn visit(e: &ScalarExpr, f: &mut dyn FnMut(&ScalarExpr)) {
    f(e);
    match e {
        ScalarExpr::Column(_) | ScalarExpr::Literal(_) => {}
        ScalarExpr::Binary(_, a, b) | ScalarExpr::Like(a, b, _) => {
            visit(a, f);
            visit(b, f);
        }
        ScalarExpr::Not(a)
        | ScalarExpr::Neg(a)
        | ScalarExpr::IsNull(a, _)
        | ScalarExpr::Cast(a, _, _) => visit(a, f),
        ScalarExpr::Case(whens, other) => {
            for (c, r) in whens {
                visit(c, f);
                visit(r, f);
            }
            visit(other, f);
        }
        ScalarExpr::Call(_, args) => args.iter().for_each(|a| visit(a, f)),
        ScalarExpr::InList(a, list, _) => {
            visit(a, f);
            list.iter().for_each(|x| visit(x, f));
        }
    }
}

/// `Aggregate(group by window_start, window_end, ...)` over filters over a
/// window TVF becomes a `WindowAggregate` over the TVF's input (filters
/// that do not read window columns move below it).
fn window_aggregate(plan: LogicalPlan) -> LogicalPlan {
    let LogicalPlan::Aggregate {
        input,
        group,
        aggs,
        schema,
    } = plan
    else {
        return plan;
    };
    // Peel filters down to the window TVF.
    let mut filters = Vec::new();
    let mut cur = input.as_ref();
    loop {
        match cur {
            LogicalPlan::Filter { input, predicate } => {
                filters.push(predicate.clone());
                cur = input.as_ref();
            }
            // An alias on the TVF (`FROM TABLE(TUMBLE(...)) AS t`) only
            // qualifies its columns.
            LogicalPlan::Project { input, exprs, .. } if *exprs == identity(&input.schema()) => {
                cur = input.as_ref();
            }
            _ => break,
        }
    }
    let LogicalPlan::Window {
        input: tvf_input,
        kind,
        time_col,
        partition,
        ..
    } = cur
    else {
        return LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        };
    };
    let n = tvf_input.schema().len();
    let window_col = |e: &ScalarExpr| match e {
        ScalarExpr::Column(i) if *i == n => Some(WindowColumn::Start),
        ScalarExpr::Column(i) if *i == n + 1 => Some(WindowColumn::End),
        ScalarExpr::Column(i) if *i == n + 2 => Some(WindowColumn::Time),
        _ => None,
    };
    let reads_window = |e: &ScalarExpr| max_column(e).is_some_and(|m| m >= n);
    let has_start = group
        .iter()
        .any(|g| window_col(g) == Some(WindowColumn::Start));
    let has_end = group
        .iter()
        .any(|g| window_col(g) == Some(WindowColumn::End));
    let keys_ok = group
        .iter()
        .all(|g| window_col(g).is_some() || !reads_window(g));
    let args_ok = aggs
        .iter()
        .all(|a| a.arg.as_ref().is_none_or(|x| !reads_window(x)));
    let filters_ok = filters.iter().all(|f| !reads_window(f));
    if !(has_start && has_end && keys_ok && args_ok && filters_ok) {
        // A regular aggregate over the TVF's rows (window columns as plain keys).
        return LogicalPlan::Aggregate {
            input,
            group,
            aggs,
            schema,
        };
    }
    let mut below = tvf_input.as_ref().clone();
    for predicate in filters.into_iter().rev() {
        below = LogicalPlan::Filter {
            input: Box::new(below),
            predicate,
        };
    }
    let group: Vec<WindowGroup> = group
        .into_iter()
        .map(|g| match window_col(&g) {
            Some(w) => WindowGroup::Window(w),
            None => WindowGroup::Key(g),
        })
        .collect();
    let sessions = session_scope(*kind, partition.as_deref(), &group);
    let proctime = tvf_input.schema().proctime == Some(*time_col);
    let mut schema = schema;
    // The result's rowtime is window_time when it is a group item.
    schema.rowtime = None;
    schema.proctime = None;
    LogicalPlan::WindowAggregate {
        input: Box::new(below),
        kind: *kind,
        proctime,
        group,
        aggs,
        sessions,
        schema,
    }
}

/// What a session window aggregate's sessions span: `None` when they are
/// per group (a legacy group window, or a `PARTITION BY` of exactly the
/// group keys), else the partition (empty: all rows).
fn session_scope(
    kind: WindowKind,
    partition: Option<&[ScalarExpr]>,
    group: &[WindowGroup],
) -> Option<Vec<ScalarExpr>> {
    let (WindowKind::Session { .. }, Some(partition)) = (kind, partition) else {
        return None;
    };
    let keys: Vec<&ScalarExpr> = group
        .iter()
        .filter_map(|g| match g {
            WindowGroup::Key(k) => Some(k),
            WindowGroup::Window(_) => None,
        })
        .collect();
    let same =
        partition.iter().all(|p| keys.contains(&p)) && keys.iter().all(|k| partition.contains(k));
    (!same).then(|| partition.to_vec())
}

/// Replaces `Column(i)` in `e` with `inputs[i]`.
pub(crate) fn substitute(e: &ScalarExpr, inputs: &[ScalarExpr]) -> ScalarExpr {
    let s = |x: &ScalarExpr| Box::new(substitute(x, inputs));
    match e {
        ScalarExpr::Column(i) => inputs
            .get(*i)
            .cloned()
            .unwrap_or(ScalarExpr::Literal(Value::Null)),
        ScalarExpr::Literal(_) => e.clone(),
        ScalarExpr::Binary(op, a, b) => ScalarExpr::Binary(*op, s(a), s(b)),
        ScalarExpr::Like(a, b, n) => ScalarExpr::Like(s(a), s(b), *n),
        ScalarExpr::Not(a) => ScalarExpr::Not(s(a)),
        ScalarExpr::Neg(a) => ScalarExpr::Neg(s(a)),
        ScalarExpr::IsNull(a, n) => ScalarExpr::IsNull(s(a), *n),
        ScalarExpr::Cast(a, t, tr) => ScalarExpr::Cast(s(a), *t, *tr),
        ScalarExpr::Case(whens, other) => ScalarExpr::Case(
            whens
                .iter()
                .map(|(c, r)| (substitute(c, inputs), substitute(r, inputs)))
                .collect(),
            s(other),
        ),
        ScalarExpr::Call(f, args) => {
            ScalarExpr::Call(*f, args.iter().map(|a| substitute(a, inputs)).collect())
        }
        ScalarExpr::InList(a, list, n) => ScalarExpr::InList(
            s(a),
            list.iter().map(|x| substitute(x, inputs)).collect(),
            *n,
        ),
    }
}

/// Evaluates sub-expressions that read no column once, at planning time.
pub fn fold_constants(e: ScalarExpr) -> ScalarExpr {
    if max_column(&e).is_none() && !matches!(e, ScalarExpr::Literal(_)) && is_deterministic(&e) {
        if let Ok(v) = e.eval(&Row::insert(Vec::new())) {
            return ScalarExpr::Literal(v);
        }
        return e;
    }
    let f = |x: Box<ScalarExpr>| Box::new(fold_constants(*x));
    match e {
        ScalarExpr::Binary(op, a, b) => ScalarExpr::Binary(op, f(a), f(b)),
        ScalarExpr::Like(a, b, n) => ScalarExpr::Like(f(a), f(b), n),
        ScalarExpr::Not(a) => ScalarExpr::Not(f(a)),
        ScalarExpr::Neg(a) => ScalarExpr::Neg(f(a)),
        ScalarExpr::IsNull(a, n) => ScalarExpr::IsNull(f(a), n),
        ScalarExpr::Cast(a, t, tr) => ScalarExpr::Cast(f(a), t, tr),
        ScalarExpr::Case(whens, other) => ScalarExpr::Case(
            whens
                .into_iter()
                .map(|(c, r)| (fold_constants(c), fold_constants(r)))
                .collect(),
            f(other),
        ),
        ScalarExpr::Call(func, args) => {
            ScalarExpr::Call(func, args.into_iter().map(fold_constants).collect())
        }
        ScalarExpr::InList(a, list, n) => {
            ScalarExpr::InList(f(a), list.into_iter().map(fold_constants).collect(), n)
        }
        other => other,
    }
}

/// False when `e` calls a function such as `PROCTIME()`, whose value at
/// planning time is not its value per row.
pub(crate) fn is_deterministic(e: &ScalarExpr) -> bool {
    let mut yes = true;
    visit(e, &mut |x| {
        if let ScalarExpr::Call(f, _) = x {
            yes &= f.is_deterministic();
        }
    });
    yes
}

pub(crate) fn identity(schema: &Schema) -> Vec<ScalarExpr> {
    (0..schema.len()).map(ScalarExpr::Column).collect()
}

/// Filter and Project (and chains of them) become one `Calc`.
fn fuse_calc(plan: LogicalPlan) -> LogicalPlan {
    let (input, filter, exprs, schema) = match plan {
        LogicalPlan::Filter { input, predicate } => {
            let schema = input.schema();
            (input, Some(predicate), identity(&schema), schema)
        }
        LogicalPlan::Project {
            input,
            exprs,
            schema,
        } => (input, None, exprs, schema),
        other => return other,
    };
    // Merge with a Calc below: substitute its expressions into ours.
    let (input, filter, exprs) = match *input {
        LogicalPlan::Calc {
            input: inner,
            filter: inner_filter,
            exprs: inner_exprs,
            ..
        } => {
            let outer_filter = filter.map(|f| substitute(&f, &inner_exprs));
            let filter = match (inner_filter, outer_filter) {
                (Some(a), Some(b)) => {
                    Some(ScalarExpr::Binary(BinOp::And, Box::new(a), Box::new(b)))
                }
                (a, b) => a.or(b),
            };
            let exprs = exprs.iter().map(|e| substitute(e, &inner_exprs)).collect();
            (inner, filter, exprs)
        }
        other => (Box::new(other), filter, exprs),
    };
    // A Calc that keeps every column as it is (a table's alias) goes.
    let input_schema = input.schema();
    if filter.is_none()
        && exprs == identity(&input_schema)
        && input_schema
            .fields
            .iter()
            .zip(&schema.fields)
            .all(|(a, b)| a.name == b.name)
        && input_schema.rowtime == schema.rowtime
    {
        return *input;
    }
    LogicalPlan::Calc {
        input,
        filter: filter.map(fold_constants),
        exprs: exprs.into_iter().map(fold_constants).collect(),
        schema,
    }
}
