//! Runs the real Apache Flink on the same query, for a ratio measured side
//! by side on the same machine: the shared peer (../shared/peers/flink/
//! flink-peer: q0, q1, q2, q5, q7 on datagen bids) or, for q3, q4 and q8,
//! this repository's Flink SQL runner (bench-harness/flink/run, on a
//! datagen stream of persons, auctions and bids).

use std::path::PathBuf;
use std::process::Command;

use serde::Serialize;

/// Flink's figure for one query.
#[derive(Debug, Clone, Serialize)]
pub struct FlinkRun {
    /// The peer's query name.
    pub query: String,
    /// Parallelism.
    pub par: usize,
    /// Rows it processed.
    pub rows: u64,
    /// Job wall time minus the empty job's, seconds.
    pub net_s: f64,
    /// Rows per second per core: rows / net_s / min(par, cores).
    pub per_core: f64,
    /// The JVM's peak RSS, MiB.
    pub rss_mb: f64,
}

/// The first of `candidates` that exists.
fn first_existing(candidates: [Option<PathBuf>; 3]) -> Option<PathBuf> {
    candidates.into_iter().flatten().find(|p| p.exists())
}

/// The peer script, if this checkout has the shared folder beside it.
fn peer() -> Option<PathBuf> {
    first_existing([
        std::env::var_os("SPATE_FLINK_PEER").map(PathBuf::from),
        Some(PathBuf::from("../shared/peers/flink/flink-peer")),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/peers/flink/flink-peer"
        ))),
    ])
}

/// This repository's Flink SQL runner.
fn own_runner() -> Option<PathBuf> {
    first_existing([
        std::env::var_os("SPATE_FLINK_SQL").map(PathBuf::from),
        Some(PathBuf::from("bench-harness/flink/run")),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../bench-harness/flink/run"
        ))),
    ])
}

/// Who runs a query in Flink, and the most rows a run takes: the windowed
/// and joining queries are several times slower in Flink, so each run
/// stays near a minute.
fn runner_of(query: &str) -> Option<(Runner, u64)> {
    match query {
        "q0" | "q1" | "q2" => Some((Runner::Peer, 40_000_000)),
        "q5" | "q7" => Some((Runner::Peer, 16_000_000)),
        "q3" | "q4" | "q8" => Some((Runner::Own, 16_000_000)),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Runner {
    Peer,
    Own,
}

impl Runner {
    fn script(self) -> Option<PathBuf> {
        match self {
            Runner::Peer => peer(),
            Runner::Own => own_runner(),
        }
    }

    fn missing(self) -> &'static str {
        match self {
            Runner::Peer => "the Flink peer (../shared/peers/flink/flink-peer) is not here",
            Runner::Own => "the Flink SQL runner (bench-harness/flink/run) is not here",
        }
    }

    /// The arguments of one run that writes its JSON line to `out`.
    fn args(self, query: &str, par: usize, rows: u64, out: &std::path::Path) -> Vec<String> {
        let (verb, rows_flag) = match self {
            Runner::Peer => (Some("one"), "--rows"),
            Runner::Own => (None, "--events"),
        };
        verb.map(str::to_string)
            .into_iter()
            .chain([
                "--query".to_string(),
                query.to_string(),
                "--par".to_string(),
                par.to_string(),
                rows_flag.to_string(),
                rows.to_string(),
                "--json".to_string(),
                out.display().to_string(),
            ])
            .collect()
    }
}

/// Runs Flink on `query` with parallelism `par` over about `events` rows.
/// Returns `None` (with a note on stderr) when the peer or query is unavailable.
pub fn run(query: &str, par: usize, events: u64) -> anyhow::Result<Option<FlinkRun>> {
    let Some((runner, rows_max)) = runner_of(query) else {
        eprintln!("note: there is no Flink version of {query}; skipping Flink for it");
        return Ok(None);
    };
    let Some(script) = runner.script() else {
        eprintln!("note: {}; skipping Flink for {query}", runner.missing());
        return Ok(None);
    };
    let out = std::env::temp_dir().join(format!("spate-flink-{query}-{par}.json"));
    let rows = events.clamp(1_000_000, rows_max);
    eprintln!(
        "running Apache Flink on {query} (par {par}, {rows} rows); the first run installs it and takes minutes"
    );
    let status = Command::new(&script)
        .args(runner.args(query, par, rows, &out))
        .status()?;
    if !status.success() {
        anyhow::bail!(
            "Flink ({}) failed on {query} ({status}); see its log under ~/.cache/spate-flink-peer",
            script.display()
        );
    }
    let text = std::fs::read_to_string(&out)?;
    let line = text.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line)?;
    let get = |k: &str| v.get(k).and_then(|x| x.as_f64()).unwrap_or(0.0);
    let net_s = (get("job_s") - get("empty_s")).max(1e-3);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_core = rows as f64 / net_s / par.min(cores).max(1) as f64;
    Ok(Some(FlinkRun {
        query: query.to_string(),
        par,
        rows,
        net_s,
        per_core,
        rss_mb: get("rss_mb"),
    }))
}
