//! q6: average selling price per seller over their last 10 closed auctions.
//!
//! Reuses q4's first stage (the winning bid of each closed auction), then,
//! keyed by seller, applies the winners in event-time order (expiry, then
//! auction id) so the averages are the same on every run and core count.

use spate::keyed::{KeyedContext, ListState, OpenContext};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::{DataStream, Result, SpateError};

use super::q4::{PendingWinners, Winner, hold_winner, take_due, winners};
use crate::nexmark::Event;
use crate::nexmark::rows::Q6Row;

/// How many of a seller's latest auctions the average covers.
const LAST: usize = 10;

/// After each closed auction of a seller, the average of its last 10 winning prices.
pub fn q6(events: &DataStream<Event>) -> DataStream<Q6Row> {
    winners(events)
        .key_by(|w: &Winner| w.seller)
        .process(SellerAverage::default())
}

#[derive(Clone, Default)]
struct SellerAverage {
    pending: Option<PendingWinners>,
    last: Option<ListState<u64, u64>>,
}

impl KeyedProcessFunction<u64, Winner, Q6Row> for SellerAverage {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.pending = Some(ctx.map_state("pending winners", None)?);
        self.last = Some(ctx.list_state("last prices", None)?);
        Ok(())
    }

    fn process_element(&mut self, w: Winner, ctx: &mut KeyedContext<'_, u64, Q6Row>) -> Result<()> {
        let pending = self
            .pending
            .ok_or_else(|| SpateError::internal("q6 state not opened"))?;
        hold_winner(pending, ctx, &w)
    }

    fn on_timer(
        &mut self,
        ts: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Q6Row>,
    ) -> Result<()> {
        let (Some(pending), Some(last)) = (self.pending, self.last) else {
            return Err(SpateError::internal("q6 state not opened"));
        };
        let mut prices = last.get(ctx)?;
        let seller = *ctx.key();
        for price in take_due(pending, ctx, ts)? {
            prices.push(price);
            if prices.len() > LAST {
                prices.remove(0);
            }
            let sum: u64 = prices.iter().sum();
            ctx.collect(Q6Row {
                seller,
                avg_price: sum as f64 / prices.len() as f64,
            });
        }
        last.update(ctx, prices)
    }
}
