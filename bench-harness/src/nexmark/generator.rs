//! The deterministic, splittable Nexmark event generator.
//!
//! Event number `i` (0, 1, 2, ...) is a pure function of the config and `i`:
//! its kind comes from `i mod 50` (1 person, 3 auctions, 46 bids), its ids from
//! how many persons and auctions precede it, its timestamp from the configured
//! rate, and its other fields from a random stream seeded with `(seed, i)`. A
//! split therefore just picks every `split_count`-th number, and the union of
//! all splits is the same stream for every split count.
//!
//! The distributions follow nexmark-flink's generator: hot sellers, bidders and
//! auctions, id leads, log-uniform prices, auction lengths, text lengths,
//! vocabularies, channels and URLs, and `extra` padding to the average sizes.

mod auction;
mod bid;
mod ids;
mod person;
mod plan;
mod pools;
mod price;
mod rng;
mod vocab;

use super::config::GeneratorConfig;
use super::error::NexmarkError;
use super::model::{Event, EventKind};
use plan::Plan;
pub(crate) use pools::pool_text;

/// Generates the events `i ≡ split_index (mod split_count)` in increasing order.
#[derive(Clone)]
pub struct Generator {
    plan: Plan,
    /// The next event number to return; `end` once exhausted.
    next: u64,
    step: u64,
    /// This split's index: the residue of its event numbers.
    split: u64,
    /// One past the last event number (over all splits).
    end: u64,
}

impl Generator {
    /// A generator of split `split_index` of `split_count` (use 0 of 1 for the
    /// whole stream). Fails on an invalid config or split.
    pub fn new(
        cfg: GeneratorConfig,
        split_index: usize,
        split_count: usize,
    ) -> Result<Generator, NexmarkError> {
        if split_count == 0 || split_index >= split_count {
            return Err(NexmarkError::InvalidConfig(format!(
                "split {split_index} of {split_count} does not exist"
            )));
        }
        let end = cfg.events_max.unwrap_or(u64::MAX);
        let plan = Plan::new(cfg)?;
        Ok(Generator {
            plan,
            next: (split_index as u64).min(end),
            step: split_count as u64,
            split: split_index as u64,
            end,
        })
    }

    /// The config.
    pub fn config(&self) -> &GeneratorConfig {
        &self.plan.cfg
    }

    /// The next event of this split, or `None` once `events_max` is reached.
    #[inline]
    pub fn next_event(&mut self) -> Option<Event> {
        let n = self.take_number()?;
        Some(self.plan.event(n))
    }

    /// The next event number of this split, moving past it.
    #[inline]
    fn take_number(&mut self) -> Option<u64> {
        let n = self.next_event_number()?;
        self.next = n.saturating_add(self.step).min(self.end);
        Some(n)
    }

    /// The next event of `kind`, passing over the events of other kinds
    /// without generating them (a table of one event type reads only its
    /// own). Each event number looked at takes one from `numbers_left`,
    /// and none is looked at once it is 0, so a rare kind (1 in 50 for
    /// persons) keeps the caller for a bounded time.
    #[inline]
    pub fn next_event_of(&mut self, kind: EventKind, numbers_left: &mut u64) -> OfKind {
        while *numbers_left > 0 {
            let Some(n) = self.take_number() else {
                return OfKind::Exhausted;
            };
            *numbers_left -= 1;
            if self.plan.kind_at(n) == kind {
                return OfKind::Event(self.plan.event(n));
            }
        }
        OfKind::Passed
    }

    /// The kind of event number `n`, without generating it.
    pub fn kind_at(&self, n: u64) -> EventKind {
        self.plan.kind_at(n)
    }

    /// Appends up to `count_max` events to `out`; returns how many (0 once exhausted).
    pub fn fill(&mut self, out: &mut Vec<Event>, count_max: usize) -> usize {
        let left = usize::try_from(self.left()).unwrap_or(usize::MAX);
        let count = count_max.min(left);
        let (first, step, plan) = (self.next, self.step, &self.plan);
        // A counted `extend` (no `Option`, no capacity check per event) lets
        // the compiler build each event in place in the vector.
        out.extend((0..count as u64).map(|k| plan.event(first + k * step)));
        self.next = first
            .saturating_add((count as u64).saturating_mul(step))
            .min(self.end);
        count
    }

    /// Continues at event number `next` (a value of
    /// [`Generator::resume_position`]); fails when `next` is not a position of
    /// this split. A position at or past the end leaves the split exhausted.
    pub fn seek(&mut self, next: u64) -> Result<(), NexmarkError> {
        let split = self.split;
        if next >= self.end {
            self.next = self.end;
            return Ok(());
        }
        if next % self.step != split {
            return Err(NexmarkError::InvalidConfig(format!(
                "event number {next} is not a position of split {split} of {}",
                self.step
            )));
        }
        self.next = next;
        Ok(())
    }

    /// The position to continue from: the next event number (or the end).
    pub fn resume_position(&self) -> u64 {
        self.next
    }

    /// The number of the event `next_event` returns next, if any.
    pub fn next_event_number(&self) -> Option<u64> {
        (self.next < self.end).then_some(self.next)
    }

    /// Events this split has still to return; `None` if unbounded.
    pub fn remaining(&self) -> Option<u64> {
        (self.end != u64::MAX).then(|| self.left())
    }

    /// Event numbers of this split below `end` (`end` is `u64::MAX` when unbounded).
    fn left(&self) -> u64 {
        (self.end - self.next).div_ceil(self.step)
    }

    /// Event number `n` of the whole stream (whichever split it belongs to).
    pub fn event_at(&self, n: u64) -> Event {
        self.plan.event(n)
    }

    /// The `date_time` of event number `n`, without generating the event.
    pub fn event_timestamp_ms(&self, n: u64) -> i64 {
        self.plan.timestamp(n)
    }

    /// The most an event can be behind the largest timestamp before it in the
    /// whole stream (0 by default: nexmark-flink's stream is in order). Never
    /// above [`super::config::WATERMARK_OUT_OF_ORDERNESS_MS`].
    pub fn max_out_of_orderness_ms(&self) -> i64 {
        self.plan.cfg.max_out_of_orderness_ms()
    }

    /// A lower bound of the timestamps of all events this split has yet to
    /// return (`i64::MAX` once exhausted), usable as a source watermark.
    pub fn watermark_hint(&self) -> i64 {
        let Some(n) = self.next_event_number() else {
            return i64::MAX;
        };
        let cfg = &self.plan.cfg;
        // Later numbers are shuffled at most within the group of `n`, so none is
        // stamped before the group's first slot, less any bid delay.
        let group_start = n - n % cfg.out_of_order_group_size.max(1);
        let delay = if cfg.prob_delayed_event > 0.0 {
            cfg.occasional_delay_ms
        } else {
            0
        };
        cfg.slot_timestamp_ms(group_start) - delay
    }
}

/// What [`Generator::next_event_of`] found.
#[derive(Debug)]
pub enum OfKind {
    /// The next event of the kind asked for.
    Event(Event),
    /// Only events of other kinds within the numbers looked at; ask again.
    Passed,
    /// The split has no events left.
    Exhausted,
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        self.next_event()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.remaining().map(usize::try_from) {
            Some(Ok(r)) => (r, Some(r)),
            _ => (usize::MAX, None),
        }
    }
}

impl std::fmt::Debug for Generator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generator")
            .field("config", &self.plan.cfg)
            .field("next", &self.next)
            .field("step", &self.step)
            .field("end", &self.end)
            .finish()
    }
}
