//! Building and running a job.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Config;
use crate::error::Result;
use crate::metrics::JobMetrics;
use crate::runtime::executor::run_graph;
use crate::runtime::graph::{
    Edge, EdgeId, EdgeTyped, Graph, Node, NodeId, Partition, SourceFactory,
};
use crate::runtime::instantiate::Instantiator;
use crate::runtime::settings::RunSettings;
use crate::runtime::task::SourceTask;
use std::path::PathBuf;

use crate::sources::{
    BadRecordPolicy, CollectionSource, CsvSource, JsonLinesSource, Parsed, Source, SplitInfo,
    TextLinesSource, bad_records_tag,
};

use super::run_options::RunOptions;
use super::stream::DataStream;

/// The graph under construction, shared by every stream handle of a builder.
pub(crate) struct GraphBuilder {
    pub(crate) name: String,
    pub(crate) nodes: Vec<Node>,
    pub(crate) edges: Vec<Edge>,
    /// Problems found while building, reported by `build()`.
    pub(crate) errors: Vec<String>,
}

pub(crate) type SharedBuilder = Rc<RefCell<GraphBuilder>>;

impl GraphBuilder {
    pub(crate) fn add_node(
        &mut self,
        name: &str,
        source: Option<SourceFactory>,
        is_sink: bool,
    ) -> NodeId {
        self.nodes.push(Node {
            name: name.to_string(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            source,
            is_sink,
            committer: None,
            side_outputs: Vec::new(),
            snapshots_state: false,
        });
        self.nodes.len() - 1
    }

    /// Marks `node` as a keyed operator whose state checkpoints capture.
    pub(crate) fn mark_snapshots_state(&mut self, node: NodeId) {
        if let Some(n) = self.nodes.get_mut(node) {
            n.snapshots_state = true;
        }
    }

    pub(crate) fn add_edge<T: crate::Data>(
        &mut self,
        from: NodeId,
        tag: Option<String>,
        to: NodeId,
        partition: Partition,
        typed: EdgeTyped<T>,
    ) -> EdgeId {
        let id = self.edges.len();
        self.edges.push(Edge {
            tag,
            to,
            partition,
            ops: Arc::new(typed),
        });
        if let Some(n) = self.nodes.get_mut(from) {
            n.outputs.push(id);
        }
        if let Some(n) = self.nodes.get_mut(to) {
            n.inputs.push(id);
        }
        id
    }
}

/// Builds a job: the entry point of the DataStream API, like Flink's
/// `StreamExecutionEnvironment`.
///
/// ```
/// use spate::{Job, sinks::CollectSink};
/// let out = CollectSink::new();
/// let job = Job::builder("double");
/// job.from_collection(vec![1u64, 2, 3])
///     .map(|x| x * 2)
///     .sink("out", out.clone());
/// job.build().unwrap().run(&spate::config::Config::default()).unwrap();
/// let mut got = out.take();
/// got.sort();
/// assert_eq!(got, vec![2, 4, 6]);
/// ```
pub struct JobBuilder {
    pub(crate) g: SharedBuilder,
}

impl JobBuilder {
    /// A parallel source: `factory` is called once per core with its split.
    pub fn source<S, F>(&self, name: &str, factory: F) -> DataStream<S::Item>
    where
        S: Source,
        F: Fn(SplitInfo) -> Result<S> + Send + Sync + 'static,
    {
        let node_cell: Arc<std::sync::OnceLock<NodeId>> = Arc::new(std::sync::OnceLock::new());
        let node_for_factory = node_cell.clone();
        let task_name = name.to_string();
        let make: SourceFactory = Arc::new(move |inst: &mut Instantiator<'_>| {
            let node = *node_for_factory
                .get()
                .ok_or_else(|| crate::SpateError::internal("source node id unset"))?;
            let mut source = factory(SplitInfo {
                index: inst.core,
                count: inst.cores,
            })?;
            let restored = match inst.restored_source(node) {
                Some(crate::checkpoint::SourceRestore::Same(offset)) => source.seek(offset),
                Some(crate::checkpoint::SourceRestore::Rescaled(all)) => source.seek_rescaled(&all),
                None => Ok(()),
            };
            restored.map_err(|e| crate::SpateError::Checkpoint {
                reason: format!("restoring source `{task_name}` split {}: {e}", inst.core),
            })?;
            let out = inst.outputs_of::<S::Item>(node)?;
            let checkpointing = inst.take_checkpointing(node, &[]);
            Ok(Box::new(SourceTask {
                source,
                out,
                cx: inst.task_cx(),
                flushers: inst.take_flushers(),
                name: task_name.clone(),
                checkpointing,
                records: 0,
                completed_seen: 0,
            }))
        });
        let node = self.g.borrow_mut().add_node(name, Some(make), false);
        let _ = node_cell.set(node);
        DataStream::new(self.g.clone(), node, None)
    }

    /// A parallel source that stamps its records with event time and emits
    /// watermarks itself (see [`Source::watermark`]).
    pub fn source_with_watermarks<S, F>(&self, name: &str, factory: F) -> DataStream<S::Item>
    where
        S: Source,
        F: Fn(SplitInfo) -> Result<S> + Send + Sync + 'static,
    {
        self.source(name, factory).with_time(true)
    }

