"""The one dbt runner: every dbt command of cexflow runs through `run_dbt`, which sets dbt's environment and
folders, shows its progress, and turns a failure into one line (`first_dbt_failure`)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

from cexflow.db import lock_conflict
from cexflow.errors import CexflowError
from cexflow.files import LockHeld, exclusive_lock
from cexflow.paths import PROJECT_ROOT, default_db, default_spark_dir
from cexflow.present import words
from cexflow.progress import DbtProgress


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


# dbt's target/ and logs/ of a database other than the default one: a folder per database, kept between builds
# (dbt's partial parsing reads the manifest it saved there), at most DBT_FOLDERS_KEPT of them
DBT_FOLDERS = PROJECT_ROOT / "target" / "databases"
DBT_FOLDERS_KEPT = 16
# in a dbt target folder, the lock a dbt run holds there: two dbt runs in one folder would overwrite each
# other's manifest
DBT_LOCK_NAME = ".cexflow-dbt.lock"


def dbt_folders(db: Path, target: str) -> tuple[Path, Path]:
    """dbt's target and log folders for `db`: the project's own for the default database, else its own under
    target/databases/ (builds of different databases run at once and keep their manifests)."""
    default = (default_spark_dir() if target.startswith("spark") else default_db()).resolve()
    if db == default:
        return PROJECT_ROOT / "target", PROJECT_ROOT / "logs"
    key = hashlib.sha1(f"{target}:{db}".encode()).hexdigest()[:12]
    folder = DBT_FOLDERS / f"{db.name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)  # the most recently used folders are kept
    by_use = sorted((p for p in DBT_FOLDERS.iterdir() if p.is_dir() and p != folder), key=lambda p: p.stat().st_mtime)
    for old in by_use[: max(len(by_use) - DBT_FOLDERS_KEPT + 1, 0)]:
        with contextlib.suppress(OSError, LockHeld), exclusive_lock(old / "target" / DBT_LOCK_NAME):
            shutil.rmtree(old)  # only when no dbt run holds it
    return folder / "target", folder / "logs"


def release_dbt_duckdb() -> None:
    """Close the DuckDB file dbt-duckdb keeps open after a command (this process then reads it read-only)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            with contextlib.suppress(Exception):
                manager._ENV.close()
            manager._ENV = None


def run_dbt(
    command: list[str],
    db: Path,
    target: str,
    verbose: bool = False,
    *,
    write_to: Path | None = None,
    input_files: dict[str, list[str]] | None = None,
    input_chains: dict[str, list[str]] | None = None,
    progress: DbtProgress | None = None,
    target_path: Path | None = None,
    in_process: bool = True,
):
    """Run a dbt command on the DuckDB file (or Spark warehouse) `db`, or with `write_to` on that file (a build's
    working copy); a failure becomes a one-line error. In this process on DuckDB (its dbtRunnerResult returned);
    a subprocess on Spark, whose JVM session ends with it, or with `in_process=False`."""
    if target_path is None:
        target_path, log_path = dbt_folders(db, target)
    else:
        log_path = target_path.with_name(target_path.name + "-logs")
    env = {
        "CEXFLOW_SPARK_DIR" if target.startswith("spark") else "CEXFLOW_DB": str(write_to or db),
        "DBT_PROFILES_DIR": str(PROJECT_ROOT),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if input_files is not None:
        env["CEXFLOW_INPUT_FILES"] = json.dumps(input_files)
        env["CEXFLOW_INPUT_CHAINS"] = json.dumps(input_chains or {})
    folders = {"--project-dir": PROJECT_ROOT, "--profiles-dir": PROJECT_ROOT, "--target": target}
    folders |= {"--target-path": target_path, "--log-path": log_path}
    args = [*command, *(str(part) for option in folders.items() for part in option), "--no-use-colors"]
    if verbose:  # the command as one could run it by hand: cexflow's variables, then dbt
        shown = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items() if k.startswith("CEXFLOW_"))
        print(f"+ {shown} {shlex.join([dbt_executable(), *args])}", file=sys.stderr, flush=True)
    success = False
    try:
        with exclusive_lock(target_path / DBT_LOCK_NAME, wait=True):
            (target_path / "run_results.json").unlink(missing_ok=True)  # first_dbt_failure reads this run's
            if target.startswith("spark") or not in_process:
                success, output, result = _dbt_subprocess(args, {**os.environ, **env}, verbose, progress)
            else:
                success, output, result = _dbt_in_process(args, env, target_path, log_path, verbose, progress)
    finally:
        if progress:
            progress.close(success)
    if not success:
        what = " ".join(command[:2]) if command[0] in ("docs", "source") else command[0]  # dbt's subcommand
        raise CexflowError(f"dbt {what} failed: {first_dbt_failure(target_path, output)}")
    return result


