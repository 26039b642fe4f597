//! A seeded, deterministic simulation of the coordinator's failover logic:
//! the real pure state machine (`spate_cluster::coordinator::Coordinator`)
//! with simulated workers, network delays, a launcher and `kill -9`s, all
//! drawn from one seed. No threads, sockets or clocks: a seed replays the
//! same run, event for event.
//!
//! Invariants checked at every step:
//! - a restart restores the newest checkpoint the coordinator completed,
//!   never an older one and never one whose manifest was not stored;
//! - a checkpoint the coordinator triggers has a higher id than every
//!   completed one, over all of a job's attempts;
//! - a job whose checkpoint plan a worker reported is never failed by
//!   worker losses before it publishes its output (its restart limit is
//!   far away);
//! - attempts never reuse an id (ids name state files), also across
//!   coordinator restarts;
//! - a job never fails, also when a worker or the coordinator dies while
//!   the shares publish their output (the final checkpoint holds it);
//! - once the faults stop, the job finishes.
//!
//! Some faults kill the coordinator: its workers exit with it, and a new
//! coordinator resumes the job from the record the old one persisted
//! (`Action::PersistJob`) and the newest manifest in storage, which may be
//! newer than the record; the client attaches to the job again.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use spate::metrics::WireMetrics;
use spate_cluster::coordinator::{
    Action, ConnId, Coordinator, CoordinatorConfig, Event, JobRecord,
};
use spate_cluster::protocol::{CheckpointPlan, JobSpec, ToClient, ToCoordinator, ToWorker};

use crate::rng::Rng;

/// The client's first connection; each reattachment takes the next.
const CLIENT: ConnId = 1_000_000;
/// One fault in this many kills the coordinator instead of workers.
const COORDINATOR_FAULT_ONE_IN: u64 = 8;
/// Workers the launcher keeps, and the job's parallelism.
const WORKERS: u32 = 3;
/// Faults stop after this much simulated time.
const FAULTS_UNTIL_MS: u64 = 4_000;
/// The job must have finished by then.
const DEADLINE_MS: u64 = 120_000;
/// Time a job's share runs before it is done, without faults.
const RUN_MS: u64 = 600;
/// Faults aimed at the shares publishing their output, per run: that
/// window is short and mostly comes after the random faults stopped.
const PUBLISHING_FAULTS_MAX: u32 = 2;
/// The coordinator's clock advances in ticks of this many ms.
const TICK_MS: u64 = 10;

/// What a simulation run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimOutcome {
    /// The seed.
    pub seed: u64,
    /// A hash of every event and action, in order: equal for equal runs.
    pub trace: u64,
    /// Workers killed.
    pub kills: u32,
    /// Restarts (deployments that restored a checkpoint).
    pub restores: u32,
    /// Coordinators killed (and started again).
    pub coordinator_kills: u32,
    /// The first invariant broken, as a sentence; `None` when all held.
    pub violation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum SimEvent {
    /// Deliver an event to the coordinator.
    Coordinator(Event),
    /// A launched worker process starts and registers on a new connection.
    Spawn,
    /// A worker's sources of `job` read all their input; they wait for
    /// the final checkpoint.
    InputEnded { conn: ConnId, job: u64 },
    /// A worker's share of `job` ended after the final checkpoint.
    ShareDone { conn: ConnId, job: u64 },
    /// Time for a fault.
    Fault,
    /// A new coordinator starts after the old one was killed.
    CoordinatorStart,
    /// A fault while the shares publish their end-of-input output.
    PublishingFault,
}

#[derive(Debug, Default, Clone)]
struct SimWorker {
    alive: bool,
    id: u32,
    epoch: u64,
    /// The job it runs, once started.
    job: Option<u64>,
}

