//! The Kafka source: each split reads the partitions `p` with
//! `p mod splits = split`, keeps its offsets in Spate's checkpoints (never
//! in Kafka), reads committed records only, and derives per-partition
//! watermarks from the record timestamps.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::task::{Context, Poll};
use std::time::Instant;

use spate::sources::{Source, SourceCollector, SourcePoll, SplitInfo};
use spate::time::Timestamp;

use crate::client::{Client, OffsetSpec};
use crate::config::ClientConfig;
use crate::error::{KafkaError, Result};
use crate::fetcher::{self, Chunk, FetchPlan, Shared};
use crate::records::KafkaRecord;

/// Where a partition without a checkpointed offset starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartFrom {
    /// Its first stored record.
    Earliest,
    /// After its last committed record when the split starts.
    Latest,
}

/// What a [`KafkaSource`] reads and how.
#[derive(Debug, Clone)]
pub struct KafkaSourceConfig {
    /// The brokers.
    pub client: ClientConfig,
    /// The topic.
    pub topic: String,
    /// Where partitions without a checkpointed offset start.
    pub start: StartFrom,
    /// Bounded (batch) reading: stop at the partitions' ends as of the
    /// start, then end the input so every window fires.
    pub bounded: bool,
    /// How long the broker may hold a fetch waiting for data.
    pub fetch_wait_ms: i32,
    /// The most bytes one fetch returns per partition.
    pub partition_fetch_bytes_max: i32,
    /// Chunks read ahead of the core.
    pub prefetch_chunks_max: usize,
    /// Records held behind an open transaction before the reader only
    /// scans ahead for its marker (and reads the rest again after it).
    pub held_records_max: usize,
    /// The watermark trails each partition's largest timestamp by this.
    pub out_of_orderness_ms: u64,
    /// A partition read to its end that long ago stops holding the
    /// watermark back (a processing-time rule, off by default so
    /// watermarks depend on the data alone). When every partition of a
    /// split is idle, the split is marked idle (`Source::is_idle`), so the
    /// other splits' watermarks go on without it; its first new record
    /// makes it active again.
    pub idle_partition_ms: Option<u64>,
}

impl KafkaSourceConfig {
    /// Reads `topic` from the earliest offsets, unbounded, 100 ms fetch
    /// waits, 1 MiB per partition fetch, 8 chunks ahead, 1 M held records,
    /// no out-of-orderness allowance, no idle partitions.
    pub fn new(client: ClientConfig, topic: impl Into<String>) -> Self {
        Self {
            client,
            topic: topic.into(),
            start: StartFrom::Earliest,
            bounded: false,
            fetch_wait_ms: 100,
            partition_fetch_bytes_max: 1 << 20,
            prefetch_chunks_max: 8,
            held_records_max: 1_000_000,
            out_of_orderness_ms: 0,
            idle_partition_ms: None,
        }
    }
}

/// Per-partition progress, checkpointed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PartitionState {
    /// The next offset to emit.
    offset: i64,
    /// The largest timestamp emitted (ms), `i64::MIN` before any.
    ts_max: i64,
}

/// One split of a Kafka topic; yields [`KafkaRecord`]s stamped with
/// their Kafka timestamps.
pub struct KafkaSource {
    config: KafkaSourceConfig,
    split: SplitInfo,
    operator: String,
    /// Restored or resolved positions; `None` until the first poll.
    partitions: Option<BTreeMap<i32, PartitionState>>,
    /// Positions restored from a checkpoint, applied at the first poll.
    restored: BTreeMap<i32, PartitionState>,
    caught_up_since: BTreeMap<i32, Instant>,
    running: Option<(Receiver<Result<Chunk>>, Arc<Shared>)>,
    current: Option<(Chunk, std::vec::IntoIter<KafkaRecord>)>,
    watermark: Option<Timestamp>,
    /// Every partition of the split idle (`idle_partition_ms`).
    idle: bool,
}

