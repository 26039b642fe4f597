//! S3 checkpoint storage against a real S3-compatible server (moto).
//!
//! Start one with `source scripts/s3-test-server.sh` (it exports
//! `SPATE_TEST_S3_ENDPOINT`); `scripts/test.sh` does it for you. Without
//! the variable these tests fail: an untested S3 path must not pass.

#![allow(clippy::unwrap_used)]

mod checkpoint_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use checkpoint_support::{key, manifest, write_sst};
use spate_state::checkpoint::{
    CheckpointOutcome, CheckpointRegistry, CheckpointStorage, CheckpointUploader, FileKind,
    S3Config, S3Storage, UploadRequest, VerifyLevel, manifest_object_name, open_registry,
    select_recovery,
};

const BUCKET: &str = "spate-test";

fn endpoint() -> String {
    std::env::var("SPATE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SPATE_TEST_S3_ENDPOINT is not set. The S3 tests need a local S3-compatible server: \
             run `source scripts/s3-test-server.sh` (installs and starts moto, exports the \
             variable), or run scripts/test.sh, which does it."
        )
    })
}

/// Creates the bucket with a plain HTTP request (moto does not check
/// signatures); an existing bucket is fine.
fn ensure_bucket(endpoint: &str) {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)
        .unwrap_or_else(|e| panic!("cannot reach the S3 test server at {endpoint}: {e}"));
    write!(
        stream,
        "PUT /{BUCKET} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") || response.contains("BucketAlreadyOwnedByYou"),
        "{response}"
    );
}

/// A storage under a prefix of its own, so tests do not see each other.
fn storage(test: &str) -> S3Storage {
    static RUN: AtomicU32 = AtomicU32::new(0);
    let endpoint = endpoint();
    ensure_bucket(&endpoint);
    let mut config = S3Config::new(&endpoint, BUCKET, "testing", "testing");
    config.prefix = format!(
        "{test}-{}-{}-{}",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    S3Storage::new(&config).unwrap()
}

#[test]
fn objects_round_trip_and_are_never_replaced() {
    let s = storage("objects");
    assert!(s.location().starts_with("s3://spate-test/objects-"));
    let put = s.put_bytes("shared/a.sst", b"hello").unwrap();
    assert_eq!(put.crc32c, crc32c::crc32c(b"hello"));
    s.put_bytes("shared/b.sst", b"x").unwrap();
    s.put_manifest(&manifest_object_name(1), b"{}").unwrap();
    let err = s
        .put_bytes("shared/a.sst", b"other")
        .unwrap_err()
        .to_string();
    assert!(err.contains("never replaced"), "{err}");
    assert_eq!(s.read("shared/a.sst", 100).unwrap(), b"hello");
    assert_eq!(s.size("shared/a.sst").unwrap(), Some(5));
    assert_eq!(s.size("shared/missing").unwrap(), None);
    let names: Vec<String> = s
        .list("shared/")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(names, ["shared/a.sst", "shared/b.sst"]);
    assert_eq!(s.list("").unwrap().len(), 3);
    s.delete("shared/a.sst").unwrap();
    s.delete("shared/a.sst").unwrap();
    assert_eq!(s.size("shared/a.sst").unwrap(), None);
    assert!(s.read("shared/a.sst", 100).is_err());
}

/// A 20 MiB file goes up in parts and comes back byte for byte.
#[test]
fn large_files_stream_in_parts() {
    let s = storage("large");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big");
    let bytes: Vec<u8> = (0..20 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    std::fs::write(&path, &bytes).unwrap();
    let put = s.put_file("shared/big.sst", &path).unwrap();
    assert_eq!(put.size_bytes, bytes.len() as u64);
    assert_eq!(put.crc32c, crc32c::crc32c(&bytes));
    assert_eq!(s.checksum("shared/big.sst").unwrap(), put);
    let err = s.put_file("shared/big.sst", &path).unwrap_err().to_string();
    assert!(err.contains("never replaced"), "{err}");
}

#[test]
fn checkpoints_upload_retain_and_recover_on_s3() {
    let s: Arc<dyn CheckpointStorage> = Arc::new(storage("checkpoints"));
    let local = tempfile::tempdir().unwrap();
    let uploader =
        CheckpointUploader::start(Arc::clone(&s), CheckpointRegistry::new(2), 4).unwrap();
    let full_entries: BTreeMap<_, _> = (0..2000u32)
        .map(|n| (key((n % 16) as u16, n), Some(vec![1u8; 40])))
        .collect();
    let (full, full_local) = write_sst(local.path(), "1.sst", &full_entries, FileKind::Full, 1);
    let mut chain = vec![full];
    let mut locals = vec![full_local];
    for id in 1..=4u64 {
        if id > 1 {
            let delta: BTreeMap<_, _> = (0..20u32)
                .map(|n| (key(0, n * 7), Some(vec![id as u8; 40])))
                .collect();
            let (d, l) = write_sst(
                local.path(),
                &format!("{id}.sst"),
                &delta,
                FileKind::Delta,
                id,
            );
            chain.push(d);
            locals = vec![l];
        }
        uploader
            .try_submit(UploadRequest {
                manifest: manifest(id, chain.clone()),
                local_files: locals.clone(),
                savepoint_to: Vec::new(),
            })
            .unwrap();
        match uploader.outcome_timeout(Duration::from_secs(60)) {
            Some(CheckpointOutcome::Completed(c)) => assert_eq!(c.uploaded_files, 1),
            other => panic!("checkpoint {id}: {other:?}"),
        }
    }
    drop(uploader);
    let manifests: Vec<String> = s
        .list("manifests/")
        .unwrap()
        .into_iter()
        .map(|o| o.name)
        .collect();
    assert_eq!(
        manifests,
        [manifest_object_name(3), manifest_object_name(4)]
    );

    // An orphan from a failed upload is collected on restart; the rest stays.
    s.put_bytes("shared/orphan.sst", b"partial").unwrap();
    let opened = open_registry(&*s, 2).unwrap();
    assert_eq!(opened.deleted, ["shared/orphan.sst"]);
    let selected = select_recovery(&*s, VerifyLevel::Checksum)
        .unwrap()
        .unwrap();
    assert_eq!(selected.manifest.checkpoint_id, 4);

    // Damage the newest delta: recovery falls back to checkpoint 3.
    s.delete("shared/4.sst").unwrap();
    s.put_bytes("shared/4.sst", b"garbage").unwrap();
    let selected = select_recovery(&*s, VerifyLevel::Checksum)
        .unwrap()
        .unwrap();
    assert_eq!(selected.manifest.checkpoint_id, 3);
    assert!(
        selected.rejected[0].to_string().contains("shared/4.sst"),
        "{:?}",
        selected.rejected
    );
}
