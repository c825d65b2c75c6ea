"""Files written safely: atomically replaced, checksummed, and locked while a build writes them."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from exposure.errors import ExposureError


def fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` survive a crash."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write bytes so the file is either the old one or wholly the new one, even after a crash."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def sha256_file(path: str | os.PathLike) -> str:
    """The sha256 of a file, read in 4 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 22):
            h.update(block)
    return h.hexdigest()


class FolderLock:
    """An exclusive lock on an index folder: two builds never write the same index at once."""

    def __init__(self, folder: Path):
        self.path = folder / ".lock"

    def __enter__(self):
        import fcntl

        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise ExposureError(
                f"{self.path.parent}: another exposure index build is writing this index; wait for it to finish"
            ) from None
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # closing releases the lock
