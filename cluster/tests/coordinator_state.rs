//! The coordinator's state machine, driven event by event with a simulated
//! clock: registration, deployment, completion, heartbeat loss, fencing and
//! the scheduler's waiting for workers.

#![allow(clippy::unwrap_used)]

use spate::metrics::WireMetrics;
use spate_cluster::coordinator::{Action, ConnId, Coordinator, CoordinatorConfig, Event};
use spate_cluster::protocol::{JobSpec, ToClient, ToCoordinator, ToWorker};

mod support;
use support::coordinator::{data_ready, msg};

const CLIENT: ConnId = 100;

fn cfg() -> CoordinatorConfig {
    CoordinatorConfig {
        heartbeat_interval_ms: 100,
        heartbeat_timeout_ms: 1_000,
        worker_wait_ms: 5_000,
        deploy_timeout_ms: 3_000,
        ..CoordinatorConfig::default()
    }
}

/// For tests about something else than liveness: no worker times out.
fn cfg_without_heartbeat_loss() -> CoordinatorConfig {
    CoordinatorConfig {
        heartbeat_timeout_ms: 600_000,
        ..cfg()
    }
}

/// Registers `n` workers of `cores` cores on connections 1..=n; returns (id, epoch) of each.
fn register(c: &mut Coordinator, n: u64, cores: u32) -> Vec<(u32, u64)> {
    (1..=n)
        .map(|conn| {
            let out = msg(
                c,
                0,
                conn,
                ToCoordinator::Register {
                    cores,
                    pid: 1000 + conn as u32,
                    launch_token: None,
                },
            );
            out.iter()
                .find_map(|a| match a {
                    Action::ToWorker {
                        msg: ToWorker::Registered { worker, epoch, .. },
                        ..
                    } => Some((*worker, *epoch)),
                    _ => None,
                })
                .unwrap()
        })
        .collect()
}

fn spec() -> JobSpec {
    JobSpec {
        name: "nexmark".into(),
        args: vec!["--query".into(), "q5".into()],
        settings: vec![],
        from_savepoint: None,
    }
}

fn to_workers(out: &[Action]) -> Vec<(ConnId, ToWorker)> {
    out.iter()
        .filter_map(|a| match a {
            Action::ToWorker { conn, msg } => Some((*conn, msg.clone())),
            _ => None,
        })
        .collect()
}

fn to_client(out: &[Action]) -> Vec<ToClient> {
    out.iter()
        .filter_map(|a| match a {
            Action::ToClient { conn: CLIENT, msg } => Some(msg.clone()),
            _ => None,
        })
        .collect()
}

fn metrics(records: u64, checksum: u64) -> WireMetrics {
    WireMetrics {
        source_records: records,
        late_records: 0,
        remote_records_deserialized: 0,
        remote_records_read_in_place: 0,
        sinks: vec![("output".into(), records, checksum, vec![(1_000, records)])],
    }
}

fn deploy_three(c: &mut Coordinator) -> (Vec<(u32, u64)>, u64) {
    let workers = register(c, 3, 1);
    let out = msg(
        c,
        10,
        CLIENT,
        ToCoordinator::Submit {
            spec: spec(),
            parallelism: 3,
        },
    );
    let deploys = to_workers(&out);
    assert_eq!(deploys.len(), 3, "{out:?}");
    let mut offsets: Vec<u32> = deploys
        .iter()
        .map(|(_, m)| match m {
            ToWorker::Deploy {
                subtask_offset,
                cores,
                parallelism,
                ..
            } => {
                assert_eq!((*cores, *parallelism), (1, 3));
                *subtask_offset
            }
            other => panic!("expected Deploy, got {other:?}"),
        })
        .collect();
    offsets.sort();
    assert_eq!(offsets, vec![0, 1, 2]);
    let job = match to_client(&out).as_slice() {
        [ToClient::Accepted { job, plan }] => {
            assert_eq!(plan.len(), 3);
            *job
        }
        other => panic!("expected Accepted, got {other:?}"),
    };
    (workers, job)
}

