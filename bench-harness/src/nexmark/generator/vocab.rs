//! Fixed vocabularies, as in nexmark-flink's person and bid generators.

/// US states; few, so that q3's state filter finds matches on small inputs.
pub(crate) const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];

/// US cities.
pub(crate) const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];

/// First names.
pub(crate) const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];

/// Last names.
pub(crate) const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];

/// The channels most bids come through.
pub(crate) const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];

/// How many `channel-N` channels the other bids spread over.
pub(crate) const CHANNELS: usize = 10_000;

/// Shortest random text (nexmark-flink's `MIN_STRING_LENGTH`).
pub(crate) const MIN_TEXT_LEN: u64 = 3;
