//! Runs the real Apache Flink (../shared/peers/flink/flink-peer) on the
//! same query, for a ratio measured side by side on the same machine.

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

/// The peer script, if this checkout has the shared folder beside it.
fn peer() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("SPATE_FLINK_PEER").map(PathBuf::from),
        Some(PathBuf::from("../shared/peers/flink/flink-peer")),
        Some(PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/peers/flink/flink-peer"
        ))),
    ];
    candidates.into_iter().flatten().find(|p| p.exists())
}

/// The peer implements q0, q1, q2, q5 and q7 (on bids from Flink's datagen).
fn peer_query(query: &str) -> Option<&'static str> {
    match query {
        "q0" => Some("q0"),
        "q1" => Some("q1"),
        "q2" => Some("q2"),
        "q5" => Some("q5"),
        "q7" => Some("q7"),
        _ => None,
    }
}

/// Runs Flink on `query` with parallelism `par` over about `events` rows.
/// Returns `None` (with a note on stderr) when the peer or query is unavailable.
pub fn run(query: &str, par: usize, events: u64) -> anyhow::Result<Option<FlinkRun>> {
    let Some(script) = peer() else {
        eprintln!(
            "note: the Flink peer (../shared/peers/flink/flink-peer) is not here; skipping Flink"
        );
        return Ok(None);
    };
    let Some(q) = peer_query(query) else {
        eprintln!("note: the Flink peer has no {query}; skipping Flink for it");
        return Ok(None);
    };
    let out = std::env::temp_dir().join(format!("spate-flink-{q}-{par}.json"));
    // The windowed queries are several times slower in Flink; keep each
    // peer run near a minute.
    let rows_max = if matches!(q, "q5" | "q7") {
        16_000_000
    } else {
        40_000_000
    };
    let rows = events.clamp(1_000_000, rows_max);
    eprintln!(
        "running Apache Flink on {q} (par {par}, {rows} rows); the first run installs it and takes minutes"
    );
    let status = Command::new(&script)
        .args([
            "one",
            "--query",
            q,
            "--par",
            &par.to_string(),
            "--rows",
            &rows.to_string(),
            "--json",
        ])
        .arg(&out)
        .status()?;
    if !status.success() {
        anyhow::bail!(
            "the Flink peer failed on {q} ({status}); see its log under ~/.cache/spate-flink-peer"
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
        query: q.to_string(),
        par,
        rows,
        net_s,
        per_core,
        rss_mb: get("rss_mb"),
    }))
}
