//! What a run restored from a checkpoint starts with: the source
//! positions per task, and the counters so far.

use std::collections::{BTreeMap, HashMap};

use std::sync::Arc;

use spate_state::checkpoint::{CheckpointStorage, Manifest};

use super::snapshot::{SplitOffset, TaskKey};
use crate::error::{Result, SpateError};

/// The stable name of a task's state in manifests: `<node>:<operator name>`.
pub(crate) fn operator_id(node: usize, name: &str) -> String {
    format!("{node}:{name}")
}

pub(crate) fn node_of(operator: &str) -> Option<usize> {
    operator.split(':').next()?.parse().ok()
}

/// The part of a completed checkpoint a restarted run needs.
#[derive(Debug)]
pub(crate) struct RestoredPositions {
    /// The manifest restored, for the operators' state files.
    pub(crate) manifest: Manifest,
    /// Where its files are.
    pub(crate) storage: Arc<dyn CheckpointStorage>,
    /// The checkpoint restored.
    pub(crate) checkpoint_id: u64,
    /// Source positions per task, as stored.
    pub(crate) offsets: HashMap<TaskKey, Vec<SplitOffset>>,
    /// Subtasks per operator node in the checkpoint.
    pub(crate) old_parallelism: HashMap<usize, usize>,
    /// This run's parallelism.
    pub(crate) parallelism: usize,
    /// Counters per task of this run: a rescaled restore folds the old
    /// subtasks' counters onto the new ones (only their sums matter).
    pub(crate) counters: HashMap<TaskKey, BTreeMap<String, u64>>,
    /// Old RocksDB instances opened to read states out of.
    pub(crate) scratch: super::rocks_instance::ScratchInstances,
}

fn is_in_flight(state: &str) -> bool {
    state
        .rsplit_once('/')
        .is_some_and(|(_, name)| name == super::in_flight::IN_FLIGHT_STATE)
}

/// In-flight records were sent to one subtask's key groups by the old
/// partitioning; replaying them on another parallelism would hand records
/// to subtasks that do not own their keys, so such a restore is refused.
fn refuse_rescaled_in_flight(
    m: &Manifest,
    old_parallelism: &HashMap<usize, usize>,
    parallelism: usize,
) -> Result<()> {
    for st in &m.subtasks {
        let Some(node) = node_of(&st.operator) else {
            continue;
        };
        let old = old_parallelism.get(&node).copied().unwrap_or(parallelism);
        if old != parallelism && st.files.iter().any(|f| is_in_flight(&f.state)) {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "checkpoint {} was taken unaligned and holds in-flight records of operator \
                     `{}`; it restores only with the parallelism it was taken with ({old}), not \
                     {parallelism}. Restore it with {old} subtasks, or rescale from a \
                     savepoint (a job in one process always takes savepoints aligned; on a \
                     cluster, take it with checkpoint.mode = aligned)",
                    m.checkpoint_id, st.operator
                ),
            });
        }
    }
    Ok(())
}

/// How a source split restarts from a checkpoint.
#[derive(Debug)]
pub(crate) enum SourceRestore<'a> {
    /// Its own position (same parallelism).
    Same(&'a [u8]),
    /// The positions of every split of the run checkpointed with another
    /// parallelism, by old split index.
    Rescaled(Vec<Vec<u8>>),
}

impl RestoredPositions {
    /// Reads what a run of `parallelism` subtasks restores from `m`; the
    /// checkpoint may have been taken with another parallelism. Old RocksDB
    /// instances a rescale reads are opened under `local_dir`.
    pub(crate) fn from_manifest(
        m: Manifest,
        storage: Arc<dyn CheckpointStorage>,
        parallelism: usize,
        local_dir: &std::path::Path,
    ) -> Result<Self> {
        let (mut offsets, mut counters) = (HashMap::new(), HashMap::new());
        let mut old_parallelism: HashMap<usize, usize> = HashMap::new();
        for st in &m.subtasks {
            let node = node_of(&st.operator).ok_or_else(|| SpateError::Checkpoint {
                reason: format!(
                    "checkpoint {} names operator `{}`, which is not `<node>:<name>`",
                    m.checkpoint_id, st.operator
                ),
            })?;
            *old_parallelism.entry(node).or_default() += 1;
            let key = TaskKey {
                node,
                subtask: st.subtask,
            };
            let positions = st
                .source_offsets
                .iter()
                .map(|o| SplitOffset {
                    split: o.split.clone(),
                    offset: o.offset.clone(),
                })
                .collect();
            offsets.insert(key, positions);
            let folded = TaskKey {
                node,
                subtask: st.subtask % parallelism.max(1) as u32,
            };
            let into: &mut BTreeMap<String, u64> = counters.entry(folded).or_default();
            for (name, value) in &st.counters {
                let v = into.entry(name.clone()).or_default();
                *v = v.wrapping_add(*value);
            }
        }
        for (node, count) in &old_parallelism {
            let complete = (0..*count as u32).all(|subtask| {
                offsets.contains_key(&TaskKey {
                    node: *node,
                    subtask,
                })
            });
            if !complete {
                return Err(SpateError::Checkpoint {
                    reason: format!(
                        "checkpoint {} lacks some of the {count} subtasks of node {node}; \
                         its manifest is incomplete",
                        m.checkpoint_id
                    ),
                });
            }
        }
        refuse_rescaled_in_flight(&m, &old_parallelism, parallelism)?;
        Ok(Self {
            checkpoint_id: m.checkpoint_id,
            manifest: m,
            storage,
            offsets,
            old_parallelism,
            parallelism,
            counters,
            scratch: super::rocks_instance::ScratchInstances::new(local_dir),
        })
    }

