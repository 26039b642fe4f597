//! q4: average winning price per category.
//!
//! Stage 1 (keyed by auction) keeps the highest valid bid of each auction
//! and emits the winner when the watermark passes the auction's expiry.
//! Stage 2 (keyed by category) applies the winners in event-time order
//! (expiry, then auction id), so the running averages it emits are the
//! same on every run and core count.

use spate::keyed::{KeyedContext, ListState, MapState, OpenContext, ValueState};
use spate::operators::keyed_process::{KeyedProcessFunction, TimeDomain};
use spate::{DataStream, Result, SpateError};

use crate::nexmark::Event;
use crate::nexmark::rows::Q4Row;

#[derive(Clone, Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
enum Input {
    Auction {
        start: i64,
        expires: i64,
        category: u64,
    },
    Bid {
        price: u64,
        date_time: i64,
    },
}

/// A closed auction's winning price.
#[derive(Clone, Debug, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize)]
pub(crate) struct Winner {
    pub(crate) auction: u64,
    pub(crate) category: u64,
    pub(crate) seller: u64,
    pub(crate) price: u64,
    pub(crate) expires: i64,
}

/// The average winning price per category, updated as auctions close.
pub fn q4(events: &DataStream<Event>) -> DataStream<Q4Row> {
    winners(events)
        .key_by(|w: &Winner| w.category)
        .process(CategoryAverage::default())
}

/// Closed auctions with their winning price (shared with q6-style queries).
pub(crate) fn winners(events: &DataStream<Event>) -> DataStream<Winner> {
    events
        .flat_map(|e: Event| match e {
            Event::Auction(a) => Some((
                a.id,
                a.seller,
                Input::Auction {
                    start: a.date_time,
                    expires: a.expires,
                    category: a.category,
                },
            )),
            Event::Bid(b) => Some((
                b.auction,
                0,
                Input::Bid {
                    price: b.price,
                    date_time: b.date_time,
                },
            )),
            Event::Person(_) => None,
        })
        .key_by(|(id, _, _): &(u64, u64, Input)| *id)
        .process(WinningBid::default())
}

/// The auction being bid on: (start, expires, category, seller).
type AuctionInfo = (i64, i64, u64, u64);

#[derive(Clone, Default)]
struct WinningBid {
    auction: Option<ValueState<u64, AuctionInfo>>,
    best: Option<ValueState<u64, u64>>,
    early_bids: Option<ListState<u64, (u64, i64)>>,
}

/// The auction, its best valid price, and bids that came before it.
type WinningStates = (
    ValueState<u64, AuctionInfo>,
    ValueState<u64, u64>,
    ListState<u64, (u64, i64)>,
);

impl WinningBid {
    fn states(&self) -> Result<WinningStates> {
        match (self.auction, self.best, self.early_bids) {
            (Some(a), Some(b), Some(e)) => Ok((a, b, e)),
            _ => Err(SpateError::internal("q4 state not opened")),
        }
    }
}

fn offer(
    best: ValueState<u64, u64>,
    ctx: &mut KeyedContext<'_, u64, Winner>,
    price: u64,
) -> Result<()> {
    best.modify(ctx, |cur| match cur {
        Some(p) => {
            *p = (*p).max(price);
            None
        }
        None => Some(price),
    })
}

