//! `spate sql -f FILE` runs a script: DDL messages, a SELECT's changelog,
//! and an error with its line, column and caret (exit code 1).

use std::process::Command;

fn spate_sql(script: &str) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("job.sql");
    std::fs::write(&path, script).expect("write script");
    let out = Command::new(env!("CARGO_BIN_EXE_spate"))
        .args(["sql", "-f"])
        .arg(&path)
        .args(["--cores", "1", "--set", "runtime.io_memory_kib=256"])
        .output()
        .expect("spate runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sql_script_prints_a_changelog() {
    let (ok, stdout, stderr) = spate_sql(
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence', 'fields.id.start' = '1', 'fields.id.end' = '3');\n\
         SELECT MOD(id, 2) AS parity, COUNT(*) AS n FROM gen GROUP BY MOD(id, 2);",
    );
    assert!(ok, "stderr: {stderr}");
    assert!(
        stdout.contains("[INFO] Execute statement succeeded."),
        "{stdout}"
    );
    assert!(stdout.contains("op, parity, n"), "{stdout}");
    for line in ["+I[1, 1]", "+I[0, 1]", "-U[1, 1]", "+U[1, 2]"] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line} in {stdout}"
        );
    }
}

#[test]
fn sql_error_shows_line_and_caret() {
    let (ok, _stdout, stderr) = spate_sql(
        "CREATE TABLE gen (id BIGINT) WITH ('connector' = 'datagen', 'number-of-rows' = '3');\nSELECT idd FROM gen;",
    );
    assert!(!ok);
    assert!(
        stderr.contains("error at line 2, column 8: unknown column `idd`; expected one of: id"),
        "{stderr}"
    );
    assert!(
        stderr.contains("   2 | SELECT idd FROM gen;\n              ^"),
        "{stderr}"
    );
}

/// Runs `spate sql` (the shell) with `input` on its standard input.
fn spate_shell(input: &str) -> (bool, String, String) {
    use std::io::Write as _;
    use std::process::Stdio;
    let home = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spate"))
        .arg("sql")
        .args(["--cores", "1", "--set", "runtime.io_memory_kib=256"])
        .env("HOME", home.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spate runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write input");
    let out = child.wait_with_output().expect("spate ends");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_shell_reads_statements_over_lines_survives_an_error_and_shows_a_table() {
    let (ok, stdout, stderr) = spate_shell(
        "CREATE TABLE gen (id BIGINT)\n\
         WITH ('connector' = 'datagen', 'fields.id.kind' = 'sequence',\n\
               'fields.id.start' = '1', 'fields.id.end' = '5');\n\
         SELECT nope FROM gen;\n\
         SET 'sql-client.execution.result-mode' = 'table';\n\
         SELECT MOD(id, 2) AS parity,\n\
                COUNT(*) AS n -- a comment; not the end\n\
         FROM gen GROUP BY MOD(id, 2);\n\
         SET 'sql-client.execution.result-mode' = 'tableau';\n\
         SELECT id FROM gen WHERE id > 4;\n\
         HELP;\n\
         QUIT;\n\
         SELECT 'never run';\n",
    );
    assert!(ok, "stderr: {stderr}");
    // The bad statement is reported and the shell goes on.
    assert!(
        stderr.contains("unknown column `nope`; expected one of: id"),
        "{stderr}"
    );
    // table: the rows the changelog leaves (parity 1: ids 1, 3, 5).
    assert!(stdout.contains("| parity | n |"), "{stdout}");
    assert!(stdout.contains("| 1      | 3 |"), "{stdout}");
    assert!(stdout.contains("| 0      | 2 |"), "{stdout}");
    assert!(
        !stdout.contains("| 1      | 2 |"),
        "an old value is shown: {stdout}"
    );
    assert!(
        stdout.contains("[INFO] 2 rows in the result, from 8 changes; checksum"),
        "{stdout}"
    );
    // tableau: each change with its kind, streamed in columns as wide as
    // their type.
    let line = |start: &str| {
        stdout
            .lines()
            .any(|l| l.starts_with(start) && l.ends_with(" |"))
    };
    assert!(line("| op | id "), "{stdout}");
    assert!(line("| +I | 5 "), "{stdout}");
    assert!(stdout.contains("QUIT;   leave"), "HELP printed: {stdout}");
    assert!(!stdout.contains("never run"), "{stdout}");
}

#[test]
fn the_shell_says_when_the_input_ends_inside_a_statement() {
    let (ok, _stdout, stderr) =
        spate_shell("SET 'sql-client.execution.result-mode' = 'wide';\nSELECT 1\n");
    assert!(ok, "{stderr}");
    assert!(
        stderr.contains(
            "'sql-client.execution.result-mode' is 'table', 'changelog' or 'tableau', not 'wide'"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("the input ended inside a statement (no ';'); it was not run"),
        "{stderr}"
    );
}

/// Runs the shell on `input`, waits for 100 `+I[` lines on its standard
/// output, sends it Ctrl-C (SIGINT) and returns the lines it printed after
/// and its standard error, once it exited successfully.
fn ctrl_c_after_rows(input: &str) -> (Vec<String>, String) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_spate"))
        .arg("sql")
        .args(["--cores", "1", "--set", "runtime.io_memory_kib=256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spate runs");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(input.as_bytes()).expect("input written");
    drop(stdin);
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Rows come while the job runs.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut rows = 0;
    while rows < 100 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx.recv_timeout(left).expect("rows come while the job runs");
        rows += usize::from(line.starts_with("+I["));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    // The job ends, the shell reads the end of its input and leaves.
    let mut rest = Vec::new();
    while let Ok(line) = rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        rest.push(line);
    }
    let exit = child.wait().expect("spate ends");
    let mut stderr = String::new();
    let _ = child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr);
    assert!(exit.success(), "{exit:?}: {stderr}");
    (rest, stderr)
}

/// No 'events.num': the bids never end by themselves.
const UNBOUNDED_BIDS: &str = "CREATE TABLE bid (auction BIGINT, price BIGINT, dateTime TIMESTAMP(3)) \
    WITH ('connector' = 'nexmark', 'nexmark.table' = 'bid');\n";

#[test]
fn a_select_over_an_unbounded_table_streams_rows_until_ctrl_c_cancels_it() {
    let (rest, _) = ctrl_c_after_rows(&format!(
        "{UNBOUNDED_BIDS}SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0;\n"
    ));
    let summary = rest.iter().find(|l| l.starts_with("[INFO] ")).cloned();
    let summary = summary.unwrap_or_else(|| panic!("no summary after the cancel: {rest:?}"));
    assert!(summary.contains("; cancelled"), "{summary}");
}

#[test]
fn ctrl_c_stops_an_unbounded_insert_and_the_shell_goes_on() {
    // The print sink shows that the job runs; after Ctrl-C the INSERT ends
    // with what it wrote and the next statement still runs.
    let (rest, stderr) = ctrl_c_after_rows(&format!(
        "{UNBOUNDED_BIDS}CREATE TABLE out (auction BIGINT) WITH ('connector' = 'print');\n\
         INSERT INTO out SELECT auction FROM bid;\n\
         SET 'sql-client.execution.result-mode' = 'table';\n"
    ));
    assert!(
        rest.iter()
            .any(|l| l.starts_with("[INFO] INSERT INTO out finished: ")),
        "{rest:?}"
    );
    assert!(
        stderr.contains("[INFO] Cancelled: the job ended with what it had written."),
        "{stderr}"
    );
    assert!(
        rest.last()
            .is_some_and(|l| l == "[INFO] Execute statement succeeded."),
        "{rest:?}"
    );
}