struct Sim {
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BTreeMap<(u64, u64), SimEvent>,
    /// When the last event of each connection happens.
    conn_last: BTreeMap<ConnId, u64>,
    coord: Coordinator,
    workers: BTreeMap<ConnId, SimWorker>,
    next_conn: ConnId,
    hasher: DefaultHasher,
    kills: u32,
    restores: u32,
    coordinator_kills: u32,
    cfg: CoordinatorConfig,
    /// The job record as the coordinator last persisted it.
    record: Option<JobRecord>,
    /// The connection the client listens on.
    client: ConnId,
    /// The newest attempt deployed.
    last_attempt: u64,
    /// Checkpoints the coordinator told workers are complete.
    completed: BTreeSet<u64>,
    /// Checkpoints whose manifest was stored.
    stored: BTreeSet<u64>,
    finished: bool,
    faults_started: bool,
    publishing_faults: u32,
    violation: Option<String>,
    /// Prints every event and action (`SPATE_SIM_TRACE=1`).
    verbose: bool,
}

/// Runs the simulation of `seed`.
pub fn simulate(seed: u64) -> SimOutcome {
    let cfg = CoordinatorConfig {
        heartbeat_interval_ms: 100,
        // Heartbeats are not simulated: a worker is lost when its connection is.
        heartbeat_timeout_ms: u64::MAX / 4,
        worker_wait_ms: 30_000,
        deploy_timeout_ms: 30_000,
        workers_target: WORKERS,
        ..CoordinatorConfig::default()
    };
    let (coord, first) = Coordinator::new(cfg, 0);
    let mut sim = Sim {
        rng: Rng::new(seed),
        now: 0,
        seq: 0,
        queue: BTreeMap::new(),
        conn_last: BTreeMap::new(),
        coord,
        workers: BTreeMap::new(),
        next_conn: 1,
        hasher: DefaultHasher::new(),
        kills: 0,
        restores: 0,
        coordinator_kills: 0,
        cfg,
        record: None,
        client: CLIENT,
        last_attempt: 0,
        completed: BTreeSet::new(),
        stored: BTreeSet::new(),
        finished: false,
        faults_started: false,
        publishing_faults: 0,
        violation: None,
        verbose: std::env::var_os("SPATE_SIM_TRACE").is_some(),
    };
    sim.apply(first);
    let submit = Event::Message {
        conn: CLIENT,
        msg: ToCoordinator::Submit {
            spec: JobSpec {
                name: "oracle".into(),
                args: Vec::new(),
                settings: Vec::new(),
                from_savepoint: None,
            },
            parallelism: WORKERS,
        },
    };
    sim.at(50, SimEvent::Coordinator(submit));
    let mut next_tick = 0;
    while !sim.finished && sim.violation.is_none() && sim.now < DEADLINE_MS {
        let next_event = sim.queue.keys().next().map(|k| k.0);
        if next_event.is_none_or(|t| t > next_tick) {
            sim.now = next_tick;
            next_tick += TICK_MS;
            let out = sim.coord.on(sim.now, Event::Tick);
            sim.apply(out);
            continue;
        }
        let Some(((t, _), ev)) = sim.queue.pop_first() else {
            break;
        };
        sim.now = t;
        let line = format!("{ev:?}");
        if sim.verbose {
            eprintln!("{t:>7} ms  event  {line}");
        }
        line.hash(&mut sim.hasher);
        sim.handle(ev);
    }
    if sim.violation.is_none() && !sim.finished {
        sim.violation = Some(format!(
            "the job had not finished {DEADLINE_MS} ms into the run, {} ms after the last \
             fault (completed checkpoints: {:?})",
            DEADLINE_MS - FAULTS_UNTIL_MS,
            sim.completed.last()
        ));
    }
    SimOutcome {
        seed,
        trace: sim.hasher.finish(),
        kills: sim.kills,
        restores: sim.restores,
        coordinator_kills: sim.coordinator_kills,
        violation: sim.violation,
    }
}

impl Sim {
    fn at(&mut self, delay_ms: u64, ev: SimEvent) {
        self.seq += 1;
        self.queue.insert((self.now + delay_ms, self.seq), ev);
    }

    fn violate(&mut self, sentence: String) {
        if self.violation.is_none() {
            self.violation = Some(format!("at {} ms: {sentence}", self.now));
        }
    }

    /// `ev` happens on connection `conn` after `delay_ms`, but never before
    /// what happened on it earlier: a connection is a FIFO (TCP), so a
    /// dead worker's last messages arrive before its disconnection.
    fn on_conn(&mut self, conn: ConnId, delay_ms: u64, ev: SimEvent) {
        let t = (self.now + delay_ms).max(self.conn_last.get(&conn).copied().unwrap_or(0));
        self.conn_last.insert(conn, t);
        self.seq += 1;
        self.queue.insert((t, self.seq), ev);
    }

