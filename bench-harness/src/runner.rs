//! Runs one Nexmark query as a Spate job and measures it.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use spate::checkpoint::SavepointTrigger;
use spate::config::Config;
use spate::sinks::{BlackholeSink, CollectSink};
use spate::{DataStream, Job, JobBuilder, JobResult, Result, RunOptions, SpateError};

use crate::nexmark::Event;
use crate::queries;
use crate::report::BenchReport;
use crate::source::{EventInput, NexmarkSource};

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchSpec {
    /// The query name, `q0`..`q8`.
    pub query: String,
    /// Generator or event file.
    pub input: EventInput,
    /// Events per second over all cores; 0 runs unthrottled.
    pub rate_per_s: u64,
    /// Counts generated events while the job runs, for progress display.
    pub progress: Option<Arc<AtomicU64>>,
    /// Fails the job once, when subtask 0 has read this many events: shows
    /// (and tests) recovery from the last checkpoint.
    pub fail_once_after_events: Option<u64>,
    /// Takes a savepoint into the directory once this many events were
    /// generated (the job runs on to the end).
    pub savepoint_after_events: Option<(u64, PathBuf)>,
    /// Restores this savepoint before the run starts.
    pub from_savepoint: Option<PathBuf>,
}

/// Where the query's output goes.
enum Output<T> {
    Blackhole,
    Collect(CollectSink<T>),
}

fn attach<T: spate::Data + Sync + std::hash::Hash>(stream: DataStream<T>, out: &Output<T>) {
    match out {
        Output::Blackhole => stream.sink_with_checksum("output", BlackholeSink),
        Output::Collect(c) => stream.sink_with_checksum("output", c.clone()),
    }
}

/// Builds the job of `spec.query`, sinking its output into `out`.
fn build_job(
    spec: &BenchSpec,
    sink: &mut dyn FnMut(&DataStream<Event>) -> Result<()>,
) -> Result<Job> {
    let job = Job::builder(&format!("nexmark {}", spec.query));
    let events = nexmark_events(&job, spec);
    sink(&events)?;
    job.build()
}

/// The spec's Nexmark event stream, with watermarks from the events.
pub(crate) fn nexmark_events(job: &JobBuilder, spec: &BenchSpec) -> DataStream<Event> {
    let input = spec.input.clone();
    let rate = spec.rate_per_s;
    let progress = spec.progress.clone();
    let events = job.source_with_watermarks("nexmark", move |split| {
        let mut s = NexmarkSource::new(&input, split, rate)?;
        if let Some(p) = &progress {
            s = s.with_progress(p.clone());
        }
        Ok(s)
    });
    match spec.fail_once_after_events {
        Some(n) => fail_once(&events, n),
        None => events,
    }
}

/// Passes events on, and fails the job once when subtask 0 has seen `n`
/// of them in one run. The flag outlives restarts, so the restarted job
/// runs through.
fn fail_once(events: &DataStream<Event>, n: u64) -> DataStream<Event> {
    let armed = Arc::new(AtomicBool::new(true));
    let seen = Arc::new(AtomicU64::new(0));
    events.process(
        move |e: Event, ctx: &mut spate::operators::process::Context<'_, Event>| {
            if ctx.subtask() == 0
                && seen.fetch_add(1, Ordering::Relaxed) + 1 == n
                && armed.swap(false, Ordering::SeqCst)
            {
                ctx.fail(SpateError::Operator {
                    operator: "fail-once".into(),
                    reason: format!("failure injected after {n} events (--fail-once-after-events)"),
                });
                return;
            }
            ctx.collect(e);
        },
    )
}

