//! Record batches: writing a producer's batch, splitting a fetch answer
//! into whole batches, and reading them committed-only by the
//! transaction markers that follow them.

use std::collections::{HashSet, VecDeque};

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::error::{KafkaError, Result};

/// A record read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaRecord {
    /// The partition it was read from.
    pub partition: i32,
    /// Its offset in the partition.
    pub offset: i64,
    /// Its timestamp (ms since the epoch).
    pub timestamp: i64,
    /// Its key, if any.
    pub key: Option<Bytes>,
    /// Its value (empty for a null value).
    pub value: Bytes,
}

/// A record to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRecord {
    /// Its key, if any.
    pub key: Option<Bytes>,
    /// Its value.
    pub value: Bytes,
    /// Its timestamp (ms since the epoch).
    pub timestamp: i64,
}

/// Who writes a batch: an idempotent or transactional producer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// The sequence number of the batch's first record in its partition.
    pub base_sequence: i32,
    pub transactional: bool,
}

/// Encodes `records` as one uncompressed v2 batch.
pub(crate) fn encode_batch(
    records: &[OutRecord],
    producer: Option<BatchProducer>,
) -> Result<Bytes> {
    let (producer_id, epoch, base_sequence, transactional) = match producer {
        Some(p) => (p.producer_id, p.epoch, p.base_sequence, p.transactional),
        None => (-1, -1, -1, false),
    };
    let batch: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch: epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // The encoder derives the batch's base sequence from the
            // first record, and starts a new batch wherever offset minus
            // sequence changes; a plain batch's base sequence is -1.
            sequence: base_sequence.wrapping_add(i as i32),
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: Some(r.value.clone()),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut buf, &batch, &options).map_err(|e| KafkaError::Internal {
        reason: format!("encoding a record batch: {e}"),
    })?;
    Ok(buf.freeze())
}

/// One decoded entry of a partition, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A data record; `producer` is set when it belongs to a transaction.
    Data {
        record: KafkaRecord,
        producer: Option<i64>,
    },
    /// A transaction marker of `producer`.
    Marker {
        producer: i64,
        commit: bool,
        offset: i64,
    },
}

/// Decodes the whole batches in `data` (a fetch answer may end with a
/// partial one, which is left for the next fetch). Records before
/// `from_offset` (a batch is returned whole) are skipped. Returns the
/// entries and the offset after the last whole batch.
pub(crate) fn decode_batches(
    topic: &str,
    partition: i32,
    mut data: Bytes,
    from_offset: i64,
) -> Result<(Vec<Entry>, Option<i64>)> {
    let mut out = Vec::new();
    let mut next = None;
    while data.len() >= 12 {
        let base_offset = i64::from_be_bytes(data[..8].try_into().unwrap_or_default());
        let len = i32::from_be_bytes(data[8..12].try_into().unwrap_or_default());
        let bad = |reason: String| KafkaError::BadRecords {
            topic: topic.into(),
            partition,
            offset: base_offset,
            reason,
        };
        let total = usize::try_from(len)
            .ok()
            .filter(|&n| n >= 49)
            .ok_or_else(|| bad(format!("a batch announces {len} bytes")))?
            + 12;
        if data.len() < total {
            break;
        }
        let mut one = data.split_to(total);
        let set = RecordBatchDecoder::decode(&mut one).map_err(|e| {
            bad(format!(
                "the batch does not decode ({e}); Spate reads uncompressed v2 batches"
            ))
        })?;
        for r in set.records {
            next = Some(r.offset + 1);
            if r.offset < from_offset {
                continue;
            }
            out.push(entry(partition, r).map_err(bad)?);
        }
    }
    Ok((out, next))
}