    /// Bytes of in-flight records (of an unaligned checkpoint) the restore
    /// replays.
    pub(crate) fn in_flight_bytes(&self) -> u64 {
        self.manifest
            .subtasks
            .iter()
            .flat_map(|st| &st.files)
            .filter(|f| is_in_flight(&f.state))
            .map(|f| f.size_bytes)
            .sum()
    }

    /// How split `key.subtask` of the source at the head of `key.node`
    /// restarts; `None` when the checkpoint holds no position for it.
    pub(crate) fn source_restore(&self, key: TaskKey) -> Option<SourceRestore<'_>> {
        let old = *self.old_parallelism.get(&key.node)?;
        if old == self.parallelism {
            return self.own_offset(key).map(SourceRestore::Same);
        }
        let all = (0..old as u32)
            .map(|subtask| {
                self.own_offset(TaskKey {
                    node: key.node,
                    subtask,
                })
                .map(<[u8]>::to_vec)
            })
            .collect::<Option<Vec<_>>>()?;
        Some(SourceRestore::Rescaled(all))
    }

    fn own_offset(&self, key: TaskKey) -> Option<&[u8]> {
        let split = key.subtask.to_string();
        self.offsets
            .get(&key)?
            .iter()
            .find(|o| o.split == split)
            .map(|o| o.offset.as_slice())
    }
}

#[cfg(test)]
mod tests {
    use spate_state::checkpoint::{FileKind, FileRef, KeyGroupSpan, SubtaskState};

    use super::*;

    fn file(state: &str) -> FileRef {
        FileRef {
            name: format!("{state}.sst").replace('/', "-"),
            size_bytes: 100,
            crc32c: 0,
            kind: FileKind::Full,
            key_groups: KeyGroupSpan { start: 0, end: 64 },
            state: state.into(),
            added_in: 1,
            local_name: None,
        }
    }

    fn manifest(files_of_subtask_0: Vec<FileRef>) -> Manifest {
        let subtask = |subtask: u32, files: Vec<FileRef>| SubtaskState {
            operator: "2:count".into(),
            subtask,
            key_groups: KeyGroupSpan {
                start: 64 * subtask as u16,
                end: 64 * (subtask as u16 + 1),
            },
            files,
            source_offsets: Vec::new(),
            states: Vec::new(),
            sink_transactions: Vec::new(),
            counters: BTreeMap::new(),
            operator_values: BTreeMap::new(),
        };
        Manifest {
            checkpoint_id: 9,
            job_id: "job".into(),
            created_at_ms: 0,
            state_schema_version: 1,
            max_parallelism: 128,
            subtasks: vec![subtask(0, files_of_subtask_0), subtask(1, Vec::new())],
        }
    }

    #[test]
    fn in_flight_records_restore_only_with_the_parallelism_they_were_routed_for() {
        let old = HashMap::from([(2, 2)]);
        let with = manifest(vec![file("2/count"), file("2/in-flight")]);
        assert!(refuse_rescaled_in_flight(&with, &old, 2).is_ok());
        let err = refuse_rescaled_in_flight(&with, &old, 3)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unaligned") && err.contains("(2)") && err.contains("2:count"),
            "{err}"
        );
        // Keyed state alone rescales.
        let without = manifest(vec![file("2/count")]);
        assert!(refuse_rescaled_in_flight(&without, &old, 3).is_ok());
    }
}
