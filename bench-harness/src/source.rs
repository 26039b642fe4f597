//! The Nexmark source: the generator (or an event file) as a Spate source
//! with event time and data-driven watermarks.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spate::sources::{
    RateLimiter, Source, SourceCollector, SourcePoll, SplitInfo, check_split_position,
    decode_offset, encode_offset,
};
use spate::{Result, SpateError};

use crate::nexmark::{Event, Generator, GeneratorConfig, WATERMARK_OUT_OF_ORDERNESS_MS};

/// Where the events come from.
#[derive(Debug, Clone)]
pub enum EventInput {
    /// The deterministic generator.
    Generator(GeneratorConfig),
    /// A JSON-lines event file, read whole and split over the cores.
    File(Arc<Vec<Event>>, PathBuf),
}

/// One split of the Nexmark event stream. Its watermark is the highest
/// event time seen minus 4 s (the nexmark DDL's bound), computed from the
/// data of each batch, never from a timer.
pub struct NexmarkSource {
    input: SplitInput,
    max_ts: i64,
    pace: Option<RateLimiter>,
    progress: Option<Arc<AtomicU64>>,
}

enum SplitInput {
    Generator(Box<Generator>),
    File {
        events: Arc<Vec<Event>>,
        next: usize,
        step: usize,
    },
}

impl NexmarkSource {
    /// The split `split` of `input`, paced to `rate_per_s` over all splits (0: unthrottled).
    pub fn new(input: &EventInput, split: SplitInfo, rate_per_s: u64) -> Result<Self> {
        let input = match input {
            EventInput::Generator(cfg) => {
                let g = Generator::new(cfg.clone(), split.index, split.count).map_err(|e| {
                    SpateError::invalid_job(format!("the Nexmark generator config is invalid: {e}"))
                })?;
                SplitInput::Generator(Box::new(g))
            }
            EventInput::File(events, _) => SplitInput::File {
                events: events.clone(),
                next: split.index,
                step: split.count.max(1),
            },
        };
        let pace = (rate_per_s > 0)
            .then(|| RateLimiter::new(rate_per_s as f64 / split.count.max(1) as f64));
        Ok(Self {
            input,
            max_ts: i64::MIN,
            pace,
            progress: None,
        })
    }

    /// Adds the number of events of every batch to `counter` (one atomic
    /// add per batch, for a progress display).
    pub fn with_progress(mut self, counter: Arc<AtomicU64>) -> Self {
        self.progress = Some(counter);
        self
    }

    #[inline]
    fn next_event(&mut self) -> Option<Event> {
        match &mut self.input {
            SplitInput::Generator(g) => g.next_event(),
            SplitInput::File { events, next, step } => {
                let e = events.get(*next).cloned();
                *next += *step;
                e
            }
        }
    }
}

impl Source for NexmarkSource {
    type Item = Event;

    fn poll(
        &mut self,
        out: &mut SourceCollector<'_, Event>,
        count_max: usize,
    ) -> Result<SourcePoll> {
        let mut count = count_max;
        if let Some(p) = &self.pace {
            count = p.due(count_max);
            if count == 0 {
                return Ok(SourcePoll::Pending {
                    retry_after_us: p.wait_us(),
                });
            }
        }
        for i in 0..count {
            let Some(e) = self.next_event() else {
                if let Some(p) = &mut self.pace {
                    p.emitted(i);
                }
                return Ok(SourcePoll::Exhausted);
            };
            let ts = e.date_time();
            self.max_ts = self.max_ts.max(ts);
            out.collect_with_timestamp(e, ts);
        }
        if let Some(p) = &mut self.pace {
            p.emitted(count);
        }
        if let Some(c) = &self.progress {
            c.fetch_add(count as u64, Ordering::Relaxed);
        }
        Ok(SourcePoll::Ready)
    }

    fn watermark(&self) -> Option<i64> {
        (self.max_ts != i64::MIN).then(|| self.max_ts - WATERMARK_OUT_OF_ORDERNESS_MS - 1)
    }

    fn offset(&self) -> Option<Vec<u8>> {
        let next = match &self.input {
            SplitInput::Generator(g) => g.resume_position(),
            SplitInput::File { next, .. } => *next as u64,
        };
        // The watermark derives from the highest event time seen.
        Some(encode_offset(&[next, self.max_ts as u64]))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let [next, max_ts] = decode_offset::<2>("nexmark", offset)?;
        match &mut self.input {
            SplitInput::Generator(g) => g.seek(next).map_err(|e| SpateError::Checkpoint {
                reason: format!("cannot restore the Nexmark generator: {e}"),
            })?,
            SplitInput::File { next: n, step, .. } => {
                check_split_position("nexmark event file", next, *n as u64, *step as u64)?;
                *n = next as usize;
            }
        }
        self.max_ts = max_ts as i64;
        Ok(())
    }
}
