//! `agg(x) OVER (PARTITION BY p ORDER BY t [ROWS|RANGE BETWEEN ... PRECEDING
//! AND CURRENT ROW])` in a SELECT list binds to an `Over` node below the
//! projection; each distinct call is a column of it (named after the
//! call's text), which the SELECT item then reads. As in Flink's streaming
//! mode, the order is the time attribute, ascending, and every OVER call
//! of a SELECT shares one window.

use sqlparser::ast::{
    self as ast, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    NamedWindowDefinition, NamedWindowExpr, OrderBySort, SelectItem, WindowFrameBound,
    WindowFrameUnits, WindowSpec, WindowType,
};

use crate::bind_expr::{AggScope, agg_func_of, pos_of};
use crate::bind_query::QueryBinder;
use crate::error::{Pos, Result};
use crate::expr::ScalarExpr;
use crate::logical::{AggCall, LogicalPlan, OverFrame};
use crate::schema::{Field, Schema};
use crate::value::Value;

/// The column an `Over` node gives the call `f`.
pub(crate) fn over_column(f: &ast::Function) -> String {
    format!("$over:{f}")
}

/// `items` with each `OVER w` replaced by the window the SELECT's `WINDOW w
/// AS (...)` clause defines (through `WINDOW w AS v` references too).
pub(crate) fn resolve_named_windows(
    items: &[SelectItem],
    named: &[NamedWindowDefinition],
) -> std::result::Result<Vec<SelectItem>, (Pos, String)> {
    fn spec_of(
        name: &Ident,
        named: &[NamedWindowDefinition],
        depth: usize,
    ) -> std::result::Result<WindowSpec, String> {
        let found = named
            .iter()
            .find(|d| d.0.value.eq_ignore_ascii_case(&name.value));
        match found.map(|d| &d.1) {
            Some(NamedWindowExpr::WindowSpec(spec)) if spec.window_name.is_none() => {
                Ok(spec.clone())
            }
            Some(NamedWindowExpr::WindowSpec(_)) => {
                Err("a window that extends another one (`w AS (v ...)`) is not supported".into())
            }
            // Each step names another window: more steps than windows is a cycle.
            Some(NamedWindowExpr::NamedWindow(next)) if depth < named.len() => {
                spec_of(next, named, depth + 1)
            }
            Some(NamedWindowExpr::NamedWindow(_)) => Err(format!(
                "the window `{}` is defined in terms of itself",
                name.value
            )),
            None => Err(format!(
                "unknown window `{}`; the WINDOW clause defines: {}",
                name.value,
                named
                    .iter()
                    .map(|d| d.0.value.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }
    fn walk(
        e: &mut Expr,
        named: &[NamedWindowDefinition],
    ) -> std::result::Result<(), (Pos, String)> {
        match e {
            Expr::Function(f) => {
                if let Some(WindowType::NamedWindow(name)) = &f.over {
                    let spec = spec_of(name, named, 0).map_err(|m| (pos_of(&*f), m))?;
                    f.over = Some(WindowType::WindowSpec(spec));
                }
                if let FunctionArguments::List(l) = &mut f.args {
                    for a in &mut l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                            walk(x, named)?;
                        }
                    }
                }
                Ok(())
            }
            Expr::BinaryOp { left, right, .. } => {
                walk(left, named)?;
                walk(right, named)
            }
            Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
                walk(expr, named)
            }
            _ => Ok(()),
        }
    }
    let mut items = items.to_vec();
    for item in &mut items {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            walk(e, named)?;
        }
    }
    Ok(items)
}

/// Every `... OVER (...)` call among `items`, however deep in an expression.
pub(crate) fn over_calls(items: &[SelectItem]) -> Vec<&ast::Function> {
    fn walk<'a>(e: &'a Expr, out: &mut Vec<&'a ast::Function>) {
        match e {
            Expr::Function(f) if f.over.is_some() => out.push(f),
            Expr::Function(f) => {
                if let FunctionArguments::List(l) = &f.args {
                    for a in &l.args {
                        if let FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) = a {
                            walk(x, out);
                        }
                    }
                }
            }
            Expr::BinaryOp { left, right, .. } => {
                walk(left, out);
                walk(right, out);
            }
            Expr::UnaryOp { expr, .. } | Expr::Nested(expr) | Expr::Cast { expr, .. } => {
                walk(expr, out)
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for item in items {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            walk(e, &mut out);
        }
    }
    out
}

/// One OVER window as bound: partition keys, time column and frame.
#[derive(Clone, Debug, PartialEq)]
struct Window {
    partition: Vec<ScalarExpr>,
    time_col: usize,
    frame: OverFrame,
}

