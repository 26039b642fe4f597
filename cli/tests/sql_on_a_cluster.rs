//! `spate sql -f job.sql --cluster ADDR`: a Nexmark SQL script runs on a
//! real 2-worker cluster (three processes on loopback) and writes the rows
//! it writes in one process (same count and checksum); a script that only
//! reads is refused before anything is submitted; the shell on a cluster
//! keeps its DDL here and runs each INSERT there.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::Path;

use support::{Cluster, ok, spate};

/// The Nexmark tables with 200 000 events, then `query`'s file.
fn script(dir: &Path, query: &str) -> String {
    let sql = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/queries");
    let ddl = std::fs::read_to_string(sql.join("nexmark_ddl.sql")).unwrap();
    let ddl = ddl.replace("'events.num' = '10000000'", "'events.num' = '200000'");
    assert!(ddl.contains("'200000'"), "the DDL's event count moved");
    let text = ddl + &std::fs::read_to_string(sql.join(format!("{query}.sql"))).unwrap();
    let path = dir.join(format!("{query}.sql"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// `(rows, checksum)` of the `[INFO] INSERT INTO t finished[ on the
/// cluster]: N rows, checksum 0x..., ...` line.
fn summary(stdout: &str) -> (String, String) {
    let line = stdout
        .lines()
        .find(|l| l.starts_with("[INFO] INSERT INTO"))
        .unwrap_or_else(|| panic!("no INSERT summary in {stdout}"));
    let (_, rest) = line.split_once(": ").unwrap_or_else(|| panic!("{line}"));
    let rows = rest.split(' ').next().unwrap_or_default();
    let checksum = rest.split("checksum ").nth(1).unwrap_or_default();
    let checksum = checksum.split(',').next().unwrap_or_default();
    (rows.to_string(), checksum.to_string())
}

#[test]
fn nexmark_sql_on_two_workers_writes_what_one_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate(&["cluster", "start", "--workers", "2", "--dir", d]));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let mem = ["--set", "runtime.io_memory_kib=256"];
    for query in ["q5", "q3"] {
        let path = script(dir.path(), query);
        let mut args = vec![
            "sql",
            "-f",
            &path,
            "--cluster",
            addr.trim(),
            "--parallelism",
            "2",
        ];
        args.extend(mem);
        let on_cluster = ok(spate(&args));
        assert!(
            on_cluster.contains("finished on the cluster"),
            "{on_cluster}"
        );
        let mut local = vec!["sql", "-f", &path, "--cores", "2"];
        local.extend(mem);
        let here = ok(spate(&local));
        let (rows, checksum) = summary(&on_cluster);
        assert_eq!((rows.clone(), checksum), summary(&here), "{query}");
        assert_ne!(rows, "0", "{query} wrote nothing");
    }
    // A SELECT has no client to go to on a cluster: refused, with its place.
    let select = dir.path().join("select.sql");
    std::fs::write(&select, "SELECT 1;").unwrap();
    let out = spate(&[
        "sql",
        "-f",
        select.to_str().unwrap(),
        "--cluster",
        addr.trim(),
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 1, column 1: a SELECT or EXPLAIN in a script for a cluster"),
        "{err}"
    );
}

#[test]
fn the_shell_on_a_cluster_runs_each_insert_there_after_the_ddl_entered() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    ok(spate(&["cluster", "start", "--workers", "2", "--dir", d]));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let input = "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', \
                   'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '1000');\n\
                 CREATE TABLE out (id BIGINT) WITH ('connector' = 'blackhole');\n\
                 SELECT id FROM gen;\n\
                 INSERT INTO out SELECT id FROM gen WHERE MOD(id, 10) = 0;\n";
    let mut child = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(["sql", "--cluster", addr.trim(), "--parallelism", "2"])
        .args(["--set", "runtime.io_memory_kib=256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("a SELECT does not run on a cluster from the shell"),
        "{stderr}"
    );
    assert!(
        stdout.contains("[INFO] INSERT INTO out finished on the cluster: 100 rows"),
        "{stdout}\n{stderr}"
    );
}