    /// A message from worker `conn` reaches the coordinator after a delay.
    fn send(&mut self, conn: ConnId, msg: ToCoordinator) {
        let delay = self.rng.between(1, 30);
        self.on_conn(
            conn,
            delay,
            SimEvent::Coordinator(Event::Message { conn, msg }),
        );
    }

    fn handle(&mut self, ev: SimEvent) {
        match ev {
            SimEvent::Coordinator(e) => {
                // A dead process's last messages may still arrive (they were
                // sent before it died), so they are delivered too.
                if let Event::CheckpointStored {
                    id, error: None, ..
                } = &e
                {
                    self.stored.insert(*id);
                }
                // Faults start once the job's checkpoint plan is known: a
                // first attempt that breaks before any worker reported it
                // fails by design (it may be a job without checkpoints).
                if !self.faults_started
                    && matches!(
                        e,
                        Event::Message {
                            msg: ToCoordinator::DataReady { .. },
                            ..
                        }
                    )
                {
                    self.faults_started = true;
                    let first = self.rng.between(0, 600);
                    self.at(first, SimEvent::Fault);
                }
                let out = self.coord.on(self.now, e);
                self.apply(out);
            }
            SimEvent::Spawn => {
                let conn = self.next_conn;
                self.next_conn += 1;
                self.workers.insert(
                    conn,
                    SimWorker {
                        alive: true,
                        ..SimWorker::default()
                    },
                );
                self.send(
                    conn,
                    ToCoordinator::Register {
                        cores: 1,
                        pid: conn as u32,
                        launch_token: None,
                    },
                );
            }
            SimEvent::InputEnded { conn, job } => {
                if let Some((worker, epoch)) = self.running_share(conn, job) {
                    self.send(conn, ToCoordinator::InputEnded { job, worker, epoch });
                }
            }
            SimEvent::ShareDone { conn, job } => {
                let Some((worker, epoch)) = self.running_share(conn, job) else {
                    return;
                };
                self.send(
                    conn,
                    ToCoordinator::JobDone {
                        job,
                        worker,
                        epoch,
                        metrics: WireMetrics {
                            source_records: 1,
                            late_records: 0,
                            remote_records_deserialized: 0,
                            remote_records_read_in_place: 0,
                            sinks: Vec::new(),
                        },
                    },
                );
            }
            SimEvent::CoordinatorStart => self.start_coordinator(),
            SimEvent::PublishingFault => self.publishing_fault(),
            SimEvent::Fault => {
                if self.now >= FAULTS_UNTIL_MS {
                    return;
                }
                if self.rng.below(COORDINATOR_FAULT_ONE_IN) == 0 {
                    self.kill_coordinator();
                    let next = self.rng.between(300, 900);
                    self.at(next, SimEvent::Fault);
                    return;
                }
                // Sometimes two at once, as the kill suite's bursts.
                let count = if self.rng.chance(15) { 2 } else { 1 };
                let mut victims = self.alive_workers();
                for _ in 0..count.min(victims.len()) {
                    let i = self.rng.below(victims.len() as u64) as usize;
                    let conn = victims.swap_remove(i);
                    self.kill(conn);
                }
                let next = self.rng.between(0, 600);
                self.at(next, SimEvent::Fault);
            }
        }
    }

    /// The connections of live workers.
    fn alive_workers(&self) -> Vec<ConnId> {
        self.workers
            .iter()
            .filter(|(_, w)| w.alive)
            .map(|(&c, _)| c)
            .collect()
    }

    /// The (id, epoch) of the live worker on `conn` if it runs `job`.
    fn running_share(&self, conn: ConnId, job: u64) -> Option<(u32, u64)> {
        self.workers
            .get(&conn)
            .filter(|w| w.alive && w.job == Some(job))
            .map(|w| (w.id, w.epoch))
    }

