//! Starts one pinned glommio executor per core, wires the exchange
//! channels between them, runs every task and merges the results.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use glommio::{LocalExecutorBuilder, Placement};

use super::graph::{EdgeId, Graph, Partition};
use super::instantiate::Instantiator;
use super::settings::RunSettings;
use crate::error::{Result, SpateError};
use crate::metrics::JobMetrics;
use crate::time::SystemClock;

type Endpoints = HashMap<EdgeId, Vec<Option<Box<dyn Any + Send>>>>;

/// Runs the job to completion (bounded input) or failure.
pub(crate) fn run_graph(graph: Arc<Graph>, settings: RunSettings) -> Result<JobMetrics> {
    let cores = settings.cores.max(1);
    let (mut txs, mut rxs) = create_channels(&graph, &settings);
    let clock = SystemClock::default();
    let mut handles = Vec::with_capacity(cores);
    for core in (0..cores).rev() {
        let placement = if settings.pin_cores {
            Placement::Fixed(core)
        } else {
            Placement::Unbound
        };
        let (graph, settings, clock) = (graph.clone(), settings.clone(), clock.clone());
        let my_txs = txs.pop().unwrap_or_default();
        let my_rxs = rxs.pop().unwrap_or_default();
        let builder = LocalExecutorBuilder::new(placement)
            .name(&format!("spate-core-{core}"))
            .io_memory(settings.io_memory_bytes)
            .spin_before_park(Duration::from_micros(settings.spin_before_park_us));
        let handle =
            builder
                .spawn(move || async move {
                    run_core(&graph, &settings, core, my_txs, my_rxs, clock).await
                })
                .map_err(|e| SpateError::Runtime {
                    core,
                    reason: format!(
                        "could not start the executor ({e}); glommio needs locked memory \
                     (`ulimit -l` of at least the io_memory setting, runtime.io_memory_kib)"
                    ),
                })?;
        handles.push((core, handle));
    }
    let mut metrics = JobMetrics::default();
    let mut first_error: Option<SpateError> = None;
    for (core, handle) in handles.into_iter().rev() {
        match handle.join() {
            Ok(Ok(m)) => metrics.merge(&m),
            Ok(Err(e)) => {
                // The first failure causes the others (closed channels); report it.
                if first_error.as_ref().is_none_or(is_consequence) {
                    first_error = Some(e);
                }
            }
            Err(e) => {
                first_error.get_or_insert(SpateError::Runtime {
                    core,
                    reason: format!("the executor thread failed: {e}"),
                });
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(metrics),
    }
}

fn is_consequence(e: &SpateError) -> bool {
    matches!(e, SpateError::Runtime { .. })
}

/// Creates the cross-core channels of every exchange edge. Same-core
/// channels are created later on the core itself (they are not `Send`) and
/// are marked here by `None`.
fn create_channels(graph: &Graph, settings: &RunSettings) -> (Vec<Endpoints>, Vec<Endpoints>) {
    let n = settings.cores.max(1);
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
        for i in 0..n {
            txs.get_mut(i)
                .map(|m| m.insert(e, (0..n).map(|_| None).collect()));
            rxs.get_mut(i)
                .map(|m| m.insert(e, (0..n).map(|_| None).collect()));
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
                    .and_then(|v| v.get_mut(j))
                {
                    *slot = Some(tx);
                }
                if let Some(slot) = rxs
                    .get_mut(j)
                    .and_then(|m| m.get_mut(&e))
                    .and_then(|v| v.get_mut(i))
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
    graph: &Graph,
    settings: &RunSettings,
    core: usize,
    txs: Endpoints,
    rxs: Endpoints,
) -> Result<(Connected, Connected)> {
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
        let local = if slots.len() == 1 { 0 } else { core };
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

async fn run_core(
    graph: &Graph,
    settings: &RunSettings,
    core: usize,
    txs: Endpoints,
    rxs: Endpoints,
    clock: SystemClock,
) -> Result<JobMetrics> {
    let (txs, rxs) = connect_endpoints(graph, settings, core, txs, rxs).await?;
    let rxs = rxs
        .into_iter()
        .map(|(e, v)| {
            v.into_iter()
                .collect::<Option<Vec<_>>>()
                .map(|v| (e, v))
                .ok_or_else(|| SpateError::internal(format!("edge {e}: a receiver is missing")))
        })
        .collect::<Result<HashMap<_, _>>>()?;
    let inst = Instantiator::new(graph, core, settings, txs, rxs, clock);
    let (tasks, metrics) = inst.build_tasks()?;
    let mut running: Vec<Option<glommio::Task<Result<()>>>> = tasks
        .into_iter()
        .map(|t| Some(glommio::spawn_local(t.run())))
        .collect();
    // Wait for all tasks; on the first failure, drop the others so their
    // channels close and the failure reaches every core.
    futures_lite::future::poll_fn(|cx| {
        let mut all_done = true;
        for slot in running.iter_mut() {
            if let Some(task) = slot {
                match std::pin::Pin::new(task).poll(cx) {
                    Poll::Ready(Ok(())) => *slot = None,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => all_done = false,
                }
            }
        }
        if all_done {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    })
    .await?;
    Ok(metrics.snapshot())
}

use std::future::Future as _;
