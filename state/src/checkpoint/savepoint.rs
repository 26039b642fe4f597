//! Savepoints: a completed checkpoint written out as a self-contained,
//! canonical copy that the job's retention never deletes.
//!
//! A savepoint uses the checkpoint layout (`manifests/`, `shared/`), so a
//! restore reads it like any checkpoint. Each state's chain (a full file and
//! its deltas) is merged into one full file, so a savepoint holds only live
//! entries and no file of the job's own checkpoint directory. The files are
//! the canonical SSTs, not a backend's own files, so either backend can
//! restore them, with any parallelism.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use super::manifest::{FileKind, FileRef, KeyGroupSpan, Manifest, manifest_object_name};
use super::merge::compact_into;
use super::sst_reader::{SstReader, verify_sst_bytes};
use super::sst_writer::SstWriter;
use super::storage::{CheckpointStorage, PutSummary, io_error};
use crate::error::StateError;

/// Largest state file a savepoint reads into memory to merge.
pub const SAVEPOINT_FILE_BYTES_MAX: u64 = 4 * 1024 * 1024 * 1024;

/// The local directory where this process merges savepoint files.
pub fn savepoint_scratch_dir() -> PathBuf {
    std::env::temp_dir().join(format!("spate-savepoint-{}", std::process::id()))
}

/// What a written savepoint holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavepointSummary {
    /// The checkpoint it copies.
    pub checkpoint_id: u64,
    /// Where it is (the target storage's location).
    pub location: String,
    /// State files written.
    pub files: usize,
    /// Bytes of state files written.
    pub bytes: u64,
}

/// Writes checkpoint `manifest` (whose files `from` holds) into `to` as a
/// savepoint; `scratch` is a local directory for merged files. The
/// manifest goes last, so a savepoint cut short has none and is never
/// mistaken for a complete one.
pub fn write_savepoint(
    from: &dyn CheckpointStorage,
    manifest: &Manifest,
    to: &dyn CheckpointStorage,
    scratch: &Path,
) -> Result<SavepointSummary, StateError> {
    std::fs::create_dir_all(scratch)
        .map_err(|e| io_error("create", &scratch.display().to_string(), &e))?;
    let mut out = manifest.clone();
    let mut summary = SavepointSummary {
        checkpoint_id: manifest.checkpoint_id,
        location: to.location(),
        files: 0,
        bytes: 0,
    };
    for (index, st) in out.subtasks.iter_mut().enumerate() {
        let mut chains: BTreeMap<&str, Vec<&FileRef>> = BTreeMap::new();
        let mut instances: BTreeMap<&str, Vec<&FileRef>> = BTreeMap::new();
        for f in &st.files {
            let by_state = if f.kind.is_rocks() {
                &mut instances
            } else {
                &mut chains
            };
            by_state.entry(f.state.as_str()).or_default().push(f);
        }
        let mut files = Vec::with_capacity(chains.len());
        for (state_index, chain) in chains.values().enumerate() {
            let name = format!("sp-{}-{index}-{state_index}.sst", manifest.checkpoint_id);
            let file = write_chain(from, chain, to, scratch, name, manifest.checkpoint_id)?;
            files.push(file);
        }
        for (instance, instance_files) in &instances {
            let at = Canonical {
                from,
                to,
                scratch,
                checkpoint_id: manifest.checkpoint_id,
                subtask_index: index,
            };
            files.extend(at.instance(instance, instance_files, st.key_groups, &mut st.states)?);
        }
        summary.files += files.len();
        summary.bytes += files.iter().map(|f| f.size_bytes).sum::<u64>();
        st.files = files;
    }
    let encoded = out.encode()?;
    to.put_manifest(&manifest_object_name(out.checkpoint_id), &encoded)?;
    Ok(summary)
}

