//! Sink connectors: `print`, `blackhole` and `filesystem`.

use std::io::Write;
use std::path::PathBuf;

use spate::SpateError;
use spate::sinks::Sink;
use spate::sources::SplitInfo;

use super::file_sink::FileSink;
use super::{check_known_options, connector, connector_error};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;

/// Where an `INSERT INTO` writes.
#[derive(Clone, Debug)]
pub enum TableSink {
    /// Each row as `+I[...]` on standard output.
    Print(PrintSink),
    /// Rows are counted and checksummed, then dropped.
    Blackhole,
    /// Part files in a directory.
    File(Box<FileSink>),
}

/// The sink of table `table`.
pub fn sink_for(table: &TableDef) -> Result<TableSink, SqlError> {
    match connector(table)? {
        "print" => {
            check_known_options(table, &["print-identifier", "standard-error"], &[])?;
            Ok(TableSink::Print(PrintSink {
                identifier: table.option("print-identifier").map(str::to_owned),
                stderr: table.option("standard-error") == Some("true"),
                subtask: 0,
            }))
        }
        "blackhole" => {
            check_known_options(table, &[], &[])?;
            Ok(TableSink::Blackhole)
        }
        "filesystem" => Ok(TableSink::File(Box::new(FileSink::new(table)?))),
        other => Err(connector_error(
            table,
            format!(
                "connector '{other}' cannot be written to; expected print, blackhole or filesystem"
            ),
        )),
    }
}

/// Writes rows as Flink's `print` connector does: `[identifier[-subtask]> ]+I[...]`.
#[derive(Clone, Debug)]
pub struct PrintSink {
    identifier: Option<String>,
    stderr: bool,
    subtask: usize,
}

/// `'connector' = 'blackhole'`: drops every row, handing its vector back
/// to the row pool of the core it ends on (the sink operator still
/// counts, checksums and measures latency).
#[derive(Debug, Clone, Copy, Default)]
pub struct RecyclingBlackhole;

impl Sink<Row> for RecyclingBlackhole {
    #[inline]
    fn write(&mut self, value: Row, _ts: i64) -> spate::Result<()> {
        crate::row_pool::recycle(value.values);
        Ok(())
    }
}

impl PrintSink {
    /// A sink printing to standard output without a prefix.
    pub fn stdout() -> Self {
        PrintSink {
            identifier: None,
            stderr: false,
            subtask: 0,
        }
    }
}

impl Sink<Row> for PrintSink {
    fn open(&mut self, split: SplitInfo) -> spate::Result<()> {
        self.subtask = split.index;
        Ok(())
    }

    fn write(&mut self, value: Row, _ts: i64) -> spate::Result<()> {
        let line = match &self.identifier {
            Some(id) => format!("{id}> {value}\n"),
            None => format!("{value}\n"),
        };
        // One write per line so lines of different cores never interleave.
        let r = if self.stderr {
            std::io::stderr().lock().write_all(line.as_bytes())
        } else {
            std::io::stdout().lock().write_all(line.as_bytes())
        };
        r.map_err(|source| SpateError::Io {
            op: "writing",
            path: PathBuf::from(if self.stderr { "<stderr>" } else { "<stdout>" }),
            source,
        })
    }
}