def _dbt_in_process(args: list[str], env: dict, target_path: Path, log_path: Path, verbose: bool, progress):
    """(success, dbt's error messages, dbtRunnerResult) of dbt run in this process with the environment `env`.
    Outside the project's target/ dbt writes no JSON artifacts (0.5 s of every build): write_failed_nodes."""
    from dbt.cli.main import dbtRunner
    from google.protobuf.json_format import MessageToDict

    errors: list[str] = []

    def on_event(event) -> None:
        if event.info.level == "error" and event.info.msg:
            errors.append(event.info.msg)
        if progress:  # the data of the events it shows; the others by name (dbt sends hundreds)
            shown = event.info.name in DbtProgress.EVENTS
            progress.on_event(
                event.info.name, MessageToDict(event.data, preserving_proto_field_name=True) if shown else {}
            )

    # quiet: nothing on the console, and a log file (debug, as dbt writes it) only in the project's logs/
    in_project = log_path == PROJECT_ROOT / "logs"
    quiet = [] if verbose else ["--log-level", "none", "--log-level-file", "debug" if in_project else "none"]
    artifacts = [] if in_project else ["--no-write-json"]
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        with contextlib.chdir(PROJECT_ROOT), contextlib.redirect_stdout(sys.stdout if verbose else io.StringIO()):
            result = dbtRunner(callbacks=[on_event]).invoke(args + quiet + artifacts)
    finally:
        release_dbt_duckdb()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if result.exception is not None:
        errors.append(str(result.exception))
    if not result.success and artifacts:
        write_failed_nodes(target_path, result)
    return result.success, "\n".join(errors), result


def write_failed_nodes(target_path: Path, result) -> None:
    """The part of run_results.json and manifest.json that first_dbt_failure reads, from a run that wrote none."""
    results = getattr(result.result, "results", None) or []
    if not results:
        return
    runs, nodes = [], {}
    for run in results:
        node = getattr(run, "node", None)
        unique_id = getattr(node, "unique_id", "")
        status = str(getattr(run.status, "value", run.status))
        runs.append({"unique_id": unique_id, "status": status, "message": run.message})
        if status in ("error", "fail"):
            nodes[unique_id] = {"original_file_path": getattr(node, "original_file_path", "")}
    target_path.mkdir(parents=True, exist_ok=True)
    (target_path / "run_results.json").write_text(json.dumps({"results": runs}))
    (target_path / "manifest.json").write_text(json.dumps({"nodes": nodes}))


# The subprocess logs at dbt's default level, info, which has no NodeStart or NodeFinished (debug events, which the
# progress reads): a node's start and result lines stand for them, with the same node_info.
INFO_NODE_EVENTS = {
    "LogStartLine": "NodeStart",
    **{f"Log{kind}Result": "NodeFinished" for kind in ("Model", "Seed", "Snapshot", "Test")},
}


def _dbt_subprocess(args: list[str], env: dict[str, str], verbose: bool, progress: DbtProgress | None):
    """(success, dbt's error messages, None) of dbt run as a subprocess; its JSON log feeds `progress`."""
    if verbose:
        proc = subprocess.run([dbt_executable(), *args], cwd=PROJECT_ROOT, env=env)
        return proc.returncode == 0, "", None
    errors: list[str] = []
    others: list[str] = []  # lines that are not dbt's log: Spark's and Java's messages
    proc = subprocess.Popen(
        [dbt_executable(), *args, "--log-format", "json"],
        cwd=PROJECT_ROOT,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    for line in proc.stdout:
        try:
            event = json.loads(line)
            info, data = event["info"], event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            others.append(line.strip())
            continue
        if info.get("level") == "error" and info.get("msg"):
            errors.append(info["msg"])
        if progress:
            name = info.get("name", "")
            progress.on_event(INFO_NODE_EVENTS.get(name, name), data)
    return proc.wait() == 0, "\n".join(errors + others[-20:]), None


# dbt's output carries terminal colours (`\x1b[0m`) and a time at the start of each line (`07:30:43  `)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
DBT_LOG_TIME = re.compile(r"^\d\d:\d\d:\d\d(?:\.\d+)?\s+")


def plain_lines(text: str) -> list[str]:
    """dbt's text without colours and times, stripped, blank lines left out."""
    lines = (DBT_LOG_TIME.sub("", ANSI_ESCAPE.sub("", line).strip()).strip() for line in text.splitlines())
    return [line for line in lines if line]


def first_dbt_failure(target_path: Path, output: str | None) -> str:
    """The first failure of the last dbt run as one plain line: the node and its file (from run_results.json
    and manifest.json, else the error dbt printed), dbt's message, and what to do."""
    where, message = failed_node(target_path) or ("", "")
    if not message:
        lines = plain_lines(output or "")
        # dbt prints "Encountered an error:" or "... Compilation Error" and the detail on the next line(s)
        at = next(
            (i for i, line in enumerate(lines) if "encountered an error" in line.lower()),
            next((i for i, line in enumerate(lines) if "error" in line.lower()), max(len(lines) - 2, 0)),
        )
        detail = itertools.takewhile(lambda line: not line.startswith("Traceback"), lines[at : at + 3])
        message = " ".join(detail) or "no output"
    message = " ".join(plain_lines(message))
    locked = lock_conflict(message, opened_read_only=False)
    if locked:
        return locked
    return f"{where}{textwrap.shorten(message, 400, placeholder=' ...')}; {words().dbt_failure_advice(where, message)}"


def failed_node(target_path: Path) -> tuple[str, str] | None:
    """("unique_id (file): ", message) of the first failed node in run_results.json, if dbt wrote one."""
    try:
        results = json.loads((target_path / "run_results.json").read_text())["results"]
        failed = next((r for r in results if r["status"] in ("error", "fail")), None)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if failed is None:
        return None
    try:
        manifest = json.loads((target_path / "manifest.json").read_text())
        node = {**manifest.get("nodes", {}), **manifest.get("unit_tests", {})}[failed["unique_id"]]
        path = node["original_file_path"]
    except (OSError, ValueError, KeyError, TypeError):
        path = ""
    message = str(failed.get("message") or "")
    shown = f" ({path})" if path and path not in message else ""
    return f"{failed['unique_id']}{shown}: ", message
