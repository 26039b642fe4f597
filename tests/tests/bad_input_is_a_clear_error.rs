//! Bad input: a malformed line fails the job with the file and line, or goes
//! to the bad-records side output while every good line is processed; a
//! missing file is an error that names it. Nothing panics.

#![allow(clippy::unwrap_used)]

use std::io::Write;

use spate::sinks::CollectSink;
use spate::sources::{BadRecordPolicy, bad_records_tag};
use spate::{Job, SpateError};
use spate_scenarios::test_config;

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
struct Row {
    name: String,
    qty: u32,
}

fn csv_file(lines: &[&str]) -> tempfile_path::TempPath {
    let path = tempfile_path::TempPath::new("csv");
    let mut f = std::fs::File::create(&path.0).unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
    path
}

/// A tiny self-cleaning temp path, to avoid a dependency for two tests.
mod tempfile_path {
    pub struct TempPath(pub std::path::PathBuf);
    impl TempPath {
        pub fn new(ext: &str) -> Self {
            let n = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            Self(std::env::temp_dir().join(format!("spate-test-{}-{n}.{ext}", std::process::id())))
        }
    }
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

const LINES: &[&str] = &[
    "name,qty",
    "apple,3",
    "pear,notanumber",
    "plum,5",
    "fig,7,extra",
];

#[test]
fn malformed_line_fails_the_job_naming_file_and_line() {
    let file = csv_file(LINES);
    let job = Job::builder("strict csv");
    job.read_csv::<Row>(&file.0, true, BadRecordPolicy::Fail)
        .sink("rows", CollectSink::new());
    let err = job.build().unwrap().run(&test_config(2)).unwrap_err();
    match &err {
        SpateError::BadInput { path, line, reason } => {
            assert_eq!(path, &file.0);
            assert_eq!(*line, 3, "the first bad line is line 3 (after the header)");
            assert!(reason.contains("CSV"), "{reason}");
        }
        other => panic!("expected BadInput, got {other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&format!("{}:3:", file.0.display())), "{text}");
}

#[test]
fn malformed_lines_go_to_the_side_output_and_good_lines_are_kept() {
    let file = csv_file(LINES);
    let good = CollectSink::new();
    let bad = CollectSink::new();
    let job = Job::builder("lenient csv");
    let rows = job.read_csv::<Row>(&file.0, true, BadRecordPolicy::SideOutput);
    rows.sink("rows", good.clone());
    rows.side_output(&bad_records_tag())
        .sink("bad", bad.clone());
    job.build().unwrap().run(&test_config(2)).unwrap();
    let mut names: Vec<String> = good.take().into_iter().map(|r| r.name).collect();
    names.sort();
    assert_eq!(names, vec!["apple", "plum"]);
    let mut bad_lines: Vec<u64> = bad.take().into_iter().map(|b| b.line).collect();
    bad_lines.sort();
    assert_eq!(bad_lines, vec![3, 5]);
}

#[test]
fn missing_file_is_an_io_error_naming_it() {
    let job = Job::builder("missing");
    job.read_json_lines::<Row>("/nonexistent/spate/input.jsonl", BadRecordPolicy::Fail)
        .sink("rows", CollectSink::new());
    let err = job.build().unwrap().run(&test_config(1)).unwrap_err();
    assert!(matches!(err, SpateError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/spate/input.jsonl"),
        "{err}"
    );
}
