//! Word count: the classic streaming job. Reads a text file line by line
//! (bounded input, so the job ends with it), splits it into words, keys by
//! word and keeps a running count, printing every update as Flink's
//! streaming WordCount does; the last line per word is its total.
//!
//! `cargo run --release --example word_count -- [FILE]`, or `spate run word-count`.

use std::path::Path;

use spate::sinks::{FileFormat, FileSink, StdoutSink};
use spate::{Job, Result};

/// Builds the job: `input` is a text file with one line per record.
pub fn build(input: &Path, output: Option<&Path>) -> Result<Job> {
    let job = Job::builder("word count");
    let counts = job
        .read_text_lines(input)
        .flat_map(|line: String| {
            line.split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(|w| (w.to_lowercase(), 1u64))
                .collect::<Vec<_>>()
        })
        .key_by(|(w, _): &(String, u64)| w.clone())
        .reduce(|a, b| (a.0.clone(), a.1 + b.1));
    let printable = counts.map(|(w, n): (String, u64)| format!("{w} {n}"));
    match output {
        Some(dir) => counts.sink_with_checksum("counts", FileSink::new(dir, FileFormat::Csv)),
        None => printable.sink("stdout", StdoutSink::new()),
    }
    job.build()
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let input = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/words.txt").to_string()
    });
    let result = build(Path::new(&input), None)?.run(&spate::config::Config::default())?;
    eprintln!(
        "{} lines counted in {:?}",
        result.metrics.source_records, result.wall
    );
    Ok(())
}
