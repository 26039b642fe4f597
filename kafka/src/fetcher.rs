//! The thread that reads a source split's partitions ahead of the core:
//! it fetches, drops aborted transactions by their markers, and hands
//! committed records over a bounded channel, so the core never waits on
//! the network.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::Duration;

use crate::client::Client;
use crate::error::{KafkaError, Result};
use crate::records::{CommittedReader, Entry, KafkaRecord, decode_batches};

/// Records of one partition, in offset order.
#[derive(Debug)]
pub(crate) struct Chunk {
    pub partition: i32,
    pub records: Vec<KafkaRecord>,
    /// Where reading resumes after these records: the first record still
    /// held for a marker, or the next offset to fetch.
    pub resume: i64,
    /// The partition is read up to its end for now.
    pub caught_up: bool,
}

/// What the core and the fetcher share.
#[derive(Debug, Default)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    /// Chunks sent and not yet received.
    pub queued: AtomicUsize,
    pub waker: Mutex<Option<Waker>>,
}

impl Shared {
    fn wake(&self) {
        if let Ok(mut w) = self.waker.lock()
            && let Some(w) = w.take()
        {
            w.wake();
        }
    }
}

/// How the fetcher reads.
#[derive(Debug, Clone)]
pub(crate) struct FetchPlan {
    pub topic: String,
    pub fetch_wait_ms: i32,
    pub partition_fetch_bytes_max: i32,
    pub held_records_max: usize,
    /// Bounded reading: records at or past a partition's end are not read.
    pub ends: Option<BTreeMap<i32, i64>>,
}

struct Cursor {
    partition: i32,
    /// The next offset to fetch.
    fetch: i64,
    /// The offset after the last entry given to the reader.
    pushed_end: i64,
    reader: CommittedReader,
    /// Only markers are read until the held records drain.
    scanning: bool,
    end: Option<i64>,
}

impl Cursor {
    fn resume(&self) -> i64 {
        self.reader.first_held().unwrap_or(self.pushed_end)
    }

    fn done(&self) -> bool {
        self.end.is_some_and(|end| self.resume() >= end)
    }
}

/// Starts the fetcher for `positions` (partition → next offset).
pub(crate) fn spawn(
    mut client: Client,
    plan: FetchPlan,
    positions: &BTreeMap<i32, i64>,
    depth: usize,
) -> Result<(Receiver<Result<Chunk>>, Arc<Shared>)> {
    let (tx, rx) = std::sync::mpsc::sync_channel(depth.max(1));
    let shared = Arc::new(Shared::default());
    let cursors: Vec<Cursor> = positions
        .iter()
        .map(|(&partition, &offset)| Cursor {
            partition,
            fetch: offset,
            pushed_end: offset,
            reader: CommittedReader::default(),
            scanning: false,
            end: plan.ends.as_ref().and_then(|e| e.get(&partition).copied()),
        })
        .collect();
    let thread_shared = shared.clone();
    std::thread::Builder::new()
        .name(format!("kafka-fetch-{}", plan.topic))
        .spawn(move || {
            let mut f = Fetcher {
                plan,
                cursors,
                tx,
                shared: thread_shared,
            };
            if let Err(e) = f.run(&mut client) {
                f.send(Err(e));
            }
        })
        .map_err(|e| KafkaError::Io {
            broker: String::new(),
            op: "starting the fetch thread".into(),
            source: e,
        })?;
    Ok((rx, shared))
}

struct Fetcher {
    plan: FetchPlan,
    cursors: Vec<Cursor>,
    tx: SyncSender<Result<Chunk>>,
    shared: Arc<Shared>,
}

impl Fetcher {
    fn run(&mut self, client: &mut Client) -> Result<()> {
        while !self.shared.stop.load(Ordering::Relaxed) {
            let wanted: Vec<(i32, i64)> = self
                .cursors
                .iter()
                .filter(|c| !c.done())
                .map(|c| (c.partition, c.fetch))
                .collect();
            if wanted.is_empty() {
                return Ok(());
            }
            let topic = self.plan.topic.clone();
            let (wait, bytes) = (self.plan.fetch_wait_ms, self.plan.partition_fetch_bytes_max);
            let fetched = client.retrying(|c| c.fetch(&topic, &wanted, wait, bytes))?;
            let mut progressed = false;
            for part in fetched {
                if part.error_code != 0 {
                    // A moved leader or a restarting broker: fetch again.
                    let broker = client.config().bootstrap.clone();
                    let ctx = || format!(" for `{topic}` partition {}", part.partition);
                    KafkaError::check(&broker, "Fetch", ctx, part.error_code)
                        .or_else(|e| if e.is_retriable() { Ok(()) } else { Err(e) })?;
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
                let Some(i) = self
                    .cursors
                    .iter()
                    .position(|c| c.partition == part.partition)
                else {
                    continue;
                };
                let cursor = &mut self.cursors[i];
                let (entries, next) =
                    decode_batches(&topic, part.partition, part.records, cursor.fetch)?;
                let mut released = Vec::new();
                absorb(
                    cursor,
                    entries,
                    next,
                    self.plan.held_records_max,
                    &mut released,
                );
                let caught_up = cursor.fetch >= part.high_watermark;
                progressed |= !released.is_empty();
                if let Some(end) = cursor.end {
                    released.retain(|r| r.offset < end);
                }
                let chunk = Chunk {
                    partition: part.partition,
                    records: released,
                    resume: cursor.resume(),
                    caught_up,
                };
                if !self.send(Ok(chunk)) {
                    return Ok(());
                }
            }
            if !progressed {
                // The broker's own wait may be short; do not spin.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Hands a chunk to the core, waiting while the channel is full;
    /// false once the core is gone.
    fn send(&self, item: Result<Chunk>) -> bool {
        let mut item = item;
        loop {
            // Counted before it can be received, so the count never
            // goes below zero.
            self.shared.queued.fetch_add(1, Ordering::AcqRel);
            match self.tx.try_send(item) {
                Ok(()) => {
                    self.shared.wake();
                    return true;
                }
                Err(TrySendError::Full(back)) => {
                    self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                    if self.shared.stop.load(Ordering::Relaxed) {
                        return false;
                    }
                    item = back;
                    self.shared.wake();
                    std::thread::sleep(Duration::from_micros(200));
                }
                Err(TrySendError::Disconnected(_)) => return false,
            }
        }
    }
}

/// Feeds fetched entries to a cursor's reader. Past `held_max` held
/// records only markers are read; once they release the held records,
/// fetching restarts after the last entry read normally.
fn absorb(
    cursor: &mut Cursor,
    entries: Vec<Entry>,
    next: Option<i64>,
    held_max: usize,
    out: &mut Vec<KafkaRecord>,
) {
    for e in entries {
        let offset = match &e {
            Entry::Data { record, .. } => record.offset,
            Entry::Marker { offset, .. } => *offset,
        };
        if !cursor.scanning {
            cursor.reader.push(e, out);
            cursor.pushed_end = offset + 1;
            cursor.scanning = cursor.reader.held() >= held_max;
        } else if let Entry::Marker {
            producer, commit, ..
        } = e
        {
            cursor.reader.decide(producer, commit, out);
            if cursor.reader.held() < held_max {
                cursor.scanning = false;
                cursor.fetch = cursor.pushed_end;
                return;
            }
        }
    }
    if let Some(next) = next {
        cursor.fetch = next;
        if !cursor.scanning {
            cursor.pushed_end = cursor.pushed_end.max(next);
        }
    }
}
