//! A query whose rows the caller reads while it runs: the shell's live
//! results for a `SELECT` over an unbounded table (Flink's SQL client shows
//! them as they come and cancels the query on Ctrl-C).
//!
//! The job runs on its own thread; its sink hands each row to the caller
//! through a bounded channel (a slow reader holds the job back, it does not
//! buffer without limit). Cancelling makes every table scan stop without
//! draining: no final watermark, so no window closes on input it never saw,
//! and the job ends with what it has written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use spate::config::Config;
use spate::sinks::Sink;
use spate::time::Timestamp;
use spate::{Job, JobResult};

use crate::error::{Result, SqlError};
use crate::logical::LogicalPlan;
use crate::physical::{JobPlanner, PhysicalOptions};
use crate::row::Row;
use crate::schema::Schema;

/// Rows the sink may hand over before the reader takes them.
pub const LIVE_ROWS_MAX: usize = 4096;

/// A running query and the rows it has written so far.
pub struct LiveQuery {
    /// The result's columns.
    pub schema: Schema,
    rows: Receiver<Row>,
    cancel: Arc<AtomicBool>,
    job: Option<JoinHandle<Result<JobResult>>>,
}

/// What [`LiveQuery::next_row`] found.
#[derive(Debug)]
pub enum LiveRow {
    /// The next row of the changelog.
    Row(Row),
    /// No row within the wait; the query still runs.
    Waiting,
    /// The query ended (finished, cancelled or failed: see
    /// [`LiveQuery::finish`]) and every row has been read.
    Ended,
}

impl LiveQuery {
    /// Starts `plan` on its own thread with `config`; setting `cancel`
    /// stops it.
    pub(crate) fn start(
        plan: LogicalPlan,
        opts: PhysicalOptions,
        config: Config,
        cancel: Arc<AtomicBool>,
    ) -> Result<Self> {
        let (tx, rows) = sync_channel(LIVE_ROWS_MAX);
        let schema = plan.schema();
        let stop = cancel.clone();
        let job = std::thread::Builder::new()
            .name("spate-sql-query".into())
            .spawn(move || -> Result<JobResult> {
                let job = Job::builder("select");
                JobPlanner::new(&job, opts)
                    .with_cancel(stop)
                    .build(&plan)?
                    .sink_with_checksum_by("select", LiveSink { tx }, Row::checksum_share);
                Ok(job.build()?.run(&config)?)
            })
            .map_err(|e| SqlError::Internal(format!("starting the query's thread failed: {e}")))?;
        Ok(LiveQuery {
            schema,
            rows,
            cancel,
            job: Some(job),
        })
    }

    /// The next row, waiting up to `wait` for one.
    pub fn next_row(&self, wait: Duration) -> LiveRow {
        match self.rows.recv_timeout(wait) {
            Ok(r) => LiveRow::Row(r),
            Err(RecvTimeoutError::Timeout) => LiveRow::Waiting,
            Err(RecvTimeoutError::Disconnected) => LiveRow::Ended,
        }
    }

    /// Asks the query to stop; [`next_row`](Self::next_row) then returns
    /// what is left and [`LiveRow::Ended`].
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Release);
    }

    /// True once [`cancel`](Self::cancel) was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Waits for the job to end and returns its result. Rows not read yet
    /// are dropped.
    pub fn finish(mut self) -> Result<JobResult> {
        let job = self
            .job
            .take()
            .ok_or_else(|| SqlError::Internal("the query was already finished".into()))?;
        // Unread rows must not hold the sink back while the job ends.
        let rows = std::mem::replace(&mut self.rows, sync_channel(0).1);
        drop(rows);
        job.join()
            .map_err(|_| SqlError::Internal("the query's thread panicked".into()))?
    }
}

impl Drop for LiveQuery {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            self.cancel();
            let rows = std::mem::replace(&mut self.rows, sync_channel(0).1);
            drop(rows);
            let _ = job.join();
        }
    }
}

/// Hands each row to the reader; once the reader has gone the rows are
/// dropped (the job is being cancelled).
#[derive(Clone)]
struct LiveSink {
    tx: SyncSender<Row>,
}

impl Sink<Row> for LiveSink {
    fn write(&mut self, row: Row, _ts: Timestamp) -> spate::Result<()> {
        let _ = self.tx.send(row);
        Ok(())
    }
}
