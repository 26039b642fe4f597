//! q6: average selling price per seller over their last 10 closed auctions.

use std::collections::{HashMap, VecDeque};

use super::super::error::NexmarkError;
use super::super::model::Event;
use super::super::rows::Q6Row;
use super::check_lateness;
use super::closing::closed_auctions;

/// How many of a seller's latest closed auctions the average covers.
const LAST_AUCTIONS: usize = 10;

/// After each auction closes with a winner (in closing order), the seller's
/// average winning price over their last 10 such auctions (fewer at first):
/// `sum as f64 / count as f64`.
pub fn q6(events: &[Event]) -> Result<Vec<Q6Row>, NexmarkError> {
    check_lateness(events)?;
    let mut recent: HashMap<u64, VecDeque<u64>> = HashMap::new();
    let mut rows = Vec::new();
    for closed in closed_auctions(events) {
        let seller = closed.auction.seller;
        let prices = recent.entry(seller).or_default();
        prices.push_back(closed.price);
        if prices.len() > LAST_AUCTIONS {
            prices.pop_front();
        }
        let sum: u64 = prices.iter().sum();
        rows.push(Q6Row {
            seller,
            avg_price: sum as f64 / prices.len() as f64,
        });
    }
    Ok(rows)
}
