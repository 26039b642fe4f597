//! The background uploader: takes a checkpoint's manifest and its new local
//! files, uploads only what storage does not hold yet, writes the manifest
//! last, applies retention, and reports the outcome of that checkpoint.
//!
//! Submitting never blocks: requests go through a bounded queue and a full
//! queue refuses the checkpoint ([`StateError::UploadQueueFull`]). The
//! uploader thread runs requests one at a time, in order, so retention and
//! cleanup never race an upload.
//!
//! A failed checkpoint deletes only the objects it created itself and no
//! retained checkpoint references; objects are never replaced. So a
//! checkpoint that fails mid-upload cannot damage an earlier checkpoint
//! (Flink's FLINK-25395).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::manifest::{FileRef, Manifest, manifest_object_name};
use super::registry::CheckpointRegistry;
use super::savepoint::{SavepointSummary, savepoint_scratch_dir, write_savepoint};
use super::storage::{CheckpointStorage, PutSummary};
use super::thread_class::ThreadClass;
use crate::error::StateError;

/// A file written locally for the checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    /// Its [`FileRef::name`] in the manifest.
    pub name: String,
    /// Where it is on local disk.
    pub path: PathBuf,
}

/// One checkpoint to make durable.
#[derive(Clone, Debug)]
pub struct UploadRequest {
    /// The complete manifest: every file the checkpoint uses, new or shared.
    pub manifest: Manifest,
    /// Local copies of the files that may not be in storage yet: every file
    /// not referenced by the last *completed* checkpoint must be here.
    pub local_files: Vec<LocalFile>,
    /// Where to write the checkpoint as a savepoint once it is durable
    /// (see [`write_savepoint`]); usually empty.
    pub savepoint_to: Vec<Arc<dyn CheckpointStorage>>,
}

/// A checkpoint that is now durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompletedCheckpoint {
    /// The checkpoint id.
    pub checkpoint_id: u64,
    /// Files uploaded for it.
    pub uploaded_files: usize,
    /// Bytes uploaded for it (its incremental size).
    pub uploaded_bytes: u64,
    /// Files it shares with earlier checkpoints.
    pub reused_files: usize,
    /// Bytes it shares with earlier checkpoints.
    pub reused_bytes: u64,
    /// Objects deleted by retention after it completed.
    pub deleted_objects: usize,
    /// Retention cleanup that failed; the checkpoint itself is complete and
    /// the next start collects the leftovers.
    pub cleanup_error: Option<StateError>,
    /// Time from dequeue to durable manifest and cleanup.
    pub duration_ms: u64,
    /// The savepoints written from it, one per
    /// [`UploadRequest::savepoint_to`], in order.
    pub savepoints: Vec<Result<SavepointSummary, StateError>>,
}

/// What became of a submitted checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckpointOutcome {
    /// The manifest is durable: the checkpoint can be committed.
    Completed(CompletedCheckpoint),
    /// This checkpoint failed; earlier ones are untouched and later ones
    /// may still succeed.
    Failed {
        /// The checkpoint id.
        checkpoint_id: u64,
        /// Why.
        error: StateError,
    },
}

impl CheckpointOutcome {
    /// The checkpoint the outcome is about.
    pub fn checkpoint_id(&self) -> u64 {
        match self {
            CheckpointOutcome::Completed(c) => c.checkpoint_id,
            CheckpointOutcome::Failed { checkpoint_id, .. } => *checkpoint_id,
        }
    }
}

/// Handle of the uploader thread.
#[derive(Debug)]
pub struct CheckpointUploader {
    requests: Option<SyncSender<UploadRequest>>,
    outcomes: Receiver<CheckpointOutcome>,
    thread: Option<JoinHandle<()>>,
    queue_len_max: usize,
}

impl CheckpointUploader {
    /// Starts the uploader thread over `storage`. `registry` is the one
    /// [`open_registry`](super::registry::open_registry) rebuilt; at most
    /// `queue_len_max` (at least 1) checkpoints wait at a time.
    pub fn start(
        storage: Arc<dyn CheckpointStorage>,
        registry: CheckpointRegistry,
        queue_len_max: usize,
    ) -> Result<Self, StateError> {
        Self::start_in(storage, registry, queue_len_max, ThreadClass::Normal)
    }

