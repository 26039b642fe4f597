//! Retention and reference counting of checkpoint files.
//!
//! [`CheckpointRegistry`] is a pure state machine: completed manifests go
//! in, the manifests and files to delete come out. A file shared by several
//! retained checkpoints is counted once per checkpoint and deleted only when
//! the last of them leaves retention. On start it is rebuilt from the
//! manifests in storage, and anything in `shared/` that no valid manifest
//! references (an orphan of a failed or interrupted checkpoint) is garbage.
//!
//! Deletion order keeps storage consistent at every step: a dropped
//! checkpoint's manifest is deleted before its files, so a crash in between
//! leaves orphans (collected on the next start), never a manifest that
//! points at missing files.

use std::collections::{BTreeMap, HashMap};

use super::manifest::{
    MANIFEST_DIR, Manifest, SHARED_DIR, manifest_object_name, parse_manifest_object_name,
    read_manifests,
};
use super::storage::{CheckpointStorage, StoredObject};
use crate::error::StateError;

/// A file the retained checkpoints hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeldFile {
    /// Size in bytes.
    pub size_bytes: u64,
    /// CRC32C of the whole file.
    pub crc32c: u32,
    /// How many retained checkpoints reference it.
    pub references: u32,
}

/// Objects to delete, in this order: manifests, then files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Deletions {
    /// Manifests of checkpoints that left retention.
    pub manifests: Vec<String>,
    /// Files no retained checkpoint references any more.
    pub files: Vec<String>,
}

impl Deletions {
    /// Nothing to delete.
    pub fn is_empty(&self) -> bool {
        self.manifests.is_empty() && self.files.is_empty()
    }

    /// Deletes the manifests, then the files. Returns the objects deleted.
    pub fn apply(&self, storage: &dyn CheckpointStorage) -> Result<usize, StateError> {
        for name in self.manifests.iter().chain(&self.files) {
            storage.delete(name)?;
        }
        Ok(self.manifests.len() + self.files.len())
    }
}

/// The retained checkpoints and the reference count of every file they use.
#[derive(Clone, Debug)]
pub struct CheckpointRegistry {
    checkpoints_retained: usize,
    /// Checkpoint id → object names of its files (each once).
    retained: BTreeMap<u64, Vec<String>>,
    files: HashMap<String, HeldFile>,
}

impl CheckpointRegistry {
    /// An empty registry keeping the last `checkpoints_retained` (at least
    /// 1) complete checkpoints.
    pub fn new(checkpoints_retained: usize) -> Self {
        CheckpointRegistry {
            checkpoints_retained: checkpoints_retained.max(1),
            retained: BTreeMap::new(),
            files: HashMap::new(),
        }
    }

    /// Registers a completed checkpoint (its manifest is durable) and
    /// returns what falls out of retention.
    pub fn add_completed(&mut self, manifest: &Manifest) -> Deletions {
        let id = manifest.checkpoint_id;
        if self.retained.contains_key(&id) {
            return Deletions::default();
        }
        let names: Vec<String> = manifest.files().map(|f| f.object_name()).collect();
        for f in manifest.files() {
            let held = self.files.entry(f.object_name()).or_insert(HeldFile {
                size_bytes: f.size_bytes,
                crc32c: f.crc32c,
                references: 0,
            });
            held.references += 1;
        }
        self.retained.insert(id, names);
        let mut deletions = Deletions::default();
        while self.retained.len() > self.checkpoints_retained {
            let Some((old_id, old_files)) = self.retained.pop_first() else {
                break;
            };
            deletions.manifests.push(manifest_object_name(old_id));
            for name in old_files {
                self.release(name, &mut deletions.files);
            }
        }
        deletions
    }

    fn release(&mut self, name: String, unreferenced: &mut Vec<String>) {
        if let Some(held) = self.files.get_mut(&name) {
            held.references = held.references.saturating_sub(1);
            if held.references == 0 {
                self.files.remove(&name);
                unreferenced.push(name);
            }
        }
    }

    /// The held file under object name `name`, if a retained checkpoint
    /// references it.
    pub fn held(&self, name: &str) -> Option<HeldFile> {
        self.files.get(name).copied()
    }

    /// Ids of the retained checkpoints, oldest first.
    pub fn retained_ids(&self) -> Vec<u64> {
        self.retained.keys().copied().collect()
    }

    /// The newest retained checkpoint.
    pub fn latest(&self) -> Option<u64> {
        self.retained.last_key_value().map(|(id, _)| *id)
    }

    /// Objects in `listed` that nothing retained uses: unreferenced files
    /// in `shared/`, manifests of checkpoints not retained, temporary files.
    /// Corrupt manifests are kept for inspection; they reference nothing.
    pub fn garbage(&self, listed: &[StoredObject], corrupt_manifests: &[String]) -> Vec<String> {
        listed
            .iter()
            .filter(|o| {
                if o.name.starts_with(SHARED_DIR) {
                    !self.files.contains_key(&o.name)
                } else if o.name.starts_with(MANIFEST_DIR) {
                    match parse_manifest_object_name(&o.name) {
                        Some(id) => {
                            !self.retained.contains_key(&id) && !corrupt_manifests.contains(&o.name)
                        }
                        None => true,
                    }
                } else {
                    false
                }
            })
            .map(|o| o.name.clone())
            .collect()
    }
}

