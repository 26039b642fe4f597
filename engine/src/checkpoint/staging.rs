//! Turning the tasks' snapshots of one checkpoint into manifest entries
//! and state files: shared by the driver of a job in one process and by
//! each process of a job on a cluster.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use spate_state::StateError;
use spate_state::checkpoint::{
    CompactionPolicy, FileKind, FileRef, KeyGroupSpan, LocalFile, Manifest, MergeIter,
    SinkTransactionRef, SourceOffset, SstEntry, SstReader, SstWriter, StateDescriptor,
    SubtaskState, Tombstones,
};
use spate_state::key_group_range_for_subtask;

use super::driver::Counters;
use super::incremental::{PlannedFile, StateChains};
use super::operator_state::{Captured, CapturedState};
use super::restore::operator_id;
use super::rocks_instance::{RocksCapture, file_kind};
use super::snapshot::{SinkTransaction, TaskKey, TaskSnapshot};
use crate::error::{Result, SpateError};

/// What describes the job to the stager.
pub(crate) struct JobShape {
    pub(crate) job_id: String,
    pub(crate) max_parallelism: u16,
    pub(crate) parallelism: usize,
    pub(crate) node_names: Vec<String>,
    /// Counters restored from the checkpoint the run started from.
    pub(crate) base: HashMap<TaskKey, Counters>,
    pub(crate) staging_dir: PathBuf,
}

/// One checkpoint's part, staged.
pub(crate) struct Staged {
    pub(crate) subtasks: Vec<SubtaskState>,
    /// State files written locally, to upload.
    pub(crate) local_files: Vec<LocalFile>,
    /// Sink transactions completing the checkpoint commits.
    pub(crate) transactions: Vec<SinkTransaction>,
}

/// Builds manifest entries and writes state files.
pub(crate) struct Stager {
    shape: JobShape,
    chains: StateChains,
    /// Starts every state file name: unique per run attempt, since objects
    /// are never replaced.
    prefix: String,
    /// Per RocksDB instance (task, instance name): its table files that
    /// storage holds already, by their local name.
    uploaded_ssts: HashMap<(TaskKey, String), HashMap<String, FileRef>>,
}

impl Stager {
    pub(crate) fn new(shape: JobShape, prefix: String) -> Self {
        // Copies kept by an earlier attempt belong to chains this one does
        // not continue.
        let _ = std::fs::remove_dir_all(kept_dir(&shape.staging_dir));
        Self {
            shape,
            chains: StateChains::new(CompactionPolicy::default()),
            prefix,
            uploaded_ssts: HashMap::new(),
        }
    }

    /// Every chain starts again with a full file (a checkpoint failed).
    pub(crate) fn reset(&mut self) {
        self.chains.reset();
        // What a failed checkpoint uploaded may be missing.
        self.uploaded_ssts.clear();
    }

    /// The manifest of checkpoint `id` with `subtasks`.
    pub(crate) fn manifest(&self, id: u64, subtasks: Vec<SubtaskState>) -> Manifest {
        Manifest {
            checkpoint_id: id,
            job_id: self.shape.job_id.clone(),
            created_at_ms: unix_ms(),
            state_schema_version: 1,
            max_parallelism: self.shape.max_parallelism,
            subtasks,
        }
    }

    /// Stages checkpoint `id` from the tasks' snapshots. On error nothing
    /// staged is kept and every chain starts over.
    pub(crate) fn stage(
        &mut self,
        id: u64,
        snapshots: Vec<(TaskKey, TaskSnapshot)>,
    ) -> Result<Staged> {
        let mut staged = Staged {
            subtasks: Vec::with_capacity(snapshots.len()),
            local_files: Vec::new(),
            transactions: Vec::new(),
        };
        if snapshots.iter().any(|(_, s)| !s.states.is_empty()) {
            let dir = &self.shape.staging_dir;
            std::fs::create_dir_all(dir).map_err(|e| SpateError::Checkpoint {
                reason: format!(
                    "cannot create the checkpoint staging directory {}: {e}",
                    dir.display()
                ),
            })?;
        }
        let mut failed = None;
        for (key, mut snap) in snapshots {
            staged
                .transactions
                .extend(snap.sink_transactions.iter().cloned());
            let states = std::mem::take(&mut snap.states);
            let mut state = self.subtask_state(key, snap);
            let at = (id, key);
            self.stage_states(at, states, &mut state, &mut staged.local_files, &mut failed);
            staged.subtasks.push(state);
        }
        if let Some(e) = failed {
            let paths: Vec<PathBuf> = staged.local_files.iter().map(|f| f.path.clone()).collect();
            remove_files(&paths);
            self.reset();
            return Err(e);
        }
        Ok(staged)
    }

