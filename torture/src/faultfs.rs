//! A disk that fails with `EIO`: the pass-through FUSE file system of
//! `scripts/faultfs.py` mounted over a directory. While it fails, every
//! write, create, rename, link, truncate and fsync under it returns the
//! kernel's `EIO`; reads still work. RocksDB's working directory placed
//! there (`state.rocksdb_local_dir`) sees the error from its own writes and
//! syncs, which a wrapper in Spate's code cannot reach. Needs root,
//! `/dev/fuse` and Python's fusepy (Debian: `python3-fusepy`), which
//! `scripts/test.sh` installs.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Result, TortureError, io};

/// The interpreter that has fusepy; `SPATE_FAULTFS_PYTHON` overrides it.
const PYTHON_DEFAULT: &str = "/usr/bin/python3";
/// How long the mount may take to appear.
const MOUNT_WAIT_MS: u64 = 10_000;

/// A mounted fault file system; unmounted when dropped.
#[derive(Debug)]
pub struct FaultFs {
    mount: PathBuf,
    switch: PathBuf,
    log: PathBuf,
    child: Child,
}

impl FaultFs {
    /// Mounts `dir/mount` showing `dir/backing`; its switch and log files
    /// live in `dir` too.
    pub fn mount(dir: &Path) -> Result<Self> {
        let (backing, mount) = (dir.join("backing"), dir.join("mount"));
        for d in [&backing, &mount] {
            std::fs::create_dir_all(d).map_err(|e| io("creating", d, e))?;
        }
        let (switch, log) = (dir.join("failing"), dir.join("injected.log"));
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/faultfs.py");
        let python =
            std::env::var("SPATE_FAULTFS_PYTHON").unwrap_or_else(|_| PYTHON_DEFAULT.into());
        let out = std::fs::File::create(dir.join("faultfs.out"))
            .map_err(|e| io("creating", &dir.join("faultfs.out"), e))?;
        let child = Command::new(&python)
            .arg(&script)
            .args([&backing, &mount, &switch, &log])
            .stdin(Stdio::null())
            .stdout(out.try_clone().map_err(|e| io("opening", dir, e))?)
            .stderr(out)
            .spawn()
            .map_err(|e| {
                TortureError::Usage(format!(
                    "cannot run {python} {} (the EIO disk needs Python with fusepy, \
                     Debian's python3-fusepy): {e}",
                    script.display()
                ))
            })?;
        let mut fs = Self {
            mount,
            switch,
            log,
            child,
        };
        fs.wait_mounted(dir)?;
        Ok(fs)
    }

    fn wait_mounted(&mut self, dir: &Path) -> Result<()> {
        let deadline = Instant::now() + Duration::from_millis(MOUNT_WAIT_MS);
        while !is_mounted(&self.mount) {
            let exited = self.child.try_wait().ok().flatten();
            if exited.is_some() || Instant::now() >= deadline {
                let out = std::fs::read_to_string(dir.join("faultfs.out")).unwrap_or_default();
                return Err(TortureError::Usage(format!(
                    "the EIO disk was not mounted on {} (needs root, /dev/fuse and fusepy; \
                     exit {exited:?}): {}",
                    self.mount.display(),
                    out.trim()
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// The mounted directory.
    pub fn dir(&self) -> &Path {
        &self.mount
    }

    /// Starts or stops failing writes and syncs with `EIO`.
    pub fn set_failing(&self, failing: bool) -> Result<()> {
        if failing {
            std::fs::write(&self.switch, b"").map_err(|e| io("creating", &self.switch, e))
        } else {
            match std::fs::remove_file(&self.switch) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(io("removing", &self.switch, e))
                }
                _ => Ok(()),
            }
        }
    }

    /// Every error it injected, as `<operation> <path>`.
    pub fn injected(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// True when `dir` is a mount point in `/proc/mounts`.
fn is_mounted(dir: &Path) -> bool {
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let target = dir.to_string_lossy();
    mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some(target.as_ref()))
}

impl Drop for FaultFs {
    fn drop(&mut self) {
        let _ = self.set_failing(false);
        // Lazily: a worker may still hold a file open in it.
        let _ = crate::disk::umount(&self.mount);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
