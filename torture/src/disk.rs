//! The checkpoint disk of the disk suite: a size-capped tmpfs mounted over
//! the round's checkpoint directory, so a full disk and a read-only disk
//! are the kernel's own `ENOSPC` and `EROFS`, not a simulation. Mounting
//! needs root (CI runs as root).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Result, TortureError, io};

/// The name of the file that fills the disk.
const FILLER: &str = ".disk-filler";
/// `errno` of a full disk (`ENOSPC`) on Linux.
const ENOSPC: i32 = 28;
/// `errno` of a read-only file system (`EROFS`) on Linux.
#[cfg(test)]
const EROFS: i32 = 30;
/// Bytes written per call while filling.
const FILL_CHUNK_BYTES: usize = 64 * 1024;

/// What is wrong with the disk now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskState {
    /// Writable with free space.
    Healthy,
    /// No space left: every write fails with `ENOSPC`.
    Full,
    /// Remounted read-only: every write fails with `EROFS`.
    ReadOnly,
}

/// A mounted tmpfs; unmounted when dropped.
#[derive(Debug)]
pub struct CheckpointDisk {
    dir: PathBuf,
    state: DiskState,
    mounted: bool,
}

impl CheckpointDisk {
    /// Mounts a tmpfs of `size_bytes` at `dir` (created if missing).
    pub fn mount(dir: &Path, size_bytes: u64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| io("creating", dir, e))?;
        mount_cmd(&[
            "-t",
            "tmpfs",
            "-o",
            &format!("size={size_bytes}"),
            "tmpfs",
            &dir.to_string_lossy(),
        ])
        .map_err(|e| {
            TortureError::Usage(format!(
                "the disk suite mounts a {size_bytes}-byte tmpfs on {} for the checkpoints, \
                 which needs root: {e}",
                dir.display()
            ))
        })?;
        Ok(Self {
            dir: dir.to_path_buf(),
            state: DiskState::Healthy,
            mounted: true,
        })
    }

    /// What is wrong with it now.
    pub fn state(&self) -> DiskState {
        self.state
    }

    /// Fills it: writes a file until the kernel says there is no space.
    pub fn fill(&mut self) -> Result<()> {
        self.heal()?;
        let path = self.dir.join(FILLER);
        let mut f = std::fs::File::create(&path).map_err(|e| io("creating", &path, e))?;
        let chunk = vec![0u8; FILL_CHUNK_BYTES];
        let mut len = FILL_CHUNK_BYTES;
        loop {
            match f.write(&chunk[..len]) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(ENOSPC) && len > 1 => len /= 2,
                Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
                Err(e) => return Err(io("filling", &path, e)),
            }
        }
        self.state = DiskState::Full;
        Ok(())
    }

    /// Remounts it read-only.
    pub fn make_read_only(&mut self) -> Result<()> {
        self.heal()?;
        self.remount("ro")?;
        self.state = DiskState::ReadOnly;
        Ok(())
    }

    /// Undoes the current fault.
    pub fn heal(&mut self) -> Result<()> {
        match self.state {
            DiskState::Healthy => {}
            DiskState::Full => {
                let path = self.dir.join(FILLER);
                std::fs::remove_file(&path).map_err(|e| io("removing", &path, e))?;
            }
            DiskState::ReadOnly => self.remount("rw")?,
        }
        self.state = DiskState::Healthy;
        Ok(())
    }

    fn remount(&self, mode: &str) -> Result<()> {
        mount_cmd(&[
            "-o",
            &format!("remount,{mode}"),
            &self.dir.to_string_lossy(),
        ])
        .map_err(|e| {
            TortureError::Cluster(format!(
                "remounting {} {mode} failed: {e}",
                self.dir.display()
            ))
        })
    }

    /// Unmounts it (what was written there is gone).
    pub fn unmount(mut self) -> Result<()> {
        self.mounted = false;
        umount(&self.dir)
    }
}

impl Drop for CheckpointDisk {
    fn drop(&mut self) {
        if self.mounted {
            let _ = umount(&self.dir);
        }
    }
}

pub(crate) fn umount(dir: &Path) -> Result<()> {
    let out = Command::new("umount")
        .arg("--lazy")
        .arg(dir)
        .output()
        .map_err(|e| TortureError::Cluster(format!("cannot run umount: {e}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(TortureError::Cluster(format!(
            "unmounting {} failed: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

fn mount_cmd(args: &[&str]) -> std::result::Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mount {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_root() -> bool {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("Uid:"))
                    .map(|l| l.split_whitespace().nth(1) == Some("0"))
            })
            .unwrap_or(false)
    }

    /// The faults are the kernel's: writes fail with ENOSPC, then EROFS,
    /// and succeed again once healed.
    #[test]
    fn a_full_then_read_only_disk_fails_writes_until_healed() {
        assert!(is_root(), "the disk suite runs as root");
        let dir = tempfile::tempdir().unwrap();
        let mnt = dir.path().join("ck");
        let mut disk = CheckpointDisk::mount(&mnt, 1 << 20).unwrap();
        let probe = mnt.join("probe");
        disk.fill().unwrap();
        let err = std::fs::write(&probe, [1u8; 8192]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(ENOSPC), "{err}");
        disk.make_read_only().unwrap();
        assert_eq!(disk.state(), DiskState::ReadOnly);
        let err = std::fs::write(&probe, [1u8; 10]).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(EROFS), "{err}");
        disk.heal().unwrap();
        std::fs::write(&probe, [1u8; 8192]).unwrap();
        disk.unmount().unwrap();
        assert!(!probe.exists(), "the tmpfs is gone");
    }
}
