//! The operations REST API under `/v1/jobs`: jobs, one job, its completed
//! checkpoints and its channels' backpressure, as JSON. Everything comes
//! from the status snapshot the state thread publishes; docs/rest-api.md
//! documents every field.

use serde_json::{Value, json};

use crate::protocol::{ChannelPressure, CheckpointInfo, StatusReport};

/// A backpressure ratio above this is `low` (Flink's thresholds).
const BACKPRESSURE_LOW_RATIO_MIN: f64 = 0.10;
/// A backpressure ratio above this is `high`.
const BACKPRESSURE_HIGH_RATIO_MIN: f64 = 0.50;

/// An answer: status line and JSON body.
pub type JsonAnswer = (&'static str, String);

/// Answers `path` (query stripped) if it is under `/v1/jobs`.
pub fn route(path: &str, s: &StatusReport) -> Option<JsonAnswer> {
    let rest = path.strip_prefix("/v1/jobs")?;
    let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
    let answer = match parts.as_slice() {
        [] => ok(jobs(s)),
        [id, tail @ ..] => {
            let Ok(id) = id.parse::<u64>() else {
                return Some(not_found(format!(
                    "`{id}` is not a job id; GET /v1/jobs lists the jobs"
                )));
            };
            if !known(s, id) {
                return Some(not_found(format!(
                    "no job {id} is known here (the coordinator keeps the running job and the recent ones); GET /v1/jobs lists them"
                )));
            }
            match tail {
                [] => ok(job(s, id)),
                ["checkpoints"] => ok(checkpoints(s, id)),
                ["backpressure"] => ok(backpressure(s, id)),
                _ => not_found(format!(
                    "job {id} has /checkpoints and /backpressure, nothing else"
                )),
            }
        }
    };
    Some(answer)
}

fn ok(body: Value) -> JsonAnswer {
    ("200 OK", format!("{body}\n"))
}

fn not_found(error: String) -> JsonAnswer {
    ("404 Not Found", format!("{}\n", json!({ "error": error })))
}

fn running_id(s: &StatusReport) -> Option<u64> {
    s.running.as_ref().map(|(id, _, _)| *id)
}

fn known(s: &StatusReport, id: u64) -> bool {
    running_id(s) == Some(id) || s.finished.iter().any(|(j, _, _)| *j == id)
}

/// `finished`, `failed`, `restarted`: the outcome's first word.
fn state_of(outcome: &str) -> &str {
    outcome.split(':').next().unwrap_or(outcome)
}

fn jobs(s: &StatusReport) -> Value {
    let mut jobs: Vec<Value> = Vec::new();
    if let Some((id, name, phase)) = &s.running {
        jobs.push(json!({"job": id, "name": name, "state": phase, "running": true}));
    }
    // Newest first, like the running one.
    for (id, name, outcome) in s.finished.iter().rev() {
        jobs.push(json!({
            "job": id, "name": name, "state": state_of(outcome), "outcome": outcome, "running": false,
        }));
    }
    json!({ "jobs": jobs })
}

fn checkpoint_json(c: &CheckpointInfo) -> Value {
    json!({
        "id": c.id,
        "job": c.job,
        "completed_unix_ms": c.completed_unix_ms,
        "duration_ms": c.duration_ms,
        "files": c.files,
        "bytes": c.bytes,
    })
}

fn job(s: &StatusReport, id: u64) -> Value {
    let last = s
        .checkpoints
        .iter()
        .rev()
        .find(|c| c.job == id)
        .map_or(Value::Null, checkpoint_json);
    if let (Some((_, name, phase)), Some(d)) = (&s.running, &s.running_detail)
        && running_id(s) == Some(id)
    {
        let plan: Vec<Value> = d
            .plan
            .iter()
            .map(|a| {
                json!({
                    "worker": a.worker,
                    "subtask_offset": a.subtask_offset,
                    "cores": a.cores,
                    "key_groups": [a.key_groups.0, a.key_groups.1],
                })
            })
            .collect();
        return json!({
            "job": id, "name": name, "state": phase, "running": true,
            "parallelism": d.parallelism,
            "uptime_ms": d.uptime_ms,
            "restarts": d.restarts,
            "restored_from": d.restored_from,
            "checkpoint_dir": d.checkpoint_dir,
            "checkpoints_completed": d.checkpoints_completed,
            "last_checkpoint": last,
            "plan": plan,
        });
    }
    let (name, outcome) = s
        .finished
        .iter()
        .rev()
        .find(|(j, _, _)| *j == id)
        .map(|(_, n, o)| (n.as_str(), o.as_str()))
        .unwrap_or_default();
    json!({
        "job": id, "name": name, "state": state_of(outcome), "outcome": outcome, "running": false,
        "last_checkpoint": last,
    })
}

fn checkpoints(s: &StatusReport, id: u64) -> Value {
    let list: Vec<Value> = s
        .checkpoints
        .iter()
        .filter(|c| c.job == id)
        .map(checkpoint_json)
        .collect();
    json!({ "job": id, "checkpoints": list })
}

/// `ok`, `low` or `high`, as Flink's web UI grades a ratio.
pub fn level(ratio: f64) -> &'static str {
    if ratio > BACKPRESSURE_HIGH_RATIO_MIN {
        "high"
    } else if ratio > BACKPRESSURE_LOW_RATIO_MIN {
        "low"
    } else {
        "ok"
    }
}

fn channel_json(worker: u32, c: &ChannelPressure) -> Value {
    json!({
        "worker": worker,
        "subtask": c.subtask,
        "peer": c.peer,
        "channel": c.channel,
        "backpressure_ratio": c.backpressure_ratio,
        "level": level(c.backpressure_ratio),
        "outstanding_credit": c.outstanding_credit,
        "queued_frames": c.queued_frames,
    })
}

fn backpressure(s: &StatusReport, id: u64) -> Value {
    let running = running_id(s) == Some(id);
    let mut channels: Vec<&(u32, ChannelPressure)> = if running {
        s.backpressure.iter().collect()
    } else {
        Vec::new()
    };
    channels.sort_by(|a, b| b.1.backpressure_ratio.total_cmp(&a.1.backpressure_ratio));
    let max = channels.first().map_or(0.0, |c| c.1.backpressure_ratio);
    json!({
        "job": id,
        "running": running,
        "max_backpressure_ratio": max,
        "level": level(max),
        "channels": channels.iter().map(|(w, c)| channel_json(*w, c)).collect::<Vec<_>>(),
    })
}
