//! [`LoadedConfig`]: a [`Config`] plus the layer that set each key.

use super::key_def::find;
use super::keys::{Config, KEYS};
use super::layer::Layer;

/// The result of [`Config::load`]: the effective configuration and, per key, the layer
/// that set it. See [`LoadedConfig::explain`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadedConfig {
    /// The effective, validated configuration.
    pub config: Config,
    /// `sources[i]` set `KEYS[i]`.
    pub(crate) sources: Vec<Layer>,
}

impl LoadedConfig {
    /// The built-in defaults, every key attributed to [`Layer::Default`].
    pub(crate) fn defaults() -> Self {
        Self {
            config: Config::default(),
            sources: vec![Layer::Default; KEYS.len()],
        }
    }

    /// The layer that set `key` (`section.name`); `None` for an unknown key.
    pub fn source_of(&self, key: &str) -> Option<&Layer> {
        find(key).and_then(|(index, _)| self.sources.get(index))
    }

    /// Drops the provenance, keeping the configuration.
    pub fn into_config(self) -> Config {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_attributed_to_default() {
        let loaded = LoadedConfig::defaults();
        assert_eq!(loaded.source_of("runtime.cores"), Some(&Layer::Default));
        assert_eq!(loaded.source_of("runtime.nope"), None);
        assert_eq!(loaded.into_config(), Config::default());
    }
}