macro_rules! with_query {
    ($query:expr, $events:expr, |$s:ident| $body:expr) => {
        match $query {
            "q0" => {
                let $s = queries::q0($events);
                $body
            }
            "q1" => {
                let $s = queries::q1($events);
                $body
            }
            "q2" => {
                let $s = queries::q2($events);
                $body
            }
            "q3" => {
                let $s = queries::q3($events);
                $body
            }
            "q4" => {
                let $s = queries::q4($events);
                $body
            }
            "q5" => {
                let $s = queries::q5($events);
                $body
            }
            "q6" => {
                let $s = queries::q6($events);
                $body
            }
            "q7" => {
                let $s = queries::q7($events);
                $body
            }
            "q8" => {
                let $s = queries::q8($events);
                $body
            }
            other => {
                return Err(SpateError::invalid_job(format!(
                    "unknown query `{other}`; the queries are {}",
                    queries::QUERIES.join(", ")
                )))
            }
        }
    };
}

/// The job of `spec.query` with its output counted, checksummed and
/// dropped: what [`run`] runs, and what a cluster's workers build.
pub fn blackhole_job(spec: &BenchSpec) -> Result<Job> {
    build_job(spec, &mut |events| {
        with_query!(spec.query.as_str(), events, |s| attach(
            s,
            &Output::Blackhole
        ));
        Ok(())
    })
}

/// Runs the query with its output counted and checksummed, then dropped.
/// The process's peak-memory mark is reset first, so each report's peak is
/// that query's own.
pub fn run(spec: &BenchSpec, config: &Config) -> Result<BenchReport> {
    crate::report::reset_peak_rss();
    let mut spec = spec.clone();
    let mut options = RunOptions::default();
    if let Some(location) = &spec.from_savepoint {
        options = options.from_savepoint(location);
    }
    let watcher = match spec.savepoint_after_events.clone() {
        Some((after, dir)) => {
            let (trigger, inbox) = SavepointTrigger::channel();
            options = options.with_savepoints(inbox);
            let counter = spec.progress.get_or_insert_with(Default::default).clone();
            Some(SavepointWatcher::start(trigger, counter, after, dir))
        }
        None => None,
    };
    let job = blackhole_job(&spec)?;
    let result = job.run_with(config, &options);
    let savepoint = watcher.map(SavepointWatcher::finish);
    let mut report = BenchReport::new(&spec, &result?);
    report.savepoint = savepoint;
    Ok(report)
}

/// Asks for a savepoint once enough events were generated, and waits for it.
struct SavepointWatcher {
    ended: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<String>,
}

impl SavepointWatcher {
    fn start(trigger: SavepointTrigger, counter: Arc<AtomicU64>, after: u64, dir: PathBuf) -> Self {
        let ended = Arc::new(AtomicBool::new(false));
        let ended_flag = ended.clone();
        let thread = std::thread::spawn(move || {
            while counter.load(Ordering::Relaxed) < after {
                if ended_flag.load(Ordering::Acquire) {
                    return format!("not taken: the input ended before {after} events");
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let answer = trigger.request(&dir).and_then(|reply| {
                reply
                    .recv()
                    .map_err(|_| SpateError::internal("no savepoint reply"))
            });
            match answer.and_then(|r| r) {
                Ok(info) => format!(
                    "written to {} (checkpoint {}, {} files, {:.1} MiB)",
                    info.location,
                    info.checkpoint_id,
                    info.files,
                    info.bytes as f64 / (1024.0 * 1024.0)
                ),
                Err(e) => format!("failed: {e}"),
            }
        });
        Self { ended, thread }
    }

    fn finish(self) -> String {
        self.ended.store(true, Ordering::Release);
        self.thread
            .join()
            .unwrap_or_else(|_| "failed: the savepoint watcher panicked".into())
    }
}

/// Runs the query and returns its output rows (for golden tests), with the result.
pub fn run_collect<T>(
    spec: &BenchSpec,
    config: &Config,
    pick: fn(&DataStream<Event>) -> DataStream<T>,
) -> Result<(Vec<T>, JobResult)>
where
    T: spate::Data + Sync + std::hash::Hash,
{
    let sink = CollectSink::new();
    let out = Output::Collect(sink.clone());
    let job = build_job(spec, &mut |events| {
        attach(pick(events), &out);
        Ok(())
    })?;
    let result = job.run(config)?;
    Ok((sink.take(), result))
}
