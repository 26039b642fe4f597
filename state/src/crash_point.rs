//! Crash points: places where a test can make the process die abruptly
//! (`abort`, no unwinding, no destructors: what `kill -9` or a power cut
//! does) to prove that a checkpoint or a commit cut short there loses and
//! duplicates nothing; and I/O error points, where an fsync fails with
//! `EIO` as a failing disk makes it.
//!
//! Like RocksDB's test sync points they exist in debug builds only (the
//! test builds); a release build compiles [`hit`] to nothing, so no
//! production process can be made to crash by its environment. Unarmed, a
//! hit costs one atomic load. A process arms the points from its
//! environment with [`arm_from_env`]:
//!
//! - `SPATE_CRASH_POINTS=name[@N],...` dies at the N-th hit (default the
//!   first) of each named point;
//! - `SPATE_CRASH_ONCE_DIR=DIR` makes each point kill only one process of
//!   a whole cluster: the first to reach it creates `DIR/<name>` and dies,
//!   the others (and the workers started to replace it) pass on.
//!
//! Why not the `fail` crate: its points compile in through a cargo
//! feature, and a feature that only the tests turn on splits every crate
//! above `spate-state` into two builds (twice the disk and the CI time);
//! `debug_assertions` already separates test builds from release ones.

#[cfg(debug_assertions)]
use std::path::PathBuf;
#[cfg(debug_assertions)]
use std::sync::OnceLock;
#[cfg(debug_assertions)]
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::StateError;

/// After RocksDB hard-linked a checkpoint's files, before they are read.
pub const ROCKS_AFTER_HARD_LINK: &str = "rocks-after-hard-link";
/// A checkpoint manifest written and synced under its temporary name, not
/// yet published under its own.
pub const MANIFEST_BEFORE_RENAME: &str = "manifest-before-rename";
/// A checkpoint object published, its directory not yet synced.
pub const OBJECT_BEFORE_DIR_FSYNC: &str = "object-before-dir-fsync";
/// A checkpoint completed, a sink's pre-committed transaction not yet
/// committed.
pub const SINK_BEFORE_COMMIT: &str = "sink-between-pre-commit-and-commit";

/// A worker's share ended after the job's final checkpoint; its output
/// since that checkpoint's commit is not yet published.
pub const SHARE_BEFORE_PUBLISH: &str = "share-before-publish";
/// The coordinator stored the job record saying the shares publish their
/// end-of-input output, before telling them to.
pub const COORDINATOR_PUBLISHING: &str = "coordinator-publishing";

/// The fsync of a checkpoint object (or of its directory) fails with
/// `EIO` instead of syncing: the process lives on, the write is suspect.
pub const CHECKPOINT_FSYNC_EIO: &str = "checkpoint-fsync-eio";
/// The fsync of a sink's pre-committed file fails with `EIO`.
pub const SINK_FSYNC_EIO: &str = "sink-fsync-eio";

/// Every crash point: the process aborts there.
pub const CRASH_POINTS: [&str; 6] = [
    ROCKS_AFTER_HARD_LINK,
    MANIFEST_BEFORE_RENAME,
    OBJECT_BEFORE_DIR_FSYNC,
    SINK_BEFORE_COMMIT,
    SHARE_BEFORE_PUBLISH,
    COORDINATOR_PUBLISHING,
];

/// Every I/O error point: the operation fails with `EIO` there.
pub const IO_ERROR_POINTS: [&str; 2] = [CHECKPOINT_FSYNC_EIO, SINK_FSYNC_EIO];

/// `errno` of an I/O error (`EIO`) on Linux.
const EIO: i32 = 5;

/// The variable naming the points to arm.
pub const CRASH_POINTS_VAR: &str = "SPATE_CRASH_POINTS";
/// The variable naming the points a cluster's coordinator arms (it writes
/// the manifests); its workers arm [`CRASH_POINTS_VAR`]'s, so a test arms
/// one or the other even though the workers inherit the coordinator's
/// environment.
pub const COORDINATOR_CRASH_POINTS_VAR: &str = "SPATE_COORDINATOR_CRASH_POINTS";
/// The variable naming the directory of once-per-cluster markers.
pub const CRASH_ONCE_DIR_VAR: &str = "SPATE_CRASH_ONCE_DIR";

/// One armed point: die at its `at`-th hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Armed {
    /// The point.
    pub name: String,
    /// The hit that dies (1 = the first).
    pub at: u64,
}

/// Parses `name[@N],...`, rejecting unknown names and bad counts.
pub fn parse(spec: &str) -> Result<Vec<Armed>, StateError> {
    let bad = |reason: String| StateError::InvalidConfig {
        key: CRASH_POINTS_VAR,
        reason,
    };
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (name, at) = match item.split_once('@') {
                Some((n, at)) => (n, at.parse::<u64>().ok().filter(|&a| a >= 1)),
                None => (item, Some(1)),
            };
            if !CRASH_POINTS.contains(&name) && !IO_ERROR_POINTS.contains(&name) {
                return Err(bad(format!(
                    "`{name}` is not a crash point; they are {}, {}",
                    CRASH_POINTS.join(", "),
                    IO_ERROR_POINTS.join(", ")
                )));
            }
            let at = at.ok_or_else(|| {
                bad(format!(
                    "`{item}`: the hit after `@` must be a number from 1"
                ))
            })?;
            Ok(Armed {
                name: name.to_owned(),
                at,
            })
        })
        .collect()
}

