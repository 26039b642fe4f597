//! The coordinator's job record, through its state machine: what it
//! persists while a job runs, and how a new coordinator resumes the job
//! from the record after the old one died (the client attaching again).

#![allow(clippy::unwrap_used)]

use spate::metrics::WireMetrics;
use spate_cluster::coordinator::{
    Action, ConnId, Coordinator, CoordinatorConfig, Event, JobRecord, NO_CLIENT,
};
use spate_cluster::protocol::{CheckpointPlan, JobSpec, ToClient, ToCoordinator, ToWorker};

mod support;
use support::coordinator::{data_ready, msg};

const CLIENT: ConnId = 100;
const CKPT_DIR: &str = "/tmp/ckpt/oracle/cluster-1";

fn cfg() -> CoordinatorConfig {
    CoordinatorConfig {
        heartbeat_timeout_ms: 600_000,
        worker_wait_ms: 5_000,
        ..CoordinatorConfig::default()
    }
}

fn spec() -> JobSpec {
    JobSpec {
        name: "oracle".into(),
        args: vec!["--keys".into(), "60".into()],
        settings: vec!["checkpoint.interval_ms=100".into()],
        from_savepoint: None,
    }
}

/// Registers workers on connections `conns`; their (id, epoch).
fn register(c: &mut Coordinator, now: u64, conns: std::ops::Range<u64>) -> Vec<Action> {
    let mut all = Vec::new();
    for conn in conns {
        all.extend(msg(
            c,
            now,
            conn,
            ToCoordinator::Register {
                cores: 1,
                pid: 1000 + conn as u32,
                launch_token: None,
            },
        ));
    }
    all
}

fn registered(out: &[Action]) -> Vec<(ConnId, u32, u64)> {
    out.iter()
        .filter_map(|a| match a {
            Action::ToWorker {
                conn,
                msg: ToWorker::Registered { worker, epoch, .. },
            } => Some((*conn, *worker, *epoch)),
            _ => None,
        })
        .collect()
}

fn records(out: &[Action]) -> Vec<JobRecord> {
    out.iter()
        .filter_map(|a| match a {
            Action::PersistJob { record } => Some(record.clone()),
            _ => None,
        })
        .collect()
}

fn forgets(out: &[Action]) -> usize {
    out.iter()
        .filter(|a| matches!(a, Action::ForgetJob))
        .count()
}

fn deploys(out: &[Action]) -> Vec<(u64, u64, Option<u64>)> {
    out.iter()
        .filter_map(|a| match a {
            Action::ToWorker {
                msg:
                    ToWorker::Deploy {
                        job,
                        checkpoint_run,
                        restore_checkpoint,
                        ..
                    },
                ..
            } => Some((*job, *checkpoint_run, *restore_checkpoint)),
            _ => None,
        })
        .collect()
}

fn plan() -> CheckpointPlan {
    CheckpointPlan {
        interval_ms: 100,
        timeout_ms: 10_000,
        pause_min_ms: 0,
        dir: CKPT_DIR.into(),
        retained: 2,
        restarts_max: 5,
    }
}

/// Every worker reports its data address and the checkpoint plan.
fn ready(c: &mut Coordinator, now: u64, workers: &[(ConnId, u32, u64)], job: u64) -> Vec<Action> {
    data_ready(c, now, workers, job, &plan())
}

/// Checkpoint `id` is triggered (by a tick at `now`), acknowledged and
/// stored; the actions of the store.
fn checkpoint(
    c: &mut Coordinator,
    now: u64,
    workers: &[(ConnId, u32, u64)],
    (job, id): (u64, u64),
) -> Vec<Action> {
    let out = c.on(now, Event::Tick);
    assert!(
        out.iter().any(|a| matches!(
            a,
            Action::ToWorker { msg: ToWorker::TriggerCheckpoint { id: i, .. }, .. } if *i == id
        )),
        "checkpoint {id} is triggered: {out:?}"
    );
    for &(conn, worker, epoch) in workers {
        let ack = ToCoordinator::CheckpointAck {
            job,
            worker,
            epoch,
            id,
            subtasks_json: "[]".into(),
        };
        msg(c, now + 1, conn, ack);
    }
    let stored = Event::CheckpointStored {
        job,
        id,
        error: None,
        savepoints: Vec::new(),
    };
    c.on(now + 2, stored)
}

