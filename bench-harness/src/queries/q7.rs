//! q7: highest bid — in each 10 s tumbling window, the bids with the
//! window's highest price.

use spate::keyed::{AggregateFunction, KeyedContext, ListState, OpenContext};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::window::{TimeWindow, TumblingEventTimeWindows};
use spate::{DataStream, Result, SpateError};

use super::TUMBLE_MS;
use crate::nexmark::rows::Q7Row;
use crate::nexmark::{Bid, Event};

/// Partitions of the first stage: many, so the per-window maximum is
/// computed in parallel before one subtask per window combines them.
const PARTIALS: u64 = 256;

/// Stage 1: per window and partition of bidders, the highest price and
/// the bids at it. Stage 2, keyed by window: once the watermark passes the
/// window's end, the bids at the overall highest price.
pub fn q7(events: &DataStream<Event>) -> DataStream<Q7Row> {
    events
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .key_by(|b: &Bid| b.bidder % PARTIALS)
        .window(TumblingEventTimeWindows::of(TUMBLE_MS as u64))
        .aggregate_with(TopBids, |_: &u64, w: &TimeWindow, top: (u64, Vec<Bid>)| {
            (w.start, top.0, top.1)
        })
        .key_by(|p: &(i64, u64, Vec<Bid>)| p.0)
        .process(HighestInWindow::default())
}

/// The highest price and every bid at it.
#[derive(Clone, Copy, Debug, Default)]
struct TopBids;

impl AggregateFunction for TopBids {
    type In = Bid;
    type Acc = (u64, Vec<Bid>);
    type Out = (u64, Vec<Bid>);
    fn create_accumulator(&self) -> Self::Acc {
        (0, Vec::new())
    }
    fn add(&self, b: Bid, acc: &mut Self::Acc) {
        if b.price > acc.0 || acc.1.is_empty() {
            acc.0 = b.price;
            acc.1.clear();
            acc.1.push(b);
        } else if b.price == acc.0 {
            acc.1.push(b);
        }
    }
    fn get_result(&self, acc: &Self::Acc) -> Self::Out {
        acc.clone()
    }
    fn merge(&self, mut a: Self::Acc, b: Self::Acc) -> Self::Acc {
        for bid in b.1 {
            self.add(bid, &mut a);
        }
        a
    }
}

type Partial = (i64, u64, Vec<Bid>);

#[derive(Clone, Default)]
struct HighestInWindow {
    partials: Option<ListState<i64, (u64, Vec<Bid>)>>,
}

impl KeyedProcessFunction<i64, Partial, Q7Row> for HighestInWindow {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.partials = Some(ctx.list_state("partial maxima", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (start, price, bids): Partial,
        ctx: &mut KeyedContext<'_, i64, Q7Row>,
    ) -> Result<()> {
        let partials = self
            .partials
            .ok_or_else(|| SpateError::internal("q7 state not opened"))?;
        ctx.register_event_time_timer(start + TUMBLE_MS - 1);
        partials.add(ctx, (price, bids))
    }

    fn on_timer(
        &mut self,
        _: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, i64, Q7Row>,
    ) -> Result<()> {
        let partials = self
            .partials
            .ok_or_else(|| SpateError::internal("q7 state not opened"))?;
        let all = partials.get(ctx)?;
        let max = all.iter().filter(|p| !p.1.is_empty()).map(|p| p.0).max();
        if let Some(max) = max {
            for (_, bids) in all.into_iter().filter(|p| p.0 == max) {
                for b in bids {
                    ctx.collect(Q7Row {
                        auction: b.auction,
                        bidder: b.bidder,
                        price: b.price,
                        date_time: b.date_time,
                        extra: b.extra,
                    });
                }
            }
        }
        partials.clear(ctx)
    }
}
