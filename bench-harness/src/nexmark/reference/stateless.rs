//! q0 (pass-through), q1 (map) and q2 (filter). Output in input order.

use super::super::error::NexmarkError;
use super::super::model::{Bid, Event};
use super::super::rows::{Q1Row, Q2Row};
use super::check_lateness;

fn bids(events: &[Event]) -> impl Iterator<Item = &Bid> {
    events.iter().filter_map(Event::as_bid)
}

/// q0: every bid.
pub fn q0(events: &[Event]) -> Result<Vec<Bid>, NexmarkError> {
    check_lateness(events)?;
    Ok(bids(events).cloned().collect())
}

/// q1: every bid with `price` in euros (`price as f64 * 0.908`).
pub fn q1(events: &[Event]) -> Result<Vec<Q1Row>, NexmarkError> {
    check_lateness(events)?;
    Ok(bids(events)
        .map(|b| Q1Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price as f64 * 0.908,
            date_time: b.date_time,
            extra: b.extra.clone(),
        })
        .collect())
}

/// q2: `(auction, price)` of the bids with `auction % 123 == 0`.
pub fn q2(events: &[Event]) -> Result<Vec<Q2Row>, NexmarkError> {
    check_lateness(events)?;
    Ok(bids(events)
        .filter(|b| b.auction % 123 == 0)
        .map(|b| Q2Row {
            auction: b.auction,
            price: b.price,
        })
        .collect())
}
