"""`cexflow build`: check the inputs, run `dbt build` with them as vars, print a short summary."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from cexflow import inputs
from cexflow.db import lock_conflict, spark_schema_dir
from cexflow.errors import CexflowError
from cexflow.files import working_copy
from cexflow.methods import add_anomaly_arguments, anomaly_vars
from cexflow.paths import EXCHANGE_WALLETS_SEED, PROJECT_ROOT, SAMPLE_INPUT, default_db
from cexflow.progress import DbtProgress

HELP = "Build the netflow marts: run dbt build on the input files (default: the bundled sample)."


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The build options, shared with `cexflow agent`."""
    g = parser.add_argument_group("build options")
    g.add_argument("--input", action="append", metavar="PATH_OR_GLOB",
                   help="raw transfer file, directory or glob; repeatable (default: the bundled sample)")
    g.add_argument("--blocks", action="append", metavar="CSV",
                   help="ethereum-etl blocks.csv (number,timestamp) for token_transfers files without "
                        "block_timestamp; repeatable")
    g.add_argument("--labels", action="append", metavar="CSV",
                   help="exchange label CSV (address,exchange[,wallet|name_tag][,chain]); repeatable "
                        "(default: seeds/exchange_wallets.csv)")
    g.add_argument("--balances", action="append", metavar="CSV",
                   help="balance anchors for the exchange reserve (address,balance,block or date[,chain,token,"
                        "kind,block_time], as cexflow fetch --balances writes); repeatable, globs; default: none "
                        "(fct_exchange_reserve_daily is empty)")
    g.add_argument("--token", default="LPT", metavar="SYMBOL_OR_ADDRESS",
                   help="token symbol from seeds/tokens.csv or a 0x address (default: LPT)")
    g.add_argument("--decimals", type=int, metavar="N",
                   help="decimals of the token (default: from seeds/tokens.csv)")
    g.add_argument("--chain", default="ethereum", metavar="NAME", help="chain name (default: ethereum)")
    g.add_argument("--db", type=Path, metavar="PATH",
                   help="DuckDB file to build (default: $CEXFLOW_DB or cexflow.duckdb in the project root)")
    g.add_argument("--target", default="duckdb", choices=("duckdb", "spark"),
                   help="dbt target of profiles.yml (default: duckdb); spark needs pip install -e '.[spark]' "
                        "and Java 17")
    g.add_argument("--spark-dir", type=Path, metavar="DIR",
                   help="with --target spark: folder of the Spark warehouse and metastore (default: "
                        "$CEXFLOW_SPARK_DIR or spark/ in the project root)")
    add_anomaly_arguments(g)
    g.add_argument("--top-k", type=int, default=10, metavar="K",
                   help="days per series in the top-k table (default: 10)")
    g.add_argument("--full-refresh", action="store_true",
                   help="rebuild everything from the inputs (by default a build of an existing database reads "
                        "only new input files, and rebuilds in full when anything else changed)")
    g.add_argument("--full-check", action="store_true",
                   help="run every data test on whole tables, and dbt's unit tests (by default the tests of the "
                        "incremental tables check the rows the build wrote, and unit tests run in make test)")
    g.add_argument("--verbose", action="store_true", help="show the dbt command and dbt's own output")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)


@dataclass
class BuildSummary:
    db: Path
    files: int
    rows_read: int
    transfers: int
    duplicates: int
    rejected: int
    other_token: int
    exchange_transfers: int
    first_day: str | None
    last_day: str | None
    days: int
    series: int
    anomalies: int
    method: str
    mode: str = ""
    warnings: list[str] = field(default_factory=list)  # what makes the build less useful than it looks
    reserve: str = ""  # the exchange reserve line, when the build read balances (reserve_line)

    def lines(self) -> list[str]:
        period = f"{self.first_day} to {self.last_day}" if self.first_day else "no transfers"
        return [
            f"read {self.rows_read:,} rows from {self.files:,} file(s): {self.transfers:,} transfers kept, "
            f"{self.duplicates:,} duplicates, {self.rejected:,} rejected, {self.other_token:,} of other tokens",
            f"{self.days:,} days ({period}), {self.exchange_transfers:,} transfers touch labelled exchange wallets",
            f"{self.anomalies:,} anomalies ({self.method}) in {self.series:,} series; marts in {self.db}",
        ] + ([self.reserve] if self.reserve else []) + ([self.mode] if self.mode else []) + [
            f"warning: {warning}" for warning in self.warnings]