/// Armed points and where the once-per-cluster markers go.
#[cfg(debug_assertions)]
#[derive(Debug)]
struct Registry {
    points: Vec<(Armed, AtomicU64)>,
    once_dir: Option<PathBuf>,
}

/// Set once, by [`arm_from_env`]; unset, a hit costs one atomic load.
#[cfg(debug_assertions)]
static REGISTRY: OnceLock<Registry> = OnceLock::new();

/// The crash point `name`: the process dies here if the point is armed
/// and this is its fatal hit; otherwise nothing happens.
#[inline]
pub fn hit(name: &'static str) {
    if fires(name) {
        eprintln!("crash point {name} reached: aborting the process");
        std::process::abort();
    }
}

/// The I/O error point `name`: `Err(EIO)` if the point is armed and this
/// is its failing hit, else `Ok(())`; the caller fails as the real
/// operation would have.
#[inline]
pub fn io_error(name: &'static str) -> std::io::Result<()> {
    if fires(name) {
        eprintln!("I/O error point {name} reached: failing with EIO");
        return Err(std::io::Error::from_raw_os_error(EIO));
    }
    Ok(())
}

/// True at the armed hit of `name` (in one process of the cluster only,
/// with the once directory).
#[inline]
fn fires(name: &'static str) -> bool {
    #[cfg(debug_assertions)]
    if let Some(registry) = REGISTRY.get() {
        return fires_armed(registry, name);
    }
    let _ = name;
    false
}

#[cfg(debug_assertions)]
#[cold]
fn fires_armed(registry: &Registry, name: &str) -> bool {
    registry.points.iter().any(|(point, hits)| {
        point.name == name
            && hits.fetch_add(1, Ordering::SeqCst) + 1 == point.at
            && first_in_cluster(name, registry.once_dir.as_deref())
    })
}

/// Claims `name` for this process, unless another one already did.
#[cfg(debug_assertions)]
fn first_in_cluster(name: &str, once_dir: Option<&std::path::Path>) -> bool {
    once_dir.is_none_or(|dir| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.join(name))
            .is_ok()
    })
}

/// Arms the points `SPATE_CRASH_POINTS` names, once per process; returns
/// them (empty when it is unset). A release build refuses a non-empty
/// list rather than silently never crashing.
pub fn arm_from_env() -> Result<Vec<Armed>, StateError> {
    arm_from_var(CRASH_POINTS_VAR)
}

/// Arms the points the variable `var` names, like [`arm_from_env`].
pub fn arm_from_var(var: &'static str) -> Result<Vec<Armed>, StateError> {
    let armed = parse(&std::env::var(var).unwrap_or_default())?;
    if !armed.is_empty() {
        arm(&armed)?;
    }
    Ok(armed)
}

#[cfg(debug_assertions)]
fn arm(armed: &[Armed]) -> Result<(), StateError> {
    let registry = Registry {
        points: armed
            .iter()
            .map(|a| (a.clone(), AtomicU64::new(0)))
            .collect(),
        once_dir: std::env::var_os(CRASH_ONCE_DIR_VAR).map(PathBuf::from),
    };
    REGISTRY
        .set(registry)
        .map_err(|_| StateError::InvalidConfig {
            key: CRASH_POINTS_VAR,
            reason: "crash points were armed already in this process".to_owned(),
        })
}

#[cfg(not(debug_assertions))]
fn arm(_armed: &[Armed]) -> Result<(), StateError> {
    Err(StateError::InvalidConfig {
        key: CRASH_POINTS_VAR,
        reason: "crash points exist in debug (test) builds only, and this is a release build"
            .to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_known_points_and_hits_from_one() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("sink-between-pre-commit-and-commit@3, rocks-after-hard-link").unwrap(),
            vec![
                Armed {
                    name: SINK_BEFORE_COMMIT.into(),
                    at: 3
                },
                Armed {
                    name: ROCKS_AFTER_HARD_LINK.into(),
                    at: 1
                },
            ]
        );
    }

    #[test]
    fn unknown_points_and_bad_counts_are_refused_with_the_reason() {
        let e = parse("manifest-before-renam").unwrap_err().to_string();
        assert!(
            e.contains("`manifest-before-renam` is not a crash point"),
            "{e}"
        );
        assert!(e.contains(MANIFEST_BEFORE_RENAME), "{e}");
        for bad in ["rocks-after-hard-link@0", "rocks-after-hard-link@x"] {
            let e = parse(bad).unwrap_err().to_string();
            assert!(e.contains("must be a number from 1"), "{e}");
        }
    }
}
