//! A filesystem table `PARTITIONED BY` columns: nexmark-flink's q10 runs
//! unchanged (its output path aside) and leaves every bid in the directory
//! of its day and minute, without the partition columns, each partition
//! written by one subtask and committed with a `_SUCCESS` file; bad
//! partition clauses and options are refused with what to change.

use std::collections::BTreeMap;
use std::path::Path;

use spate_sql::Session;
use spate_sql::value::format_timestamp_ms;

mod common;
use common::{config, nexmark_ddl_at, nexmark_rows, query_file, run_insert};

const EVENTS: u64 = 20_000;
/// 100 events/s of event time: 200 s, four or five minute partitions.
const RATE: u64 = 100;

/// `dir`'s partitions: `(dt, hm)` (unescaped) → the files in it by name.
fn partitions(dir: &Path) -> BTreeMap<(String, String), BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for dt in std::fs::read_dir(dir)
        .expect("the output directory")
        .flatten()
    {
        let dt_name = dt.file_name().to_string_lossy().into_owned();
        let dt_value = dt_name.strip_prefix("dt=").expect("dt=...").to_string();
        for hm in std::fs::read_dir(dt.path())
            .expect("a dt directory")
            .flatten()
        {
            let hm_name = hm.file_name().to_string_lossy().into_owned();
            let hm_value = hm_name
                .strip_prefix("hm=")
                .expect("hm=...")
                .replace("%3A", ":");
            let files = std::fs::read_dir(hm.path())
                .expect("a partition directory")
                .flatten()
                .map(|f| {
                    let text = std::fs::read_to_string(f.path()).expect("a file");
                    (f.file_name().to_string_lossy().into_owned(), text)
                })
                .collect();
            out.insert((dt_value.clone(), hm_value), files);
        }
    }
    out
}

#[test]
fn q10_writes_every_bid_into_its_minute_and_commits_each_partition() {
    let root = tempfile::tempdir().expect("tempdir");
    let q10 = query_file("q10.sql").replace("${NEXMARK_DIR}", &root.path().display().to_string());
    let ddl = nexmark_ddl_at(EVENTS, RATE);
    let result = run_insert(&mut Session::new(config(2)), &format!("{ddl}\n{q10}"));
    let bids = nexmark_rows(&ddl, "bid");
    assert_eq!(result.metrics.sink_records(), bids.len() as u64);

    let mut want: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for b in &bids {
        let ts = b[5].as_i64().expect("dateTime");
        let printed = format_timestamp_ms(ts);
        let line = format!("{},{},{},{printed},{}", b[0], b[1], b[2], b[6]);
        let key = (printed[..10].to_string(), printed[11..16].to_string());
        want.entry(key).or_default().push(line);
    }
    let got = partitions(&root.path().join("data/output/bid"));
    assert!(want.len() >= 4, "{} minute partitions", want.len());
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "one directory per day and minute"
    );
    for (key, files) in &got {
        assert_eq!(
            files.get("_SUCCESS").map(String::as_str),
            Some(""),
            "{key:?} is committed"
        );
        let parts: Vec<&String> = files.keys().filter(|n| n.starts_with("part-")).collect();
        assert_eq!(parts.len(), 1, "{key:?}: one subtask writes a partition");
        let mut lines: Vec<String> = files
            .iter()
            .filter(|(n, _)| n.starts_with("part-"))
            .flat_map(|(_, text)| text.lines().map(str::to_owned))
            .collect();
        lines.sort();
        let mut expected = want.get(key).cloned().unwrap_or_default();
        expected.sort();
        assert_eq!(lines, expected, "{key:?}: its bids, without dt and hm");
    }
}

#[test]
fn partition_clauses_and_options_that_cannot_work_are_refused() {
    let table = |partitioned: &str, options: &str| {
        format!(
            "CREATE TABLE out (a BIGINT, dt STRING, n AS a + 1) {partitioned} WITH \
             ('connector' = 'filesystem', 'path' = '/tmp/unused', 'format' = 'csv'{options});"
        )
    };
    let cases = [
        (
            table("PARTITIONED BY (day)", ""),
            "unknown column `day` in PARTITIONED BY",
        ),
        (table("PARTITIONED BY (n)", ""), "`n` is a computed column"),
        (table("PARTITIONED BY (dt, dt)", ""), "`dt` is named twice"),
        (
            table("PARTITIONED BY (dt INT)", ""),
            "PARTITIONED BY lists column names only",
        ),
        (
            table("", ", 'sink.partition-commit.delay' = '1 min'"),
            "'sink.partition-commit.delay' needs a table PARTITIONED BY",
        ),
        (
            table(
                "PARTITIONED BY (dt)",
                ", 'sink.partition-commit.policy.kind' = 'metastore'",
            ),
            "the partition commit policy 'metastore' is not supported",
        ),
        (
            table(
                "PARTITIONED BY (dt)",
                ", 'sink.partition-commit.trigger' = 'sometimes'",
            ),
            "'sink.partition-commit.trigger' = 'sometimes' is not a trigger",
        ),
    ];
    for (sql, want) in cases {
        let err = Session::new(config(1))
            .execute(&sql)
            .expect_err(&sql)
            .to_string();
        assert!(err.contains(want), "{sql}\n{err}");
    }
}

#[test]
fn reading_a_partitioned_table_is_refused_not_misread() {
    let root = tempfile::tempdir().expect("tempdir");
    let sql = format!(
        "CREATE TABLE t (a BIGINT, dt STRING) PARTITIONED BY (dt) WITH \
         ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');\n\
         SELECT * FROM t;",
        root.path().display()
    );
    let err = Session::new(config(1))
        .execute(&sql)
        .expect_err("a partitioned table is not read")
        .to_string();
    assert!(
        err.contains("reading a partitioned filesystem table is not supported"),
        "{err}"
    );
}