#[test]
fn a_job_is_deployed_started_and_its_results_merged() {
    let (mut c, first) = Coordinator::new(cfg(), 0);
    assert!(first.is_empty());
    let (workers, job) = deploy_three(&mut c);
    // Start goes out only when every worker listens.
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let out = msg(
            &mut c,
            20,
            i as u64 + 1,
            ToCoordinator::DataReady {
                job,
                worker,
                epoch,
                addrs: vec![format!("127.0.0.1:{}", 7000 + i)],
                checkpoints: None,
            },
        );
        let starts = to_workers(&out);
        if i < 2 {
            assert!(starts.is_empty());
        } else {
            assert_eq!(starts.len(), 3);
            for (_, m) in starts {
                let ToWorker::Start { slots, .. } = m else {
                    panic!("expected Start");
                };
                let addrs: Vec<&str> = slots.iter().map(|s| s.addr.as_str()).collect();
                assert_eq!(
                    addrs,
                    ["127.0.0.1:7000", "127.0.0.1:7001", "127.0.0.1:7002"]
                );
            }
        }
    }
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        msg(
            &mut c,
            500,
            i as u64 + 1,
            ToCoordinator::JobDone {
                job,
                worker,
                epoch,
                metrics: metrics(10 * (i as u64 + 1), u64::MAX - i as u64),
            },
        );
    }
    let last = commit_all_finals(&mut c, &workers, job);
    match to_client(&last).as_slice() {
        [ToClient::Finished { metrics: m, .. }] => {
            assert_eq!(m.source_records, 60);
            let expected = (u64::MAX)
                .wrapping_add(u64::MAX - 1)
                .wrapping_add(u64::MAX - 2);
            assert_eq!(m.sinks[0].2, expected, "checksums add up, wrapping");
            assert_eq!(m.sinks[0].1, 60);
        }
        other => panic!("expected Finished, got {other:?}"),
    }
    assert!(c.status().running.is_none());
    assert_eq!(c.status().finished.len(), 1);
}

#[test]
fn a_silent_worker_fails_the_job_and_is_fenced_when_it_comes_back() {
    let (mut c, _) = Coordinator::new(cfg(), 0);
    let (workers, job) = deploy_three(&mut c);
    // Workers 1 and 2 keep beating; worker 3 (conn 3) goes silent.
    for t in (100..=1_200).step_by(100) {
        for (i, &(worker, epoch)) in workers.iter().take(2).enumerate() {
            assert!(
                msg(
                    &mut c,
                    t,
                    i as u64 + 1,
                    ToCoordinator::Heartbeat { worker, epoch }
                )
                .is_empty()
            );
        }
        let out = c.on(t, Event::Tick);
        if t <= 1_000 {
            assert!(
                to_client(&out).is_empty(),
                "nothing fails before the timeout"
            );
            continue;
        }
        let failed = to_client(&out);
        let [ToClient::Failed { job: j, reason }] = failed.as_slice() else {
            panic!("expected the job to fail at {t}: {out:?}");
        };
        assert_eq!(*j, job);
        assert!(
            reason.contains("worker 3") && reason.contains("no heartbeat"),
            "{reason}"
        );
        let cancels = to_workers(&out)
            .into_iter()
            .filter(|(_, m)| matches!(m, ToWorker::Cancel { .. }))
            .count();
        assert_eq!(cancels, 2, "the surviving workers cancel their shares");
        assert!(out.contains(&Action::Close { conn: 3 }));
        break;
    }
    // The paused worker resumes with its old epoch: it is fenced, and its
    // late report changes nothing.
    let (worker, epoch) = workers[2];
    let out = msg(&mut c, 2_000, 3, ToCoordinator::Heartbeat { worker, epoch });
    assert!(matches!(
        to_workers(&out).as_slice(),
        [(3, ToWorker::Fenced { .. })]
    ));
    assert!(out.contains(&Action::Close { conn: 3 }));
    let out = msg(
        &mut c,
        2_001,
        3,
        ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(1, 1),
        },
    );
    assert!(to_client(&out).is_empty());
    assert_eq!(c.status().workers.len(), 2);
}