impl KafkaSource {
    /// Split `split` of the topic in `config`; connects at the first poll.
    pub fn new(config: KafkaSourceConfig, split: SplitInfo) -> Self {
        let operator = format!("kafka source `{}`", config.topic);
        Self {
            config,
            split,
            operator,
            partitions: None,
            restored: BTreeMap::new(),
            caught_up_since: BTreeMap::new(),
            running: None,
            current: None,
            watermark: None,
            idle: false,
        }
    }

    fn mine(&self, partition: i32) -> bool {
        partition as usize % self.split.count.max(1) == self.split.index
    }

    /// Finds this split's partitions and their first offsets, and starts
    /// the fetcher.
    fn start(&mut self) -> Result<()> {
        let mut client = Client::new(self.config.client.clone())?;
        let count = client.partition_count(&self.config.topic)?;
        let mut parts = BTreeMap::new();
        let mut ends = BTreeMap::new();
        let topic = self.config.topic.clone();
        for p in (0..count).filter(|&p| self.mine(p)) {
            // Starting from the latest and a bounded read both want the
            // partition's stable end: one request serves both.
            let mut end = None;
            let state = match self.restored.get(&p) {
                Some(s) => *s,
                None => PartitionState {
                    offset: match self.config.start {
                        StartFrom::Earliest => {
                            client.list_offset(&topic, p, OffsetSpec::Earliest)?
                        }
                        StartFrom::Latest => *end.insert(client.stable_end(&topic, p)?),
                    },
                    ts_max: i64::MIN,
                },
            };
            if self.config.bounded {
                let end = match end {
                    Some(e) => e,
                    None => client.stable_end(&topic, p)?,
                };
                ends.insert(p, end);
            }
            parts.insert(p, state);
        }
        let plan = FetchPlan {
            topic: self.config.topic.clone(),
            fetch_wait_ms: self.config.fetch_wait_ms,
            partition_fetch_bytes_max: self.config.partition_fetch_bytes_max,
            held_records_max: self.config.held_records_max.max(1),
            ends: self.config.bounded.then_some(ends),
        };
        let positions = parts.iter().map(|(&p, s)| (p, s.offset)).collect();
        self.running = Some(fetcher::spawn(
            client,
            plan,
            &positions,
            self.config.prefetch_chunks_max,
        )?);
        self.partitions = Some(parts);
        Ok(())
    }

    fn stop(&mut self) {
        if let Some((_, shared)) = self.running.take() {
            shared.stop.store(true, Ordering::Relaxed);
        }
        self.current = None;
    }

    /// The next chunk from the fetcher: `Ok(None)` when none is ready yet,
    /// `Err(Exhausted)` when a bounded read finished.
    fn receive(&mut self) -> std::result::Result<Option<Chunk>, Received> {
        let Some((rx, shared)) = &self.running else {
            return Err(Received::Finished);
        };
        match rx.try_recv() {
            Ok(Ok(chunk)) => {
                shared.queued.fetch_sub(1, Ordering::AcqRel);
                Ok(Some(chunk))
            }
            Ok(Err(e)) => Err(Received::Failed(e.into_spate(&self.operator))),
            Err(TryRecvError::Empty) => Ok(None),
            Err(TryRecvError::Disconnected) => Err(Received::Finished),
        }
    }

    /// Emits up to `count_max` records of the current chunk.
    fn emit(&mut self, out: &mut SourceCollector<'_, KafkaRecord>, count_max: usize) -> usize {
        let Some((chunk, records)) = self.current.as_mut() else {
            return 0;
        };
        let Some(parts) = self.partitions.as_mut() else {
            return 0;
        };
        let Some(state) = parts.get_mut(&chunk.partition) else {
            return 0;
        };
        let mut n = 0;
        while n < count_max {
            let Some(r) = records.next() else { break };
            state.offset = r.offset + 1;
            state.ts_max = state.ts_max.max(r.timestamp);
            let ts = r.timestamp;
            out.collect_with_timestamp(r, ts);
            n += 1;
        }
        if records.len() == 0 {
            state.offset = state.offset.max(chunk.resume);
            if chunk.caught_up {
                self.caught_up_since
                    .entry(chunk.partition)
                    .or_insert_with(Instant::now);
            } else {
                self.caught_up_since.remove(&chunk.partition);
            }
            self.current = None;
        }
        n
    }