fn entry(partition: i32, r: Record) -> std::result::Result<Entry, String> {
    if r.control {
        let key = r.key.unwrap_or_default();
        if key.len() < 4 {
            return Err(format!(
                "control record at {} has a {}-byte key",
                r.offset,
                key.len()
            ));
        }
        let kind = (&key[2..4]).get_i16();
        return match kind {
            0 | 1 => Ok(Entry::Marker {
                producer: r.producer_id,
                commit: kind == 1,
                offset: r.offset,
            }),
            // Other control records (e.g. leader changes) carry no data.
            _ => Ok(Entry::Marker {
                producer: -1,
                commit: true,
                offset: r.offset,
            }),
        };
    }
    Ok(Entry::Data {
        producer: r.transactional.then_some(r.producer_id),
        record: KafkaRecord {
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value.unwrap_or_default(),
        },
    })
}

/// Reads one partition committed-only: a transactional record waits
/// until its producer's next marker says commit (then it is released in
/// offset order) or abort (then it is dropped), and every record after
/// the first undecided one waits behind it, so order is kept. This needs
/// nothing from the broker but the markers themselves.
#[derive(Debug, Default)]
pub(crate) struct CommittedReader {
    held: VecDeque<Held>,
    /// Producers with undecided records in `held`.
    open: HashSet<i64>,
    /// Records dropped because their transaction aborted.
    aborted: u64,
}

#[derive(Debug)]
struct Held {
    record: KafkaRecord,
    state: HeldState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HeldState {
    Undecided(i64),
    Committed,
    Aborted,
}

impl CommittedReader {
    /// Records waiting for a marker (or behind one that does).
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }

    /// Records dropped so far because their transaction aborted.
    pub(crate) fn aborted(&self) -> u64 {
        self.aborted
    }

    /// The offset of the first record still held.
    pub(crate) fn first_held(&self) -> Option<i64> {
        self.held.front().map(|h| h.record.offset)
    }

    /// Takes one entry; released records are appended to `out`.
    pub(crate) fn push(&mut self, entry: Entry, out: &mut Vec<KafkaRecord>) {
        match entry {
            Entry::Data { record, producer } => match producer {
                Some(p) => {
                    self.open.insert(p);
                    self.held.push_back(Held {
                        record,
                        state: HeldState::Undecided(p),
                    });
                }
                None if self.held.is_empty() => out.push(record),
                None => self.held.push_back(Held {
                    record,
                    state: HeldState::Committed,
                }),
            },
            Entry::Marker {
                producer, commit, ..
            } => self.decide(producer, commit, out),
        }
    }

