//! q5: hot items — in each hopping window (10 s, sliding 2 s), the auctions
//! with the most bids.

use spate::keyed::{AggregateFunction, KeyedContext, ListState, OpenContext};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::window::{SlidingEventTimeWindows, TimeWindow};
use spate::{DataStream, Result, SpateError};

use crate::nexmark::Event;
use crate::nexmark::rows::Q5Row;

/// Counts records of type `T`.
pub struct Count<T>(std::marker::PhantomData<fn(T)>);

impl<T> Count<T> {
    /// A counter.
    pub fn new() -> Self {
        Self(std::marker::PhantomData)
    }
}

impl<T> Default for Count<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for Count<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T: 'static> AggregateFunction for Count<T> {
    type In = T;
    type Acc = u64;
    type Out = u64;
    fn create_accumulator(&self) -> u64 {
        0
    }
    fn add(&self, _: T, acc: &mut u64) {
        *acc += 1;
    }
    fn get_result(&self, acc: &u64) -> u64 {
        *acc
    }
    fn merge(&self, a: u64, b: u64) -> u64 {
        a + b
    }
}

/// Stage 1 counts bids per auction and window; stage 2, keyed by window,
/// waits for the watermark to pass the window's end (so every count has
/// arrived) and emits the auctions with the highest count.
pub fn q5(events: &DataStream<Event>) -> DataStream<Q5Row> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b.auction),
            _ => None,
        })
        .key_by(|auction: &u64| *auction)
        .window(SlidingEventTimeWindows::of(10_000, 2_000))
        .aggregate_with(
            Count::<u64>::new(),
            |auction: &u64, w: &TimeWindow, num: u64| Q5Row {
                auction: *auction,
                num,
                window_start: w.start,
                window_end: w.end,
            },
        )
        .key_by(|r: &Q5Row| r.window_start)
        .process(HottestInWindow::default())
}

#[derive(Clone, Default)]
struct HottestInWindow {
    counts: Option<ListState<i64, Q5Row>>,
}

impl KeyedProcessFunction<i64, Q5Row, Q5Row> for HottestInWindow {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.counts = Some(ctx.list_state("window counts", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        row: Q5Row,
        ctx: &mut KeyedContext<'_, i64, Q5Row>,
    ) -> Result<()> {
        let counts = self
            .counts
            .ok_or_else(|| SpateError::internal("q5 state not opened"))?;
        ctx.register_event_time_timer(row.window_end - 1);
        counts.add(ctx, row)
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Q5Row>,
    ) -> Result<()> {
        let counts = self
            .counts
            .ok_or_else(|| SpateError::internal("q5 state not opened"))?;
        let rows = counts.get(ctx)?;
        let max = rows.iter().map(|r| r.num).max().unwrap_or(0);
        for r in rows.into_iter().filter(|r| r.num == max) {
            ctx.collect(r);
        }
        counts.clear(ctx)
    }
}
