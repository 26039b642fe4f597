//! The Kafka sink: at-least-once (a checkpoint waits until every record
//! before it is acknowledged) or exactly-once through one Kafka
//! transaction per subtask and checkpoint, pre-committed at the barrier
//! and committed when the checkpoint completes.
//!
//! A transaction's id is `{prefix}-{subtask}-{counter}`. Its handle in
//! the checkpoint holds the producer id and epoch, so recovery commits a
//! pre-committed transaction directly at the coordinator, even from
//! another process. Ids after the restored checkpoint's were used by the
//! failed run: the sink registers them again in order, which aborts
//! their open transactions, until it finds one never used, so nothing is
//! left open to block readers.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};

use spate::sinks::{Committer, FINAL_TRANSACTION, Sink};
use spate::sources::SplitInfo;
use spate::time::Timestamp;

use crate::client::{Client, ProducerIdentity};
use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};
use crate::partitioner::partition_of;
use crate::producer::{self, Command, ProducerPlan};
use crate::records::OutRecord;

/// The guarantee a [`KafkaSink`] gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Every record reaches the topic at least once: a checkpoint
    /// completes only after the broker acknowledged everything before it.
    AtLeastOnce,
    /// Every record is visible to read-committed readers exactly once,
    /// through Kafka transactions tied to checkpoints.
    ExactlyOnce,
}

/// Where and how a [`KafkaSink`] writes.
#[derive(Debug, Clone)]
pub struct KafkaSinkConfig {
    /// The brokers.
    pub client: ClientConfig,
    /// The topic (it must exist).
    pub topic: String,
    /// The guarantee.
    pub delivery: Delivery,
    /// Prefix of the transactional ids; unique per job, stable across its
    /// restarts (as Flink's `transactionalIdPrefix`).
    pub transactional_id_prefix: String,
    /// How long the broker keeps a transaction open before aborting it:
    /// longer than a checkpoint interval plus a recovery.
    pub transaction_timeout_ms: i32,
    /// Records buffered per partition before a batch is sent.
    pub batch_records_max: usize,
    /// Bytes buffered per partition before a batch is sent.
    pub batch_bytes_max: usize,
    /// Batches queued for the producer thread before `write` waits.
    pub queued_batches_max: usize,
}

impl KafkaSinkConfig {
    /// Writes `topic` at least once, batches of 1000 records or 1 MiB,
    /// 8 batches queued; transactions (if chosen) time out after 10 min.
    pub fn new(client: ClientConfig, topic: impl Into<String>) -> Self {
        let topic = topic.into();
        Self {
            client,
            transactional_id_prefix: format!("spate-{topic}"),
            topic,
            delivery: Delivery::AtLeastOnce,
            transaction_timeout_ms: 600_000,
            batch_records_max: 1000,
            batch_bytes_max: 1 << 20,
            queued_batches_max: 8,
        }
    }
}

/// Turns a value into the record written for it.
pub type Serializer<T> = Arc<dyn Fn(&T, Timestamp) -> OutRecord + Send + Sync>;

/// Per subtask, the counter of the last transaction committed here
/// (recovery commits the restored checkpoint's before the job starts).
#[derive(Debug, Default)]
struct Ledger {
    committed: Mutex<BTreeMap<u32, u64>>,
}

impl Ledger {
    fn record(&self, subtask: u32, counter: u64) {
        if let Ok(mut m) = self.committed.lock() {
            let c = m.entry(subtask).or_insert(counter);
            *c = (*c).max(counter);
        }
    }

    fn snapshot(&self) -> BTreeMap<u32, u64> {
        self.committed.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

/// Writes a stream to a Kafka topic.
pub struct KafkaSink<T> {
    config: KafkaSinkConfig,
    serialize: Serializer<T>,
    ledger: Arc<Ledger>,
    run: Option<Running>,
}

impl<T> Clone for KafkaSink<T> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            serialize: self.serialize.clone(),
            ledger: self.ledger.clone(),
            run: None,
        }
    }
}

