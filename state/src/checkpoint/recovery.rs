//! Picks the checkpoint to restore: the newest one whose manifest validates
//! and whose every file exists with the right size and CRC32C. Older ones
//! are tried in turn; the report names each bad file and why.

use std::collections::HashMap;
use std::fmt;

use super::manifest::{Manifest, read_manifests};
use super::storage::CheckpointStorage;
use crate::error::StateError;

/// How much of each file recovery checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyLevel {
    /// Existence and size only (one metadata request per file).
    Size,
    /// Size and the CRC32C of every byte (reads every file once).
    Checksum,
}

/// A checkpoint recovery could not use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RejectedCheckpoint {
    /// The checkpoint id.
    pub checkpoint_id: u64,
    /// Its manifest's object name.
    pub manifest: String,
    /// One line per problem: the file and what is wrong with it.
    pub problems: Vec<String>,
}

impl fmt::Display for RejectedCheckpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "checkpoint {} ({}): {}",
            self.checkpoint_id,
            self.manifest,
            self.problems.join(", ")
        )
    }
}

/// The chosen checkpoint and the newer ones that were passed over.
#[derive(Clone, Debug)]
pub struct RecoverySelection {
    /// The checkpoint to restore.
    pub manifest: Manifest,
    /// Newer checkpoints rejected, newest first; log them.
    pub rejected: Vec<RejectedCheckpoint>,
}

/// Finds the newest usable checkpoint in `storage`.
///
/// `Ok(None)` when storage holds no manifest at all (a fresh job);
/// [`StateError::NoUsableCheckpoint`] when there are manifests but none is
/// usable, so a job never silently starts empty over damaged checkpoints.
pub fn select_recovery(
    storage: &dyn CheckpointStorage,
    level: VerifyLevel,
) -> Result<Option<RecoverySelection>, StateError> {
    let manifests = read_manifests(storage)?;
    if manifests.is_empty() {
        return Ok(None);
    }
    let mut checked: HashMap<String, Option<String>> = HashMap::new();
    let mut rejected = Vec::new();
    for stored in manifests.into_iter().rev() {
        let problems = match &stored.manifest {
            Err(e) => vec![format!("manifest: {e}")],
            Ok(m) => file_problems(storage, m, level, &mut checked)?,
        };
        match stored.manifest {
            Ok(manifest) if problems.is_empty() => {
                return Ok(Some(RecoverySelection { manifest, rejected }));
            }
            _ => rejected.push(RejectedCheckpoint {
                checkpoint_id: stored.checkpoint_id,
                manifest: stored.name,
                problems,
            }),
        }
    }
    Err(StateError::NoUsableCheckpoint {
        location: storage.location(),
        rejected: rejected.iter().map(ToString::to_string).collect(),
    })
}

/// What is wrong with the files of `manifest`; each file is checked once
/// across all manifests (`checked` caches verdicts).
fn file_problems(
    storage: &dyn CheckpointStorage,
    manifest: &Manifest,
    level: VerifyLevel,
    checked: &mut HashMap<String, Option<String>>,
) -> Result<Vec<String>, StateError> {
    let mut problems = Vec::new();
    for file in manifest.files() {
        let name = file.object_name();
        let verdict = match checked.get(&name) {
            Some(v) => v.clone(),
            None => {
                let v = check_file(storage, &name, file.size_bytes, file.crc32c, level)?;
                checked.insert(name.clone(), v.clone());
                v
            }
        };
        if let Some(problem) = verdict {
            problems.push(format!("{name}: {problem}"));
        }
    }
    Ok(problems)
}

/// `Some(problem)` for a bad file; `Err` only when storage cannot answer at
/// all (then no checkpoint can be judged).
fn check_file(
    storage: &dyn CheckpointStorage,
    name: &str,
    size_bytes: u64,
    crc32c: u32,
    level: VerifyLevel,
) -> Result<Option<String>, StateError> {
    match storage.size(name)? {
        None => return Ok(Some("missing".into())),
        Some(actual) if actual != size_bytes => {
            return Ok(Some(format!(
                "size is {actual} bytes, the manifest says {size_bytes} (truncated or replaced)"
            )));
        }
        Some(_) => {}
    }
    if level == VerifyLevel::Size {
        return Ok(None);
    }
    Ok(match storage.checksum(name) {
        Err(e) => Some(format!("unreadable: {e}")),
        Ok(sum) if sum.crc32c != crc32c => Some(format!(
            "CRC32C is {:#010x}, the manifest says {crc32c:#010x} (corrupt)",
            sum.crc32c
        )),
        Ok(sum) if sum.size_bytes != size_bytes => Some(format!(
            "read {} bytes, the manifest says {size_bytes}",
            sum.size_bytes
        )),
        Ok(_) => None,
    })
}
