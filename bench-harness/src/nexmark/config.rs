//! Generator configuration, with nexmark-flink's `NexmarkConfiguration` defaults.

use serde::{Deserialize, Serialize};

use super::error::NexmarkError;

/// The watermark delay of the Nexmark DDL (`dateTime - INTERVAL '4' SECOND`): the
/// queries assume no event is more than this far behind the largest timestamp
/// before it, and `GeneratorConfig::validate` refuses configs that could be.
pub const WATERMARK_OUT_OF_ORDERNESS_MS: i64 = 4_000;

/// The multiplier nexmark-flink uses to shuffle event numbers inside an
/// out-of-order group; it is prime, so it permutes any group size it does not divide.
const OUT_OF_ORDER_SHUFFLE: u64 = 953;

/// Everything that determines the generated stream. Event number `i` is a pure
/// function of this config and `i`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GeneratorConfig {
    /// Seed of the per-event random numbers (the shared string pools do not depend on it).
    pub seed: u64,
    /// Events per second of event time, over all splits: event `i` is stamped
    /// `base_time_ms + i * 1000 / rate_events_per_s` (before any disorder).
    /// nexmark-flink's library default is 10 000; published runs use 10 M, and so do we.
    pub rate_events_per_s: u64,
    /// Event time of event 0 (fixed, so runs are reproducible). Default 2026-01-01T00:00Z.
    pub base_time_ms: i64,
    /// Stop after this many events (over all splits); `None` is unbounded.
    pub events_max: Option<u64>,
    /// Persons per `total proportion` events (1).
    pub person_proportion: u32,
    /// Auctions per `total proportion` events (3).
    pub auction_proportion: u32,
    /// Bids per `total proportion` events (46).
    pub bid_proportion: u32,
    /// Average person size in bytes that `extra` pads to (200).
    pub avg_person_bytes: u32,
    /// Average auction size in bytes that `extra` pads to (500).
    pub avg_auction_bytes: u32,
    /// Average bid size in bytes that `extra` pads to (100).
    pub avg_bid_bytes: u32,
    /// A bid goes to the current hot auction with probability 1 - 1/ratio (2).
    pub hot_auction_ratio: u32,
    /// An auction is by the current hot seller with probability 1 - 1/ratio (4).
    pub hot_sellers_ratio: u32,
    /// A bid is by the current hot bidder with probability 1 - 1/ratio (4).
    pub hot_bidders_ratio: u32,
    /// Auctions open at a time on average; sets auction lengths and the id range bids draw from (100).
    pub in_flight_auctions: u32,
    /// People that sellers and bidders are drawn from (1000).
    pub active_people: u32,
    /// nexmark-flink's `outOfOrderGroupSize`: events are shuffled inside groups of
    /// this many consecutive numbers (1 = in order, nexmark-flink's default).
    pub out_of_order_group_size: u64,
    /// Probability that a bid is stamped earlier than its slot (0 = never, as in
    /// nexmark-flink, whose `probDelayedEvent` setting is not used by its generator).
    pub prob_delayed_event: f64,
    /// A delayed bid is stamped 1..=this many ms early.
    pub occasional_delay_ms: i64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            rate_events_per_s: 10_000_000,
            base_time_ms: 1_767_225_600_000,
            events_max: None,
            person_proportion: 1,
            auction_proportion: 3,
            bid_proportion: 46,
            avg_person_bytes: 200,
            avg_auction_bytes: 500,
            avg_bid_bytes: 100,
            hot_auction_ratio: 2,
            hot_sellers_ratio: 4,
            hot_bidders_ratio: 4,
            in_flight_auctions: 100,
            active_people: 1000,
            out_of_order_group_size: 1,
            prob_delayed_event: 0.0,
            occasional_delay_ms: 3_000,
        }
    }
}

impl GeneratorConfig {
    /// Checks the config can generate a valid stream, including that no event can
    /// be more than [`WATERMARK_OUT_OF_ORDERNESS_MS`] late.
    pub fn validate(&self) -> Result<(), NexmarkError> {
        let bad = |why: &str| Err(NexmarkError::InvalidConfig(why.to_owned()));
        if self.rate_events_per_s == 0 {
            return bad("rate_events_per_s must be positive");
        }
        // Bids and auctions refer to the last person and auction ids, so both must exist.
        if self.person_proportion == 0 || self.auction_proportion == 0 {
            return bad("person_proportion and auction_proportion must be at least 1");
        }
        if self.hot_auction_ratio == 0 || self.hot_sellers_ratio == 0 || self.hot_bidders_ratio == 0
        {
            return bad("hot ratios must be at least 1");
        }
        if self.active_people == 0 {
            return bad("active_people must be at least 1");
        }
        // The shuffle permutes a group only if 953 is invertible modulo its size.
        let g = self.out_of_order_group_size;
        let g_mod_shuffle = g.checked_rem(OUT_OF_ORDER_SHUFFLE);
        if g == 0 || g_mod_shuffle == Some(0) {
            return bad("out_of_order_group_size must be positive and not a multiple of 953");
        }
        if !(0.0..=1.0).contains(&self.prob_delayed_event) {
            return bad("prob_delayed_event must be in [0, 1]");
        }
        if self.occasional_delay_ms < 0 {
            return bad("occasional_delay_ms must not be negative");
        }
        if self.max_out_of_orderness_ms() > WATERMARK_OUT_OF_ORDERNESS_MS {
            return bad("events could be later than the 4 s watermark delay");
        }
        Ok(())
    }

    /// persons + auctions + bids proportions (50 by default).
    pub fn total_proportion(&self) -> u64 {
        u64::from(self.person_proportion)
            + u64::from(self.auction_proportion)
            + u64::from(self.bid_proportion)
    }

    /// The nominal (in-order) timestamp of event slot `n`.
    pub fn slot_timestamp_ms(&self, n: u64) -> i64 {
        let rate = self.rate_events_per_s.max(1);
        // The u64 product covers 1.8e16 events; the u128 fallback only keeps huge
        // event numbers exact.
        let offset = match n.checked_mul(1000) {
            Some(ms_times_rate) => ms_times_rate / rate,
            None => u64::try_from(u128::from(n) * 1000 / u128::from(rate)).unwrap_or(u64::MAX),
        };
        self.base_time_ms
            .saturating_add(i64::try_from(offset).unwrap_or(i64::MAX))
    }

    /// The event id that event number `n` is generated from: `n` itself unless
    /// `out_of_order_group_size` > 1, in which case numbers are shuffled inside
    /// their group (nexmark-flink's `nextAdjustedEventNumber`).
    pub fn adjusted_event_number(&self, n: u64) -> u64 {
        let g = self.out_of_order_group_size;
        if g <= 1 {
            return n;
        }
        let base = n - n % g;
        // (n * 953) mod g, computed without overflowing.
        base + ((n % g) * (OUT_OF_ORDER_SHUFFLE % g)) % g
    }

    /// The most any event can be behind the largest timestamp generated before it
    /// (0 with nexmark-flink's defaults: the stream is in timestamp order).
    pub fn max_out_of_orderness_ms(&self) -> i64 {
        let rate = self.rate_events_per_s.max(1);
        // A shuffled group spans at most ceil((g - 1) * 1000 / rate) ms.
        let span = self
            .out_of_order_group_size
            .saturating_sub(1)
            .saturating_mul(1000)
            .div_ceil(rate);
        let delay = if self.prob_delayed_event > 0.0 {
            self.occasional_delay_ms
        } else {
            0
        };
        i64::try_from(span)
            .unwrap_or(i64::MAX)
            .saturating_add(delay)
    }
}
