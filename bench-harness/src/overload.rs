//! An overload job: an unthrottled source feeding a sink that can take only
//! a fraction of its rate, across an exchange. Backpressure must reach the
//! source (credits, then bounded channels), so memory stays flat however
//! long it runs; the cluster's overload test measures the workers' memory.

use std::time::{Duration, Instant};

use spate::sinks::Sink;
use spate::sources::SplitInfo;
use spate::time::Timestamp;
use spate::{Job, Result};

use crate::nexmark::{Event, GeneratorConfig};
use crate::source::{EventInput, NexmarkSource};

/// A sink that spends `per_record` of busy time on every record: a slow
/// consumer (it holds its core, as a real expensive sink would).
#[derive(Clone)]
struct SlowSink {
    per_record: Duration,
}

impl Sink<u64> for SlowSink {
    fn write(&mut self, _value: u64, _ts: Timestamp) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < self.per_record {
            std::hint::spin_loop();
        }
        Ok(())
    }
}

/// Unthrottled Nexmark events → the bid prices, rebalanced → a sink taking
/// `sink_us_per_record` µs per record.
pub fn overload_job(events: u64, sink_us_per_record: u64) -> Result<Job> {
    let job = Job::builder("overload");
    let input = EventInput::Generator(GeneratorConfig {
        events_max: Some(events),
        ..GeneratorConfig::default()
    });
    let per_record = Duration::from_micros(sink_us_per_record);
    job.source("nexmark", move |split: SplitInfo| {
        NexmarkSource::new(&input, split, 0)
    })
    .flat_map(|e: Event| match e {
        Event::Bid(b) => Some(b.price),
        _ => None,
    })
    .rebalance()
    .sink_with_checksum("slow", SlowSink { per_record });
    job.build()
}
