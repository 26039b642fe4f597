//! The coordinator's checkpoint I/O: assembles a checkpoint's manifest from
//! the workers' entries, writes it last and atomically, and applies
//! retention (the workers already uploaded their state files).

use std::collections::HashMap;

use spate_state::checkpoint::{
    CheckpointRegistry, CheckpointStorage, Manifest, SubtaskState, manifest_object_name,
    open_registry, savepoint_scratch_dir, write_savepoint,
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
        // of this directory is written (the coordinator may have restarted).
        let registry = match self.registries.entry(req.dir.to_owned()) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => {
                let opened = open_registry(storage, req.retained.max(1) as usize)
                    .map_err(|e| e.to_string())?;
                v.insert(opened.registry)
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