    /// Applies a marker to what is held, as a marker seen while scanning
    /// ahead does: it decides every held record of its producer.
    pub(crate) fn decide(&mut self, producer: i64, commit: bool, out: &mut Vec<KafkaRecord>) {
        if !self.open.remove(&producer) {
            return;
        }
        let decided = if commit {
            HeldState::Committed
        } else {
            HeldState::Aborted
        };
        for h in &mut self.held {
            if h.state == HeldState::Undecided(producer) {
                h.state = decided;
            }
        }
        while let Some(front) = self.held.front() {
            match front.state {
                HeldState::Undecided(_) => break,
                HeldState::Committed | HeldState::Aborted => match self.held.pop_front() {
                    Some(h) if h.state == HeldState::Committed => out.push(h.record),
                    Some(_) => self.aborted += 1,
                    None => {}
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(offset: i64, producer: Option<i64>) -> Entry {
        Entry::Data {
            record: KafkaRecord {
                partition: 0,
                offset,
                timestamp: 0,
                key: None,
                value: Bytes::from(offset.to_string()),
            },
            producer,
        }
    }

    fn marker(offset: i64, producer: i64, commit: bool) -> Entry {
        Entry::Marker {
            producer,
            commit,
            offset,
        }
    }

    fn offsets(out: &[KafkaRecord]) -> Vec<i64> {
        out.iter().map(|r| r.offset).collect()
    }

    #[test]
    fn committed_records_are_released_in_order_and_aborted_ones_dropped() {
        let mut r = CommittedReader::default();
        let mut out = Vec::new();
        // Producer 7 writes 0,1 and 3; producer 8 writes 2 and 5; 4 is plain.
        for e in [
            data(0, Some(7)),
            data(1, Some(7)),
            data(2, Some(8)),
            data(3, Some(7)),
            data(4, None),
            data(5, Some(8)),
        ] {
            r.push(e, &mut out);
        }
        assert!(out.is_empty(), "nothing is decided yet");
        // 8 aborts first: its records go, but 7's still hold everything back.
        r.push(marker(6, 8, false), &mut out);
        assert!(out.is_empty());
        r.push(marker(7, 7, true), &mut out);
        assert_eq!(offsets(&out), vec![0, 1, 3, 4]);
        assert_eq!(r.held(), 0);
        assert_eq!(r.aborted(), 2, "offsets 2 and 5");
        // A later transaction of the aborted producer is judged on its own.
        r.push(data(8, Some(8)), &mut out);
        r.push(marker(9, 8, true), &mut out);
        assert_eq!(offsets(&out), vec![0, 1, 3, 4, 8]);
    }

    #[test]
    fn plain_records_pass_straight_through_when_nothing_is_held() {
        let mut r = CommittedReader::default();
        let mut out = Vec::new();
        r.push(data(0, None), &mut out);
        r.push(marker(1, 3, true), &mut out);
        r.push(data(2, None), &mut out);
        assert_eq!(offsets(&out), vec![0, 2]);
    }

    #[test]
    fn batches_round_trip_and_a_cut_batch_waits_for_the_next_fetch() {
        let records: Vec<OutRecord> = (0..3)
            .map(|i| OutRecord {
                key: Some(Bytes::from(format!("k{i}"))),
                value: Bytes::from(format!("v{i}")),
                timestamp: 1000 + i,
            })
            .collect();
        let producer = BatchProducer {
            producer_id: 5,
            epoch: 1,
            base_sequence: 0,
            transactional: true,
        };
        let one = encode_batch(&records, Some(producer)).expect("encodes");
        let mut two = BytesMut::from(&one[..]);
        two.extend_from_slice(&one[..one.len() - 3]);
        let (entries, next) = decode_batches("t", 3, two.freeze(), 1).expect("decodes");
        assert_eq!(next, Some(3), "the cut copy is not counted");
        assert_eq!(entries.len(), 2, "offset 0 is before the fetch offset");
        match &entries[0] {
            Entry::Data { record, producer } => {
                assert_eq!(*producer, Some(5));
                assert_eq!(record.value, Bytes::from("v1"));
                assert_eq!(record.key, Some(Bytes::from("k1")));
                assert_eq!(record.timestamp, 1001);
                assert_eq!(record.partition, 3, "records know their partition");
            }
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn a_plain_batch_is_one_batch_without_a_producer() {
        let records: Vec<OutRecord> = (0..5)
            .map(|i| OutRecord {
                key: None,
                value: Bytes::from(format!("v{i}")),
                timestamp: i,
            })
            .collect();
        let mut bytes = encode_batch(&records, None).expect("encodes");
        let info = RecordBatchDecoder::decode_batch_info(&mut bytes).expect("decodes");
        assert_eq!(info.len(), 1, "one batch, not one per record");
        assert_eq!(info[0].record_count, 5);
        assert_eq!((info[0].producer_id, info[0].base_sequence), (-1, -1));
    }

    #[test]
    fn a_corrupt_batch_names_topic_partition_and_offset() {
        let one = encode_batch(
            &[OutRecord {
                key: None,
                value: Bytes::from("x"),
                timestamp: 1,
            }],
            None,
        )
        .expect("encodes");
        let mut bad = BytesMut::from(&one[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let e = decode_batches("orders", 2, bad.freeze(), 0).expect_err("CRC fails");
        let msg = e.to_string();
        assert!(msg.contains("`orders` partition 2 at offset 0"), "{msg}");
    }
}
