//! A SQL session: the catalog, `SET` options, and the execution of a script's statements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use sqlparser::ast::{self, Spanned, Statement, TableObject};

use spate::config::Config;
use spate::keyed::StateTtl;
use spate::sinks::{BlackholeSink, CollectSink};
use spate::{Job, JobResult};

use crate::bind_expr::{ExprBinder, pos_ident, pos_of};
use crate::bind_query::QueryBinder;
use crate::catalog::{Catalog, Entry, TableDef, ViewDef};
use crate::connectors::{RecyclingBlackhole, TableSink, sink_for, validate_source};
use crate::error::{Errors, Pos, Result, SqlError};
use crate::expr::ScalarExpr;
use crate::function::Func;
use crate::live::LiveQuery;
use crate::logical::LogicalPlan;
use crate::physical::{JobPlanner, PhysicalOptions};
use crate::row::Row;
use crate::rules::optimize;
use crate::schema::{Field, Schema};
use crate::script::{self, CreateFunction, Located, ScriptStatement, TableExtras, parse_script};
use crate::value::DataType;

/// What one statement did.
#[derive(Debug)]
pub enum Outcome {
    /// DDL or SET: a message for the user.
    Done(String),
    /// `EXPLAIN`: the plans.
    Explain(String),
    /// `INSERT INTO`: the finished job.
    Inserted {
        /// The target table.
        table: String,
        /// Metrics and wall time.
        result: JobResult,
    },
    /// A `SELECT`: its rows (a changelog) and schema.
    Rows {
        /// The columns.
        schema: Schema,
        /// The rows, in arrival order per core.
        rows: Vec<Row>,
        /// Metrics and wall time.
        result: JobResult,
    },
}

/// A plan ready to run, and how long planning took.
#[derive(Debug)]
pub struct Planned {
    /// The optimized logical plan.
    pub plan: LogicalPlan,
    /// The plan as bound, before the rules.
    pub bound: LogicalPlan,
    /// Parse, bind and optimize time.
    pub planning: Duration,
}

/// Executes SQL statements against a catalog.
#[derive(Debug, Default)]
pub struct Session {
    catalog: Catalog,
    /// The engine configuration jobs run with (`SET 'parallelism.default'` changes cores).
    pub config: Config,
    settings: BTreeMap<String, String>,
    /// Set (by the shell's Ctrl-C) to stop the running job's scans without
    /// draining; `None` outside the shell.
    cancel: Option<Arc<AtomicBool>>,
}

impl Session {
    /// A session running jobs with `config`.
    pub fn new(config: Config) -> Self {
        Session {
            catalog: Catalog::default(),
            config,
            settings: BTreeMap::new(),
            cancel: None,
        }
    }

    /// The catalog.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The options set with `SET`.
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// The engine settings (`section.key=value`) the session's `SET`s
    /// mean (Flink's keys translated), for a job that runs elsewhere: a
    /// cluster's workers build it with their own configuration plus these.
    pub fn engine_settings(&self) -> Vec<String> {
        self.settings
            .iter()
            .flat_map(|(k, v)| crate::flink_settings::engine_settings(k, v).unwrap_or_default())
            .collect()
    }

    /// Runs every statement of `sql` in order; stops at the first error.
    pub fn execute(&mut self, sql: &str) -> Result<Vec<Outcome>> {
        let mut out = Vec::new();
        self.execute_each(sql, &mut |o, _| out.push(o))?;
        Ok(out)
    }

    /// Runs every statement of `sql`, handing each outcome to `each` as it
    /// completes, with the session's settings as they are after it (a
    /// client reads how to show rows there).
    pub fn execute_each(
        &mut self,
        sql: &str,
        each: &mut dyn FnMut(Outcome, &BTreeMap<String, String>),
    ) -> Result<()> {
        let source: Arc<str> = Arc::from(sql);
        for stmt in parse_script(sql)? {
            let o = self.statement(stmt, &source)?;
            each(o, &self.settings);
        }
        Ok(())
    }