    fn update_watermark(&mut self) {
        let Some(parts) = &self.partitions else {
            return;
        };
        let idle = |p: &i32| match (self.config.idle_partition_ms, self.caught_up_since.get(p)) {
            (Some(ms), Some(since)) => since.elapsed().as_millis() as u64 >= ms,
            _ => false,
        };
        let ooo = i64::try_from(self.config.out_of_orderness_ms).unwrap_or(i64::MAX);
        let active = parts.iter().filter(|(p, _)| !idle(p));
        let slowest = active.map(|(_, s)| s.ts_max).min();
        // Every partition idle: the split says so, and the engine lets the
        // other splits' watermarks go on without it.
        self.idle = slowest.is_none() && !parts.is_empty();
        let wm = match slowest {
            Some(i64::MIN) => return,
            Some(ts) => ts.saturating_sub(ooo),
            // No partitions: do not hold the others back.
            None if parts.is_empty() => WATERMARK_IDLE,
            None => return,
        };
        self.watermark = Some(self.watermark.map_or(wm, |w| w.max(wm)));
    }
}

/// The watermark of a split that reads nothing: high enough never to hold
/// back the splits that do, below the end-of-input watermark.
const WATERMARK_IDLE: Timestamp = spate::time::WATERMARK_MAX - 1;

enum Received {
    Failed(spate::SpateError),
    Finished,
}

impl Drop for KafkaSource {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Source for KafkaSource {
    type Item = KafkaRecord;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, KafkaRecord>,
        count_max: usize,
    ) -> spate::Result<SourcePoll> {
        if self.partitions.is_none() {
            self.start().map_err(|e| e.into_spate(&self.operator))?;
        }
        let mut emitted = 0;
        while emitted < count_max {
            if self.current.is_none() {
                match self.receive() {
                    Ok(Some(mut chunk)) => {
                        let records = std::mem::take(&mut chunk.records).into_iter();
                        self.current = Some((chunk, records));
                    }
                    Ok(None) => break,
                    Err(Received::Failed(e)) => return Err(e),
                    Err(Received::Finished) => {
                        self.update_watermark();
                        return Ok(if emitted == 0 {
                            SourcePoll::Exhausted
                        } else {
                            SourcePoll::Ready
                        });
                    }
                }
            }
            emitted += self.emit(out, count_max - emitted);
        }
        self.update_watermark();
        Ok(if emitted > 0 {
            SourcePoll::Ready
        } else {
            SourcePoll::Pending {
                retry_after_us: 5_000,
            }
        })
    }

    fn watermark(&self) -> Option<Timestamp> {
        self.watermark
    }

    fn is_idle(&self) -> bool {
        self.idle
    }

    fn offset(&self) -> Option<Vec<u8>> {
        let parts = match &self.partitions {
            Some(p) => p,
            // Not started: the restored positions still hold.
            None => &self.restored,
        };
        Some(encode_positions(parts))
    }

