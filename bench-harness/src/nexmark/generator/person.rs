//! Makes a person (nexmark-flink's `PersonGenerator`).

use super::super::model::Person;
use super::ids::{FIRST_PERSON_ID, Slot};
use super::plan::Plan;
use super::rng::Rng;

/// The person in `slot`, stamped `ts`.
pub(crate) fn make(plan: &Plan, slot: Slot, ts: i64, rng: &mut Rng) -> Person {
    let pools = plan.pools;
    let name = pools.name(rng);
    let email = pools.email(rng);
    let credit_card = pools.credit_card(rng);
    let city = pools.city(rng);
    let state = pools.state(rng);
    let size = 8 + name.len() + email.len() + credit_card.len() + city.len() + state.len();
    let extra = pools.extra(rng, size, plan.cfg.avg_person_bytes);
    Person {
        id: plan.props.last_person(slot) + FIRST_PERSON_ID,
        name: name.into_str(),
        email_address: email.into_str(),
        credit_card: credit_card.into_str(),
        city: city.into_str(),
        state: state.into_str(),
        date_time: ts,
        extra: extra.into_str(),
    }
}