    pub(crate) fn statement(&mut self, located: Located, source: &Arc<str>) -> Result<Outcome> {
        let errors = Errors::new(source);
        match located.stmt {
            ScriptStatement::Set { key, value } => self.set(key, value, located.pos, &errors),
            ScriptStatement::Reset { key } => {
                match key {
                    Some(k) => {
                        self.settings.remove(&k);
                    }
                    None => self.settings.clear(),
                }
                Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
            }
            ScriptStatement::CreateTable(stmt, extras) => {
                self.create_table(&stmt, *extras, &errors)
            }
            ScriptStatement::CreateFunction(f) => self.create_function(f, &errors),
            ScriptStatement::StatementSet(inserts) => self.run_statement_set(inserts, &errors),
            // parse_script folds these into a StatementSet or refuses them.
            ScriptStatement::BeginStatementSet | ScriptStatement::End => {
                Err(errors.internal_at(located.pos))
            }
            ScriptStatement::Sql(stmt) => match *stmt {
                Statement::CreateView(v) => self.create_view(v, source, &errors),
                Statement::Insert(ins) => {
                    let (table, plan) = self.plan_insert(&ins, &errors)?;
                    let result = self.run_insert(&table, &plan.plan)?;
                    Ok(Outcome::Inserted {
                        table: table.name.clone(),
                        result,
                    })
                }
                Statement::Query(q) => {
                    let planned = self.plan_query(&q, &errors, Instant::now())?;
                    let (rows, result) = self.run_collect(&planned.plan)?;
                    Ok(Outcome::Rows {
                        schema: planned.plan.schema(),
                        rows,
                        result,
                    })
                }
                Statement::Explain { statement, .. } => self.explain(&statement, &errors),
                other => Err(errors.unsupported(pos_of(&other), first_words(&other))),
            },
        }
    }

    /// Spate runs no JVM: a Java class registers the built-in function that
    /// stands in for it, and any other class is refused by name.
    fn create_function(&mut self, f: CreateFunction, errors: &Errors<'_>) -> Result<Outcome> {
        if let Some(lang) = f
            .language
            .as_deref()
            .filter(|l| *l != "JAVA" && *l != "SCALA")
        {
            return Err(errors.unsupported(f.class_pos, format!("functions in LANGUAGE {lang}")));
        }
        let Some(func) = crate::function::by_java_class(&f.class) else {
            return Err(errors.unsupported(
                f.class_pos,
                format!(
                    "the function class `{}`: Spate runs no JVM, and the classes it has \
                     built-in equivalents for are {}",
                    f.class,
                    crate::function::KNOWN_JAVA_CLASSES.join(", ")
                ),
            ));
        };
        if !self.catalog.put_function(&f.name, func, false) && !f.if_not_exists {
            return Err(errors.semantic(
                f.name_pos,
                format!("the function `{}` already exists", f.name),
            ));
        }
        Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
    }

    fn set(&mut self, key: String, value: String, at: Pos, errors: &Errors<'_>) -> Result<Outcome> {
        match key.as_str() {
            "parallelism.default" => {
                let cores: u32 = value.parse().map_err(|_| {
                    errors.semantic(
                        at,
                        format!("'parallelism.default' must be a whole number, not '{value}'"),
                    )
                })?;
                self.config.runtime.cores = cores;
            }
            "execution.runtime-mode" if value != "streaming" && value != "batch" => {
                return Err(errors.semantic(
                    at,
                    format!("'execution.runtime-mode' is 'streaming' or 'batch', not '{value}'"),
                ));
            }
            RESULT_MODE if !matches!(value.as_str(), "table" | "changelog" | "tableau") => {
                return Err(errors.semantic(
                    at,
                    format!("'{RESULT_MODE}' is 'table', 'changelog' or 'tableau', not '{value}'"),
                ));
            }
            STATE_TTL => {
                parse_duration_ms(&value)
                    .map_err(|m| errors.semantic(at, format!("'{STATE_TTL}' = '{value}': {m}")))?;
            }
            _ => crate::mini_batch::check_setting(&key, &value)
                .map_err(|m| errors.semantic(at, m))?,
        }
        let engine = crate::flink_settings::engine_settings(&key, &value)
            .map_err(|m| errors.semantic(at, m))?;
        let mut config = self.config.clone();
        for assignment in &engine {
            config
                .apply_assignment(assignment)
                .map_err(|e| errors.semantic(at, format!("'{key}' = '{value}': {e}")))?;
        }
        self.config = config;
        self.settings.insert(key, value);
        Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
    }

