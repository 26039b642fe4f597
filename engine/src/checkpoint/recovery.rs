//! Runs a job with checkpoints, and restarts it from the newest valid
//! checkpoint when it fails (Flink's fixed-delay restart strategy).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use spate_state::checkpoint::{
    CheckpointStorage, CheckpointUploader, SubtaskState, ThreadClass, VerifyLevel, open_registry,
    select_recovery,
};

use super::coordinator::CoordinatorSettings;
use super::driver::{Driver, DriverReport, DriverSetup, commit_all};
use super::hub::CheckpointHub;
use super::restore::RestoredPositions;
use super::snapshot::{SinkTransaction, TaskKey};
use crate::config::{CheckpointConfig, CheckpointMode};
use crate::error::{Result, SpateError};
use crate::metrics::JobMetrics;
use crate::runtime::executor::run_graph;
use crate::runtime::graph::{Graph, Partition};
use crate::runtime::settings::RunSettings;
use crate::sinks::Committer;

/// Where one run of a job keeps its checkpoints: `<dir>/<job>/run-<ms>`,
/// so a new run never mistakes an old run's checkpoints for its own.
fn run_dir(config: &CheckpointConfig, job: &str) -> PathBuf {
    let safe = super::location::path_safe(job);
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    config.dir.join(safe).join(format!("run-{started}"))
}

/// Runs `graph` with checkpoints every `config.interval_ms`, restarting
/// from the newest checkpoint after a failure, at most
/// `config.restarts_max` times.
pub(crate) fn run_with_checkpoints(
    graph: Arc<Graph>,
    settings: RunSettings,
    config: &CheckpointConfig,
    options: &crate::RunOptions,
) -> Result<(JobMetrics, PathBuf)> {
    let dir = run_dir(config, &graph.name);
    let staging = super::location::staging_dir(&dir, "staging");
    let result = run_attempts(graph, settings, config, (&dir, &staging), options);
    // Staged state files are copies of uploaded (or abandoned) ones.
    let _ = std::fs::remove_dir_all(&staging);
    result.map(|m| (m, dir))
}

