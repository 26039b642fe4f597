//! Makes a bid (nexmark-flink's `BidGenerator`).

use super::super::model::Bid;
use super::ids::{self, FIRST_AUCTION_ID, FIRST_PERSON_ID, Slot};
use super::plan::Plan;
use super::price::next_price;
use super::rng::Rng;

/// The bid in `slot`, stamped `ts`. Always inlined: bids are 92% of events, and
/// inlining lets the bid be built in place instead of copied.
#[inline(always)]
pub(crate) fn make(plan: &Plan, slot: Slot, ts: i64, rng: &mut Rng) -> Bid {
    let last_auction = plan.props.last_auction(slot);
    // With probability 1 - 1/ratio, the batch's hot auction.
    let auction = if rng.below(u64::from(plan.cfg.hot_auction_ratio)) > 0 {
        ids::hot(last_auction)
    } else {
        ids::random_auction(last_auction, plan.in_flight_auctions, rng)
    };
    let last_person = plan.props.last_person(slot);
    // The hot bidder is the batch's second person, so it is not the hot seller.
    let bidder = if rng.below(u64::from(plan.cfg.hot_bidders_ratio)) > 0 {
        ids::hot(last_person) + 1
    } else {
        ids::random_person(last_person, plan.active_people, rng)
    };
    let price = next_price(rng);
    let (channel, url) = plan.pools.channel_and_url(rng);
    let extra = plan.pools.extra(rng, 8 + 8 + 8 + 8, plan.cfg.avg_bid_bytes);
    Bid {
        auction: auction + FIRST_AUCTION_ID,
        bidder: bidder + FIRST_PERSON_ID,
        price,
        channel: channel.into_str(),
        url: url.into_str(),
        date_time: ts,
        extra: extra.into_str(),
    }
}
