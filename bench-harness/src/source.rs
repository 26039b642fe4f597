//! The Nexmark source: the generator (or an event file) as a Spate source
//! with event time and data-driven watermarks.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use spate::sources::{
    RateLimiter, Source, SourceCollector, SourcePoll, SplitInfo, StridedCursor, decode_words,
    encode_offset,
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
    split: SplitInfo,
    max_ts: i64,
    pace: Option<RateLimiter>,
    progress: Option<Arc<AtomicU64>>,
}

enum SplitInput {
    Generator {
        g: Box<Generator>,
        /// Set after a restore with another parallelism, until the split
        /// has passed the event numbers the earlier run produced.
        catching_up: Option<StridedCursor>,
    },
    File {
        events: Arc<Vec<Event>>,
        cursor: StridedCursor,
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
                SplitInput::Generator {
                    g: Box::new(g),
                    catching_up: None,
                }
            }
            EventInput::File(events, _) => SplitInput::File {
                events: events.clone(),
                cursor: StridedCursor::new(split),
            },
        };
        let pace = (rate_per_s > 0)
            .then(|| RateLimiter::new(rate_per_s as f64 / split.count.max(1) as f64));
        Ok(Self {
            input,
            split,
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
            SplitInput::Generator {
                g,
                catching_up: None,
            } => g.next_event(),
            SplitInput::Generator { g, catching_up } => {
                let c = catching_up.as_mut()?;
                g.seek(c.peek()).ok()?;
                let e = g.next_event();
                c.advance();
                if c.is_plain() {
                    g.seek(c.peek()).ok()?;
                    *catching_up = None;
                }
                e
            }
            SplitInput::File { events, cursor } => {
                let e = usize::try_from(cursor.peek())
                    .ok()
                    .and_then(|i| events.get(i).cloned());
                cursor.advance();
                e
            }
        }
    }

    /// Takes the position `words` (a cursor's words) of this split.
    fn set_cursor(&mut self, cursor: StridedCursor) -> Result<()> {
        match &mut self.input {
            SplitInput::Generator { g, catching_up } => {
                g.seek(cursor.peek()).map_err(|e| SpateError::Checkpoint {
                    reason: format!("cannot restore the Nexmark generator: {e}"),
                })?;
                *catching_up = (!cursor.is_plain()).then_some(cursor);
            }
            SplitInput::File { cursor: c, .. } => *c = cursor,
        }
        Ok(())
    }
}

fn empty_position() -> SpateError {
    SpateError::Checkpoint {
        reason: "the checkpointed position of source `nexmark` is empty; the checkpoint \
                 belongs to another job or version"
            .into(),
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
        let cursor = match &self.input {
            SplitInput::Generator {
                catching_up: Some(c),
                ..
            } => c.to_words(),
            SplitInput::Generator { g, .. } => vec![g.resume_position()],
            SplitInput::File { cursor, .. } => cursor.to_words(),
        };
        // The watermark derives from the highest event time seen.
        let mut words = vec![self.max_ts as u64];
        words.extend(cursor);
        Some(encode_offset(&words))
    }

    fn seek(&mut self, offset: &[u8]) -> Result<()> {
        let words = decode_words("nexmark", offset)?;
        let (&max_ts, cursor) = words.split_first().ok_or_else(empty_position)?;
        let cursor = StridedCursor::from_words("nexmark", self.split, cursor)?;
        self.set_cursor(cursor)?;
        self.max_ts = max_ts as i64;
        Ok(())
    }

    fn seek_rescaled(&mut self, offsets: &[Vec<u8>]) -> Result<()> {
        let mut cursors = Vec::with_capacity(offsets.len());
        let mut max_ts = i64::MAX;
        for offset in offsets {
            let words = decode_words("nexmark", offset)?;
            let (&ts, cursor) = words.split_first().ok_or_else(empty_position)?;
            // The lowest watermark of the splits taken over: no event they
            // had not produced yet is late for it.
            max_ts = max_ts.min(ts as i64);
            cursors.push(cursor.to_vec());
        }
        let old: Vec<&[u64]> = cursors.iter().map(Vec::as_slice).collect();
        let cursor = StridedCursor::rescaled("nexmark", self.split, &old)?;
        self.set_cursor(cursor)?;
        self.max_ts = if offsets.is_empty() { i64::MIN } else { max_ts };
        Ok(())
    }
}