    fn seek(&mut self, offset: &[u8]) -> spate::Result<()> {
        self.seek_rescaled(&[offset.to_vec()])
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> spate::Result<()> {
        self.stop();
        self.partitions = None;
        self.restored.clear();
        for bytes in offsets {
            let decoded = decode_positions(bytes).map_err(|e| spate::SpateError::Checkpoint {
                reason: format!("{}: {e}", self.operator),
            })?;
            for (p, s) in decoded {
                if self.mine(p) {
                    self.restored.insert(p, s);
                }
            }
        }
        Ok(())
    }

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some((_, shared)) = &self.running else {
            return Poll::Pending;
        };
        if shared.queued.load(Ordering::Acquire) > 0 {
            return Poll::Ready(());
        }
        if let Ok(mut w) = shared.waker.lock() {
            *w = Some(cx.waker().clone());
        }
        if shared.queued.load(Ordering::Acquire) > 0 {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

const POSITIONS_VERSION: u8 = 1;
const POSITION_BYTES: usize = 4 + 8 + 8;

fn encode_positions(parts: &BTreeMap<i32, PartitionState>) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + parts.len() * POSITION_BYTES);
    out.push(POSITIONS_VERSION);
    for (p, s) in parts {
        out.extend_from_slice(&p.to_le_bytes());
        out.extend_from_slice(&s.offset.to_le_bytes());
        out.extend_from_slice(&s.ts_max.to_le_bytes());
    }
    out
}

fn decode_positions(bytes: &[u8]) -> Result<Vec<(i32, PartitionState)>> {
    let corrupt = |reason: String| KafkaError::CorruptCheckpoint {
        what: "source position",
        reason,
    };
    let (&version, body) = bytes
        .split_first()
        .ok_or_else(|| corrupt("it is empty".into()))?;
    if version != POSITIONS_VERSION {
        return Err(corrupt(format!(
            "format version {version}, this Spate reads version {POSITIONS_VERSION}"
        )));
    }
    if body.len() % POSITION_BYTES != 0 {
        return Err(corrupt(format!(
            "{} bytes of partition positions, not a multiple of {POSITION_BYTES}",
            body.len()
        )));
    }
    let mut out = Vec::with_capacity(body.len() / POSITION_BYTES);
    for c in body.chunks_exact(POSITION_BYTES) {
        let int = |r: std::ops::Range<usize>| -> [u8; 8] {
            let mut b = [0u8; 8];
            b.copy_from_slice(&c[r]);
            b
        };
        let mut p = [0u8; 4];
        p.copy_from_slice(&c[..4]);
        let (partition, offset) = (i32::from_le_bytes(p), i64::from_le_bytes(int(4..12)));
        if partition < 0 || offset < 0 {
            return Err(corrupt(format!("partition {partition} at offset {offset}")));
        }
        let ts_max = i64::from_le_bytes(int(12..20));
        out.push((partition, PartitionState { offset, ts_max }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_corruption_is_named() {
        let mut parts = BTreeMap::new();
        parts.insert(
            0,
            PartitionState {
                offset: 10,
                ts_max: 99,
            },
        );
        parts.insert(
            3,
            PartitionState {
                offset: 0,
                ts_max: i64::MIN,
            },
        );
        let bytes = encode_positions(&parts);
        let back: BTreeMap<_, _> = decode_positions(&bytes)
            .expect("decodes")
            .into_iter()
            .collect();
        assert_eq!(back, parts);
        let e = decode_positions(&bytes[..bytes.len() - 1]).expect_err("cut short");
        assert!(e.to_string().contains("not a multiple of 20"), "{e}");
        let e = decode_positions(&[9]).expect_err("future version");
        assert!(e.to_string().contains("format version 9"), "{e}");
    }

    fn split_with(parts: &[(i32, i64)], cfg: KafkaSourceConfig) -> KafkaSource {
        let mut s = KafkaSource::new(cfg, SplitInfo { index: 0, count: 1 });
        let states = parts
            .iter()
            .map(|&(p, ts_max)| (p, PartitionState { offset: 0, ts_max }));
        s.partitions = Some(states.collect());
        s
    }

    #[test]
    fn the_watermark_is_the_slowest_partition_less_the_allowance() {
        let mut cfg = KafkaSourceConfig::new(ClientConfig::new("localhost:1"), "t");
        cfg.out_of_orderness_ms = 10;
        // A partition that has emitted nothing holds the watermark back.
        let mut s = split_with(&[(0, 100), (1, i64::MIN)], cfg.clone());
        s.update_watermark();
        assert_eq!(s.watermark(), None);
        let mut s = split_with(&[(0, 100), (1, 50)], cfg.clone());
        s.update_watermark();
        assert_eq!(s.watermark(), Some(40));
        // It never goes back, even if a partition's state would say so.
        if let Some(p) = s.partitions.as_mut() {
            p.insert(
                1,
                PartitionState {
                    offset: 0,
                    ts_max: 20,
                },
            );
        }
        s.update_watermark();
        assert_eq!(s.watermark(), Some(40));
        // A split that owns no partition does not hold the others back.
        let mut empty = split_with(&[], cfg);
        empty.update_watermark();
        assert_eq!(empty.watermark(), Some(WATERMARK_IDLE));
    }

    #[test]
    fn an_idle_partition_stops_holding_the_watermark_back_only_when_asked() {
        let mut cfg = KafkaSourceConfig::new(ClientConfig::new("localhost:1"), "t");
        let mut s = split_with(&[(0, 100), (1, 50)], cfg.clone());
        s.caught_up_since.insert(1, Instant::now());
        s.update_watermark();
        assert_eq!(
            s.watermark(),
            Some(50),
            "no idle timeout: data alone decides"
        );
        cfg.idle_partition_ms = Some(0);
        let mut s = split_with(&[(0, 100), (1, 50)], cfg);
        s.caught_up_since.insert(1, Instant::now());
        s.update_watermark();
        assert_eq!(s.watermark(), Some(100), "partition 1 is idle");
        assert!(!s.is_idle(), "partition 0 is not");
    }

    #[test]
    fn a_split_whose_partitions_are_all_idle_is_idle_until_one_catches_up_no_more() {
        let mut cfg = KafkaSourceConfig::new(ClientConfig::new("localhost:1"), "t");
        cfg.idle_partition_ms = Some(0);
        let mut s = split_with(&[(0, 100), (1, 50)], cfg.clone());
        s.caught_up_since.insert(0, Instant::now());
        s.caught_up_since.insert(1, Instant::now());
        s.update_watermark();
        assert!(s.is_idle());
        assert_eq!(s.watermark(), None, "an idle split moves no watermark");
        s.caught_up_since.remove(&1);
        s.update_watermark();
        assert!(!s.is_idle());
        assert_eq!(s.watermark(), Some(50));
        // Without an idle timeout a split is never idle.
        let mut s = split_with(
            &[(0, 100)],
            KafkaSourceConfig {
                idle_partition_ms: None,
                ..cfg
            },
        );
        s.caught_up_since.insert(0, Instant::now());
        s.update_watermark();
        assert!(!s.is_idle());
        // A split without partitions holds nothing back by its watermark.
        let mut empty = split_with(
            &[],
            KafkaSourceConfig::new(ClientConfig::new("localhost:1"), "t"),
        );
        empty.update_watermark();
        assert!(!empty.is_idle());
    }

    #[test]
    fn a_rescaled_split_takes_the_partitions_it_now_owns() {
        let cfg = KafkaSourceConfig::new(ClientConfig::new("localhost:1"), "t");
        let old: Vec<Vec<u8>> = (0..2)
            .map(|i| {
                let mut m = BTreeMap::new();
                for p in (0..6).filter(|p| p % 2 == i) {
                    m.insert(
                        p,
                        PartitionState {
                            offset: 100 + p as i64,
                            ts_max: 0,
                        },
                    );
                }
                encode_positions(&m)
            })
            .collect();
        let mut s = KafkaSource::new(cfg, SplitInfo { index: 1, count: 3 });
        s.seek_rescaled(&old).expect("restores");
        let mine: Vec<(i32, i64)> = s.restored.iter().map(|(p, st)| (*p, st.offset)).collect();
        assert_eq!(mine, vec![(1, 101), (4, 104)]);
    }
}
