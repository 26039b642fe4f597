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

fn node_of(operator: &str) -> Option<usize> {
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
    /// Source positions per task.
    pub(crate) offsets: HashMap<TaskKey, Vec<SplitOffset>>,
    /// Counters per task, as stored.
    pub(crate) counters: HashMap<TaskKey, BTreeMap<String, u64>>,
}

impl RestoredPositions {
    /// Reads what a run of `parallelism` subtasks restores from `m`.
    pub(crate) fn from_manifest(
        m: Manifest,
        storage: Arc<dyn CheckpointStorage>,
        parallelism: usize,
    ) -> Result<Self> {
        let (mut offsets, mut counters) = (HashMap::new(), HashMap::new());
        for st in &m.subtasks {
            let node = node_of(&st.operator).ok_or_else(|| SpateError::Checkpoint {
                reason: format!(
                    "checkpoint {} names operator `{}`, which is not `<node>:<name>`",
                    m.checkpoint_id, st.operator
                ),
            })?;
            if st.subtask as usize >= parallelism {
                return Err(SpateError::Checkpoint {
                    reason: format!(
                        "checkpoint {} was taken with more subtasks than this run's {parallelism} \
                         (it has subtask {} of operator `{}`); restoring with another \
                         parallelism needs a savepoint",
                        m.checkpoint_id, st.subtask, st.operator
                    ),
                });
            }
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
            counters.insert(key, st.counters.clone());
        }
        Ok(Self {
            checkpoint_id: m.checkpoint_id,
            manifest: m,
            storage,
            offsets,
            counters,
        })
    }

    /// The position of split `subtask` of the source at the head of `node`.
    pub(crate) fn offset_for(&self, key: TaskKey) -> Option<&[u8]> {
        let split = key.subtask.to_string();
        self.offsets
            .get(&key)?
            .iter()
            .find(|o| o.split == split)
            .map(|o| o.offset.as_slice())
    }
}