    fn create_table(
        &mut self,
        stmt: &Statement,
        extras: TableExtras,
        errors: &Errors<'_>,
    ) -> Result<Outcome> {
        let Statement::CreateTable(ct) = stmt else {
            return Err(SqlError::Internal(
                "CREATE TABLE parsed as another statement".into(),
            ));
        };
        let at = pos_of(&ct.name);
        if ct.query.is_some() {
            return Err(errors.unsupported(at, "CREATE TABLE ... AS SELECT"));
        }
        if ct.like.is_some() {
            return Err(errors.unsupported(at, "CREATE TABLE ... LIKE"));
        }
        let binder = ExprBinder {
            errors: *errors,
            catalog: Some(&self.catalog),
        };
        let mut physical = Vec::new();
        for c in &ct.columns {
            let ty = binder.data_type(&c.data_type, pos_ident(&c.name))?;
            physical.push(Field::new(c.name.value.clone(), ty));
        }
        let physical_schema = Schema::new(physical.clone());
        // Computed columns read the physical row; insert them at their declared places.
        let mut fields = Vec::new();
        let mut computed = Vec::new();
        let mut next = extras.computed.iter().peekable();
        for i in 0..=physical.len() {
            while let Some(cc) = next.next_if(|c| c.after_physical == i) {
                let (e, ty) = binder.bind(&cc.expr, &physical_schema, None)?;
                fields.push(Field::new(cc.name.value.clone(), ty));
                computed.push(Some(e));
            }
            if let Some(f) = physical.get(i) {
                fields.push(f.clone());
                computed.push(None);
            }
        }
        let mut schema = Schema::new(fields);
        for (i, f) in schema.fields.iter().enumerate() {
            if schema
                .fields
                .iter()
                .skip(i + 1)
                .any(|g| g.name.eq_ignore_ascii_case(&f.name))
            {
                return Err(errors.semantic(at, format!("column `{}` is declared twice", f.name)));
            }
        }
        // `p AS PROCTIME()` declares the table's processing-time attribute.
        schema.proctime = computed
            .iter()
            .position(|c| matches!(c, Some(ScalarExpr::Call(Func::Proctime, _))));
        let watermark = match &extras.watermark {
            None => None,
            Some((col, expr)) => {
                let Some(i) = schema.index_of(&col.value) else {
                    return Err(errors.semantic(
                        pos_ident(col),
                        format!(
                            "unknown column `{}` in WATERMARK FOR; expected one of: {}",
                            col.value,
                            schema.names()
                        ),
                    ));
                };
                if schema.proctime == Some(i) {
                    return Err(errors.semantic(
                        pos_ident(col),
                        format!(
                            "`{}` is a processing-time attribute (PROCTIME()); WATERMARK FOR \
                             takes an event-time column",
                            col.value
                        ),
                    ));
                }
                if schema.fields.get(i).map(|f| f.ty) != Some(DataType::Timestamp) {
                    return Err(errors.semantic(
                        pos_ident(col),
                        format!(
                            "the WATERMARK FOR column `{}` must be a TIMESTAMP(3)",
                            col.value
                        ),
                    ));
                }
                let (e, ty) = binder.bind(expr, &schema, None)?;
                if ty != DataType::Timestamp {
                    return Err(errors.semantic(
                        pos_of(expr),
                        format!("expected a TIMESTAMP watermark expression, found {ty}"),
                    ));
                }
                schema.rowtime = Some(i);
                Some((i, e))
            }
        };
        let mut options = BTreeMap::new();
        for (k, v, p) in extras.options {
            if options.insert(k.clone(), v).is_some() {
                return Err(errors.semantic(p, format!("option '{k}' is given twice")));
            }
        }
        crate::connectors::rename_legacy_options(&mut options).map_err(|(legacy, current)| {
            errors.semantic(
                at,
                format!("option '{legacy}' is the legacy name of '{current}', which is also given"),
            )
        })?;
        let primary_key = crate::primary_key::primary_key(ct, &schema, errors)?;
        let partition_keys = partition_keys(&extras.partition_keys, &schema, &computed, errors)?;
        let name = ct.name.to_string();
        let table = TableDef {
            name: name.clone(),
            schema,
            computed,
            watermark,
            options,
            temporary: ct.temporary,
            primary_key,
            partition_keys,
        };
        if !table.options.contains_key("connector") {
            return Err(errors.semantic(at, "expected WITH ('connector' = '...') on CREATE TABLE"));
        }
        validate_source(&table)?;
        if !self
            .catalog
            .put(&name, Entry::Table(Arc::new(table)), ct.or_replace)
        {
            if ct.if_not_exists {
                return Ok(Outcome::Done(format!(
                    "[INFO] Table `{name}` exists; skipped."
                )));
            }
            return Err(errors.semantic(at, format!("table or view `{name}` already exists")));
        }
        Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
    }