/// Runs the job, restarting it from the newest checkpoint after failures.
fn run_attempts(
    graph: Arc<Graph>,
    settings: RunSettings,
    config: &CheckpointConfig,
    (dir, staging): (&std::path::Path, &std::path::Path),
    options: &crate::RunOptions,
) -> Result<JobMetrics> {
    let storage = super::location::open_storage(dir)?;
    let committers = committers_of(&graph);
    let mut restarts = 0u64;
    // Over every attempt of the run.
    let mut totals = crate::metrics::CheckpointMetrics::default();
    let mut savepoint_records = 0;
    loop {
        let restart_at = (restarts > 0).then(Instant::now);
        let mut restored = if restarts == 0 {
            None
        } else {
            restore(&storage, &committers, &settings, totals.last_completed_id)?
        };
        if restored.is_none()
            && let Some(savepoint) = &options.from_savepoint
        {
            let r = restore_savepoint(savepoint, &graph, &settings, &committers)?;
            savepoint_records = r
                .counters
                .values()
                .filter_map(|c| c.get("source_records"))
                .sum();
            restored = Some(r);
        }
        let attempt = Attempt::start(
            &graph,
            &settings,
            config,
            (&storage, staging.to_path_buf()),
            (&committers, options.savepoints.clone()),
            restored,
        )?;
        let to_run = restart_at.map(|at| at.elapsed());
        let (result, report, restored) = attempt.run(graph.clone(), settings.clone())?;
        totals.add(&report.metrics);
        match result {
            Ok(mut metrics) => {
                totals.recovery_ms = to_run.map(|d| {
                    let ns = d
                        .as_nanos()
                        .saturating_add(u128::from(metrics.ready_ns_max));
                    u64::try_from(ns / 1_000_000).unwrap_or(u64::MAX)
                });
                commit_all(&committers, &report.final_transactions)?;
                add_restored_counters(&mut metrics, restored.as_deref());
                metrics.checkpoints = totals;
                metrics.checkpoints.restarts = restarts;
                metrics.checkpoints.restored_from = restored.as_ref().map(|r| r.checkpoint_id);
                metrics.checkpoints.savepoint_source_records = savepoint_records;
                metrics.checkpoints.restore_ingested_files =
                    restored.as_ref().map_or(0, |r| r.scratch.ingested_files());
                metrics.checkpoints.restored_in_flight_bytes =
                    restored.as_ref().map_or(0, |r| r.in_flight_bytes());
                return Ok(metrics);
            }
            Err(e) if restarts < u64::from(config.restarts_max) && recoverable(&e) => {
                restarts += 1;
                tracing::warn!(
                    "the job failed ({e}); restarting from the last completed checkpoint \
                     (restart {restarts} of at most {})",
                    config.restarts_max
                );
                std::thread::sleep(Duration::from_millis(config.restart_delay_ms));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Why checkpoints cannot protect `graph` yet, if they cannot: a keyed
/// operator (after `key_by`) whose state snapshots do not capture yet;
/// restoring such a job would silently lose that state.
pub(crate) fn uncheckpointable(graph: &Graph) -> Option<String> {
    let keyed = graph
        .edges
        .iter()
        .filter(|e| e.partition == Partition::Hash)
        .filter_map(|e| graph.nodes.get(e.to))
        .find(|n| !n.snapshots_state)?;
    Some(format!(
        "operator `{}` keeps keyed state that checkpoints do not capture yet (keyed process \
         functions, rolling aggregates and aligned sliding or tumbling event-time window \
         aggregates do)",
        keyed.name
    ))
}

/// Failures a restart cannot fix are reported at once.
fn recoverable(e: &SpateError) -> bool {
    !matches!(
        e,
        SpateError::InvalidJob { .. } | SpateError::Config(_) | SpateError::Checkpoint { .. }
    )
}

pub(crate) fn committers_of(graph: &Graph) -> HashMap<usize, Arc<dyn Committer>> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter_map(|(id, n)| n.committer.clone().map(|c| (id, c)))
        .collect()
}

/// Picks the newest valid checkpoint and commits its transactions again
/// (idempotent), so the output it covers is published before the restart.
///
/// `completed` is the newest checkpoint this run completed. A newer
/// checkpoint than the one restored, damaged or gone, may have committed
/// sink output already; restoring the older one would publish the records
/// between them a second time, so a job with transactional sinks refuses
/// instead (found by the corrupt-checkpoint suite of `spate-torture`).
fn restore(
    storage: &Arc<dyn CheckpointStorage>,
    committers: &HashMap<usize, Arc<dyn Committer>>,
    settings: &RunSettings,
    completed: Option<u64>,
) -> Result<Option<RestoredPositions>> {
    let selection = newest_valid(storage)?;
    if !committers.is_empty() {
        let restorable = selection.as_ref().map(|(m, _)| m.checkpoint_id);
        let skipped = selection
            .as_ref()
            .and_then(|(_, rejected)| rejected.first().cloned());
        let newer = skipped.as_ref().map(|(id, _)| *id).max(completed);
        if let Some(newer) = newer.filter(|&n| restorable.is_none_or(|r| n > r)) {
            let why = skipped
                .filter(|(id, _)| *id == newer)
                .map_or("its manifest is gone".to_string(), |(_, why)| why);
            let fallback = restorable.map_or("the beginning of the input".to_string(), |r| {
                format!("checkpoint {r}")
            });
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "checkpoint {newer} in {} cannot be restored ({why}); restarting from \
                     {fallback} would publish again the output checkpoint {newer} committed to \
                     the job's transactional sinks, so the job stops instead of writing \
                     duplicates",
                    storage.location()
                ),
            });
        }
    }
    let Some((m, _)) = selection else {
        return Ok(None);
    };
    tracing::info!(
        "restoring checkpoint {} from {}",
        m.checkpoint_id,
        storage.location()
    );
    take_over(m, storage.clone(), committers, settings).map(Some)
}

/// Reads the newest valid checkpoint in the savepoint at `location`, checks
/// that this job can take its state, and commits its sink transactions
/// again (idempotent).
fn restore_savepoint(
    location: &std::path::Path,
    graph: &Graph,
    settings: &RunSettings,
    committers: &HashMap<usize, Arc<dyn Committer>>,
) -> Result<RestoredPositions> {
    let storage = super::location::open_storage(location)?;
    let (m, _) = newest_valid(&storage)?.ok_or_else(|| SpateError::Checkpoint {
        reason: format!(
            "{} holds no savepoint (no manifest under manifests/)",
            location.display()
        ),
    })?;
    check_restorable(
        &m,
        graph,
        settings.max_parallelism,
        &location.display().to_string(),
    )?;
    tracing::info!(
        "restoring savepoint {} (checkpoint {}) with parallelism {}",
        location.display(),
        m.checkpoint_id,
        settings.parallelism
    );
    take_over(m, storage, committers, settings)
}

