#!/usr/bin/env python3
"""A pass-through FUSE file system that fails writes with EIO on demand.

    faultfs.py BACKING MOUNT SWITCH LOG

MOUNT shows BACKING. While the file SWITCH exists, every operation that
changes data (write, create, mkdir, link, rename, truncate, fallocate and
fsync) fails with EIO, as a dying disk's would; reads still work. Each
injected error is one line in LOG ("<op> <path>"). The kernel returns the
error to the caller, so RocksDB inside a Spate worker sees a real EIO from
its own writes and syncs. The disk suite of spate-torture uses it for the
"EIO and failed fsync" faults of the reliability plan.

Runs in the foreground until unmounted (fusermount -u or umount).
"""

import errno
import os
import sys
import threading

try:
    import fuse
except ImportError:  # Debian's python3-fusepy names the module fusepy
    import fusepy as fuse


class FaultFs(fuse.Operations):
    def __init__(self, backing, switch, log):
        self.backing = os.path.realpath(backing)
        self.switch = switch
        self.log = open(log, "a", buffering=1)
        self.log_lock = threading.Lock()

    def _path(self, path):
        return os.path.join(self.backing, path.lstrip("/"))

    def _fail_if_switched(self, op, path):
        if os.path.exists(self.switch):
            with self.log_lock:
                self.log.write(f"{op} {path}\n")
            raise fuse.FuseOSError(errno.EIO)

    # Reads and metadata pass through.
    def access(self, path, mode):
        if not os.access(self._path(path), mode):
            raise fuse.FuseOSError(errno.EACCES)

    def getattr(self, path, fh=None):
        st = os.lstat(self._path(path))
        keys = ("st_atime", "st_ctime", "st_gid", "st_mode", "st_mtime",
                "st_nlink", "st_size", "st_uid", "st_blocks")
        return {k: getattr(st, k) for k in keys}

    def readdir(self, path, fh):
        return [".", ".."] + os.listdir(self._path(path))

    def readlink(self, path):
        return os.readlink(self._path(path))

    def statfs(self, path):
        st = os.statvfs(self._path(path))
        keys = ("f_bavail", "f_bfree", "f_blocks", "f_bsize", "f_favail",
                "f_ffree", "f_files", "f_flag", "f_frsize", "f_namemax")
        return {k: getattr(st, k) for k in keys}

    def open(self, path, flags):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC):
            self._fail_if_switched("open-for-write", path)
        return os.open(self._path(path), flags)

    def read(self, path, size, offset, fh):
        return os.pread(fh, size, offset)

    def release(self, path, fh):
        os.close(fh)

    def flush(self, path, fh):
        return 0

    # Everything that changes data can fail.
    def create(self, path, mode, fi=None):
        self._fail_if_switched("create", path)
        return os.open(self._path(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)

    def write(self, path, data, offset, fh):
        self._fail_if_switched("write", path)
        return os.pwrite(fh, data, offset)

    def truncate(self, path, length, fh=None):
        self._fail_if_switched("truncate", path)
        if fh is None:
            os.truncate(self._path(path), length)
        else:
            os.ftruncate(fh, length)

    def fsync(self, path, datasync, fh):
        self._fail_if_switched("fsync", path)
        if datasync:
            os.fdatasync(fh)
        else:
            os.fsync(fh)

    def fsyncdir(self, path, datasync, fh):
        self._fail_if_switched("fsyncdir", path)

    def mkdir(self, path, mode):
        self._fail_if_switched("mkdir", path)
        os.mkdir(self._path(path), mode)

    def rmdir(self, path):
        os.rmdir(self._path(path))

    def unlink(self, path):
        os.unlink(self._path(path))

    def rename(self, old, new):
        self._fail_if_switched("rename", new)
        os.rename(self._path(old), self._path(new))

    def link(self, target, source):
        self._fail_if_switched("link", target)
        os.link(self._path(source), self._path(target))

    def symlink(self, target, source):
        self._fail_if_switched("symlink", target)
        os.symlink(source, self._path(target))

    def chmod(self, path, mode):
        os.chmod(self._path(path), mode)

    def chown(self, path, uid, gid):
        os.chown(self._path(path), uid, gid)

    def utimens(self, path, times=None):
        os.utime(self._path(path), times)


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: faultfs.py BACKING MOUNT SWITCH LOG")
    backing, mount, switch, log = sys.argv[1:]
    fuse.FUSE(FaultFs(backing, switch, log), mount, foreground=True, nothreads=False)


if __name__ == "__main__":
    main()
