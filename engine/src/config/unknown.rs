//! Builds the error for a key that is not in the table, with the best suggestion.

use super::error::ConfigError;
use super::key_def::{find, keys_in};
use super::keys::{KEYS, SECTION_KEYS, SECTIONS};
use super::layer::Layer;
use super::suggest::closest;

/// The error for `key` (`section.name`, or a bare name/table) not being a valid key.
pub(crate) fn unknown_key(key: &str, layer: &Layer) -> ConfigError {
    let (section, name) = match key.split_once('.') {
        Some((section, name)) => (section, Some(name)),
        None => (key, None),
    };
    match SECTION_KEYS.iter().find(|(s, _)| *s == section) {
        Some((section, valid_keys)) => ConfigError::UnknownKey {
            key: key.to_owned(),
            layer: layer.clone(),
            section,
            valid_keys,
            suggestion: name.and_then(|name| suggest_in_section(section, name)),
        },
        None => ConfigError::UnknownSection {
            key: key.to_owned(),
            layer: layer.clone(),
            valid_sections: SECTIONS,
            suggestion: suggest_for_section(section, name),
        },
    }
}

/// A close key in the same section, else the same name in another section
/// (`runtime.backend` → `state.backend`).
fn suggest_in_section(section: &str, name: &str) -> Option<&'static str> {
    closest(name, keys_in(section).map(|def| def.name))
        .and_then(|close| keys_in(section).find(|def| def.name == close))
        .or_else(|| KEYS.iter().find(|def| def.name == name))
        .map(|def| def.key)
}

/// For a misspelt section: the full key if the rest matches (`rutime.cores` →
/// `runtime.cores`), else the section. For a bare name: the key it names (`cores` →
/// `runtime.cores`).
fn suggest_for_section(section: &str, name: Option<&str>) -> Option<&'static str> {
    if let Some(close) = closest(section, SECTIONS.iter().copied()) {
        let full = name.and_then(|name| find(&format!("{close}.{name}")));
        return Some(full.map_or(close, |(_, def)| def.key));
    }
    if name.is_some() {
        return None;
    }
    KEYS.iter()
        .find(|def| def.name == section)
        .map(|def| def.key)
        .or_else(|| {
            closest(section, KEYS.iter().map(|def| def.name))
                .and_then(|close| KEYS.iter().find(|def| def.name == close))
                .map(|def| def.key)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggestion(key: &str) -> Option<&'static str> {
        match unknown_key(key, &Layer::Cli) {
            ConfigError::UnknownKey { suggestion, .. }
            | ConfigError::UnknownSection { suggestion, .. } => suggestion,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn suggestions() {
        assert_eq!(suggestion("runtime.corse"), Some("runtime.cores"));
        assert_eq!(suggestion("runtime.backend"), Some("state.backend"));
        assert_eq!(suggestion("runtime.zzzzzz"), None);
        assert_eq!(suggestion("rutime.cores"), Some("runtime.cores"));
        assert_eq!(suggestion("rutime.zzzzzz"), Some("runtime"));
        assert_eq!(suggestion("rutime"), Some("runtime"));
        assert_eq!(suggestion("cores"), Some("runtime.cores"));
        assert_eq!(suggestion("intervl_ms"), Some("checkpoint.interval_ms"));
        assert_eq!(suggestion("zzzzzz.cores"), None);
        assert_eq!(suggestion(""), None);
        assert_eq!(
            suggestion("state.cache"),
            Some("state.rocksdb_block_cache_mib")
        );
    }

    #[test]
    fn unknown_key_lists_its_section() {
        let error = unknown_key("state.cache", &Layer::Cli);
        let ConfigError::UnknownKey {
            section,
            valid_keys,
            ..
        } = &error
        else {
            panic!("unexpected {error:?}")
        };
        assert_eq!(*section, "state");
        assert_eq!(
            valid_keys,
            &[
                "state.backend",
                "state.rocksdb_block_cache_mib",
                "state.rocksdb_write_buffer_mib",
                "state.rocksdb_compaction",
                "state.rocksdb_local_dir"
            ]
        );
    }
}
