//! Sink connectors: `print`, `blackhole` and `filesystem`.

use std::io::Write;
use std::path::PathBuf;

use spate::SpateError;
use spate::sinks::Sink;
use spate::sources::SplitInfo;

use super::{check_known_options, connector, connector_error};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::Value;

/// Where an `INSERT INTO` writes.
#[derive(Clone, Debug)]
pub enum TableSink {
    /// Each row as `+I[...]` on standard output.
    Print(PrintSink),
    /// Rows are counted and checksummed, then dropped.
    Blackhole,
    /// Part files in a directory.
    File(FileSink),
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
        "filesystem" => {
            check_known_options(table, &["path", "format", "csv.field-delimiter"], &[])?;
            let Some(path) = table.option("path") else {
                return Err(connector_error(
                    table,
                    "the 'path' option is missing".into(),
                ));
            };
            let json = match table.option("format") {
                Some("csv") => false,
                Some("json") => true,
                other => {
                    return Err(connector_error(
                        table,
                        format!(
                            "'format' = '{}' is not supported; expected 'csv' or 'json'",
                            other.unwrap_or("")
                        ),
                    ));
                }
            };
            Ok(TableSink::File(FileSink {
                dir: PathBuf::from(path),
                json,
                names: table.schema.fields.iter().map(|f| f.name.clone()).collect(),
                out: None,
                path: PathBuf::new(),
            }))
        }
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

/// Writes `part-<subtask>` files (CSV or JSON lines) into a directory.
/// Only insert-only results can be written (the planner checks).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    json: bool,
    names: Vec<String>,
    out: Option<std::io::BufWriter<std::fs::File>>,
    path: PathBuf,
}

impl Clone for FileSink {
    fn clone(&self) -> Self {
        FileSink {
            dir: self.dir.clone(),
            json: self.json,
            names: self.names.clone(),
            out: None,
            path: PathBuf::new(),
        }
    }
}

impl FileSink {
    fn io(&self, op: &'static str, source: std::io::Error) -> SpateError {
        SpateError::Io {
            op,
            path: self.path.clone(),
            source,
        }
    }

    fn line(&self, row: &Row) -> String {
        if self.json {
            let mut obj = serde_json::Map::new();
            for (name, v) in self.names.iter().zip(&row.values) {
                let j = match v {
                    Value::Null => serde_json::Value::Null,
                    Value::Bool(b) => serde_json::Value::Bool(*b),
                    Value::Int(i) => serde_json::Value::from(*i),
                    Value::Double(d) => serde_json::Value::from(*d),
                    other => serde_json::Value::String(other.to_string()),
                };
                obj.insert(name.clone(), j);
            }
            serde_json::Value::Object(obj).to_string()
        } else {
            row.values
                .iter()
                .map(|v| {
                    if v.is_null() {
                        String::new()
                    } else {
                        v.to_string()
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        }
    }
}

impl Sink<Row> for FileSink {
    fn open(&mut self, split: SplitInfo) -> spate::Result<()> {
        self.path = self.dir.join(format!("part-{}", split.index));
        std::fs::create_dir_all(&self.dir).map_err(|e| self.io("creating", e))?;
        let f = std::fs::File::create(&self.path).map_err(|e| self.io("creating", e))?;
        self.out = Some(std::io::BufWriter::new(f));
        Ok(())
    }

    fn write(&mut self, value: Row, _ts: i64) -> spate::Result<()> {
        let mut line = self.line(&value);
        line.push('\n');
        let r = match self.out.as_mut() {
            Some(out) => out.write_all(line.as_bytes()),
            None => return Err(SpateError::internal("file sink written before open")),
        };
        r.map_err(|e| self.io("writing", e))
    }

    fn finish(&mut self) -> spate::Result<()> {
        let r = match self.out.as_mut() {
            Some(out) => out.flush(),
            None => Ok(()),
        };
        r.map_err(|e| self.io("writing", e))
    }
}
