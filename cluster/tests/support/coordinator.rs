//! Driving the coordinator's state machine in tests.

// Each test binary uses a part of it.
#![allow(dead_code)]

use spate_cluster::coordinator::{Action, ConnId, Coordinator, Event};
use spate_cluster::protocol::{CheckpointPlan, ToCoordinator};

/// Delivers message `m` from connection `conn` at `now`.
pub fn msg(c: &mut Coordinator, now: u64, conn: ConnId, m: ToCoordinator) -> Vec<Action> {
    c.on(now, Event::Message { conn, msg: m })
}

/// Every worker (connection, id, epoch) of `job` reports one data address
/// (ports from 7000) and the checkpoint `plan`; all the actions.
pub fn data_ready(
    c: &mut Coordinator,
    now: u64,
    workers: &[(ConnId, u32, u64)],
    job: u64,
    plan: &CheckpointPlan,
) -> Vec<Action> {
    let mut all = Vec::new();
    for (i, &(conn, worker, epoch)) in workers.iter().enumerate() {
        all.extend(msg(
            c,
            now,
            conn,
            ToCoordinator::DataReady {
                job,
                worker,
                epoch,
                addrs: vec![format!("127.0.0.1:{}", 7000 + i)],
                checkpoints: Some(plan.clone()),
            },
        ));
    }
    all
}