fn metrics() -> WireMetrics {
    WireMetrics {
        source_records: 10,
        late_records: 0,
        remote_records_deserialized: 0,
        remote_records_read_in_place: 0,
        sinks: Vec::new(),
    }
}

/// Every share finishes and publishes; the actions of the last report.
fn finish(c: &mut Coordinator, now: u64, workers: &[(ConnId, u32, u64)], job: u64) -> Vec<Action> {
    let mut persisted = Vec::new();
    for &(conn, worker, epoch) in workers {
        let done = ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(),
        };
        persisted.extend(records(&msg(c, now, conn, done)));
    }
    assert!(
        matches!(persisted.as_slice(), [r] if r.publishing),
        "the record says the workers publish before they are told to: {persisted:?}"
    );
    let mut last = Vec::new();
    for &(conn, worker, epoch) in workers {
        let published = ToCoordinator::FinalCommitted {
            job,
            worker,
            epoch,
            error: None,
        };
        last = msg(c, now + 1, conn, published);
    }
    last
}

/// True when `out` persists the job record before its first message to a
/// worker that `sent` matches (and has both).
fn persisted_before(out: &[Action], sent: impl Fn(&ToWorker) -> bool) -> bool {
    let persist = out
        .iter()
        .position(|a| matches!(a, Action::PersistJob { .. }));
    let message = out
        .iter()
        .position(|a| matches!(a, Action::ToWorker { msg, .. } if sent(msg)));
    matches!((persist, message), (Some(p), Some(m)) if p < m)
}

/// A job submitted and running with three workers, one checkpoint stored;
/// the coordinator, its workers, the job's id and the last record.
fn running_job() -> (Coordinator, Vec<(ConnId, u32, u64)>, u64, JobRecord) {
    let mut c = Coordinator::new(cfg(), 0).0;
    let workers = registered(&register(&mut c, 0, 1..4));
    let out = msg(
        &mut c,
        10,
        CLIENT,
        ToCoordinator::Submit {
            spec: spec(),
            parallelism: 3,
        },
    );
    // The record comes before the deployments: attempt ids name files.
    assert!(
        persisted_before(&out, |m| matches!(m, ToWorker::Deploy { .. })),
        "{out:?}"
    );
    let job = deploys(&out)[0].0;
    let rec = records(&ready(&mut c, 20, &workers, job));
    assert_eq!(
        rec.len(),
        1,
        "the checkpoint directory is recorded once known"
    );
    assert_eq!(rec[0].checkpoint_dir.as_deref(), Some(CKPT_DIR));
    let out = checkpoint(&mut c, 200, &workers, (job, 1));
    let rec = records(&out);
    assert_eq!(rec.len(), 1, "{out:?}");
    assert!(
        persisted_before(&out, |m| matches!(m, ToWorker::CheckpointComplete { .. })),
        "recorded before the workers commit: {out:?}"
    );
    (c, workers, job, rec[0].clone())
}

#[test]
fn a_running_job_is_recorded_with_its_newest_checkpoint_and_forgotten_when_it_finishes() {
    let (mut c, workers, job, record) = running_job();
    assert_eq!(
        record,
        JobRecord {
            root: job,
            attempt: job,
            spec: spec(),
            parallelism: 3,
            restarts: 0,
            restarts_max: Some(5),
            checkpoint_dir: Some(CKPT_DIR.into()),
            last_completed: Some(1),
            completed: 1,
            publishing: false,
            final_checkpoint: None,
        }
    );
    let out = finish(&mut c, 400, &workers, job);
    assert_eq!(forgets(&out), 1, "{out:?}");
    assert!(out.iter().any(|a| matches!(
        a,
        Action::ToClient {
            conn: CLIENT,
            msg: ToClient::Finished { .. }
        }
    )));
}

