//! [`Layer`]: where a configuration value came from.

use std::fmt;
use std::path::PathBuf;

/// One configuration layer, lowest precedence first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layer {
    /// The built-in defaults.
    Default,
    /// A profile, built in or read from a file.
    Profile {
        /// Profile name (for a file: its stem).
        name: String,
        /// Where the profile text came from, e.g. `deploy/profiles/low-latency.toml`.
        path: String,
    },
    /// The job's config file.
    File {
        /// Path as given.
        path: PathBuf,
    },
    /// `key=value` overrides from the command line.
    Cli,
}

impl Layer {
    /// Where a problem is, as a phrase for error messages: "in file ./job.toml".
    pub fn location(&self) -> String {
        match self {
            Self::Default => "in the built-in defaults".to_owned(),
            Self::Profile { .. } | Self::File { .. } => format!("in {self}"),
            Self::Cli => "on the command line".to_owned(),
        }
    }
}

impl fmt::Display for Layer {
    /// The label shown by `config explain`: `default`, `profile low-latency (deploy/profiles/low-latency.toml)`,
    /// `file ./job.toml`, `cli --set`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Profile { name, path } => write!(f, "profile {name} ({path})"),
            Self::File { path } => write!(f, "file {}", path.display()),
            Self::Cli => f.write_str("cli --set"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_locations() {
        let profile = Layer::Profile {
            name: "throughput".into(),
            path: "deploy/profiles/throughput.toml".into(),
        };
        assert_eq!(
            profile.to_string(),
            "profile throughput (deploy/profiles/throughput.toml)"
        );
        let file = Layer::File {
            path: PathBuf::from("./job.toml"),
        };
        assert_eq!(file.to_string(), "file ./job.toml");
        assert_eq!(file.location(), "in file ./job.toml");
        assert_eq!(Layer::Cli.to_string(), "cli --set");
        assert_eq!(Layer::Cli.location(), "on the command line");
        assert_eq!(Layer::Default.to_string(), "default");
    }
}