impl QueryBinder<'_> {
    /// Wraps `plan` in an `Over` node for the OVER aggregates of `calls`.
    pub(crate) fn over_aggregates(
        &self,
        calls: &[&ast::Function],
        plan: LogicalPlan,
    ) -> Result<LogicalPlan> {
        let input = plan.schema();
        let mut window: Option<Window> = None;
        let mut aggs = Vec::new();
        let mut fields = input.fields.clone();
        for f in calls {
            let at = pos_of(*f);
            let name = over_column(f);
            if fields.iter().any(|x| x.name == name) {
                continue;
            }
            let w = self.window(f, &input, at)?;
            match &window {
                None => window = Some(w),
                Some(first) if *first == w => {}
                Some(_) => {
                    return Err(self.errors.unsupported(
                        at,
                        "OVER windows that differ in PARTITION BY, ORDER BY or frame in one SELECT",
                    ));
                }
            }
            let call = self.over_call(f, &input, at)?;
            fields.push(Field::new(name, call.ty));
            aggs.push(call);
        }
        let Some(w) = window else {
            return Ok(plan);
        };
        Ok(LogicalPlan::Over {
            input: Box::new(plan),
            partition: w.partition,
            time_col: w.time_col,
            frame: w.frame,
            aggs,
            schema: Schema {
                fields,
                rowtime: input.rowtime,
                proctime: input.proctime,
            },
        })
    }

    /// The aggregate call of `f`, bound as the same call without its
    /// OVER would be in a GROUP BY query (arguments, COUNT(*), types).
    fn over_call(&self, f: &ast::Function, input: &Schema, at: Pos) -> Result<AggCall> {
        let name = f.name.to_string();
        if agg_func_of(&name).is_none() {
            return Err(self
                .errors
                .unsupported(at, format!("the window function {name}(...) OVER (...)")));
        }
        let distinct =
            matches!(&f.args, FunctionArguments::List(l) if l.duplicate_treatment.is_some());
        if distinct || f.filter.is_some() {
            return Err(self
                .errors
                .unsupported(at, "DISTINCT or FILTER in an OVER aggregation"));
        }
        let mut plain = f.clone();
        plain.over = None;
        let mut scope = AggScope::default();
        self.exprs()
            .bind(&Expr::Function(plain), input, Some(&mut scope))?;
        scope.aggs.pop().ok_or_else(|| self.errors.internal_at(at))
    }

    /// The window of `f`: the time attribute ascending, and a frame that
    /// ends at the current row.
    fn window(&self, f: &ast::Function, input: &Schema, at: Pos) -> Result<Window> {
        let Some(WindowType::WindowSpec(spec)) = &f.over else {
            return Err(self.errors.unsupported(at, "named windows (OVER w)"));
        };
        let mut partition = Vec::new();
        for e in &spec.partition_by {
            partition.push(self.exprs().bind(e, input, None)?.0);
        }
        let time_col = match spec.order_by.as_slice() {
            [o] if matches!(o.options.sort, None | Some(OrderBySort::Asc)) => {
                match self.exprs().bind(&o.expr, input, None)?.0 {
                    ScalarExpr::Column(i) if input.rowtime == Some(i) => i,
                    _ => return Err(self.not_time_order(at, input)),
                }
            }
            _ => return Err(self.not_time_order(at, input)),
        };
        let frame = match &spec.window_frame {
            None => OverFrame::Range(None),
            Some(fr) => {
                if !matches!(fr.end_bound, None | Some(WindowFrameBound::CurrentRow)) {
                    return Err(self
                        .errors
                        .unsupported(at, "an OVER frame that ends after the current row"));
                }
                let WindowFrameBound::Preceding(start) = &fr.start_bound else {
                    return Err(self
                        .errors
                        .unsupported(at, "an OVER frame that starts at or after the current row"));
                };
                let bound = match start {
                    None => None,
                    Some(e) => Some(self.exprs().bind(e, input, None)?.0),
                };
                match (fr.units, bound) {
                    (WindowFrameUnits::Rows, None) => OverFrame::Rows(None),
                    (WindowFrameUnits::Range, None) => OverFrame::Range(None),
                    (WindowFrameUnits::Rows, Some(ScalarExpr::Literal(Value::Int(n))))
                        if n >= 0 =>
                    {
                        OverFrame::Rows(Some(n as u64))
                    }
                    (WindowFrameUnits::Range, Some(ScalarExpr::Literal(Value::Interval(ms))))
                        if ms >= 0 =>
                    {
                        OverFrame::Range(Some(ms))
                    }
                    (WindowFrameUnits::Groups, _) => {
                        return Err(self.errors.unsupported(at, "GROUPS frames"));
                    }
                    _ => {
                        return Err(self.errors.semantic(
                            at,
                            "expected `ROWS BETWEEN n PRECEDING` with a whole number or \
                             `RANGE BETWEEN INTERVAL '...' ... PRECEDING`",
                        ));
                    }
                }
            }
        };
        Ok(Window {
            partition,
            time_col,
            frame,
        })
    }

    fn not_time_order(&self, at: Pos, input: &Schema) -> crate::error::SqlError {
        self.errors.semantic(
            at,
            format!(
                "an OVER aggregation on a stream is ordered by the time attribute, ascending; expected ORDER BY {}",
                input
                    .rowtime
                    .and_then(|r| input.fields.get(r))
                    .map_or("the column of the table's WATERMARK FOR clause".to_string(), |f| {
                        format!("`{}`", f.name)
                    })
            ),
        )
    }
}
