//! Profiles: named bundles of settings, embedded from `deploy/profiles/*.toml` so the
//! binary works from any directory, or read from a user-supplied file.

use std::borrow::Cow;
use std::path::Path;

use super::error::ConfigError;
use super::layer::Layer;
use super::suggest::closest;

/// A built-in profile: its name, repository path and embedded text.
struct Builtin {
    name: &'static str,
    path: &'static str,
    text: &'static str,
}

macro_rules! builtin {
    ($name:literal) => {
        Builtin {
            name: $name,
            path: concat!("deploy/profiles/", $name, ".toml"),
            text: include_str!(concat!("../../../deploy/profiles/", $name, ".toml")),
        }
    };
}

static BUILTINS: &[Builtin] = &[
    builtin!("low-latency"),
    builtin!("throughput"),
    builtin!("large-state"),
];

static NAMES: &[&str] = &["low-latency", "throughput", "large-state"];

/// Names of the built-in profiles.
pub fn available_profiles() -> &'static [&'static str] {
    NAMES
}

/// A profile's text and the layer it will be attributed to.
#[derive(Debug)]
pub(crate) struct ProfileText {
    /// `Layer::Profile` naming the profile and where it came from.
    pub layer: Layer,
    /// The profile's TOML.
    pub text: Cow<'static, str>,
}

/// Resolves a profile given by name (built in) or by path (a `.toml` file).
pub(crate) fn resolve(spec: &str) -> Result<ProfileText, ConfigError> {
    if let Some(builtin) = BUILTINS.iter().find(|b| b.name == spec) {
        return Ok(ProfileText {
            layer: Layer::Profile {
                name: builtin.name.to_owned(),
                path: builtin.path.to_owned(),
            },
            text: Cow::Borrowed(builtin.text),
        });
    }
    let path = Path::new(spec);
    let looks_like_path = spec.contains(['/', '\\']) || spec.ends_with(".toml") || path.is_file();
    if spec.trim().is_empty() || !looks_like_path {
        return Err(ConfigError::UnknownProfile {
            name: spec.to_owned(),
            available: NAMES,
            suggestion: closest(spec, NAMES.iter().copied()),
        });
    }
    let name = path
        .file_stem()
        .map_or_else(|| spec.to_owned(), |s| s.to_string_lossy().into_owned());
    let layer = Layer::Profile {
        name,
        path: spec.to_owned(),
    };
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(ProfileText {
            layer,
            text: Cow::Owned(text),
        }),
        Err(source) => Err(ConfigError::Unreadable {
            layer,
            path: path.to_owned(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_builtins() {
        let builtin_names: Vec<&str> = BUILTINS.iter().map(|b| b.name).collect();
        assert_eq!(builtin_names, available_profiles());
    }

    #[test]
    fn builtins_resolve_to_embedded_text() {
        let profile = resolve("throughput").unwrap();
        assert_eq!(
            profile.layer.to_string(),
            "profile throughput (deploy/profiles/throughput.toml)"
        );
        assert!(profile.text.contains("batch_records_max"));
    }

    #[test]
    fn unknown_profile_lists_available_and_suggests() {
        let error = resolve("low-latncy").unwrap_err();
        assert_eq!(
            error.to_string(),
            "unknown profile `low-latncy` (did you mean `low-latency`?); available profiles: \
             low-latency, throughput, large-state (or give a path to a .toml file)"
        );
        let error = resolve("latency").unwrap_err();
        assert!(
            error.to_string().contains("did you mean `low-latency`?"),
            "{error}"
        );
        let error = resolve("").unwrap_err();
        assert!(
            matches!(error, ConfigError::UnknownProfile { .. }),
            "{error:?}"
        );
    }

    #[test]
    fn missing_profile_file_is_unreadable() {
        let error = resolve("/definitely/not/here.toml").unwrap_err();
        assert!(matches!(error, ConfigError::Unreadable { .. }), "{error:?}");
        assert!(
            error
                .to_string()
                .starts_with("cannot read profile here (/definitely/not/here.toml): ")
        );
    }
}
