//! q4: average winning price per category.

use std::collections::HashMap;

use super::super::error::NexmarkError;
use super::super::model::Event;
use super::super::rows::Q4Row;
use super::check_lateness;
use super::closing::closed_auctions;

/// After each auction closes with a winner (in closing order, see
/// `closed_auctions`), the category's average winning price so far:
/// `sum as f64 / count as f64`. Auctions without a valid bid are not counted.
pub fn q4(events: &[Event]) -> Result<Vec<Q4Row>, NexmarkError> {
    check_lateness(events)?;
    let mut per_category: HashMap<u64, (u64, u64)> = HashMap::new();
    let mut rows = Vec::new();
    for closed in closed_auctions(events) {
        let category = closed.auction.category;
        let (sum, count) = per_category.entry(category).or_default();
        *sum += closed.price;
        *count += 1;
        rows.push(Q4Row {
            category,
            avg_price: *sum as f64 / *count as f64,
        });
    }
    Ok(rows)
}
