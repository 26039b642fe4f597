//! Binds a sqlparser `Query` into a [`LogicalPlan`].

use std::sync::Arc;

use sqlparser::ast::{
    self as ast, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem,
    SelectItemQualifiedWildcardKind, SetExpr, TableFactor,
};

use crate::bind_expr::{AggScope, ExprBinder, LegacyWindow, contains_aggregate, pos_ident, pos_of};
use crate::catalog::{Catalog, Entry};
use crate::error::{Errors, Pos, Result};
use crate::expr::ScalarExpr;
use crate::function::Func;
use crate::logical::{LogicalPlan, WindowKind};
use crate::schema::{Field, Schema};
use crate::script::PARTITION_BY;
use crate::value::{DataType, Value};

/// Views may refer to views; this bounds the depth (and catches cycles).
const VIEW_DEPTH_MAX: usize = 32;

/// Binds queries against a catalog.
#[derive(Clone, Copy, Debug)]
pub struct QueryBinder<'a> {
    /// Tables and views.
    pub catalog: &'a Catalog,
    /// Positions refer to this script.
    pub errors: Errors<'a>,
    depth: usize,
}

impl<'a> QueryBinder<'a> {
    /// A binder over `catalog` for a script whose text `errors` points into.
    pub fn new(catalog: &'a Catalog, errors: Errors<'a>) -> Self {
        QueryBinder {
            catalog,
            errors,
            depth: 0,
        }
    }