/// Merges one state's chain into a full file named `name` in `to`.
fn write_chain(
    from: &dyn CheckpointStorage,
    chain: &[&FileRef],
    to: &dyn CheckpointStorage,
    scratch: &Path,
    name: String,
    checkpoint_id: u64,
) -> Result<FileRef, StateError> {
    let first = chain.first().ok_or_else(|| StateError::Internal {
        reason: "a savepoint chain has no file".into(),
    })?;
    let mut readers = Vec::with_capacity(chain.len());
    let mut span = first.key_groups;
    for f in chain {
        let object = f.object_name();
        let bytes = from.read(&object, SAVEPOINT_FILE_BYTES_MAX)?;
        let found = verify_sst_bytes(&object, &bytes)?;
        if (found.size_bytes, found.crc32c) != (f.size_bytes, f.crc32c) {
            return Err(StateError::Storage {
                operation: "savepoint",
                path: PathBuf::from(object),
                reason: format!(
                    "has {} bytes with CRC32C {:#010x}; the manifest says {} bytes with {:#010x}",
                    found.size_bytes, found.crc32c, f.size_bytes, f.crc32c
                ),
            });
        }
        span.start = span.start.min(f.key_groups.start);
        span.end = span.end.max(f.key_groups.end);
        readers.push(SstReader::new(bytes, object)?);
    }
    let local = scratch.join(&name);
    let _ = std::fs::remove_file(&local);
    let written = merge_to(&readers, &local);
    let put = written.and_then(|merged| {
        let stored = to.put_file(&format!("shared/{name}"), &local)?;
        Ok((merged, stored))
    });
    let _ = std::fs::remove_file(&local);
    let (merged, stored) = put?;
    if stored != merged {
        return Err(StateError::Storage {
            operation: "savepoint",
            path: PathBuf::from(name),
            reason: "the stored copy differs from the merged file".into(),
        });
    }
    Ok(FileRef {
        name,
        size_bytes: merged.size_bytes,
        crc32c: merged.crc32c,
        kind: FileKind::Full,
        key_groups: KeyGroupSpan {
            start: span.start,
            end: span.end,
        },
        state: first.state.clone(),
        added_in: checkpoint_id,
        local_name: None,
    })
}

/// Where the states of a RocksDB instance's checkpoint become canonical
/// files of a savepoint.
struct Canonical<'a> {
    from: &'a dyn CheckpointStorage,
    to: &'a dyn CheckpointStorage,
    scratch: &'a Path,
    checkpoint_id: u64,
    subtask_index: usize,
}

impl Canonical<'_> {
    /// Opens the instance's checkpoint and writes one full canonical file
    /// per state stored in it; those states' descriptors then point at
    /// their own files. A savepoint thus never depends on the backend.
    fn instance(
        &self,
        instance: &str,
        files: &[&FileRef],
        span: KeyGroupSpan,
        states: &mut [super::manifest::StateDescriptor],
    ) -> Result<Vec<FileRef>, StateError> {
        let range = span.range()?;
        let dir = self.scratch.join(format!(
            "rocks-{}-{}",
            self.checkpoint_id, self.subtask_index
        ));
        let options = crate::rocks::RocksOptions::default();
        let memory = crate::rocks::RocksMemory::new(&options);
        let db =
            super::rocks_files::open_instance(self.from, files, &dir, range, options, &memory)?;
        let mut out = Vec::new();
        let result = (|| {
            for desc in states
                .iter_mut()
                .filter(|d| d.stored_in.as_deref() == Some(instance))
            {
                let entries = db.export_state(&desc.name, range)?;
                desc.stored_in = None;
                if entries.is_empty() {
                    continue;
                }
                let name = format!(
                    "sp-{}-{}-r{}.sst",
                    self.checkpoint_id,
                    self.subtask_index,
                    out.len()
                );
                out.push(self.put_entries(&name, &desc.name, span, &entries)?);
            }
            Ok(out)
        })();
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    fn put_entries(
        &self,
        name: &str,
        state: &str,
        span: KeyGroupSpan,
        entries: &[crate::CanonicalEntry],
    ) -> Result<FileRef, StateError> {
        let local = self.scratch.join(name);
        let _ = std::fs::remove_file(&local);
        let written = (|| {
            let mut writer = SstWriter::create(&local)?;
            for (k, v) in entries {
                writer.add(k, Some(v))?;
            }
            let summary = writer.finish_durable()?;
            let stored = self.to.put_file(&format!("shared/{name}"), &local)?;
            Ok::<_, StateError>((summary, stored))
        })();
        let _ = std::fs::remove_file(&local);
        let (summary, stored) = written?;
        if (stored.size_bytes, stored.crc32c) != (summary.size_bytes, summary.crc32c) {
            return Err(StateError::Storage {
                operation: "savepoint",
                path: PathBuf::from(name),
                reason: "the stored copy differs from the written file".into(),
            });
        }
        Ok(FileRef {
            name: name.to_owned(),
            size_bytes: summary.size_bytes,
            crc32c: summary.crc32c,
            kind: FileKind::Full,
            key_groups: span,
            state: state.to_owned(),
            added_in: self.checkpoint_id,
            local_name: None,
        })
    }
}

