//! `Plan`: a validated config plus the constants derived from it, and the pure
//! function from event number to event.

use super::super::config::GeneratorConfig;
use super::super::error::NexmarkError;
use super::super::model::{Event, EventKind as Kind};
use super::ids::{Proportions, Slot};
use super::pools::{Pools, pools};
use super::rng::{Rng, seed_key};
use super::{auction, bid, person};

/// Rng purpose of an event's fields.
const CONTENT: u64 = 0;
/// Rng purpose of a bid's delay; separate so that enabling delays changes only timestamps.
const DELAY: u64 = 1;

/// A validated config and what the event makers need from it.
#[derive(Clone)]
pub(crate) struct Plan {
    pub cfg: GeneratorConfig,
    pub props: Proportions,
    pub seed_key: u64,
    pub active_people: u64,
    pub in_flight_auctions: u64,
    /// Events it takes to generate `in_flight_auctions` auctions.
    pub events_per_in_flight: u64,
    /// A bid is delayed when its delay draw is below this (0: never).
    delay_threshold: u64,
    pub pools: &'static Pools,
}

impl Plan {
    pub(crate) fn new(cfg: GeneratorConfig) -> Result<Plan, NexmarkError> {
        cfg.validate()?;
        let props = Proportions {
            person: u64::from(cfg.person_proportion),
            auction: u64::from(cfg.auction_proportion),
            total: cfg.total_proportion(),
        };
        let in_flight_auctions = u64::from(cfg.in_flight_auctions);
        // The float-to-int cast saturates, so probability 1 maps to u64::MAX.
        let delay_threshold = if cfg.prob_delayed_event > 0.0 && cfg.occasional_delay_ms > 0 {
            (cfg.prob_delayed_event * 18_446_744_073_709_551_616.0) as u64
        } else {
            0
        };
        Ok(Plan {
            props,
            seed_key: seed_key(cfg.seed),
            active_people: u64::from(cfg.active_people),
            in_flight_auctions,
            events_per_in_flight: in_flight_auctions * props.total / props.auction,
            delay_threshold,
            pools: pools(),
            cfg,
        })
    }

    /// Event number `n`.
    #[inline(always)]
    pub(crate) fn event(&self, n: u64) -> Event {
        let id = self.cfg.adjusted_event_number(n);
        let ts = self.cfg.slot_timestamp_ms(id);
        let slot = self.props.slot(id);
        let mut rng = Rng::for_event(self.seed_key, id, CONTENT);
        match self.kind(slot) {
            Kind::Person => Event::Person(person::make(self, slot, ts, &mut rng)),
            Kind::Auction => Event::Auction(auction::make(self, id, slot, ts, &mut rng)),
            Kind::Bid => Event::Bid(bid::make(self, slot, ts - self.delay(id), &mut rng)),
        }
    }

    /// The kind of event number `n`, without generating it.
    #[inline]
    pub(crate) fn kind_at(&self, n: u64) -> Kind {
        self.kind(self.props.slot(self.cfg.adjusted_event_number(n)))
    }

    /// The timestamp of event number `n`, without generating it.
    pub(crate) fn timestamp(&self, n: u64) -> i64 {
        let id = self.cfg.adjusted_event_number(n);
        let ts = self.cfg.slot_timestamp_ms(id);
        match self.kind(self.props.slot(id)) {
            Kind::Bid => ts - self.delay(id),
            Kind::Person | Kind::Auction => ts,
        }
    }

    #[inline]
    fn kind(&self, slot: Slot) -> Kind {
        if slot.offset < self.props.person {
            Kind::Person
        } else if slot.offset < self.props.person + self.props.auction {
            Kind::Auction
        } else {
            Kind::Bid
        }
    }

    /// How much earlier than its slot the bid with event id `id` is stamped.
    #[inline]
    fn delay(&self, id: u64) -> i64 {
        if self.delay_threshold == 0 {
            return 0;
        }
        let mut rng = Rng::for_event(self.seed_key, id, DELAY);
        if rng.next_u64() < self.delay_threshold {
            1 + rng.below(self.cfg.occasional_delay_ms as u64) as i64
        } else {
            0
        }
    }
}
