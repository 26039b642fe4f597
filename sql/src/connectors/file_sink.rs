//! The `filesystem` sink: part files (CSV or JSON lines) in the table's
//! directory, or in one directory per partition of a table `PARTITIONED
//! BY` columns (see `partitions.rs`), published exactly once through the
//! checkpoints' two-phase commit.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spate::keyed::KeyedContext;
use spate::operators::keyed_process::KeyedProcessFunction;
use spate::sinks::{Committer, IN_PROGRESS_DIR, Sink, publish_file};
use spate::sources::SplitInfo;
use spate::{DataStream, SpateError};

use super::partitions::{PartitionSpec, PendingCommits};
use super::{check_known_options, connector_error};
use crate::catalog::TableDef;
use crate::error::SqlError;
use crate::row::Row;
use crate::value::Value;

/// Partition files a subtask keeps open at once; beyond it the least
/// recently opened is closed (it joins the next transaction) and a new
/// file is opened if the partition is written again.
const OPEN_PARTITIONS_MAX: usize = 64;

/// Writes a table's rows into files under its `path`, exactly once with
/// checkpoints: rows go to in-progress files under `.in-progress/`, a
/// checkpoint closes them (pre-commit: flushed and synced, invisible),
/// and its completion renames them into place, `<partition>/part-<subtask>-
/// <run>-<n>`, and writes the success files of the partitions complete by
/// then (commit). Without checkpoints everything is published at the end.
/// Only insert-only results can be written (the planner checks).
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    json: bool,
    /// Every column's name.
    names: Vec<String>,
    /// `PARTITIONED BY`: where each row goes and when a partition commits.
    partitions: Option<PartitionSpec>,
    subtask: usize,
    /// Tells this attempt's files from a failed attempt's.
    run_token: u64,
    files_opened: u64,
    /// In-progress files open, by partition directory (`""` unpartitioned),
    /// oldest first: `(partition, file name)`.
    open: Vec<(String, String, std::io::BufWriter<std::fs::File>)>,
    /// Files closed since the last pre-commit: `(partition, file name)`.
    closed: Vec<(String, String)>,
    /// Partitions complete since the last pre-commit.
    complete: Vec<String>,
    /// Partitions written and not yet complete.
    pending: PendingCommits,
}

impl Clone for FileSink {
    /// A sink with the same table and no files: one per core.
    fn clone(&self) -> Self {
        FileSink::unopened(
            self.dir.clone(),
            self.json,
            self.names.clone(),
            self.partitions.clone(),
        )
    }
}

/// Makes run tokens unique within a process; the clock across processes.
static RUNS: AtomicU64 = AtomicU64::new(0);

impl FileSink {
    /// The sink of filesystem table `table`.
    pub(crate) fn new(table: &TableDef) -> Result<Self, SqlError> {
        check_known_options(table, &super::filesystem::known_options(), &[])?;
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
        Ok(FileSink::unopened(
            PathBuf::from(super::local_path(path)),
            json,
            table.schema.fields.iter().map(|f| f.name.clone()).collect(),
            PartitionSpec::of(table)?,
        ))
    }

