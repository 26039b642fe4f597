//! `spate checkpoints list|inspect` on a real checkpoint directory written
//! through the uploader, run as a user would run the binary.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use spate_state::checkpoint::{
    CheckpointOutcome, CheckpointRegistry, CheckpointStorage, CheckpointUploader, FileKind,
    FileRef, KeyGroupSpan, LocalDirStorage, LocalFile, Manifest, SourceOffset, SstWriter,
    StateDescriptor, SubtaskState, UploadRequest, manifest_object_name,
};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir =
            std::env::temp_dir().join(format!("spate-cli-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spate(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An SST of `keys_per_group` keys in each of 4 key groups.
fn sst(
    dir: &Path,
    name: &str,
    keys_per_group: u32,
    kind: FileKind,
    id: u64,
) -> (FileRef, LocalFile) {
    let path = dir.join(name);
    let mut w = SstWriter::create(&path).unwrap();
    for kg in 0..4u8 {
        for n in 0..keys_per_group {
            let key = [vec![0, kg], n.to_be_bytes().to_vec()].concat();
            w.put(&key, &id.to_le_bytes()).unwrap();
        }
    }
    let summary = w.finish_durable().unwrap();
    (
        FileRef {
            name: name.into(),
            size_bytes: summary.size_bytes,
            crc32c: summary.crc32c,
            kind,
            key_groups: KeyGroupSpan {
                start: summary.key_group_start,
                end: summary.key_group_end,
            },
            state: "sum".into(),
            added_in: id,
            local_name: None,
        },
        LocalFile {
            name: name.into(),
            path,
        },
    )
}

fn manifest(id: u64, files: Vec<FileRef>) -> Manifest {
    Manifest {
        checkpoint_id: id,
        job_id: "nexmark-q5".into(),
        created_at_ms: 1_700_000_000_000 + id * 1000,
        state_schema_version: 2,
        max_parallelism: 128,
        subtasks: vec![SubtaskState {
            operator: "window-count".into(),
            subtask: 0,
            key_groups: KeyGroupSpan { start: 0, end: 128 },
            files,
            source_offsets: vec![SourceOffset {
                split: "0".into(),
                offset: id.to_be_bytes().to_vec(),
            }],
            states: vec![StateDescriptor {
                name: "sum".into(),
                kind: "value".into(),
                schema_version: 1,
                stored_in: None,
            }],
            sink_transactions: Vec::new(),
            counters: Default::default(),
            operator_values: Default::default(),
        }],
    }
}

/// Three checkpoints: a full file, then two deltas sharing it; plus a
/// corrupt fourth manifest.
fn checkpoint_dir() -> (TempDir, FileRef, FileRef) {
    let remote = TempDir::new("remote");
    let local = TempDir::new("local");
    let storage: Arc<dyn CheckpointStorage> = Arc::new(LocalDirStorage::new(&remote.0).unwrap());
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(3), 4).unwrap();
    let (full, full_local) = sst(&local.0, "1-full.sst", 250, FileKind::Full, 1);
    let (d2, d2_local) = sst(&local.0, "2-delta.sst", 3, FileKind::Delta, 2);
    let (d3, d3_local) = sst(&local.0, "3-delta.sst", 3, FileKind::Delta, 3);
    let steps = [
        (1, vec![full.clone()], full_local),
        (2, vec![full.clone(), d2.clone()], d2_local),
        (3, vec![full.clone(), d2.clone(), d3.clone()], d3_local),
    ];
    for (id, files, new) in steps {
        uploader
            .try_submit(UploadRequest {
                manifest: manifest(id, files),
                local_files: vec![new],
                savepoint_to: Vec::new(),
            })
            .unwrap();
        assert!(matches!(
            uploader.outcome_timeout(Duration::from_secs(30)),
            Some(CheckpointOutcome::Completed(_))
        ));
    }
    drop(uploader);
    storage
        .put_manifest(
            &manifest_object_name(4),
            b"{\"format\":\"spate-checkpoint-manifest\"",
        )
        .unwrap();
    (remote, full, d3)
}

#[test]
fn list_shows_each_checkpoint_with_referenced_and_added_bytes() {
    let (dir, _, _) = checkpoint_dir();
    let (code, out, err) = spate(&["checkpoints", "list", dir.0.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("checkpoint") && lines[0].contains("added"),
        "{out}"
    );
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[1].trim_start().starts_with("1 ") && lines[1].contains("2023-11-14 22:13:21.000"),
        "{out}"
    );
    assert!(lines[3].trim_start().starts_with("3 "), "{out}");
    assert!(
        lines[4].contains("INVALID") && lines[4].contains("chk-00000000000000000004.json"),
        "{out}"
    );
}

#[test]
fn inspect_shows_files_and_what_the_checkpoint_added() {
    let (dir, full, d3) = checkpoint_dir();
    let path = dir.0.to_str().unwrap();
    let (code, out, err) = spate(&["checkpoints", "inspect", path]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("checkpoint 3\n"),
        "the newest valid one: {out}"
    );
    assert!(out.contains("job: nexmark-q5"), "{out}");
    assert!(
        out.contains(&format!(
            "added by this checkpoint: {} B (incremental: 2 of 3 files come from earlier checkpoints)",
            d3.size_bytes
        )),
        "{out}"
    );
    assert!(out.contains("in 3 files"), "{out}");
    let full_line = out.lines().find(|l| l.contains("1-full.sst")).unwrap();
    assert!(
        full_line.contains("full") && full_line.contains("chk 1") && full_line.ends_with("ok"),
        "{full_line}"
    );
    let d3_line = out.lines().find(|l| l.contains("3-delta.sst")).unwrap();
    assert!(
        d3_line.contains("delta") && d3_line.contains("new"),
        "{d3_line}"
    );
    assert!(
        out.contains("source split 0: offset 0000000000000003"),
        "{out}"
    );

    std::fs::remove_file(dir.0.join("shared/2-delta.sst")).unwrap();
    let (_, out, _) = spate(&["checkpoints", "inspect", path, "--id", "2"]);
    assert!(
        out.lines()
            .any(|l| l.contains("2-delta.sst") && l.ends_with("MISSING")),
        "{out}"
    );

    let (code, out, _) = spate(&["checkpoints", "inspect", path, "--id", "1", "--json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["checkpoint_id"], 1);
    assert_eq!(
        json["subtasks"][0]["files"][0]["size_bytes"],
        full.size_bytes
    );
}

#[test]
fn bad_ids_and_directories_are_sentences() {
    let (dir, _, _) = checkpoint_dir();
    let path = dir.0.to_str().unwrap();
    let (code, _, err) = spate(&["checkpoints", "inspect", path, "--id", "9"]);
    assert_eq!(code, 1);
    assert!(err.contains("no checkpoint 9"), "{err}");
    let (code, _, err) = spate(&["checkpoints", "inspect", path, "--id", "4"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("checkpoint 4 is not valid") && err.contains("corrupt"),
        "{err}"
    );
    let (code, _, err) = spate(&["checkpoints", "list", "/nonexistent/spate-checkpoints"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("does not exist") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn list_of_a_jobs_checkpoint_dir_lists_each_run_below_it() {
    let (run, _, _) = checkpoint_dir();
    let root = TempDir::new("root");
    let job_run = root.0.join("my_job").join("run-1");
    std::fs::create_dir_all(job_run.parent().unwrap()).unwrap();
    std::fs::rename(&run.0, &job_run).unwrap();
    let (code, out, err) = spate(&["checkpoints", "list", root.0.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with(&format!("== {}\n", job_run.display())),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("INVALID")).count(),
        1,
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.trim_start().starts_with("3 ")),
        "{out}"
    );
}
