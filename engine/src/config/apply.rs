//! Applying one layer (a TOML document or a `key=value` override) onto a [`LoadedConfig`].

use super::error::ConfigError;
use super::key_def::{KeyDef, find};
use super::keys::{Config, KEYS, SECTIONS};
use super::layer::Layer;
use super::loaded::LoadedConfig;
use super::unknown::unknown_key;
use super::value_type::{Scalar, render_toml};

impl LoadedConfig {
    /// Applies every key of a TOML document (`[section]` tables of keys), attributing
    /// them to `layer`. Stops at the first invalid entry.
    pub(crate) fn apply_toml(&mut self, text: &str, layer: &Layer) -> Result<(), ConfigError> {
        let document: toml::Table = text
            .parse()
            .map_err(|error| invalid_toml(text, &error, layer))?;
        for (section_name, section_value) in &document {
            let Some(section) = SECTIONS.iter().find(|s| *s == section_name) else {
                return Err(unknown_key(section_name, layer));
            };
            let toml::Value::Table(entries) = section_value else {
                return Err(ConfigError::BadValue {
                    key: section,
                    layer: layer.clone(),
                    value: render_toml(section_value),
                    expected: format!("a [{section}] table of keys"),
                });
            };
            for (name, value) in entries {
                let key = format!("{section}.{name}");
                let (index, def) = find(&key).ok_or_else(|| unknown_key(&key, layer))?;
                let given = || render_toml(value);
                let scalar = def
                    .value_type
                    .parse_toml(value)
                    .ok_or_else(|| bad_value(def, layer, given()))?;
                self.set(index, def, &scalar, layer)
                    .map_err(|()| bad_value(def, layer, given()))?;
            }
        }
        Ok(())
    }

    /// Applies one `section.key=value` command-line override.
    pub(crate) fn apply_override(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let malformed = || ConfigError::MalformedOverride {
            given: assignment.to_owned(),
        };
        let (key, value) = assignment.split_once('=').ok_or_else(malformed)?;
        let key = key.trim();
        if key.is_empty() {
            return Err(malformed());
        }
        let layer = Layer::Cli;
        let (index, def) = find(key).ok_or_else(|| unknown_key(key, &layer))?;
        let scalar = def
            .value_type
            .parse_text(value)
            .ok_or_else(|| bad_value(def, &layer, quoted(value)))?;
        self.set(index, def, &scalar, &layer)
            .map_err(|()| bad_value(def, &layer, quoted(value)))
    }

    fn set(
        &mut self,
        index: usize,
        def: &KeyDef,
        scalar: &Scalar,
        layer: &Layer,
    ) -> Result<(), ()> {
        if !(def.write)(&mut self.config, scalar) {
            return Err(());
        }
        if let Some(source) = self.sources.get_mut(index) {
            *source = layer.clone();
        }
        Ok(())
    }
}

impl Config {
    /// Sets one key from `section.key=value` text, as a command-line
    /// override would (e.g. a SQL session's `SET`), validating it.
    pub fn apply_assignment(&mut self, assignment: &str) -> Result<(), ConfigError> {
        let mut loaded = LoadedConfig {
            config: self.clone(),
            sources: vec![Layer::Default; KEYS.len()],
        };
        loaded.apply_override(assignment)?;
        *self = loaded.config;
        Ok(())
    }

    /// True when `key` (`section.name`) is one of the configuration's keys.
    pub fn has_key(key: &str) -> bool {
        find(key).is_some()
    }
}

fn bad_value(def: &'static KeyDef, layer: &Layer, value: String) -> ConfigError {
    ConfigError::BadValue {
        key: def.key,
        layer: layer.clone(),
        value,
        expected: def.value_type.expectation(),
    }
}

/// A command-line value as given, quoted and escaped so an empty or odd value stays visible.
fn quoted(value: &str) -> String {
    format!("{:?}", value.trim())
}

fn invalid_toml(text: &str, error: &toml::de::Error, layer: &Layer) -> ConfigError {
    let offset = error.span().map_or(text.len(), |span| span.start);
    let (line, column) = line_column(text, offset);
    let message = error.message().trim().replace('\n', "; ");
    ConfigError::InvalidToml {
        layer: layer.clone(),
        line,
        column,
        message,
    }
}

