//! Damage to a checkpoint: the files of the newest checkpoint under a
//! directory, and the three ways the corrupt-checkpoint suite breaks each
//! (a flipped byte, a truncation, a deletion).

use std::fmt;
use std::path::{Path, PathBuf};

use spate_state::checkpoint::{MANIFEST_DIR, Manifest, parse_manifest_object_name};

use crate::error::{Result, TortureError, io};

/// How a file is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// One byte in the middle of the file is inverted (its size stays).
    FlipByte,
    /// The file loses its second half.
    Truncate,
    /// The file is deleted.
    Delete,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Damage::FlipByte => "a flipped byte",
            Damage::Truncate => "a truncation",
            Damage::Delete => "a deletion",
        })
    }
}

/// The newest checkpoint under a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewestCheckpoint {
    /// Its id.
    pub id: u64,
    /// Its manifest file.
    pub manifest: PathBuf,
    /// The state files it references, in manifest order, each once.
    pub files: Vec<PathBuf>,
}

impl NewestCheckpoint {
    /// Its manifest, then its state files: every file a restore reads.
    pub fn all_files(&self) -> Vec<PathBuf> {
        std::iter::once(self.manifest.clone())
            .chain(self.files.iter().cloned())
            .collect()
    }
}

/// The newest checkpoint of any run under `dir`, or `None` before the
/// first one completes.
pub fn newest_checkpoint(dir: &Path) -> Result<Option<NewestCheckpoint>> {
    let mut best: Option<(u64, PathBuf)> = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let name = format!("{MANIFEST_DIR}{}", e.file_name().to_string_lossy());
            if let Some(id) = parse_manifest_object_name(&name)
                && best.as_ref().is_none_or(|(b, _)| id > *b)
            {
                best = Some((id, path));
            }
        }
    }
    let Some((id, manifest)) = best else {
        return Ok(None);
    };
    let run_dir = manifest
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| TortureError::Usage(format!("{} has no run directory", manifest.display())))?
        .to_path_buf();
    let bytes = std::fs::read(&manifest).map_err(|e| io("reading", &manifest, e))?;
    let m = Manifest::decode(&manifest.display().to_string(), &bytes)
        .map_err(|e| TortureError::Usage(format!("the newest manifest is unreadable: {e}")))?;
    let mut files: Vec<PathBuf> = Vec::new();
    for f in m.subtasks.iter().flat_map(|s| s.files.iter()) {
        let path = run_dir.join(f.object_name());
        if !files.contains(&path) {
            files.push(path);
        }
    }
    Ok(Some(NewestCheckpoint {
        id,
        manifest,
        files,
    }))
}

/// Damages `path`.
pub fn damage(path: &Path, how: Damage) -> Result<()> {
    match how {
        Damage::Delete => std::fs::remove_file(path).map_err(|e| io("deleting", path, e)),
        Damage::Truncate | Damage::FlipByte => {
            let mut bytes = std::fs::read(path).map_err(|e| io("reading", path, e))?;
            let middle = bytes.len() / 2;
            if how == Damage::Truncate {
                bytes.truncate(middle);
            } else if let Some(b) = bytes.get_mut(middle) {
                *b = !*b;
            }
            std::fs::write(path, bytes).map_err(|e| io("writing", path, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_damage_changes_the_file_as_named() {
        let dir = std::env::temp_dir().join(format!("spate-damage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("f");
        std::fs::write(&path, [1u8, 2, 3, 4]).expect("write");
        damage(&path, Damage::FlipByte).expect("flip");
        assert_eq!(std::fs::read(&path).expect("read"), [1, 2, !3, 4]);
        damage(&path, Damage::Truncate).expect("truncate");
        assert_eq!(std::fs::read(&path).expect("read"), [1, 2]);
        damage(&path, Damage::Delete).expect("delete");
        assert!(!path.exists());
        assert_eq!(newest_checkpoint(&dir).expect("walk"), None);
        std::fs::remove_dir_all(&dir).ok();
    }
}
