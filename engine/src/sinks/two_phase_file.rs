//! A file sink that is exactly-once with checkpoints: records go to an
//! in-progress file, a checkpoint closes it (pre-commit: flushed and
//! synced, still invisible), and completing the checkpoint renames it into
//! place (commit). Readers of the directory see committed files only.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use super::file::encode_record;
use super::{Committer, FileFormat, Sink};
use crate::error::{Result, SpateError};
use crate::sources::SplitInfo;
use crate::time::Timestamp;

/// The subdirectory of uncommitted files.
pub const IN_PROGRESS_DIR: &str = ".in-progress";

/// The transaction id of what is written after the last checkpoint, which
/// is committed when the whole job succeeds.
pub const FINAL_TRANSACTION: u64 = u64::MAX;

/// Writes `dir/part-<subtask>-<checkpoint>.<csv|jsonl>`, one file per
/// subtask and completed checkpoint (and `part-<subtask>-end.<ext>` for the
/// records after the last checkpoint of a finished job). Without
/// checkpoints each subtask writes one file, published when it finishes.
#[derive(Debug)]
pub struct TwoPhaseFileSink {
    dir: PathBuf,
    format: FileFormat,
    subtask: usize,
    /// Distinguishes this run's in-progress files from a failed run's.
    run_token: u64,
    files_opened: u64,
    current: Option<(PathBuf, BufWriter<File>)>,
}

impl Clone for TwoPhaseFileSink {
    fn clone(&self) -> Self {
        Self::new(self.dir.clone(), self.format)
    }
}

/// Makes run tokens unique within a process; the time makes them unique
/// across restarts of the process.
static RUNS: AtomicU64 = AtomicU64::new(0);

impl TwoPhaseFileSink {
    /// A sink writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>, format: FileFormat) -> Self {
        Self {
            dir: dir.into(),
            format,
            subtask: 0,
            run_token: 0,
            files_opened: 0,
            current: None,
        }
    }

    fn in_progress_dir(&self) -> PathBuf {
        self.dir.join(IN_PROGRESS_DIR)
    }

    /// Deletes this subtask's uncommitted files of earlier runs: recovery
    /// committed what the restored checkpoint covers before the job
    /// started, so what is left belongs after it and will be written again.
    fn discard_uncommitted(&self) -> Result<()> {
        let dir = self.in_progress_dir();
        let prefix = format!("part-{}-", self.subtask);
        let entries = std::fs::read_dir(&dir).map_err(|e| io("listing", &dir, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| io("listing", &dir, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(&prefix) {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(|e| io("deleting", &path, e))?;
            }
        }
        Ok(())
    }

    fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        if self.current.is_none() {
            self.files_opened += 1;
            let name = format!(
                "part-{}-{:016x}-{}.{}",
                self.subtask,
                self.run_token,
                self.files_opened,
                self.format.extension()
            );
            let path = self.in_progress_dir().join(name);
            let file = File::create_new(&path).map_err(|e| io("creating", &path, e))?;
            self.current = Some((path, BufWriter::with_capacity(1 << 16, file)));
        }
        match self.current.as_mut() {
            Some((_, w)) => Ok(w),
            None => Err(SpateError::internal("the in-progress file vanished")),
        }
    }

    fn final_name(&self, checkpoint_id: u64) -> String {
        let ext = self.format.extension();
        match checkpoint_id {
            FINAL_TRANSACTION => format!("part-{}-end.{ext}", self.subtask),
            id => format!("part-{}-{id:010}.{ext}", self.subtask),
        }
    }
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> SpateError {
    SpateError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

impl<T: Serialize> Sink<T> for TwoPhaseFileSink {
    fn open(&mut self, split: SplitInfo) -> Result<()> {
        self.subtask = split.index;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        self.run_token = nanos ^ RUNS.fetch_add(1, Ordering::Relaxed).rotate_left(48);
        let dir = self.in_progress_dir();
        std::fs::create_dir_all(&dir).map_err(|e| io("creating", &dir, e))?;
        self.discard_uncommitted()
    }

    fn write(&mut self, value: T, _ts: Timestamp) -> Result<()> {
        let format = self.format;
        let out = self.writer()?;
        let res = encode_record(format, out, &value);
        res.map_err(|e| {
            let path = self
                .current
                .as_ref()
                .map(|(p, _)| p.clone())
                .unwrap_or_default();
            io("writing", &path, e)
        })
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> Result<Option<Vec<u8>>> {
        let Some((path, mut out)) = self.current.take() else {
            return Ok(None);
        };
        out.flush()
            .and_then(|()| {
                spate_state::crash_point::io_error(spate_state::crash_point::SINK_FSYNC_EIO)
            })
            .and_then(|()| out.get_ref().sync_all())
            .map_err(|e| io("syncing", &path, e))?;
        let from = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let handle = FileTransaction {
            from: format!("{IN_PROGRESS_DIR}/{from}"),
            to: self.final_name(checkpoint_id),
        };
        Ok(Some(handle.encode()))
    }

    fn committer(&self) -> Option<Arc<dyn Committer>> {
        Some(Arc::new(FileCommitter {
            dir: self.dir.clone(),
        }))
    }
}

/// A pre-committed file: where it is and where it goes, relative to the
/// sink's directory.
#[derive(Debug, PartialEq, Eq)]
struct FileTransaction {
    from: String,
    to: String,
}

impl FileTransaction {
    fn encode(&self) -> Vec<u8> {
        format!("{}\n{}", self.from, self.to).into_bytes()
    }

    fn decode(handle: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(handle).ok()?;
        let (from, to) = text.split_once('\n')?;
        let plain = |s: &str| !s.is_empty() && !s.contains("..") && !s.starts_with('/');
        (plain(from) && plain(to)).then(|| Self {
            from: from.to_owned(),
            to: to.to_owned(),
        })
    }
}

/// Publishes pre-committed files by renaming them into place.
#[derive(Debug)]
struct FileCommitter {
    dir: PathBuf,
}

impl Committer for FileCommitter {
    fn commit(&self, handle: &[u8]) -> Result<()> {
        let Some(tx) = FileTransaction::decode(handle) else {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "a file sink transaction in the checkpoint is malformed ({} bytes); \
                     expected `<in-progress file>\\n<final file>` relative to {}",
                    handle.len(),
                    self.dir.display()
                ),
            });
        };
        publish_file(&self.dir, &tx.from, &tx.to)
    }
}

