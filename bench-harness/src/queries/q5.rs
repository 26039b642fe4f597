//! q5: hot items — in each hopping window (10 s, sliding 2 s), the auctions
//! with the most bids.

use spate::keyed::{KeyedContext, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::window::{Count, SlidingEventTimeWindows, TimeWindow};
use spate::{DataStream, Result, SpateError};

use crate::nexmark::Event;
use crate::nexmark::rows::Q5Row;

/// Stage 1 counts bids per auction and window; stage 2, keyed by window,
/// keeps the auctions with the highest count so far and emits them once
/// the watermark passes the window's end (so every count has arrived).
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

/// The highest count seen for a window and the rows that have it.
type Top = (u64, Vec<Q5Row>);

/// Keeps, per window, only the rows with the highest count so far (one
/// state lookup per row), and emits them once the window is complete.
#[derive(Clone, Default)]
struct HottestInWindow {
    top: Option<ValueState<i64, Top>>,
}

impl HottestInWindow {
    fn state(&self) -> Result<ValueState<i64, Top>> {
        self.top
            .ok_or_else(|| SpateError::internal("q5 state not opened"))
    }
}

impl KeyedProcessFunction<i64, Q5Row, Q5Row> for HottestInWindow {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.top = Some(ctx.value_state("window top", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        row: Q5Row,
        ctx: &mut KeyedContext<'_, i64, Q5Row>,
    ) -> Result<()> {
        let window_end = row.window_end;
        let mut first = false;
        self.state()?.modify(ctx, |top| match top {
            None => {
                first = true;
                Some((row.num, vec![row]))
            }
            Some((max, rows)) => {
                if row.num > *max {
                    *max = row.num;
                    rows.clear();
                }
                if row.num == *max {
                    rows.push(row);
                }
                None
            }
        })?;
        if first {
            ctx.register_event_time_timer(window_end - 1);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Q5Row>,
    ) -> Result<()> {
        let state = self.state()?;
        if let Some((_, rows)) = state.value(ctx)? {
            for r in rows {
                ctx.collect(r);
            }
        }
        state.clear(ctx)
    }
}
