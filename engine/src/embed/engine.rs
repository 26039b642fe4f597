//! Starting and stopping an embedded engine: the job runs on its own
//! executor threads, started by a thread of the engine's own.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

use async_channel::Receiver;

use super::durable::AckBook;
use super::error::EmbedError;
use super::ingest::{Entry, Ingest, IngestProgress, IngestSource};
use super::output::{Delivery, Output, OutputShared, OutputSink};
use crate::api::{DataStream, Job, JobResult, RunOptions};
use crate::checkpoint::{SavepointInfo, SavepointTrigger};
use crate::config::Config;
use crate::error::SpateError;
use crate::runtime::graph::Exchange;
use crate::sinks::SinkOp;
use crate::sources::SplitInfo;

/// The name of the embedded job's output sink in [`JobResult::metrics`].
pub const OUTPUT_SINK: &str = "output";

/// The default capacity of the ingest queue, in records.
pub const INGEST_RECORDS_MAX_DEFAULT: usize = 4096;

/// The default capacity of the [`Output`] stream's queue, in records.
pub const OUTPUT_RECORDS_MAX_DEFAULT: usize = 4096;

/// Configures and starts an embedded engine.
#[derive(Debug, Clone)]
pub struct EngineBuilder {
    name: String,
    config: Config,
    ingest_records_max: usize,
    output_records_max: usize,
    savepoints: bool,
    from_savepoint: Option<PathBuf>,
    checkpointed: bool,
}

