//! [`ConfigSources`] and [`Config::load`]: assembling the layers in order.

use std::path::PathBuf;

use super::error::ConfigError;
use super::keys::Config;
use super::layer::Layer;
use super::loaded::LoadedConfig;
use super::profile;

/// Everything a configuration is assembled from, besides the built-in defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSources {
    /// A built-in profile name (see [`available_profiles`](super::available_profiles))
    /// or a path to a profile `.toml` file.
    pub profile: Option<String>,
    /// The job's TOML config file.
    pub file: Option<PathBuf>,
    /// `section.key=value` overrides, applied in order (later wins).
    pub overrides: Vec<String>,
}

impl Config {
    /// Loads defaults, then the profile, then the file, then the overrides, validating
    /// every key and value. Fails on the first problem found.
    pub fn load(sources: &ConfigSources) -> Result<LoadedConfig, ConfigError> {
        let mut loaded = LoadedConfig::defaults();
        if let Some(spec) = &sources.profile {
            let profile = profile::resolve(spec)?;
            loaded.apply_toml(&profile.text, &profile.layer)?;
        }
        if let Some(path) = &sources.file {
            let layer = Layer::File { path: path.clone() };
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                layer: layer.clone(),
                path: path.clone(),
                source,
            })?;
            loaded.apply_toml(&text, &layer)?;
        }
        for assignment in &sources.overrides {
            loaded.apply_override(assignment)?;
        }
        Ok(loaded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BackgroundPriority, CheckpointMode, StateBackendKind, available_profiles};

    /// A config file in the temp dir, removed on drop.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(name: &str, text: &str) -> Self {
            let path =
                std::env::temp_dir().join(format!("spate-config-{}-{name}", std::process::id()));
            std::fs::write(&path, text).unwrap();
            Self(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn sources(
        profile: Option<&str>,
        file: Option<&TempFile>,
        overrides: &[&str],
    ) -> ConfigSources {
        ConfigSources {
            profile: profile.map(str::to_owned),
            file: file.map(|f| f.0.clone()),
            overrides: overrides.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    #[test]
    fn no_sources_gives_defaults() {
        let loaded = Config::load(&ConfigSources::default()).unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.explain().iter().all(|row| row.source == "default"));
    }

    #[test]
    fn every_profile_loads() {
        for name in available_profiles() {
            let loaded = Config::load(&sources(Some(name), None, &[])).unwrap();
            assert_ne!(loaded.config, Config::default(), "{name}");
        }
    }

    #[test]
    fn low_latency_profile_values() {
        let c = Config::load(&sources(Some("low-latency"), None, &[]))
            .unwrap()
            .config;
        assert_eq!(c.runtime.batch_records_max, 64);
        assert!(c.runtime.buffer_timeout_ms <= 1);
        assert!(c.runtime.flush_on_idle);
        assert_eq!(c.runtime.channel_capacity_batches, 64);
        assert!((50..=200).contains(&c.runtime.spin_before_park_us));
        assert_eq!(c.state.backend, StateBackendKind::Heap);
        assert_eq!(c.checkpoint.interval_ms, 1000);
        assert_eq!(c.checkpoint.mode, CheckpointMode::Aligned);
        assert_eq!(c.checkpoint.background_priority, BackgroundPriority::Idle);
    }

    #[test]
    fn throughput_profile_values() {
        let c = Config::load(&sources(Some("throughput"), None, &[]))
            .unwrap()
            .config;
        // The runtime values are the defaults (they measured best), spelled out.
        assert_eq!(c.runtime.batch_records_max, 1024);
        assert_eq!(c.runtime.buffer_timeout_ms, 5);
        assert!(c.runtime.flush_on_idle);
        assert_eq!(c.runtime.channel_capacity_batches, 16);
        assert_eq!(c.runtime.spin_before_park_us, 0);
        assert_eq!(c.state.backend, StateBackendKind::Heap);
        assert_eq!(c.checkpoint.interval_ms, 10_000);
        assert_eq!(c.checkpoint.mode, CheckpointMode::Aligned);
    }

    #[test]
    fn large_state_profile_values() {
        let c = Config::load(&sources(Some("large-state"), None, &[]))
            .unwrap()
            .config;
        assert_eq!(c.runtime.batch_records_max, 2048);
        assert_eq!(c.runtime.buffer_timeout_ms, 10);
        assert_eq!(c.state.backend, StateBackendKind::RocksDb);
        assert_eq!(c.state.rocksdb_block_cache_mib, 1024);
        assert_eq!(c.state.rocksdb_write_buffer_mib, 128);
        assert_eq!(c.checkpoint.interval_ms, 30_000);
        assert_eq!(c.checkpoint.mode, CheckpointMode::Aligned);
    }

    #[test]
    fn file_beats_profile_and_cli_beats_file() {
        let file = TempFile::new(
            "layering.toml",
            "[runtime]\nbatch_records_max = 100\ncores = 3\n[checkpoint]\nmode = \"unaligned\"\n",
        );
        let loaded = Config::load(&sources(
            Some("low-latency"),
            Some(&file),
            &[
                "runtime.cores=2",
                "runtime.cores=5",
                "metrics.latency=false",
            ],
        ))
        .unwrap();
        let c = &loaded.config;
        assert_eq!(c.runtime.batch_records_max, 100, "file beats profile");
        assert_eq!(
            c.checkpoint.mode,
            CheckpointMode::Unaligned,
            "file beats profile"
        );
        assert_eq!(c.runtime.cores, 5, "cli beats file; later override wins");
        assert!(!c.metrics.latency);
        assert_eq!(
            c.runtime.channel_capacity_batches, 64,
            "profile beats default"
        );
        assert_eq!(c.runtime.io_memory_kib, 1024, "default stays");
    }

    #[test]
    fn explain_shows_the_layer_that_set_each_key() {
        let file = TempFile::new(
            "explain.toml",
            "[runtime]\nbatch_records_max = 100\ncores = 3\n",
        );
        let file_label = format!("file {}", file.0.display());
        let loaded = Config::load(&sources(
            Some("low-latency"),
            Some(&file),
            &["runtime.cores=2"],
        ))
        .unwrap();
        let rows = loaded.explain();
        let source = |key: &str| {
            rows.iter()
                .find(|row| row.key == key)
                .unwrap()
                .source
                .clone()
        };
        let value = |key: &str| {
            rows.iter()
                .find(|row| row.key == key)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(source("runtime.cores"), "cli --set");
        assert_eq!(value("runtime.cores"), "2");
        assert_eq!(source("runtime.batch_records_max"), file_label);
        assert_eq!(value("runtime.batch_records_max"), "100");
        assert_eq!(
            source("runtime.channel_capacity_batches"),
            "profile low-latency (deploy/profiles/low-latency.toml)"
        );
        assert_eq!(source("runtime.io_memory_kib"), "default");
        assert_eq!(value("state.backend"), "heap");
        assert_eq!(rows.len(), crate::config::keys::KEYS.len());
    }

    #[test]
    fn errors_in_a_file_name_the_file() {
        let file = TempFile::new("bad.toml", "[state]\nbackend = \"lmdb\"\n");
        let message = Config::load(&sources(None, Some(&file), &[]))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("in file {}", file.0.display())),
            "{message}"
        );
        assert!(message.contains("`state.backend`"), "{message}");
        assert!(
            message.contains("got \"lmdb\", expected one of \"heap\", \"rocksdb\""),
            "{message}"
        );
    }

    #[test]
    fn missing_file_is_unreadable() {
        let s = ConfigSources {
            file: Some("/definitely/not/here.toml".into()),
            ..Default::default()
        };
        let error = Config::load(&s).unwrap_err();
        assert!(matches!(error, ConfigError::Unreadable { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("cannot read file /definitely/not/here.toml: ")
        );
    }

    #[test]
    fn unknown_profile_lists_profiles() {
        let error = Config::load(&sources(Some("fast"), None, &[])).unwrap_err();
        let ConfigError::UnknownProfile { available, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*available, available_profiles());
        assert!(
            error
                .to_string()
                .contains("low-latency, throughput, large-state")
        );
    }

    #[test]
    fn profile_from_a_path() {
        let file = TempFile::new("custom-profile.toml", "[runtime]\ncores = 7\n");
        let loaded =
            Config::load(&sources(Some(&file.0.display().to_string()), None, &[])).unwrap();
        assert_eq!(loaded.config.runtime.cores, 7);
        let source = loaded.source_of("runtime.cores").unwrap().to_string();
        assert!(source.starts_with("profile spate-config-"), "{source}");
    }

    #[test]
    fn invalid_toml_in_a_profile_file_names_it() {
        let file = TempFile::new("broken-profile.toml", "[runtime\n");
        let error =
            Config::load(&sources(Some(&file.0.display().to_string()), None, &[])).unwrap_err();
        let ConfigError::InvalidToml { line, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(*line, 1);
        assert!(
            error.to_string().contains("in profile spate-config-"),
            "{error}"
        );
    }
}
