//! Output rows of the Nexmark queries (q0's row is [`Bid`](super::model::Bid) itself).
//!
//! Rows with an `f64` compare, order and hash it by its bits (`f64::to_bits`,
//! `f64::total_cmp`), so they can be `Eq + Ord + Hash` and checksummed; the
//! reference computes those values with the exact expression documented on
//! each field, so an engine that uses the same expression gets identical bits.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::text::Str;

/// q1: a bid with its price converted to euros.
#[derive(
    Clone, Debug, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Q1Row {
    /// `Bid::auction`.
    pub auction: u64,
    /// `Bid::bidder`.
    pub bidder: u64,
    /// `bid.price as f64 * 0.908`.
    pub price: f64,
    /// `Bid::date_time`.
    pub date_time: i64,
    /// `Bid::extra`.
    pub extra: Str,
}

/// q2: a bid on an auction whose id is a multiple of 123.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q2Row {
    /// `Bid::auction`.
    pub auction: u64,
    /// `Bid::price`.
    pub price: u64,
}

/// q3: a category-10 auction by a seller living in OR, ID or CA.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q3Row {
    /// `Person::name` of the seller.
    pub name: Str,
    /// `Person::city` of the seller.
    pub city: Str,
    /// `Person::state` of the seller.
    pub state: Str,
    /// `Auction::id`.
    pub auction: u64,
}

/// q4: the new average winning price of a category after one of its auctions closed.
#[derive(
    Clone, Debug, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Q4Row {
    /// `Auction::category`.
    pub category: u64,
    /// `sum as f64 / count as f64` over the category's closed auctions' winning prices.
    pub avg_price: f64,
}

/// q5: an auction with the most bids in a hopping window.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q5Row {
    /// `Bid::auction`.
    pub auction: u64,
    /// Its bids in the window (the window's maximum).
    pub num: u64,
    /// Window start, ms since the epoch (a multiple of 2000).
    pub window_start: i64,
    /// `window_start + 10_000`.
    pub window_end: i64,
}

/// q6: a seller's new average selling price over their last 10 closed auctions.
#[derive(
    Clone, Debug, Serialize, Deserialize, rkyv::Archive, rkyv::Serialize, rkyv::Deserialize,
)]
pub struct Q6Row {
    /// `Auction::seller`.
    pub seller: u64,
    /// `sum as f64 / count as f64` over up to 10 winning prices.
    pub avg_price: f64,
}

/// q7: a bid with the highest price of its tumbling window.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q7Row {
    /// `Bid::auction`.
    pub auction: u64,
    /// `Bid::bidder`.
    pub bidder: u64,
    /// `Bid::price`.
    pub price: u64,
    /// `Bid::date_time`.
    pub date_time: i64,
    /// `Bid::extra`.
    pub extra: Str,
}

/// q8: a person who opened an auction in the 10 s window they registered in.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    rkyv::Archive,
    rkyv::Serialize,
    rkyv::Deserialize,
)]
pub struct Q8Row {
    /// `Person::id`.
    pub id: u64,
    /// `Person::name`.
    pub name: Str,
    /// Window start, ms since the epoch (a multiple of 10 000).
    pub window_start: i64,
}

/// Implements `PartialEq, Eq, PartialOrd, Ord, Hash` through the row's `key()`,
/// a tuple of its fields in declaration order with each `f64` as its bits.
/// (Bits order like the numbers for the non-negative values these rows hold.)
macro_rules! by_key {
    ($row:ident) => {
        impl PartialEq for $row {
            fn eq(&self, other: &Self) -> bool {
                self.key() == other.key()
            }
        }
        impl Eq for $row {}
        impl PartialOrd for $row {
            fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for $row {
            fn cmp(&self, other: &Self) -> Ordering {
                self.key().cmp(&other.key())
            }
        }
        impl Hash for $row {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.key().hash(state);
            }
        }
    };
}

impl Q1Row {
    fn key(&self) -> (u64, u64, u64, i64, &Str) {
        let Q1Row {
            auction,
            bidder,
            price,
            date_time,
            extra,
        } = self;
        (*auction, *bidder, price.to_bits(), *date_time, extra)
    }
}

impl Q4Row {
    fn key(&self) -> (u64, u64) {
        (self.category, self.avg_price.to_bits())
    }
}

impl Q6Row {
    fn key(&self) -> (u64, u64) {
        (self.seller, self.avg_price.to_bits())
    }
}

by_key!(Q1Row);
by_key!(Q4Row);
by_key!(Q6Row);