impl EngineBuilder {
    /// An engine running the job `name` with the default configuration.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            config: Config::default(),
            ingest_records_max: INGEST_RECORDS_MAX_DEFAULT,
            output_records_max: OUTPUT_RECORDS_MAX_DEFAULT,
            savepoints: false,
            from_savepoint: None,
            checkpointed: false,
        }
    }

    /// Takes checkpoints every `checkpoint.interval_ms` of the configuration
    /// (which must be set) and restarts the job from the newest one after a
    /// failure, up to `checkpoint.restarts_max` times. Then
    /// [`Ingest::send_durable`] acknowledges a batch once a completed
    /// checkpoint holds it, and a batch a failure rolled back is answered
    /// as not durable, to be sent again: exactly-once state for what
    /// producers send that way. Records sent with [`Ingest::send`] are not
    /// tracked: those taken after the restored checkpoint are lost by a
    /// restart. Results may be delivered again after a restart (the
    /// output is at-least-once; make its consumer idempotent).
    pub fn checkpointed(mut self) -> Self {
        self.checkpointed = true;
        self
    }

    /// Lets [`Engine::stop_with_savepoint`] end the engine with a savepoint
    /// to resume from. The job's state then takes part in snapshots (heap
    /// tables note their changes), and its checkpoint files go under
    /// `checkpoint.dir` of the configuration; the savepoint itself is
    /// self-contained. Every keyed operator of the job must be one whose
    /// state checkpoints capture, or `start` fails saying which is not.
    pub fn with_savepoints(mut self) -> Self {
        self.savepoints = true;
        self
    }

    /// Starts from the savepoint at `location` (a directory or
    /// `s3://bucket/prefix`) that [`Engine::stop_with_savepoint`] wrote,
    /// also with another number of cores: keyed state, open windows and
    /// timers continue where they stopped. The job must be the same (same
    /// operator names and state), or `start` fails saying what differs.
    pub fn from_savepoint(mut self, location: impl Into<PathBuf>) -> Self {
        self.from_savepoint = Some(location.into());
        self
    }

    /// The engine's configuration (cores, profile settings, ...), e.g. from
    /// [`Config::load`] with the `low-latency` profile.
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// The capacity of the ingest queue, in records (at least 1). `send`
    /// waits and `try_send` fails while it is full.
    pub fn ingest_records_max(mut self, records: usize) -> Self {
        self.ingest_records_max = records.max(1);
        self
    }

    /// The capacity of the [`Output`] stream's queue, in records (at least 1).
    pub fn output_records_max(mut self, records: usize) -> Self {
        self.output_records_max = records.max(1);
        self
    }

    /// Starts the engine with the job `build` makes from the ingest stream;
    /// the stream it returns comes out of the [`Output`] stream.
    ///
    /// Blocks until the executors run (a few milliseconds); in an async
    /// context that cannot afford it, call it from a blocking task.
    pub fn start<In, Out, F>(self, build: F) -> Result<(Engine<In>, Output<Out>), EmbedError>
    where
        In: crate::Data,
        Out: crate::Data,
        F: FnOnce(DataStream<In>) -> DataStream<Out>,
    {
        let (tx, rx) = async_channel::bounded(self.output_records_max);
        let engine = self.launch(build, Delivery::Queue(tx))?;
        Ok((engine, Output::new(rx)))
    }

    /// Starts the engine like [`EngineBuilder::start`], delivering every
    /// result to `on_output` instead, called on the executor thread of the
    /// core that produced it. The lowest latency; the callback must not
    /// block, because the core waits for it.
    pub fn start_with_callback<In, Out, F, C>(
        self,
        build: F,
        on_output: C,
    ) -> Result<Engine<In>, EmbedError>
    where
        In: crate::Data,
        Out: crate::Data,
        F: FnOnce(DataStream<In>) -> DataStream<Out>,
        C: Fn(Out) + Send + Sync + 'static,
    {
        self.launch(build, Delivery::Callback(Arc::new(on_output)))
    }

    fn launch<In, Out, F>(self, build: F, delivery: Delivery<Out>) -> Result<Engine<In>, EmbedError>
    where
        In: crate::Data,
        Out: crate::Data,
        F: FnOnce(DataStream<In>) -> DataStream<Out>,
    {
        let (tx, rx) = async_channel::bounded::<Entry<In>>(self.ingest_records_max);
        let leftovers = rx.clone();
        let progress = Arc::new(IngestProgress::default());
        let book = Arc::new(AckBook::default());
        let source_book = book.clone();
        let startup = Arc::new(Startup::default());
        let job = Job::builder(&self.name);
        let source_startup = startup.clone();
        let source_progress = progress.clone();
        let input = job.source("ingest", move |split: SplitInfo| {
            source_startup.split_ready(split.count);
            Ok(IngestSource::new(
                rx.clone(),
                source_progress.clone(),
                source_book.clone(),
            ))
        });
        add_output_sink(&build(input), delivery);
        let job = job.build()?;
        if self.checkpointed
            && let Some(reason) = job.checkpoint_blocker()
        {
            return Err(EmbedError::Job(SpateError::invalid_job(format!(
                "engine `{}` is checkpointed, but {reason}",
                self.name
            ))));
        }
        let (done_tx, done_rx) = async_channel::bounded(1);
        let thread_startup = startup.clone();
        let config = embedded_checkpoints(self.config, &self.name, self.checkpointed)?;
        let mut options = RunOptions::default();
        let mut savepoints = None;
        if self.savepoints {
            let (trigger, inbox) = SavepointTrigger::channel();
            options = options.with_savepoints(inbox);
            savepoints = Some(trigger);
        }
        if let Some(location) = self.from_savepoint {
            options = options.from_savepoint(location);
        }
        std::thread::Builder::new()
            .name(format!("spate-embed-{}", self.name))
            .spawn(move || {
                // Marks the end even if the run panics, so `start` never hangs.
                let _ended = EndGuard(thread_startup);
                let result = job.run_with(&config, &options);
                // The job holds receivers of the ingest queue; closing it
                // before reporting makes `send` fail as soon as it is over.
                drop(job);
                leftovers.close();
                answer_leftovers(&leftovers, &book, result.is_ok());
                let _ = done_tx.try_send(result);
            })
            .map_err(|source| EmbedError::Thread { source })?;
        let engine = Engine {
            ingest: Ingest::new(
                tx,
                self.ingest_records_max,
                progress.clone(),
                self.checkpointed,
            ),
            done: done_rx,
            progress,
            savepoints,
        };
        if startup.wait_running() {
            return Ok(engine);
        }
        // The job ended before every split started: it failed to start.
        match engine.done.recv_blocking() {
            Ok(Err(e)) => Err(EmbedError::Job(e)),
            Ok(Ok(_)) => Err(EmbedError::Internal {
                reason: "the embedded job ended before its ingest source started".into(),
            }),
            Err(_) => Err(EmbedError::Internal {
                reason: "the embedded engine's thread ended without a result (it panicked)".into(),
            }),
        }
    }
}