struct Running {
    subtask: u32,
    partitions: i32,
    /// `None` only while dropping.
    commands: Option<SyncSender<Command>>,
    /// Set when the subtask goes away: the thread drops what is queued.
    closed: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    buffers: Vec<(Vec<OutRecord>, usize)>,
    /// The open transaction's counter, and the answer of its `Begin`.
    counter: u64,
    begun: Option<Mutex<Receiver<Result<u64>>>>,
    next_unkeyed: usize,
}

impl<T> KafkaSink<T> {
    /// A sink writing what `serialize` makes of each value.
    pub fn new(
        config: KafkaSinkConfig,
        serialize: impl Fn(&T, Timestamp) -> OutRecord + Send + Sync + 'static,
    ) -> Self {
        Self {
            config,
            serialize: Arc::new(serialize),
            ledger: Arc::default(),
            run: None,
        }
    }

    fn operator(&self) -> String {
        format!("kafka sink `{}`", self.config.topic)
    }

    fn fail(&self, e: KafkaError) -> spate::SpateError {
        e.into_spate(&self.operator())
    }

    fn running(&mut self) -> Result<&mut Running> {
        self.run.as_mut().ok_or_else(|| KafkaError::Internal {
            reason: "the sink was written to before it was opened".into(),
        })
    }

    fn start(&mut self, split: SplitInfo) -> Result<Running> {
        let c = &self.config;
        if c.batch_records_max == 0 || c.queued_batches_max == 0 {
            return Err(KafkaError::InvalidConfig {
                reason: "batch_records_max and queued_batches_max must be at least 1".into(),
            });
        }
        let mut client = Client::new(c.client.clone())?;
        let partitions = client.partition_count(&c.topic)?;
        let subtask = split.index as u32;
        let exactly_once = c.delivery == Delivery::ExactlyOnce;
        let ledger = self.ledger.snapshot();
        if exactly_once {
            self.fence_vanished_subtasks(&mut client, &ledger, split)?;
        }
        let plan = ProducerPlan {
            topic: c.topic.clone(),
            transactional: exactly_once.then(|| format!("{}-{subtask}", c.transactional_id_prefix)),
            transaction_timeout_ms: c.transaction_timeout_ms,
        };
        let (commands, rx) = std::sync::mpsc::sync_channel(c.queued_batches_max);
        let closed = Arc::new(AtomicBool::new(false));
        let thread_closed = closed.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kafka-produce-{}", c.topic))
            .spawn(move || producer::run(client, plan, rx, &thread_closed))
            .map_err(|e| KafkaError::Io {
                broker: String::new(),
                op: "starting the producer thread".into(),
                source: e,
            })?;
        let mut run = Running {
            subtask,
            partitions,
            commands: Some(commands),
            closed,
            thread: Some(thread),
            buffers: vec![(Vec::new(), 0); partitions as usize],
            counter: 0,
            begun: None,
            next_unkeyed: split.index,
        };
        if exactly_once {
            let first = ledger.get(&subtask).map_or(0, |k| k + 1);
            run.begin(first)?;
            run.counter = run.await_begun()?;
        }
        Ok(run)
    }

    /// After a restore with fewer subtasks, the ids of subtasks that are
    /// gone may still hold open transactions: this subtask fences those
    /// that map to it.
    fn fence_vanished_subtasks(
        &self,
        client: &mut Client,
        ledger: &BTreeMap<u32, u64>,
        split: SplitInfo,
    ) -> Result<()> {
        let count = split.count.max(1) as u32;
        for (&old, &last) in ledger {
            if old >= count && old % count == split.index as u32 {
                let base = format!("{}-{old}", self.config.transactional_id_prefix);
                let mut k = last + 1;
                while client
                    .init_producer_id(&format!("{base}-{k}"), self.config.transaction_timeout_ms)?
                    .epoch
                    != 0
                {
                    k += 1;
                }
            }
        }
        Ok(())
    }
}

