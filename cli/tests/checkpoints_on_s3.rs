//! Checkpoints in S3-compatible object storage: `checkpoint.dir =
//! s3://bucket/prefix`, with the endpoint and credentials from the standard
//! AWS environment variables, against a real S3 server (moto, started by
//! `scripts/test.sh`). Nexmark q5 fails once, restores its state from the
//! bucket, and ends with the checksum of a clean run.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};

const BUCKET: &str = "spate-jobs";

fn endpoint() -> String {
    std::env::var("SPATE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SPATE_TEST_S3_ENDPOINT is not set. This test needs a local S3-compatible server: \
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

fn q5(dir: &str, extra: &[&str], endpoint: &str) -> Output {
    let mut args = vec![
        "bench",
        "nexmark",
        "--query",
        "q5",
        "--events",
        "300000",
        "--rate",
        "150000",
        "--json",
        "--set",
        "checkpoint.interval_ms=100",
    ];
    if !extra.contains(&"--cores") {
        args.extend(["--cores", "2"]);
    }
    let set_dir = format!("checkpoint.dir={dir}");
    args.extend(["--set", &set_dir]);
    args.extend(extra);
    Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(&args)
        .env("RUST_LOG", "warn")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap()
}

fn json(out: Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn q5_recovers_its_state_from_checkpoints_in_s3() {
    let endpoint = endpoint();
    ensure_bucket(&endpoint);
    let local = tempfile::tempdir().unwrap();
    let clean = json(q5(local.path().to_str().unwrap(), &[], &endpoint));
    let unique = format!(
        "s3://{BUCKET}/q5-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    );
    let failed = json(q5(
        &unique,
        &["--fail-once-after-events", "100000"],
        &endpoint,
    ));
    let c = &failed["checkpoints"];
    assert!(
        c["dir"].as_str().unwrap().starts_with(&unique),
        "checkpoints went to the bucket: {c}"
    );
    assert_eq!(c["restarts"], 1, "{c}");
    assert!(
        c["restored_from"].as_u64().is_some(),
        "a checkpoint was restored: {c}"
    );
    assert!(c["uploaded_bytes"].as_u64().unwrap() > 0, "{c}");
    assert!(clean["output_records"].as_u64().unwrap() > 0);
    assert_eq!(failed["checksum"], clean["checksum"]);
    assert_eq!(failed["output_records"], clean["output_records"]);
    assert_eq!(failed["events"], clean["events"]);
}

/// A unique location in the test bucket.
fn unique(name: &str) -> String {
    format!(
        "s3://{BUCKET}/{name}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis()
    )
}

#[test]
fn a_savepoint_in_s3_restores_on_one_core_with_the_checksum_of_the_run_it_came_from() {
    let endpoint = endpoint();
    ensure_bucket(&endpoint);
    let local = tempfile::tempdir().unwrap();
    let dir = local.path().to_str().unwrap();
    let savepoint = unique("savepoint");
    let first = json(q5(dir, &["--savepoint-dir", &savepoint], &endpoint));
    let said = first["savepoint"].as_str().unwrap();
    assert!(
        said.starts_with(&format!("written to {savepoint}")),
        "{said}"
    );
    let restored = json(q5(
        dir,
        &["--from-savepoint", &savepoint, "--cores", "1"],
        &endpoint,
    ));
    assert!(
        restored["checkpoints"]["restored_from"].as_u64().is_some(),
        "{restored}"
    );
    assert_eq!(restored["cores"], 1);
    for field in ["checksum", "output_records", "events"] {
        assert_eq!(restored[field], first[field], "{field}");
    }
}