#[test]
fn a_new_coordinator_resumes_the_recorded_job_from_its_checkpoint_and_the_client_attaches() {
    let (_dead, _, job, mut record) = running_job();
    // The old coordinator stored checkpoint 2's manifest but died before
    // recording it: the new one restores what storage holds.
    record.attempt = job + 3;
    let mut c = Coordinator::new(cfg(), 0).0;
    let out = c.recover(record.clone(), Some(2));
    assert!(deploys(&out).is_empty(), "no workers yet");
    let out = msg(&mut c, 5, 900, ToCoordinator::Attach { root: job });
    assert!(
        matches!(
            out.as_slice(),
            [Action::ToClient { conn: 900, msg: ToClient::Attached { root, job: 0 } }] if *root == job
        ),
        "attached while it waits for workers: {out:?}"
    );
    let out = register(&mut c, 10, 1..4);
    let workers = registered(&out);
    let deployed = deploys(&out);
    assert_eq!(deployed.len(), 3, "{out:?}");
    let attempt = deployed[0].0;
    for d in &deployed {
        assert_eq!(
            *d,
            (attempt, job, Some(2)),
            "same run directory, newest checkpoint"
        );
    }
    assert!(
        attempt > record.attempt,
        "attempt ids go on after the record's"
    );
    let rec = records(&out);
    assert_eq!(rec.len(), 1);
    assert_eq!(
        (rec[0].root, rec[0].attempt, rec[0].restarts),
        (job, attempt, 1)
    );
    // The attached client hears of the new attempt, then of its end.
    assert!(out.iter().any(|a| matches!(
        a,
        Action::ToClient {
            conn: 900,
            msg: ToClient::Accepted { .. }
        }
    )));
    ready(&mut c, 20, &workers, attempt);
    let out = checkpoint(&mut c, 200, &workers, (attempt, 3));
    assert_eq!(
        records(&out)[0].last_completed,
        Some(3),
        "ids go on after 2"
    );
    let out = finish(&mut c, 400, &workers, attempt);
    assert_eq!(forgets(&out), 1);
    assert!(out.iter().any(|a| matches!(
        a,
        Action::ToClient {
            conn: 900,
            msg: ToClient::Finished { .. }
        }
    )));
}