    fn unopened(
        dir: PathBuf,
        json: bool,
        names: Vec<String>,
        partitions: Option<PartitionSpec>,
    ) -> Self {
        FileSink {
            dir,
            json,
            names,
            partitions,
            subtask: 0,
            run_token: 0,
            files_opened: 0,
            open: Vec::new(),
            closed: Vec::new(),
            complete: Vec::new(),
            pending: PendingCommits::default(),
        }
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

    fn in_progress(&self, partition: &str) -> PathBuf {
        self.dir.join(IN_PROGRESS_DIR).join(partition)
    }

    /// The open file of partition `partition`, opened when it is not.
    fn file(&mut self, partition: &str) -> spate::Result<&mut std::io::BufWriter<std::fs::File>> {
        let i = match self.open.iter().position(|(p, _, _)| p == partition) {
            Some(i) => i,
            None => {
                if self.open.len() >= OPEN_PARTITIONS_MAX {
                    self.close(0)?;
                }
                self.files_opened += 1;
                let name = format!(
                    "part-{}-{:016x}-{}",
                    self.subtask, self.run_token, self.files_opened
                );
                let f = self.create_in_progress(partition, &name)?;
                let out = std::io::BufWriter::with_capacity(1 << 16, f);
                self.open.push((partition.to_owned(), name, out));
                self.open.len() - 1
            }
        };
        match self.open.get_mut(i) {
            Some((_, _, out)) => Ok(out),
            None => Err(SpateError::internal("file sink lost an open file")),
        }
    }

    /// Creates in-progress file `name` of `partition`. Another subtask's
    /// commit may remove the (empty) directory between its creation and
    /// the file's: then it is created again.
    fn create_in_progress(&self, partition: &str, name: &str) -> spate::Result<std::fs::File> {
        let dir = self.in_progress(partition);
        let path = dir.join(name);
        let mut tries = 0;
        loop {
            std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
            match std::fs::File::create_new(&path) {
                Ok(f) => return Ok(f),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 3 => tries += 1,
                Err(e) => return Err(io("creating", &path, e)),
            }
        }
    }

    /// Flushes, syncs and closes open file `i`; it joins the next
    /// transaction.
    fn close(&mut self, i: usize) -> spate::Result<()> {
        let (partition, name, out) = self.open.remove(i);
        let path = self.in_progress(&partition).join(&name);
        let file = out
            .into_inner()
            .map_err(|e| io("writing", &path, e.into_error()))?;
        file.sync_all().map_err(|e| io("syncing", &path, e))?;
        self.closed.push((partition, name));
        Ok(())
    }

    /// Deletes this subtask's in-progress files of earlier attempts:
    /// recovery committed what the restored checkpoint covers before the
    /// job started, so what is left comes after it and is written again.
    fn discard_uncommitted(&self) -> spate::Result<()> {
        let prefix = format!("part-{}-", self.subtask);
        let mut dirs = vec![self.dir.join(IN_PROGRESS_DIR)];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    dirs.push(path);
                } else if entry.file_name().to_string_lossy().starts_with(&prefix) {
                    std::fs::remove_file(&path).map_err(|e| io("deleting", &path, e))?;
                }
            }
        }
        Ok(())
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> SpateError {
    SpateError::Io {
        op,
        path: path.to_path_buf(),
        source,
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
        self.subtask = split.index;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.run_token = nanos ^ RUNS.fetch_add(1, Ordering::Relaxed).rotate_left(48);
        self.discard_uncommitted()
    }

    fn write(&mut self, value: Row, _ts: i64) -> spate::Result<()> {
        let mut line = self.line(&value);
        line.push('\n');
        let partition = match &self.partitions {
            Some(spec) => {
                let partition = spec.path_of(&value);
                self.pending.wrote(spec, &partition, &value);
                partition
            }
            None => String::new(),
        };
        let r = self.file(&partition)?.write_all(line.as_bytes());
        r.map_err(|e| io("writing", &self.in_progress(&partition), e))
    }

    fn on_watermark(&mut self, watermark: i64) -> spate::Result<()> {
        let Some(spec) = &self.partitions else {
            return Ok(());
        };
        for partition in self.pending.due(spec, watermark) {
            if let Some(i) = self.open.iter().position(|(p, _, _)| *p == partition) {
                self.close(i)?;
            }
            self.complete.push(partition);
        }
        Ok(())
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> spate::Result<Option<Vec<u8>>> {
        let _ = checkpoint_id;
        while !self.open.is_empty() {
            self.close(0)?;
        }
        if self.closed.is_empty() && self.complete.is_empty() {
            return Ok(None);
        }
        let join = |partition: &str, name: &str| match partition {
            "" => name.to_owned(),
            p => format!("{p}/{name}"),
        };
        let tx = FilesTransaction {
            moves: std::mem::take(&mut self.closed)
                .into_iter()
                .map(|(p, name)| {
                    let to = join(&p, &name);
                    (format!("{IN_PROGRESS_DIR}/{to}"), to)
                })
                .collect(),
            markers: match &self.partitions {
                Some(spec) => std::mem::take(&mut self.complete)
                    .into_iter()
                    .map(|p| join(&p, spec.success_file()))
                    .collect(),
                None => Vec::new(),
            },
        };
        Ok(Some(tx.encode()))
    }

    fn committer(&self) -> Option<Arc<dyn Committer>> {
        Some(Arc::new(FilesCommitter {
            dir: self.dir.clone(),
        }))
    }
}

/// One pre-commit of a subtask: the files it publishes and the success
/// files of the partitions complete by then, relative to the table's path.
#[derive(Debug, PartialEq, Eq)]
struct FilesTransaction {
    moves: Vec<(String, String)>,
    markers: Vec<String>,
}

impl FilesTransaction {
    fn encode(&self) -> Vec<u8> {
        serde_json::json!({ "moves": self.moves, "markers": self.markers })
            .to_string()
            .into_bytes()
    }

    /// `None` unless every path is relative and stays under the table's.
    fn decode(handle: &[u8]) -> Option<Self> {
        let v: serde_json::Value = serde_json::from_slice(handle).ok()?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let moves = v
            .get("moves")?
            .as_array()?
            .iter()
            .map(|m| Some((text(m.get(0)?)?, text(m.get(1)?)?)))
            .collect::<Option<Vec<_>>>()?;
        let markers = v
            .get("markers")?
            .as_array()?
            .iter()
            .map(text)
            .collect::<Option<Vec<_>>>()?;
        let plain =
            |s: &str| !s.is_empty() && !s.split('/').any(|c| c == "..") && !s.starts_with('/');
        let all_plain =
            moves.iter().all(|(a, b)| plain(a) && plain(b)) && markers.iter().all(|m| plain(m));
        all_plain.then_some(Self { moves, markers })
    }
}

/// Publishes a filesystem table's pre-committed files and partitions.
#[derive(Debug)]
struct FilesCommitter {
    dir: PathBuf,
}

impl Committer for FilesCommitter {
    fn commit(&self, handle: &[u8]) -> spate::Result<()> {
        let Some(tx) = FilesTransaction::decode(handle) else {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "a filesystem table's transaction in the checkpoint is malformed ({} \
                     bytes); expected the JSON of its files relative to {}",
                    handle.len(),
                    self.dir.display()
                ),
            });
        };
        for (from, to) in &tx.moves {
            if let Some(parent) = self.dir.join(to).parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
            }
            publish_file(&self.dir, from, to)?;
            // Empty in-progress directories go (best effort: another
            // subtask's file keeps one, and a subtask whose directory went
            // under it creates it again).
            let root = self.dir.join(IN_PROGRESS_DIR);
            let mut dir = self.dir.join(from).parent().map(Path::to_path_buf);
            while let Some(d) = dir.filter(|d| d.starts_with(&root)) {
                if std::fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        for marker in &tx.markers {
            let path = self.dir.join(marker);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io("creating", parent, e))?;
            }
            std::fs::File::create(&path).map_err(|e| io("creating", &path, e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_round_trips_and_paths_may_not_leave_the_table() {
        let tx = FilesTransaction {
            moves: vec![(
                ".in-progress/dt=x/part-0-ab-1".into(),
                "dt=x/part-0-ab-1".into(),
            )],
            markers: vec!["dt=x/_SUCCESS".into()],
        };
        assert_eq!(FilesTransaction::decode(&tx.encode()), Some(tx));
        for bad in [
            r#"{"moves":[["../a","b"]],"markers":[]}"#,
            r#"{"moves":[["a","/etc/b"]],"markers":[]}"#,
            r#"{"moves":[],"markers":["x/../../y"]}"#,
            r#"{"moves":[["a"]],"markers":[]}"#,
            "not json",
        ] {
            assert_eq!(FilesTransaction::decode(bad.as_bytes()), None, "{bad}");
        }
    }
}
