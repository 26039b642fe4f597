//! `spate status`: the cluster as the coordinator's operations API
//! (docs/rest-api.md) shows it, as tables: workers, the running job, its
//! checkpoints and its channels' backpressure.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

/// Bytes of one API answer read at most.
const RESPONSE_BYTES_MAX: u64 = 8 << 20;
/// Time limit of one request.
const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// Checkpoints and channels shown at most.
const ROWS_MAX: usize = 10;

/// `spate status`.
#[derive(Args, Debug)]
pub struct StatusArgs {
    /// The coordinator's HTTP address, `HOST:PORT` (its --http).
    #[arg(long, value_name = "HOST:PORT")]
    coordinator: Option<String>,
    /// A local cluster's directory (`spate cluster start` writes `http.addr` there).
    #[arg(long, default_value = "./spate-cluster")]
    dir: PathBuf,
}

/// Runs `spate status`.
pub fn run(args: StatusArgs) -> anyhow::Result<()> {
    let addr = match args.coordinator {
        Some(a) => a,
        None => {
            let path = args.dir.join("http.addr");
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "cannot read {}; is a cluster running there (`spate cluster start --dir {}`)? Or pass --coordinator HOST:PORT (the coordinator's --http address)",
                        path.display(),
                        args.dir.display()
                    )
                })?
                .trim()
                .to_string()
        }
    };
    print!("{}", render(&addr, &|path| get(&addr, path))?);
    Ok(())
}

/// One GET of the API, parsed as JSON.
pub fn get(addr: &str, path: &str) -> anyhow::Result<Value> {
    let timeout = Duration::from_millis(REQUEST_TIMEOUT_MS);
    let sock = addr
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {addr}"))?
        .next()
        .with_context(|| format!("{addr} has no address"))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)
        .with_context(|| format!("cannot reach the coordinator's HTTP endpoint at {addr}"))?;
    stream.set_read_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    stream
        .take(RESPONSE_BYTES_MAX)
        .read_to_end(&mut raw)
        .with_context(|| format!("reading the answer to GET {path} from {addr} failed"))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("");
    if !status.contains(" 200 ") {
        bail!(
            "GET {path} from {addr} answered `{status}`: {}",
            body.trim()
        );
    }
    serde_json::from_str(body)
        .with_context(|| format!("GET {path} from {addr} did not answer JSON"))
}

/// The tables, from the API answers `get` returns.
pub fn render(addr: &str, get: &dyn Fn(&str) -> anyhow::Result<Value>) -> anyhow::Result<String> {
    let status = get("/v1/status")?;
    let jobs = get("/v1/jobs")?;
    let mut out = format!("coordinator   {addr}\n");
    let workers = status["workers"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!("workers       {}\n", workers.len()));
    if !workers.is_empty() {
        out.push_str("  WORKER  PID       CORES  EPOCH  HEARTBEAT  JOB\n");
        for w in &workers {
            out.push_str(&format!(
                "  {:<7} {:<9} {:<6} {:<6} {:<10} {}\n",
                cell(&w["worker"]),
                cell(&w["pid"]),
                cell(&w["cores"]),
                cell(&w["epoch"]),
                format!("{} ms", w["since_heartbeat_ms"]),
                cell(&w["job"]),
            ));
        }
    }
    let list = jobs["jobs"].as_array().cloned().unwrap_or_default();
    let running = list.iter().find(|j| j["running"] == true);
    match running.and_then(|j| j["job"].as_u64()) {
        None => out.push_str("running       none\n"),
        Some(id) => {
            let job = get(&format!("/v1/jobs/{id}"))?;
            out.push_str(&format!(
                "running       job {id} ({}), {}, parallelism {}, up {:.1} s, {} restarts\n",
                job["name"].as_str().unwrap_or("?"),
                job["state"].as_str().unwrap_or("?"),
                cell(&job["parallelism"]),
                job["uptime_ms"].as_f64().unwrap_or(0.0) / 1000.0,
                cell(&job["restarts"]),
            ));
            checkpoints(&mut out, &job, &get(&format!("/v1/jobs/{id}/checkpoints"))?);
            backpressure(&mut out, &get(&format!("/v1/jobs/{id}/backpressure"))?);
        }
    }
    let recent: Vec<&Value> = list.iter().filter(|j| j["running"] == false).collect();
    if !recent.is_empty() {
        out.push_str("recent jobs\n");
        for j in recent.iter().take(ROWS_MAX) {
            out.push_str(&format!(
                "  job {} ({}) {}\n",
                cell(&j["job"]),
                j["name"].as_str().unwrap_or("?"),
                j["outcome"].as_str().unwrap_or("?")
            ));
        }
    }
    Ok(out)
}