    /// A bounded CSV file source (serde fields in column order). Bad lines
    /// fail the job or go to the [`bad_records_tag`](crate::sources::bad_records_tag)
    /// side output of the returned stream, as `policy` says.
    pub fn read_csv<T>(
        &self,
        path: impl Into<PathBuf>,
        has_header: bool,
        policy: BadRecordPolicy,
    ) -> DataStream<T>
    where
        T: serde::de::DeserializeOwned + crate::Data,
    {
        let path = path.into();
        let parsed = self.source("csv", move |split| {
            CsvSource::<T>::open(&path, has_header, split)
        });
        split_bad_records(&parsed, policy)
    }

    /// A bounded text file source: one `String` per non-empty line.
    pub fn read_text_lines(&self, path: impl Into<PathBuf>) -> DataStream<String> {
        let path = path.into();
        self.source("text", move |split| TextLinesSource::open(&path, split))
    }

    /// A bounded JSON-lines file source, one object per line; bad lines are
    /// handled as for [`JobBuilder::read_csv`].
    pub fn read_json_lines<T>(
        &self,
        path: impl Into<PathBuf>,
        policy: BadRecordPolicy,
    ) -> DataStream<T>
    where
        T: serde::de::DeserializeOwned + crate::Data,
    {
        let path = path.into();
        let parsed = self.source("json-lines", move |split| {
            JsonLinesSource::<T>::open(&path, split)
        });
        split_bad_records(&parsed, policy)
    }

    /// A bounded source over a collection, split over the cores.
    pub fn from_collection<T: crate::Data + Sync>(&self, items: Vec<T>) -> DataStream<T> {
        let items = Arc::new(items);
        self.source("collection", move |split| {
            Ok(CollectionSource::new(items.clone(), split))
        })
    }

    /// Validates the graph and freezes it into a runnable [`Job`].
    pub fn build(self) -> Result<Job> {
        let mut b = self.g.borrow_mut();
        if let Some(problem) = b.errors.first() {
            return Err(crate::SpateError::invalid_job(problem.clone()));
        }
        let graph = Graph {
            name: b.name.clone(),
            nodes: std::mem::take(&mut b.nodes),
            edges: std::mem::take(&mut b.edges),
        };
        graph.validate()?;
        Ok(Job {
            graph: Arc::new(graph),
        })
    }
}

/// Routes parsed lines: records on, bad lines to the side output or a failure.
fn split_bad_records<T: crate::Data>(
    parsed: &DataStream<Parsed<T>>,
    policy: BadRecordPolicy,
) -> DataStream<T> {
    parsed.process(
        move |p: Parsed<T>, ctx: &mut crate::operators::process::Context<'_, T>| match p {
            Ok(v) => ctx.collect(v),
            Err(bad) => match policy {
                BadRecordPolicy::SideOutput => ctx.side_output(&bad_records_tag(), bad),
                BadRecordPolicy::Fail => ctx.fail(crate::SpateError::BadInput {
                    path: bad.path.clone().into(),
                    line: bad.line,
                    reason: bad.reason,
                }),
            },
        },
    )
}

/// A validated job graph, ready to run any number of times.
pub struct Job {
    graph: Arc<Graph>,
}

/// Says once per run where keyed state goes with the RocksDB backend.
fn check_backend(config: &Config) -> Result<()> {
    if config.state.backend == crate::config::StateBackendKind::RocksDb {
        tracing::info!(
            "state.backend = rocksdb: keyed process functions (ValueState, ListState, MapState, \
             ReducingState, AggregatingState, also in keyed co-process functions) keep their \
             state in one RocksDB instance per operator subtask; window, join and \
             rolling-aggregate operators keep theirs on the heap"
        );
    }
    Ok(())
}

/// What a finished job reports.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Counters, checksums and latency histograms.
    pub metrics: JobMetrics,
    /// Wall time from start to the end of the last task.
    pub wall: Duration,
    /// The number of cores it ran on.
    pub cores: usize,
    /// Where this run's checkpoints are (when checkpointing was on).
    pub checkpoint_dir: Option<PathBuf>,
}

impl Job {
    /// Starts building a job.
    pub fn builder(name: &str) -> JobBuilder {
        JobBuilder {
            g: Rc::new(RefCell::new(GraphBuilder {
                name: name.to_string(),
                nodes: Vec::new(),
                edges: Vec::new(),
                errors: Vec::new(),
            })),
        }
    }

    /// The job's name.
    pub fn name(&self) -> &str {
        &self.graph.name
    }

    /// Runs the job on this process's cores until every source is exhausted.
    pub fn run(&self, config: &Config) -> Result<JobResult> {
        self.run_with(config, &RunOptions::default())
    }

