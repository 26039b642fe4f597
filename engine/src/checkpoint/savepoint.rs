//! Savepoints asked for while a job runs: a request names a target
//! (a directory or `s3://bucket/prefix`); the driver starts a checkpoint at
//! once, and when it is durable the uploader writes it to the target as a
//! self-contained savepoint ([`spate_state::checkpoint::write_savepoint`]).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use spate_state::checkpoint::{CheckpointStorage, SavepointSummary};

use crate::error::{Result, SpateError};

/// Savepoint requests waiting for the driver at most.
const REQUESTS_MAX: usize = 8;

/// A written savepoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavepointInfo {
    /// The checkpoint it copies; a restore finds it under this id.
    pub checkpoint_id: u64,
    /// Where it is.
    pub location: String,
    /// State files in it.
    pub files: usize,
    /// Bytes of state files in it.
    pub bytes: u64,
}

impl From<SavepointSummary> for SavepointInfo {
    fn from(s: SavepointSummary) -> Self {
        Self {
            checkpoint_id: s.checkpoint_id,
            location: s.location,
            files: s.files,
            bytes: s.bytes,
        }
    }
}

/// The answer to one request.
pub type SavepointReply = Receiver<Result<SavepointInfo>>;

pub(crate) struct SavepointRequest {
    pub(crate) target: PathBuf,
    pub(crate) reply: SyncSender<Result<SavepointInfo>>,
}

/// Asks a running job for savepoints; clone it freely.
#[derive(Clone, Debug)]
pub struct SavepointTrigger {
    requests: SyncSender<SavepointRequest>,
}

/// The job's side of a [`SavepointTrigger`]: pass it to
/// [`RunOptions::savepoints`](crate::RunOptions::savepoints).
#[derive(Clone, Debug)]
pub struct SavepointInbox {
    requests: Arc<Mutex<Receiver<SavepointRequest>>>,
}

impl std::fmt::Debug for SavepointRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SavepointRequest({})", self.target.display())
    }
}

impl SavepointTrigger {
    /// A trigger and the inbox the job reads it from.
    pub fn channel() -> (SavepointTrigger, SavepointInbox) {
        let (tx, rx) = mpsc::sync_channel(REQUESTS_MAX);
        (
            SavepointTrigger { requests: tx },
            SavepointInbox {
                requests: Arc::new(Mutex::new(rx)),
            },
        )
    }

    /// Asks for a savepoint into `target`; the reply comes once it is
    /// written or has failed. Never blocks.
    pub fn request(&self, target: impl Into<PathBuf>) -> Result<SavepointReply> {
        let (reply, answer) = mpsc::sync_channel(1);
        let request = SavepointRequest {
            target: target.into(),
            reply,
        };
        match self.requests.try_send(request) {
            Ok(()) => Ok(answer),
            Err(TrySendError::Full(_)) => Err(SpateError::Checkpoint {
                reason: format!(
                    "{REQUESTS_MAX} savepoint requests are already waiting; try again later"
                ),
            }),
            Err(TrySendError::Disconnected(_)) => Err(SpateError::Checkpoint {
                reason: "the job is not running any more".into(),
            }),
        }
    }
}

impl SavepointInbox {
    /// The next request, if one waits.
    pub(crate) fn try_next(&self) -> Option<SavepointRequest> {
        self.requests.lock().ok()?.try_recv().ok()
    }
}

/// A request with its opened target.
type Opened = (SavepointRequest, Arc<dyn CheckpointStorage>);

/// The savepoints a driver is working on.
#[derive(Debug, Default)]
pub(crate) struct SavepointBook {
    /// Requested, waiting for the next checkpoint to start.
    waiting: Vec<Opened>,
    /// Riding on a checkpoint in flight.
    riding: BTreeMap<u64, Vec<Opened>>,
}

impl SavepointBook {
    /// Opens the request's target; a target that cannot be opened is
    /// answered at once. True when the request waits for a checkpoint.
    pub(crate) fn add(&mut self, request: SavepointRequest) -> bool {
        match super::location::open_storage(&request.target) {
            Ok(storage) => {
                self.waiting.push((request, storage));
                true
            }
            Err(e) => {
                let _ = request.reply.send(Err(e));
                false
            }
        }
    }

    /// Checkpoint `id` started: the waiting requests ride on it.
    pub(crate) fn started(&mut self, id: u64) {
        if !self.waiting.is_empty() {
            self.riding.insert(id, std::mem::take(&mut self.waiting));
        }
    }

    /// Where checkpoint `id` is to be written as a savepoint.
    pub(crate) fn targets(&self, id: u64) -> Vec<Arc<dyn CheckpointStorage>> {
        self.riding
            .get(&id)
            .map(|r| r.iter().map(|(_, s)| s.clone()).collect())
            .unwrap_or_default()
    }

    /// Checkpoint `id` completed with these savepoint results, in the
    /// order of [`targets`](Self::targets).
    pub(crate) fn written(
        &mut self,
        id: u64,
        results: Vec<std::result::Result<SavepointSummary, spate_state::StateError>>,
    ) {
        let requests = self.riding.remove(&id).unwrap_or_default();
        let mut results = results.into_iter();
        for (request, _) in requests {
            let answer = match results.next() {
                Some(Ok(summary)) => Ok(summary.into()),
                Some(Err(e)) => Err(SpateError::Checkpoint {
                    reason: format!(
                        "writing the savepoint to {} failed: {e}",
                        request.target.display()
                    ),
                }),
                None => Err(SpateError::internal("a savepoint got no result")),
            };
            let _ = request.reply.send(answer);
        }
    }

    /// Checkpoint `id` failed: its savepoints fail with `reason`.
    pub(crate) fn failed(&mut self, id: u64, reason: &str) {
        for (request, _) in self.riding.remove(&id).unwrap_or_default() {
            let _ = request.reply.send(Err(SpateError::Checkpoint {
                reason: format!("the savepoint's checkpoint {id} failed: {reason}"),
            }));
        }
    }

    /// No checkpoint will start or complete any more.
    pub(crate) fn fail_all(&mut self, reason: &str) {
        let riding = std::mem::take(&mut self.riding).into_values().flatten();
        for (request, _) in std::mem::take(&mut self.waiting).into_iter().chain(riding) {
            let _ = request.reply.send(Err(SpateError::Checkpoint {
                reason: format!("no savepoint was taken: {reason}"),
            }));
        }
    }

    /// True when requests wait for a checkpoint to start.
    pub(crate) fn has_waiting(&self) -> bool {
        !self.waiting.is_empty()
    }
}