impl KeyedProcessFunction<u64, (u64, u64, Input), Winner> for WinningBid {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.auction = Some(ctx.value_state("auction", None)?);
        self.best = Some(ctx.value_state("best price", None)?);
        self.early_bids = Some(ctx.list_state("bids before their auction", None)?);
        Ok(())
    }

    fn process_element(
        &mut self,
        (_, seller, input): (u64, u64, Input),
        ctx: &mut KeyedContext<'_, u64, Winner>,
    ) -> Result<()> {
        let (auction, best, early) = self.states()?;
        match input {
            Input::Auction {
                start,
                expires,
                category,
            } => {
                auction.update(ctx, (start, expires, category, seller))?;
                for (price, t) in early.get(ctx)? {
                    if (start..=expires).contains(&t) {
                        offer(best, ctx, price)?;
                    }
                }
                early.clear(ctx)?;
                ctx.register_event_time_timer(expires);
            }
            Input::Bid { price, date_time } => match auction.value(ctx)? {
                Some((start, expires, _, _)) => {
                    if (start..=expires).contains(&date_time) {
                        offer(best, ctx, price)?;
                    }
                }
                None => early.add(ctx, (price, date_time))?,
            },
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        ts: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Winner>,
    ) -> Result<()> {
        let (auction, best, early) = self.states()?;
        if let (Some((_, expires, category, seller)), Some(price)) =
            (auction.value(ctx)?, best.value(ctx)?)
            && expires == ts
        {
            let id = *ctx.key();
            ctx.collect_with_timestamp(
                Winner {
                    auction: id,
                    category,
                    seller,
                    price,
                    expires,
                },
                expires,
            );
        }
        auction.clear(ctx)?;
        best.clear(ctx)?;
        early.clear(ctx)?;
        Ok(())
    }
}

/// Winners (auction, price) waiting for the watermark, by expiry.
pub(crate) type PendingWinners = MapState<u64, i64, Vec<(u64, u64)>>;

#[derive(Clone, Default)]
struct CategoryAverage {
    /// Winners waiting for the watermark, by expiry: each timer takes only
    /// its own timestamp's winners, so applying them costs O(winners).
    pending: Option<PendingWinners>,
    totals: Option<ValueState<u64, (u64, u64)>>,
}

impl KeyedProcessFunction<u64, Winner, Q4Row> for CategoryAverage {
    fn open(&mut self, ctx: &mut OpenContext) -> Result<()> {
        self.pending = Some(ctx.map_state("pending winners", None)?);
        self.totals = Some(ctx.value_state("sum and count", None)?);
        Ok(())
    }

    fn process_element(&mut self, w: Winner, ctx: &mut KeyedContext<'_, u64, Q4Row>) -> Result<()> {
        let pending = self
            .pending
            .ok_or_else(|| SpateError::internal("q4 state not opened"))?;
        hold_winner(pending, ctx, &w)
    }

    fn on_timer(
        &mut self,
        ts: i64,
        _: TimeDomain,
        ctx: &mut KeyedContext<'_, u64, Q4Row>,
    ) -> Result<()> {
        let (Some(pending), Some(totals)) = (self.pending, self.totals) else {
            return Err(SpateError::internal("q4 state not opened"));
        };
        let (mut sum, mut count) = totals.value(ctx)?.unwrap_or((0, 0));
        let category = *ctx.key();
        for price in take_due(pending, ctx, ts)? {
            sum += price;
            count += 1;
            ctx.collect(Q4Row {
                category,
                avg_price: sum as f64 / count as f64,
            });
        }
        totals.update(ctx, (sum, count))
    }
}

/// Holds a winner until the watermark passes its expiry.
pub(crate) fn hold_winner<O: 'static>(
    pending: PendingWinners,
    ctx: &mut KeyedContext<'_, u64, O>,
    w: &Winner,
) -> Result<()> {
    let mut at = pending.get(ctx, &w.expires)?.unwrap_or_default();
    at.push((w.auction, w.price));
    pending.put(ctx, w.expires, at)?;
    ctx.register_event_time_timer(w.expires);
    Ok(())
}

/// The prices of the winners that expire at `ts`, in auction-id order (the
/// reference's closing order for equal expiry).
pub(crate) fn take_due<O: 'static>(
    pending: PendingWinners,
    ctx: &mut KeyedContext<'_, u64, O>,
    ts: i64,
) -> Result<Vec<u64>> {
    let mut due = pending.remove(ctx, &ts)?.unwrap_or_default();
    due.sort_unstable();
    Ok(due.into_iter().map(|(_, price)| price).collect())
}