    /// Kills the coordinator (one time in three) or a worker while the
    /// shares publish their output.
    fn publishing_fault(&mut self) {
        if self.rng.below(3) == 0 {
            self.kill_coordinator();
            return;
        }
        let alive = self.alive_workers();
        if !alive.is_empty() {
            let i = self.rng.below(alive.len() as u64) as usize;
            self.kill(alive[i]);
        }
    }

    /// `kill -9` of the coordinator: what it had not done yet is lost,
    /// except manifests it was writing, which may or may not have reached
    /// storage; its workers lose their connection and exit.
    fn kill_coordinator(&mut self) {
        self.coordinator_kills += 1;
        let queued = std::mem::take(&mut self.queue);
        for (key, ev) in queued {
            match ev {
                // Half of the manifests being written made it to storage.
                SimEvent::Coordinator(Event::CheckpointStored {
                    id, error: None, ..
                }) if self.rng.chance(50) => {
                    self.stored.insert(id);
                }
                // Pending faults stay; everything bound to the old
                // coordinator or its processes is gone.
                SimEvent::Fault => {
                    self.queue.insert(key, SimEvent::Fault);
                }
                _ => {}
            }
        }
        for w in self.workers.values_mut() {
            w.alive = false;
            w.job = None;
        }
        let delay = self.rng.between(50, 500);
        self.at(delay, SimEvent::CoordinatorStart);
    }

    /// A new coordinator resumes the recorded job from the newest manifest
    /// in storage, and the client attaches to it again.
    fn start_coordinator(&mut self) {
        let (coord, first) = Coordinator::new(self.cfg, self.now);
        self.coord = coord;
        self.apply(first);
        if let Some(record) = self.record.clone() {
            let restore = self.stored.last().copied();
            let out = self.coord.recover(record.clone(), restore);
            self.apply(out);
            self.client += 1;
            let attach = Event::Message {
                conn: self.client,
                msg: ToCoordinator::Attach { root: record.root },
            };
            let delay = self.rng.between(10, 300);
            self.at(delay, SimEvent::Coordinator(attach));
        }
    }

    fn kill(&mut self, conn: ConnId) {
        if let Some(w) = self.workers.get_mut(&conn) {
            w.alive = false;
            w.job = None;
            self.kills += 1;
            let delay = self.rng.between(0, 5);
            self.on_conn(
                conn,
                delay,
                SimEvent::Coordinator(Event::Disconnected { conn }),
            );
        }
    }

    fn apply(&mut self, actions: Vec<Action>) {
        for a in actions {
            let line = format!("{a:?}");
            if self.verbose && !matches!(a, Action::Log { .. }) {
                eprintln!("{:>7} ms  action {line}", self.now);
            }
            line.hash(&mut self.hasher);
            match a {
                Action::ToWorker { conn, msg } => self.deliver_to_worker(conn, msg),
                Action::ToClient { conn, msg } => {
                    if conn == self.client {
                        self.deliver_to_client(msg);
                    }
                }
                Action::PersistJob { record } => {
                    if record.publishing
                        && self.publishing_faults < PUBLISHING_FAULTS_MAX
                        && self.rng.chance(50)
                    {
                        self.publishing_faults += 1;
                        let delay = self.rng.between(0, 5);
                        self.at(delay, SimEvent::PublishingFault);
                    }
                    self.record = Some(record);
                }
                Action::ForgetJob => self.record = None,
                Action::Close { conn } => {
                    // A worker whose connection closes exits.
                    if let Some(w) = self.workers.get_mut(&conn)
                        && w.alive
                    {
                        w.alive = false;
                        w.job = None;
                        self.on_conn(conn, 1, SimEvent::Coordinator(Event::Disconnected { conn }));
                    }
                }
                Action::Launch { count } => {
                    for _ in 0..count {
                        let delay = self.rng.between(20, 300);
                        self.at(delay, SimEvent::Spawn);
                    }
                }
                Action::StoreCheckpoint { job, id, .. } => {
                    let delay = self.rng.between(1, 40);
                    let stored = Event::CheckpointStored {
                        job,
                        id,
                        error: None,
                        savepoints: Vec::new(),
                    };
                    self.at(delay, SimEvent::Coordinator(stored));
                }
                Action::Log { .. } | Action::Exit => {}
            }
        }
    }