    /// [`Self::start`], the thread scheduled in `class`.
    pub fn start_in(
        storage: Arc<dyn CheckpointStorage>,
        registry: CheckpointRegistry,
        queue_len_max: usize,
        class: ThreadClass,
    ) -> Result<Self, StateError> {
        let queue_len_max = queue_len_max.max(1);
        let (requests, requests_rx) = mpsc::sync_channel(queue_len_max);
        // One slot per queued request plus the one in progress: the thread
        // only waits on outcomes the caller has not collected yet.
        let (outcomes_tx, outcomes) = mpsc::sync_channel(queue_len_max + 1);
        let thread = std::thread::Builder::new()
            .name("spate-ckpt-upload".into())
            .spawn(move || {
                class.enter();
                run(&*storage, registry, &requests_rx, &outcomes_tx);
            })
            .map_err(|e| StateError::Internal {
                reason: format!("cannot start the checkpoint uploader thread: {e}"),
            })?;
        Ok(CheckpointUploader {
            requests: Some(requests),
            outcomes,
            thread: Some(thread),
            queue_len_max,
        })
    }

    /// Queues a checkpoint without blocking.
    pub fn try_submit(&self, request: UploadRequest) -> Result<(), StateError> {
        let Some(requests) = &self.requests else {
            return Err(StateError::Internal {
                reason: "checkpoint uploader used after shutdown".into(),
            });
        };
        match requests.try_send(request) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StateError::UploadQueueFull {
                capacity: self.queue_len_max,
            }),
            Err(TrySendError::Disconnected(_)) => Err(StateError::Internal {
                reason: "checkpoint uploader thread has stopped".into(),
            }),
        }
    }

    /// A finished checkpoint's outcome, if one is ready.
    pub fn try_outcome(&self) -> Option<CheckpointOutcome> {
        self.outcomes.try_recv().ok()
    }

    /// Waits up to `timeout` for the next outcome.
    pub fn outcome_timeout(&self, timeout: Duration) -> Option<CheckpointOutcome> {
        self.outcomes.recv_timeout(timeout).ok()
    }

    /// Finishes the queued checkpoints, stops the thread, and returns the
    /// outcomes not collected yet.
    pub fn shutdown(mut self) -> Vec<CheckpointOutcome> {
        self.requests = None;
        let mut rest = Vec::new();
        // Drain while joining: the thread may wait for room in `outcomes`.
        while let Ok(outcome) = self.outcomes.recv() {
            rest.push(outcome);
        }
        if let Some(thread) = self.thread.take() {
            let _ignored = thread.join();
        }
        rest
    }
}

fn run(
    storage: &dyn CheckpointStorage,
    mut registry: CheckpointRegistry,
    requests: &Receiver<UploadRequest>,
    outcomes: &SyncSender<CheckpointOutcome>,
) {
    for request in requests {
        let outcome = process(storage, &mut registry, &request);
        if outcomes.send(outcome).is_err() {
            return;
        }
    }
}

#[derive(Default)]
struct Transfer {
    created: Vec<String>,
    uploaded_files: usize,
    uploaded_bytes: u64,
    reused_files: usize,
    reused_bytes: u64,
}