def build_vars(args: argparse.Namespace) -> dict:
    """dbt vars from the build options, after checking every file and option."""
    anomaly = anomaly_vars(args)
    if args.top_k < 1:
        raise CexflowError(f"--top-k {args.top_k}: must be at least 1")
    if args.decimals is not None and not 0 <= args.decimals <= 77:
        raise CexflowError(f"--decimals {args.decimals}: must be between 0 and 77")
    token = inputs.resolve_token(args.token, args.chain, args.decimals)
    files = inputs.classify_inputs(args.input or [str(SAMPLE_INPUT)], args.blocks)
    dbt_vars: dict = {"input_files": files.dbt_input_files()}
    dbt_vars["ethereum_etl_blocks_files"] = inputs.blocks_files(args.blocks) if args.blocks else []
    dbt_vars["labels_files"] = inputs.label_files(args.labels) if args.labels else []
    check_labels_on_chain(dbt_vars["labels_files"], token.chain)
    dbt_vars["balances_files"] = inputs.balances_files(args.balances) if getattr(args, "balances", None) else []
    dbt_vars.update(chain=token.chain, token=token.address, token_decimals=token.decimals, topk_days=args.top_k)
    dbt_vars.update(anomaly)
    return dbt_vars


def check_labels_on_chain(labels_files: list[str], chain: str) -> None:
    """Labels with no address on the build's chain leave every transfer unlabelled: an error."""
    files = labels_files or [str(EXCHANGE_WALLETS_SEED)]
    counts = inputs.label_chains(files)
    if counts.get(chain):
        return
    named = ", ".join(str(Path(f).relative_to(PROJECT_ROOT)) if Path(f).is_relative_to(PROJECT_ROOT) else f
                      for f in files)
    found = ", ".join(f"{n:,} on {c}" for c, n in counts.items()) or "no address at all"
    raise CexflowError(
        f"--chain {chain}: the exchange labels ({named}: {found}) have no address on {chain}, so no transfer "
        f"could count as an exchange flow; pass --labels with addresses on {chain} (a chain column), or the "
        "chain of your data as --chain")


def default_spark_dir() -> Path:
    """The Spark warehouse folder: $CEXFLOW_SPARK_DIR if set, else spark/ in the project root."""
    return Path(os.environ.get("CEXFLOW_SPARK_DIR") or PROJECT_ROOT / "spark")


