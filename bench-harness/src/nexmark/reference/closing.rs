//! Auction closing, shared by q4 and q6: the winning price of every auction
//! and the order auctions close in.

use std::collections::HashMap;

use super::super::model::{Auction, Event};

/// An auction that closed with a winning bid.
pub(crate) struct Closed<'a> {
    pub auction: &'a Auction,
    /// The highest price of the bids on it stamped within `[date_time, expires]`.
    pub price: u64,
}

/// The auctions that had at least one valid bid, in closing order: by
/// `(expires, id)`, then input order. An auction closes at event time
/// `expires`; at the end of input (final watermark +inf) all have closed.
pub(crate) fn closed_auctions(events: &[Event]) -> Vec<Closed<'_>> {
    // (date_time, price) of every bid, by auction id; a bid may arrive before
    // its auction, so collect them all first.
    let mut bids: HashMap<u64, Vec<(i64, u64)>> = HashMap::new();
    for b in events.iter().filter_map(Event::as_bid) {
        bids.entry(b.auction)
            .or_default()
            .push((b.date_time, b.price));
    }
    let mut closed: Vec<Closed<'_>> = events
        .iter()
        .filter_map(Event::as_auction)
        .filter_map(|a| {
            let valid = bids
                .get(&a.id)?
                .iter()
                .filter(|(t, _)| a.date_time <= *t && *t <= a.expires);
            let price = valid.map(|(_, p)| *p).max()?;
            Some(Closed { auction: a, price })
        })
        .collect();
    // Stable, so equal keys keep input order.
    closed.sort_by_key(|c| (c.auction.expires, c.auction.id));
    closed
}