    fn create_view(
        &mut self,
        v: ast::CreateView,
        source: &Arc<str>,
        errors: &Errors<'_>,
    ) -> Result<Outcome> {
        let at = pos_of(&v.name);
        if v.materialized {
            return Err(errors.unsupported(at, "materialized views"));
        }
        if !v.columns.is_empty() {
            return Err(errors.unsupported(at, "column lists on views"));
        }
        // Bind now, so errors show at CREATE VIEW as in Flink.
        QueryBinder::new(&self.catalog, *errors).query(&v.query)?;
        let name = v.name.to_string();
        let view = ViewDef {
            name: name.clone(),
            query: v.query,
            source: source.clone(),
        };
        if !self
            .catalog
            .put(&name, Entry::View(Arc::new(view)), v.or_replace)
        {
            if v.if_not_exists {
                return Ok(Outcome::Done(format!(
                    "[INFO] View `{name}` exists; skipped."
                )));
            }
            return Err(errors.semantic(at, format!("table or view `{name}` already exists")));
        }
        Ok(Outcome::Done("[INFO] Execute statement succeeded.".into()))
    }

    /// Binds and optimizes a query.
    pub fn plan_query(
        &self,
        q: &ast::Query,
        errors: &Errors<'_>,
        started: Instant,
    ) -> Result<Planned> {
        let bound = QueryBinder::new(&self.catalog, *errors).query(q)?;
        let plan = crate::rules_trim::trim_columns(optimize(bound.clone())?);
        Ok(Planned {
            plan,
            bound,
            planning: started.elapsed(),
        })
    }

    /// Parses, binds and optimizes one `SELECT` or `INSERT` statement (for
    /// `EXPLAIN`-like uses and for measuring planning time).
    pub fn plan_statement(&self, sql: &str) -> Result<Planned> {
        let started = Instant::now();
        let errors = Errors::new(sql);
        let mut stmts = parse_script(sql)?;
        let Some(stmt) = stmts.pop() else {
            return Err(errors.syntax(Pos::new(1, 1), "expected a statement"));
        };
        match stmt.stmt {
            script::ScriptStatement::Sql(s) => {
                match *s {
                    Statement::Query(q) => self.plan_query(&q, &errors, started),
                    Statement::Insert(ins) => {
                        let (_, mut p) = self.plan_insert(&ins, &errors)?;
                        p.planning = started.elapsed();
                        Ok(p)
                    }
                    other => Err(errors
                        .unsupported(pos_of(&other), "planning anything but SELECT or INSERT")),
                }
            }
            _ => Err(errors.semantic(stmt.pos, "expected SELECT or INSERT")),
        }
    }

