//! Runs a job on one pinned glommio executor per core (taken from the
//! process's pool of executors, see `core_pool`), wires the exchange
//! channels between them, runs every task and merges the results.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::task::Poll;

use super::core_pool::{CoreKey, PooledCore};
use super::graph::{EdgeId, Graph, LocalFuture, Partition};
use super::instantiate::Instantiator;
use super::remote::{RemoteFailure, RemoteLinks, channel_id};
use super::settings::RunSettings;
use crate::error::{Result, SpateError};
use crate::metrics::JobMetrics;
use crate::time::SystemClock;

type Endpoints = HashMap<EdgeId, Vec<Option<Box<dyn Any + Send>>>>;

/// Establishes, on a core's executor, that core's links to the subtasks of
/// other processes; called with the core's global subtask index.
pub type LinkSetup =
    Arc<dyn Fn(usize) -> LocalFuture<Result<std::rc::Rc<dyn RemoteLinks>>> + Send + Sync>;

/// Runs the job to completion (bounded input) or failure. With `links`,
/// this process runs subtasks `subtask_offset..subtask_offset + cores` of a
/// job spread over several processes.
pub(crate) fn run_graph(
    graph: Arc<Graph>,
    settings: RunSettings,
    links: Option<LinkSetup>,
) -> Result<JobMetrics> {
    let cores = settings.cores.max(1);
    check_placement(&settings, links.is_some())?;
    let (mut txs, mut rxs) = create_channels(&graph, &settings);
    let clock = SystemClock::default();
    let started = std::time::Instant::now();
    // Every executor first: a run started on some cores while another core
    // has none would wait forever for its peers.
    let executors = checkout_all(&settings, cores)?;
    let mut running = Vec::with_capacity(cores);
    for (core, executor) in executors {
        let (graph, settings, clock) = (graph.clone(), settings.clone(), clock.clone());
        let links = links.clone();
        let my_txs = txs.pop().unwrap_or_default();
        let my_rxs = rxs.pop().unwrap_or_default();
        let (done, result) = std::sync::mpsc::sync_channel(1);
        let work: super::core_pool::Work = Box::new(move || {
            Box::pin(async move {
                let cx = CoreSetup {
                    graph: &graph,
                    settings: &settings,
                    core,
                    clock,
                    started,
                };
                let _ = done.send(run_core(cx, my_txs, my_rxs, links).await);
            })
        });
        if executor.run(work).is_err() {
            return Err(SpateError::Runtime {
                core,
                reason: "the executor thread stopped before the job reached it".to_string(),
            });
        }
        running.push((core, executor, result));
    }
    let mut metrics = JobMetrics::default();
    let mut first_error: Option<SpateError> = None;
    for (core, executor, result) in running.into_iter().rev() {
        match result.recv() {
            Ok(Ok(m)) => metrics.merge(&m),
            // The first failure causes the others (closed channels); report it.
            Ok(Err(e)) => keep_root_cause(&mut first_error, e),
            // The run's future never answered: its thread unwound.
            Err(_) => {
                first_error.get_or_insert(SpateError::Runtime {
                    core,
                    reason: "the executor thread failed (it panicked)".to_string(),
                });
            }
        }
        executor.checkin();
    }
    if let Some(rocks) = &settings.rocks {
        // Every core's instance is closed; what must survive is in the
        // checkpoints.
        let _ = std::fs::remove_dir_all(&rocks.root);
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(metrics),
    }
}

/// One executor per core, highest core first (the order runs start in);
/// if one cannot start, those taken go back to the pool.
fn checkout_all(settings: &RunSettings, cores: usize) -> Result<Vec<(usize, PooledCore)>> {
    let mut taken = Vec::with_capacity(cores);
    for core in (0..cores).rev() {
        let cpu = match settings.cpus.get(core) {
            Some(&cpu) if settings.pin_cores => Some(cpu),
            _ => None,
        };
        let key = CoreKey {
            cpu,
            core,
            io_memory_bytes: settings.io_memory_bytes,
            spin_before_park_us: settings.spin_before_park_us,
        };
        match PooledCore::checkout(key) {
            Ok(executor) => taken.push((core, executor)),
            Err(e) => {
                for (_, executor) in taken {
                    executor.checkin();
                }
                return Err(SpateError::Runtime {
                    core,
                    reason: format!(
                        "could not start the executor ({e}); glommio needs locked memory \
                         (`ulimit -l` of at least the io_memory setting, runtime.io_memory_kib)"
                    ),
                });
            }
        }
    }
    Ok(taken)
}