fn merge_to(readers: &[SstReader<Vec<u8>>], local: &Path) -> Result<PutSummary, StateError> {
    let file =
        File::create(local).map_err(|e| io_error("create", &local.display().to_string(), &e))?;
    let writer = SstWriter::new(BufWriter::new(file), local.display().to_string());
    let chain = readers.iter().map(SstReader::iter).collect();
    let (buffered, summary) = compact_into(chain, writer)?;
    let file = buffered
        .into_inner()
        .map_err(|e| io_error("write", &local.display().to_string(), e.error()))?;
    file.sync_all()
        .map_err(|e| io_error("fsync", &local.display().to_string(), &e))?;
    Ok(PutSummary {
        size_bytes: summary.size_bytes,
        crc32c: summary.crc32c,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{LocalDirStorage, SubtaskState, read_manifest};

    fn sst(entries: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
        let mut w = SstWriter::new(Vec::new(), "test");
        for (k, v) in entries {
            w.add(k, *v).unwrap();
        }
        w.finish().unwrap().0
    }

    fn put(storage: &dyn CheckpointStorage, name: &str, bytes: &[u8], kind: FileKind) -> FileRef {
        let s = storage.put_bytes(&format!("shared/{name}"), bytes).unwrap();
        FileRef {
            name: name.into(),
            size_bytes: s.size_bytes,
            crc32c: s.crc32c,
            kind,
            key_groups: KeyGroupSpan { start: 0, end: 4 },
            state: "3/counts".into(),
            added_in: 1,
            local_name: None,
        }
    }

    #[test]
    fn a_savepoint_merges_each_chain_into_one_full_file_and_writes_the_manifest_last() {
        let dir = tempfile::tempdir().unwrap();
        let from = LocalDirStorage::new(dir.path().join("chk")).unwrap();
        let to = LocalDirStorage::new(dir.path().join("sp")).unwrap();
        let k = |g: u8, x: u8| vec![0, g, x];
        let (a, b, c) = (k(0, 1), k(1, 2), k(2, 3));
        let full = put(
            &from,
            "f1",
            &sst(&[(&a, Some(b"1")), (&b, Some(b"2"))]),
            FileKind::Full,
        );
        let delta = put(
            &from,
            "d2",
            &sst(&[(&a, None), (&c, Some(b"3"))]),
            FileKind::Delta,
        );
        let mut m = crate::checkpoint::manifest::tests::sample(2);
        m.subtasks = vec![SubtaskState {
            files: vec![full, delta],
            ..m.subtasks[0].clone()
        }];
        let summary = write_savepoint(&from, &m, &to, &dir.path().join("scratch")).unwrap();
        assert_eq!(summary.files, 1);
        let back = read_manifest(&to, 2).unwrap();
        let file = &back.subtasks[0].files[0];
        assert_eq!(file.kind, FileKind::Full);
        let bytes = to.read(&file.object_name(), 1 << 20).unwrap();
        let reader = SstReader::new(bytes, "merged").unwrap();
        let got: Vec<_> = reader.iter().map(|e| e.unwrap()).collect();
        let keys: Vec<_> = got.iter().map(|e| e.key.clone()).collect();
        assert_eq!(keys, [b, c]);
        assert!(got.iter().all(|e| e.value.is_some()));
    }

    #[test]
    fn a_damaged_checkpoint_file_fails_the_savepoint_and_writes_no_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let from = LocalDirStorage::new(dir.path().join("chk")).unwrap();
        let to = LocalDirStorage::new(dir.path().join("sp")).unwrap();
        let mut full = put(
            &from,
            "f1",
            &sst(&[(&[0, 0, 1], Some(b"1"))]),
            FileKind::Full,
        );
        full.crc32c ^= 1;
        let mut m = crate::checkpoint::manifest::tests::sample(2);
        m.subtasks = vec![SubtaskState {
            files: vec![full],
            ..m.subtasks[0].clone()
        }];
        let err = write_savepoint(&from, &m, &to, dir.path()).unwrap_err();
        assert!(err.to_string().contains("shared/f1"), "{err}");
        assert!(read_manifest(&to, 2).is_err());
    }
}