/// The registry rebuilt from storage, and what was cleaned up.
#[derive(Debug)]
pub struct OpenedRegistry {
    /// The registry of the valid manifests.
    pub registry: CheckpointRegistry,
    /// Manifests that did not validate: object name and reason.
    pub corrupt_manifests: Vec<(String, StateError)>,
    /// Objects deleted: dropped checkpoints and orphans.
    pub deleted: Vec<String>,
}

/// Rebuilds the registry from the manifests in `storage` and collects
/// garbage. Call it once at start, before the first checkpoint: it assumes
/// no upload is in flight.
pub fn open_registry(
    storage: &dyn CheckpointStorage,
    checkpoints_retained: usize,
) -> Result<OpenedRegistry, StateError> {
    let mut registry = CheckpointRegistry::new(checkpoints_retained);
    let mut corrupt_manifests = Vec::new();
    let mut deleted = Vec::new();
    for stored in read_manifests(storage)? {
        match stored.manifest {
            Ok(manifest) => {
                let deletions = registry.add_completed(&manifest);
                deletions.apply(storage)?;
                deleted.extend(deletions.manifests.into_iter().chain(deletions.files));
            }
            Err(e) => corrupt_manifests.push((stored.name, e)),
        }
    }
    let corrupt_names: Vec<String> = corrupt_manifests.iter().map(|(n, _)| n.clone()).collect();
    let mut listed = storage.list(MANIFEST_DIR)?;
    listed.extend(storage.list(SHARED_DIR)?);
    for name in registry.garbage(&listed, &corrupt_names) {
        storage.delete(&name)?;
        deleted.push(name);
    }
    Ok(OpenedRegistry {
        registry,
        corrupt_manifests,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::manifest::{FileKind, FileRef, KeyGroupSpan, SubtaskState};

    fn manifest(id: u64, files: &[&str]) -> Manifest {
        Manifest {
            checkpoint_id: id,
            job_id: "j".into(),
            created_at_ms: 0,
            state_schema_version: 1,
            max_parallelism: 4,
            subtasks: vec![SubtaskState {
                operator: "op".into(),
                subtask: 0,
                key_groups: KeyGroupSpan { start: 0, end: 4 },
                files: files
                    .iter()
                    .map(|n| FileRef {
                        name: (*n).into(),
                        size_bytes: 1,
                        crc32c: 0,
                        kind: FileKind::Delta,
                        key_groups: KeyGroupSpan { start: 0, end: 4 },
                        state: "s".into(),
                        added_in: 0,
                        local_name: None,
                    })
                    .collect(),
                source_offsets: vec![],
                states: vec![],
                sink_transactions: Vec::new(),
                counters: Default::default(),
                operator_values: Default::default(),
            }],
        }
    }

    #[test]
    fn shared_files_live_until_their_last_checkpoint_leaves() {
        let mut r = CheckpointRegistry::new(2);
        assert!(r.add_completed(&manifest(1, &["a", "b"])).is_empty());
        assert!(r.add_completed(&manifest(2, &["a", "c"])).is_empty());
        let d = r.add_completed(&manifest(3, &["a", "d"]));
        assert_eq!(d.manifests, [manifest_object_name(1)]);
        assert_eq!(d.files, ["shared/b"]);
        assert_eq!(r.held("shared/a").map(|h| h.references), Some(2));
        let d = r.add_completed(&manifest(4, &["d"]));
        assert_eq!(d.files, ["shared/c"]);
        let d = r.add_completed(&manifest(5, &["e"]));
        assert_eq!(d.files, ["shared/a"]);
        assert_eq!(r.retained_ids(), [4, 5]);
        assert_eq!(r.latest(), Some(5));
    }

    #[test]
    fn garbage_is_what_nothing_retained_references() {
        let mut r = CheckpointRegistry::new(1);
        r.add_completed(&manifest(7, &["keep"]));
        let listed: Vec<StoredObject> = [
            "shared/keep",
            "shared/orphan",
            "shared/.tmp-1-0",
            "manifests/.tmp-1-1",
            "manifests/chk-00000000000000000007.json",
            "manifests/chk-00000000000000000006.json",
            "manifests/chk-00000000000000000008.json",
        ]
        .iter()
        .map(|n| StoredObject {
            name: (*n).into(),
            size_bytes: 1,
        })
        .collect();
        let corrupt = ["manifests/chk-00000000000000000008.json".to_string()];
        let g = r.garbage(&listed, &corrupt);
        assert_eq!(
            g,
            [
                "shared/orphan",
                "shared/.tmp-1-0",
                "manifests/.tmp-1-1",
                "manifests/chk-00000000000000000006.json"
            ]
        );
    }
}