impl Running {
    fn send(&self, cmd: Command) -> Result<()> {
        let sent = self.commands.as_ref().map(|c| c.send(cmd));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => Err(KafkaError::Internal {
                reason: "the producer thread is gone".into(),
            }),
        }
    }

    fn begin(&mut self, counter: u64) -> Result<()> {
        let (answer, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Command::Begin { counter, answer })?;
        self.begun = Some(Mutex::new(rx));
        Ok(())
    }

    fn await_begun(&mut self) -> Result<u64> {
        let Some(rx) = self.begun.take() else {
            return Ok(self.counter);
        };
        let rx = rx.into_inner().map_err(|_| KafkaError::Internal {
            reason: "a poisoned lock".into(),
        })?;
        rx.recv().map_err(|_| KafkaError::Internal {
            reason: "the producer thread ended without beginning the transaction".into(),
        })?
    }

    fn send_batch(&mut self, partition: usize) -> Result<()> {
        let (records, _) = std::mem::take(&mut self.buffers[partition]);
        if records.is_empty() {
            return Ok(());
        }
        self.send(Command::Batch {
            partition: partition as i32,
            records,
        })
    }

    fn flush(&mut self) -> Result<Option<(ProducerIdentity, bool)>> {
        for p in 0..self.buffers.len() {
            self.send_batch(p)?;
        }
        let (answer, rx) = std::sync::mpsc::sync_channel(1);
        self.send(Command::Flush(answer))?;
        rx.recv().map_err(|_| KafkaError::Internal {
            reason: "the producer thread ended before the flush".into(),
        })?
    }
}

impl Drop for Running {
    /// A failed subtask's thread must not touch its transactional ids once
    /// the restarted subtask takes them over, so it is stopped and joined
    /// (it finishes at most the request in flight).
    fn drop(&mut self) {
        self.closed.store(true, Ordering::Release);
        self.commands = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl<T: 'static> Sink<T> for KafkaSink<T> {
    fn open(&mut self, split: SplitInfo) -> spate::Result<()> {
        let run = self.start(split).map_err(|e| self.fail(e))?;
        self.run = Some(run);
        Ok(())
    }

    fn write(&mut self, value: T, ts: Timestamp) -> spate::Result<()> {
        let record = (self.serialize)(&value, ts);
        let (records_max, bytes_max) = (self.config.batch_records_max, self.config.batch_bytes_max);
        let result = (|| {
            let run = self.running()?;
            let p = match &record.key {
                Some(k) => partition_of(k, run.partitions) as usize,
                None => {
                    run.next_unkeyed = run.next_unkeyed.wrapping_add(1);
                    run.next_unkeyed % run.partitions as usize
                }
            };
            let size = record.value.len() + record.key.as_ref().map_or(0, |k| k.len()) + 24;
            let (buf, bytes) = &mut run.buffers[p];
            buf.push(record);
            *bytes += size;
            if buf.len() >= records_max || *bytes >= bytes_max {
                run.send_batch(p)?;
            }
            Ok(())
        })();
        result.map_err(|e| self.fail(e))
    }

    fn finish(&mut self) -> spate::Result<()> {
        let result = self.running().and_then(|r| r.flush().map(|_| ()));
        result.map_err(|e| self.fail(e))
    }

    fn pre_commit(&mut self, checkpoint_id: u64) -> spate::Result<Option<Vec<u8>>> {
        let exactly_once = self.config.delivery == Delivery::ExactlyOnce;
        let result = (|| {
            let run = self.running()?;
            run.counter = run.await_begun()?;
            let open = run.flush()?;
            if !exactly_once {
                return Ok(None);
            }
            let (identity, has_records) = open.ok_or_else(|| KafkaError::Internal {
                reason: "an exactly-once sink has no open transaction".into(),
            })?;
            let handle = Handle {
                subtask: run.subtask,
                counter: run.counter,
                has_records,
                identity,
            };
            if checkpoint_id != FINAL_TRANSACTION {
                run.begin(run.counter + 1)?;
            }
            Ok(Some(handle.encode()))
        })();
        result.map_err(|e| self.fail(e))
    }

    fn committer(&self) -> Option<Arc<dyn Committer>> {
        (self.config.delivery == Delivery::ExactlyOnce).then(|| {
            Arc::new(KafkaCommitter {
                client: Mutex::new(None),
                config: self.config.client.clone(),
                ledger: self.ledger.clone(),
            }) as Arc<dyn Committer>
        })
    }
}

/// A pre-committed transaction, as stored in a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Handle {
    subtask: u32,
    counter: u64,
    has_records: bool,
    identity: ProducerIdentity,
}

