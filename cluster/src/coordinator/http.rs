//! The coordinator's small HTTP endpoint: health and readiness probes for
//! orchestrators, the cluster's status as JSON, the operations API under
//! `/v1/jobs` ([`super::rest_api`]), and Prometheus metrics.
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
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or(target);
    if method != "GET" {
        return (
            "405 Method Not Allowed",
            TEXT,
            "only GET is served\n".into(),
        );
    }
    if let Some((code, body)) = super::rest_api::route(path, status) {
        return (code, "application/json", body);
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
            "endpoints: /healthz /readyz /v1/status /v1/jobs /v1/jobs/ID /v1/jobs/ID/checkpoints /v1/jobs/ID/backpressure /metrics\n".into(),
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
    if let Some(d) = &s.running_detail {
        metric(
            "spate_job_uptime_ms",
            "Milliseconds since the running job's first attempt started.",
            d.uptime_ms.to_string(),
        );
        metric(
            "spate_job_restarts",
            "Restarts of the running job after failures.",
            d.restarts.to_string(),
        );
        metric(
            "spate_job_checkpoints_completed",
            "Checkpoints the running job completed, over all its attempts.",
            d.checkpoints_completed.to_string(),
        );
    }
    if let Some(c) = s.checkpoints.last() {
        metric(
            "spate_checkpoint_last_duration_ms",
            "From trigger to stored manifest, of the newest completed checkpoint.",
            c.duration_ms.to_string(),
        );
        metric(
            "spate_checkpoint_last_bytes",
            "State bytes the newest completed checkpoint references.",
            c.bytes.to_string(),
        );
        metric(
            "spate_checkpoint_last_completed_unix_ms",
            "When the newest checkpoint completed.",
            c.completed_unix_ms.to_string(),
        );
    }
    let max = s
        .backpressure
        .iter()
        .map(|(_, c)| c.backpressure_ratio)
        .fold(0.0, f64::max);
    metric(
        "spate_backpressure_ratio_max",
        "The highest backpressure ratio of the running job's sending channels.",
        max.to_string(),
    );
    labelled(
        &mut out,
        "spate_worker_heartbeat_age_ms",
        "Milliseconds since each worker's last heartbeat.",
        s.workers.iter().map(|w| {
            (
                format!("worker=\"{}\"", w.worker),
                w.since_heartbeat_ms.to_string(),
            )
        }),
    );
    let channel = |w: &u32, c: &crate::protocol::ChannelPressure| {
        format!(
            "worker=\"{w}\",subtask=\"{}\",peer=\"{}\",channel=\"{}\"",
            c.subtask, c.peer, c.channel
        )
    };
    labelled(
        &mut out,
        "spate_channel_backpressure_ratio",
        "Share of a sending channel's time spent waiting for credit.",
        s.backpressure
            .iter()
            .map(|(w, c)| (channel(w, c), c.backpressure_ratio.to_string())),
    );
    labelled(
        &mut out,
        "spate_channel_outstanding_credit",
        "Credit a sending channel may still use.",
        s.backpressure
            .iter()
            .map(|(w, c)| (channel(w, c), c.outstanding_credit.to_string())),
    );
    out
}