    /// Writes what changed in each captured state of a task as one SST in
    /// the staging directory (a delta, or a full file when the chain is
    /// due for one) and lists the state's chain in the task's manifest
    /// entry.
    ///
    /// After a failure (`failed`), it writes nothing more but still plans
    /// each state, so that captured changes go into the next checkpoint.
    fn stage_states(
        &mut self,
        (id, key): (u64, TaskKey),
        states: Vec<CapturedState>,
        out: &mut SubtaskState,
        local_files: &mut Vec<LocalFile>,
        failed: &mut Option<SpateError>,
    ) {
        for (index, st) in states.into_iter().enumerate() {
            if let Captured::Rocks(capture) = st.entries {
                let staged = if failed.is_some() {
                    Ok(())
                } else {
                    self.stage_instance((id, key), &st.name, &capture, out, local_files)
                };
                // The hard links go whatever happened: the files to upload
                // are linked into the staging directory.
                let _ = std::fs::remove_dir_all(&capture.checkpoint.dir);
                if let Err(e) = staged {
                    *failed = Some(e);
                }
                continue;
            }
            if let Some(planned) = self.chains.plan(key, &st.name, st.entries) {
                if failed.is_some() {
                    self.chains.not_written(key, &st.name, planned);
                    continue;
                }
                let at = (id, key, index);
                match self.write_state_file(at, &st.name, &planned, out.key_groups) {
                    Ok(file) => {
                        local_files.push(LocalFile {
                            name: file.name.clone(),
                            path: self.shape.staging_dir.join(&file.name),
                        });
                        self.forget_replaced(&planned);
                        self.chains.written(key, &st.name, file);
                    }
                    Err(e) => {
                        self.chains.not_written(key, &st.name, planned);
                        *failed = Some(e);
                        continue;
                    }
                }
            }
            let chain = self.chains.files(key, &st.name);
            if chain.is_empty() {
                continue;
            }
            out.files.extend(chain.iter().cloned());
            out.states.push(StateDescriptor {
                name: st.name,
                kind: st.kind,
                schema_version: 1,
                stored_in: None,
            });
        }
    }

    /// Lists the files of a RocksDB instance's checkpoint in the task's
    /// manifest entry, and stages those that storage does not hold: the
    /// new table files and the metadata. Table files are immutable and an
    /// instance never reuses a name, so a name known as uploaded needs no
    /// upload again.
    fn stage_instance(
        &mut self,
        (id, key): (u64, TaskKey),
        instance: &str,
        capture: &RocksCapture,
        out: &mut SubtaskState,
        local_files: &mut Vec<LocalFile>,
    ) -> Result<()> {
        let uploaded = self
            .uploaded_ssts
            .entry((key, instance.to_owned()))
            .or_insert_with(|| {
                capture
                    .restored
                    .iter()
                    .filter(|f| f.kind == FileKind::RocksSst)
                    .filter_map(|f| Some((f.local_name.clone()?, f.clone())))
                    .collect()
            });
        let mut listed = Vec::with_capacity(capture.checkpoint.files.len());
        for file in &capture.checkpoint.files {
            let kind = file_kind(file);
            if let Some(known) = uploaded.get(&file.name)
                && kind == FileKind::RocksSst
                && known.size_bytes == file.size_bytes
            {
                listed.push(known.clone());
                continue;
            }
            let name = format!(
                "{}-{id:010}-task-{}-{}-rocksdb-{}",
                self.prefix, key.node, key.subtask, file.name
            );
            let path = self.shape.staging_dir.join(&name);
            keep_copy(&capture.checkpoint.dir.join(&file.name), &path)?;
            let (size_bytes, crc32c) = spate_state::checkpoint::file_crc32c(&path)?;
            let entry = FileRef {
                name: name.clone(),
                size_bytes,
                crc32c,
                kind,
                key_groups: out.key_groups,
                state: instance.to_owned(),
                added_in: id,
                local_name: Some(file.name.clone()),
            };
            local_files.push(LocalFile { name, path });
            if kind == FileKind::RocksSst {
                uploaded.insert(file.name.clone(), entry.clone());
            }
            listed.push(entry);
        }
        // Compacted away: the instance never makes these names again.
        uploaded.retain(|local, _| capture.checkpoint.files.iter().any(|f| &f.name == local));
        out.files.extend(listed);
        out.states
            .extend(capture.states.iter().map(|(name, kind)| StateDescriptor {
                name: name.clone(),
                kind: kind.clone(),
                schema_version: 1,
                stored_in: Some(instance.to_owned()),
            }));
        Ok(())
    }

    /// A full file of a chain of changes was written: the local copies of
    /// the chain it replaces are no longer needed.
    fn forget_replaced(&self, planned: &PlannedFile) {
        if planned.of_changes && planned.kind == FileKind::Full {
            let kept = kept_dir(&self.shape.staging_dir);
            for f in &planned.chain {
                let _ = std::fs::remove_file(kept.join(&f.name));
            }
        }
    }

