//! The coordinator's checkpoint I/O: assembles a checkpoint's manifest from
//! the workers' entries, writes it last and atomically, and applies
//! retention (the workers already uploaded their state files).

use std::collections::HashMap;

use spate_state::checkpoint::{
    CheckpointRegistry, CheckpointStorage, Manifest, SubtaskState, VerifyLevel,
    manifest_object_name, read_manifests, savepoint_scratch_dir, select_recovery, write_savepoint,
};

/// One checkpoint to store.
pub(crate) struct StoreRequest<'a> {
    pub(crate) name: &'a str,
    pub(crate) id: u64,
    pub(crate) dir: &'a str,
    pub(crate) retained: u32,
    pub(crate) max_parallelism: u16,
    pub(crate) parts: &'a [String],
}

/// Retention state per checkpoint directory.
#[derive(Default)]
pub(crate) struct CheckpointStores {
    registries: HashMap<String, CheckpointRegistry>,
}

impl CheckpointStores {
    /// Stores one checkpoint, then writes it to each of `savepoint_to` as
    /// a savepoint (files and bytes, or why not); the error is a sentence.
    pub(crate) fn store(
        &mut self,
        req: &StoreRequest<'_>,
        savepoint_to: &[String],
    ) -> Result<Vec<super::state::SavepointOutcome>, String> {
        let storage = spate::checkpoint::open_storage(std::path::Path::new(req.dir))
            .map_err(|e| e.to_string())?;
        let storage = &*storage;
        let mut subtasks: Vec<SubtaskState> = Vec::new();
        for (i, part) in req.parts.iter().enumerate() {
            let entries: Vec<SubtaskState> = serde_json::from_str(part).map_err(|e| {
                format!(
                    "worker entry {i} of checkpoint {} is not valid: {e}",
                    req.id
                )
            })?;
            subtasks.extend(entries);
        }
        subtasks.sort_by(|a, b| (&a.operator, a.subtask).cmp(&(&b.operator, b.subtask)));
        let manifest = Manifest {
            checkpoint_id: req.id,
            job_id: req.name.to_owned(),
            created_at_ms: unix_ms(),
            state_schema_version: 1,
            max_parallelism: req.max_parallelism,
            subtasks,
        };
        // The registry is rebuilt from storage before the first manifest
        // of this directory is written (the coordinator may have restarted),
        // without collecting files no manifest references yet: the workers
        // uploaded this checkpoint's files (and maybe the next one's) before
        // its manifest exists. `open_registry`'s garbage collection deleted
        // them as orphans, so the first checkpoint of every cluster job
        // named deleted files, and a restart from it failed forever (found
        // by `spate-torture run --suite kill --long`). Retention of the
        // rebuilt checkpoints waits too: a file of a checkpoint it would
        // drop may be reused by this one. Leftovers of crashed uploads stay.
        let registry = match self.registries.entry(req.dir.to_owned()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let mut registry = CheckpointRegistry::new(req.retained.max(1) as usize);
                for stored in read_manifests(storage).map_err(|e| e.to_string())? {
                    if let Ok(m) = stored.manifest {
                        let _kept = registry.add_completed(&m);
                    }
                }
                v.insert(registry)
            }
        };
        let bytes = manifest.encode().map_err(|e| e.to_string())?;
        storage
            .put_manifest(&manifest_object_name(req.id), &bytes)
            .map_err(|e| e.to_string())?;
        let deletions = registry.add_completed(&manifest);
        if let Err(e) = deletions.apply(storage) {
            // The checkpoint is complete; the next start collects leftovers.
            tracing::warn!("retention after checkpoint {} failed: {e}", req.id);
        }
        // The registry holds this checkpoint's files now: no retention can
        // remove them while they are copied.
        Ok(savepoint_to
            .iter()
            .map(|target| write_savepoint_to(storage, &manifest, target))
            .collect())
    }
}

/// The newest checkpoint in `dir` whose manifest and files check out
/// (sizes), logging each newer one passed over and why; `None` when `dir`
/// holds none.
pub(crate) fn newest_usable_checkpoint(dir: &str) -> Result<Option<u64>, String> {
    let storage =
        spate::checkpoint::open_storage(std::path::Path::new(dir)).map_err(|e| e.to_string())?;
    let Some(selection) =
        select_recovery(&*storage, VerifyLevel::Size).map_err(|e| e.to_string())?
    else {
        return Ok(None);
    };
    for rejected in &selection.rejected {
        tracing::warn!("passing over {rejected}");
    }
    Ok(Some(selection.manifest.checkpoint_id))
}

/// Writes `manifest` to the savepoint location `target`.
fn write_savepoint_to(
    storage: &dyn CheckpointStorage,
    manifest: &Manifest,
    target: &str,
) -> super::state::SavepointOutcome {
    let to =
        spate::checkpoint::open_storage(std::path::Path::new(target)).map_err(|e| e.to_string())?;
    let written = write_savepoint(storage, manifest, &*to, &savepoint_scratch_dir())
        .map_err(|e| e.to_string())?;
    tracing::info!(
        "savepoint of checkpoint {} written to {target} ({} files, {} bytes)",
        manifest.checkpoint_id,
        written.files,
        written.bytes
    );
    Ok((written.files as u64, written.bytes))
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spate_state::checkpoint::{FileKind, FileRef, KeyGroupSpan};

    fn entry(name: &str, size: u64) -> String {
        let st = SubtaskState {
            operator: "2:count".into(),
            subtask: 0,
            key_groups: KeyGroupSpan { start: 0, end: 128 },
            files: vec![FileRef {
                name: name.into(),
                size_bytes: size,
                crc32c: 0,
                kind: FileKind::Full,
                key_groups: KeyGroupSpan { start: 0, end: 128 },
                state: "count".into(),
                added_in: 1,
                local_name: None,
            }],
            source_offsets: Vec::new(),
            states: Vec::new(),
            sink_transactions: Vec::new(),
            counters: Default::default(),
            operator_values: Default::default(),
        };
        serde_json::to_string(&vec![st]).expect("json")
    }

    #[test]
    fn the_first_checkpoint_of_a_directory_keeps_the_files_uploaded_for_it() {
        let dir = std::env::temp_dir().join(format!("spate-store-first-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let shared = dir.join("shared");
        std::fs::create_dir_all(&shared).expect("dir");
        // Checkpoint 1's file, and checkpoint 2's already uploaded.
        std::fs::write(shared.join("a1-s0-1.sst"), [1u8; 10]).expect("write");
        std::fs::write(shared.join("a1-s0-2.sst"), [2u8; 10]).expect("write");
        let parts = [entry("a1-s0-1.sst", 10)];
        let req = StoreRequest {
            name: "job",
            id: 1,
            dir: dir.to_str().expect("utf-8"),
            retained: 1,
            max_parallelism: 128,
            parts: &parts,
        };
        CheckpointStores::default()
            .store(&req, &[])
            .expect("stored");
        assert!(
            shared.join("a1-s0-1.sst").exists(),
            "the checkpoint's own file"
        );
        assert!(
            shared.join("a1-s0-2.sst").exists(),
            "the next checkpoint's file"
        );
        assert!(dir.join("manifests/chk-00000000000000000001.json").exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
