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