#[test]
fn a_job_waits_for_enough_workers_then_gives_up_with_a_sentence() {
    let (mut c, _) = Coordinator::new(cfg(), 0);
    register(&mut c, 1, 2);
    let out = msg(
        &mut c,
        0,
        CLIENT,
        ToCoordinator::Submit {
            spec: spec(),
            parallelism: 4,
        },
    );
    assert!(to_client(&out).is_empty(), "waits for workers");
    // A second 2-core worker arrives: the job is deployed over both.
    let out = msg(
        &mut c,
        100,
        2,
        ToCoordinator::Register {
            cores: 2,
            pid: 2,
            launch_token: None,
        },
    );
    assert_eq!(
        to_workers(&out)
            .iter()
            .filter(|(_, m)| matches!(m, ToWorker::Deploy { .. }))
            .count(),
        2
    );
    // A cluster busy with that job refuses another.
    let out = msg(
        &mut c,
        200,
        101,
        ToCoordinator::Submit {
            spec: spec(),
            parallelism: 1,
        },
    );
    assert!(matches!(
        out.as_slice(),
        [Action::ToClient { conn: 101, msg: ToClient::Failed { reason, .. } }] if reason.contains("busy")
    ));

    let (mut c, _) = Coordinator::new(cfg_without_heartbeat_loss(), 0);
    register(&mut c, 1, 1);
    msg(
        &mut c,
        0,
        CLIENT,
        ToCoordinator::Submit {
            spec: spec(),
            parallelism: 3,
        },
    );
    let out = c.on(5_001, Event::Tick);
    let failed = to_client(&out);
    let [ToClient::Failed { reason, .. }] = failed.as_slice() else {
        panic!("{out:?}");
    };
    assert!(
        reason.contains("needs 3 cores") && reason.contains("have 1"),
        "{reason}"
    );
}

#[test]
fn a_lost_worker_is_replaced_through_the_launcher() {
    let (mut c, first) = Coordinator::new(
        CoordinatorConfig {
            workers_target: 3,
            ..cfg()
        },
        0,
    );
    assert_eq!(first, vec![Action::Launch { count: 3 }]);
    register(&mut c, 3, 1);
    let out = c.on(50, Event::Disconnected { conn: 2 });
    assert!(out.contains(&Action::Launch { count: 1 }), "{out:?}");
    assert_eq!(c.status().workers.len(), 2);
}

#[test]
fn a_deployment_that_never_completes_times_out() {
    let (mut c, _) = Coordinator::new(cfg_without_heartbeat_loss(), 0);
    let (_, job) = deploy_three(&mut c);
    let out = c.on(3_011, Event::Tick);
    let failed = to_client(&out);
    assert!(
        matches!(failed.as_slice(), [ToClient::Failed { job: j, reason }] if *j == job && reason.contains("data listeners")),
        "{out:?}"
    );
}

fn plan() -> spate_cluster::protocol::CheckpointPlan {
    spate_cluster::protocol::CheckpointPlan {
        interval_ms: 100,
        timeout_ms: 10_000,
        pause_min_ms: 0,
        dir: "/tmp/ckpt/nexmark/cluster-1".into(),
        retained: 3,
        restarts_max: 2,
    }
}

/// Deploys q5 on three workers with checkpoints and starts it.
fn run_checkpointed(c: &mut Coordinator) -> (Vec<(u32, u64)>, u64) {
    let (workers, job) = deploy_three(c);
    all_data_ready(c, &workers, job);
    (workers, job)
}

/// Checkpoint 1 of `job` is triggered, acknowledged by every worker and
/// stored.
fn store_first_checkpoint(c: &mut Coordinator, workers: &[(u32, u64)], job: u64) {
    c.on(200, Event::Tick);
    ack_all(c, 210, workers, job, 1);
    let stored = Event::CheckpointStored {
        job,
        id: 1,
        error: None,
        savepoints: Vec::new(),
    };
    c.on(220, stored);
}

/// Every worker of `job` reports its data address, with checkpoints.
fn all_data_ready(c: &mut Coordinator, workers: &[(u32, u64)], job: u64) {
    let conns: Vec<(ConnId, u32, u64)> = workers
        .iter()
        .enumerate()
        .map(|(i, &(worker, epoch))| (i as u64 + 1, worker, epoch))
        .collect();
    data_ready(c, 20, &conns, job, &plan());
}

