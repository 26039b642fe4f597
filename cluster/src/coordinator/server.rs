//! The coordinator's I/O edge: accepts connections, turns frames into
//! events for the [`Coordinator`] state machine, and carries out its
//! actions. One thread per connection reads; one thread owns the state and
//! every socket's write half.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::checkpoint_store::{CheckpointStores, StoreRequest, newest_usable_checkpoint};
use super::job_record::{JobRecord, JobStore};
use super::state::{Action, ConnId, Coordinator, CoordinatorConfig, Event};
use crate::control_io::{ControlWriter, split};
use crate::error::{ClusterError, Result};
use crate::launcher::ResourceLauncher;
use crate::protocol::ToCoordinator;

/// Events queued for the state thread; a full queue blocks the readers,
/// which backpressures their sockets.
const EVENTS_QUEUED_MAX: usize = 1024;
/// How often the state machine sees time pass.
const TICK_MS: u64 = 20;

enum Input {
    Connected { conn: ConnId, writer: ControlWriter },
    Event(Event),
}

/// Runs the coordinator on `listener` until a client asks it to shut down.
/// With `http`, also serves health, readiness, status and metrics there.
/// With `state_dir`, keeps the running job's record there, and resumes the
/// job recorded there by a coordinator that stopped without ending it.
pub fn serve(
    listener: TcpListener,
    http: Option<TcpListener>,
    cfg: CoordinatorConfig,
    mut launcher: Option<Box<dyn ResourceLauncher>>,
    state_dir: Option<&std::path::Path>,
) -> Result<()> {
    // Before listening for anyone: a damaged record stops the coordinator.
    let store = state_dir.map(JobStore::open).transpose()?;
    let recorded = match &store {
        Some(s) => s.load()?,
        None => None,
    };
    let addr = listener.local_addr().map_err(|source| ClusterError::Io {
        op: "inspect",
        peer: "the coordinator's listener".into(),
        source,
    })?;
    let (tx, rx) = sync_channel::<Input>(EVENTS_QUEUED_MAX);
    thread::Builder::new()
        .name("spate-accept".into())
        .spawn(move || accept_loop(listener, tx))
        .map_err(|e| ClusterError::Internal {
            reason: format!("cannot start the accept thread: {e}"),
        })?;
    let origin = Instant::now();
    let now = || origin.elapsed().as_millis() as u64;
    let cfg = CoordinatorConfig {
        origin_unix_ms: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        ..cfg
    };
    let (mut state, mut first) = Coordinator::new(cfg, now());
    if let Some(record) = recorded {
        let restore = restore_point(&record);
        first.extend(state.recover(record, restore));
    }
    let snapshot: super::http::StatusSnapshot = Arc::new(Mutex::new(state.status()));
    if let Some(http) = http {
        super::http::spawn(http, snapshot.clone()).map_err(|e| ClusterError::Internal {
            reason: format!("cannot start the http thread: {e}"),
        })?;
    }
    let mut writers: HashMap<ConnId, ControlWriter> = HashMap::new();
    let mut edge = Edge {
        writers: &mut writers,
        launcher: &mut launcher,
        addr,
        stores: CheckpointStores::default(),
        jobs: store,
        feedback: Vec::new(),
    };
    let mut exit = edge.apply(first);
    while !exit {
        let mut actions = match next_input(&rx) {
            Some(Input::Connected { conn, writer }) => {
                edge.writers.insert(conn, writer);
                continue;
            }
            Some(Input::Event(ev)) => {
                // The peer is gone (its reader ended): drop the writer too.
                // The state machine closes only workers' connections, so each
                // client's (submit, status, savepoint) kept a descriptor for
                // ever (found by spate-torture: +10 descriptors over 10 jobs).
                if let Event::Disconnected { conn } = &ev
                    && let Some(w) = edge.writers.remove(conn)
                {
                    w.shutdown();
                }
                state.on(now(), ev)
            }
            None => state.on(now(), Event::Tick),
        };
        loop {
            // The operations API shows each new state before any client
            // hears of it (a client told its job finished may ask at once).
            *snapshot.lock().unwrap_or_else(|p| p.into_inner()) = state.status();
            exit |= edge.apply(actions);
            // Results of the I/O just done go back to the state machine.
            let feedback = std::mem::take(&mut edge.feedback);
            if feedback.is_empty() {
                break;
            }
            actions = feedback
                .into_iter()
                .flat_map(|ev| state.on(now(), ev))
                .collect();
        }
    }
    if let Some(l) = launcher.as_mut() {
        // Give workers a moment to act on `Shutdown` before killing them.
        thread::sleep(Duration::from_millis(200));
        l.stop_all();
    }
    Ok(())
}