def check_spark_installed() -> None:
    """--target spark needs dbt-spark with pyspark (the spark extra) and a Java runtime."""
    import importlib.util
    import shutil

    missing = [name for name, module in (("dbt-spark", "dbt.adapters.spark"), ("pyspark", "pyspark"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise CexflowError(f"--target spark: {' and '.join(missing)} not installed; "
                           "run: pip install -e '.[spark]' (and have Java 17)")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise CexflowError("--target spark: no Java runtime (java on PATH or JAVA_HOME); Spark needs Java 17")


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


# dbt's target/ and logs/ of a database other than the default one: a folder per database, kept between builds
# (dbt's partial parsing reads the manifest it saved there), at most DBT_FOLDERS_KEPT of them
DBT_FOLDERS = PROJECT_ROOT / "target" / "databases"
DBT_FOLDERS_KEPT = 16


def dbt_folders(db: Path, target: str) -> tuple[Path, Path]:
    """dbt's target and log folders for the database `db` (for target spark: the warehouse folder).

    The default database uses the project's target/ and logs/ (so `dbt docs` and the compiled SQL are where
    dbt users look). Any other database gets its own folder under target/databases/, named after its path,
    so that builds of different databases (tests, an agent beside an analyst) can run at the same time and
    each rebuild of one database finds the manifest dbt saved the last time (dbt parses the whole project
    again when the database's path, --vars or the project changed, and only changed files otherwise).
    """
    default = (default_spark_dir() if target == "spark" else default_db()).resolve()
    if db == default:
        return PROJECT_ROOT / "target", PROJECT_ROOT / "logs"
    key = hashlib.sha1(f"{target}:{db}".encode()).hexdigest()[:12]
    folder = DBT_FOLDERS / f"{db.name}-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    os.utime(folder)  # the most recently used folders are kept
    by_use = sorted((p for p in DBT_FOLDERS.iterdir() if p.is_dir() and p != folder), key=lambda p: p.stat().st_mtime)
    for old in by_use[:max(len(by_use) - DBT_FOLDERS_KEPT + 1, 0)]:
        with contextlib.suppress(OSError), dbt_folder_lock(old / "target", wait=False):
            shutil.rmtree(old)  # only when no dbt run holds it
    return folder / "target", folder / "logs"


@contextlib.contextmanager
def dbt_folder_lock(target_path: Path, wait: bool = True):
    """An exclusive lock on a dbt target folder: two dbt runs in one folder would overwrite each other's
    manifest. With wait=False, OSError (BlockingIOError) when another process holds it."""
    import fcntl

    target_path.mkdir(parents=True, exist_ok=True)
    with open(target_path / ".cexflow-dbt.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        yield


@contextlib.contextmanager
def dbt_session(env: dict[str, str], target_path: Path):
    """The process as dbt expects it while it runs: the project root as working directory, these environment
    variables set (restored after), and dbt's target folder locked (dbt_folder_lock)."""
    saved = {name: os.environ.get(name) for name in env}
    cwd = os.getcwd()
    with dbt_folder_lock(target_path):
        os.environ.update(env)
        os.chdir(PROJECT_ROOT)
        try:
            yield
        finally:
            os.chdir(cwd)
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def release_dbt_duckdb() -> None:
    """Close the DuckDB file that dbt-duckdb keeps open in this process after a command (in a class attribute
    of its connection manager), so that this process can open it read-only and the next command rebuild it."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager

    with manager._LOCK:
        if manager._ENV is not None:
            with contextlib.suppress(Exception):
                manager._ENV.close()
            manager._ENV = None


def run_dbt(command: list[str], db: Path, target: str, verbose: bool = False, *, write_to: Path | None = None,
            input_files: dict[str, list[str]] | None = None, progress: DbtProgress | None = None,
            target_path: Path | None = None):
    """Run a dbt command in the project on the DuckDB file `db` (for target spark: the Spark warehouse folder
    `db`); a failure becomes a one-line error. With `write_to`, dbt writes that file instead (a build's working
    copy of `db`, see cexflow.files); `db` still decides dbt's folders (its path stays the same from one build
    of `db` to the next, as partial parsing needs).

    DuckDB: dbt runs in this process (dbtRunner), which saves starting a second Python and importing dbt
    twice; the result (dbt's dbtRunnerResult) is returned. Spark: dbt runs as a subprocess, whose Spark
    session (a JVM configured for one warehouse) ends with it; returns None. `input_files` (var input_files)
    goes to dbt in CEXFLOW_INPUT_FILES, not in --vars (macros/read_raw_files.sql: input_files). `progress`
    is shown while dbt runs. dbt's folders: dbt_folders(db, target), or `target_path` (logs beside it).
    """
    if target_path is None:
        target_path, log_path = dbt_folders(db, target)
    else:
        log_path = target_path.with_name(target_path.name + "-logs")
    env = {"CEXFLOW_SPARK_DIR" if target == "spark" else "CEXFLOW_DB": str(write_to or db),
           "DBT_PROFILES_DIR": str(PROJECT_ROOT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    if input_files is not None:
        env["CEXFLOW_INPUT_FILES"] = json.dumps(input_files)
    args = [*command, "--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT), "--target", target,
            "--target-path", str(target_path), "--log-path", str(log_path), "--no-use-colors"]
    if verbose:
        shown_env = {k: v for k, v in env.items() if k in ("CEXFLOW_INPUT_FILES", "CEXFLOW_DB", "CEXFLOW_SPARK_DIR")}
        print("+ " + " ".join(f"{k}={shlex.quote(v)}" for k, v in shown_env.items()) + " "
              + shlex.join([dbt_executable(), *args]), file=sys.stderr, flush=True)
    success = False
    try:
        with dbt_session(env, target_path):
            (target_path / "run_results.json").unlink(missing_ok=True)  # first_dbt_failure reads this run's only
            if target == "spark":
                success, output, result = _dbt_subprocess(args, verbose, progress)
            else:
                success, output, result = _dbt_in_process(args, log_path, verbose, progress)
    finally:
        if progress:
            progress.close(success)
    if not success:
        raise CexflowError(f"dbt {command[0]} failed: {first_dbt_failure(target_path, output)}")
    return result


def _dbt_in_process(args: list[str], log_path: Path, verbose: bool, progress: DbtProgress | None):
    """(success, dbt's error messages, dbtRunnerResult) of dbt run by dbtRunner in this process.

    Outside the project's own target/ dbt writes no JSON artifacts (manifest.json twice and run_results.json
    cost 0.5 s of every build); when a node failed, write_failed_nodes leaves what first_dbt_failure reads."""
    from dbt.cli.main import dbtRunner
    from google.protobuf.json_format import MessageToDict

    errors: list[str] = []

    def on_event(event) -> None:
        if event.info.level == "error" and event.info.msg:
            errors.append(event.info.msg)
        if progress:  # the data of the events it shows; the others by name (dbt sends hundreds)
            shown = event.info.name in DbtProgress.EVENTS
            progress.on_event(event.info.name,
                              MessageToDict(event.data, preserving_proto_field_name=True) if shown else {})

    # quiet: nothing on the console, and a log file (debug, as dbt writes it) only in the project's logs/
    in_project = log_path == PROJECT_ROOT / "logs"
    quiet = [] if verbose else ["--log-level", "none", "--log-level-file", "debug" if in_project else "none"]
    artifacts = [] if in_project else ["--no-write-json"]
    try:
        with contextlib.redirect_stdout(sys.stdout if verbose else io.StringIO()):
            result = dbtRunner(callbacks=[on_event]).invoke(args + quiet + artifacts)
    finally:
        release_dbt_duckdb()
    if result.exception is not None:
        errors.append(str(result.exception))
    if not result.success and artifacts:
        write_failed_nodes(Path(args[args.index("--target-path") + 1]), result)
    return result.success, "\n".join(errors), result


def write_failed_nodes(target_path: Path, result) -> None:
    """The part of run_results.json and manifest.json that first_dbt_failure reads (each node's status and
    message, the failed nodes' files), from the result of a dbt run that wrote no JSON artifacts."""
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


def _dbt_subprocess(args: list[str], verbose: bool, progress: DbtProgress | None):
    """(success, dbt's error messages, None) of dbt run as a subprocess; its JSON log feeds `progress`."""
    if verbose:
        proc = subprocess.run([dbt_executable(), *args], cwd=PROJECT_ROOT)
        return proc.returncode == 0, "", None
    errors: list[str] = []
    others: list[str] = []  # lines that are not dbt's log: Spark's and Java's messages
    proc = subprocess.Popen([dbt_executable(), *args, "--log-format", "json"], cwd=PROJECT_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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
            progress.on_event(info.get("name", ""), data)
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
        at = next((i for i, line in enumerate(lines) if "encountered an error" in line.lower()),
                  next((i for i, line in enumerate(lines) if "error" in line.lower()), max(len(lines) - 2, 0)))
        detail = []
        for line in lines[at:at + 3]:
            if line.startswith("Traceback"):
                break
            detail.append(line)
        message = " ".join(detail) or "no output"
    message = " ".join(plain_lines(message))
    locked = lock_conflict(message, opened_read_only=False)
    if locked:
        return locked
    return f"{where}{textwrap.shorten(message, 400, placeholder=' ...')}; {dbt_failure_advice(where, message)}"


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


def dbt_failure_advice(where: str, message: str) -> str:
    """What to do about a dbt failure, by what its message says."""
    lowered = message.lower()
    if "no space left on device" in lowered:
        return "free some disk space (a build writes a copy of the database beside it), then run again"
    if "out of memory" in lowered:
        return ("give DuckDB more memory (CEXFLOW_DUCKDB_MEMORY=4GB, see profiles.yml), then run again; "
                "rerun with --verbose for dbt's output")
    if where.startswith(("test.", "unit_test.")):
        return "a data test failed on these inputs: rerun with --verbose for dbt's output and the failing test"
    return "rerun with --verbose for dbt's output"


def summarize(db: Path, method: str | None = None) -> BuildSummary:
    """The summary of the marts in the DuckDB file `db`."""
    from cexflow.db import connect

    with connect(db) as con:
        return summarize_marts(con, db, method)


def summarize_spark(spark_dir: Path, method: str | None = None) -> BuildSummary:
    """The summary of the marts of a Spark warehouse, read from their parquet files (no Spark session)."""
    from cexflow.db import connect_spark

    with connect_spark(spark_dir) as con:
        return summarize_marts(con, spark_dir, method)


def summarize_marts(con, location: Path, method: str | None = None) -> BuildSummary:
    """The summary from a DuckDB connection on which the marts are tables or views (the method: the one the
    z-scores were computed with, unless given)."""
    reco = con.execute(
        "select count(*), coalesce(sum(rows_read), 0), coalesce(sum(transfers_kept), 0), "
        "coalesce(sum(duplicate_rows), 0), coalesce(sum(rejected_rows), 0), "
        "coalesce(sum(other_token_rows), 0) from rpt_input_reconciliation"
    ).fetchone()
    days = con.execute(
        "select cast(min(flow_date) as varchar), cast(max(flow_date) as varchar), count(*) "
        "from fct_netflow_daily_total"
    ).fetchone()
    exchange_transfers = con.execute("select count(*) from fct_exchange_transfers").fetchone()[0]
    series, anomalies, scored_method = con.execute(
        "select count(distinct series), count(*) filter (where is_anomaly), min(method) from fct_netflow_zscores"
    ).fetchone()
    return BuildSummary(location, reco[0], reco[1], reco[2], reco[3], reco[4], reco[5], exchange_transfers,
                        days[0], days[1], days[2], series, anomalies, method or scored_method,
                        reserve=reserve_line(con))


def reserve_line(con) -> str:
    """The summary's line on the exchange reserve ("" when the build had no usable or rejected balances row):
    the exchanges with a reserve, those it stays unknown for, the wallets without an anchor."""
    known, unknown = con.execute("select count(distinct exchange) filter (where is_reserve_known), "
                                 "count(distinct exchange) filter (where not is_reserve_known) "
                                 "from fct_exchange_reserve_daily").fetchone()
    (rejected,) = con.execute("select count(*) from stg_balances_rejected").fetchone()
    if not known + unknown + rejected:
        return ""
    (missing,) = con.execute("select count(*) from rpt_wallets_without_balance_anchor").fetchone()
    rejected_text = f"; {rejected:,} balances rows rejected (stg_balances_rejected)" if rejected else ""
    return (f"exchange reserve for {known:,} exchange(s), unknown for {unknown:,} with a wallet that moved and has "
            f"no balance anchor; {missing:,} wallet(s) without one (rpt_wallets_without_balance_anchor)"
            + rejected_text)


# What the CLI remembers in the database about the inputs it has loaded, for incremental builds.
INPUTS_TABLE = "cexflow_build_inputs"
PARAMETERS_TABLE = "cexflow_build_parameters"
SPARK_STATE_FILE = "cexflow_build_state.duckdb"  # in --spark-dir: what INPUTS_TABLE and PARAMETERS_TABLE hold


def input_paths(dbt_vars: dict) -> list[str]:
    """Every input file of the build's vars (var input_files: format -> files)."""
    return [path for files in dbt_vars["input_files"].values() for path in files]


def dbt_build_command(run_vars: dict, full_refresh: bool, full_check: bool, with_tests: bool = True) -> list[str]:
    """`dbt build` with the build's vars but its input files (run_dbt passes those in the environment):
    incremental or --full-refresh; the tests of the incremental tables on the rows the run writes, or with
    full_check every data test on whole tables and the unit tests; or no test at all."""
    dbt_vars = {name: value for name, value in run_vars.items() if name != "input_files"}
    dbt_vars["data_tests_rows"] = "all" if full_check else "this_run"
    command = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)] + (["--full-refresh"] if full_refresh else [])
    if not with_tests:
        command += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    elif not full_check:
        command += ["--exclude-resource-type", "unit_test"]
    return command


def file_fingerprint(path: str) -> str:
    stat = Path(path).stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def code_fingerprint() -> str:
    """A hash of everything that decides what the incremental models hold: the dbt code and the seeds."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update((PROJECT_ROOT / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def loaded_parameters(dbt_vars: dict) -> str:
    """What must be unchanged for an incremental build: token, chain, decimals, labels, blocks, code."""
    side_files = dbt_vars["labels_files"] + dbt_vars["ethereum_etl_blocks_files"]
    return json.dumps({
        "chain": dbt_vars["chain"], "token": dbt_vars["token"], "decimals": dbt_vars["token_decimals"],
        "labels": {f: file_fingerprint(f) for f in dbt_vars["labels_files"]},
        "blocks": {f: file_fingerprint(f) for f in dbt_vars["ethereum_etl_blocks_files"]},
        "side_files": len(side_files), "code": code_fingerprint(),
    }, sort_keys=True)


def plan_build(db: Path, dbt_vars: dict, full_refresh: bool) -> tuple[dict, bool, str]:
    """The vars and the mode of this build: incremental (only new input files) when the database holds
    a build of the same parameters whose every input file is unchanged, else a full refresh."""
    current = {f: file_fingerprint(f) for f in input_paths(dbt_vars)}
    if full_refresh:
        return dbt_vars, True, "--full-refresh"
    if not db.exists():
        return dbt_vars, True, "new database"
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            (parameters,) = con.execute(f"select parameters from {PARAMETERS_TABLE}").fetchone()
            loaded = dict(con.execute(f"select source_file, fingerprint from {INPUTS_TABLE}").fetchall())
    except (duckdb.Error, TypeError):
        return dbt_vars, True, "no earlier build recorded"
    if parameters != loaded_parameters(dbt_vars):
        return dbt_vars, True, "token, chain, labels, blocks or models changed"
    for path, fingerprint in loaded.items():
        if current.get(path) != fingerprint:
            return dbt_vars, True, f"{path} changed or is no longer an input"
    incremental = dict(dbt_vars)
    incremental["input_files"] = {fmt: [f for f in files if f not in loaded]
                                  for fmt, files in dbt_vars["input_files"].items()}
    new_files = len(input_paths(incremental))
    return incremental, False, f"{new_files} new file(s)"


def settings_of(dbt_vars: dict) -> str:
    """Every var of a build but its input files (the anomaly settings included), as text to compare."""
    settings = {name: value for name, value in dbt_vars.items() if name != "input_files"}
    settings["balances_fingerprints"] = {f: file_fingerprint(f) for f in dbt_vars.get("balances_files", [])}
    return json.dumps(settings, sort_keys=True)


def up_to_date(db: Path, dbt_vars: dict, full_refresh: bool, full_check: bool) -> bool:
    """Whether the database holds the build these vars ask for already: no new or changed input file and the
    same settings and code as its last build. Then dbt has nothing to do (with --full-refresh or --full-check
    it runs anyway)."""
    if full_refresh or full_check or not db.exists():
        return False
    run_vars, full, _ = plan_build(db, dbt_vars, False)
    if full or input_paths(run_vars):
        return False
    import duckdb

    try:
        with duckdb.connect(str(db), read_only=True) as con:
            (recorded,) = con.execute(f"select build_vars from {PARAMETERS_TABLE}").fetchone()
    except (duckdb.Error, TypeError):
        return False
    return recorded == settings_of(dbt_vars)


def record_build(db: Path, dbt_vars: dict) -> None:
    """Remember the parameters and input files of a successful build, for the next incremental one."""
    import duckdb

    rows = [(f, file_fingerprint(f)) for f in input_paths(dbt_vars)]
    with duckdb.connect(str(db)) as con:
        con.execute(f"create or replace table {PARAMETERS_TABLE} as select ? as parameters, ? as build_vars",
                    [loaded_parameters(dbt_vars), settings_of(dbt_vars)])
        con.execute(f"create or replace table {INPUTS_TABLE} (source_file varchar, fingerprint varchar)")
        if rows:
            con.executemany(f"insert into {INPUTS_TABLE} values (?, ?)", rows)


def spark_plan(spark_dir: Path, dbt_vars: dict, full_refresh: bool) -> tuple[dict, bool, str]:
    """plan_build for a Spark warehouse: what it has loaded is kept in a small DuckDB file beside it. An
    in-memory catalog (CEXFLOW_SPARK_CATALOG=in-memory) forgets its tables with the session, and a warehouse
    without the staging rows table cannot be added to: both build in full."""
    state = spark_dir / SPARK_STATE_FILE
    if not hive_catalog():
        state.unlink(missing_ok=True)
        return dbt_vars, True, "in-memory catalog"
    if not ((spark_schema_dir(spark_dir) / "int_transfer_rows_validated").is_dir()
            and (spark_dir / "metastore_db").is_dir()):
        state.unlink(missing_ok=True)
    return plan_build(state, dbt_vars, full_refresh)


def hive_catalog() -> bool:
    """Whether the Spark target keeps its tables in a metastore (profiles.yml: CEXFLOW_SPARK_CATALOG)."""
    return os.environ.get("CEXFLOW_SPARK_CATALOG", "hive") == "hive"


def build_spark(args: argparse.Namespace, dbt_vars: dict, with_tests: bool = True) -> BuildSummary:
    """dbt build on the spark target into the warehouse of --spark-dir: incremental when the warehouse holds
    an earlier build of the same parameters (the day-partitioned models rewrite the days the new files touch:
    docs/scale.md), else in full. Without tests: the seeds and models only
    (scripts/compare_engines.py --spark-models-only)."""
    check_spark_installed()
    spark_dir = (getattr(args, "spark_dir", None) or default_spark_dir()).resolve()
    spark_dir.mkdir(parents=True, exist_ok=True)
    run_vars, full_refresh, reason = spark_plan(spark_dir, dbt_vars, getattr(args, "full_refresh", False))
    full_check = getattr(args, "full_check", False)
    command = dbt_build_command(run_vars, full_refresh, full_check, with_tests=with_tests)
    (spark_dir / SPARK_STATE_FILE).unlink(missing_ok=True)  # a failed build leaves no state to add to
    if not hive_catalog():
        # an in-memory catalog does not know the tables of an earlier session, so it would not drop them,
        # and Spark refuses to create a table in a folder that is not empty
        shutil.rmtree(spark_schema_dir(spark_dir), ignore_errors=True)
    run_dbt(command, spark_dir, "spark", verbose=args.verbose, input_files=run_vars["input_files"],
            progress=None if args.verbose else DbtProgress(with_unit_tests=with_tests and full_check))
    if hive_catalog():
        record_build(spark_dir / SPARK_STATE_FILE, dbt_vars)
    summary = summarize_spark(spark_dir)
    summary.mode = f"{'full' if full_refresh else 'incremental'} build on Spark ({reason})" + (
        "" if with_tests else ", no tests")
    return summary


def build(args: argparse.Namespace) -> BuildSummary:
    """Check the options and files, run dbt build (incrementally where it can) on a working copy of the
    database, check and summarise the result, and move it into place: readers of the database never block the
    build nor see half of it (cexflow.files). A failed build leaves the database as it was."""
    dbt_vars = build_vars(args)
    if args.target == "spark":
        return build_spark(args, dbt_vars)
    db = (args.db or default_db()).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    if up_to_date(db, dbt_vars, getattr(args, "full_refresh", False), getattr(args, "full_check", False)):
        summary = summarize(db)
        summary.warnings = build_warnings(db, summary, dbt_vars)
        summary.mode = "nothing new: the marts are up to date (dbt did not run)"
        return summary
    with working_copy(db) as work:
        run_vars, full_refresh, reason = plan_build(work, dbt_vars, getattr(args, "full_refresh", False))
        full_check = getattr(args, "full_check", False)
        command = dbt_build_command(run_vars, full_refresh, full_check)
        run_dbt(command, db, args.target, verbose=args.verbose, write_to=work, input_files=run_vars["input_files"],
                progress=None if args.verbose else DbtProgress(with_unit_tests=full_check))
        record_build(work, dbt_vars)
        summary = summarize(work)
        summary.warnings = build_warnings(work, summary, dbt_vars)  # or an error: then db stays as it was
    summary.db = db
    summary.mode = f"{'full' if full_refresh else 'incremental'} build ({reason})"
    return summary


def build_warnings(db: Path, summary: BuildSummary, dbt_vars: dict) -> list[str]:
    """What makes a finished build less useful than its exit code says, one line each (the summary prints
    them as `warning: ...`). A build that cannot mean anything, every row read being of another token, is an
    error instead. The options that can never give an anomaly are errors before the build (build_vars)."""
    from cexflow.db import connect

    token = inputs.resolve_token(dbt_vars["token"], dbt_vars["chain"], dbt_vars["token_decimals"])
    token_text = f"{token.symbol} on {token.chain}" + ("" if token.symbol == token.address else f" ({token.address})")
    if summary.rows_read and summary.other_token == summary.rows_read:
        raise CexflowError(
            f"--token {token.symbol} --chain {token.chain}: none of the {summary.rows_read:,} rows read is a transfer "
            f"of {token_text}, all are of other tokens; check --token and --chain (the database was left as it was)")
    with connect(db) as con:
        per_file = con.execute(
            "select source_file, rows_read, transfers_kept, duplicate_rows, rejected_rows, other_token_rows "
            "from rpt_input_reconciliation order by source_file").fetchall()
        top_reason = con.execute("select reason, count(*) from stg_transfers_rejected group by reason "
                                 "order by count(*) desc, reason limit 1").fetchone()
        (scored_days,) = con.execute("select count(zscore) from fct_netflow_zscores").fetchone()
        late_anchors = [name for (name,) in con.execute(
            "select distinct exchange from fct_exchange_reserve_daily where is_anchored_after_data order by 1"
        ).fetchall()]
    warnings = []
    if dbt_vars["ethereum_etl_blocks_files"] and not dbt_vars["input_files"]["ethereum_etl"]:
        warnings.append("--blocks: no input is an ethereum-etl token_transfers file, so the blocks files were "
                        "not read")
    if late_anchors:
        warnings.append(f"the balance anchors of {', '.join(late_anchors)} lie after the last transfer of the inputs: "
                        "their reserve is exact only if no wallet moved in between; give the transfers up to the "
                        "anchors (fct_exchange_reserve_daily.is_anchored_after_data)")
    if not summary.rows_read:
        return warnings + ["the input files hold no rows: the marts are empty"]
    with_rows = {row[0] for row in per_file if row[1]}
    warnings += [f"{path}: the file holds no rows"
                 for path in sorted(f for f in input_paths(dbt_vars) if f not in with_rows)]
    if not summary.transfers:
        reason = f" (most often: {top_reason[0]}, {top_reason[1]:,} rows)" if top_reason else ""
        return warnings + [f"no transfer of {token_text} was kept: of {summary.rows_read:,} rows read, "
                           f"{summary.rejected:,} were rejected{reason} and {summary.other_token:,} are of other "
                           "tokens; the rejected rows are in stg_transfers_rejected"]
    warnings += [f"{path}: none of its {rows:,} rows is a transfer of {token_text} ({rejected:,} rejected, "
                 f"{other:,} of other tokens)"
                 for path, rows, kept, duplicates, rejected, other in per_file if rows and not kept and not duplicates]
    if not summary.exchange_transfers:
        labels = ", ".join(dbt_vars["labels_files"]) or "seeds/exchange_wallets.csv"
        warnings.append(f"none of the {summary.transfers:,} transfers touches a labelled exchange wallet on "
                        f"{token.chain} (labels: {labels}), so every netflow is zero; check --labels")
    elif summary.days and not scored_days:
        warnings.append(no_zscore_warning(summary.days, dbt_vars))
    return warnings


def no_zscore_warning(days: int, dbt_vars: dict) -> str:
    """Why no day of a build with flows has a z-score."""
    method, window = dbt_vars["zscore_method"], dbt_vars["zscore_window_days"]
    if method == "inclusive":  # the window ends at the day itself and needs max(3, window // 2) rows
        needed, what = max(3, window // 2), f"days in its --window {window} (the day included)"
        short = days < needed
    else:
        needed, what = dbt_vars["zscore_min_history_days"], "baseline days before it (--min-history)"
        short = days <= needed
    if short:
        return (f"no day has a z-score, so none can be an anomaly: the data has {days:,} days and a day needs "
                f"{needed:,} {what}")
    return ("no day has a z-score, so none can be an anomaly: every baseline has zero spread (or, with --method "
            "screened, too few days with flow)")


def run(args: argparse.Namespace) -> int:
    summary = build(args)
    for line in summary.lines():
        print(line)
    return 0
