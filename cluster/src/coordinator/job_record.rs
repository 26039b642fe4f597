//! The coordinator's job record: what a restarted coordinator needs to
//! resume the job that ran when it died (Flink keeps the same in its
//! high-availability store). The state machine says when to write it
//! ([`super::Action::PersistJob`]); this file is the I/O edge that keeps it
//! durable and atomic: a temporary file, fsync, rename, fsync of the
//! directory, so a reader sees the old record or the new, never half.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ClusterError, Result};
use crate::protocol::JobSpec;

/// The record's file in the coordinator's state directory.
pub const JOB_RECORD_FILE: &str = "job.json";
/// Marks the file as ours.
const FORMAT: &str = "spate-coordinator-job";
/// Bumped when a field changes meaning; an unknown version is refused.
const VERSION: u32 = 1;
/// A record is a spec and a few numbers; anything larger is not one.
const RECORD_BYTES_MAX: u64 = 16 << 20;

/// The running (or restarting) job, as a restarted coordinator resumes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobRecord {
    /// The id of the job's first attempt: names its checkpoint directory
    /// and is what a client reattaches to.
    pub root: u64,
    /// The id of the newest attempt: a restarted coordinator numbers the
    /// next one after it, because attempts name state files, which are
    /// never replaced.
    pub attempt: u64,
    /// What runs.
    pub spec: JobSpec,
    /// Subtasks per operator.
    pub parallelism: u32,
    /// Restarts so far.
    pub restarts: u32,
    /// The restart limit of the job's checkpoint plan, once known.
    pub restarts_max: Option<u32>,
    /// The job's checkpoint directory, once a worker reported it.
    pub checkpoint_dir: Option<String>,
    /// The newest checkpoint whose manifest the coordinator stored (the
    /// directory may hold a newer one: the manifest is written first).
    pub last_completed: Option<u64>,
    /// Checkpoints completed over every attempt.
    pub completed: u64,
    /// Every share had finished and the workers were publishing their
    /// end-of-input output, which lives only in their memory.
    pub publishing: bool,
    /// The job's final checkpoint, taken once every source read all its
    /// input: it holds the output up to the end, so a job that stopped
    /// while publishing can resume from it.
    #[serde(default)]
    pub final_checkpoint: Option<u64>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct RecordFile {
    format: String,
    version: u32,
    job: JobRecord,
}

/// The job record in a directory.
#[derive(Debug, Clone)]
pub struct JobStore {
    path: PathBuf,
}

impl JobStore {
    /// The store in `dir`, created if missing.
    pub fn open(dir: &Path) -> Result<Self> {
        fs::create_dir_all(dir).map_err(|source| file_error("create", dir, source))?;
        Ok(Self {
            path: dir.join(JOB_RECORD_FILE),
        })
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The record, if a job was running; a damaged record is an error that
    /// names the file and what is wrong.
    pub fn load(&self) -> Result<Option<JobRecord>> {
        let meta = match fs::metadata(&self.path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(file_error("read", &self.path, source)),
        };
        if meta.len() > RECORD_BYTES_MAX {
            return Err(self.bad(format!(
                "it has {} bytes, more than a record's limit of {RECORD_BYTES_MAX}",
                meta.len()
            )));
        }
        let bytes =
            fs::read(&self.path).map_err(|source| file_error("read", &self.path, source))?;
        let file: RecordFile = serde_json::from_slice(&bytes).map_err(|e| {
            self.bad(format!(
                "it is not a job record (line {}, column {}: {e})",
                e.line(),
                e.column()
            ))
        })?;
        if file.format != FORMAT {
            return Err(self.bad(format!("its format is `{}`, not `{FORMAT}`", file.format)));
        }
        if file.version != VERSION {
            return Err(self.bad(format!(
                "it has version {}; this coordinator reads version {VERSION}",
                file.version
            )));
        }
        if file.job.attempt < file.job.root {
            return Err(self.bad(format!(
                "its attempt {} comes before its first attempt {}",
                file.job.attempt, file.job.root
            )));
        }
        Ok(Some(file.job))
    }

    /// Replaces the record atomically and durably.
    pub fn save(&self, job: &JobRecord) -> Result<()> {
        let file = RecordFile {
            format: FORMAT.into(),
            version: VERSION,
            job: job.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| ClusterError::Internal {
            reason: format!("cannot encode the job record: {e}"),
        })?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = fs::File::create(&tmp).map_err(|source| file_error("write", &tmp, source))?;
        f.write_all(&bytes)
            .map_err(|source| file_error("write", &tmp, source))?;
        f.sync_all()
            .map_err(|source| file_error("sync", &tmp, source))?;
        fs::rename(&tmp, &self.path).map_err(|source| file_error("rename", &tmp, source))?;
        self.sync_dir()
    }

    /// Removes the record: no job to resume.
    pub fn forget(&self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Ok(()) => self.sync_dir(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(file_error("remove", &self.path, source)),
        }
    }

    fn sync_dir(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|source| file_error("sync", dir, source))
    }