const HANDLE_VERSION: u8 = 1;

impl Handle {
    fn encode(&self) -> Vec<u8> {
        let id = self.identity.transactional_id.as_bytes();
        let mut out = Vec::with_capacity(26 + id.len());
        out.push(HANDLE_VERSION);
        out.extend_from_slice(&self.subtask.to_le_bytes());
        out.extend_from_slice(&self.counter.to_le_bytes());
        out.extend_from_slice(&self.identity.producer_id.to_le_bytes());
        out.extend_from_slice(&self.identity.epoch.to_le_bytes());
        out.push(u8::from(self.has_records));
        out.extend_from_slice(&(id.len() as u16).to_le_bytes());
        out.extend_from_slice(id);
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        let corrupt = |reason: String| KafkaError::CorruptCheckpoint {
            what: "transaction handle",
            reason,
        };
        let mut r = Reader(bytes);
        let version = r.take::<1>().ok_or_else(|| corrupt("it is empty".into()))?[0];
        if version != HANDLE_VERSION {
            return Err(corrupt(format!(
                "format version {version}, expected {HANDLE_VERSION}"
            )));
        }
        let short = || corrupt(format!("{} bytes is too short", bytes.len()));
        let subtask = u32::from_le_bytes(r.take().ok_or_else(short)?);
        let counter = u64::from_le_bytes(r.take().ok_or_else(short)?);
        let producer_id = i64::from_le_bytes(r.take().ok_or_else(short)?);
        let epoch = i16::from_le_bytes(r.take().ok_or_else(short)?);
        let has_records = r.take::<1>().ok_or_else(short)?[0] != 0;
        let len = u16::from_le_bytes(r.take().ok_or_else(short)?) as usize;
        if r.0.len() != len {
            return Err(corrupt(format!(
                "the id is {} bytes, {len} announced",
                r.0.len()
            )));
        }
        let transactional_id = String::from_utf8(r.0.to_vec())
            .map_err(|_| corrupt("the transactional id is not UTF-8".into()))?;
        Ok(Self {
            subtask,
            counter,
            has_records,
            identity: ProducerIdentity {
                transactional_id,
                producer_id,
                epoch,
            },
        })
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_at_checked(N)?;
        self.0 = rest;
        head.try_into().ok()
    }
}

/// Commits pre-committed transactions at their coordinator.
struct KafkaCommitter {
    config: ClientConfig,
    client: Mutex<Option<Client>>,
    ledger: Arc<Ledger>,
}

impl Committer for KafkaCommitter {
    fn commit(&self, handle: &[u8]) -> spate::Result<()> {
        let fail = |e: KafkaError| e.into_spate("kafka sink committer");
        let h = Handle::decode(handle).map_err(fail)?;
        if h.has_records {
            let mut guard = self.client.lock().map_err(|_| {
                fail(KafkaError::Internal {
                    reason: "a poisoned lock".into(),
                })
            })?;
            if guard.is_none() {
                *guard = Some(Client::new(self.config.clone()).map_err(fail)?);
            }
            if let Some(client) = guard.as_mut() {
                client.end_txn(&h.identity, true).map_err(fail)?;
            }
        }
        self.ledger.record(h.subtask, h.counter);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_round_trip_and_corruption_is_named() {
        let h = Handle {
            subtask: 3,
            counter: 41,
            has_records: true,
            identity: ProducerIdentity {
                transactional_id: "job-3-41".into(),
                producer_id: 9001,
                epoch: 2,
            },
        };
        let bytes = h.encode();
        assert_eq!(Handle::decode(&bytes).expect("decodes"), h);
        let e = Handle::decode(&bytes[..bytes.len() - 2]).expect_err("cut");
        assert!(
            e.to_string().contains("the id is 6 bytes, 8 announced"),
            "{e}"
        );
        let e = Handle::decode(&bytes[..5]).expect_err("short");
        assert!(e.to_string().contains("too short"), "{e}");
    }
}
