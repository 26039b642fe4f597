//! Connectors: where a table's rows come from and where results go.
//!
//! A source connector yields rows of the table's physical columns;
//! [`TableSource`] adds the computed columns, stamps each row with its
//! rowtime and tracks the watermark of the `WATERMARK FOR` expression.

mod datagen;
mod file_sink;
mod filesystem;
mod legacy_options;
mod nexmark;
mod partitions;
mod sinks;
mod table_source;

pub use file_sink::FileSink;
pub use legacy_options::rename_legacy_options;
pub use sinks::{PrintSink, RecyclingBlackhole, TableSink, sink_for};
pub use table_source::TableSource;

use spate::sources::SplitInfo;

use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;

/// What a reader's poll produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadPoll {
    /// Rows may have been produced; poll again.
    Ready,
    /// Nothing now (throttled); poll again after this many microseconds.
    Pending(u64),
    /// The input is finished.
    Exhausted,
}

/// One split of a table's physical rows.
pub trait RowReader: Send + 'static {
    /// Appends up to `count_max` rows of physical columns to `out`.
    fn read(&mut self, out: &mut Vec<Row>, count_max: usize) -> spate::Result<ReadPoll>;

    /// Where the split continues after the rows read so far (a row, event
    /// or line number): what a checkpoint stores.
    fn position(&self) -> u64;

    /// Continues at `position`, a value [`RowReader::position`] returned
    /// for the same split (possibly in an earlier process).
    fn seek(&mut self, position: u64) -> spate::Result<()>;
}

/// Checks a source table's options and columns (at `CREATE TABLE`), so that
/// a bad option is reported before any job runs.
pub fn validate_source(table: &TableDef) -> Result<(), SqlError> {
    match connector(table)? {
        "nexmark" => nexmark::NexmarkReader::plan(table).map(|_| ()),
        "datagen" => datagen::DatagenReader::plan(table).map(|_| ()),
        "filesystem" => filesystem::FileReader::plan(table).map(|_| ()),
        "print" | "blackhole" => Ok(()),
        other => Err(connector_error(
            table,
            format!(
                "unknown connector '{other}'; expected one of: nexmark, datagen, filesystem, print, blackhole"
            ),
        )),
    }
}

/// The reader of split `split` of `table`.
pub fn open_reader(table: &TableDef, split: SplitInfo) -> spate::Result<Box<dyn RowReader>> {
    let to_spate = |e: SqlError| spate::SpateError::invalid_job(e.to_string());
    Ok(match connector(table).map_err(to_spate)? {
        "nexmark" => Box::new(nexmark::NexmarkReader::open(table, split).map_err(to_spate)?),
        "datagen" => Box::new(datagen::DatagenReader::open(table, split).map_err(to_spate)?),
        "filesystem" => Box::new(filesystem::FileReader::open(table, split)?),
        other => {
            return Err(spate::SpateError::invalid_job(format!(
                "table `{}` (connector '{other}') cannot be read; it is a sink",
                table.name
            )));
        }
    })
}

/// A local path as Flink names it, possibly as a `file://` URI.
pub(crate) fn local_path(uri: &str) -> &str {
    uri.strip_prefix("file://").unwrap_or(uri)
}

/// The `connector` option.
pub fn connector(table: &TableDef) -> Result<&str, SqlError> {
    table.option("connector").ok_or_else(|| {
        connector_error(
            table,
            "the 'connector' option is missing from WITH (...)".into(),
        )
    })
}

pub(crate) fn connector_error(table: &TableDef, message: String) -> SqlError {
    SqlError::Connector {
        table: table.name.clone(),
        message,
    }
}

/// An option parsed as a number.
pub(crate) fn number_option<T: std::str::FromStr>(
    table: &TableDef,
    key: &str,
) -> Result<Option<T>, SqlError> {
    match table.option(key) {
        None => Ok(None),
        Some(v) => v.trim().parse::<T>().map(Some).map_err(|_| {
            connector_error(
                table,
                format!("option '{key}' = '{v}' is not a valid number"),
            )
        }),
    }
}

/// Rejects options the connector does not know (a typo would otherwise be ignored).
pub(crate) fn check_known_options(
    table: &TableDef,
    known: &[&str],
    known_prefixes: &[&str],
) -> Result<(), SqlError> {
    for key in table.options.keys() {
        if key == "connector" || known.contains(&key.as_str()) {
            continue;
        }
        if known_prefixes.iter().any(|p| key.starts_with(p)) {
            continue;
        }
        return Err(connector_error(
            table,
            format!(
                "unknown option '{key}' for connector '{}'; expected one of: {}",
                table.option("connector").unwrap_or("?"),
                known.join(", ")
            ),
        ));
    }
    Ok(())
}