    fn bad(&self, reason: String) -> ClusterError {
        ClusterError::Record {
            path: self.path.display().to_string(),
            reason,
        }
    }
}

fn file_error(op: &'static str, path: &Path, source: std::io::Error) -> ClusterError {
    ClusterError::File {
        op,
        path: path.display().to_string(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> JobRecord {
        JobRecord {
            root: 3,
            attempt: 5,
            spec: JobSpec {
                name: "oracle".into(),
                args: vec!["--keys".into(), "10".into()],
                settings: vec!["checkpoint.interval_ms=250".into()],
                from_savepoint: None,
            },
            parallelism: 3,
            restarts: 2,
            restarts_max: Some(100),
            checkpoint_dir: Some("/tmp/ckpt/oracle/cluster-3".into()),
            last_completed: Some(17),
            completed: 17,
            publishing: false,
            final_checkpoint: None,
        }
    }

    fn store(name: &str) -> (PathBuf, JobStore) {
        let dir =
            std::env::temp_dir().join(format!("spate-job-record-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        let store = JobStore::open(&dir).expect("open");
        (dir, store)
    }

    #[test]
    fn a_saved_record_loads_back_and_forgetting_it_leaves_none() {
        let (dir, store) = store("roundtrip");
        assert_eq!(store.load().expect("load"), None);
        store.save(&record()).expect("save");
        assert_eq!(store.load().expect("load"), Some(record()));
        let mut newer = record();
        newer.last_completed = Some(18);
        store.save(&newer).expect("save");
        assert_eq!(store.load().expect("load"), Some(newer));
        assert!(
            !dir.join("job.json.tmp").exists(),
            "no temporary file is left"
        );
        store.forget().expect("forget");
        assert_eq!(store.load().expect("load"), None);
        store.forget().expect("forgetting twice is fine");
        fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_damaged_record_is_refused_with_the_file_and_the_reason() {
        let (dir, store) = store("damaged");
        store.save(&record()).expect("save");
        let text = fs::read_to_string(store.path()).expect("read");
        fs::write(store.path(), &text[..text.len() / 2]).expect("truncate");
        let e = store.load().expect_err("a truncated record").to_string();
        assert!(
            e.contains("job.json") && e.contains("not a job record"),
            "{e}"
        );
        assert!(e.contains("move it away"), "{e}");
        fs::write(
            store.path(),
            text.replace("\"version\": 1", "\"version\": 9"),
        )
        .expect("write");
        let e = store.load().expect_err("a future version").to_string();
        assert!(e.contains("version 9"), "{e}");
        fs::write(
            store.path(),
            text.replace("\"attempt\": 5", "\"attempt\": 1"),
        )
        .expect("write");
        let e = store
            .load()
            .expect_err("an attempt before the root")
            .to_string();
        assert!(
            e.contains("attempt 1 comes before its first attempt 3"),
            "{e}"
        );
        fs::remove_dir_all(&dir).ok();
    }
}