fn triggered(out: &[Action]) -> Vec<u64> {
    to_workers(out)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::TriggerCheckpoint { id, .. } => Some(id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_checkpoint_completes_when_every_worker_acknowledged_and_its_manifest_is_stored() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    let out = c.on(200, Event::Tick);
    assert_eq!(triggered(&out), vec![1, 1, 1], "every worker is told");
    let mut store = Vec::new();
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let ack = ToCoordinator::CheckpointAck {
            job,
            worker,
            epoch,
            id: 1,
            subtasks_json: format!("[{i}]"),
        };
        store = msg(&mut c, 210, i as u64 + 1, ack);
        if i < 2 {
            assert!(
                !store
                    .iter()
                    .any(|a| matches!(a, Action::StoreCheckpoint { .. })),
                "not before the last worker"
            );
        }
    }
    let parts = store
        .iter()
        .find_map(|a| match a {
            Action::StoreCheckpoint { id: 1, parts, .. } => Some(parts.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(parts.len(), 3);
    // Workers commit only once the manifest is durable.
    assert!(to_workers(&store).is_empty());
    let out = c.on(
        220,
        Event::CheckpointStored {
            job,
            id: 1,
            error: None,
            savepoints: Vec::new(),
        },
    );
    let completes = to_workers(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, ToWorker::CheckpointComplete { id: 1, .. }))
        .count();
    assert_eq!(completes, 3);
}

#[test]
fn a_lost_worker_restarts_the_job_from_the_last_stored_checkpoint() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    store_first_checkpoint(&mut c, &workers, job);
    // Worker 3 dies; a fourth registers in its place.
    let out = c.on(300, Event::Disconnected { conn: 3 });
    assert!(
        to_client(&out).is_empty(),
        "the client is not told of a failure: {out:?}"
    );
    let cancels = to_workers(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, ToWorker::Cancel { .. }))
        .count();
    assert_eq!(cancels, 2, "the surviving workers stop the attempt");
    let out = msg(
        &mut c,
        310,
        4,
        ToCoordinator::Register {
            cores: 1,
            pid: 2000,
            launch_token: None,
        },
    );
    let redeployed: Vec<(u64, Option<u64>, u64)> = to_workers(&out)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Deploy {
                job,
                checkpoint_run,
                restore_checkpoint,
                ..
            } => Some((checkpoint_run, restore_checkpoint, job)),
            _ => None,
        })
        .collect();
    assert_eq!(redeployed.len(), 3, "{out:?}");
    for (run, restore, new_job) in redeployed {
        assert_eq!(run, job, "the attempts share the first one's checkpoints");
        assert_eq!(restore, Some(1));
        assert!(new_job > job);
    }
}

/// Two workers die at once (a burst of `kill -9`): the first loss
/// redeploys the job on the survivors and a spare at once, then the second
/// loss hits that attempt while it is still deploying, before its workers
/// report the checkpoint plan again. It restarts from the last checkpoint
/// too; it used to fail as a job without checkpoints (found by
/// `spate-torture run --suite kill --long`).
#[test]
fn a_job_that_breaks_again_while_redeploying_restarts_from_its_checkpoint() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    store_first_checkpoint(&mut c, &workers, job);
    let spare = ToCoordinator::Register {
        cores: 1,
        pid: 2000,
        launch_token: None,
    };
    msg(&mut c, 230, 4, spare);
    let out = c.on(300, Event::Disconnected { conn: 3 });
    let redeployed = to_workers(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, ToWorker::Deploy { .. }))
        .count();
    assert_eq!(redeployed, 3, "redeployed at once on the spare: {out:?}");
    // The second worker of the burst goes before the new attempt reported.
    let out = c.on(301, Event::Disconnected { conn: 2 });
    assert!(
        to_client(&out).is_empty(),
        "the client is not told of a failure: {out:?}"
    );
    let replacement = ToCoordinator::Register {
        cores: 1,
        pid: 2001,
        launch_token: None,
    };
    let out = msg(&mut c, 310, 5, replacement);
    let restores: Vec<Option<u64>> = to_workers(&out)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Deploy {
                restore_checkpoint, ..
            } => Some(restore_checkpoint),
            _ => None,
        })
        .collect();
    assert_eq!(restores, vec![Some(1); 3], "{out:?}");
}

