//! A Kafka client for one thread: metadata, topics, offsets, fetch,
//! produce, and the transaction coordinator's requests. It keeps one
//! connection per broker and finds partition leaders and coordinators
//! itself; retriable failures are retried up to `retry_ms_max`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, BrokerId, CreateTopicsRequest, EndTxnRequest, FetchRequest,
    FindCoordinatorRequest, InitProducerIdRequest, ListOffsetsRequest, MetadataRequest,
    ProduceRequest, ProducerId, TopicName, TransactionalId, add_partitions_to_txn_request as apt,
    create_topics_request as ct, fetch_request as fr, list_offsets_request as lo,
    metadata_request as md, produce_request as pr,
};
use kafka_protocol::protocol::{Request, StrBytes};

use crate::config::ClientConfig;
use crate::conn::Connection;
use crate::error::{KafkaError, Result, codes};
use crate::records::{BatchProducer, OutRecord, encode_batch};

/// Which end of a partition [`Client::list_offset`] asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    /// The first offset still stored.
    Earliest,
    /// The offset after the last committed record (the last stable offset).
    Latest,
}

/// A transactional producer's identity at the transaction coordinator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerIdentity {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer id the coordinator assigned.
    pub producer_id: i64,
    /// The epoch, which fences older producers with the same id.
    pub epoch: i16,
}

/// Held while this process asks a coordinator to end a transaction, which
/// EndTxn does and InitProducerId does for an id with one open. Kafka's
/// coordinator orders such requests itself; a broker that ends several
/// overlapping transactions at once can race (nisshi 0.7 can complete a
/// transaction while another's markers are still being written, and the
/// late markers then hold every later transaction open for good). One at
/// a time per process costs a round trip per checkpoint and subtask, off
/// the cores, and is what Kafka's coordinator does anyway.
static ENDING_TRANSACTIONS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn ending_transactions() -> std::sync::MutexGuard<'static, ()> {
    // The lock guards no data, so a panic while it was held leaves nothing
    // inconsistent behind.
    ENDING_TRANSACTIONS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One partition of a fetch answer.
#[derive(Debug)]
pub struct FetchedPartition {
    /// The partition.
    pub partition: i32,
    /// Kafka's error code (0 = none).
    pub error_code: i16,
    /// The offset after the last record written.
    pub high_watermark: i64,
    /// The offset of the first record of the oldest open transaction, or
    /// the high watermark when none is open (-1 if the broker omits it).
    pub last_stable_offset: i64,
    /// Record batches from the fetch offset on (the last may be cut short).
    pub records: Bytes,
}

/// A blocking Kafka client owned by one thread.
pub struct Client {
    config: ClientConfig,
    bootstrap: Vec<String>,
    brokers: HashMap<i32, String>,
    conns: HashMap<String, Connection>,
    leaders: HashMap<(String, i32), i32>,
    coordinators: HashMap<String, String>,
}