/// A gauge with one sample per label set; nothing when there is none.
fn labelled(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (String, String)>,
) {
    let mut samples = samples.peekable();
    if samples.peek().is_none() {
        return;
    }
    out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n"));
    for (labels, value) in samples {
        out.push_str(&format!("{name}{{{labels}}} {value}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Assignment, ChannelPressure, CheckpointInfo, RunningJob, WorkerStatus};

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
            running_detail: Some(RunningJob {
                parallelism: 4,
                uptime_ms: 9_000,
                restarts: 1,
                checkpoints_completed: 2,
                restored_from: Some(1),
                checkpoint_dir: Some("/ckpt/job-3".into()),
                plan: vec![Assignment {
                    worker: 1,
                    subtask_offset: 0,
                    cores: 2,
                    key_groups: (0, 64),
                }],
            }),
            checkpoints: vec![
                CheckpointInfo {
                    job: 2,
                    id: 1,
                    completed_unix_ms: 1_000,
                    duration_ms: 40,
                    files: 2,
                    bytes: 100,
                },
                CheckpointInfo {
                    job: 3,
                    id: 2,
                    completed_unix_ms: 2_000,
                    duration_ms: 55,
                    files: 3,
                    bytes: 4_096,
                },
            ],
            backpressure: vec![(1, pressure(0, 2, 0.05)), (2, pressure(2, 0, 0.75))],
        }
    }

    fn pressure(subtask: u32, peer: u32, ratio: f64) -> ChannelPressure {
        ChannelPressure {
            subtask,
            peer,
            channel: 7,
            backpressure_ratio: ratio,
            outstanding_credit: 3,
            queued_frames: 1,
        }
    }

    fn json(line: &str) -> (&'static str, serde_json::Value) {
        let (code, ty, body) = route(line, &status(2), 30);
        assert_eq!(ty, "application/json", "{line}");
        (code, serde_json::from_str(&body).unwrap_or_default())
    }

    #[test]
    fn jobs_lists_the_running_job_then_the_recent_ones() {
        let (code, v) = json("GET /v1/jobs HTTP/1.1");
        assert_eq!(code, "200 OK");
        let jobs = v["jobs"].as_array().cloned().unwrap_or_default();
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0]["job"], 3);
        assert_eq!(jobs[0]["state"], "running");
        assert_eq!(jobs[1]["job"], 2);
        assert_eq!(jobs[1]["state"], "failed");
        assert_eq!(jobs[1]["outcome"], "failed: worker 1 disconnected");
        // A query string does not change the route.
        assert_eq!(json("GET /v1/jobs?limit=1 HTTP/1.1").1, v);
    }

    #[test]
    fn one_job_its_checkpoints_and_its_backpressure() {
        let (_, v) = json("GET /v1/jobs/3 HTTP/1.1");
        assert_eq!(v["parallelism"], 4);
        assert_eq!(v["restarts"], 1);
        assert_eq!(v["checkpoints_completed"], 2);
        assert_eq!(v["last_checkpoint"]["id"], 2);
        assert_eq!(v["plan"][0]["key_groups"], serde_json::json!([0, 64]));
        let (_, v) = json("GET /v1/jobs/2 HTTP/1.1");
        assert_eq!(v["running"], false);
        assert_eq!(v["state"], "failed");
        assert_eq!(v["last_checkpoint"]["bytes"], 100);

        let (_, v) = json("GET /v1/jobs/3/checkpoints HTTP/1.1");
        let list = v["checkpoints"].as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1, "only job 3's: {v}");
        assert_eq!(list[0]["id"], 2);
        assert_eq!(list[0]["duration_ms"], 55);
        assert_eq!(list[0]["bytes"], 4_096);
        assert_eq!(list[0]["completed_unix_ms"], 2_000);

        let (_, v) = json("GET /v1/jobs/3/backpressure HTTP/1.1");
        assert_eq!(v["level"], "high");
        assert_eq!(v["max_backpressure_ratio"], 0.75);
        let channels = v["channels"].as_array().cloned().unwrap_or_default();
        assert_eq!(channels.len(), 2);
        assert_eq!(channels[0]["worker"], 2, "most backpressured first");
        assert_eq!(channels[1]["level"], "ok");
        assert_eq!(channels[1]["outstanding_credit"], 3);
        let (_, v) = json("GET /v1/jobs/2/backpressure HTTP/1.1");
        assert_eq!(v["running"], false);
        assert_eq!(v["channels"], serde_json::json!([]));
    }

    #[test]
    fn unknown_jobs_are_404_with_a_sentence() {
        let (code, v) = json("GET /v1/jobs/99 HTTP/1.1");
        assert!(code.starts_with("404"));
        assert!(
            v["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("no job 99 is known here")),
            "{v}"
        );
        let (code, v) = json("GET /v1/jobs/abc HTTP/1.1");
        assert!(code.starts_with("404"));
        assert_eq!(
            v["error"],
            "`abc` is not a job id; GET /v1/jobs lists the jobs"
        );
        assert!(json("GET /v1/jobs/3/nope HTTP/1.1").0.starts_with("404"));
    }

    #[test]
    fn metrics_carry_checkpoints_and_channels() {
        let (_, _, m) = route("GET /metrics HTTP/1.1", &status(2), 30);
        assert!(m.contains("spate_job_restarts 1\n"), "{m}");
        assert!(m.contains("spate_job_checkpoints_completed 2\n"), "{m}");
        assert!(m.contains("spate_checkpoint_last_duration_ms 55\n"), "{m}");
        assert!(m.contains("spate_checkpoint_last_bytes 4096\n"), "{m}");
        assert!(m.contains("spate_backpressure_ratio_max 0.75\n"), "{m}");
        assert!(
            m.contains(
                "spate_channel_backpressure_ratio{worker=\"2\",subtask=\"2\",peer=\"0\",channel=\"7\"} 0.75\n"
            ),
            "{m}"
        );
        assert!(
            m.contains("# TYPE spate_channel_outstanding_credit gauge\n"),
            "{m}"
        );
        // Every sample line belongs to a declared metric.
        for line in m.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            assert!(m.contains(&format!("# TYPE {name} gauge")), "{line}");
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
