//! q8, monitor new users: people who opened an auction in the 10 s tumbling
//! window they registered in.

use std::collections::{BTreeSet, HashSet};

use super::super::error::NexmarkError;
use super::super::model::Event;
use super::super::rows::Q8Row;
use super::check_lateness;
use super::window::{WINDOW_MS, tumble_start};

/// One row per distinct `(person id, name, window)` such that the person event
/// is in the window and some auction with `seller == id` is in the same window.
/// Output ordered by `(window_start, id, name)`.
pub fn q8(events: &[Event]) -> Result<Vec<Q8Row>, NexmarkError> {
    check_lateness(events)?;
    let sellers: HashSet<(u64, i64)> = events
        .iter()
        .filter_map(Event::as_auction)
        .map(|a| (a.seller, tumble_start(a.date_time, WINDOW_MS)))
        .collect();
    let rows: BTreeSet<(i64, u64, _)> = events
        .iter()
        .filter_map(Event::as_person)
        .map(|p| (tumble_start(p.date_time, WINDOW_MS), p.id, p.name.clone()))
        .filter(|(start, id, _)| sellers.contains(&(*id, *start)))
        .collect();
    Ok(rows
        .into_iter()
        .map(|(window_start, id, name)| Q8Row {
            id,
            name,
            window_start,
        })
        .collect())
}