    pub(crate) fn exprs(&self) -> ExprBinder<'a> {
        ExprBinder {
            errors: self.errors,
            catalog: Some(self.catalog),
        }
    }

    /// Binds `q`.
    pub fn query(&self, q: &ast::Query) -> Result<LogicalPlan> {
        let at = pos_of(q);
        if q.with.is_some() {
            return Err(self
                .errors
                .unsupported(at, "WITH (common table expressions)"));
        }
        if let Some(o) = &q.order_by {
            return Err(self
                .errors
                .unsupported(pos_of(o), "ORDER BY on a streaming query"));
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(self.errors.unsupported(at, "LIMIT / FETCH"));
        }
        self.body(q.body.as_ref(), at)
    }

    fn body(&self, body: &SetExpr, at: Pos) -> Result<LogicalPlan> {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(inner) => self.query(inner),
            SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                set_quantifier: ast::SetQuantifier::All,
                left,
                right,
            } => {
                let (l, r) = (self.body(left, at)?, self.body(right, at)?);
                self.union_all(l, r, at)
            }
            SetExpr::SetOperation {
                op, set_quantifier, ..
            } => {
                let what = format!("{op} {set_quantifier}");
                Err(self.errors.unsupported(
                    at,
                    format!("{} of queries (UNION ALL is planned)", what.trim()),
                ))
            }
            SetExpr::Values(_) => Err(self.errors.unsupported(at, "VALUES")),
            other => Err(self
                .errors
                .unsupported(at, format!("the query form `{other}`"))),
        }
    }

    /// `l UNION ALL r`: the same number of columns of the same types; the
    /// names are the left side's.
    fn union_all(&self, l: LogicalPlan, r: LogicalPlan, at: Pos) -> Result<LogicalPlan> {
        let (ls, rs) = (l.schema(), r.schema());
        if ls.len() != rs.len() {
            return Err(self.errors.semantic(
                at,
                format!(
                    "UNION ALL needs the same number of columns on both sides; found {} and {}",
                    ls.len(),
                    rs.len()
                ),
            ));
        }
        for (i, (a, b)) in ls.fields.iter().zip(&rs.fields).enumerate() {
            if a.ty != b.ty && a.ty != DataType::Null && b.ty != DataType::Null {
                return Err(self.errors.semantic(
                    at,
                    format!(
                        "UNION ALL column {} (`{}`) is {} on the left and {} on the right; expected the same type (add a CAST)",
                        i + 1,
                        a.name,
                        a.ty,
                        b.ty
                    ),
                ));
            }
        }
        let fields = ls
            .fields
            .iter()
            .map(|f| Field::new(f.name.clone(), f.ty))
            .collect();
        let schema = Schema {
            fields,
            rowtime: ls.rowtime.filter(|t| rs.rowtime == Some(*t)),
            proctime: ls.proctime.filter(|t| rs.proctime == Some(*t)),
        };
        let mut inputs = match l {
            LogicalPlan::Union { inputs, .. } => inputs,
            other => vec![other],
        };
        inputs.push(r);
        Ok(LogicalPlan::Union { inputs, schema })
    }

    fn select(&self, s: &ast::Select) -> Result<LogicalPlan> {
        let at = Pos::from(s.select_token.0.span.start);
        if s.distinct.is_some() {
            return Err(self.errors.unsupported(at, "SELECT DISTINCT"));
        }
        if s.qualify.is_some() {
            return Err(self.errors.unsupported(at, "QUALIFY"));
        }
        if !s.named_window.is_empty() {
            // `OVER w` with `WINDOW w AS (...)`: bound as if written inline.
            let projection =
                crate::bind_over::resolve_named_windows(&s.projection, &s.named_window)
                    .map_err(|(pos, message)| self.errors.semantic(pos, message))?;
            let mut inline = s.clone();
            inline.projection = projection;
            inline.named_window.clear();
            return self.select(&inline);
        }
        if s.from.is_empty() {
            return Err(self.errors.unsupported(at, "SELECT without FROM"));
        }
        let mut plan = self.bind_from(&s.from)?;
        let input_schema = plan.schema();
        if let Some(w) = &s.selection {
            if contains_aggregate(w) {
                return Err(self.errors.semantic(
                    pos_of(w),
                    "aggregate functions are not allowed in WHERE; expected them in HAVING",
                ));
            }
            let (pred, ty) = self.exprs().bind(w, &input_schema, None)?;
            if ty != DataType::Boolean && ty != DataType::Null {
                return Err(self.errors.semantic(
                    pos_of(w),
                    format!("expected a BOOLEAN condition in WHERE, found {ty}"),
                ));
            }
            plan = LogicalPlan::Filter {
                input: Box::new(plan),
                predicate: pred,
            };
        }
        let group_exprs: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(exprs, modifiers) => {
                if !modifiers.is_empty() {
                    return Err(self.errors.unsupported(at, "GROUP BY ... WITH ROLLUP/CUBE"));
                }
                exprs
            }
            GroupByExpr::All(_) => return Err(self.errors.unsupported(at, "GROUP BY ALL")),
        };
        let has_aggs = s.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                contains_aggregate(e)
            }
            _ => false,
        });
        if group_exprs.is_empty() && !has_aggs {
            if let Some(h) = &s.having {
                return Err(self
                    .errors
                    .semantic(pos_of(h), "HAVING needs GROUP BY or aggregates"));
            }
            let plan = self.rank_over(&s.projection, plan)?;
            let (exprs, schema) = self.projection(&s.projection, &plan.schema(), None)?;
            return Ok(project(plan, exprs, schema));
        }
        // Grouped query: bind keys, then the SELECT list and HAVING in the aggregate scope.
        let mut scope = AggScope::default();
        let mut key_fields = Vec::new();
        let legacy = self.legacy_group_window(group_exprs, &input_schema)?;
        let (plan, input_schema) = match &legacy {
            Some((_, w)) => {
                let windowed = w.over(plan, None);
                let schema = windowed.schema();
                (windowed, schema)
            }
            None => (plan, input_schema),
        };
        for (i, g) in group_exprs.iter().enumerate() {
            if contains_aggregate(g) {
                return Err(self
                    .errors
                    .semantic(pos_of(g), "aggregate functions are not allowed in GROUP BY"));
            }
            if let Some((at, w)) = &legacy
                && *at == i
            {
                let n = input_schema.len() - 3;
                scope.legacy_window = Some(LegacyWindow {
                    name: w.name,
                    start_key: scope.group.len(),
                    end_key: scope.group.len() + 1,
                });
                for (col, name) in [(n, "window_start"), (n + 1, "window_end")] {
                    key_fields.push(Field::new(name, DataType::Timestamp));
                    scope.group.push(ScalarExpr::Column(col));
                    scope.group_types.push(DataType::Timestamp);
                }
                continue;
            }
            let (x, t) = self.exprs().bind(g, &input_schema, None)?;
            let name = match &x {
                ScalarExpr::Column(i) => input_schema.fields.get(*i).map(|f| f.name.clone()),
                _ => None,
            }
            .unwrap_or_else(|| format!("EXPR${}", key_fields.len()));
            key_fields.push(Field::new(name, t));
            scope.group.push(x);
            scope.group_types.push(t);
        }
        let (exprs, out_schema) =
            self.projection(&s.projection, &input_schema, Some(&mut scope))?;
        let having = match &s.having {
            Some(h) => {
                let (x, t) = self.exprs().bind(h, &input_schema, Some(&mut scope))?;
                if t != DataType::Boolean {
                    return Err(self.errors.semantic(
                        pos_of(h),
                        format!("expected a BOOLEAN condition in HAVING, found {t}"),
                    ));
                }
                Some(x)
            }
            None => None,
        };
        let mut agg_fields = key_fields;
        for (i, c) in scope.aggs.iter().enumerate() {
            agg_fields.push(Field::new(format!("EXPR$agg{i}"), c.ty));
        }
        let mut agg_plan = LogicalPlan::Aggregate {
            input: Box::new(plan),
            group: scope.group,
            aggs: scope.aggs,
            schema: Schema::new(agg_fields),
        };
        if let Some(h) = having {
            agg_plan = LogicalPlan::Filter {
                input: Box::new(agg_plan),
                predicate: h,
            };
        }
        Ok(project(agg_plan, exprs, out_schema))
    }

    fn projection(
        &self,
        items: &[SelectItem],
        input: &Schema,
        mut agg: Option<&mut AggScope>,
    ) -> Result<(Vec<ScalarExpr>, Schema)> {
        let mut exprs = Vec::new();
        let mut fields = Vec::new();
        let (mut rowtime, mut proctime) = (None, None);
        for item in items {
            match item {
                SelectItem::Wildcard(opts) | SelectItem::QualifiedWildcard(_, opts) => {
                    if opts.opt_exclude.is_some()
                        || opts.opt_except.is_some()
                        || opts.opt_rename.is_some()
                        || opts.opt_replace.is_some()
                    {
                        return Err(self.errors.unsupported(
                            pos_of(item),
                            "SELECT * with EXCLUDE/EXCEPT/RENAME/REPLACE",
                        ));
                    }
                    if agg.is_some() {
                        return Err(self.errors.semantic(pos_of(item), "SELECT * is not allowed with GROUP BY; expected the group keys and aggregates"));
                    }
                    let qualifier = self.wildcard_qualifier(item)?;
                    let before = exprs.len();
                    for (i, f) in input.fields.iter().enumerate() {
                        let in_scope = qualifier.as_deref().is_none_or(|q| {
                            f.qualifier
                                .as_deref()
                                .is_some_and(|fq| fq.eq_ignore_ascii_case(q))
                        });
                        // `$row_number` and `$over:...` are the binder's own.
                        if f.name.starts_with('$') || !in_scope {
                            continue;
                        }
                        if input.rowtime == Some(i) {
                            rowtime = Some(exprs.len());
                        }
                        if input.proctime == Some(i) {
                            proctime = Some(exprs.len());
                        }
                        exprs.push(ScalarExpr::Column(i));
                        fields.push(f.clone());
                    }
                    if let Some(q) = qualifier
                        && exprs.len() == before
                    {
                        return Err(self.errors.semantic(
                            pos_of(item),
                            format!("unknown table or alias `{q}` in `{q}.*`"),
                        ));
                    }
                }
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    let (x, t) = self.exprs().bind(e, input, agg.as_deref_mut())?;
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ => match e {
                            Expr::Identifier(id) => id.value.clone(),
                            Expr::CompoundIdentifier(p) => {
                                p.last().map(|i| i.value.clone()).unwrap_or_default()
                            }
                            _ => format!("EXPR${}", fields.len()),
                        },
                    };
                    if agg.is_none() {
                        match &x {
                            ScalarExpr::Column(i) if input.rowtime == Some(*i) => {
                                rowtime = Some(exprs.len());
                            }
                            ScalarExpr::Column(i) if input.proctime == Some(*i) => {
                                proctime = Some(exprs.len());
                            }
                            ScalarExpr::Call(Func::Proctime, _) => proctime = Some(exprs.len()),
                            _ => {}
                        }
                    }
                    exprs.push(x);
                    fields.push(Field::new(name, t));
                }
                other => {
                    return Err(self
                        .errors
                        .unsupported(pos_of(other), format!("the select item `{other}`")));
                }
            }
        }
        Ok((
            exprs,
            Schema {
                fields,
                rowtime,
                proctime,
            },
        ))
    }

    pub(crate) fn table_factor(&self, t: &TableFactor) -> Result<LogicalPlan> {
        let at = pos_of(t);
        match t {
            TableFactor::Table {
                name, args, alias, ..
            } => {
                if crate::bind_lookup::system_time_as_of(t).is_some() {
                    return Err(self.errors.unsupported(
                        at,
                        "FOR SYSTEM_TIME AS OF outside a join; a lookup join names it on the right side of JOIN",
                    ));
                }
                if args.is_some() {
                    return Err(self
                        .errors
                        .unsupported(at, "table functions other than window TVFs"));
                }
                if let Some(a) = alias
                    && !a.columns.is_empty()
                {
                    return Err(self.errors.unsupported(at, "column aliases on a table"));
                }
                self.named(&name.to_string(), at)
            }
            TableFactor::Derived {
                lateral, subquery, ..
            } => {
                if *lateral {
                    return Err(self.errors.unsupported(at, "LATERAL"));
                }
                self.query(subquery)
            }
            TableFactor::TableFunction { expr, .. } => self.window_tvf(expr),
            other => Err(self.errors.unsupported(at, format!("`{other}` in FROM"))),
        }
    }

    fn named(&self, name: &str, at: Pos) -> Result<LogicalPlan> {
        match self.catalog.get(name) {
            Some(Entry::Table(t)) => Ok(LogicalPlan::Scan { table: t.clone() }),
            Some(Entry::View(v)) => {
                if self.depth >= VIEW_DEPTH_MAX {
                    return Err(self.errors.semantic(
                        at,
                        format!(
                            "view `{name}` nests views more than {VIEW_DEPTH_MAX} deep (a cycle?)"
                        ),
                    ));
                }
                let source: Arc<str> = v.source.clone();
                let inner = QueryBinder {
                    catalog: self.catalog,
                    errors: Errors::new(&source),
                    depth: self.depth + 1,
                };
                // Errors in the view body are reported against the view's text.
                inner
                    .query(&v.query)
                    .map_err(|e| crate::error::SqlError::Semantic {
                        pos: at,
                        message: format!("in view `{name}`: {e}"),
                        snippet: crate::error::caret_snippet_of(&self.errors, at),
                    })
            }
            None => Err(self.errors.semantic(
                at,
                format!(
                    "unknown table or view `{name}`; expected one of: {}",
                    self.catalog.names().join(", ")
                ),
            )),
        }
    }

    /// `t` of `t.*` (the last part of a qualified name), `None` for `*`.
    fn wildcard_qualifier(&self, item: &SelectItem) -> Result<Option<String>> {
        match item {
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(n), _) => {
                let text = n.to_string();
                let last = text.rsplit('.').next().unwrap_or(&text);
                Ok(Some(last.trim_matches(['"', '`']).to_string()))
            }
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => {
                Err(self.errors.unsupported(pos_of(e), "`.*` on an expression"))
            }
            _ => Ok(None),
        }
    }

    /// The legacy group window among `group` (`TUMBLE(col, size)`,
    /// `HOP(col, slide, size)`, `SESSION(col, gap)`): its place in the list
    /// and the window it assigns. At most one is allowed, as in Flink.
    fn legacy_group_window(
        &self,
        group: &[Expr],
        schema: &Schema,
    ) -> Result<Option<(usize, GroupWindow)>> {
        let mut found = None;
        for (i, g) in group.iter().enumerate() {
            let Expr::Function(f) = g else { continue };
            let upper = f.name.to_string().to_ascii_uppercase();
            let name = match upper.as_str() {
                "TUMBLE" => "TUMBLE",
                "HOP" => "HOP",
                "SESSION" => "SESSION",
                _ => continue,
            };
            if found.is_some() {
                return Err(self
                    .errors
                    .semantic(pos_of(g), "at most one group window is allowed in GROUP BY"));
            }
            let args = self.plain_args(f, &upper)?;
            let want = if name == "HOP" { 3 } else { 2 };
            if args.len() != want {
                return Err(self.errors.semantic(
                    pos_of(g),
                    format!("{name} in GROUP BY expects {want} arguments (the time column, then {}), found {}", if want == 3 { "slide and size" } else { "an interval" }, args.len()),
                ));
            }
            let time_col = self.time_attribute(args[0], schema)?;
            let ms = self.positive_intervals(&args[1..], schema)?;
            let kind = self.window_kind(name, &ms, pos_of(g))?;
            found = Some((
                i,
                GroupWindow {
                    name,
                    kind,
                    time_col,
                },
            ));
        }
        Ok(found)
    }

    /// The window `name` (`TUMBLE`, `HOP`, `CUMULATE` or `SESSION`) with
    /// the interval arguments `ms`, as a window TVF or a legacy group window
    /// writes them (their counts already checked).
    fn window_kind(&self, name: &str, ms: &[i64], at: Pos) -> Result<WindowKind> {
        let m = |i: usize| ms.get(i).copied().unwrap_or(1);
        Ok(match name {
            "TUMBLE" => WindowKind::Tumble { size_ms: m(0) },
            "HOP" => WindowKind::Hop {
                slide_ms: m(0),
                size_ms: m(1),
            },
            "CUMULATE" => {
                if m(1) % m(0) != 0 {
                    return Err(self
                        .errors
                        .semantic(at, "CUMULATE's max size must be a multiple of its step"));
                }
                WindowKind::Cumulate {
                    step_ms: m(0),
                    size_ms: m(1),
                }
            }
            _ => WindowKind::Session { gap_ms: m(0) },
        })
    }

    /// The unnamed arguments of `f`.
    fn plain_args<'e>(&self, f: &'e ast::Function, name: &str) -> Result<Vec<&'e Expr>> {
        let at = pos_of(f);
        let FunctionArguments::List(list) = &f.args else {
            return Err(self
                .errors
                .syntax(at, format!("expected arguments for {name}")));
        };
        list.args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(x)) => Ok(x),
                _ => Err(self
                    .errors
                    .unsupported(pos_of(a), "named arguments of window functions")),
            })
            .collect()
    }

    /// The column `e` names, which must be the time attribute of `schema`.
    fn time_attribute(&self, e: &Expr, schema: &Schema) -> Result<usize> {
        let (x, _) = self.exprs().bind(e, schema, None)?;
        match x {
            ScalarExpr::Column(i) if schema.rowtime == Some(i) || schema.proctime == Some(i) => {
                Ok(i)
            }
            _ => Err(self.errors.semantic(
                pos_of(e),
                format!(
                    "`{e}` is not a time attribute; a group window needs the column of the table's WATERMARK FOR clause{} or a PROCTIME() column",
                    schema
                        .rowtime
                        .and_then(|r| schema.fields.get(r))
                        .map(|f| format!(" (`{}`)", f.name))
                        .unwrap_or_default()
                ),
            )),
        }
    }

    /// Each of `args` as a positive INTERVAL literal, in ms.
    fn positive_intervals(&self, args: &[&Expr], schema: &Schema) -> Result<Vec<i64>> {
        args.iter()
            .map(|x| match self.exprs().bind(x, schema, None)? {
                (ScalarExpr::Literal(Value::Interval(n)), DataType::Interval) if n > 0 => Ok(n),
                _ => Err(self.errors.semantic(
                    pos_of(*x),
                    "expected a positive INTERVAL literal, e.g. INTERVAL '10' SECOND",
                )),
            })
            .collect()
    }

    /// `TUMBLE(t, DESCRIPTOR(col), size)` and friends (the `TABLE` keyword
    /// before `t` was removed by the script parser).
    fn window_tvf(&self, e: &Expr) -> Result<LogicalPlan> {
        let at = pos_of(e);
        let Expr::Function(f) = e else {
            return Err(self
                .errors
                .unsupported(at, "TABLE(...) of anything but a window function"));
        };
        let fname = f.name.to_string().to_ascii_uppercase();
        let mut args = self.plain_args(f, &fname)?;
        let partition_by = match args.get(1) {
            Some(Expr::Function(p)) if is_partition_by(p) => {
                args.remove(1);
                Some(p)
            }
            _ => None,
        };
        let expected = match fname.as_str() {
            "TUMBLE" | "SESSION" => 3,
            "HOP" | "CUMULATE" => 4,
            _ => {
                return Err(self
                    .errors
                    .unsupported(at, format!("the table function {fname}")));
            }
        };
        if args.len() != expected {
            return Err(self.errors.semantic(at, format!("{fname} expects {expected} arguments (TABLE t, DESCRIPTOR(time_col), {}), found {}", if expected == 3 { "size" } else { "two intervals" }, args.len())));
        }
        let input = match args.first() {
            Some(Expr::Identifier(id)) => self.named(&id.value, pos_ident(id))?,
            Some(Expr::CompoundIdentifier(p)) => self.named(
                &p.iter()
                    .map(|i| i.value.as_str())
                    .collect::<Vec<_>>()
                    .join("."),
                at,
            )?,
            Some(other) => {
                return Err(self.errors.semantic(
                    pos_of(*other),
                    format!("expected TABLE name as the first argument of {fname}"),
                ));
            }
            None => return Err(self.errors.internal_at(at)),
        };
        let schema = input.schema();
        let time_col = match args.get(1) {
            Some(Expr::Function(d)) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
                let col = match &d.args {
                    FunctionArguments::List(l) => match l.args.as_slice() {
                        [FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Identifier(id)))] => {
                            id.clone()
                        }
                        _ => {
                            return Err(self.errors.semantic(
                                pos_of(*args.get(1).unwrap_or(&e)),
                                "expected DESCRIPTOR(one column)",
                            ));
                        }
                    },
                    _ => return Err(self.errors.semantic(at, "expected DESCRIPTOR(column)")),
                };
                let Some(i) = schema.index_of(&col.value) else {
                    return Err(self.errors.semantic(
                        pos_ident(&col),
                        format!(
                            "unknown column `{}`; expected one of: {}",
                            col.value,
                            schema.names()
                        ),
                    ));
                };
                if schema.rowtime != Some(i) && schema.proctime != Some(i) {
                    return Err(self.errors.semantic(pos_ident(&col), format!("`{}` is not a time attribute; window functions need the column of the table's WATERMARK FOR clause{} or a PROCTIME() column", col.value, schema.rowtime.and_then(|r| schema.fields.get(r)).map(|f| format!(" (`{}`)", f.name)).unwrap_or_default())));
                }
                i
            }
            Some(other) => {
                return Err(self.errors.semantic(
                    pos_of(*other),
                    "expected DESCRIPTOR(time_column) as the second argument",
                ));
            }
            None => return Err(self.errors.internal_at(at)),
        };
        let ms = self.positive_intervals(&args[2..], &schema)?;
        let kind = self.window_kind(&fname, &ms, at)?;
        let partition = match (partition_by, kind) {
            (None, WindowKind::Session { .. }) => Some(Vec::new()),
            (None, _) => None,
            (Some(p), WindowKind::Session { .. }) => Some(self.partition_columns(p, &schema)?),
            (Some(p), _) => {
                return Err(self.errors.semantic(
                    pos_of(p),
                    format!("{fname} has no PARTITION BY; only SESSION windows are partitioned"),
                ));
            }
        };
        Ok(GroupWindow {
            name: "",
            kind,
            time_col,
        }
        .over(input, partition))
    }

    /// The columns of a `PARTITION BY` clause (which the script parser
    /// made a call of [`PARTITION_BY`]): each a column of `schema`.
    fn partition_columns(&self, p: &ast::Function, schema: &Schema) -> Result<Vec<ScalarExpr>> {
        self.plain_args(p, PARTITION_BY)?
            .into_iter()
            .map(|e| match self.exprs().bind(e, schema, None)? {
                (c @ ScalarExpr::Column(_), _) => Ok(c),
                _ => Err(self
                    .errors
                    .semantic(pos_of(e), "PARTITION BY takes columns of the table")),
            })
            .collect()
    }
}

