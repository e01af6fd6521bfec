"""Files that other processes use while cexflow writes them: an exclusive lock file (the agent's on its
state), a durable rename (the agent's state and reports), and a copy of a DuckDB file with its WAL (the docs
site's dbt reads one).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


class LockHeld(Exception):
    """Another process holds the lock; `holder` is the pid it wrote into the lock file (or "unknown")."""

    def __init__(self, lock_path: Path, holder: str):
        super().__init__(f"{lock_path} is held by pid {holder}")
        self.lock_path = lock_path
        self.holder = holder


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[Path]:
    """Hold an exclusive flock on `lock_path` (created if missing, its content the holder's pid) for the block;
    raises LockHeld at once when another process holds it. The kernel releases it when the process ends."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise LockHeld(lock_path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        os.close(fd)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: Path, dst: Path) -> None:
    """Rename `src` over `dst` (atomic on POSIX: a reader opens the old file or the new, never a part) after
    flushing `src` to disk, then flush the folder, so that after a power cut `dst` is one or the other too."""
    fsync_path(src)
    os.replace(src, dst)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fsync_path(dst.parent)


def wal_of(db: Path) -> Path:
    """DuckDB's write-ahead log of the database file `db`: `<db>.wal` beside it."""
    return db.with_name(db.name + ".wal")


def copy_database(db: Path, dest: Path) -> None:
    """Copy the DuckDB file `db` and its WAL, if any, to `dest` (whose own WAL is replaced or removed)."""
    shutil.copyfile(db, dest)
    if wal_of(db).exists():
        shutil.copyfile(wal_of(db), wal_of(dest))
    else:
        wal_of(dest).unlink(missing_ok=True)
