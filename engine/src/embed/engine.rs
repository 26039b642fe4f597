//! Starting and stopping an embedded engine: the job runs on its own
//! executor threads, started by a thread of the engine's own.

use std::sync::{Arc, Condvar, Mutex};

use async_channel::Receiver;

use super::error::EmbedError;
use super::ingest::{Ingest, IngestSource};
use super::output::{Delivery, Output, OutputShared, OutputSink};
use crate::api::{DataStream, Job, JobResult};
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
}

impl EngineBuilder {
    /// An engine running the job `name` with the default configuration.
    pub fn new(name: &str) -> Self {
        Self {
            name: name.to_string(),
            config: Config::default(),
            ingest_records_max: INGEST_RECORDS_MAX_DEFAULT,
            output_records_max: OUTPUT_RECORDS_MAX_DEFAULT,
        }
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
        let (tx, rx) = async_channel::bounded::<In>(self.ingest_records_max);
        let startup = Arc::new(Startup::default());
        let job = Job::builder(&self.name);
        let source_startup = startup.clone();
        let input = job.source("ingest", move |split: SplitInfo| {
            source_startup.split_ready(split.count);
            Ok(IngestSource::new(rx.clone()))
        });
        add_output_sink(&build(input), delivery);
        let job = job.build()?;
        let (done_tx, done_rx) = async_channel::bounded(1);
        let thread_startup = startup.clone();
        let config = without_checkpoints(self.config, &self.name);
        std::thread::Builder::new()
            .name(format!("spate-embed-{}", self.name))
            .spawn(move || {
                // Marks the end even if the run panics, so `start` never hangs.
                let _ended = EndGuard(thread_startup);
                let result = job.run(&config);
                // The job holds a receiver of the ingest queue; dropping it
                // before reporting makes `send` fail as soon as it is over.
                drop(job);
                let _ = done_tx.try_send(result);
            })
            .map_err(|source| EmbedError::Thread { source })?;
        let engine = Engine {
            ingest: Ingest::new(tx, self.ingest_records_max),
            done: done_rx,
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

/// The ingest queue cannot be rewound, so a checkpoint of an embedded job
/// could never be restored exactly: every attempt would abort (and warn).
/// A profile that sets an interval (e.g. `low-latency`) is still usable;
/// the engine says once that it runs without checkpoints.
fn without_checkpoints(mut config: Config, name: &str) -> Config {
    if config.checkpoint.interval_ms > 0 {
        tracing::info!(
            engine = name,
            "checkpoint.interval_ms = {} is ignored: an embedded engine takes no \
             checkpoints, because its ingest queue cannot be rewound after a failure",
            config.checkpoint.interval_ms
        );
        config.checkpoint.interval_ms = 0;
    }
    config
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
        match self.done.recv().await {
            Ok(result) => result.map_err(EmbedError::Job),
            Err(_) => Err(EmbedError::Internal {
                reason: "the embedded engine's thread ended without a result (it panicked)".into(),
            }),
        }
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
