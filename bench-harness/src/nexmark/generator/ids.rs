//! Id arithmetic: which person and auction ids exist at a given event id, and
//! random picks among the recent ones (nexmark-flink's `lastBase0*Id` and
//! `nextBase0*Id`). Ids here are base 0; the first real ids are 1000.

use super::rng::Rng;

/// First person id.
pub(crate) const FIRST_PERSON_ID: u64 = 1000;
/// First auction id.
pub(crate) const FIRST_AUCTION_ID: u64 = 1000;
/// First category id.
pub(crate) const FIRST_CATEGORY_ID: u64 = 10;
/// Number of categories (few, so queries on small inputs find matches).
pub(crate) const CATEGORIES: u64 = 5;
/// Hot sellers, bidders and auctions are the first of each batch of this many ids.
pub(crate) const HOT_BATCH: u64 = 100;
/// Ids this far past the last generated one may be referenced ("future" people
/// and auctions, so joins also see the referencing event first).
const ID_LEAD: u64 = 10;

/// Where an event id falls in the person/auction/bid cycle.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    /// Which cycle of `total proportion` events.
    pub epoch: u64,
    /// Position inside the cycle.
    pub offset: u64,
}

/// The proportions, as the id arithmetic needs them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Proportions {
    pub person: u64,
    pub auction: u64,
    pub total: u64,
}

impl Proportions {
    /// The slot of event `id`.
    #[inline]
    pub(crate) fn slot(&self, id: u64) -> Slot {
        let epoch = id / self.total;
        Slot {
            epoch,
            offset: id - epoch * self.total,
        }
    }

    /// The last person id generated at or before this slot.
    #[inline]
    pub(crate) fn last_person(&self, s: Slot) -> u64 {
        s.epoch * self.person + s.offset.min(self.person - 1)
    }

    /// The last auction id generated at or before this slot (0 before the first).
    #[inline]
    pub(crate) fn last_auction(&self, s: Slot) -> u64 {
        if s.offset < self.person {
            // A person slot: the last auction is the previous cycle's last.
            (s.epoch * self.auction).saturating_sub(1)
        } else if s.offset >= self.person + self.auction {
            s.epoch * self.auction + self.auction - 1
        } else {
            s.epoch * self.auction + s.offset - self.person
        }
    }
}

/// A random recent person: one of the last `active` people or up to 10 ahead.
#[inline]
pub(crate) fn random_person(last_person: u64, active: u64, rng: &mut Rng) -> u64 {
    let people = last_person + 1;
    let active = people.min(active);
    people - active + rng.below(active + ID_LEAD)
}

/// A random auction likely still open: one of the last `in_flight` or up to 10 ahead.
#[inline]
pub(crate) fn random_auction(last_auction: u64, in_flight: u64, rng: &mut Rng) -> u64 {
    let min = last_auction.saturating_sub(in_flight);
    min + rng.below(last_auction - min + 1 + ID_LEAD)
}

/// The hot one of the current batch of `HOT_BATCH` ids.
#[inline]
pub(crate) fn hot(last: u64) -> u64 {
    last / HOT_BATCH * HOT_BATCH
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Proportions = Proportions {
        person: 1,
        auction: 3,
        total: 50,
    };

    #[test]
    fn last_ids_follow_the_cycle() {
        // Event 0 is person 0, events 1..=3 auctions 0..=2, 4..=49 bids.
        assert_eq!(P.last_person(P.slot(0)), 0);
        assert_eq!(P.last_person(P.slot(49)), 0);
        assert_eq!(P.last_person(P.slot(50)), 1);
        assert_eq!(P.last_auction(P.slot(1)), 0);
        assert_eq!(P.last_auction(P.slot(3)), 2);
        assert_eq!(P.last_auction(P.slot(4)), 2);
        assert_eq!(P.last_auction(P.slot(50)), 2);
        assert_eq!(P.last_auction(P.slot(51)), 3);
    }
}
