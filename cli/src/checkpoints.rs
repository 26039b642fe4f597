//! `spate checkpoints list|inspect <dir>`: what a checkpoint directory
//! holds, and what each checkpoint added on top of the files it shares.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use spate_state::checkpoint::{
    CheckpointStorage, FileKind, LocalDirStorage, Manifest, StoredManifest, read_manifests,
};

/// `spate checkpoints ...`.
#[derive(Subcommand, Debug)]
pub enum CheckpointsCommand {
    /// List the checkpoints of a checkpoint directory, oldest first; given
    /// the `checkpoint.dir` of jobs, those of each job run below it.
    List {
        /// The checkpoint directory (holds `manifests/` and `shared/`), or
        /// a `checkpoint.dir` holding `<job>/<run>/` directories.
        dir: PathBuf,
    },
    /// Show one checkpoint: subtasks, files, sizes, source offsets.
    Inspect {
        /// The checkpoint directory.
        dir: PathBuf,
        /// The checkpoint (default: the newest valid one).
        #[arg(long)]
        id: Option<u64>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs the subcommand.
pub fn run(command: CheckpointsCommand) -> anyhow::Result<()> {
    match command {
        CheckpointsCommand::List { dir } => {
            let manifests = load(&dir)?;
            let runs = if manifests.is_empty() {
                runs_below(&dir)
            } else {
                Vec::new()
            };
            if runs.is_empty() {
                print!("{}", list_table(&manifests));
            }
            for run in runs {
                println!("== {}", run.display());
                print!("{}", list_table(&load(&run)?));
            }
            Ok(())
        }
        CheckpointsCommand::Inspect { dir, id, json } => {
            let storage = open(&dir)?;
            let manifests = read_manifests(&storage)?;
            let manifest = pick(&dir, &manifests, id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(manifest)?);
            } else {
                print!("{}", inspect_text(&storage, manifest)?);
            }
            Ok(())
        }
    }
}

/// How deep below a `checkpoint.dir` job runs are looked for: a job's
/// checkpoints are in `<dir>/<job>/<run>/`.
const RUN_DEPTH_MAX: usize = 3;

/// The checkpoint directories (those holding `manifests/`) below `dir`,
/// sorted.
fn runs_below(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut level = vec![dir.to_path_buf()];
    for _ in 0..RUN_DEPTH_MAX {
        let mut next = Vec::new();
        for d in level {
            let Ok(entries) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in entries.flatten() {
                let path = e.path();
                if !e.file_type().is_ok_and(|t| t.is_dir()) {
                    continue;
                }
                if path.join("manifests").is_dir() {
                    found.push(path);
                } else {
                    next.push(path);
                }
            }
        }
        level = next;
    }
    found.sort();
    found
}

fn open(dir: &Path) -> anyhow::Result<LocalDirStorage> {
    if !dir.is_dir() {
        bail!("checkpoint directory {} does not exist", dir.display());
    }
    LocalDirStorage::new(dir).with_context(|| format!("opening {}", dir.display()))
}

fn load(dir: &Path) -> anyhow::Result<Vec<StoredManifest>> {
    let storage = open(dir)?;
    Ok(read_manifests(&storage)?)
}

fn pick<'a>(
    dir: &Path,
    manifests: &'a [StoredManifest],
    id: Option<u64>,
) -> anyhow::Result<&'a Manifest> {
    let found = match id {
        Some(id) => manifests.iter().find(|m| m.checkpoint_id == id),
        None => manifests.iter().rev().find(|m| m.manifest.is_ok()),
    };
    match found.map(|m| &m.manifest) {
        Some(Ok(manifest)) => Ok(manifest),
        Some(Err(e)) => bail!("checkpoint {} is not valid: {e}", id.unwrap_or_default()),
        None => match id {
            Some(id) => bail!("no checkpoint {id} in {}", dir.display()),
            None => bail!("no valid checkpoint in {}", dir.display()),
        },
    }
}