/// Whether `f` stands for a table argument's `PARTITION BY` clause.
fn is_partition_by(f: &ast::Function) -> bool {
    match f.name.0.as_slice() {
        [part] => part
            .as_ident()
            .is_some_and(|id| id.quote_style.is_none() && id.value == PARTITION_BY),
        _ => false,
    }
}

/// A window assigned to the rows of a plan, as a window TVF does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GroupWindow {
    /// The legacy group window's name (empty for a TVF).
    name: &'static str,
    kind: WindowKind,
    time_col: usize,
}

impl GroupWindow {
    /// `input` with the window columns `window_start`, `window_end` and
    /// `window_time` (the new time attribute) appended; `partition` as
    /// [`LogicalPlan::Window`] has it.
    fn over(self, input: LogicalPlan, partition: Option<Vec<ScalarExpr>>) -> LogicalPlan {
        let schema = input.schema().with_window_columns(self.time_col);
        LogicalPlan::Window {
            input: Box::new(input),
            kind: self.kind,
            time_col: self.time_col,
            partition,
            schema,
        }
    }
}

/// A projection, skipped when it passes its input through unchanged.
fn project(input: LogicalPlan, exprs: Vec<ScalarExpr>, schema: Schema) -> LogicalPlan {
    let identity = exprs.len() == input.schema().len()
        && exprs
            .iter()
            .enumerate()
            .all(|(i, e)| *e == ScalarExpr::Column(i))
        && input
            .schema()
            .fields
            .iter()
            .zip(&schema.fields)
            .all(|(a, b)| a.name == b.name);
    if identity {
        return input;
    }
    LogicalPlan::Project {
        input: Box::new(input),
        exprs,
        schema,
    }
}
