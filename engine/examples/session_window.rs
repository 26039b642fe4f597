//! Session windows over click events (JSON lines:
//! `{"user":"u1","page":"/home","timestamp_ms":...}`): per user, a session
//! closes after 30 s without clicks; emits each session's length, clicks
//! and pages.
//!
//! `cargo run --release --example session_window -- [FILE]`, or `spate run session-window`.

use std::path::Path;

use spate::sinks::{FileFormat, FileSink, StdoutSink};
use spate::sources::BadRecordPolicy;
use spate::time::WatermarkStrategy;
use spate::window::{EventTimeSessionWindows, TimeWindow, WindowCollector};
use spate::{Job, Result};

/// One click.
#[derive(Debug, Clone, serde::Deserialize)]
// `key_by` sends records across cores and processes: they derive rkyv's
// traits (through `spate::rkyv`, so the job needs no rkyv dependency).
#[derive(spate::rkyv::Archive, spate::rkyv::Serialize, spate::rkyv::Deserialize)]
#[rkyv(crate = spate::rkyv)]
pub struct Click {
    /// User id.
    pub user: String,
    /// Page path.
    pub page: String,
    /// Event time, ms.
    pub timestamp_ms: i64,
}

/// One finished session.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Session {
    /// User id.
    pub user: String,
    /// First click, ms.
    pub start_ms: i64,
    /// Last click plus the gap, ms.
    pub end_ms: i64,
    /// Clicks in the session.
    pub clicks: usize,
    /// Distinct pages, sorted.
    pub pages: Vec<String>,
}

impl std::fmt::Display for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} session {}..{} ({} s): {} clicks on {}",
            self.user,
            self.start_ms,
            self.end_ms,
            (self.end_ms - self.start_ms) / 1000,
            self.clicks,
            self.pages.join(" ")
        )
    }
}

/// The gap that ends a session.
pub const GAP_MS: u64 = 30_000;

/// Builds the job over the JSON-lines file `input`.
pub fn build(input: &Path, output: Option<&Path>) -> Result<Job> {
    let job = Job::builder("session window");
    let sessions = job
        .read_json_lines::<Click>(input, BadRecordPolicy::Fail)
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            5_000,
            |c: &Click| c.timestamp_ms,
        ))
        .key_by(|c: &Click| c.user.clone())
        .window(EventTimeSessionWindows::with_gap(GAP_MS))
        .process(
            |user: &String,
             w: &TimeWindow,
             clicks: &[Click],
             out: &mut WindowCollector<'_, Session>| {
                let mut pages: Vec<String> = clicks.iter().map(|c| c.page.clone()).collect();
                pages.sort();
                pages.dedup();
                out.collect(Session {
                    user: user.clone(),
                    start_ms: w.start,
                    end_ms: w.end,
                    clicks: clicks.len(),
                    pages,
                });
                Ok(())
            },
        );
    match output {
        Some(dir) => sessions.sink("sessions", FileSink::new(dir, FileFormat::JsonLines)),
        None => sessions.sink("sessions", StdoutSink::new()),
    }
    job.build()
}

#[allow(dead_code)]
fn main() -> anyhow::Result<()> {
    let input = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/data/clicks.jsonl").to_string()
    });
    build(Path::new(&input), None)?.run(&spate::config::Config::default())?;
    Ok(())
}