/// Keeps `e` in `kept` unless `kept` already holds a root cause: a runtime
/// error (a channel closed, a subtask stopped receiving) is a consequence
/// of another failure whenever there is one.
fn keep_root_cause(kept: &mut Option<SpateError>, e: SpateError) {
    if kept
        .as_ref()
        .is_none_or(|k| matches!(k, SpateError::Runtime { .. }))
    {
        *kept = Some(e);
    }
}

fn check_placement(settings: &RunSettings, has_links: bool) -> Result<()> {
    let local_end = settings.subtask_offset + settings.cores.max(1);
    let spread = settings.subtask_offset > 0 || settings.parallelism != settings.cores.max(1);
    if local_end > settings.parallelism || (spread && !has_links) {
        return Err(SpateError::internal(format!(
            "placement of subtasks {}..{local_end} of {} (links: {has_links}) is inconsistent",
            settings.subtask_offset, settings.parallelism
        )));
    }
    Ok(())
}

/// Creates the cross-core channels of every exchange edge. Same-core
/// channels are created later on the core itself (they are not `Send`) and
/// are marked here by `None`.
fn create_channels(graph: &Graph, settings: &RunSettings) -> (Vec<Endpoints>, Vec<Endpoints>) {
    let n = settings.cores.max(1);
    let (offset, p) = (settings.subtask_offset, settings.parallelism);
    let mut txs: Vec<Endpoints> = (0..n).map(|_| HashMap::new()).collect();
    let mut rxs: Vec<Endpoints> = (0..n).map(|_| HashMap::new()).collect();
    for (e, edge) in graph.edges.iter().enumerate() {
        if graph.is_chained(e) {
            continue;
        }
        if edge.partition == Partition::Forward {
            for i in 0..n {
                txs.get_mut(i).map(|m| m.insert(e, vec![None]));
                rxs.get_mut(i).map(|m| m.insert(e, vec![None]));
            }
            continue;
        }
        // Indexed by global subtask; remote slots are filled on the core.
        for i in 0..n {
            txs.get_mut(i)
                .map(|m| m.insert(e, (0..p).map(|_| None).collect()));
            rxs.get_mut(i)
                .map(|m| m.insert(e, (0..p).map(|_| None).collect()));
        }
        for i in 0..n {
            for j in 0..n {
                if i == j {
                    continue;
                }
                let (tx, rx) = edge.ops.shared_pair(settings.channel_capacity_batches);
                if let Some(slot) = txs
                    .get_mut(i)
                    .and_then(|m| m.get_mut(&e))
                    .and_then(|v| v.get_mut(offset + j))
                {
                    *slot = Some(tx);
                }
                if let Some(slot) = rxs
                    .get_mut(j)
                    .and_then(|m| m.get_mut(&e))
                    .and_then(|v| v.get_mut(offset + i))
                {
                    *slot = Some(rx);
                }
            }
        }
    }
    (txs, rxs)
}

type Connected = HashMap<EdgeId, Vec<Option<Box<dyn Any>>>>;

