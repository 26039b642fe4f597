//! `spate bench nexmark --sql`: each query's SQL version (`sql/queries/`)
//! run right after its hand-written DataStream version, on the same events
//! and config, and their throughputs compared.

use std::fmt::Write as _;

use anyhow::Context as _;
use spate::config::Config;
use spate_bench::report::{BenchReport, human};
use spate_sql::{Outcome, Session};

/// A query's SQL run beside its DataStream run.
#[derive(Debug, Clone, serde::Serialize)]
pub(crate) struct SqlRun {
    pub(crate) query: String,
    pub(crate) events: u64,
    pub(crate) sql_wall_s: f64,
    pub(crate) sql_events_per_s: f64,
    pub(crate) sql_output_records: u64,
    pub(crate) datastream_events_per_s: f64,
    pub(crate) datastream_output_records: u64,
    /// SQL throughput over DataStream throughput (the target is ≥ 0.8).
    pub(crate) ratio: f64,
}

/// Runs the SQL version of `report.query` on `report.events` generated
/// events; `None` when the query is not written in SQL yet.
pub(crate) fn run_beside(report: &BenchReport, config: &Config) -> anyhow::Result<Option<SqlRun>> {
    let Some(query) = spate_sql::nexmark::query(&report.query) else {
        return Ok(None);
    };
    let script = format!(
        "{}{}\n{query}",
        spate_sql::nexmark::SETTINGS,
        spate_sql::nexmark::ddl(report.events)
    );
    let mut session = Session::new(config.clone());
    let outcomes = session
        .execute(&script)
        .with_context(|| format!("running the SQL version of {}", report.query))?;
    let Some(result) = outcomes.into_iter().find_map(|o| match o {
        Outcome::Inserted { result, .. } => Some(result),
        _ => None,
    }) else {
        anyhow::bail!("the SQL version of {} has no INSERT INTO", report.query);
    };
    let wall_s = result.wall.as_secs_f64().max(1e-9);
    let sql_events_per_s = report.events as f64 / wall_s;
    Ok(Some(SqlRun {
        query: report.query.clone(),
        events: report.events,
        sql_wall_s: wall_s,
        sql_events_per_s,
        sql_output_records: result.metrics.sink_records(),
        datastream_events_per_s: report.events_per_s,
        datastream_output_records: report.output_records,
        ratio: sql_events_per_s / report.events_per_s.max(1e-9),
    }))
}

/// One line for the summary.
pub(crate) fn line(r: &SqlRun) -> String {
    let mut s = format!(
        "{} SQL: {} events/s, {:.0} % of the DataStream version's {} events/s ({} output records",
        r.query,
        human(r.sql_events_per_s),
        r.ratio * 100.0,
        human(r.datastream_events_per_s),
        r.sql_output_records
    );
    if !spate_sql::nexmark::same_output_as_datastream(&r.query) {
        let _ = write!(
            s,
            "; the DataStream version wrote {}: nexmark-flink's SQL for {} asks something else",
            r.datastream_output_records, r.query
        );
    } else if r.sql_output_records != r.datastream_output_records {
        let _ = write!(
            s,
            "; the DataStream version wrote {}: they differ",
            r.datastream_output_records
        );
    }
    s.push(')');
    s
}

/// The Markdown table of the results file.
pub(crate) fn table(runs: &[SqlRun]) -> String {
    let mut md = String::from(
        "Each query's SQL version ran right after its hand-written DataStream version, \
         on the same generated events and config, with nexmark-flink's SQL settings \
         (mini-batch aggregation on: 2 s, 50 000 rows); the target is SQL ≥ 80 % of DataStream.\n\n\
         | query | events | DataStream events/s | SQL events/s | SQL / DataStream | output records (SQL / DataStream) |\n\
         |---|---|---|---|---|---|\n",
    );
    for r in runs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.0} % | {} / {} |",
            r.query,
            r.events,
            human(r.datastream_events_per_s),
            human(r.sql_events_per_s),
            r.ratio * 100.0,
            r.sql_output_records,
            r.datastream_output_records
        );
    }
    md
}