#[test]
fn a_job_without_checkpoints_fails_when_a_worker_is_lost() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    deploy_three(&mut c);
    let out = c.on(300, Event::Disconnected { conn: 3 });
    assert!(
        matches!(to_client(&out).as_slice(), [ToClient::Failed { .. }]),
        "{out:?}"
    );
}

#[test]
fn end_of_input_output_is_published_only_after_every_share_succeeded() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let done = ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(10, 7),
        };
        let out = msg(&mut c, 500 + i as u64, i as u64 + 1, done);
        let commits = to_workers(&out)
            .into_iter()
            .filter(|(_, m)| matches!(m, ToWorker::CommitFinal { .. }))
            .count();
        if i < 2 {
            assert_eq!(commits, 0, "not while a share may still fail");
        } else {
            assert_eq!(commits, 3, "every worker publishes once all succeeded");
            assert!(
                to_client(&out).is_empty(),
                "the client waits until the output is published: {out:?}"
            );
        }
    }
    let out = commit_all_finals(&mut c, &workers, job);
    assert!(matches!(
        to_client(&out).as_slice(),
        [ToClient::Finished { .. }]
    ));
}

/// Every worker reports its end-of-input output published; the actions
/// of the last report.
fn commit_all_finals(c: &mut Coordinator, workers: &[(u32, u64)], job: u64) -> Vec<Action> {
    let mut last = Vec::new();
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let done = ToCoordinator::FinalCommitted {
            job,
            worker,
            epoch,
            error: None,
        };
        let out = msg(c, 600, i as u64 + 1, done);
        if i < workers.len() - 1 {
            assert!(to_client(&out).is_empty(), "not before the last: {out:?}");
        }
        last = out;
    }
    last
}

/// A worker that finished its share dies before the others finish: its
/// end-of-input output (in its memory) is gone, so the job restarts from
/// its checkpoint instead of finishing without that output.
#[test]
fn a_worker_lost_after_finishing_its_share_restarts_the_job() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    let (worker, epoch) = workers[2];
    let done = ToCoordinator::JobDone {
        job,
        worker,
        epoch,
        metrics: metrics(10, 7),
    };
    msg(&mut c, 500, 3, done);
    let out = c.on(510, Event::Disconnected { conn: 3 });
    let cancels = to_workers(&out)
        .into_iter()
        .filter(|(_, m)| matches!(m, ToWorker::Cancel { .. }))
        .count();
    assert_eq!(cancels, 2, "the attempt restarts: {out:?}");
    assert!(to_client(&out).is_empty(), "{out:?}");
}

/// A worker lost while the others publish their end-of-input output: the
/// job fails with a sentence, never reports success without that output.
#[test]
fn a_worker_lost_while_publishing_the_final_output_fails_the_job() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let done = ToCoordinator::JobDone {
            job,
            worker,
            epoch,
            metrics: metrics(10, 7),
        };
        msg(&mut c, 500, i as u64 + 1, done);
    }
    let (worker, epoch) = workers[0];
    let published = ToCoordinator::FinalCommitted {
        job,
        worker,
        epoch,
        error: None,
    };
    msg(&mut c, 600, 1, published);
    let out = c.on(610, Event::Disconnected { conn: 3 });
    assert!(
        matches!(to_client(&out).as_slice(), [ToClient::Failed { reason, .. }] if reason.contains("end-of-input output")),
        "{out:?}"
    );
}

/// Acknowledges checkpoint `id` from every worker.
fn ack_all(
    c: &mut Coordinator,
    now: u64,
    workers: &[(u32, u64)],
    job: u64,
    id: u64,
) -> Vec<Action> {
    let mut out = Vec::new();
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let ack = ToCoordinator::CheckpointAck {
            job,
            worker,
            epoch,
            id,
            subtasks_json: "[]".into(),
        };
        out = msg(c, now, i as u64 + 1, ack);
    }
    out
}