/// Publishes the pre-committed file `from` as `to` (both relative to
/// `dir`) by renaming it, and syncs the directory. Idempotent, as a
/// committer must be: a file already published is left as it is.
pub fn publish_file(dir: &Path, from: &str, to: &str) -> Result<()> {
    let (from, to) = (dir.join(from), dir.join(to));
    match (from.exists(), to.exists()) {
        // Committed before (recovery commits again): nothing to do.
        (false, true) => Ok(()),
        (true, true) => Err(SpateError::Checkpoint {
            reason: format!(
                "cannot publish {}: {} already exists (was the output directory \
                 used by another job?)",
                from.display(),
                to.display()
            ),
        }),
        (false, false) => Err(SpateError::Checkpoint {
            reason: format!(
                "the pre-committed file {} is missing, so its records cannot be \
                 published to {}",
                from.display(),
                to.display()
            ),
        }),
        (true, false) => {
            let parent = to.parent().unwrap_or(dir);
            std::fs::rename(&from, &to).map_err(|e| io("publishing", &from, e))?;
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("syncing", parent, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transaction_handle_round_trips_and_rejects_escapes() {
        let tx = FileTransaction {
            from: ".in-progress/part-0-ab-1.csv".into(),
            to: "part-0-0000000003.csv".into(),
        };
        assert_eq!(FileTransaction::decode(&tx.encode()), Some(tx));
        assert_eq!(FileTransaction::decode(b"../x\ny"), None);
        assert_eq!(FileTransaction::decode(b"/etc/passwd\ny"), None);
        assert_eq!(FileTransaction::decode(b"no-newline"), None);
        assert_eq!(FileTransaction::decode(&[0xff, b'\n', b'a']), None);
    }

    #[test]
    fn records_become_visible_only_when_committed_and_commit_is_idempotent() {
        let dir = std::env::temp_dir().join(format!("spate-2pc-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut sink = TwoPhaseFileSink::new(&dir, FileFormat::Csv);
        Sink::<(u32, &str)>::open(&mut sink, SplitInfo { index: 2, count: 4 }).expect("open");
        sink.write((1, "a"), 0).expect("write");
        let handle = Sink::<(u32, &str)>::pre_commit(&mut sink, 7)
            .expect("pre-commit")
            .expect("a transaction");
        assert!(
            Sink::<(u32, &str)>::pre_commit(&mut sink, 8)
                .expect("empty")
                .is_none()
        );
        let published = dir.join("part-2-0000000007.csv");
        assert!(!published.exists(), "not visible before the commit");
        let committer = Sink::<(u32, &str)>::committer(&sink).expect("transactional");
        committer.commit(&handle).expect("commit");
        assert_eq!(std::fs::read_to_string(&published).expect("read"), "1,a\n");
        committer
            .commit(&handle)
            .expect("committing again is a no-op");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn opening_discards_the_uncommitted_files_of_a_failed_run() {
        let dir = std::env::temp_dir().join(format!("spate-2pc-discard-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let split = SplitInfo { index: 0, count: 2 };
        let mut failed = TwoPhaseFileSink::new(&dir, FileFormat::Csv);
        Sink::<u32>::open(&mut failed, split).expect("open");
        failed.write(1u32, 0).expect("write");
        Sink::<u32>::pre_commit(&mut failed, 1).expect("pre-commit");
        let mut other = TwoPhaseFileSink::new(&dir, FileFormat::Csv);
        Sink::<u32>::open(&mut other, SplitInfo { index: 1, count: 2 }).expect("open");
        other.write(2u32, 0).expect("write");
        Sink::<u32>::pre_commit(&mut other, 1).expect("pre-commit");
        let mut restarted = TwoPhaseFileSink::new(&dir, FileFormat::Csv);
        Sink::<u32>::open(&mut restarted, split).expect("reopen");
        let left: Vec<String> = std::fs::read_dir(dir.join(IN_PROGRESS_DIR))
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), 1, "only subtask 1's file stays: {left:?}");
        assert!(left[0].starts_with("part-1-"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