fn checkpoints(out: &mut String, job: &Value, list: &Value) {
    let list = list["checkpoints"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!(
        "checkpoints   {} completed{}\n",
        cell(&job["checkpoints_completed"]),
        job["checkpoint_dir"]
            .as_str()
            .map(|d| format!(" in {d}"))
            .unwrap_or_default()
    ));
    if list.is_empty() {
        return;
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    out.push_str("  ID      COMPLETED    DURATION  FILES  SIZE\n");
    for c in list.iter().rev().take(ROWS_MAX) {
        let ago_ms = now_ms.saturating_sub(c["completed_unix_ms"].as_u64().unwrap_or(0));
        out.push_str(&format!(
            "  {:<7} {:<12} {:<9} {:<6} {}\n",
            cell(&c["id"]),
            format!("{:.1} s ago", ago_ms as f64 / 1000.0),
            format!("{} ms", c["duration_ms"]),
            cell(&c["files"]),
            human_bytes(c["bytes"].as_u64().unwrap_or(0)),
        ));
    }
}

fn backpressure(out: &mut String, bp: &Value) {
    let channels = bp["channels"].as_array().cloned().unwrap_or_default();
    out.push_str(&format!(
        "backpressure  max {:.2} ({}) over {} channels\n",
        bp["max_backpressure_ratio"].as_f64().unwrap_or(0.0),
        bp["level"].as_str().unwrap_or("?"),
        channels.len()
    ));
    if channels.is_empty() {
        return;
    }
    out.push_str("  WORKER  SUBTASK  PEER  CHANNEL  RATIO  LEVEL  CREDIT  QUEUED\n");
    for c in channels.iter().take(ROWS_MAX) {
        out.push_str(&format!(
            "  {:<7} {:<8} {:<5} {:<8} {:<6} {:<6} {:<7} {}\n",
            cell(&c["worker"]),
            cell(&c["subtask"]),
            cell(&c["peer"]),
            cell(&c["channel"]),
            format!("{:.2}", c["backpressure_ratio"].as_f64().unwrap_or(0.0)),
            c["level"].as_str().unwrap_or("?"),
            cell(&c["outstanding_credit"]),
            cell(&c["queued_frames"]),
        ));
    }
}

/// A JSON value as a table cell: `Value`'s own Display ignores width.
fn cell(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 4] = ["B", "KiB", "MiB", "GiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_workers_job_checkpoints_and_channels() {
        let answers = |path: &str| -> anyhow::Result<Value> {
            Ok(match path {
                "/v1/status" => json!({"workers": [
                    {"worker": 1, "epoch": 1, "cores": 2, "pid": 41, "since_heartbeat_ms": 120, "job": 3},
                    {"worker": 2, "epoch": 1, "cores": 2, "pid": 42, "since_heartbeat_ms": 80, "job": null}]}),
                "/v1/jobs" => json!({"jobs": [
                    {"job": 3, "name": "nexmark", "state": "running", "running": true},
                    {"job": 2, "name": "oracle", "state": "failed", "outcome": "failed: worker 2 disconnected", "running": false}]}),
                "/v1/jobs/3" => {
                    json!({"job": 3, "name": "nexmark", "state": "running", "parallelism": 4,
                    "uptime_ms": 12_345, "restarts": 1, "checkpoints_completed": 7, "checkpoint_dir": "/ckpt/3"})
                }
                "/v1/jobs/3/checkpoints" => json!({"job": 3, "checkpoints": [
                    {"id": 7, "job": 3, "completed_unix_ms": 0, "duration_ms": 55, "files": 4, "bytes": 3_145_728}]}),
                "/v1/jobs/3/backpressure" => {
                    json!({"job": 3, "max_backpressure_ratio": 0.75, "level": "high", "channels": [
                    {"worker": 2, "subtask": 2, "peer": 0, "channel": 5, "backpressure_ratio": 0.75, "level": "high",
                     "outstanding_credit": 0, "queued_frames": 3}]})
                }
                other => anyhow::bail!("unexpected {other}"),
            })
        };
        let out = render("127.0.0.1:8081", &answers).unwrap_or_else(|e| e.to_string());
        assert!(out.contains("workers       2\n"), "{out}");
        assert!(
            out.contains("  1       41        2      1      120 ms     3\n"),
            "{out}"
        );
        assert!(
            out.contains("  2       42        2      1      80 ms      -\n"),
            "{out}"
        );
        assert!(
            out.contains(
                "running       job 3 (nexmark), running, parallelism 4, up 12.3 s, 1 restarts\n"
            ),
            "{out}"
        );
        assert!(
            out.contains("checkpoints   7 completed in /ckpt/3\n"),
            "{out}"
        );
        assert!(out.contains(" 55 ms     4      3.0 MiB\n"), "{out}");
        assert!(
            out.contains("backpressure  max 0.75 (high) over 1 channels\n"),
            "{out}"
        );
        assert!(
            out.contains("  2       2        0     5        0.75   high   0       3\n"),
            "{out}"
        );
        assert!(
            out.contains("  job 2 (oracle) failed: worker 2 disconnected\n"),
            "{out}"
        );
    }

    #[test]
    fn an_idle_cluster_says_none() {
        let answers = |path: &str| -> anyhow::Result<Value> {
            Ok(match path {
                "/v1/status" => json!({"workers": []}),
                _ => json!({"jobs": []}),
            })
        };
        let out = render("h:1", &answers).unwrap_or_else(|e| e.to_string());
        assert_eq!(
            out,
            "coordinator   h:1\nworkers       0\nrunning       none\n"
        );
    }
}
