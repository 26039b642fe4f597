//! Uploading checkpoints to a local directory: only new files go up, the
//! manifest comes last, retention deletes what no retained checkpoint
//! uses, and a failing checkpoint never damages an earlier one.

#![allow(clippy::unwrap_used)]

mod checkpoint_support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use checkpoint_support::{FaultyStorage, key, manifest, write_sst};
use spate_state::StateError;
use spate_state::checkpoint::{
    CheckpointOutcome, CheckpointRegistry, CheckpointStorage, CheckpointUploader,
    CompletedCheckpoint, FileKind, LocalDirStorage, SstReader, UploadRequest, VerifyLevel,
    manifest_object_name, open_registry, select_recovery,
};

const WAIT: Duration = Duration::from_secs(30);

fn entries(range: std::ops::Range<u32>, value: u8) -> BTreeMap<Vec<u8>, Option<Vec<u8>>> {
    range
        .map(|n| (key((n % 8) as u16, n), Some(vec![value; 32])))
        .collect()
}

fn completed(outcome: Option<CheckpointOutcome>) -> CompletedCheckpoint {
    match outcome {
        Some(CheckpointOutcome::Completed(c)) => c,
        other => panic!("expected a completed checkpoint, got {other:?}"),
    }
}

fn failed(outcome: Option<CheckpointOutcome>) -> (u64, StateError) {
    match outcome {
        Some(CheckpointOutcome::Failed {
            checkpoint_id,
            error,
        }) => (checkpoint_id, error),
        other => panic!("expected a failed checkpoint, got {other:?}"),
    }
}

