//! The coordinator's small HTTP endpoint: health and readiness probes for
//! orchestrators, the cluster's status as JSON, and Prometheus metrics.
//! It reads a snapshot the state thread publishes after every event, so it
//! never touches the state machine itself.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::protocol::StatusReport;

/// The latest status, shared with the HTTP thread.
pub type StatusSnapshot = Arc<Mutex<StatusReport>>;

/// Bytes of a request head read at most; longer heads are refused.
const REQUEST_HEAD_BYTES_MAX: usize = 8 << 10;

/// Serves `listener` on a thread of its own, one request per connection.
pub fn spawn(listener: TcpListener, snapshot: StatusSnapshot) -> std::io::Result<()> {
    thread::Builder::new()
        .name("spate-http".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                if let Err(e) = answer(stream, &snapshot) {
                    tracing::debug!("http request failed: {e}");
                }
            }
        })
        .map(|_| ())
}

fn answer(stream: TcpStream, snapshot: &StatusSnapshot) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    // Drain the headers (bounded), so the client sees a clean answer.
    let mut head = request_line.len();
    loop {
        let mut line = String::new();
        let n = reader.read_line(&mut line)?;
        head += n;
        if n == 0 || line == "\r\n" || line == "\n" || head > REQUEST_HEAD_BYTES_MAX {
            break;
        }
    }
    let status = snapshot.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (code, content_type, body) = route(&request_line, &status, head);
    let mut out = stream;
    write!(
        out,
        "HTTP/1.1 {code}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    out.flush()
}

/// The answer to one request: status line, content type, body.
pub fn route(
    request_line: &str,
    status: &StatusReport,
    head_bytes: usize,
) -> (&'static str, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    if head_bytes > REQUEST_HEAD_BYTES_MAX {
        return (
            "431 Request Header Fields Too Large",
            TEXT,
            "request head too large\n".into(),
        );
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return (
            "405 Method Not Allowed",
            TEXT,
            "only GET is served\n".into(),
        );
    }
    match path {
        "/healthz" => ("200 OK", TEXT, "ok\n".into()),
        "/readyz" if status.workers.is_empty() => (
            "503 Service Unavailable",
            TEXT,
            "no worker has registered yet\n".into(),
        ),
        "/readyz" => ("200 OK", TEXT, "ready\n".into()),
        "/v1/status" => ("200 OK", "application/json", status_json(status)),
        "/metrics" => ("200 OK", "text/plain; version=0.0.4", prometheus(status)),
        _ => (
            "404 Not Found",
            TEXT,
            "endpoints: /healthz /readyz /v1/status /metrics\n".into(),
        ),
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn status_json(s: &StatusReport) -> String {
    let workers: Vec<String> = s
        .workers
        .iter()
        .map(|w| {
            format!(
                "{{\"worker\":{},\"epoch\":{},\"cores\":{},\"pid\":{},\"since_heartbeat_ms\":{},\"job\":{}}}",
                w.worker,
                w.epoch,
                w.cores,
                w.pid,
                w.since_heartbeat_ms,
                w.job.map_or("null".to_string(), |j| j.to_string())
            )
        })
        .collect();
    let job = |(id, name, state): &(u64, String, String)| {
        format!(
            "{{\"job\":{id},\"name\":{},\"state\":{}}}",
            json_str(name),
            json_str(state)
        )
    };
    let running = s.running.as_ref().map_or("null".to_string(), job);
    let finished: Vec<String> = s.finished.iter().map(job).collect();
    format!(
        "{{\"workers\":[{}],\"running\":{running},\"finished\":[{}]}}\n",
        workers.join(","),
        finished.join(",")
    )
}

fn prometheus(s: &StatusReport) -> String {
    let cores: u32 = s.workers.iter().map(|w| w.cores).sum();
    let busy = s.workers.iter().filter(|w| w.job.is_some()).count();
    let failed = s
        .finished
        .iter()
        .filter(|(_, _, o)| o.starts_with("failed"))
        .count();
    let mut out = String::new();
    let mut metric = |name: &str, help: &str, value: String| {
        out.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        ));
    };
    metric(
        "spate_workers",
        "Registered live workers.",
        s.workers.len().to_string(),
    );
    metric(
        "spate_worker_cores",
        "Cores of the registered workers.",
        cores.to_string(),
    );
    metric(
        "spate_workers_busy",
        "Workers running a share of a job.",
        busy.to_string(),
    );
    metric(
        "spate_job_running",
        "1 while a job is deployed or running.",
        u8::from(s.running.is_some()).to_string(),
    );
    metric(
        "spate_jobs_finished_recent",
        "Jobs ended among the recent ones kept for status.",
        s.finished.len().to_string(),
    );
    metric(
        "spate_jobs_failed_recent",
        "Failed jobs among the recent ones.",
        failed.to_string(),
    );
    for w in &s.workers {
        out.push_str(&format!(
            "spate_worker_heartbeat_age_ms{{worker=\"{}\"}} {}\n",
            w.worker, w.since_heartbeat_ms
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::WorkerStatus;

    fn status(workers: usize) -> StatusReport {
        StatusReport {
            workers: (0..workers as u32)
                .map(|w| WorkerStatus {
                    worker: w + 1,
                    epoch: 1,
                    cores: 2,
                    pid: 7,
                    since_heartbeat_ms: 12,
                    job: None,
                })
                .collect(),
            running: Some((3, "nexmark \"q5\"".into(), "running".into())),
            finished: vec![(
                2,
                "late-data".into(),
                "failed: worker 1 disconnected".into(),
            )],
        }
    }

    #[test]
    fn probes_status_and_metrics() {
        assert_eq!(route("GET /healthz HTTP/1.1", &status(0), 30).0, "200 OK");
        assert!(
            route("GET /readyz HTTP/1.1", &status(0), 30)
                .0
                .starts_with("503")
        );
        assert_eq!(route("GET /readyz HTTP/1.1", &status(1), 30).0, "200 OK");
        let (_, ty, body) = route("GET /v1/status HTTP/1.1", &status(2), 30);
        assert_eq!(ty, "application/json");
        assert!(body.contains("\"name\":\"nexmark \\\"q5\\\"\""), "{body}");
        assert!(body.contains("\"worker\":2"), "{body}");
        let (_, _, m) = route("GET /metrics HTTP/1.1", &status(2), 30);
        assert!(
            m.contains("spate_workers 2\n") && m.contains("spate_worker_cores 4\n"),
            "{m}"
        );
        assert!(m.contains("spate_jobs_failed_recent 1\n"), "{m}");
        assert!(
            route("POST /healthz HTTP/1.1", &status(1), 30)
                .0
                .starts_with("405")
        );
        assert!(
            route("GET /nope HTTP/1.1", &status(1), 30)
                .0
                .starts_with("404")
        );
        assert!(
            route("GET /healthz HTTP/1.1", &status(1), 1 << 20)
                .0
                .starts_with("431")
        );
    }
}