/// The checkpoint a resumed job restores: the newest usable one in its
/// directory (its manifest may be newer than the record), else the
/// record's.
fn restore_point(record: &JobRecord) -> Option<u64> {
    let dir = record.checkpoint_dir.as_deref()?;
    match newest_usable_checkpoint(dir) {
        Ok(found) => found,
        Err(e) => {
            tracing::error!(
                "cannot pick the checkpoint of job {} to resume from in {dir}: {e}; trying the \
                 record's checkpoint {:?}",
                record.root,
                record.last_completed
            );
            record.last_completed
        }
    }
}

fn next_input(rx: &Receiver<Input>) -> Option<Input> {
    // A timeout is a tick; so is a closed queue (the accept thread ended).
    rx.recv_timeout(Duration::from_millis(TICK_MS)).ok()
}

/// Where actions are carried out.
struct Edge<'a> {
    writers: &'a mut HashMap<ConnId, ControlWriter>,
    launcher: &'a mut Option<Box<dyn ResourceLauncher>>,
    addr: SocketAddr,
    stores: CheckpointStores,
    /// Where the job record is kept, if anywhere.
    jobs: Option<JobStore>,
    /// Events the actions produced, for the state machine.
    feedback: Vec<Event>,
}

impl Edge<'_> {
    /// Carries out actions; true when the coordinator must exit.
    fn apply(&mut self, actions: Vec<Action>) -> bool {
        let mut exit = false;
        for action in actions {
            match action {
                Action::ToWorker { conn, msg } => send(self.writers, conn, &msg),
                Action::ToClient { conn, msg } => send(self.writers, conn, &msg),
                Action::Close { conn } => {
                    if let Some(w) = self.writers.remove(&conn) {
                        w.shutdown();
                    }
                }
                Action::Launch { count } => match self.launcher.as_mut() {
                    Some(l) => {
                        if let Err(e) = l.launch(self.addr, count) {
                            tracing::error!("{e}");
                        }
                    }
                    None => {
                        tracing::warn!("{count} more workers are needed, but no launcher is set")
                    }
                },
                Action::StoreCheckpoint {
                    job,
                    name,
                    id,
                    dir,
                    retained,
                    max_parallelism,
                    parts,
                    savepoint_to,
                } => {
                    let req = StoreRequest {
                        name: &name,
                        id,
                        dir: &dir,
                        retained,
                        max_parallelism,
                        parts: &parts,
                    };
                    let (error, savepoints) = match self.stores.store(&req, &savepoint_to) {
                        Ok(savepoints) => (None, savepoints),
                        Err(e) => (Some(e), Vec::new()),
                    };
                    self.feedback.push(Event::CheckpointStored {
                        job,
                        id,
                        error,
                        savepoints,
                    });
                }
                Action::PersistJob { record } => {
                    if let Some(Err(e)) = self.jobs.as_ref().map(|s| s.save(&record)) {
                        tracing::error!(
                            "{e}: a restarted coordinator would not resume job {}",
                            record.root
                        );
                    }
                    if record.publishing {
                        spate_state::crash_point::hit(
                            spate_state::crash_point::COORDINATOR_PUBLISHING,
                        );
                    }
                }
                Action::ForgetJob => {
                    if let Some(Err(e)) = self.jobs.as_ref().map(JobStore::forget) {
                        tracing::error!("{e}: a restarted coordinator would resume an ended job");
                    }
                }
                Action::Log { line } => tracing::info!("{line}"),
                Action::Exit => exit = true,
            }
        }
        exit
    }
}

fn send<M: crate::control_io::ControlMessage>(
    writers: &mut HashMap<ConnId, ControlWriter>,
    conn: ConnId,
    msg: &M,
) {
    if let Some(Err(e)) = writers.get_mut(&conn).map(|w| w.send(msg)) {
        // The reader of this connection reports the disconnection.
        tracing::warn!("{e}");
    }
}

fn accept_loop(listener: TcpListener, tx: SyncSender<Input>) {
    let mut next: ConnId = 1;
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accepting a connection failed: {e}");
                continue;
            }
        };
        let conn = next;
        next += 1;
        let (mut reader, writer) = match split(stream) {
            Ok(halves) => halves,
            Err(e) => {
                tracing::warn!("{e}");
                continue;
            }
        };
        if tx.send(Input::Connected { conn, writer }).is_err() {
            return; // The coordinator is exiting.
        }
        let tx = tx.clone();
        let spawned = thread::Builder::new()
            .name(format!("spate-conn-{conn}"))
            .spawn(move || {
                loop {
                    match reader.recv::<ToCoordinator>() {
                        Ok(msg) => {
                            if tx.send(Input::Event(Event::Message { conn, msg })).is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            if !matches!(e, ClusterError::Closed { .. }) {
                                tracing::warn!("connection {conn}: {e}");
                            }
                            let _ = tx.send(Input::Event(Event::Disconnected { conn }));
                            return;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!("cannot start a connection thread: {e}");
        }
    }
}