/// 1-based line and column (in chars) of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    text.char_indices()
        .take_while(|(i, _)| *i < offset)
        .fold((1, 1), |(line, column), (_, c)| {
            if c == '\n' {
                (line + 1, 1)
            } else {
                (line, column + 1)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CheckpointMode, StateBackendKind};
    use proptest::prelude::*;

    fn file() -> Layer {
        Layer::File {
            path: "./job.toml".into(),
        }
    }

    fn apply(text: &str) -> Result<LoadedConfig, ConfigError> {
        let mut loaded = LoadedConfig::defaults();
        loaded.apply_toml(text, &file()).map(|()| loaded)
    }

    fn override_(assignment: &str) -> Result<LoadedConfig, ConfigError> {
        let mut loaded = LoadedConfig::defaults();
        loaded.apply_override(assignment).map(|()| loaded)
    }

    #[test]
    fn toml_sets_keys_and_sources() {
        let loaded = apply(
            "[runtime]\ncores = 4\npin_cores = false\n[state]\nbackend = \"rocksdb\"\n\
             [checkpoint]\nmode = \"unaligned\"\ndir = \"/var/ckpt\"\n",
        )
        .unwrap();
        assert_eq!(loaded.config.runtime.cores, 4);
        assert!(!loaded.config.runtime.pin_cores);
        assert_eq!(loaded.config.state.backend, StateBackendKind::RocksDb);
        assert_eq!(loaded.config.checkpoint.mode, CheckpointMode::Unaligned);
        assert_eq!(
            loaded.config.checkpoint.dir,
            std::path::PathBuf::from("/var/ckpt")
        );
        assert_eq!(loaded.source_of("runtime.cores"), Some(&file()));
        assert_eq!(
            loaded.source_of("runtime.batch_records_max"),
            Some(&Layer::Default)
        );
    }

    #[test]
    fn dotted_keys_at_top_level_work() {
        let loaded = apply("runtime.cores = 3\n").unwrap();
        assert_eq!(loaded.config.runtime.cores, 3);
    }

    #[test]
    fn overrides_parse_text() {
        let loaded = override_(" runtime.batch_records_max = 4_096 ").unwrap();
        assert_eq!(loaded.config.runtime.batch_records_max, 4096);
        assert_eq!(
            loaded.source_of("runtime.batch_records_max"),
            Some(&Layer::Cli)
        );
        let loaded = override_("checkpoint.dir=/a=b").unwrap();
        assert_eq!(
            loaded.config.checkpoint.dir,
            std::path::PathBuf::from("/a=b")
        );
    }

    #[test]
    fn unknown_key_in_file_names_key_file_suggestion_and_valid_keys() {
        let message = apply("[runtime]\ncorse = 2\n").unwrap_err().to_string();
        assert!(message.contains("`runtime.corse`"), "{message}");
        assert!(message.contains("file ./job.toml"), "{message}");
        assert!(
            message.contains("did you mean `runtime.cores`?"),
            "{message}"
        );
        assert!(message.contains("runtime.spin_before_park_us"), "{message}");
    }

    #[test]
    fn unknown_key_on_command_line_says_so() {
        let error = override_("metrics.latncy=false").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown config key `metrics.latncy` on the command line (did you mean `metrics.latency`?); \
             valid keys in section [metrics]: metrics.latency"
        );
    }

    #[test]
    fn unknown_section_lists_sections() {
        let message = apply("[rutime]\ncores = 2\n").unwrap_err().to_string();
        assert_eq!(
            message,
            "unknown config key `rutime` in file ./job.toml: there is no section [rutime] \
             (did you mean `runtime`?); valid sections: runtime, state, checkpoint, metrics"
        );
        let message = apply("cores = 2\n").unwrap_err().to_string();
        assert!(
            message.contains("did you mean `runtime.cores`?"),
            "{message}"
        );
    }

    #[test]
    fn wrong_type_names_key_file_value_and_expectation() {
        let error = apply("[runtime]\ncores = \"2\"\n").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid value for config key `runtime.cores` in file ./job.toml: \
             got \"2\", expected an integer in 0..=1_024"
        );
        let ConfigError::BadValue { key, value, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!((*key, value.as_str()), ("runtime.cores", "\"2\""));
        let message = apply("[metrics]\nlatency = 1\n").unwrap_err().to_string();
        assert!(
            message.contains("got 1, expected a boolean (true or false)"),
            "{message}"
        );
    }

    #[test]
    fn out_of_range_names_the_range() {
        let message = apply("[runtime]\nmax_parallelism = 0\n")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("`runtime.max_parallelism` in file ./job.toml"),
            "{message}"
        );
        assert!(
            message.contains("got 0, expected an integer in 1..=32_768"),
            "{message}"
        );
        let message = apply("[checkpoint]\ntimeout_ms = -5\n")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("got -5, expected an integer in 1..=86_400_000"),
            "{message}"
        );
        let message = override_("runtime.io_memory_kib=63")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "invalid value for config key `runtime.io_memory_kib` on the command line: \
             got \"63\", expected an integer in 64..=1_048_576"
        );
    }

    #[test]
    fn bad_enum_lists_choices() {
        let message = apply("[state]\nbackend = \"rocks\"\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "invalid value for config key `state.backend` in file ./job.toml: \
             got \"rocks\", expected one of \"heap\", \"rocksdb\""
        );
        let message = override_("checkpoint.mode=exactly_once")
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("expected one of \"aligned\", \"unaligned\""),
            "{message}"
        );
    }

    #[test]
    fn section_that_is_not_a_table() {
        let message = apply("runtime = 5\n").unwrap_err().to_string();
        assert!(
            message.contains("`runtime` in file ./job.toml: got 5, expected a [runtime] table"),
            "{message}"
        );
    }

    #[test]
    fn invalid_toml_gives_line_and_column() {
        let error = apply("[runtime]\ncores = 2\nbatch_records_max = = 3\n").unwrap_err();
        let ConfigError::InvalidToml { line, column, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!((*line, *column), (3, 21));
        let message = error.to_string();
        assert!(
            message.starts_with("invalid TOML in file ./job.toml at line 3, column 21: "),
            "{message}"
        );
        let error = apply("[runtime]\ncores = 2\ncores = 3\n").unwrap_err();
        assert!(
            matches!(error, ConfigError::InvalidToml { line: 3, .. }),
            "{error:?}"
        );
    }

    #[test]
    fn malformed_overrides() {
        for bad in ["runtime.cores", "=2", " = 2", ""] {
            let error = override_(bad).unwrap_err();
            assert!(
                matches!(error, ConfigError::MalformedOverride { .. }),
                "{bad:?}: {error:?}"
            );
        }
        assert!(
            override_("runtime.cores")
                .unwrap_err()
                .to_string()
                .contains("`runtime.cores`")
        );
    }

    #[test]
    fn line_column_counts_chars() {
        assert_eq!(line_column("ab\ncé d", 0), (1, 1));
        assert_eq!(line_column("ab\ncé d", 3), (2, 1));
        assert_eq!(line_column("ab\ncé d", 6), (2, 3));
        assert_eq!(line_column("ab", 99), (1, 3));
    }

    proptest! {
        #[test]
        fn random_override_values_never_panic(index in 0..crate::config::keys::KEYS.len(), value in ".*") {
            let key = crate::config::keys::KEYS[index].key;
            let _ = override_(&format!("{key}={value}"));
        }

        #[test]
        fn random_overrides_never_panic(assignment in ".*") {
            let _ = override_(&assignment);
        }

        #[test]
        fn random_toml_values_never_panic(index in 0..crate::config::keys::KEYS.len(), value in ".*") {
            let def = &crate::config::keys::KEYS[index];
            let _ = apply(&format!("[{}]\n{} = {value}\n", def.section, def.name));
        }

        #[test]
        fn random_documents_never_panic(text in ".*") {
            let _ = apply(&text);
        }
    }
}
