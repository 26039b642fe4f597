//! The summary of a benchmark run: human-readable, JSON and Markdown.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use spate::JobResult;

use crate::runner::BenchSpec;

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LatencyUs {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Maximum.
    pub max: f64,
}

/// One benchmark run.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Query name.
    pub query: String,
    /// Cores the job ran on.
    pub cores: usize,
    /// Events generated.
    pub events: u64,
    /// Wall time in seconds.
    pub wall_s: f64,
    /// Events per second over all cores.
    pub events_per_s: f64,
    /// Events per second per core.
    pub events_per_s_per_core: f64,
    /// End-to-end latency from an event's creation to the sink.
    pub latency_us: LatencyUs,
    /// Peak resident memory of the process in MiB.
    pub peak_rss_mib: f64,
    /// Output records.
    pub output_records: u64,
    /// Order-independent checksum of the output, hex.
    pub checksum: String,
    /// Hours to process 10^12 events at the measured rate.
    pub hours_per_trillion: f64,
    /// Target rate (0 = unthrottled).
    pub rate_per_s: u64,
    /// What checkpointing did; absent when the run took no checkpoints.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<CheckpointSummary>,
    /// What became of the savepoint asked for during the run, as a sentence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savepoint: Option<String>,
}

/// The checkpoints of a run, for the summary and the JSON results.
#[derive(Debug, Clone, Serialize)]
pub struct CheckpointSummary {
    /// Completed checkpoints.
    pub completed: u64,
    /// Aborted checkpoints.
    pub aborted: u64,
    /// Restarts after failures.
    pub restarts: u64,
    /// Longest synchronous part of any task's snapshot, µs.
    pub sync_us_max: f64,
    /// Longest barrier alignment of any task, µs.
    pub alignment_us_max: f64,
    /// Longest time from trigger to durable manifest, ms.
    pub duration_ms_max: u64,
    /// Bytes uploaded to checkpoint storage.
    pub uploaded_bytes: u64,
    /// The checkpoint the last restart restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    /// Where the checkpoints are.
    pub dir: String,
}

impl BenchReport {
    /// Summarises a finished job.
    pub fn new(spec: &BenchSpec, r: &JobResult) -> Self {
        let wall_s = r.wall.as_secs_f64().max(1e-9);
        let events = r.metrics.source_records;
        // Events before a restored savepoint were another run's work.
        let processed = events.saturating_sub(r.metrics.checkpoints.savepoint_source_records);
        let events_per_s = processed as f64 / wall_s;
        let h = r.metrics.latency_ns();
        let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
        Self {
            query: spec.query.clone(),
            cores: r.cores,
            events,
            wall_s,
            events_per_s,
            events_per_s_per_core: events_per_s / r.cores.max(1) as f64,
            latency_us: LatencyUs {
                p50: us(0.5),
                p99: us(0.99),
                p999: us(0.999),
                max: h.max() as f64 / 1000.0,
            },
            peak_rss_mib: peak_rss_mib(),
            output_records: r.metrics.sink_records(),
            checksum: format!("{:016x}", r.metrics.sink_checksum()),
            hours_per_trillion: if events_per_s > 0.0 {
                1e12 / events_per_s / 3600.0
            } else {
                f64::INFINITY
            },
            rate_per_s: spec.rate_per_s,
            checkpoints: r.checkpoint_dir.as_ref().map(|dir| {
                let c = &r.metrics.checkpoints;
                CheckpointSummary {
                    completed: c.completed,
                    aborted: c.aborted,
                    restarts: c.restarts,
                    sync_us_max: c.sync_ns_max as f64 / 1000.0,
                    alignment_us_max: c.alignment_ns_max as f64 / 1000.0,
                    duration_ms_max: c.duration_ms_max,
                    uploaded_bytes: c.uploaded_bytes,
                    restored_from: c.restored_from,
                    dir: dir.display().to_string(),
                }
            }),
            savepoint: None,
        }
    }

    /// The readable summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = self.run_summary();
        if let Some(c) = &self.checkpoints {
            let restored = c
                .restored_from
                .map_or(String::new(), |id| format!(" (restored checkpoint {id})"));
            // A cluster's client sees counts, not the workers' timings.
            let timings = if c.sync_us_max > 0.0 || c.duration_ms_max > 0 {
                format!(
                    " · sync ≤ {} · alignment ≤ {} · ≤ {} ms to durable · {:.1} MiB uploaded",
                    micros(c.sync_us_max),
                    micros(c.alignment_us_max),
                    c.duration_ms_max,
                    c.uploaded_bytes as f64 / (1024.0 * 1024.0),
                )
            } else {
                String::new()
            };
            out.push_str(&format!(
                "checkpoints     {} completed, {} aborted, {} restarts{restored}{timings} · {}\n",
                c.completed, c.aborted, c.restarts, c.dir
            ));
        }
        if let Some(s) = &self.savepoint {
            out.push_str(&format!("savepoint       {s}\n"));
        }
        out
    }

    fn run_summary(&self) -> String {
        format!(
            "query           {}\n\
             cores           {}\n\
             events          {}\n\
             wall time       {:.3} s\n\
             throughput      {} events/s ({} events/s per core)\n\
             latency         p50 {} · p99 {} · p99.9 {} · max {}\n\
             peak memory     {:.1} MiB\n\
             output          {} records, checksum {}\n\
             10^12 events    {:.1} hours at this rate\n",
            self.query,
            self.cores,
            self.events,
            self.wall_s,
            human(self.events_per_s),
            human(self.events_per_s_per_core),
            micros(self.latency_us.p50),
            micros(self.latency_us.p99),
            micros(self.latency_us.p999),
            micros(self.latency_us.max),
            self.peak_rss_mib,
            self.output_records,
            self.checksum,
            self.hours_per_trillion,
        )
    }
}

/// `12.3 M` style.
pub fn human(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2} G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1} K", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

fn micros(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

/// The process's peak resident set (VmHWM), in MiB; 0 when unknown.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets the kernel's peak-RSS mark of this process (Linux `clear_refs`
/// value 5), so a later [`peak_rss_mib`] measures from now. Best effort:
/// without the file the peak stays process-wide.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The short commit of the git checkout holding `dir` (where results are
/// written, normally inside the repository), else of the working
/// directory; `unknown` outside any checkout.
pub fn commit_of(dir: &std::path::Path) -> String {
    let at = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let dir = dir.to_string_lossy();
    at(&["-C", &dir, "rev-parse", "--short", "HEAD"])
        .or_else(|| at(&["rev-parse", "--short", "HEAD"]))
        .unwrap_or_else(|| "unknown".into())
}

/// Seconds since the epoch as `YYYY-MM-DD` (UTC), without a date crate.
pub fn today_utc() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as i64;
    let days = secs.div_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    format!("{:04}-{:02}-{:02}", if m <= 2 { y + 1 } else { y }, m, d)
}

/// The machine a result was measured on: "<cores>x <CPU model>".
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("{cores}x {cpu}")
}

/// The machine in result file names: "<cores>c-<host>".
pub fn machine_slug() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    format!("{cores}c-{host}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human(12_345_678.0), "12.35 M");
        assert_eq!(human(950.0), "950");
    }

    #[test]
    fn date_is_well_formed() {
        let d = today_utc();
        assert_eq!(d.len(), 10);
        assert!(d.starts_with("20"));
    }
}
