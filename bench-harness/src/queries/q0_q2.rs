//! The stateless queries: passthrough, projection and filter.

use spate::DataStream;

use crate::nexmark::rows::{Q1Row, Q2Row};
use crate::nexmark::{Bid, Event};

fn bids(events: &DataStream<Event>) -> DataStream<Bid> {
    events.flat_map(|e: Event| match e {
        Event::Bid(b) => Some(b),
        _ => None,
    })
}

/// q0: every bid, passed through.
pub fn q0(events: &DataStream<Event>) -> DataStream<Bid> {
    bids(events)
}

/// q1: bids with the price converted to euros.
pub fn q1(events: &DataStream<Event>) -> DataStream<Q1Row> {
    events.flat_map(|e: Event| match e {
        Event::Bid(b) => Some(Q1Row {
            auction: b.auction,
            bidder: b.bidder,
            price: b.price as f64 * 0.908,
            date_time: b.date_time,
            extra: b.extra,
        }),
        _ => None,
    })
}

/// q2: (auction, price) of bids on every 123rd auction.
pub fn q2(events: &DataStream<Event>) -> DataStream<Q2Row> {
    events.flat_map(|e: Event| match e {
        Event::Bid(b) if b.auction % 123 == 0 => Some(Q2Row {
            auction: b.auction,
            price: b.price,
        }),
        _ => None,
    })
}