#[test]
fn a_savepoint_request_starts_a_checkpoint_at_once_and_answers_when_it_is_written() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    const ASKER: ConnId = 200;
    // Long before the interval is up.
    let out = msg(
        &mut c,
        21,
        ASKER,
        ToCoordinator::Savepoint {
            job: 0,
            target: "/sp/one".into(),
        },
    );
    assert_eq!(triggered(&out), vec![1, 1, 1]);
    let out = ack_all(&mut c, 30, &workers, job, 1);
    let targets = out
        .iter()
        .find_map(|a| match a {
            Action::StoreCheckpoint { savepoint_to, .. } => Some(savepoint_to.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(targets, vec!["/sp/one".to_string()]);
    let out = c.on(
        40,
        Event::CheckpointStored {
            job,
            id: 1,
            error: None,
            savepoints: vec![Ok((4, 4096))],
        },
    );
    let answer = out
        .iter()
        .find_map(|a| match a {
            Action::ToClient { conn: ASKER, msg } => Some(msg.clone()),
            _ => None,
        })
        .unwrap();
    match answer {
        ToClient::SavepointWritten {
            job: j,
            savepoint,
            files,
            bytes,
        } => {
            assert_eq!((j, files, bytes), (job, 4, 4096));
            assert_eq!(savepoint.location, "/sp/one");
            assert_eq!(savepoint.checkpoint_id, 1);
        }
        other => panic!("unexpected answer {other:?}"),
    }
}

#[test]
fn a_savepoint_of_a_job_that_is_not_running_is_refused_with_the_reason() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let out = msg(
        &mut c,
        0,
        200,
        ToCoordinator::Savepoint {
            job: 7,
            target: "/sp".into(),
        },
    );
    let reason = out
        .iter()
        .find_map(|a| match a {
            Action::ToClient {
                msg: ToClient::SavepointFailed { reason },
                ..
            } => Some(reason.clone()),
            _ => None,
        })
        .unwrap();
    assert!(reason.contains("job 7 is not running"), "{reason}");
}

#[test]
fn a_job_from_a_savepoint_numbers_its_checkpoints_after_the_savepoints() {
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let workers = register(&mut c, 3, 1);
    let mut s = spec();
    s.from_savepoint = Some(spate_cluster::protocol::SavepointRef {
        location: "/sp/one".into(),
        checkpoint_id: 41,
    });
    let out = msg(
        &mut c,
        10,
        CLIENT,
        ToCoordinator::Submit {
            spec: s,
            parallelism: 3,
        },
    );
    let deployed: Vec<(u32, u64, Option<u64>)> = to_workers(&out)
        .into_iter()
        .filter_map(|(_, m)| match m {
            ToWorker::Deploy {
                job,
                spec,
                restore_checkpoint,
                ..
            } => Some((
                spec.from_savepoint.map_or(0, |s| s.checkpoint_id as u32),
                job,
                restore_checkpoint,
            )),
            _ => None,
        })
        .collect();
    assert_eq!(deployed.len(), 3);
    assert!(deployed.iter().all(|d| d.0 == 41 && d.2.is_none()));
    let job = deployed[0].1;
    all_data_ready(&mut c, &workers, job);
    let out = c.on(500, Event::Tick);
    assert_eq!(triggered(&out), vec![42, 42, 42]);
}

/// One worker's manifest entries: a subtask with files of these sizes.
fn entries(sizes: &[u64]) -> String {
    use spate_state::checkpoint::{FileKind, FileRef, KeyGroupSpan, SubtaskState};
    let span = KeyGroupSpan { start: 0, end: 128 };
    let files = sizes
        .iter()
        .enumerate()
        .map(|(i, &size_bytes)| FileRef {
            name: format!("f{i}"),
            size_bytes,
            crc32c: 0,
            kind: FileKind::Full,
            key_groups: span,
            state: "counts".into(),
            added_in: 1,
            local_name: None,
        })
        .collect();
    let entry = SubtaskState {
        operator: "count".into(),
        subtask: 0,
        key_groups: span,
        files,
        source_offsets: Vec::new(),
        states: Vec::new(),
        sink_transactions: Vec::new(),
        counters: Default::default(),
        operator_values: Default::default(),
    };
    serde_json::to_string(&vec![entry]).unwrap()
}

#[test]
fn completed_checkpoints_are_recorded_with_duration_and_size_for_status() {
    let cfg = CoordinatorConfig {
        origin_unix_ms: 1_700_000_000_000,
        ..cfg_without_heartbeat_loss()
    };
    let mut c = Coordinator::new(cfg, 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    c.on(200, Event::Tick); // triggers checkpoint 1
    for (i, &(worker, epoch)) in workers.iter().enumerate() {
        let ack = ToCoordinator::CheckpointAck {
            job,
            worker,
            epoch,
            id: 1,
            subtasks_json: entries(&[100 * (i as u64 + 1), 5]),
        };
        msg(&mut c, 230, i as u64 + 1, ack);
    }
    assert!(c.status().checkpoints.is_empty(), "not before it is stored");
    let stored = Event::CheckpointStored {
        job,
        id: 1,
        error: None,
        savepoints: Vec::new(),
    };
    c.on(260, stored);
    let status = c.status();
    let [cp] = status.checkpoints.as_slice() else {
        panic!("{:?}", status.checkpoints);
    };
    assert_eq!((cp.job, cp.id), (job, 1));
    assert_eq!(cp.duration_ms, 60, "trigger at 200, stored at 260");
    assert_eq!(cp.completed_unix_ms, 1_700_000_000_260);
    assert_eq!((cp.files, cp.bytes), (6, 100 + 200 + 300 + 3 * 5));
    let detail = status.running_detail.unwrap();
    assert_eq!(detail.checkpoints_completed, 1);
    assert_eq!(
        detail.checkpoint_dir.as_deref(),
        Some("/tmp/ckpt/nexmark/cluster-1")
    );
    assert_eq!(detail.plan.len(), 3);

    // A checkpoint whose manifest could not be stored is not listed.
    c.on(400, Event::Tick);
    ack_all(&mut c, 410, &workers, job, 2);
    let failed = Event::CheckpointStored {
        job,
        id: 2,
        error: Some("disk full".into()),
        savepoints: Vec::new(),
    };
    c.on(420, failed);
    assert_eq!(c.status().checkpoints.len(), 1);
}

#[test]
fn channel_reports_are_kept_per_worker_for_the_running_job_only() {
    use spate_cluster::protocol::ChannelPressure;
    let mut c = Coordinator::new(cfg_without_heartbeat_loss(), 0).0;
    let (workers, job) = run_checkpointed(&mut c);
    let channel = |subtask: u32, ratio: f64| ChannelPressure {
        subtask,
        peer: 0,
        channel: 1,
        backpressure_ratio: ratio,
        outstanding_credit: 4,
        queued_frames: 0,
    };
    let report = |job: u64, w: usize, channels: Vec<ChannelPressure>| {
        let (worker, epoch) = workers[w];
        ToCoordinator::ChannelReport {
            job,
            worker,
            epoch,
            channels,
        }
    };
    msg(&mut c, 30, 1, report(job, 0, vec![channel(0, 0.2)]));
    // A newer report replaces the worker's older one.
    msg(&mut c, 40, 1, report(job, 0, vec![channel(0, 0.9)]));
    let many = (0..500).map(|i| channel(1, f64::from(i) / 500.0)).collect();
    msg(&mut c, 40, 2, report(job, 1, many));
    // A report for another job (a late one) is ignored.
    msg(&mut c, 50, 3, report(job + 7, 2, vec![channel(2, 1.0)]));
    let bp = c.status().backpressure;
    assert_eq!(bp.iter().filter(|(w, _)| *w == workers[0].0).count(), 1);
    assert_eq!(bp[0].1.backpressure_ratio, 0.9);
    assert_eq!(
        bp.iter().filter(|(w, _)| *w == workers[1].0).count(),
        spate_cluster::coordinator::state::CHANNELS_REPORTED_MAX,
        "bounded per worker"
    );
    assert!(!bp.iter().any(|(w, _)| *w == workers[2].0));
    // A lost worker's channels go with it.
    c.on(60, Event::Disconnected { conn: 2 });
    assert!(
        !c.status()
            .backpressure
            .iter()
            .any(|(w, _)| *w == workers[1].0)
    );
}