fn list_table(manifests: &[StoredManifest]) -> String {
    let mut out = format!(
        "{:>10}  {:<24}  {:>8}  {:>5}  {:>12}  {:>12}\n",
        "checkpoint", "created (UTC)", "subtasks", "files", "referenced", "added"
    );
    for stored in manifests {
        match &stored.manifest {
            Ok(m) => out.push_str(&format!(
                "{:>10}  {:<24}  {:>8}  {:>5}  {:>12}  {:>12}\n",
                m.checkpoint_id,
                utc(m.created_at_ms),
                m.subtasks.len(),
                m.files().count(),
                bytes(m.referenced_bytes()),
                bytes(m.added_bytes()),
            )),
            Err(e) => out.push_str(&format!("{:>10}  INVALID: {e}\n", stored.checkpoint_id)),
        }
    }
    if manifests.is_empty() {
        out.push_str("(no checkpoints)\n");
    }
    out
}

fn inspect_text(storage: &dyn CheckpointStorage, m: &Manifest) -> anyhow::Result<String> {
    let mut out = format!(
        "checkpoint {}\njob: {}\ncreated: {} UTC\nstate schema version: {}\nmax parallelism: {}\n",
        m.checkpoint_id,
        m.job_id,
        utc(m.created_at_ms),
        m.state_schema_version,
        m.max_parallelism
    );
    let files = m.files().count();
    let shared = m.files().filter(|f| f.added_in != m.checkpoint_id).count();
    let kind = if shared == 0 {
        "every file is new: a full checkpoint or a savepoint".to_owned()
    } else {
        format!("incremental: {shared} of {files} files come from earlier checkpoints")
    };
    out.push_str(&format!(
        "referenced: {} in {files} files; added by this checkpoint: {} ({kind})\n",
        bytes(m.referenced_bytes()),
        bytes(m.added_bytes())
    ));
    for s in &m.subtasks {
        out.push_str(&format!(
            "\nsubtask {} of {} (key groups [{}, {}))\n",
            s.subtask, s.operator, s.key_groups.start, s.key_groups.end
        ));
        for d in &s.states {
            let stored_in = d
                .stored_in
                .as_deref()
                .map(|i| format!(", in RocksDB instance {i}"))
                .unwrap_or_default();
            out.push_str(&format!(
                "  state {} ({}, schema v{}{stored_in})\n",
                d.name, d.kind, d.schema_version
            ));
        }
        for o in &s.source_offsets {
            let hex: String = o.offset.iter().map(|b| format!("{b:02x}")).collect();
            out.push_str(&format!("  source split {}: offset {hex}\n", o.split));
        }
        out.push_str(&format!(
            "  {:<40} {:<6} {:<12} {:>10} {:>12} {:<10} {:<8} {}\n",
            "file", "kind", "state", "key groups", "size", "crc32c", "added", "stored"
        ));
        for f in &s.files {
            let kind = match f.kind {
                FileKind::Full => "full",
                FileKind::Delta => "delta",
                FileKind::RocksSst => "sst",
                FileKind::RocksMeta => "meta",
            };
            let added = if f.added_in == m.checkpoint_id {
                "new".to_string()
            } else {
                format!("chk {}", f.added_in)
            };
            let stored = match storage.size(&f.object_name())? {
                None => "MISSING".to_string(),
                Some(n) if n != f.size_bytes => format!("SIZE {n}"),
                Some(_) => "ok".to_string(),
            };
            out.push_str(&format!(
                "  {:<40} {:<6} {:<12} {:>10} {:>12} {:#010x} {:<8} {}\n",
                f.name,
                kind,
                f.state,
                format!("[{}, {})", f.key_groups.start, f.key_groups.end),
                bytes(f.size_bytes),
                f.crc32c,
                added,
                stored
            ));
        }
    }
    Ok(out)
}

fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Unix milliseconds as `YYYY-MM-DD hh:mm:ss.mmm` (UTC), without a date
/// crate: days to a civil date in the proleptic Gregorian calendar.
fn utc(ms: u64) -> String {
    let days = (ms / 86_400_000) as i64;
    let in_day = ms % 86_400_000;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:03}",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_sizes_read_well() {
        assert_eq!(utc(0), "1970-01-01 00:00:00.000");
        assert_eq!(utc(1_700_000_000_123), "2023-11-14 22:13:20.123");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
    }
}
