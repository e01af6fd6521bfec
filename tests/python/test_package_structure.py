"""How the package holds together: one lock implementation (files.exclusive_lock), which every lock of cexflow
uses (a build's database, the agent's state, a dbt target folder, a fetch's folder)."""

from __future__ import annotations

import os
import threading
import types

import pytest

from cexflow import files
from cexflow.files import LockHeld, exclusive_lock
from cexflow.paths import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "scripts" / "cexflow"


# --- one lock -------------------------------------------------------------------------------------------


def test_files_py_is_the_only_module_that_locks():
    users = [p.name for p in sorted(PACKAGE.glob("*.py")) if "fcntl" in p.read_text() or "O_EXCL" in p.read_text()]
    assert users == ["files.py"]


def test_a_held_lock_is_refused_at_once_naming_its_holder(tmp_path):
    # flock locks belong to an open file, not a process: a second open of the same file in this process
    # conflicts with the first as another process's would
    lock = tmp_path / "sub" / "x.lock"
    with exclusive_lock(lock):
        assert lock.read_text() == f"{os.getpid()}\n"
        with pytest.raises(LockHeld) as held:
            with exclusive_lock(lock):
                pass
        assert (held.value.lock_path, held.value.holder) == (lock, str(os.getpid()))
    with exclusive_lock(lock):  # released: taken again
        pass
    assert lock.exists()  # kept by default (a database's <db>.lock stays beside it)


def test_wait_waits_for_the_holder(tmp_path):
    lock = tmp_path / "x.lock"
    order = []

    def wait_for_it():
        with exclusive_lock(lock, wait=True):
            order.append("waiter in")

    with exclusive_lock(lock):
        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        waiter.join(0.3)
        assert waiter.is_alive() and order == []  # still waiting while the lock is held
        order.append("holder out")
    waiter.join(5)
    assert order == ["holder out", "waiter in"]


def test_a_removed_lock_file_is_not_locked_twice(tmp_path, monkeypatch):
    """With remove=True the holder deletes the lock file as it lets go. A process that opened the file before
    then gets the flock of a file the path no longer names: it must take the lock of the path's new file, or
    it and the next process (which creates a new file) would both hold "the" lock."""
    lock = tmp_path / "fetch.lock"
    waiting = threading.Event()
    real_flock = files.fcntl.flock

    def flock(fd, operation):
        if not operation & files.fcntl.LOCK_NB:
            waiting.set()  # the waiter has the old file open: the race this test is about
        return real_flock(fd, operation)

    monkeypatch.setattr(files, "fcntl", types.SimpleNamespace(flock=flock, LOCK_EX=files.fcntl.LOCK_EX,
                                                               LOCK_NB=files.fcntl.LOCK_NB))
    held_by_waiter, release_waiter, waiter_done = threading.Event(), threading.Event(), threading.Event()

    def waiter():
        with exclusive_lock(lock, wait=True, remove=True):
            held_by_waiter.set()
            release_waiter.wait(5)
        waiter_done.set()

    with exclusive_lock(lock, remove=True):
        thread = threading.Thread(target=waiter)
        thread.start()
        assert waiting.wait(5)
    assert held_by_waiter.wait(5)
    try:
        assert lock.exists()  # the waiter locked the file the path names now, so a third comer finds it held
        with pytest.raises(LockHeld):
            with exclusive_lock(lock, remove=True):
                pass
    finally:
        release_waiter.set()
        thread.join(5)
    assert waiter_done.is_set() and not lock.exists()
