//! q7, highest bid: the bids with the top price of their tumbling window.

use std::collections::HashMap;

use super::super::error::NexmarkError;
use super::super::model::Event;
use super::super::rows::Q7Row;
use super::check_lateness;
use super::window::{WINDOW_MS, tumble_start};

/// Every bid whose price equals the maximum price of the bids in its 10 s
/// tumbling window `[start, start + 10 s)`. Output ordered by window, then input order.
pub fn q7(events: &[Event]) -> Result<Vec<Q7Row>, NexmarkError> {
    check_lateness(events)?;
    let bids = || events.iter().filter_map(Event::as_bid);
    let mut max_price: HashMap<i64, u64> = HashMap::new();
    for b in bids() {
        let max = max_price
            .entry(tumble_start(b.date_time, WINDOW_MS))
            .or_default();
        *max = (*max).max(b.price);
    }
    let mut rows: Vec<(i64, Q7Row)> = bids()
        .filter_map(|b| {
            let start = tumble_start(b.date_time, WINDOW_MS);
            (max_price.get(&start) == Some(&b.price)).then(|| {
                let row = Q7Row {
                    auction: b.auction,
                    bidder: b.bidder,
                    price: b.price,
                    date_time: b.date_time,
                    extra: b.extra.clone(),
                };
                (start, row)
            })
        })
        .collect();
    // Stable, so input order within a window is kept.
    rows.sort_by_key(|(start, _)| *start);
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}
