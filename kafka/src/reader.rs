//! A blocking reader of a whole topic, committed records only: for tools,
//! tests and benchmarks that check what a job wrote.

use std::collections::BTreeMap;

use crate::client::{Client, OffsetSpec};
use crate::config::ClientConfig;
use crate::error::Result;
use crate::records::{CommittedReader, KafkaRecord, decode_batches};

/// Reads every partition of a topic from its start, committed records only.
pub struct TopicReader {
    client: Client,
    topic: String,
    /// Partition → its position.
    partitions: BTreeMap<i32, Position>,
}

struct Position {
    /// The next offset to fetch.
    next: i64,
    /// The partition's end at the last fetch.
    high_watermark: i64,
    reader: CommittedReader,
}

impl TopicReader {
    /// A reader of `topic` from the earliest offsets.
    pub fn new(config: ClientConfig, topic: &str) -> Result<Self> {
        let mut client = Client::new(config)?;
        let count = client.partition_count(topic)?;
        let mut partitions = BTreeMap::new();
        for p in 0..count {
            let start = client.list_offset(topic, p, OffsetSpec::Earliest)?;
            let position = Position {
                next: start,
                high_watermark: 0,
                reader: CommittedReader::default(),
            };
            partitions.insert(p, position);
        }
        Ok(Self {
            client,
            topic: topic.into(),
            partitions,
        })
    }

    /// Records dropped so far because their transaction aborted.
    pub fn aborted_records(&self) -> u64 {
        self.partitions.values().map(|p| p.reader.aborted()).sum()
    }

    /// True when the last poll read every partition to its end and no
    /// record waits for a transaction marker.
    pub fn at_end(&self) -> bool {
        self.partitions
            .values()
            .all(|p| p.next >= p.high_watermark && p.reader.held() == 0)
    }

    /// The committed records that became readable since the last call,
    /// waiting up to `max_wait_ms` for new data.
    pub fn poll(&mut self, max_wait_ms: i32) -> Result<Vec<KafkaRecord>> {
        let positions: Vec<(i32, i64)> = self
            .partitions
            .iter()
            .map(|(p, pos)| (*p, pos.next))
            .collect();
        let topic = self.topic.clone();
        let fetched = self
            .client
            .retrying(|c| c.fetch(&topic, &positions, max_wait_ms, 4 << 20))?;
        let mut out = Vec::new();
        for part in fetched {
            let Some(pos) = self.partitions.get_mut(&part.partition) else {
                continue;
            };
            pos.high_watermark = part.high_watermark;
            let (entries, after) = decode_batches(&topic, part.partition, part.records, pos.next)?;
            for e in entries {
                pos.reader.push(e, &mut out);
            }
            if let Some(after) = after {
                pos.next = after;
            }
        }
        Ok(out)
    }
}
