//! `spate bench kafka`: Kafka to Kafka through Spate, at least once and
//! exactly once, side by side on one broker.
//!
//! The input topic is filled once. Each run reads it whole (a bounded
//! source), passes every record through, and writes a new output topic,
//! with checkpoints every `checkpoint_interval_ms`; its throughput is the
//! records over the job's wall time. While it runs, a reader thread reads
//! the output committed-only and takes, per record, the time from the
//! sink's `write` (stamped into the record) to the moment the reader sees
//! it: with transactions that includes waiting for the checkpoint to
//! complete, which is the latency transactions add.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hdrhistogram::Histogram;
use serde::Serialize;
use spate::config::Config;
use spate::{Job, Result, SpateError};
use spate_kafka::{
    ClientConfig, Delivery, KafkaRecord, KafkaSink, KafkaSinkConfig, KafkaSource,
    KafkaSourceConfig, OutRecord, TopicReader,
};

/// What to measure.
#[derive(Debug, Clone)]
pub struct KafkaBenchSpec {
    /// The brokers.
    pub bootstrap: String,
    /// Records in the input topic.
    pub records: u64,
    /// Partitions of the input and output topics.
    pub partitions: i32,
    /// Bytes of each record's value.
    pub value_bytes: usize,
    /// Checkpoint interval of both runs.
    pub checkpoint_interval_ms: u64,
}

/// One run: a delivery guarantee and what it achieved.
#[derive(Debug, Clone, Serialize)]
pub struct KafkaRun {
    /// `at-least-once` or `exactly-once`.
    pub delivery: &'static str,
    /// Wall time of the job, s.
    pub seconds: f64,
    /// Records per second, all cores.
    pub rate_per_s: f64,
    /// Records per second per core.
    pub rate_per_core_per_s: f64,
    /// Checkpoints completed.
    pub checkpoints: u64,
    /// Output records the reader saw (committed only).
    pub read: u64,
    /// From the sink's `write` to visible to a committed reader, ms.
    pub visible_p50_ms: f64,
    /// 99th percentile of the same.
    pub visible_p99_ms: f64,
    /// Largest of the same.
    pub visible_max_ms: f64,
}

/// The result of `spate bench kafka`.
#[derive(Debug, Clone, Serialize)]
pub struct KafkaReport {
    /// Records in, and out per run.
    pub records: u64,
    /// Partitions per topic.
    pub partitions: i32,
    /// Bytes per value.
    pub value_bytes: usize,
    /// Engine cores.
    pub cores: u32,
    /// Checkpoint interval, ms.
    pub checkpoint_interval_ms: u64,
    /// Records per second the plain producer filled the input with.
    pub fill_rate_per_s: f64,
    /// At least once, then exactly once.
    pub runs: Vec<KafkaRun>,
}

impl KafkaReport {
    /// A readable summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Kafka to Kafka: {} records of {} B, {} partitions, {} cores, checkpoints every {} ms\n\
             input filled at {:.0} records/s\n",
            self.records,
            self.value_bytes,
            self.partitions,
            self.cores,
            self.checkpoint_interval_ms,
            self.fill_rate_per_s
        );
        for r in &self.runs {
            s += &format!(
                "{:>13}: {:.0} records/s ({:.0} per core), {} checkpoints; write → visible p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n",
                r.delivery,
                r.rate_per_s,
                r.rate_per_core_per_s,
                r.checkpoints,
                r.visible_p50_ms,
                r.visible_p99_ms,
                r.visible_max_ms
            );
        }
        if let [alo, eo] = self.runs.as_slice() {
            s += &format!(
                "transactions add {:.1} ms at p50 and {:.1} ms at p99; throughput ratio exactly/at-least once {:.2}\n",
                eo.visible_p50_ms - alo.visible_p50_ms,
                eo.visible_p99_ms - alo.visible_p99_ms,
                eo.rate_per_s / alo.rate_per_s.max(1e-9)
            );
        }
        s
    }
}