    /// Runs the job as [`run`](Self::run) does, restoring a savepoint first
    /// or taking savepoints on request, as `options` say.
    pub fn run_with(&self, config: &Config, options: &RunOptions) -> Result<JobResult> {
        check_backend(config)?;
        let settings = RunSettings::from_config(config);
        let cores = settings.cores;
        let start = Instant::now();
        let savepoints = options.savepoints.is_some() || options.from_savepoint.is_some();
        let mut checkpointed = config.checkpoint.interval_ms > 0 || savepoints;
        if savepoints && let Some(reason) = crate::checkpoint::uncheckpointable(&self.graph) {
            return Err(crate::SpateError::invalid_job(format!(
                "job `{}` cannot take or restore savepoints: {reason}",
                self.graph.name
            )));
        }
        if checkpointed && let Some(reason) = crate::checkpoint::uncheckpointable(&self.graph) {
            tracing::warn!(
                "job `{}` runs WITHOUT checkpoints although checkpoint.interval_ms = {}: {reason}",
                self.graph.name,
                config.checkpoint.interval_ms
            );
            checkpointed = false;
        }
        let (metrics, checkpoint_dir) = if checkpointed {
            let (m, dir) = crate::checkpoint::run_with_checkpoints(
                self.graph.clone(),
                settings,
                &config.checkpoint,
                options,
            )?;
            (m, Some(dir))
        } else {
            (run_graph(self.graph.clone(), settings, None)?, None)
        };
        Ok(JobResult {
            metrics,
            wall: start.elapsed(),
            cores,
            checkpoint_dir,
        })
    }

    /// Runs this process's share of a job spread over several processes:
    /// its cores run subtasks `placement.subtask_offset..` of
    /// `placement.parallelism`, and exchanges reach the other subtasks over
    /// `placement.links`. The metrics are this process's only.
    pub fn run_placed(
        &self,
        config: &Config,
        placement: crate::distributed::Placement,
    ) -> Result<JobResult> {
        check_backend(config)?;
        let mut settings = RunSettings::from_config(config);
        settings.subtask_offset = placement.subtask_offset;
        settings.parallelism = placement.parallelism;
        let cores = settings.cores;
        let start = Instant::now();
        if config.checkpoint.interval_ms > 0 {
            tracing::warn!(
                "job `{}` runs WITHOUT checkpoints although checkpoint.interval_ms = {}: \
                 checkpoints of a job spread over several processes are not supported yet",
                self.graph.name,
                config.checkpoint.interval_ms
            );
        }
        let metrics = run_graph(self.graph.clone(), settings, Some(placement.links))?;
        Ok(JobResult {
            metrics,
            wall: start.elapsed(),
            cores,
            checkpoint_dir: None,
        })
    }

    /// The job's graph.
    #[cfg(test)]
    pub(crate) fn into_graph(self) -> Arc<Graph> {
        self.graph
    }

    /// Why checkpoints cannot protect this job, if they cannot (a keyed
    /// operator whose state snapshots do not capture).
    pub fn checkpoint_blocker(&self) -> Option<String> {
        crate::checkpoint::uncheckpointable(&self.graph)
    }

    /// Runs this process's share of a job spread over several processes,
    /// with checkpoints the cluster coordinator triggers and completes
    /// through `checkpoints` (restoring the checkpoint it names). Without
    /// `checkpoint.interval_ms`, or when an operator's state cannot be
    /// captured, it runs as [`run_placed`](Self::run_placed) does.
    pub fn run_placed_checkpointed(
        &self,
        config: &Config,
        placement: crate::distributed::Placement,
        checkpoints: crate::checkpoint::PlacedCheckpoints,
    ) -> Result<JobResult> {
        check_backend(config)?;
        if config.checkpoint.interval_ms == 0
            || crate::checkpoint::uncheckpointable(&self.graph).is_some()
        {
            return self.run_placed(config, placement);
        }
        let mut settings = RunSettings::from_config(config);
        settings.subtask_offset = placement.subtask_offset;
        settings.parallelism = placement.parallelism;
        let cores = settings.cores;
        let start = Instant::now();
        let run_dir = checkpoints.run_dir.clone();
        let metrics = crate::checkpoint::run_placed_with_checkpoints(
            self.graph.clone(),
            settings,
            placement.links,
            checkpoints,
            config.checkpoint.mode == crate::config::CheckpointMode::Unaligned,
        )?;
        Ok(JobResult {
            metrics,
            wall: start.elapsed(),
            cores,
            checkpoint_dir: Some(run_dir),
        })
    }

    /// A readable description of the graph: operators, edges and chains.
    pub fn explain(&self) -> String {
        let g = &self.graph;
        let mut out = format!("job `{}`\n", g.name);
        for (id, n) in g.nodes.iter().enumerate() {
            let head = if g.is_task_head(id) { "task" } else { "    " };
            out.push_str(&format!("  [{id}] {head} {}\n", n.name));
            for &e in &n.outputs {
                if let Some(edge) = g.edges.get(e) {
                    let how = if g.is_chained(e) {
                        "chained".to_string()
                    } else {
                        format!("{:?}", edge.partition).to_lowercase()
                    };
                    out.push_str(&format!("        -> [{}] ({how})\n", edge.to));
                }
            }
        }
        out
    }
}
