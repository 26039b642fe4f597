//! [`ConfigError`]: everything that can go wrong while loading a configuration.

use std::path::PathBuf;

use super::layer::Layer;

/// Why a configuration could not be loaded. Every message is one sentence that names
/// the offending key or file and says what would have been accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A key that its (existing) section does not have.
    #[error(
        "unknown config key `{key}` {}{}; valid keys in section [{section}]: {}",
        .layer.location(), did_you_mean(*.suggestion), .valid_keys.join(", ")
    )]
    UnknownKey {
        /// The key as given (`section.name`).
        key: String,
        /// Where it was given.
        layer: Layer,
        /// Its section.
        section: &'static str,
        /// Every valid key of that section.
        valid_keys: &'static [&'static str],
        /// The closest valid key, if one is plausibly meant.
        suggestion: Option<&'static str>,
    },
    /// A key or table whose section does not exist.
    #[error(
        "unknown config key `{key}` {}: there is no section [{}]{}; valid sections: {}",
        .layer.location(), section_of(.key), did_you_mean(*.suggestion), .valid_sections.join(", ")
    )]
    UnknownSection {
        /// The key or table name as given; its section is the part before the first `.`.
        key: String,
        /// Where it was given.
        layer: Layer,
        /// Every valid section.
        valid_sections: &'static [&'static str],
        /// The closest valid key or section, if one is plausibly meant.
        suggestion: Option<&'static str>,
    },
    /// A known key with a value of the wrong type or out of range.
    #[error("invalid value for config key `{key}` {}: got {value}, expected {expected}", .layer.location())]
    BadValue {
        /// The key (or section, when a section is not a table).
        key: &'static str,
        /// Where the value was given.
        layer: Layer,
        /// The value as given.
        value: String,
        /// What would have been accepted: type and range.
        expected: String,
    },
    /// A command-line override that is not `key=value`.
    #[error("invalid override `{given}`: expected `section.key=value`, e.g. `runtime.cores=2`")]
    MalformedOverride {
        /// The override as given.
        given: String,
    },
    /// A profile that is neither built in nor a readable file path.
    #[error(
        "unknown profile `{name}`{}; available profiles: {} (or give a path to a .toml file)",
        did_you_mean(*.suggestion), .available.join(", ")
    )]
    UnknownProfile {
        /// The profile as given.
        name: String,
        /// The built-in profiles.
        available: &'static [&'static str],
        /// The closest built-in profile, if one is plausibly meant.
        suggestion: Option<&'static str>,
    },
    /// A config or profile file that could not be read.
    #[error("cannot read {layer}: {source}")]
    Unreadable {
        /// The layer the file was meant to provide.
        layer: Layer,
        /// The path as given.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A config or profile file that is not valid TOML.
    #[error("invalid TOML {} at line {line}, column {column}: {message}", .layer.location())]
    InvalidToml {
        /// The layer the text belongs to.
        layer: Layer,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The TOML parser's description.
        message: String,
    },
}

fn section_of(key: &str) -> &str {
    key.split_once('.').map_or(key, |(section, _)| section)
}

fn did_you_mean(suggestion: Option<&str>) -> String {
    suggestion
        .map(|s| format!(" (did you mean `{s}`?)"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_key_is_one_sentence_with_everything() {
        let error = ConfigError::UnknownKey {
            key: "metrics.latncy".into(),
            layer: Layer::File {
                path: "job.toml".into(),
            },
            section: "metrics",
            valid_keys: &["metrics.latency"],
            suggestion: Some("metrics.latency"),
        };
        assert_eq!(
            error.to_string(),
            "unknown config key `metrics.latncy` in file job.toml (did you mean `metrics.latency`?); \
             valid keys in section [metrics]: metrics.latency"
        );
    }

    #[test]
    fn unreadable_names_path_and_cause() {
        let path = PathBuf::from("/nope/job.toml");
        let error = ConfigError::Unreadable {
            layer: Layer::File { path: path.clone() },
            path,
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found"),
        };
        assert_eq!(
            error.to_string(),
            "cannot read file /nope/job.toml: not found"
        );
    }
}