/// Connects this core's endpoints. Every connect waits for its peer core,
/// so they all run concurrently; connecting one by one could deadlock.
async fn connect_endpoints(
    cx: &CoreSetup<'_>,
    txs: Endpoints,
    rxs: Endpoints,
) -> Result<(Connected, Connected)> {
    let (graph, settings) = (cx.graph, cx.settings);
    let mut out_tx: Connected = HashMap::new();
    let mut out_rx: Connected = HashMap::new();
    let mut pending_tx = Vec::new();
    let mut pending_rx = Vec::new();
    for (e, slots) in txs {
        let ops = edge_ops(graph, e)?;
        out_tx.insert(e, (0..slots.len()).map(|_| None).collect());
        for (j, slot) in slots.into_iter().enumerate() {
            if let Some(tx) = slot {
                pending_tx.push((e, j, glommio::spawn_local(ops.connect_tx(tx)?)));
            }
        }
    }
    for (e, slots) in rxs {
        let ops = edge_ops(graph, e)?;
        out_rx.insert(e, (0..slots.len()).map(|_| None).collect());
        for (i, slot) in slots.into_iter().enumerate() {
            if let Some(rx) = slot {
                pending_rx.push((e, i, glommio::spawn_local(ops.connect_rx(rx)?)));
            }
        }
    }
    for (e, j, task) in pending_tx {
        let tx = task.await;
        if let Some(slot) = out_tx.get_mut(&e).and_then(|v| v.get_mut(j)) {
            *slot = Some(tx);
        }
    }
    for (e, i, task) in pending_rx {
        let rx = task.await;
        if let Some(slot) = out_rx.get_mut(&e).and_then(|v| v.get_mut(i)) {
            *slot = Some(rx);
        }
    }
    // Same-core channels, created here because they cannot cross threads.
    for (e, slots) in out_tx.iter_mut() {
        let ops = edge_ops(graph, *e)?;
        let local = if slots.len() == 1 { 0 } else { cx.subtask() };
        let (tx, rx) = ops.local_pair(settings.channel_capacity_batches);
        if let Some(slot) = slots.get_mut(local) {
            *slot = Some(tx);
        }
        if let Some(slot) = out_rx.get_mut(e).and_then(|v| v.get_mut(local)) {
            *slot = Some(rx);
        }
    }
    Ok((out_tx, out_rx))
}

fn edge_ops(graph: &Graph, e: EdgeId) -> Result<Arc<dyn super::graph::EdgeOps>> {
    graph
        .edges
        .get(e)
        .map(|edge| edge.ops.clone())
        .ok_or_else(|| SpateError::internal(format!("no edge {e}")))
}

/// What one core's setup needs to know.
struct CoreSetup<'a> {
    graph: &'a Graph,
    settings: &'a RunSettings,
    /// Local core index (the executor).
    core: usize,
    clock: SystemClock,
    /// When the run started, for the time to readiness.
    started: std::time::Instant,
}

impl CoreSetup<'_> {
    /// This core's global subtask index.
    fn subtask(&self) -> usize {
        self.settings.subtask_offset + self.core
    }

    fn is_local(&self, subtask: usize) -> bool {
        (self.settings.subtask_offset..self.settings.subtask_offset + self.settings.cores.max(1))
            .contains(&subtask)
    }
}

/// Fills the remote slots of every exchange edge with channels over this
/// core's links; returns the pumps that move outgoing messages.
fn connect_remote(
    cx: &CoreSetup<'_>,
    links: &dyn RemoteLinks,
    txs: &mut Connected,
    rxs: &mut Connected,
    failure: &RemoteFailure,
) -> Result<Vec<LocalFuture<Result<()>>>> {
    let me = cx.subtask();
    let p = cx.settings.parallelism;
    let mut pumps = Vec::new();
    for (e, slots) in txs.iter_mut() {
        if slots.len() != p {
            continue; // A forward edge: never remote.
        }
        let ops = edge_ops(cx.graph, *e)?;
        for (to, slot) in slots.iter_mut().enumerate() {
            if cx.is_local(to) {
                continue;
            }
            let out = links
                .sender(to, channel_id(*e, me, to, p)?)
                .map_err(|err| remote_setup_failed(me, to, &err))?;
            let (tx, pump) = ops.remote_tx(out, cx.settings.channel_capacity_batches, me)?;
            *slot = Some(tx);
            let failure = failure.clone();
            pumps.push(Box::pin(async move {
                // The writer feeding this pump fails as a consequence
                // (its channel closes); the link's error is the cause.
                pump.await.map_err(|e| {
                    let reason = e.to_string();
                    failure.record(e);
                    SpateError::Runtime { core: me, reason }
                })
            }) as LocalFuture<Result<()>>);
        }
    }
    for (e, slots) in rxs.iter_mut() {
        if slots.len() != p {
            continue;
        }
        let ops = edge_ops(cx.graph, *e)?;
        for (from, slot) in slots.iter_mut().enumerate() {
            if cx.is_local(from) {
                continue;
            }
            let input = links
                .receiver(from, channel_id(*e, from, me, p)?)
                .map_err(|err| remote_setup_failed(me, from, &err))?;
            *slot = Some(ops.remote_rx(input, cx.clock.clone(), failure.clone(), me)?);
        }
    }
    Ok(pumps)
}

