//! The configuration flags shared by every command.

use std::path::PathBuf;

use clap::Args;
use spate::config::{Config, ConfigSources, LoadedConfig};

/// Config layers: profile, then file, then `--set` and typed flags.
#[derive(Args, Debug, Clone, Default)]
pub struct ConfigArgs {
    /// A profile: low-latency, throughput, large-state, or a path to a .toml file.
    #[arg(long)]
    pub profile: Option<String>,
    /// The job's config file (TOML).
    #[arg(long = "config", value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Override one key, e.g. `--set runtime.buffer_timeout_ms=2` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,
    /// Cores to run on (runtime.cores; 0 = all).
    #[arg(long)]
    pub cores: Option<u32>,
}

impl ConfigArgs {
    /// Loads the layered config; typed flags are the last layer.
    pub fn load(&self) -> anyhow::Result<LoadedConfig> {
        let mut overrides = self.overrides.clone();
        if let Some(c) = self.cores {
            overrides.push(format!("runtime.cores={c}"));
        }
        let sources = ConfigSources {
            profile: self.profile.clone(),
            file: self.file.clone(),
            overrides,
        };
        Ok(Config::load(&sources)?)
    }
}
