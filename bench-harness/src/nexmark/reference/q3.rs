//! q3, local item suggestion: an unwindowed inner join of category-10 auctions
//! with their sellers, for sellers in OR, ID or CA.

use super::super::error::NexmarkError;
use super::super::model::{Event, Person};
use super::super::rows::Q3Row;
use super::check_lateness;
use std::collections::HashMap;

/// One row per (auction with category 10, person with `id == auction.seller`
/// and state OR, ID or CA), whichever arrives first. Output in the order a
/// streaming join emits: by the position of the later of the two events, then
/// of the earlier.
pub fn q3(events: &[Event]) -> Result<Vec<Q3Row>, NexmarkError> {
    check_lateness(events)?;
    let mut sellers: HashMap<u64, Vec<(usize, &Person)>> = HashMap::new();
    for (i, event) in events.iter().enumerate() {
        let Event::Person(p) = event else { continue };
        if matches!(p.state.as_str(), "OR" | "ID" | "CA") {
            sellers.entry(p.id).or_default().push((i, p));
        }
    }
    let mut rows = Vec::new();
    for (i, event) in events.iter().enumerate() {
        let Event::Auction(a) = event else { continue };
        if a.category != 10 {
            continue;
        }
        for &(j, p) in sellers.get(&a.seller).into_iter().flatten() {
            let row = Q3Row {
                name: p.name.clone(),
                city: p.city.clone(),
                state: p.state.clone(),
                auction: a.id,
            };
            rows.push(((i.max(j), i.min(j)), row));
        }
    }
    rows.sort_by_key(|(order, _)| *order);
    Ok(rows.into_iter().map(|(_, row)| row).collect())
}