    /// Writes state `state`, the `index`th the task captured, for
    /// checkpoint `id`.
    fn write_state_file(
        &self,
        (id, key, index): (u64, TaskKey, usize),
        state: &str,
        planned: &PlannedFile,
        key_groups: KeyGroupSpan,
    ) -> Result<FileRef> {
        let dir = &self.shape.staging_dir;
        let kind = match planned.kind {
            FileKind::Delta => "delta",
            _ => "full",
        };
        // The index keeps apart states whose names read alike once made
        // path-safe (`a b` and `a_b`): a file must never overwrite another.
        let name = format!(
            "{}-{id:010}-task-{}-{}-{index}-{}-{kind}.sst",
            self.prefix,
            key.node,
            key.subtask,
            super::location::path_safe(state)
        );
        let path = dir.join(&name);
        // A file left by an attempt that died is never reused.
        let _ = std::fs::remove_file(&path);
        let mut writer = SstWriter::create(&path)?;
        let kept = kept_dir(dir);
        if planned.of_changes && planned.kind == FileKind::Full && !planned.chain.is_empty() {
            merge_chain(&kept, planned, &mut writer)?;
        } else {
            for (k, v) in &planned.entries {
                writer.add(k, v.as_deref())?;
            }
        }
        let summary = writer.finish_durable()?;
        if planned.of_changes {
            keep_copy(&path, &kept.join(&name))?;
        }
        Ok(FileRef {
            name,
            size_bytes: summary.size_bytes,
            crc32c: summary.crc32c,
            kind: planned.kind,
            key_groups,
            state: state.to_owned(),
            added_in: id,
            local_name: None,
        })
    }

    fn subtask_state(&self, key: TaskKey, snap: TaskSnapshot) -> SubtaskState {
        let shape = &self.shape;
        let name = shape.node_names.get(key.node).map_or("?", String::as_str);
        let range = key_group_range_for_subtask(
            shape.max_parallelism,
            shape.parallelism,
            key.subtask as usize,
        );
        let mut counters = shape.base.get(&key).cloned().unwrap_or_default();
        add_counters(&mut counters, &snap);
        SubtaskState {
            operator: operator_id(key.node, name),
            subtask: key.subtask,
            key_groups: KeyGroupSpan {
                start: range.start,
                end: range.end,
            },
            files: Vec::new(),
            source_offsets: snap
                .source_offsets
                .into_iter()
                .map(|o| SourceOffset {
                    split: o.split,
                    offset: o.offset,
                })
                .collect(),
            states: Vec::new(),
            operator_values: snap.operator_values,
            sink_transactions: snap
                .sink_transactions
                .into_iter()
                .map(|t| SinkTransactionRef {
                    sink: t.sink_node.to_string(),
                    checkpoint_id: t.checkpoint_id,
                    handle: t.handle,
                })
                .collect(),
            counters,
        }
    }
}

/// Where the stager keeps copies of the files of chains of changes, to
/// merge full files from without reading them back from storage.
fn kept_dir(staging_dir: &Path) -> PathBuf {
    staging_dir.join("kept")
}

/// Keeps a copy of a staged file (a hard link: the staged name goes once
/// the file is uploaded).
fn keep_copy(staged: &Path, kept: &Path) -> Result<()> {
    let fail = |e: std::io::Error| SpateError::Checkpoint {
        reason: format!(
            "cannot keep a local copy of state file {}: {e}",
            staged.display()
        ),
    };
    if let Some(dir) = kept.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let _ = std::fs::remove_file(kept);
    std::fs::hard_link(staged, kept)
        .or_else(|_| std::fs::copy(staged, kept).map(drop))
        .map_err(fail)
}

