"""Files that other processes use while cexflow writes them: cexflow's one lock, files written atomically, and the
working copy a build writes instead of the DuckDB file (docs/build.md, "Readers and the build")."""

from __future__ import annotations

import contextlib
import csv
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from cexflow.errors import CexflowError

MIB = 1024 * 1024


class LockHeld(Exception):
    """Another process holds the lock; `holder` is the pid it wrote into the lock file (or "unknown")."""

    def __init__(self, lock_path: Path, holder: str):
        super().__init__(f"{lock_path} is held by pid {holder}")
        self.lock_path = lock_path
        self.holder = holder


@contextlib.contextmanager
def exclusive_lock(
    lock_path: Path, *, wait: bool = False, remove: bool = False, busy: Callable[[str], str] | None = None
) -> Iterator[Path]:
    """Hold an exclusive flock on `lock_path` (its content the holder's pid) for the block; the kernel releases it
    when the process ends, even on SIGKILL. Raises LockHeld (with `busy`, a CexflowError of `busy(pid)`) when
    another process holds it, or with `wait` waits. With `remove` the file is deleted on release."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if busy:
                raise CexflowError(busy(holder)) from None
            raise LockHeld(lock_path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        if not remove or _names_file(lock_path, fd):
            break
        os.close(fd)  # the holder before us deleted the file we locked: lock the one the path names now
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield lock_path
    finally:
        if remove:
            lock_path.unlink(missing_ok=True)  # before the flock is released: see _names_file
        os.close(fd)


def _names_file(path: Path, fd: int) -> bool:
    """Whether `path` is (still) the open file `fd`."""
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_durably(src: Path, dst: Path) -> None:
    """Rename `src` over `dst`, both flushed to disk: even after a power cut `dst` is the old file or the new."""
    fsync_path(src)
    os.replace(src, dst)
    with contextlib.suppress(OSError):  # make the rename itself durable
        fsync_path(dst.parent)


def write_atomic(
    path: Path, content: str | Callable[[TextIO], None], before_rename: Callable[[], None] | None = None
) -> None:
    """Write `path` (`content`: a text, or a function that writes into the open file) through `.<name>.tmp` beside
    it, so that it holds the old content or the new; `before_rename` is the agent's test seam."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            if callable(content):
                content(fh)
            else:
                fh.write(content)
        if before_rename:
            before_rename()
        replace_durably(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_csv(path: Path, header: list[str], rows: list[dict], delimiter: str = ",") -> Path:
    """A CSV (or a TSV) of `rows` under `header`, written atomically; other fields of a row are left out."""

    def write(fh: TextIO) -> None:
        writer = csv.DictWriter(
            fh, fieldnames=header, extrasaction="ignore", restval="", delimiter=delimiter, lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)

    write_atomic(Path(path), write)
    return Path(path)


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


def lock_path_of(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


def working_folder_of(db: Path) -> Path:
    return db.with_name(db.name + ".build")


@contextlib.contextmanager
def working_copy(db: Path, copy_if: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Yield a working copy of the DuckDB file `db` for a build to write, which replaces `db` when the block ends
    without an exception. `copy_if(db)`, asked under the lock, says whether the copy starts as `db` or empty."""
    from cexflow.db import connect

    db = Path(db)
    folder = working_folder_of(db)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(
                exclusive_lock(
                    lock_path_of(db),
                    busy=lambda pid: (
                        f"--db {db}: another cexflow build (pid {pid}) is building this database "
                        f"(lock {lock_path_of(db)}); wait for it to finish, then run again"
                    ),
                )
            )
        except OSError as exc:
            raise CexflowError(
                f"--db {db}: cannot create the build's lock file {lock_path_of(db)}: {exc.strerror}"
            ) from None
        shutil.rmtree(folder, ignore_errors=True)  # what a killed build left
        stack.callback(shutil.rmtree, folder, True)
        try:
            folder.mkdir()
        except OSError as exc:
            raise CexflowError(
                f"--db {db}: cannot create the build's working folder {folder}: {exc.strerror}"
            ) from None
        work = folder / db.name
        if db.exists():
            stack.enter_context(connect(db))  # held to the end: a writer cannot open db while it is rebuilt
            if copy_if is None or copy_if(db):
                check_free_space(db, folder)
                copy_database(db, work)
        yield work
        move_into_place(work, db)


def check_free_space(db: Path, folder: Path) -> None:
    needed = db.stat().st_size + (wal_of(db).stat().st_size if wal_of(db).exists() else 0)
    free = shutil.disk_usage(folder).free
    if free < needed:
        raise CexflowError(
            f"--db {db}: a build writes a copy of the database beside it and needs "
            f"{needed / MIB:,.0f} MiB free there (and room to grow), but {folder.parent} has "
            f"{free / MIB:,.0f} MiB free; free some disk space, then run again"
        )


def move_into_place(work: Path, db: Path) -> None:
    """Rename the finished working copy over `db`, with no WAL of either left beside it."""
    if wal_of(work).exists():
        # whoever wrote the copy left its WAL: opening and closing the file read-write folds it in
        from cexflow.db import connect_to_write

        connect_to_write(work).close()
    if wal_of(db).exists():  # an old WAL would be replayed onto the new file: move it aside first
        os.replace(wal_of(db), work.with_name("replaced-database.wal"))
    replace_durably(work, db)