    fn plan_insert(
        &self,
        ins: &ast::Insert,
        errors: &Errors<'_>,
    ) -> Result<(Arc<TableDef>, Planned)> {
        let started = Instant::now();
        let at = pos_of(ins);
        let TableObject::TableName(name) = &ins.table else {
            return Err(errors.unsupported(at, "INSERT INTO a table function"));
        };
        if !ins.columns.is_empty() {
            return Err(errors.unsupported(at, "INSERT with a column list"));
        }
        if ins.overwrite {
            return Err(errors.unsupported(at, "INSERT OVERWRITE"));
        }
        let Some(q) = &ins.source else {
            return Err(errors.syntax(at, "expected a query after INSERT INTO table"));
        };
        let name_pos = pos_of(name);
        let table = match self.catalog.get(&name.to_string()) {
            Some(Entry::Table(t)) => t.clone(),
            Some(Entry::View(_)) => {
                return Err(errors.semantic(
                    name_pos,
                    format!("`{name}` is a view; expected a table to INSERT INTO"),
                ));
            }
            None => {
                return Err(errors.semantic(
                    name_pos,
                    format!(
                        "unknown table `{name}`; expected one of: {}",
                        self.catalog.names().join(", ")
                    ),
                ));
            }
        };
        let planned = self.plan_query(q, errors, started)?;
        let got = planned.plan.schema();
        let want = &table.schema;
        if got.len() != want.len() {
            return Err(errors.semantic(
                pos_of(q.as_ref()),
                format!(
                    "the query has {} columns but `{}` has {} ({})",
                    got.len(),
                    table.name,
                    want.len(),
                    want.names()
                ),
            ));
        }
        for (g, w) in got.fields.iter().zip(&want.fields) {
            let ok = g.ty == w.ty
                || g.ty == DataType::Null
                || (g.ty == DataType::BigInt && w.ty == DataType::Double);
            if !ok {
                return Err(errors.semantic(
                    pos_of(q.as_ref()),
                    format!(
                        "column `{}` of the query is {} but `{}.{}` is {}",
                        g.name, g.ty, table.name, w.name, w.ty
                    ),
                ));
            }
        }
        if !planned.plan.is_insert_only()
            && let Ok(TableSink::File(_)) = sink_for(&table)
        {
            {
                return Err(errors.unsupported(
                    pos_of(q.as_ref()),
                    "writing an updating (changelog) result to a filesystem table",
                ));
            }
        }
        Ok((table, planned))
    }

    fn run_insert(&self, table: &TableDef, plan: &LogicalPlan) -> Result<JobResult> {
        let job = Job::builder(&format!("insert into {}", table.name));
        let planner = self.planner(&job);
        add_insert(&planner, table, plan, table.name.as_str())?;
        Ok(job.build()?.run(&self.config)?)
    }

    /// A statement set: every INSERT planned first (so an error in any runs
    /// none), then one job writing all the sinks, as Flink submits it.
    fn run_statement_set(&self, inserts: Vec<ast::Insert>, errors: &Errors<'_>) -> Result<Outcome> {
        let (job, tables) = self.inserts_job(&inserts, errors, "statement set")?;
        Ok(Outcome::Inserted {
            table: tables,
            result: job.run(&self.config)?,
        })
    }