fn remote_setup_failed(me: usize, peer: usize, err: &dyn std::fmt::Display) -> SpateError {
    SpateError::Runtime {
        core: me,
        reason: format!("could not open a channel to subtask {peer}: {err}"),
    }
}

async fn run_core(
    cx: CoreSetup<'_>,
    txs: Endpoints,
    rxs: Endpoints,
    links: Option<LinkSetup>,
) -> Result<JobMetrics> {
    let (graph, settings) = (cx.graph, cx.settings);
    let remote_links = match &links {
        Some(setup) => Some(setup(cx.subtask()).await?),
        None => None,
    };
    let (mut txs, mut rxs) = connect_endpoints(&cx, txs, rxs).await?;
    let failure = RemoteFailure::default();
    let pumps = match &remote_links {
        Some(l) => connect_remote(&cx, &**l, &mut txs, &mut rxs, &failure)?,
        None => Vec::new(),
    };
    let rxs = rxs
        .into_iter()
        .map(|(e, v)| {
            v.into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|v| (e, v))
                .ok_or_else(|| SpateError::internal(format!("edge {e}: a receiver is missing")))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    let inst = Instantiator::new(graph, cx.subtask(), settings, txs, rxs, cx.clock.clone());
    let (tasks, metrics) = inst.build_tasks()?;
    let ready_ns = u64::try_from(cx.started.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let mut running: Vec<Option<glommio::Task<Result<()>>>> = tasks
        .into_iter()
        .map(|t| Some(glommio::spawn_local(t.run())))
        .chain(pumps.into_iter().map(|p| Some(glommio::spawn_local(p))))
        .collect();
    // Wait for all tasks; on the first failure, drop the others so their
    // channels close and the failure reaches every core. A failed task's
    // channels close at once, so a task of the same core may fail from it
    // before this wakes: every task is polled, and a root cause wins over
    // such consequences.
    futures_lite::future::poll_fn(|cx| {
        let mut all_done = true;
        let mut failed: Option<SpateError> = None;
        for slot in running.iter_mut() {
            if let Some(task) = slot {
                match std::pin::Pin::new(task).poll(cx) {
                    Poll::Ready(Ok(())) => *slot = None,
                    Poll::Ready(Err(e)) => {
                        *slot = None;
                        keep_root_cause(&mut failed, e);
                    }
                    Poll::Pending => all_done = false,
                }
            }
        }
        if let Some(e) = failed {
            // Sources waiting for the final checkpoint on other cores, which
            // no failed channel may reach, end now: it will never come.
            if let Some(hub) = &settings.checkpoints {
                hub.release_input();
            }
            return Poll::Ready(Err(e));
        }
        if all_done {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await
    .map_err(|e| failure.take().unwrap_or(e))?;
    // The links outlive the tasks: flush them, then dropping them closes
    // the connections.
    if let Some(links) = remote_links {
        links.finish().await.map_err(|e| SpateError::Runtime {
            core: cx.subtask(),
            reason: format!("flushing the links to other processes failed: {e}"),
        })?;
    }
    let mut snapshot = metrics.snapshot();
    snapshot.ready_ns_max = ready_ns;
    Ok(snapshot)
}

use std::future::Future as _;
