//! The `filesystem` sink: `part-<subtask>` files (CSV or JSON lines) in the
//! table's directory, or in one directory per partition of a table
//! `PARTITIONED BY` columns (see `partitions.rs`).

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use spate::keyed::KeyedContext;
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::Sink;
use spate::sources::SplitInfo;
use spate::{DataStream, SpateError};

use super::partitions::{self, PartitionSpec, PendingCommits};
use super::{check_known_options, connector_error};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::Value;

/// Partition files a subtask keeps open at once; the least recently
/// opened is flushed and closed beyond it (and appended to if written
/// again).
const OPEN_PARTITIONS_MAX: usize = 64;

/// Writes a table's rows into files under its `path`. Only insert-only
/// results can be written (the planner checks).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    json: bool,
    /// Every column's name.
    names: Vec<String>,
    /// `PARTITIONED BY`: where each row goes and when a partition commits.
    partitions: Option<PartitionSpec>,
    /// This subtask's file name, `part-<index>`.
    file_name: String,
    /// Open files by directory relative to `dir` (`""` unpartitioned),
    /// in the order they were opened.
    open: Vec<(String, std::io::BufWriter<std::fs::File>)>,
    /// Partitions this subtask created in this run: reopened for appending.
    created: HashSet<String>,
    /// Partitions written and not yet committed.
    pending: PendingCommits,
}

impl Clone for FileSink {
    fn clone(&self) -> Self {
        FileSink {
            dir: self.dir.clone(),
            json: self.json,
            names: self.names.clone(),
            partitions: self.partitions.clone(),
            file_name: String::new(),
            open: Vec::new(),
            created: HashSet::new(),
            pending: PendingCommits::default(),
        }
    }
}

impl FileSink {
    /// The sink of filesystem table `table`.
    pub(crate) fn new(table: &TableDef) -> Result<Self, SqlError> {
        let base = [
            "path",
            "format",
            "csv.field-delimiter",
            "csv.ignore-first-line",
        ];
        let known: Vec<&str> = base.iter().chain(partitions::OPTIONS).copied().collect();
        check_known_options(table, &known, &[])?;
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
        let partitions = PartitionSpec::of(table)?;
        Ok(FileSink {
            dir: PathBuf::from(path.strip_prefix("file://").unwrap_or(path)),
            json,
            names: table.schema.fields.iter().map(|f| f.name.clone()).collect(),
            partitions,
            file_name: String::new(),
            open: Vec::new(),
            created: HashSet::new(),
            pending: PendingCommits::default(),
        })
    }

    /// `input` as this sink must receive it. A table whose partitions are
    /// committed gets each partition's rows on one subtask (shuffled by
    /// the partition columns): that subtask alone writes the partition,
    /// and its watermark, the least of every input's, says when the
    /// partition is complete. Other tables take the rows where they are.
    pub fn input_of(&self, input: &DataStream<Row>) -> DataStream<Row> {
        match self.partitions.clone().filter(PartitionSpec::commits) {
            Some(spec) => input
                .key_by(move |r: &Row| spec.values_of(r))
                .process(ToPartitionWriter),
            None => input.clone(),
        }
    }

    fn io(&self, op: &'static str, path: &Path, source: std::io::Error) -> SpateError {
        SpateError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The row as a line of the file: every column but the partition ones.
    fn line(&self, row: &Row) -> String {
        let written = |i: usize| !self.partitions.as_ref().is_some_and(|p| p.is_key(i));
        let cells = self
            .names
            .iter()
            .zip(&row.values)
            .enumerate()
            .filter(|(i, _)| written(*i))
            .map(|(_, cell)| cell);
        if self.json {
            let mut obj = serde_json::Map::new();
            for (name, v) in cells {
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
            cells
                .map(|(_, v)| {
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

    /// The open file of directory `rel`, opened (created the first time in
    /// this run, appended to after) when it is not.
    fn file(&mut self, rel: &str) -> spate::Result<&mut std::io::BufWriter<std::fs::File>> {
        if let Some(i) = self.open.iter().position(|(d, _)| d == rel) {
            return self.open_file(i);
        }
        if self.open.len() >= OPEN_PARTITIONS_MAX {
            self.close(0)?;
        }
        let dir = self.dir.join(rel);
        std::fs::create_dir_all(&dir).map_err(|e| self.io("creating", &dir, e))?;
        let path = dir.join(&self.file_name);
        let first = self.created.insert(rel.to_owned());
        let mut options = std::fs::OpenOptions::new();
        options.create(true);
        if first {
            options.write(true).truncate(true);
        } else {
            options.append(true);
        }
        let f = options
            .open(&path)
            .map_err(|e| self.io("creating", &path, e))?;
        self.open.push((rel.to_owned(), std::io::BufWriter::new(f)));
        self.open_file(self.open.len() - 1)
    }

    fn open_file(&mut self, i: usize) -> spate::Result<&mut std::io::BufWriter<std::fs::File>> {
        match self.open.get_mut(i) {
            Some((_, out)) => Ok(out),
            None => Err(SpateError::internal("file sink lost an open file")),
        }
    }

    /// Flushes and closes open file `i`.
    fn close(&mut self, i: usize) -> spate::Result<()> {
        let (rel, mut out) = self.open.remove(i);
        let path = self.dir.join(&rel).join(&self.file_name);
        out.flush().map_err(|e| self.io("writing", &path, e))
    }

    /// Commits the partitions the watermark `watermark` completes: their
    /// files are flushed and closed, and each gets its success file.
    fn commit_due(&mut self, watermark: i64) -> spate::Result<()> {
        let Some(spec) = &self.partitions else {
            return Ok(());
        };
        let due = self.pending.due(spec, watermark);
        let marker = PendingCommits::success_file(spec).to_owned();
        for rel in due {
            if let Some(i) = self.open.iter().position(|(d, _)| *d == rel) {
                self.close(i)?;
            }
            let path = self.dir.join(&rel).join(&marker);
            std::fs::File::create(&path).map_err(|e| self.io("creating", &path, e))?;
        }
        Ok(())
    }
}

/// Passes each row on to the subtask that writes its partition.
#[derive(Clone)]
struct ToPartitionWriter;

impl KeyedProcessFunction<Vec<Value>, Row, Row> for ToPartitionWriter {
    fn process_element(
        &mut self,
        value: Row,
        ctx: &mut KeyedContext<'_, Vec<Value>, Row>,
    ) -> spate::Result<()> {
        ctx.collect(value);
        Ok(())
    }
}

impl Sink<Row> for FileSink {
    fn open(&mut self, split: SplitInfo) -> spate::Result<()> {
        self.file_name = format!("part-{}", split.index);
        if self.partitions.is_none() {
            self.file("")?;
        }
        Ok(())
    }

    fn write(&mut self, value: Row, _ts: i64) -> spate::Result<()> {
        let mut line = self.line(&value);
        line.push('\n');
        let rel = match &self.partitions {
            Some(spec) => {
                let rel = spec.path_of(&value);
                self.pending.wrote(spec, &rel, &value);
                rel
            }
            None => String::new(),
        };
        let r = self.file(&rel)?.write_all(line.as_bytes());
        r.map_err(|e| self.io("writing", &self.dir.join(&rel).join(&self.file_name), e))
    }

    fn on_watermark(&mut self, watermark: i64) -> spate::Result<()> {
        self.commit_due(watermark)
    }

    fn finish(&mut self) -> spate::Result<()> {
        while !self.open.is_empty() {
            self.close(0)?;
        }
        Ok(())
    }
}
