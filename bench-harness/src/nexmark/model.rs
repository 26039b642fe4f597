//! The three Nexmark event types. Times are milliseconds since the Unix epoch.

use serde::{Deserialize, Serialize};

use super::text::Str;

/// A person registers to buy or sell.
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
pub struct Person {
    /// Person id, unique; the first is 1000.
    pub id: u64,
    /// "First Last".
    pub name: Str,
    /// A made-up e-mail address.
    pub email_address: Str,
    /// Four groups of four digits.
    pub credit_card: Str,
    /// US city.
    pub city: Str,
    /// US state code (AZ, CA, ID, OR, WA, WY).
    pub state: Str,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    /// Padding up to the configured average event size.
    pub extra: Str,
}

/// An item put up for auction.
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
pub struct Auction {
    /// Auction id, unique; the first is 1000.
    pub id: u64,
    /// Short random text.
    pub item_name: Str,
    /// Longer random text.
    pub description: Str,
    /// Starting price.
    pub initial_bid: u64,
    /// Reserve price (at least `initial_bid`).
    pub reserve: u64,
    /// Event time the auction opened, ms since the epoch.
    pub date_time: i64,
    /// Event time the auction closes, ms since the epoch (after `date_time`).
    pub expires: i64,
    /// Person id of the seller.
    pub seller: u64,
    /// Category id (10 to 14 with the default config).
    pub category: u64,
    /// Padding up to the configured average event size.
    pub extra: Str,
}

/// A bid on an auction.
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
pub struct Bid {
    /// Auction id bid on.
    pub auction: u64,
    /// Person id of the bidder.
    pub bidder: u64,
    /// Bid price (in cents, as nexmark has it).
    pub price: u64,
    /// Channel the bid came through ("Google", ..., or "channel-N").
    pub channel: Str,
    /// URL of the bid page.
    pub url: Str,
    /// Event time, ms since the epoch.
    pub date_time: i64,
    /// Padding up to the configured average event size.
    pub extra: Str,
}

/// One Nexmark event. In JSON it is `{"person":{..}}`, `{"auction":{..}}` or `{"bid":{..}}`.
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
#[serde(rename_all = "lowercase")]
pub enum Event {
    /// A new person.
    Person(Person),
    /// A new auction.
    Auction(Auction),
    /// A new bid.
    Bid(Bid),
}

/// The three kinds of Nexmark event, without their fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A person.
    Person,
    /// An auction.
    Auction,
    /// A bid.
    Bid,
}

impl Event {
    /// Which kind of event this is.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Person(_) => EventKind::Person,
            Event::Auction(_) => EventKind::Auction,
            Event::Bid(_) => EventKind::Bid,
        }
    }

    /// The event time, ms since the epoch.
    pub fn date_time(&self) -> i64 {
        match self {
            Event::Person(p) => p.date_time,
            Event::Auction(a) => a.date_time,
            Event::Bid(b) => b.date_time,
        }
    }

    /// The person, if this is one.
    pub fn as_person(&self) -> Option<&Person> {
        match self {
            Event::Person(p) => Some(p),
            _ => None,
        }
    }

    /// The auction, if this is one.
    pub fn as_auction(&self) -> Option<&Auction> {
        match self {
            Event::Auction(a) => Some(a),
            _ => None,
        }
    }

    /// The bid, if this is one.
    pub fn as_bid(&self) -> Option<&Bid> {
        match self {
            Event::Bid(b) => Some(b),
            _ => None,
        }
    }
}
