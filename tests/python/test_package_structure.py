"""How the package holds together: one lock implementation (files.exclusive_lock), which every lock of cexflow
uses (a build's database, the agent's state, a dbt target folder, a fetch's folder), and no import circle
between its modules."""

from __future__ import annotations

import ast
import os
import threading
import types
from pathlib import Path

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


# --- no import circle ------------------------------------------------------------------------------------


def package_imports(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the package's modules it imports, anywhere in its file (inside functions and `if
    TYPE_CHECKING:` too: a circle of imports is one for a reader, whenever Python runs it)."""
    modules = {p.stem for p in package.glob("*.py")}
    graph = {}
    for path in sorted(package.glob("*.py")):
        imported = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:  # from . import x, from .x import y
                names = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module == package.name:
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(package.name + "."):
                names = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[1] for a in node.names if a.name.startswith(package.name + ".")]
            else:
                continue
            imported |= {name for name in names if name in modules and name != path.stem}
        graph[path.stem] = imported
    return graph


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each circle as a path a -> ... -> a, found by depth-first search from every module (each circle
    once, starting at its smallest module's name)."""
    circles = []

    def walk(start: str, at: str, path: list[str]) -> None:
        for nxt in sorted(graph[at]):
            if nxt == start:
                circles.append([*path, start])
            elif nxt > start and nxt not in path:
                walk(start, nxt, [*path, nxt])

    for module in sorted(graph):
        walk(module, module, [module])
    return circles


def test_the_circle_finder_finds_circles(tmp_path):
    # a made-up package: a imports b (in a function), b imports c under TYPE_CHECKING, c imports a; d imports a.
    # Worked out by hand: one circle, a -> b -> c -> a; d is on no circle.
    package = tmp_path / "cexflow"
    package.mkdir()
    (package / "a.py").write_text("def f():\n    from cexflow import b\n")
    (package / "b.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cexflow.c import x\n")
    (package / "c.py").write_text("import cexflow.a\n")
    (package / "d.py").write_text("from .a import f\n")
    graph = package_imports(package)
    assert graph == {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_circles(graph) == [["a", "b", "c", "a"]]


def test_no_import_circle_in_the_package():
    graph = package_imports()
    assert {"cli", "build", "fetch", "balances", "files", "dbt_runner"} <= set(graph)
    assert "db" in graph["files"]  # imports inside functions are seen
    assert import_circles(graph) == []


# --- packaging -------------------------------------------------------------------------------------------


def test_the_licence_is_an_spdx_expression_that_setuptools_reads_without_a_warning():
    # a TOML table (`license = { text = "MIT" }`) makes setuptools warn on every install that it is
    # deprecated; an SPDX string needs setuptools 77 or later to build
    import tomllib

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    assert project["project"]["license"] == "MIT"
    [setuptools] = [r for r in project["build-system"]["requires"] if r.startswith("setuptools")]
    assert setuptools.replace(" ", "") == "setuptools>=77"
