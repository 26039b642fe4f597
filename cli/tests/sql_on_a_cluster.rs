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

/// A group aggregate with Flink's checkpoint settings in the script: on a
/// 3-worker cluster its checkpoints let it survive `kill -9` of a worker,
/// and its summary equals a clean run's and one process's (an updating
/// result's checksum is that of the rows it leaves).
#[test]
fn a_sql_group_aggregate_checkpoints_on_a_cluster_and_survives_kill_9_of_a_worker() {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    // The coordinator's log says which checkpoint a restart restores.
    let start = [
        "cluster",
        "start",
        "--workers",
        "3",
        "--dir",
        d,
        "--heartbeat-timeout-ms",
        "2000",
    ];
    ok(support::spate_with_log(&start, "info"));
    let _cluster = Cluster(dir.path());
    let addr = std::fs::read_to_string(dir.path().join("coordinator.addr")).unwrap();
    let script = dir.path().join("agg.sql");
    std::fs::write(
        &script,
        format!(
            "SET 'execution.checkpointing.interval' = '200 ms';
             SET 'execution.checkpointing.dir' = 'file://{d}/checkpoints';
             CREATE TABLE bid (bidder BIGINT, price BIGINT) WITH ('connector' = 'datagen',
               'number-of-rows' = '45000', 'rows-per-second' = '9000', 'throttle' = 'true',
               'fields.bidder.min' = '1', 'fields.bidder.max' = '500',
               'fields.price.min' = '1', 'fields.price.max' = '1000');
             CREATE TABLE totals (bidder BIGINT, n BIGINT, total BIGINT,
               PRIMARY KEY (bidder) NOT ENFORCED) WITH ('connector' = 'blackhole');
             INSERT INTO totals SELECT bidder, COUNT(*), SUM(price) FROM bid GROUP BY bidder;"
        ),
    )
    .unwrap();
    let path = script.to_str().unwrap();
    let args = [
        "sql",
        "-f",
        path,
        "--cluster",
        addr.trim(),
        "--parallelism",
        "3",
        "--set",
        "runtime.io_memory_kib=256",
    ];
    let clean = ok(spate(&args));
    let job = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The job takes about 5 s; checkpoints complete every 200 ms.
    std::thread::sleep(Duration::from_millis(2500));
    support::kill_worker(dir.path(), 2);
    let failed = ok(job.wait_with_output().unwrap());
    let log = std::fs::read_to_string(dir.path().join("coordinator.log")).unwrap();
    assert!(
        log.contains("restarting from checkpoint"),
        "the SQL job restarted from a checkpoint, not from the beginning:\n{log}"
    );
    let local = ok(spate(&[
        "sql",
        "-f",
        path,
        "--cores",
        "2",
        "--set",
        "runtime.io_memory_kib=256",
    ]));
    let (_, checksum) = summary(&clean);
    assert_eq!(summary(&failed).1, checksum, "{failed}");
    assert_eq!(summary(&local).1, checksum, "{local}");
}
