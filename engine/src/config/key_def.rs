//! [`KeyDef`]: the runtime descriptor of one configuration key, and lookups over the table.

use super::keys::{Config, KEYS};
use super::value_type::{Scalar, ValueType};

/// One configuration key, as declared in the key table (`keys.rs`).
#[derive(Debug)]
pub(crate) struct KeyDef {
    /// Full key, `section.name`.
    pub key: &'static str,
    /// Section the key belongs to.
    pub section: &'static str,
    /// Key name within its section.
    pub name: &'static str,
    /// What the key means (the field's doc comment).
    pub doc: &'static str,
    /// Accepted type and range.
    pub value_type: ValueType,
    /// Reads the key's current value from a config.
    pub read: fn(&Config) -> Scalar,
    /// Writes an already validated value; `false` if it does not fit the field.
    pub write: fn(&mut Config, &Scalar) -> bool,
}

/// Looks up a full `section.name` key; returns its table index too.
pub(crate) fn find(key: &str) -> Option<(usize, &'static KeyDef)> {
    KEYS.iter().enumerate().find(|(_, def)| def.key == key)
}

/// What a key means (its documentation from the key table), e.g. for
/// `config explain --verbose`; `None` for an unknown key.
pub fn describe_key(key: &str) -> Option<&'static str> {
    find(key).map(|(_, def)| def.doc.trim())
}

/// The keys of one section, in table order.
pub(crate) fn keys_in(section: &str) -> impl Iterator<Item = &'static KeyDef> + '_ {
    KEYS.iter().filter(move |def| def.section == section)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_and_keys_in() {
        let (index, def) = find("state.backend").unwrap();
        assert_eq!(KEYS[index].key, "state.backend");
        assert_eq!(def.name, "backend");
        assert!(find("state.nope").is_none());
        assert_eq!(
            describe_key("checkpoint.interval_ms"),
            Some("Time between checkpoint starts; 0 = checkpointing off.")
        );
        assert_eq!(describe_key("nope"), None);
        assert_eq!(
            keys_in("metrics").map(|d| d.key).collect::<Vec<_>>(),
            ["metrics.latency"]
        );
    }
}