/// The job ended: batches still queued were never processed, and those the
/// splits left unanswered are decided by how the job ended.
fn answer_leftovers<In>(queue: &Receiver<Entry<In>>, book: &AckBook, succeeded: bool) {
    while let Ok(entry) = queue.try_recv() {
        if let Entry::Batch(batch) = entry {
            batch
                .ack
                .lost("the engine stopped before the batch was processed");
        }
    }
    book.ended(succeeded);
}

/// The ingest queue cannot be rewound, so unless the engine is
/// `checkpointed` (and tracks durable batches instead), a checkpoint of an
/// embedded job could never be restored exactly: every attempt would abort
/// (and warn). A profile that sets an interval (e.g. `low-latency`) is
/// still usable; the engine says once that it runs without checkpoints.
/// For the same reason a failed job is not restarted (a restart would
/// silently skip what the failed run had taken from the queue): the engine
/// fails instead.
fn embedded_checkpoints(
    mut config: Config,
    name: &str,
    checkpointed: bool,
) -> Result<Config, EmbedError> {
    if checkpointed {
        if config.checkpoint.interval_ms == 0 {
            return Err(EmbedError::Job(SpateError::invalid_job(format!(
                "engine `{name}` is checkpointed but checkpoint.interval_ms is 0: set the \
                 interval at which batches become durable"
            ))));
        }
        return Ok(config);
    }
    config.checkpoint.restarts_max = 0;
    if config.checkpoint.interval_ms > 0 {
        tracing::info!(
            engine = name,
            "checkpoint.interval_ms = {} is ignored: an embedded engine takes no \
             checkpoints, because its ingest queue cannot be rewound after a failure",
            config.checkpoint.interval_ms
        );
        config.checkpoint.interval_ms = 0;
    }
    Ok(config)
}

/// Adds the sink that hands the job's results to the user.
fn add_output_sink<Out: crate::Data>(stream: &DataStream<Out>, delivery: Delivery<Out>) {
    let node = stream.connect_node(OUTPUT_SINK, Exchange::forward(), move |inst, node| {
        let shared = OutputShared::new(delivery.clone());
        // The task waits for room in the output queue like for an exchange.
        inst.add_flushable(shared.clone());
        let sink = OutputSink { shared };
        let (op, participant) = SinkOp::new(OUTPUT_SINK.to_string(), node, sink, None, inst)?;
        inst.add_participant(participant);
        Ok(Box::new(op))
    });
    if let Some(n) = stream.g.borrow_mut().nodes.get_mut(node) {
        n.is_sink = true;
    }
}

/// A running embedded engine. Send records through [`Engine::ingest`]; stop
/// it with [`Engine::shutdown`]. Dropping it without `shutdown` closes its
/// input; the job then drains and ends in the background.
pub struct Engine<In> {
    ingest: Ingest<In>,
    done: Receiver<Result<JobResult, SpateError>>,
    progress: Arc<IngestProgress>,
    savepoints: Option<SavepointTrigger>,
}

/// What [`Engine::stop_with_savepoint`] returns.
#[derive(Debug)]
#[non_exhaustive]
pub struct Stopped {
    /// The savepoint to resume from ([`EngineBuilder::from_savepoint`]).
    pub savepoint: SavepointInfo,
    /// The job's metrics. Its `checkpoint_dir` holds the run's own
    /// checkpoints, which nothing needs any more: delete it at will.
    pub result: JobResult,
}

impl<In> std::fmt::Debug for Engine<In> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("ingest", &self.ingest)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<In> Engine<In> {
    /// A handle that sends records into the job; clone it freely.
    pub fn ingest(&self) -> Ingest<In> {
        self.ingest.clone()
    }

    /// True once the job has ended (it failed, or it was shut down).
    pub fn is_finished(&self) -> bool {
        !self.done.is_empty() || self.done.is_closed()
    }

    /// Stops taking records and waits until everything sent before is
    /// processed and delivered (the final watermark fires every open
    /// window); returns the job's metrics, or the error that failed it.
    pub async fn shutdown(self) -> Result<JobResult, EmbedError> {
        self.ingest.close();
        self.job_result().await
    }