fn name(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

impl Client {
    /// A client of the brokers in `config.bootstrap`; connects lazily.
    pub fn new(config: ClientConfig) -> Result<Self> {
        let bootstrap = config.brokers()?;
        Ok(Self {
            config,
            bootstrap,
            brokers: HashMap::new(),
            conns: HashMap::new(),
            leaders: HashMap::new(),
            coordinators: HashMap::new(),
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// Sends `req` to `broker`, opening the connection if needed and
    /// dropping it after an I/O error (the next call reconnects).
    fn call<R: Request>(
        &mut self,
        broker: &str,
        req: &R,
        min: i16,
        max: i16,
    ) -> Result<(R::Response, i16)> {
        let conn = match self.conns.entry(broker.to_string()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(Connection::open(broker, &self.config)?),
        };
        let result = conn.call(req, min, max);
        if matches!(
            result,
            Err(KafkaError::Io { .. } | KafkaError::Protocol { .. })
        ) {
            self.conns.remove(broker);
        }
        result
    }

    /// Runs `f` until it succeeds, fails for good, or `retry_ms_max` passes;
    /// metadata and coordinators are looked up again between tries.
    pub(crate) fn retrying<T>(&mut self, mut f: impl FnMut(&mut Self) -> Result<T>) -> Result<T> {
        let deadline = Instant::now() + Duration::from_millis(self.config.retry_ms_max);
        let mut backoff = Duration::from_millis(20);
        loop {
            match f(self) {
                Err(e) if e.is_retriable() && Instant::now() < deadline => {
                    tracing::debug!("retrying after: {e}");
                    self.leaders.clear();
                    self.coordinators.clear();
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    fn any_broker(&mut self) -> Result<String> {
        if let Some(addr) = self.conns.keys().next() {
            return Ok(addr.clone());
        }
        let mut last = None;
        for addr in self.bootstrap.clone() {
            match Connection::open(&addr, &self.config) {
                Ok(conn) => {
                    self.conns.insert(addr.clone(), conn);
                    return Ok(addr);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| KafkaError::InvalidConfig {
            reason: "bootstrap names no broker".into(),
        }))
    }

    /// The number of partitions of `topic`, refreshing leaders.
    pub fn partition_count(&mut self, topic: &str) -> Result<i32> {
        self.retrying(|c| c.refresh_metadata(topic))
    }

    fn refresh_metadata(&mut self, topic: &str) -> Result<i32> {
        let broker = self.any_broker()?;
        let mut req = MetadataRequest::default();
        let mut t = md::MetadataRequestTopic::default();
        t.name = Some(TopicName(name(topic)));
        req.topics = Some(vec![t]);
        // Reading or writing a topic never creates it: a typo is an error.
        req.allow_auto_topic_creation = false;
        let (resp, _) = self.call(&broker, &req, 4, 9)?;
        for b in &resp.brokers {
            self.brokers
                .insert(b.node_id.0, format!("{}:{}", b.host.as_str(), b.port));
        }
        let Some(t) = resp
            .topics
            .iter()
            .find(|t| t.name.as_ref().map(|n| n.0.as_str()) == Some(topic))
        else {
            return Err(self.unknown_topic(topic));
        };
        if t.error_code == 3 {
            return Err(self.unknown_topic(topic));
        }
        KafkaError::check(
            &broker,
            "Metadata",
            || format!(" for topic `{topic}`"),
            t.error_code,
        )?;
        for p in &t.partitions {
            self.leaders
                .insert((topic.to_string(), p.partition_index), p.leader_id.0);
        }
        Ok(t.partitions.len() as i32)
    }

    fn unknown_topic(&self, topic: &str) -> KafkaError {
        KafkaError::UnknownTopic {
            topic: topic.into(),
            bootstrap: self.config.bootstrap.clone(),
        }
    }

    fn leader(&mut self, topic: &str, partition: i32) -> Result<String> {
        let key = (topic.to_string(), partition);
        if !self.leaders.contains_key(&key) {
            self.refresh_metadata(topic)?;
        }
        let id = self
            .leaders
            .get(&key)
            .copied()
            .ok_or_else(|| KafkaError::Refused {
                broker: self.config.bootstrap.clone(),
                api: "Metadata",
                context: format!(" for topic `{topic}` partition {partition}"),
                code: 3,
                name: "UnknownTopicOrPartition".into(),
            })?;
        self.brokers
            .get(&id)
            .cloned()
            .ok_or_else(|| KafkaError::Protocol {
                broker: self.config.bootstrap.clone(),
                api: "Metadata",
                reason: format!(
                    "leader {id} of `{topic}` partition {partition} is not a listed broker"
                ),
            })
    }

    /// Creates `topic` with `partitions` partitions; an existing topic is
    /// left as it is.
    pub fn create_topic(&mut self, topic: &str, partitions: i32) -> Result<()> {
        self.retrying(|c| {
            let broker = c.any_broker()?;
            let mut t = ct::CreatableTopic::default();
            t.name = TopicName(name(topic));
            t.num_partitions = partitions;
            t.replication_factor = 1;
            let mut req = CreateTopicsRequest::default();
            req.topics = vec![t];
            req.timeout_ms = 30_000;
            let (resp, _) = c.call(&broker, &req, 0, 5)?;
            for r in &resp.topics {
                if r.error_code != codes::TOPIC_ALREADY_EXISTS {
                    KafkaError::check(
                        &broker,
                        "CreateTopics",
                        || format!(" for `{topic}`"),
                        r.error_code,
                    )?;
                }
            }
            Ok(())
        })
    }

    /// The earliest or latest offset of a partition.
    pub fn list_offset(&mut self, topic: &str, partition: i32, spec: OffsetSpec) -> Result<i64> {
        self.retrying(|c| {
            let broker = c.leader(topic, partition)?;
            let mut p = lo::ListOffsetsPartition::default();
            p.partition_index = partition;
            p.timestamp = match spec {
                OffsetSpec::Earliest => -2,
                OffsetSpec::Latest => -1,
            };
            let mut t = lo::ListOffsetsTopic::default();
            t.name = TopicName(name(topic));
            t.partitions = vec![p];
            let mut req = ListOffsetsRequest::default();
            req.replica_id = BrokerId(-1);
            req.isolation_level = 1;
            req.topics = vec![t];
            let (resp, _) = c.call(&broker, &req, 2, 7)?;
            let p = resp
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| KafkaError::Protocol {
                    broker: broker.clone(),
                    api: "ListOffsets",
                    reason: format!("no answer for partition {partition}"),
                })?;
            KafkaError::check(
                &broker,
                "ListOffsets",
                || format!(" for `{topic}` partition {partition}"),
                p.error_code,
            )?;
            Ok(p.offset)
        })
    }

    /// Where a committed-only reader of a partition ends now: its last
    /// stable offset, as a fetch reports it. (A fetch, not ListOffsets:
    /// nisshi 0.7 answers ListOffsets(latest) with the last batch's base
    /// offset + 1, short of the end.)
    pub fn stable_end(&mut self, topic: &str, partition: i32) -> Result<i64> {
        let start = self.list_offset(topic, partition, OffsetSpec::Earliest)?;
        self.retrying(|c| {
            let fetched = c.fetch(topic, &[(partition, start)], 1, 1)?;
            let p = fetched
                .iter()
                .find(|p| p.partition == partition)
                .ok_or_else(|| KafkaError::Refused {
                    broker: c.config.bootstrap.clone(),
                    api: "Fetch",
                    context: format!(" for `{topic}` partition {partition}"),
                    code: 7,
                    name: "RequestTimedOut (no answer for the partition)".into(),
                })?;
            let ctx = || format!(" for `{topic}` partition {partition}");
            KafkaError::check(&c.config.bootstrap, "Fetch", ctx, p.error_code)?;
            Ok(if p.last_stable_offset >= 0 {
                p.last_stable_offset
            } else {
                p.high_watermark
            })
        })
    }

    /// Reads from `(partition, offset)` pairs of `topic`, all led by one
    /// broker or not: partitions are grouped by leader. Uncommitted
    /// records are included (isolation is the reader's job, by the
    /// transaction markers); waits up to `max_wait_ms` for data.
    pub fn fetch(
        &mut self,
        topic: &str,
        positions: &[(i32, i64)],
        max_wait_ms: i32,
        partition_bytes_max: i32,
    ) -> Result<Vec<FetchedPartition>> {
        let mut by_leader: HashMap<String, Vec<(i32, i64)>> = HashMap::new();
        for &(p, offset) in positions {
            by_leader
                .entry(self.leader(topic, p)?)
                .or_default()
                .push((p, offset));
        }
        let mut out = Vec::with_capacity(positions.len());
        for (broker, parts) in by_leader {
            let mut t = fr::FetchTopic::default();
            t.topic = TopicName(name(topic));
            t.partitions = parts
                .iter()
                .map(|&(p, offset)| {
                    let mut fp = fr::FetchPartition::default();
                    fp.partition = p;
                    fp.fetch_offset = offset;
                    fp.partition_max_bytes = partition_bytes_max;
                    fp.current_leader_epoch = -1;
                    fp.last_fetched_epoch = -1;
                    fp.log_start_offset = -1;
                    fp
                })
                .collect();
            let mut req = FetchRequest::default();
            req.replica_id = BrokerId(-1);
            // A zero wait may be answered with no partitions at all
            // (nisshi 0.7 does), so the shortest wait asked for is 1 ms.
            req.max_wait_ms = max_wait_ms.max(1);
            req.min_bytes = 1;
            req.max_bytes = partition_bytes_max.saturating_mul(parts.len() as i32);
            req.isolation_level = 0;
            req.session_id = 0;
            req.session_epoch = -1;
            req.topics = vec![t];
            // Version 11 at most: tansu 0.6 adds a tagged field version 12 does
            // not define, and version 13 names topics by id.
            let (resp, _) = self.call(&broker, &req, 4, 11)?;
            KafkaError::check(
                &broker,
                "Fetch",
                || format!(" for `{topic}`"),
                resp.error_code,
            )?;
            for t in resp.responses {
                for p in t.partitions {
                    out.push(FetchedPartition {
                        partition: p.partition_index,
                        error_code: p.error_code,
                        high_watermark: p.high_watermark,
                        last_stable_offset: p.last_stable_offset,
                        records: p.records.unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Appends one record batch to a partition and waits for all replicas
    /// (`acks = all`); returns the offset of its first record.
    pub fn produce(
        &mut self,
        topic: &str,
        partition: i32,
        batch: Bytes,
        transactional_id: Option<&str>,
    ) -> Result<i64> {
        let broker = self.leader(topic, partition)?;
        let mut p = pr::PartitionProduceData::default();
        p.index = partition;
        p.records = Some(batch);
        let mut t = pr::TopicProduceData::default();
        t.name = TopicName(name(topic));
        t.partition_data = vec![p];
        let mut req = ProduceRequest::default();
        req.transactional_id = transactional_id.map(|id| TransactionalId(name(id)));
        req.acks = -1;
        req.timeout_ms = i32::try_from(self.config.request_timeout_ms).unwrap_or(i32::MAX);
        req.topic_data = vec![t];
        let (resp, _) = self.call(&broker, &req, 3, 9)?;
        let p = resp
            .responses
            .iter()
            .flat_map(|t| &t.partition_responses)
            .find(|p| p.index == partition)
            .ok_or_else(|| KafkaError::Protocol {
                broker: broker.clone(),
                api: "Produce",
                reason: format!("no answer for partition {partition}"),
            })?;
        KafkaError::check(
            &broker,
            "Produce",
            || format!(" for `{topic}` partition {partition}"),
            p.error_code,
        )?;
        Ok(p.base_offset)
    }

    /// Writes `records` to a partition as one plain batch (no producer id);
    /// returns the offset of the first.
    pub fn send(&mut self, topic: &str, partition: i32, records: &[OutRecord]) -> Result<i64> {
        let batch = encode_batch(records, None)?;
        self.retrying(|c| c.produce(topic, partition, batch.clone(), None))
    }

    /// Writes `records` to a partition inside `producer`'s open transaction
    /// (the partition must have been added to it), numbered from
    /// `base_sequence`; returns the offset of the first.
    pub fn send_in_transaction(
        &mut self,
        producer: &ProducerIdentity,
        topic: &str,
        partition: i32,
        base_sequence: i32,
        records: &[OutRecord],
    ) -> Result<i64> {
        let batch = encode_batch(
            records,
            Some(BatchProducer {
                producer_id: producer.producer_id,
                epoch: producer.epoch,
                base_sequence,
                transactional: true,
            }),
        )?;
        let id = producer.transactional_id.as_str();
        self.retrying(|c| c.produce(topic, partition, batch.clone(), Some(id)))
    }

    fn coordinator(&mut self, transactional_id: &str) -> Result<String> {
        if let Some(addr) = self.coordinators.get(transactional_id) {
            return Ok(addr.clone());
        }
        let broker = self.any_broker()?;
        let mut req = FindCoordinatorRequest::default();
        req.key = name(transactional_id);
        req.key_type = 1;
        let (resp, _) = self.call(&broker, &req, 1, 3)?;
        let ctx = || format!(" for transaction `{transactional_id}`");
        KafkaError::check(&broker, "FindCoordinator", ctx, resp.error_code)?;
        let addr = format!("{}:{}", resp.host.as_str(), resp.port);
        self.coordinators
            .insert(transactional_id.to_string(), addr.clone());
        Ok(addr)
    }

    fn call_coordinator<R: Request>(
        &mut self,
        transactional_id: &str,
        req: &R,
        min: i16,
        max: i16,
    ) -> Result<(R::Response, String)> {
        let broker = self.coordinator(transactional_id)?;
        let (resp, _) = self.call(&broker, req, min, max)?;
        Ok((resp, broker))
    }

    /// Registers `transactional_id` with its coordinator, which aborts a
    /// transaction an earlier producer with that id left open and fences
    /// that producer. The epoch is 0 when the id was never used before.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        transaction_timeout_ms: i32,
    ) -> Result<ProducerIdentity> {
        let _one_at_a_time = ending_transactions();
        self.retrying(|c| {
            let mut req = InitProducerIdRequest::default();
            req.transactional_id = Some(TransactionalId(name(transactional_id)));
            req.transaction_timeout_ms = transaction_timeout_ms;
            req.producer_id = ProducerId(-1);
            req.producer_epoch = -1;
            let (resp, broker) = c.call_coordinator(transactional_id, &req, 0, 4)?;
            let ctx = || format!(" for transaction `{transactional_id}`");
            KafkaError::check(&broker, "InitProducerId", ctx, resp.error_code)?;
            Ok(ProducerIdentity {
                transactional_id: transactional_id.to_string(),
                producer_id: resp.producer_id.0,
                epoch: resp.producer_epoch,
            })
        })
    }

    /// Adds partitions of `topic` to the producer's open transaction.
    pub fn add_partitions_to_txn(
        &mut self,
        producer: &ProducerIdentity,
        topic: &str,
        partitions: &[i32],
    ) -> Result<()> {
        let id = producer.transactional_id.as_str();
        self.retrying(|c| {
            let mut t = apt::AddPartitionsToTxnTopic::default();
            t.name = TopicName(name(topic));
            t.partitions = partitions.to_vec();
            let mut req = AddPartitionsToTxnRequest::default();
            req.v3_and_below_transactional_id = TransactionalId(name(id));
            req.v3_and_below_producer_id = ProducerId(producer.producer_id);
            req.v3_and_below_producer_epoch = producer.epoch;
            req.v3_and_below_topics = vec![t];
            let (resp, broker) = c.call_coordinator(id, &req, 0, 3)?;
            let ctx = || format!(" for transaction `{id}` and topic `{topic}`");
            KafkaError::check(&broker, "AddPartitionsToTxn", ctx, resp.error_code)?;
            for r in resp.results_by_topic_v3_and_below.iter() {
                for p in &r.results_by_partition {
                    KafkaError::check(&broker, "AddPartitionsToTxn", ctx, p.partition_error_code)?;
                }
            }
            Ok(())
        })
    }

    /// Commits or aborts the producer's transaction. Committing again a
    /// transaction that is already committed succeeds.
    pub fn end_txn(&mut self, producer: &ProducerIdentity, commit: bool) -> Result<()> {
        let id = producer.transactional_id.as_str();
        let _one_at_a_time = ending_transactions();
        self.retrying(|c| {
            let mut req = EndTxnRequest::default();
            req.transactional_id = TransactionalId(name(id));
            req.producer_id = ProducerId(producer.producer_id);
            req.producer_epoch = producer.epoch;
            req.committed = commit;
            let (resp, broker) = c.call_coordinator(id, &req, 0, 3)?;
            let what = if commit { "committing" } else { "aborting" };
            let ctx = || format!(" {what} transaction `{id}`");
            KafkaError::check(&broker, "EndTxn", ctx, resp.error_code)
        })
    }
}