/// Writes the merge of the chain's kept files with the planned changes
/// (newest last): the live entries only.
fn merge_chain<W: std::io::Write>(
    kept: &Path,
    planned: &PlannedFile,
    writer: &mut SstWriter<W>,
) -> Result<()> {
    let readers = planned
        .chain
        .iter()
        .map(|f| SstReader::open(&kept.join(&f.name)))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    type Input<'a> = Box<dyn Iterator<Item = std::result::Result<SstEntry, StateError>> + 'a>;
    let mut inputs: Vec<Input<'_>> = readers
        .iter()
        .map(|r| Box::new(r.iter()) as Input<'_>)
        .collect();
    inputs.push(Box::new(planned.entries.iter().map(|(key, value)| {
        Ok(SstEntry {
            key: key.clone(),
            value: value.clone(),
        })
    })));
    for entry in MergeIter::new(inputs, Tombstones::Drop) {
        let entry = entry?;
        writer.add(&entry.key, entry.value.as_deref())?;
    }
    Ok(())
}

/// Adds a task's counts in this run to `counters`.
pub(crate) fn add_counters(counters: &mut Counters, snap: &TaskSnapshot) {
    if snap.source_records > 0 || !snap.source_offsets.is_empty() {
        *counters.entry("source_records".into()).or_default() += snap.source_records;
    }
    for c in &snap.sink_counters {
        *counters
            .entry(format!("sink.{}.records", c.sink))
            .or_default() += c.records;
        let sum = counters
            .entry(format!("sink.{}.checksum", c.sink))
            .or_default();
        *sum = sum.wrapping_add(c.checksum);
    }
}

/// Staged files are copies: once uploaded (or given up) they go.
pub(crate) fn remove_files(paths: &[PathBuf]) {
    for p in paths {
        let _ = std::fs::remove_file(p);
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Captured, CapturedState};

    /// A stager of a one-node job on one subtask, in a fresh directory.
    fn test_stager(name: &str) -> (PathBuf, Stager) {
        let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shape = JobShape {
            job_id: "j".into(),
            max_parallelism: 8,
            parallelism: 1,
            node_names: vec!["op".into()],
            base: HashMap::new(),
            staging_dir: dir.clone(),
        };
        (dir, Stager::new(shape, "chk".into()))
    }

    #[test]
    fn states_whose_names_read_alike_get_files_of_their_own() {
        let (dir, mut stager) = test_stager("spate-staging-test");
        let state = |name: &str, value: &[u8]| CapturedState {
            name: name.into(),
            kind: "value".into(),
            entries: Captured::Whole(vec![(vec![0, 0, 1], value.to_vec())]),
        };
        let snapshot = TaskSnapshot {
            states: vec![state("0/a b", b"first"), state("0/a_b", b"second")],
            ..TaskSnapshot::default()
        };
        let key = TaskKey {
            node: 0,
            subtask: 0,
        };
        let staged = stager
            .stage(1, vec![(key, snapshot)])
            .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = staged.local_files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert_ne!(names[0], names[1]);
        for f in &staged.local_files {
            assert!(f.path.exists(), "{} was kept", f.path.display());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn changes(items: &[(&str, Option<&str>)]) -> Captured {
        Captured::Changes(
            items
                .iter()
                .map(|(k, v)| {
                    let mut key = vec![0, 0];
                    key.extend_from_slice(k.as_bytes());
                    (key, v.map(|v| v.as_bytes().to_vec()))
                })
                .collect(),
        )
    }

    fn read_file(path: &Path) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let reader = SstReader::open(path).unwrap_or_else(|e| panic!("{e}"));
        reader
            .iter()
            .map(|e| {
                e.map(|e| (e.key, e.value))
                    .unwrap_or_else(|e| panic!("{e}"))
            })
            .collect()
    }

    #[test]
    fn a_full_file_of_changes_is_the_chain_merged_with_them() {
        let (dir, mut stager) = test_stager("spate-staging-merge");
        let key = TaskKey {
            node: 0,
            subtask: 0,
        };
        let stage = |stager: &mut Stager, id, entries| {
            let snapshot = TaskSnapshot {
                states: vec![CapturedState {
                    name: "0/s".into(),
                    kind: "value".into(),
                    entries,
                }],
                ..TaskSnapshot::default()
            };
            let staged = stager
                .stage(id, vec![(key, snapshot)])
                .unwrap_or_else(|e| panic!("{e}"));
            let file = &staged.subtasks[0].files;
            (file.clone(), staged.local_files[0].path.clone())
        };
        let (chain, first) = stage(
            &mut stager,
            1,
            changes(&[("a", Some("1")), ("b", Some("2"))]),
        );
        assert_eq!(chain.len(), 1);
        assert_eq!(chain[0].kind, FileKind::Full);
        // A delta far bigger than half the full file: compaction is due.
        let big = "x".repeat(4096);
        let (chain, merged) = stage(
            &mut stager,
            2,
            changes(&[("b", None), ("c", Some(big.as_str()))]),
        );
        assert_eq!(chain.len(), 1, "a full file replaces the chain");
        assert_eq!(chain[0].kind, FileKind::Full);
        let want = vec![
            (b"\0\0a".to_vec(), Some(b"1".to_vec())),
            (b"\0\0c".to_vec(), Some(big.as_bytes().to_vec())),
        ];
        assert_eq!(
            read_file(&merged),
            want,
            "the merge of the chain and the changes"
        );
        let kept = kept_dir(&dir);
        assert!(
            !kept.join(first.file_name().unwrap()).exists(),
            "replaced copies go"
        );
        assert!(
            kept.join(merged.file_name().unwrap()).exists(),
            "the new file is kept"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