fn process(
    storage: &dyn CheckpointStorage,
    registry: &mut CheckpointRegistry,
    request: &UploadRequest,
) -> CheckpointOutcome {
    let started = Instant::now();
    let checkpoint_id = request.manifest.checkpoint_id;
    let mut transfer = Transfer::default();
    let result = upload(storage, registry, request, &mut transfer);
    if let Err(error) = result {
        // Only what this attempt created and nothing retained references.
        for name in &transfer.created {
            if registry.held(name).is_none() {
                let _ignored = storage.delete(name);
            }
        }
        return CheckpointOutcome::Failed {
            checkpoint_id,
            error,
        };
    }
    let deletions = registry.add_completed(&request.manifest);
    let cleanup = deletions.apply(storage);
    // The registry now holds this checkpoint's files, so no cleanup can
    // remove them while they are copied.
    let scratch = savepoint_scratch_dir();
    let savepoints = request
        .savepoint_to
        .iter()
        .map(|to| write_savepoint(storage, &request.manifest, &**to, &scratch))
        .collect();
    CheckpointOutcome::Completed(CompletedCheckpoint {
        checkpoint_id,
        uploaded_files: transfer.uploaded_files,
        uploaded_bytes: transfer.uploaded_bytes,
        reused_files: transfer.reused_files,
        reused_bytes: transfer.reused_bytes,
        deleted_objects: *cleanup.as_ref().unwrap_or(&0),
        cleanup_error: cleanup.err(),
        duration_ms: started.elapsed().as_millis() as u64,
        savepoints,
    })
}

fn upload(
    storage: &dyn CheckpointStorage,
    registry: &CheckpointRegistry,
    request: &UploadRequest,
    transfer: &mut Transfer,
) -> Result<(), StateError> {
    let manifest = &request.manifest;
    let manifest_name = manifest_object_name(manifest.checkpoint_id);
    if let Some(latest) = registry.latest()
        && manifest.checkpoint_id <= latest
    {
        return Err(refusal(
            "put",
            &manifest_name,
            format!(
                "checkpoint {} is not after the latest completed checkpoint {latest}",
                manifest.checkpoint_id
            ),
        ));
    }
    let encoded = manifest.encode()?;
    let local: HashMap<&str, &Path> = request
        .local_files
        .iter()
        .map(|f| (f.name.as_str(), f.path.as_path()))
        .collect();
    for file in manifest.files() {
        upload_file(
            storage,
            registry,
            file,
            local.get(file.name.as_str()).copied(),
            transfer,
        )?;
    }
    storage.put_manifest(&manifest_name, &encoded)
}

fn upload_file(
    storage: &dyn CheckpointStorage,
    registry: &CheckpointRegistry,
    file: &FileRef,
    local: Option<&Path>,
    transfer: &mut Transfer,
) -> Result<(), StateError> {
    let object = file.object_name();
    let expected = PutSummary {
        size_bytes: file.size_bytes,
        crc32c: file.crc32c,
    };
    if let Some(held) = registry.held(&object) {
        if (held.size_bytes, held.crc32c) != (file.size_bytes, file.crc32c) {
            return Err(refusal(
                "put",
                &object,
                "a retained checkpoint holds different bytes under this name; objects are never replaced",
            ));
        }
        transfer.reused_files += 1;
        transfer.reused_bytes += file.size_bytes;
        return Ok(());
    }
    let Some(local) = local else {
        return Err(refusal(
            "put",
            &object,
            "not held by any retained checkpoint and not among the checkpoint's local files",
        ));
    };
    if storage.size(&object)?.is_some() {
        // Left by an interrupted attempt: usable only if the bytes match.
        if storage.checksum(&object)? != expected {
            return Err(refusal(
                "put",
                &object,
                "exists with different bytes; objects are never replaced",
            ));
        }
        transfer.reused_files += 1;
        transfer.reused_bytes += file.size_bytes;
        return Ok(());
    }
    let stored = storage.put_file(&object, local)?;
    transfer.created.push(object.clone());
    if stored != expected {
        return Err(refusal(
            "put",
            &object,
            format!(
                "local file {} has {} bytes with CRC32C {:#010x}, the manifest says {} bytes with {:#010x}",
                local.display(),
                stored.size_bytes,
                stored.crc32c,
                file.size_bytes,
                file.crc32c
            ),
        ));
    }
    transfer.uploaded_files += 1;
    transfer.uploaded_bytes += stored.size_bytes;
    Ok(())
}

fn refusal(operation: &'static str, object: &str, reason: impl Into<String>) -> StateError {
    StateError::Storage {
        operation,
        path: PathBuf::from(object),
        reason: reason.into(),
    }
}