    /// One job (titled `title into <tables>`) writing the sinks of all
    /// `inserts`, each planned first so an error in any builds none; and
    /// the tables it writes, comma-separated.
    pub(crate) fn inserts_job(
        &self,
        inserts: &[ast::Insert],
        errors: &Errors<'_>,
        title: &str,
    ) -> Result<(Job, String)> {
        let planned = inserts
            .iter()
            .map(|ins| self.plan_insert(ins, errors))
            .collect::<Result<Vec<_>>>()?;
        let names: Vec<&str> = planned.iter().map(|(t, _)| t.name.as_str()).collect();
        let tables = names.join(", ");
        let job = Job::builder(&format!("{title} into {tables}"));
        // One planner: a table the INSERTs share is read once for all.
        let planner = self.planner(&job);
        for (i, (table, plan)) in planned.iter().enumerate() {
            // Sinks are operators: two INSERTs into one table need two names.
            let name = format!("{}#{}", table.name, i + 1);
            add_insert(&planner, table, &plan.plan, &name)?;
        }
        Ok((job.build()?, tables))
    }

    /// What the session's settings ask of the physical plan.
    fn physical_options(&self) -> PhysicalOptions {
        let ttl_ms = self
            .settings
            .get(STATE_TTL)
            .and_then(|v| parse_duration_ms(v).ok())
            .filter(|ms| *ms > 0);
        PhysicalOptions {
            state_ttl: ttl_ms.map(StateTtl::new),
            mini_batch: crate::mini_batch::from_settings(&self.settings),
            window_one_phase: crate::mini_batch::one_phase(&self.settings),
        }
    }

    /// Starts `sql` as a live query when it is one `SELECT` (its rows are
    /// read while it runs, and it stops when the session's cancel flag is
    /// set or [`LiveQuery::cancel`] is called); `None` for anything else,
    /// which [`execute_each`](Self::execute_each) runs.
    pub fn start_query(&self, sql: &str) -> Result<Option<LiveQuery>> {
        let source: Arc<str> = Arc::from(sql);
        let mut statements = parse_script(sql)?;
        let (Some(only), true) = (statements.pop(), statements.is_empty()) else {
            return Ok(None);
        };
        let ScriptStatement::Sql(stmt) = only.stmt else {
            return Ok(None);
        };
        let Statement::Query(q) = *stmt else {
            return Ok(None);
        };
        let errors = Errors::new(&source);
        let planned = self.plan_query(&q, &errors, Instant::now())?;
        let cancel = self.cancel.clone().unwrap_or_default();
        LiveQuery::start(
            planned.plan,
            self.physical_options(),
            self.config.clone(),
            cancel,
        )
        .map(Some)
    }

    /// Jobs run from now on stop their scans without draining once
    /// `cancel` is set (the shell's Ctrl-C); `None` turns that off.
    pub fn set_cancel(&mut self, cancel: Option<Arc<AtomicBool>>) {
        self.cancel = cancel;
    }

    /// The planner of a job this session runs.
    fn planner<'a>(&self, job: &'a spate::JobBuilder) -> JobPlanner<'a> {
        let planner = JobPlanner::new(job, self.physical_options());
        match &self.cancel {
            Some(c) => planner.with_cancel(c.clone()),
            None => planner,
        }
    }

    /// Runs a planned query and collects its rows.
    pub fn run_collect(&self, plan: &LogicalPlan) -> Result<(Vec<Row>, JobResult)> {
        let sink = CollectSink::new();
        let job = Job::builder("select");
        self.planner(&job).build(plan)?.sink_with_checksum_by(
            "select",
            sink.clone(),
            Row::checksum_share,
        );
        let result = job.build()?.run(&self.config)?;
        Ok((sink.take(), result))
    }

    fn explain(&self, stmt: &Statement, errors: &Errors<'_>) -> Result<Outcome> {
        let started = Instant::now();
        let planned = match stmt {
            Statement::Query(q) => self.plan_query(q, errors, started)?,
            Statement::Insert(ins) => self.plan_insert(ins, errors)?.1,
            other => {
                return Err(
                    errors.unsupported(pos_of(other), "EXPLAIN of anything but SELECT or INSERT")
                );
            }
        };
        let job = Job::builder("explain");
        let stream = JobPlanner::new(&job, self.physical_options()).build(&planned.plan)?;
        stream.sink("sink", BlackholeSink);
        let physical = job.build()?.explain();
        Ok(Outcome::Explain(format!(
            "== Abstract Syntax Tree ==\n{}\n== Optimized Logical Plan ==\n{}\n== Physical Execution Plan ==\n{}",
            planned.bound.explain(),
            planned.plan.explain(),
            physical
        )))
    }
}

