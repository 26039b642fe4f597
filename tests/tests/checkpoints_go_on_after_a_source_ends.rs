//! Bounded input with checkpoints (Flink's checkpoints after tasks finish):
//! a source that read all its input stays and injects barriers, so
//! checkpoints go on while a longer source still reads; once both ended, a
//! final checkpoint commits the output written since the one before, so no
//! output waits in memory for the job's end.
//!
//! With `checkpoint.final_checkpoint = false` (the behaviour before),
//! checkpoints stop when the short source ends and the rest of the output
//! is published at the end as `part-<subtask>-end` files.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use spate::Job;
use spate::config::Config;
use spate::sinks::{FileFormat, IN_PROGRESS_DIR, TwoPhaseFileSink};
use spate::sources::GeneratorSource;
use spate_scenarios::{engine_checksum, test_config};

/// Records of the short source: it ends within the first checkpoints.
const SHORT: u64 = 400;
/// Records of the long source, read at `RATE` per second (about 1.5 s).
const LONG: u64 = 30_000;
const RATE: u64 = 20_000;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn config(checkpoints: &Path, final_checkpoint: bool) -> Config {
    let mut c = test_config(2);
    c.checkpoint.interval_ms = 20;
    c.checkpoint.dir = checkpoints.to_path_buf();
    c.checkpoint.final_checkpoint = final_checkpoint;
    c
}

fn job(out: &Path) -> Job {
    let job = Job::builder("short-and-long");
    let short = job.source("short", |split| {
        Ok(GeneratorSource::new(|n| n * 2, Some(SHORT), split))
    });
    let long = job.source("long", |split| {
        Ok(GeneratorSource::new(|n| n * 2 + 1, Some(LONG), split).with_rate(RATE, split))
    });
    short
        .union(&[long])
        .rebalance()
        .map(|v: u64| v)
        .sink_with_checksum("out", TwoPhaseFileSink::new(out, FileFormat::Csv));
    job.build().unwrap()
}

/// Committed file names, and every committed record with its count.
fn committed(out: &Path) -> (Vec<String>, BTreeMap<u64, u32>) {
    let (mut names, mut seen) = (Vec::new(), BTreeMap::new());
    for entry in std::fs::read_dir(out).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == IN_PROGRESS_DIR {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            *seen.entry(line.parse::<u64>().unwrap()).or_insert(0) += 1;
        }
        names.push(name);
    }
    (names, seen)
}

fn expected() -> BTreeMap<u64, u32> {
    let short = (0..SHORT).map(|n| n * 2);
    let long = (0..LONG).map(|n| n * 2 + 1);
    short.chain(long).map(|v| (v, 1)).collect()
}

/// Runs the job; its completed checkpoints and committed file names.
fn run(name: &str, final_checkpoint: bool) -> (u64, Vec<String>) {
    let (out, ckpt) = (
        scratch(&format!("{name}-out")),
        scratch(&format!("{name}-ckpt")),
    );
    let result = job(&out).run(&config(&ckpt, final_checkpoint)).unwrap();
    let m = &result.metrics;
    let (names, seen) = committed(&out);
    assert!(seen == expected(), "every record committed exactly once");
    let all: Vec<u64> = expected().into_keys().collect();
    assert_eq!(m.sink_checksum(), engine_checksum(&all));
    let left = std::fs::read_dir(out.join(IN_PROGRESS_DIR))
        .unwrap()
        .count();
    assert_eq!(left, 0, "nothing is left uncommitted");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&ckpt);
    (m.checkpoints.completed, names)
}

#[test]
fn checkpoints_go_on_after_a_source_ends_and_a_final_checkpoint_commits_the_rest() {
    let (with_final, names) = run("final-on", true);
    let (without, old_names) = run("final-off", false);
    // The short source ends within about 50 ms; the long one reads for
    // about 1.5 s, with a checkpoint every 20 ms.
    assert!(
        with_final >= without + 10,
        "checkpoints went on after the short source ended: {with_final} completed, \
         {without} when they stop at its end"
    );
    let ends = |names: &[String]| names.iter().filter(|n| n.contains("-end.")).count();
    assert_eq!(
        ends(&names),
        0,
        "the final checkpoint committed the last output: {names:?}"
    );
    assert!(
        ends(&old_names) >= 1,
        "without it, the output after the last checkpoint waits for the end: {old_names:?}"
    );
}
