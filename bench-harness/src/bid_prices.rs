//! `bid-prices`: Nexmark bids spread over every subtask (`rebalance`, as
//! after a source with fewer partitions than the job has subtasks), kept on
//! every 4th auction, projected to `(auction, price)`, and summed per
//! auction in 10 s tumbling event-time windows.
//!
//! On a cluster the filter and the projection right after the rebalance
//! read each bid from another process in its receive buffer
//! (`flat_map_in_place`): it is never deserialized, only the two fields
//! are copied out. Bids that stay in their process go to the function's
//! owned form. The
//! `owned` form deserializes every bid first, as `filter` and `map` need;
//! both give the same output.

use spate::sinks::BlackholeSink;
use spate::window::TumblingEventTimeWindows;
use spate::{DataStream, Job, Result};

use crate::nexmark::{ArchivedBid, Bid, Event};
use crate::runner::{BenchSpec, nexmark_events};

/// How the bids are read after the rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BidReading {
    /// In their receive buffers, never deserialized.
    InPlace,
    /// Deserialized, then filtered and projected.
    Owned,
}

const AUCTIONS_KEPT_EVERY: u64 = 4;
const WINDOW_MS: u64 = 10_000;

fn kept(auction: u64) -> bool {
    auction.is_multiple_of(AUCTIONS_KEPT_EVERY)
}

/// The job over the spec's events (its query name is ignored).
pub fn bid_prices_job(spec: &BenchSpec, reading: BidReading) -> Result<Job> {
    let job = Job::builder("bid prices");
    let bids = nexmark_events(&job, spec)
        .flat_map(|e: Event| match e {
            Event::Bid(b) => Some(b),
            _ => None,
        })
        .rebalance();
    let prices: DataStream<(u64, u64)> = match reading {
        BidReading::InPlace => bids.flat_map_in_place(
            |b: &Bid| kept(b.auction).then_some((b.auction, b.price)),
            |b: &ArchivedBid| {
                let auction = b.auction.to_native();
                kept(auction).then(|| (auction, b.price.to_native()))
            },
        ),
        BidReading::Owned => bids
            .filter(|b: &Bid| kept(b.auction))
            .map(|b: Bid| (b.auction, b.price)),
    };
    prices
        .key_by(|p: &(u64, u64)| p.0)
        .window(TumblingEventTimeWindows::of(WINDOW_MS))
        .reduce(|a, b| (a.0, a.1 + b.1))
        .sink_with_checksum("bid-prices", BlackholeSink);
    job.build()
}