fn fail(e: impl std::fmt::Display) -> SpateError {
    SpateError::Operator {
        operator: "kafka bench".into(),
        reason: e.to_string(),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Runs both guarantees on `config` (its checkpoint interval is replaced).
pub fn run(spec: &KafkaBenchSpec, config: &Config) -> Result<KafkaReport> {
    let client_config = ClientConfig::new(spec.bootstrap.clone());
    let nonce = now_ms();
    let input = format!("spate-bench-in-{nonce}");
    let fill_rate = fill(&client_config, &input, spec)?;
    let mut runs = Vec::new();
    for delivery in [Delivery::AtLeastOnce, Delivery::ExactlyOnce] {
        let output = format!("spate-bench-out-{nonce}-{}", runs.len());
        runs.push(one_run(
            spec,
            config,
            &client_config,
            &input,
            &output,
            delivery,
        )?);
    }
    Ok(KafkaReport {
        records: spec.records,
        partitions: spec.partitions,
        value_bytes: spec.value_bytes,
        cores: config.runtime.cores,
        checkpoint_interval_ms: spec.checkpoint_interval_ms,
        fill_rate_per_s: fill_rate,
        runs,
    })
}

fn fill(client_config: &ClientConfig, topic: &str, spec: &KafkaBenchSpec) -> Result<f64> {
    let mut client = spate_kafka::Client::new(client_config.clone()).map_err(fail)?;
    client.create_topic(topic, spec.partitions).map_err(fail)?;
    let started = Instant::now();
    let value = Bytes::from(vec![b'x'; spec.value_bytes]);
    let per_partition = spec.records.div_ceil(spec.partitions.max(1) as u64);
    let mut written = 0u64;
    for p in 0..spec.partitions {
        let mut i = 0;
        while i < per_partition && written < spec.records {
            let n = (per_partition - i).min(1000).min(spec.records - written);
            let batch: Vec<OutRecord> = (0..n)
                .map(|k| OutRecord {
                    key: Some(Bytes::from(((written + k) % 1000).to_string())),
                    value: value.clone(),
                    timestamp: (written + k) as i64,
                })
                .collect();
            client.send(topic, p, &batch).map_err(fail)?;
            i += n;
            written += n;
        }
    }
    Ok(spec.records as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

fn one_run(
    spec: &KafkaBenchSpec,
    config: &Config,
    client_config: &ClientConfig,
    input: &str,
    output: &str,
    delivery: Delivery,
) -> Result<KafkaRun> {
    spate_kafka::Client::new(client_config.clone())
        .and_then(|mut c| c.create_topic(output, spec.partitions))
        .map_err(fail)?;
    let reader = spawn_reader(client_config.clone(), output.to_string(), spec.records);
    let mut source = KafkaSourceConfig::new(client_config.clone(), input);
    source.bounded = true;
    let mut sink = KafkaSinkConfig::new(client_config.clone(), output);
    sink.delivery = delivery;
    sink.transactional_id_prefix = format!("{output}-job");
    let job = Job::builder("kafka-bench");
    job.source("in", move |split| {
        Ok(KafkaSource::new(source.clone(), split))
    })
    .map(|r: KafkaRecord| (r.key.unwrap_or_default(), r.value))
    .sink(
        "out",
        KafkaSink::new(sink, |(k, v): &(Bytes, Bytes), _| OutRecord {
            key: Some(k.clone()),
            value: v.clone(),
            // The write time: the reader measures from here.
            timestamp: now_ms(),
        }),
    );
    let mut config = config.clone();
    config.checkpoint.interval_ms = spec.checkpoint_interval_ms;
    let started = Instant::now();
    let result = job.build()?.run(&config)?;
    let seconds = started.elapsed().as_secs_f64();
    let (read, hist) = reader
        .join()
        .map_err(|_| fail("the reader thread panicked"))??;
    let rate = spec.records as f64 / seconds.max(1e-9);
    let ms = |q: f64| hist.value_at_quantile(q) as f64;
    Ok(KafkaRun {
        delivery: match delivery {
            Delivery::AtLeastOnce => "at-least-once",
            _ => "exactly-once",
        },
        seconds,
        rate_per_s: rate,
        rate_per_core_per_s: rate / f64::from(config.runtime.cores.max(1)),
        checkpoints: result.metrics.checkpoints.completed,
        read,
        visible_p50_ms: ms(0.5),
        visible_p99_ms: ms(0.99),
        visible_max_ms: hist.max() as f64,
    })
}

type ReaderResult = Result<(u64, Histogram<u64>)>;

/// Reads `topic` committed-only until `expected` records arrived (or a
/// minute passes without any), recording write → visible in ms.
fn spawn_reader(
    config: ClientConfig,
    topic: String,
    expected: u64,
) -> std::thread::JoinHandle<ReaderResult> {
    std::thread::spawn(move || {
        let mut reader = TopicReader::new(config, &topic).map_err(fail)?;
        let mut hist = Histogram::<u64>::new_with_bounds(1, 3_600_000, 3).map_err(fail)?;
        let mut read = 0u64;
        let mut last = Instant::now();
        while read < expected && last.elapsed() < Duration::from_secs(60) {
            let records = reader.poll(100).map_err(fail)?;
            let now = now_ms();
            if !records.is_empty() {
                last = Instant::now();
            }
            for r in records {
                let _ = hist.record((now - r.timestamp).max(1) as u64);
                read += 1;
            }
        }
        Ok((read, hist))
    })
}