#[test]
fn incremental_checkpoints_upload_only_new_files_and_retention_frees_old_ones() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let storage: Arc<dyn CheckpointStorage> =
        Arc::new(LocalDirStorage::new(remote.path()).unwrap());
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(2), 4).unwrap();

    let (full, full_local) = write_sst(
        local.path(),
        "1-full.sst",
        &entries(0..1000, 1),
        FileKind::Full,
        1,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(1, vec![full.clone()]),
            local_files: vec![full_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let c1 = completed(uploader.outcome_timeout(WAIT));
    assert_eq!((c1.uploaded_files, c1.uploaded_bytes), (1, full.size_bytes));

    let (d2, d2_local) = write_sst(
        local.path(),
        "2-delta.sst",
        &entries(0..10, 2),
        FileKind::Delta,
        2,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(2, vec![full.clone(), d2.clone()]),
            local_files: vec![d2_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let c2 = completed(uploader.outcome_timeout(WAIT));
    assert_eq!((c2.uploaded_files, c2.uploaded_bytes), (1, d2.size_bytes));
    assert_eq!((c2.reused_files, c2.reused_bytes), (1, full.size_bytes));
    assert!(
        d2.size_bytes * 20 < full.size_bytes,
        "a 1% change uploads a small delta"
    );

    // A new chain: checkpoint 3 is full; 1 leaves retention, but its full
    // file is still used by 2.
    let (full3, full3_local) = write_sst(
        local.path(),
        "3-full.sst",
        &entries(0..1000, 3),
        FileKind::Full,
        3,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(3, vec![full3.clone()]),
            local_files: vec![full3_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let c3 = completed(uploader.outcome_timeout(WAIT));
    assert_eq!(c3.deleted_objects, 1, "only manifest 1");
    assert!(storage.size("shared/1-full.sst").unwrap().is_some());
    assert!(storage.size(&manifest_object_name(1)).unwrap().is_none());

    let (d4, d4_local) = write_sst(
        local.path(),
        "4-delta.sst",
        &entries(5..6, 4),
        FileKind::Delta,
        4,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(4, vec![full3, d4]),
            local_files: vec![d4_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let c4 = completed(uploader.outcome_timeout(WAIT));
    assert_eq!(c4.deleted_objects, 3, "manifest 2 and the old chain");
    assert!(storage.size("shared/1-full.sst").unwrap().is_none());
    assert!(storage.size("shared/2-delta.sst").unwrap().is_none());
    assert!(uploader.shutdown().is_empty());

    let names: Vec<String> = storage
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(
        names,
        [
            manifest_object_name(3),
            manifest_object_name(4),
            "shared/3-full.sst".into(),
            "shared/4-delta.sst".into()
        ]
    );
}

/// FLINK-25395: checkpoint 2 shares checkpoint 1's file and fails mid-upload.
/// Its cleanup must not touch checkpoint 1's file, which must still restore.
#[test]
fn a_checkpoint_failing_mid_upload_never_damages_an_earlier_one() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStorage::new(remote.path()));
    let storage: Arc<dyn CheckpointStorage> = faulty.clone();
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(3), 4).unwrap();

    let (full, full_local) = write_sst(
        local.path(),
        "1-full.sst",
        &entries(0..500, 1),
        FileKind::Full,
        1,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(1, vec![full.clone()]),
            local_files: vec![full_local.clone()],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    completed(uploader.outcome_timeout(WAIT));
    let before = storage.checksum("shared/1-full.sst").unwrap();

    // Checkpoint 2: re-lists the shared file among its local files (as a
    // backend that re-offers every file would), uploads one delta, then
    // fails on the second with a full disk.
    faulty.set(|f| f.fail_put = Some(("2-b".into(), 28)));
    let (da, da_local) = write_sst(
        local.path(),
        "2-a.sst",
        &entries(0..5, 2),
        FileKind::Delta,
        2,
    );
    let (db, db_local) = write_sst(
        local.path(),
        "2-b.sst",
        &entries(5..9, 2),
        FileKind::Delta,
        2,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(2, vec![full.clone(), da, db]),
            local_files: vec![full_local.clone(), da_local, db_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let (id, error) = failed(uploader.outcome_timeout(WAIT));
    assert_eq!(id, 2);
    let text = error.to_string();
    assert!(
        text.contains("ENOSPC") && text.contains("2-b.sst"),
        "{text}"
    );

    // The earlier checkpoint's file is byte-identical; the failed one left
    // neither a manifest nor its half-uploaded files.
    assert_eq!(storage.checksum("shared/1-full.sst").unwrap(), before);
    assert!(storage.size(&manifest_object_name(2)).unwrap().is_none());
    assert!(storage.size("shared/2-a.sst").unwrap().is_none());

    // A checkpoint that tries to store other bytes under checkpoint 1's
    // file name is refused, and the file is left alone.
    faulty.set(|f| f.fail_put = None);
    let other = tempfile::tempdir().unwrap();
    let (fake, fake_local) = write_sst(
        other.path(),
        "1-full.sst",
        &entries(0..3, 9),
        FileKind::Full,
        3,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(3, vec![fake]),
            local_files: vec![fake_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let (_, error) = failed(uploader.outcome_timeout(WAIT));
    assert!(error.to_string().contains("never replaced"), "{error}");
    assert_eq!(storage.checksum("shared/1-full.sst").unwrap(), before);

    // The job goes on: checkpoint 4 succeeds on top of checkpoint 1.
    let (d4, d4_local) = write_sst(
        local.path(),
        "4-a.sst",
        &entries(0..5, 4),
        FileKind::Delta,
        4,
    );
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(4, vec![full, d4]),
            local_files: vec![d4_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    completed(uploader.outcome_timeout(WAIT));
    drop(uploader);

    let selected = select_recovery(&*storage, VerifyLevel::Checksum)
        .unwrap()
        .unwrap();
    assert_eq!(selected.manifest.checkpoint_id, 4);
    assert!(selected.rejected.is_empty());
    let reader = SstReader::open(&remote.path().join("shared/1-full.sst")).unwrap();
    assert_eq!(reader.verify().unwrap().entries, 500);
}

#[test]
fn a_failed_manifest_write_fails_that_checkpoint_only() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStorage::new(remote.path()));
    let storage: Arc<dyn CheckpointStorage> = faulty.clone();
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(2), 4).unwrap();
    faulty.set(|f| f.fail_manifest = true);
    let (full, full_local) =
        write_sst(local.path(), "1.sst", &entries(0..50, 1), FileKind::Full, 1);
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(1, vec![full.clone()]),
            local_files: vec![full_local.clone()],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    let (_, error) = failed(uploader.outcome_timeout(WAIT));
    assert!(error.to_string().contains("EIO"), "{error}");
    assert!(
        storage.size("shared/1.sst").unwrap().is_none(),
        "its file is cleaned up"
    );

    faulty.set(|f| f.fail_manifest = false);
    let mut full2 = full;
    full2.added_in = 2;
    uploader
        .try_submit(UploadRequest {
            manifest: manifest(2, vec![full2]),
            local_files: vec![full_local],
            savepoint_to: Vec::new(),
        })
        .unwrap();
    assert_eq!(completed(uploader.outcome_timeout(WAIT)).uploaded_files, 1);
}

#[test]
fn a_full_queue_refuses_instead_of_blocking() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let faulty = Arc::new(FaultyStorage::new(remote.path()));
    let storage: Arc<dyn CheckpointStorage> = faulty.clone();
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(2), 1).unwrap();
    faulty.set(|f| f.hold_puts = true);
    let request = |id: u64| {
        let (f, l) = write_sst(
            local.path(),
            &format!("{id}.sst"),
            &entries(0..10, 1),
            FileKind::Full,
            id,
        );
        UploadRequest {
            manifest: manifest(id, vec![f]),
            local_files: vec![l],
            savepoint_to: Vec::new(),
        }
    };
    // At most one in progress (held) and one queued: a later one is refused.
    uploader.try_submit(request(1)).unwrap();
    let mut refused = None;
    for id in 2..10 {
        if let Err(e) = uploader.try_submit(request(id)) {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(refused, Some(StateError::UploadQueueFull { capacity: 1 }));
    faulty.set(|f| f.hold_puts = false);
    let outcomes = uploader.shutdown();
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o, CheckpointOutcome::Completed(_))),
        "{outcomes:?}"
    );
    assert!(!outcomes.is_empty());
}

#[test]
fn restart_rebuilds_the_registry_and_collects_only_orphans() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let storage = LocalDirStorage::new(remote.path()).unwrap();
    let (full, _) = write_sst(
        local.path(),
        "1-full.sst",
        &entries(0..100, 1),
        FileKind::Full,
        1,
    );
    let (d2, _) = write_sst(
        local.path(),
        "2-d.sst",
        &entries(0..3, 2),
        FileKind::Delta,
        2,
    );
    let (d3, _) = write_sst(
        local.path(),
        "3-d.sst",
        &entries(3..4, 3),
        FileKind::Delta,
        3,
    );
    for f in [&full, &d2, &d3] {
        storage
            .put_file(&f.object_name(), &local.path().join(&f.name))
            .unwrap();
    }
    // Three complete checkpoints (more than retained: a crash before
    // retention ran), an orphan of a failed checkpoint, a temp file, and a
    // corrupt manifest.
    for (id, files) in [
        (1, vec![full.clone()]),
        (2, vec![full.clone(), d2.clone()]),
        (3, vec![full.clone(), d2.clone(), d3.clone()]),
    ] {
        storage
            .put_manifest(
                &manifest_object_name(id),
                &manifest(id, files).encode().unwrap(),
            )
            .unwrap();
    }
    storage
        .put_bytes("shared/9-orphan.sst", b"half an upload")
        .unwrap();
    storage.put_bytes("shared/.tmp-1-7", b"temp").unwrap();
    storage
        .put_bytes(&manifest_object_name(4), b"{not json")
        .unwrap();

    let opened = open_registry(&storage, 2).unwrap();
    assert_eq!(opened.registry.retained_ids(), [2, 3]);
    assert_eq!(opened.corrupt_manifests.len(), 1);
    let mut deleted = opened.deleted.clone();
    deleted.sort();
    assert_eq!(
        deleted,
        [
            manifest_object_name(1),
            "shared/.tmp-1-7".into(),
            "shared/9-orphan.sst".into()
        ]
    );
    for f in [&full, &d2, &d3] {
        assert!(
            storage.size(&f.object_name()).unwrap().is_some(),
            "{} is referenced",
            f.name
        );
    }
    assert_eq!(
        opened
            .registry
            .held("shared/1-full.sst")
            .map(|h| h.references),
        Some(2)
    );
}

#[test]
fn recovery_falls_back_past_bad_files_and_names_them() {
    let local = tempfile::tempdir().unwrap();
    let remote = tempfile::tempdir().unwrap();
    let storage: Arc<dyn CheckpointStorage> =
        Arc::new(LocalDirStorage::new(remote.path()).unwrap());
    let uploader =
        CheckpointUploader::start(Arc::clone(&storage), CheckpointRegistry::new(5), 4).unwrap();
    let (full, full_local) = write_sst(
        local.path(),
        "1.sst",
        &entries(0..200, 1),
        FileKind::Full,
        1,
    );
    let (d2, d2_local) = write_sst(local.path(), "2.sst", &entries(0..5, 2), FileKind::Delta, 2);
    let (d3, d3_local) = write_sst(local.path(), "3.sst", &entries(0..5, 3), FileKind::Delta, 3);
    let (d4, d4_local) = write_sst(local.path(), "4.sst", &entries(0..5, 4), FileKind::Delta, 4);
    let steps = [
        (1, vec![full.clone()], full_local),
        (2, vec![full.clone(), d2.clone()], d2_local),
        (3, vec![full.clone(), d2.clone(), d3.clone()], d3_local),
        (
            4,
            vec![full.clone(), d2.clone(), d3.clone(), d4.clone()],
            d4_local,
        ),
    ];
    for (id, files, new) in steps {
        uploader
            .try_submit(UploadRequest {
                manifest: manifest(id, files),
                local_files: vec![new],
                savepoint_to: Vec::new(),
            })
            .unwrap();
        completed(uploader.outcome_timeout(WAIT));
    }
    drop(uploader);

    // 4's delta loses a byte, 3's delta has a flipped bit (same size).
    let p4 = remote.path().join("shared/4.sst");
    let bytes = std::fs::read(&p4).unwrap();
    std::fs::write(&p4, &bytes[..bytes.len() - 1]).unwrap();
    let p3 = remote.path().join("shared/3.sst");
    let mut bytes = std::fs::read(&p3).unwrap();
    bytes[10] ^= 0x04;
    std::fs::write(&p3, &bytes).unwrap();

    let by_size = select_recovery(&*storage, VerifyLevel::Size)
        .unwrap()
        .unwrap();
    assert_eq!(
        by_size.manifest.checkpoint_id, 3,
        "a size check cannot see the flipped bit"
    );
    let selected = select_recovery(&*storage, VerifyLevel::Checksum)
        .unwrap()
        .unwrap();
    assert_eq!(selected.manifest.checkpoint_id, 2);
    let report: Vec<String> = selected.rejected.iter().map(ToString::to_string).collect();
    assert_eq!(report.len(), 2, "{report:?}");
    assert!(
        report[0].contains("checkpoint 4")
            && report[0].contains("shared/4.sst")
            && report[0].contains("truncated"),
        "{report:?}"
    );
    assert!(
        report[1].contains("checkpoint 3")
            && report[1].contains("shared/3.sst")
            && report[1].contains("CRC32C"),
        "{report:?}"
    );

    // With the shared full file gone, nothing is usable: a clear refusal.
    std::fs::remove_file(remote.path().join("shared/1.sst")).unwrap();
    let err = select_recovery(&*storage, VerifyLevel::Checksum).unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, StateError::NoUsableCheckpoint { .. }),
        "{text}"
    );
    assert!(
        text.contains("shared/1.sst: missing") && text.contains("checkpoint 1"),
        "{text}"
    );

    let empty = tempfile::tempdir().unwrap();
    let fresh = LocalDirStorage::new(empty.path()).unwrap();
    assert!(
        select_recovery(&fresh, VerifyLevel::Checksum)
            .unwrap()
            .is_none()
    );
}
