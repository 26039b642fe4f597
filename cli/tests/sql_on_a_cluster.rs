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

/// Starts a 3-worker cluster in `dir` whose coordinator logs which
/// checkpoint a restart restores; returns its address.
fn start_logged_cluster(dir: &Path) -> String {
    let d = dir.to_str().unwrap();
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
    std::fs::read_to_string(dir.join("coordinator.addr"))
        .unwrap()
        .trim()
        .to_string()
}

/// Runs `spate args` (a job of about 5 s), kills worker 2 of the cluster
/// in `dir` 2.5 s in, and returns the job's output once it succeeded
/// after restarting from a checkpoint.
fn run_killing_a_worker(args: &[&str], dir: &Path) -> String {
    use std::process::{Command, Stdio};
    use std::time::Duration;
    let job = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Checkpoints complete every 200 ms.
    std::thread::sleep(Duration::from_millis(2500));
    support::kill_worker(dir, 2);
    let failed = ok(job.wait_with_output().unwrap());
    let log = std::fs::read_to_string(dir.join("coordinator.log")).unwrap();
    assert!(
        log.contains("restarting from checkpoint"),
        "the SQL job restarted from a checkpoint, not from the beginning:\n{log}"
    );
    failed
}

/// Flink's checkpoint settings and 45 000 throttled `bid` rows (5 s).
fn checkpointed_bids(d: &str) -> String {
    format!(
        "SET 'execution.checkpointing.interval' = '200 ms';
         SET 'execution.checkpointing.dir' = 'file://{d}/checkpoints';
         CREATE TABLE bid (bidder BIGINT, price BIGINT) WITH ('connector' = 'datagen',
           'number-of-rows' = '45000', 'rows-per-second' = '9000', 'throttle' = 'true',
           'fields.bidder.min' = '1', 'fields.bidder.max' = '500',
           'fields.price.min' = '1', 'fields.price.max' = '1000');\n"
    )
}

/// The arguments running `script` on the cluster at `addr` with 3 subtasks.
fn on_cluster<'a>(script: &'a str, addr: &'a str) -> [&'a str; 9] {
    [
        "sql",
        "-f",
        script,
        "--cluster",
        addr,
        "--parallelism",
        "3",
        "--set",
        "runtime.io_memory_kib=256",
    ]
}

/// The arguments running `script` in this process on 2 cores.
fn here(script: &str) -> [&str; 7] {
    [
        "sql",
        "-f",
        script,
        "--cores",
        "2",
        "--set",
        "runtime.io_memory_kib=256",
    ]
}

/// A group aggregate with Flink's checkpoint settings in the script: on a
/// 3-worker cluster its checkpoints let it survive `kill -9` of a worker,
/// and its summary equals a clean run's and one process's (an updating
/// result's checksum is that of the rows it leaves).
#[test]
fn a_sql_group_aggregate_checkpoints_on_a_cluster_and_survives_kill_9_of_a_worker() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let addr = start_logged_cluster(dir.path());
    let _cluster = Cluster(dir.path());
    let script = dir.path().join("agg.sql");
    std::fs::write(
        &script,
        checkpointed_bids(d)
            + "CREATE TABLE totals (bidder BIGINT, n BIGINT, total BIGINT,
                 PRIMARY KEY (bidder) NOT ENFORCED) WITH ('connector' = 'blackhole');
               INSERT INTO totals SELECT bidder, COUNT(*), SUM(price) FROM bid GROUP BY bidder;",
    )
    .unwrap();
    let path = script.to_str().unwrap();
    let clean = ok(spate(&on_cluster(path, &addr)));
    let failed = run_killing_a_worker(&on_cluster(path, &addr), dir.path());
    let local = ok(spate(&here(path)));
    let (_, checksum) = summary(&clean);
    assert_eq!(summary(&failed).1, checksum, "{failed}");
    assert_eq!(summary(&local).1, checksum, "{local}");
}

/// Every line of every committed part file under `dir`, with its
/// partition directory, sorted (in-progress files are hidden).
fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if entry.path().is_dir() {
                dirs.push(entry.path());
            } else if name.starts_with("part-") {
                let partition = d.strip_prefix(dir).unwrap().display().to_string();
                let text = std::fs::read_to_string(entry.path()).unwrap();
                lines.extend(text.lines().map(|l| format!("{partition}/{l}")));
            }
        }
    }
    lines.sort();
    lines
}

/// A partitioned filesystem table written by a SQL job on a cluster whose
/// worker is killed: the files the job publishes hold every row exactly
/// once, the rows one process writes without a failure.
#[test]
fn a_partitioned_filesystem_table_survives_kill_9_of_a_worker_with_every_row_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let addr = start_logged_cluster(dir.path());
    let _cluster = Cluster(dir.path());
    let write = |name: &str| {
        let script = dir.path().join(format!("{name}.sql"));
        std::fs::write(
            &script,
            checkpointed_bids(d)
                + &format!(
                    "CREATE TABLE out (bidder BIGINT, price BIGINT, bucket STRING)
                       PARTITIONED BY (bucket) WITH ('connector' = 'filesystem',
                       'path' = '{d}/{name}', 'format' = 'csv');
                     INSERT INTO out SELECT bidder, price, CAST(MOD(bidder, 4) AS STRING)
                       FROM bid WHERE price > 500;"
                ),
        )
        .unwrap();
        script.to_str().unwrap().to_string()
    };
    let (failed, local) = (write("failed"), write("local"));
    run_killing_a_worker(&on_cluster(&failed, &addr), dir.path());
    ok(spate(&here(&local)));
    let want = committed_lines(&dir.path().join("local"));
    assert!(want.len() > 20_000, "{} rows", want.len());
    assert!(
        want.iter().any(|l| l.starts_with("bucket=3/")),
        "{:?}",
        want.first()
    );
    let got = committed_lines(&dir.path().join("failed"));
    assert_eq!(got.len(), want.len(), "rows lost or duplicated");
    assert!(got == want, "the rows differ from one process's");
}
