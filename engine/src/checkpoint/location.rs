//! Where a job's checkpoints live: `checkpoint.dir` is a local directory
//! (the default), or `s3://bucket/prefix` for S3-compatible object
//! storage. For S3 the endpoint, region and credentials come from the
//! standard AWS environment variables (`AWS_ENDPOINT_URL` for a
//! non-AWS server such as MinIO or moto, `AWS_REGION`,
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from config files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spate_state::checkpoint::{CheckpointStorage, LocalDirStorage, S3Config, S3Storage};

use crate::error::{Result, SpateError};

const S3_SCHEME: &str = "s3://";

/// The `(bucket, prefix)` of an `s3://bucket/prefix` location.
fn s3_parts(location: &str) -> Option<(&str, &str)> {
    let rest = location.strip_prefix(S3_SCHEME)?;
    Some(match rest.split_once('/') {
        Some((bucket, prefix)) => (bucket, prefix.trim_matches('/')),
        None => (rest, ""),
    })
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Opens the checkpoint storage at `location`: a directory, or
/// `s3://bucket/prefix`.
pub fn open_storage(location: &Path) -> Result<Arc<dyn CheckpointStorage>> {
    let text = location.to_string_lossy();
    let Some((bucket, prefix)) = s3_parts(&text) else {
        return Ok(Arc::new(LocalDirStorage::new(location)?));
    };
    if bucket.is_empty() {
        return Err(SpateError::Checkpoint {
            reason: format!("checkpoint location `{text}` names no bucket (s3://BUCKET/PREFIX)"),
        });
    }
    let credentials = (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"));
    let (Some(key), Some(secret)) = credentials else {
        return Err(SpateError::Checkpoint {
            reason: format!(
                "checkpoints go to `{text}`, but AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY \
                 are not both set"
            ),
        });
    };
    let endpoint = env("AWS_ENDPOINT_URL").unwrap_or_default();
    let mut config = S3Config::new(&endpoint, bucket, &key, &secret);
    config.prefix = prefix.to_owned();
    if let Some(region) = env("AWS_REGION").or_else(|| env("AWS_DEFAULT_REGION")) {
        config.region = region;
    }
    Ok(Arc::new(S3Storage::new(&config)?))
}

/// `name` made safe as one path component (and object-name segment):
/// ASCII letters, digits, `-` and `_` stay, anything else becomes `_`.
pub fn path_safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// A local directory for the state files of `location` before they are
/// uploaded: beside a local checkpoint directory, in the temporary
/// directory for object storage.
pub(crate) fn staging_dir(location: &Path, suffix: &str) -> PathBuf {
    let text = location.to_string_lossy();
    match s3_parts(&text) {
        None => location.with_extension(suffix),
        Some((bucket, prefix)) => {
            let flat = path_safe(&format!("{bucket}-{prefix}"));
            std::env::temp_dir().join(format!("spate-{flat}.{suffix}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_locations_split_into_bucket_and_prefix() {
        assert_eq!(
            s3_parts("s3://b/jobs/q5/run-1"),
            Some(("b", "jobs/q5/run-1"))
        );
        assert_eq!(s3_parts("s3://b"), Some(("b", "")));
        assert_eq!(s3_parts("/var/ckpt"), None);
    }

    #[test]
    fn staging_is_local_for_object_storage() {
        let s = staging_dir(Path::new("s3://b/jobs/q5/run-1"), "staging");
        assert!(s.starts_with(std::env::temp_dir()), "{}", s.display());
        let l = staging_dir(Path::new("/var/ckpt/q5/run-1"), "staging");
        assert_eq!(l, Path::new("/var/ckpt/q5/run-1.staging"));
    }

    #[test]
    fn object_storage_without_credentials_is_a_clear_error() {
        // Only meaningful where the variables are unset, as in CI.
        if env("AWS_ACCESS_KEY_ID").is_none() {
            let err = open_storage(Path::new("s3://b/p"))
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(err.contains("AWS_ACCESS_KEY_ID"), "{err}");
        }
        let err = open_storage(Path::new("s3:///p"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("names no bucket"), "{err}");
    }
}