/// A newer checkpoint passed over, and why.
type Rejected = (u64, String);

/// The newest checkpoint in `storage` whose files check out, and the newer
/// ones passed over (newest first), each logged with why.
fn newest_valid(
    storage: &Arc<dyn CheckpointStorage>,
) -> Result<Option<(spate_state::checkpoint::Manifest, Vec<Rejected>)>> {
    let Some(selection) = select_recovery(&**storage, VerifyLevel::Size)? else {
        return Ok(None);
    };
    let mut rejected = Vec::new();
    for bad in &selection.rejected {
        let why = bad.problems.join("; ");
        tracing::warn!(
            "checkpoint {} ({}) cannot be restored: {why}",
            bad.checkpoint_id,
            bad.manifest,
        );
        rejected.push((bad.checkpoint_id, why));
    }
    Ok(Some((selection.manifest, rejected)))
}

/// Publishes the output checkpoint `m` covers (commits are idempotent)
/// and reads what a run with `settings` restores from it.
fn take_over(
    m: spate_state::checkpoint::Manifest,
    storage: Arc<dyn CheckpointStorage>,
    committers: &HashMap<usize, Arc<dyn Committer>>,
    settings: &RunSettings,
) -> Result<RestoredPositions> {
    commit_all(committers, &transactions_of(m.checkpoint_id, &m.subtasks)?)?;
    RestoredPositions::from_manifest(m, storage, settings.parallelism, &settings.rocks_local_dir)
}

/// Fails, saying what differs, when the state in `m` cannot belong to
/// `graph`: another number of key groups, or operators that differ.
pub(crate) fn check_restorable(
    m: &spate_state::checkpoint::Manifest,
    graph: &Graph,
    max_parallelism: u16,
    location: &str,
) -> Result<()> {
    if m.max_parallelism != max_parallelism {
        return Err(SpateError::Checkpoint {
            reason: format!(
                "{location} was taken with runtime.max_parallelism = {}, this run has {}; the \
                 number of key groups cannot change, so set it back to {}",
                m.max_parallelism, max_parallelism, m.max_parallelism
            ),
        });
    }
    for st in &m.subtasks {
        let (node, name) = st.operator.split_once(':').unwrap_or(("", &st.operator));
        let ours = node
            .parse::<usize>()
            .ok()
            .and_then(|n| graph.nodes.get(n))
            .map(|n| n.name.as_str());
        if ours != Some(name) {
            return Err(SpateError::Checkpoint {
                reason: format!(
                    "{location} holds state of operator `{name}` at node {node}, but this job \
                     has {} there; it was taken from another job",
                    ours.map_or("no operator".to_string(), |n| format!("operator `{n}`"))
                ),
            });
        }
    }
    Ok(())
}

/// The sink transactions of `subtasks` in checkpoint `checkpoint_id`.
pub(crate) fn transactions_of<'a>(
    checkpoint_id: u64,
    subtasks: impl IntoIterator<Item = &'a SubtaskState>,
) -> Result<Vec<SinkTransaction>> {
    let mut out = Vec::new();
    for st in subtasks {
        for t in &st.sink_transactions {
            let sink_node = t.sink.parse().map_err(|_| SpateError::Checkpoint {
                reason: format!(
                    "checkpoint {checkpoint_id} names sink `{}`, which is not a node number",
                    t.sink
                ),
            })?;
            out.push(SinkTransaction {
                sink_node,
                checkpoint_id: t.checkpoint_id,
                handle: t.handle.clone(),
            });
        }
    }
    Ok(out)
}

/// The counters of the restored checkpoint count records committed before
/// this run started.
pub(crate) fn add_restored_counters(
    metrics: &mut JobMetrics,
    restored: Option<&RestoredPositions>,
) {
    let Some(restored) = restored else { return };
    for counters in restored.counters.values() {
        for (name, value) in counters {
            if name == "source_records" {
                metrics.source_records += value;
            } else if let Some(sink) = name.strip_prefix("sink.") {
                if let Some(sink) = sink.strip_suffix(".records") {
                    metrics.sinks.entry(sink.into()).or_default().records += value;
                } else if let Some(sink) = sink.strip_suffix(".checksum") {
                    let s = metrics.sinks.entry(sink.into()).or_default();
                    s.checksum = s.checksum.wrapping_add(*value);
                }
            }
        }
    }
}