#[test]
fn a_job_that_was_publishing_its_final_output_fails_on_recovery_with_the_reason() {
    let (_dead, _, job, mut record) = running_job();
    record.publishing = true;
    let mut c = Coordinator::new(cfg(), 0).0;
    let out = c.recover(record, Some(1));
    assert_eq!(forgets(&out), 1, "{out:?}");
    let out = register(&mut c, 10, 1..4);
    assert!(deploys(&out).is_empty(), "not restarted: {out:?}");
    let out = msg(&mut c, 20, 901, ToCoordinator::Attach { root: job });
    match out.as_slice() {
        [
            Action::ToClient {
                conn: 901,
                msg: ToClient::Failed { reason, .. },
            },
        ] => assert!(
            reason.contains("end-of-input output") && reason.contains("may be incomplete"),
            "{reason}"
        ),
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn attaching_to_an_unknown_job_and_shutting_down_are_answered_plainly() {
    let (mut c, _, job, _) = running_job();
    let out = msg(&mut c, 300, 902, ToCoordinator::Attach { root: job + 50 });
    match out.as_slice() {
        [
            Action::ToClient {
                msg: ToClient::Failed { reason, .. },
                ..
            },
        ] => assert!(reason.contains("knows no job"), "{reason}"),
        other => panic!("expected a failure, got {other:?}"),
    }
    // A cluster shut down on purpose does not resume the job next time.
    let out = msg(&mut c, 310, 903, ToCoordinator::Shutdown);
    assert_eq!(forgets(&out), 1, "{out:?}");
}

#[test]
fn a_resumed_job_that_never_gets_workers_fails_and_is_forgotten() {
    let (_dead, _, _, record) = running_job();
    let mut c = Coordinator::new(cfg(), 0).0;
    let out = c.recover(record, Some(1));
    assert_eq!(forgets(&out), 0);
    let out = c.on(6_000, Event::Tick);
    assert_eq!(forgets(&out), 1, "{out:?}");
    // Nobody attached: the failure goes to no client.
    assert!(out.iter().any(|a| matches!(
        a,
        Action::ToClient {
            conn: NO_CLIENT,
            msg: ToClient::Failed { .. }
        }
    )));
}

/// Every worker's sources read all their input: the final checkpoint `id`
/// starts at once (no interval to wait), is acknowledged and stored; the
/// actions of the store.
fn final_checkpoint(
    c: &mut Coordinator,
    now: u64,
    workers: &[(ConnId, u32, u64)],
    (job, id): (u64, u64),
) -> Vec<Action> {
    for &(conn, worker, epoch) in workers {
        let ended = ToCoordinator::InputEnded { job, worker, epoch };
        assert!(
            msg(c, now, conn, ended).is_empty(),
            "nothing happens before the next tick"
        );
    }
    checkpoint(c, now + 1, workers, (job, id))
}

#[test]
fn the_final_checkpoint_lets_the_sources_end_and_a_job_stopped_while_publishing_resumes_from_it() {
    let (mut c, workers, job, _) = running_job();
    // Checkpoint 1 was at 200; the interval (100) is not up at 250.
    let out = final_checkpoint(&mut c, 250, &workers, (job, 2));
    let rec = records(&out);
    assert_eq!(
        rec.last().and_then(|r| r.final_checkpoint),
        Some(2),
        "{out:?}"
    );
    let sent: Vec<&ToWorker> = out
        .iter()
        .filter_map(|a| match a {
            Action::ToWorker { msg, .. } => Some(msg),
            _ => None,
        })
        .collect();
    let complete = sent
        .iter()
        .position(|m| matches!(m, ToWorker::CheckpointComplete { id: 2, .. }));
    let end = sent
        .iter()
        .position(|m| matches!(m, ToWorker::EndInput { .. }));
    assert!(
        matches!((complete, end), (Some(c), Some(e)) if c < e),
        "each worker commits the final checkpoint, then its sources end: {sent:?}"
    );
    assert_eq!(
        sent.iter()
            .filter(|m| matches!(m, ToWorker::EndInput { .. }))
            .count(),
        3
    );
    // The shares end; the coordinator dies after recording that they
    // publish their last output.
    let mut publishing = Vec::new();
    for &(conn, worker, epoch) in &workers {
        let done = ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(),
        };
        publishing.extend(records(&msg(&mut c, 400, conn, done)));
    }
    let record = publishing.pop().unwrap();
    assert!(record.publishing && record.final_checkpoint == Some(2));
    // A new coordinator resumes the job from its final checkpoint.
    let mut c = Coordinator::new(cfg(), 0).0;
    let out = c.recover(record.clone(), Some(2));
    assert_eq!(forgets(&out), 0, "resumed, not failed: {out:?}");
    let out = register(&mut c, 10, 1..4);
    let workers = registered(&out);
    let deployed = deploys(&out);
    assert_eq!(deployed.len(), 3, "{out:?}");
    assert!(deployed.iter().all(|d| d.2 == Some(2)), "{deployed:?}");
    let attempt = deployed[0].0;
    ready(&mut c, 20, &workers, attempt);
    final_checkpoint(&mut c, 30, &workers, (attempt, 3));
    // It ends before its client attaches again: the client still hears how.
    let out = finish(&mut c, 40, &workers, attempt);
    assert_eq!(forgets(&out), 1);
    let out = msg(&mut c, 50, 904, ToCoordinator::Attach { root: job });
    assert!(
        matches!(
            out.as_slice(),
            [
                Action::ToClient { conn: 904, msg: ToClient::Attached { .. } },
                Action::ToClient { conn: 904, msg: ToClient::Finished { job: j, .. } },
            ] if *j == attempt
        ),
        "{out:?}"
    );
    // Without a final checkpoint in storage, the output may be incomplete.
    let mut c = Coordinator::new(cfg(), 0).0;
    let out = c.recover(record, Some(1));
    assert_eq!(forgets(&out), 1, "{out:?}");
}

#[test]
fn a_worker_lost_while_the_shares_publish_after_a_final_checkpoint_restarts_the_job_from_it() {
    let (mut c, workers, job, _) = running_job();
    final_checkpoint(&mut c, 250, &workers, (job, 2));
    for &(conn, worker, epoch) in &workers {
        let done = ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(),
        };
        msg(&mut c, 400, conn, done);
    }
    let out = c.on(410, Event::Disconnected { conn: workers[0].0 });
    assert_eq!(forgets(&out), 0, "not failed: {out:?}");
    let out = register(&mut c, 420, 10..11);
    let deployed = deploys(&out);
    assert_eq!(deployed.len(), 3, "{out:?}");
    assert!(deployed.iter().all(|d| d.2 == Some(2)), "{deployed:?}");
}
