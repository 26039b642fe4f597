//! Makes an auction (nexmark-flink's `AuctionGenerator`).

use super::super::model::Auction;
use super::ids::{self, CATEGORIES, FIRST_AUCTION_ID, FIRST_CATEGORY_ID, FIRST_PERSON_ID, Slot};
use super::plan::Plan;
use super::price::next_price;
use super::rng::Rng;

/// The auction with event id `id` in `slot`, stamped `ts`.
pub(crate) fn make(plan: &Plan, id: u64, slot: Slot, ts: i64, rng: &mut Rng) -> Auction {
    let last_person = plan.props.last_person(slot);
    // With probability 1 - 1/ratio the seller is the batch's hot seller.
    let seller = if rng.below(u64::from(plan.cfg.hot_sellers_ratio)) > 0 {
        ids::hot(last_person)
    } else {
        ids::random_person(last_person, plan.active_people, rng)
    };
    let category = FIRST_CATEGORY_ID + rng.below(CATEGORIES);
    let initial_bid = next_price(rng);
    let expires = ts + length_ms(plan, id, ts, rng);
    let item_name = plan.pools.text(rng, 20);
    let description = plan.pools.text(rng, 100);
    let reserve = initial_bid + next_price(rng);
    let size = 8 + item_name.len() + description.len() + 8 + 8 + 8 + 8 + 8;
    let extra = plan.pools.extra(rng, size, plan.cfg.avg_auction_bytes);
    Auction {
        id: plan.props.last_auction(slot) + FIRST_AUCTION_ID,
        item_name: item_name.into_str(),
        description: description.into_str(),
        initial_bid,
        reserve,
        date_time: ts,
        expires,
        seller: seller + FIRST_PERSON_ID,
        category,
        extra: extra.into_str(),
    }
}

/// Auction length: uniform in [1, 2h] where h is the event time until
/// `in_flight_auctions` more auctions exist, so about that many are open at once.
fn length_ms(plan: &Plan, id: u64, ts: i64, rng: &mut Rng) -> i64 {
    let horizon = plan.cfg.slot_timestamp_ms(id + plan.events_per_in_flight) - ts;
    1 + rng.below((horizon.saturating_mul(2)).max(1) as u64) as i64
}