/// How a run ended, what the driver saw, and what it had restored.
type AttemptOutcome = (
    Result<JobMetrics>,
    DriverReport,
    Option<Arc<RestoredPositions>>,
);

/// One run of the graph with its checkpoint driver.
struct Attempt {
    driver: Driver,
    hub: Arc<CheckpointHub>,
    restored: Option<Arc<RestoredPositions>>,
}

impl Attempt {
    fn start(
        graph: &Graph,
        settings: &RunSettings,
        config: &CheckpointConfig,
        (storage, staging_dir): (&Arc<dyn CheckpointStorage>, PathBuf),
        (committers, savepoints): (
            &HashMap<usize, Arc<dyn Committer>>,
            Option<super::SavepointInbox>,
        ),
        restored: Option<RestoredPositions>,
    ) -> Result<Self> {
        let opened = open_registry(&**storage, config.retained.max(1) as usize)?;
        // Ids go on from a restored savepoint's, so epochs only increase.
        let last = opened
            .registry
            .latest()
            .max(restored.as_ref().map(|r| r.checkpoint_id));
        let first_id = last.map_or(1, |id| id + 1);
        let class = ThreadClass::from(config.background_priority);
        let uploader = CheckpointUploader::start_in(
            storage.clone(),
            opened.registry,
            config.concurrent_max as usize + 1,
            class,
        )?;
        let heads = (0..graph.nodes.len())
            .filter(|&n| graph.is_task_head(n))
            .count();
        let tasks = heads * settings.parallelism;
        let sources = graph.source_count() * settings.parallelism;
        // Each task reports at most once per checkpoint in flight, plus once
        // when its input ends and once when it finishes.
        let events_max = tasks * (config.concurrent_max as usize + 3);
        let completed = restored.as_ref().map_or(0, |r| r.checkpoint_id);
        let (hub, events) = CheckpointHub::new(
            events_max,
            completed,
            config.final_checkpoint,
            config.mode == CheckpointMode::Unaligned,
        );
        let base: HashMap<TaskKey, _> = restored
            .as_ref()
            .map(|r| r.counters.clone())
            .unwrap_or_default();
        let setup = DriverSetup {
            settings: CoordinatorSettings {
                interval_ms: config.interval_ms,
                timeout_ms: config.timeout_ms,
                concurrent_max: config.concurrent_max,
                pause_min_ms: config.pause_min_ms,
            },
            tasks,
            sources,
            first_id,
            restored: restored.is_some(),
            job_id: graph.name.clone(),
            max_parallelism: settings.max_parallelism,
            parallelism: settings.parallelism,
            node_names: graph.nodes.iter().map(|n| n.name.clone()).collect(),
            committers: committers.clone(),
            base,
            uploader,
            staging_dir,
            savepoints,
            class,
        };
        let driver = Driver::start(setup, hub.clone(), events)?;
        Ok(Self {
            driver,
            hub,
            restored: restored.map(Arc::new),
        })
    }

    fn run(self, graph: Arc<Graph>, mut settings: RunSettings) -> Result<AttemptOutcome> {
        settings.checkpoints = Some(self.hub.clone());
        settings.restore = self.restored.clone();
        let result = run_graph(graph, settings, None);
        drop(self.hub);
        let report = self.driver.finish()?;
        Ok((result, report, self.restored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Job;

    fn keyed_graph() -> Graph {
        let job = Job::builder("keyed");
        job.from_collection((0..10u64).collect())
            .key_by(|v| v % 3)
            .reduce(|a, b| a + b)
            .sink("out", crate::sinks::CollectSink::new());
        let graph = job.build().unwrap().into_graph();
        Arc::try_unwrap(graph).unwrap_or_else(|_| panic!("the graph is shared"))
    }

    #[test]
    fn keyed_operators_that_snapshot_their_state_allow_checkpoints() {
        assert_eq!(uncheckpointable(&keyed_graph()), None);
    }

    #[test]
    fn a_keyed_operator_without_snapshots_keeps_the_job_from_checkpointing() {
        let mut graph = keyed_graph();
        for n in &mut graph.nodes {
            n.snapshots_state = false;
        }
        let why = uncheckpointable(&graph).unwrap_or_default();
        assert!(why.contains("`keyed_process`"), "{why}");
    }
}
