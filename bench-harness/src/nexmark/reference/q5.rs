//! q5, hot items: the auctions with the most bids in each hopping window.

use std::collections::{BTreeMap, HashMap};

use super::super::error::NexmarkError;
use super::super::model::Event;
use super::super::rows::Q5Row;
use super::check_lateness;
use super::window::{HOP_MS, WINDOW_MS, hop_starts};

/// For every 10 s window sliding by 2 s that holds bids, the auctions whose bid
/// count equals the window's maximum. Output ordered by `(window_start, auction)`.
pub fn q5(events: &[Event]) -> Result<Vec<Q5Row>, NexmarkError> {
    check_lateness(events)?;
    let mut counts: BTreeMap<i64, HashMap<u64, u64>> = BTreeMap::new();
    for b in events.iter().filter_map(Event::as_bid) {
        for start in hop_starts(b.date_time, WINDOW_MS, HOP_MS) {
            *counts
                .entry(start)
                .or_default()
                .entry(b.auction)
                .or_default() += 1;
        }
    }
    let mut rows = Vec::new();
    for (window_start, per_auction) in counts {
        let max = per_auction.values().copied().max().unwrap_or(0);
        let mut hot: Vec<u64> = per_auction
            .into_iter()
            .filter(|(_, n)| *n == max)
            .map(|(auction, _)| auction)
            .collect();
        hot.sort_unstable();
        rows.extend(hot.into_iter().map(|auction| Q5Row {
            auction,
            num: max,
            window_start,
            window_end: window_start + WINDOW_MS,
        }));
    }
    Ok(rows)
}