    fn deliver_to_client(&mut self, msg: ToClient) {
        match msg {
            ToClient::Finished { .. } => self.finished = true,
            // Losing a worker or the coordinator while the shares publish
            // their end-of-input output, too: the final checkpoint holds it.
            ToClient::Failed { job, reason } => {
                self.violate(format!("job {job} failed: {reason}"));
            }
            ToClient::Attached { job, .. } if job > 0 && job < self.last_attempt => {
                self.violate(format!(
                    "the client attached to attempt {job}, but attempt {} was deployed since",
                    self.last_attempt
                ));
            }
            _ => {}
        }
    }

    fn deliver_to_worker(&mut self, conn: ConnId, msg: ToWorker) {
        let Some(w) = self.workers.get(&conn).filter(|w| w.alive).cloned() else {
            return; // Bytes to a dead process go nowhere.
        };
        match msg {
            ToWorker::Registered { worker, epoch, .. } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.id = worker;
                    w.epoch = epoch;
                }
            }
            ToWorker::Deploy {
                job,
                restore_checkpoint,
                ..
            } => {
                if job < self.last_attempt {
                    self.violate(format!(
                        "attempt {job} was deployed after attempt {}: attempt ids name state \
                         files and must only grow",
                        self.last_attempt
                    ));
                }
                self.last_attempt = self.last_attempt.max(job);
                let newest = self.completed.last().copied();
                if restore_checkpoint.is_some() {
                    self.restores += 1;
                }
                if restore_checkpoint < newest {
                    self.violate(format!(
                        "job {job} restores checkpoint {restore_checkpoint:?}, but checkpoint \
                         {newest:?} had completed"
                    ));
                }
                if let Some(r) = restore_checkpoint
                    && !self.stored.contains(&r)
                {
                    self.violate(format!(
                        "job {job} restores checkpoint {r}, whose manifest was never stored"
                    ));
                }
                let plan = CheckpointPlan {
                    interval_ms: 100,
                    timeout_ms: 10_000,
                    pause_min_ms: 0,
                    dir: "sim".into(),
                    retained: 3,
                    restarts_max: 1_000_000,
                };
                self.send(
                    conn,
                    ToCoordinator::DataReady {
                        job,
                        worker: w.id,
                        epoch: w.epoch,
                        addrs: vec![format!("sim:{conn}")],
                        checkpoints: Some(plan),
                    },
                );
            }
            ToWorker::Start { job, .. } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.job = Some(job);
                }
                let run = RUN_MS + self.rng.between(0, 200);
                self.at(run, SimEvent::InputEnded { conn, job });
            }
            ToWorker::TriggerCheckpoint { job, id } => {
                if let Some(&done) = self.completed.last()
                    && id <= done
                {
                    self.violate(format!(
                        "checkpoint {id} of job {job} was triggered after checkpoint {done} \
                         had completed: ids must go on after the completed ones"
                    ));
                }
                if w.job == Some(job) {
                    self.send(
                        conn,
                        ToCoordinator::CheckpointAck {
                            job,
                            worker: w.id,
                            epoch: w.epoch,
                            id,
                            subtasks_json: "[]".into(),
                        },
                    );
                }
            }
            ToWorker::CheckpointComplete { id, .. } => {
                self.completed.insert(id);
            }
            ToWorker::EndInput { job } => {
                if w.job == Some(job) {
                    let delay = self.rng.between(1, 20);
                    self.at(delay, SimEvent::ShareDone { conn, job });
                }
            }
            ToWorker::CommitFinal { job } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.job = None;
                }
                let published = ToCoordinator::FinalCommitted {
                    job,
                    worker: w.id,
                    epoch: w.epoch,
                    error: None,
                };
                self.send(conn, published);
            }
            ToWorker::Cancel { .. } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.job = None;
                }
            }
            ToWorker::Fenced { .. } => {
                if let Some(w) = self.workers.get_mut(&conn) {
                    w.alive = false;
                    w.job = None;
                }
            }
            ToWorker::Shutdown => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_run() {
        let a = simulate(3);
        let b = simulate(3);
        assert_eq!(a, b);
        assert_ne!(a.trace, simulate(4).trace, "another seed, another run");
    }
}