/// The columns `PARTITIONED BY` names: physical columns, each once, and
/// not all of them (the files hold the others).
fn partition_keys(
    names: &[sqlparser::ast::Ident],
    schema: &Schema,
    computed: &[Option<crate::expr::ScalarExpr>],
    errors: &Errors<'_>,
) -> Result<Vec<usize>> {
    let mut keys = Vec::new();
    for n in names {
        let at = crate::bind_expr::pos_ident(n);
        let Some(i) = schema.index_of(&n.value) else {
            return Err(errors.semantic(
                at,
                format!(
                    "unknown column `{}` in PARTITIONED BY; expected one of: {}",
                    n.value,
                    schema.names()
                ),
            ));
        };
        if computed.get(i).is_some_and(Option::is_some) {
            return Err(errors.semantic(
                at,
                format!(
                    "`{}` is a computed column; PARTITIONED BY takes physical columns",
                    n.value
                ),
            ));
        }
        if keys.contains(&i) {
            return Err(errors.semantic(
                at,
                format!("`{}` is named twice in PARTITIONED BY", n.value),
            ));
        }
        keys.push(i);
    }
    if let Some(first) = names.first()
        && keys.len() == schema.len()
    {
        return Err(errors.semantic(
            crate::bind_expr::pos_ident(first),
            "every column is a partition column; the files must hold at least one",
        ));
    }
    Ok(keys)
}

/// Plans `plan` onto `job` with `table`'s sink, named `name`.
fn add_insert(
    planner: &JobPlanner<'_>,
    table: &TableDef,
    plan: &LogicalPlan,
    name: &str,
) -> Result<()> {
    let sink = sink_for(table)?;
    let stream = planner.build(plan)?;
    match sink {
        TableSink::Print(p) => stream.sink_with_checksum_by(name, p, Row::checksum_share),
        TableSink::Blackhole => {
            stream.sink_with_checksum_by(name, RecyclingBlackhole, Row::checksum_share)
        }
        TableSink::File(f) => {
            f.input_of(&stream)
                .sink_with_checksum_by(name, *f, Row::checksum_share)
        }
    }
    Ok(())
}

/// Flink's idle state retention for regular joins, group aggregates and
/// Top-N (`0`, the default, keeps state for good).
pub const STATE_TTL: &str = "table.exec.state.ttl";

/// A duration as Flink writes one: a number of ms, or a number and a unit
/// (`ms`, `s`, `min`, `h`, `d`, or their long forms), e.g. `'1 h'`.
pub fn parse_duration_ms(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| "expected a duration such as '1 h', '30 min' or '60000'".to_string())?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        other => {
            return Err(format!(
                "unknown time unit `{other}`; expected ms, s, min, h or d"
            ));
        }
    };
    n.checked_mul(scale)
        .ok_or_else(|| "the duration is too long".to_string())
}

/// How a client shows a query's rows (Flink's SQL client setting):
/// `table` (the rows the changelog leaves), `changelog` (every change, one
/// a line) or `tableau` (every change, in a table with an `op` column).
pub const RESULT_MODE: &str = "sql-client.execution.result-mode";

/// The statement's first words, to name an unsupported statement.
fn first_words(s: &Statement) -> String {
    let text = s.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    format!("the statement {}", words.join(" "))
}

/// Where a statement starts (for messages).
pub fn statement_pos(s: &Statement) -> Pos {
    Pos::from(s.span().start)
}