    /// Stops taking records, passes everything sent before into the job,
    /// writes a savepoint of its state to `target` (a directory or
    /// `s3://bucket/prefix`) and ends the job without draining it: open
    /// windows and timers do not fire now but after
    /// [`EngineBuilder::from_savepoint`] resumes them (Flink's
    /// stop-with-savepoint). Results of records sent before are delivered
    /// before it returns, so keep reading the [`Output`] stream meanwhile.
    ///
    /// Needs [`EngineBuilder::with_savepoints`]. When the savepoint cannot be
    /// written, the engine drains as [`Engine::shutdown`] does, so no
    /// result is lost, and the error says why.
    pub async fn stop_with_savepoint(
        self,
        target: impl Into<PathBuf>,
    ) -> Result<Stopped, EmbedError>
    where
        In: Send + 'static,
    {
        let Some(trigger) = self.savepoints.clone() else {
            return Err(EmbedError::SavepointsOff);
        };
        let target = target.into();
        self.progress.hold();
        self.ingest.close();
        let (reply_tx, reply_rx) = async_channel::bounded(1);
        let progress = self.progress.clone();
        let done = self.done.clone();
        let queue = self.ingest.clone();
        std::thread::Builder::new()
            .name("spate-embed-stop".into())
            .spawn(move || {
                let drained = || progress.all_passed(queue.is_empty());
                let written = take_final_savepoint(&drained, &done, &trigger, target);
                progress.release(written.is_ok());
                let _ = reply_tx.try_send(written);
            })
            .map_err(|source| EmbedError::Thread { source })?;
        let written = reply_rx.recv().await.map_err(|_| EmbedError::Internal {
            reason: "the thread taking the final savepoint ended without an answer".into(),
        })?;
        let result = self.job_result().await?;
        Ok(Stopped {
            savepoint: written?,
            result,
        })
    }

    async fn job_result(&self) -> Result<JobResult, EmbedError> {
        match self.done.recv().await {
            Ok(result) => result.map_err(EmbedError::Job),
            Err(_) => Err(EmbedError::Internal {
                reason: "the embedded engine's thread ended without a result (it panicked)".into(),
            }),
        }
    }
}

/// How often the stopping thread looks whether the queue has drained.
const DRAIN_CHECK_US: u64 = 200;

/// Waits until every record sent before the stop is inside the job (the
/// splits inject the savepoint's barrier after them), then takes the
/// savepoint. Blocking: runs on a thread of its own.
fn take_final_savepoint(
    drained: &dyn Fn() -> bool,
    done: &Receiver<Result<JobResult, SpateError>>,
    trigger: &SavepointTrigger,
    target: PathBuf,
) -> Result<SavepointInfo, EmbedError> {
    let ended = || !done.is_empty() || done.is_closed();
    while !drained() {
        if ended() {
            return Err(EmbedError::SavepointFailed {
                reason: "the job ended before its input drained (shutdown returns why)".into(),
            });
        }
        std::thread::sleep(std::time::Duration::from_micros(DRAIN_CHECK_US));
    }
    let failed = |reason: String| EmbedError::SavepointFailed { reason };
    let reply = trigger.request(target).map_err(|e| failed(e.to_string()))?;
    match reply.recv() {
        Ok(Ok(info)) => Ok(info),
        Ok(Err(e)) => Err(failed(e.to_string())),
        Err(_) => Err(failed(
            "the job ended before the savepoint was written".into(),
        )),
    }
}

impl<In> Drop for Engine<In> {
    fn drop(&mut self) {
        self.ingest.close();
    }
}

/// How far the executors got: every split of the ingest source created
/// (running), or the engine's thread ended.
#[derive(Default)]
struct Startup {
    state: Mutex<StartState>,
    changed: Condvar,
}

#[derive(Default)]
struct StartState {
    splits_ready: usize,
    splits: Option<usize>,
    ended: bool,
}

impl Startup {
    fn update(&self, f: impl FnOnce(&mut StartState)) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        self.changed.notify_all();
    }

    fn split_ready(&self, count: usize) {
        self.update(|s| {
            s.splits_ready += 1;
            s.splits = Some(count);
        });
    }

    /// True once every split runs, false if the thread ended first.
    fn wait_running(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if s.splits.is_some_and(|n| s.splits_ready >= n) {
                return true;
            }
            if s.ended {
                return false;
            }
            s = self.changed.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }
}

struct EndGuard(Arc<Startup>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        self.0.update(|s| s.ended = true);
    }
}
