"""Shared helpers for the end-to-end tests: write small input files, run `cexflow build`, query marts.

Builds run one at a time (they share the project's target/ folder); each takes ~10 s of dbt start-up, so
tests share built databases through module-scoped fixtures where they can, and the modules that build the
same files with the same options share one build through shared_build (also across pytest-xdist workers).
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import json
import os
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from cexflow.cli import main as cexflow_main

# A build's plain log writes a line for a step of 2 s or more and one at the end of a run of 10 s or more; on
# a loaded machine (two pytest workers on two cores) a small build can pass those, and the tests that check a
# quick build's stderr holds nothing but its error would fail for the machine's load. The thresholds are
# raised for the tests' builds (subprocesses inherit them); tests/python/test_dbt_runs.py tests the log itself.
os.environ.setdefault("CEXFLOW_PROGRESS_SLOW_S", "300")
os.environ.setdefault("CEXFLOW_PROGRESS_LONG_S", "300")

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REAL_DATA = PROJECT_ROOT / "tests" / "data" / "real"
LPT = "0x58b6a8a3302369daec383334672404ee733ab239"
ETHERSCAN_HEADER = ["blockNumber", "timeStamp", "hash", "from", "contractAddress", "to", "value",
                    "tokenName", "tokenSymbol", "tokenDecimal"]

# The anomaly settings of the project's first default (trailing 28 days, |z| >= 3, no materiality test), for
# the tests that check how reports and alerts render numbers on small hand-made histories, not which
# setting is the default (the default is the detection evaluation's choice and may change).
PLAIN_TRAILING = ("--method", "trailing", "--window", "28", "--z", "3", "--min-history", "14", "--no-materiality")

# a few of the seed project's wallets (seeds/exchange_wallets.csv)
BINANCE14 = "0x28c6c06298d514db089934071355e5743bf21d60"
BINANCE20 = "0xf977814e90da44bfa03b6295a0616a897441acec"
KRAKEN1 = "0x22af984f13dfb5c80145e3f9ee1050ae5a5fb651"
COINBASE10 = "0xa9d1e08c7793af67e9d92fe308d5697fb81d3e43"


def user(n: int) -> str:
    """An unlabelled address."""
    return "0x" + hashlib.sha1(f"user{n}".encode()).hexdigest()


def tx(n: int | str) -> str:
    return "0x" + hashlib.sha256(f"tx{n}".encode()).hexdigest()


def raw(amount: str | Decimal, decimals: int = 18) -> str:
    """The raw integer text of a token amount, exactly."""
    value = Decimal(amount) * (Decimal(10) ** decimals)
    assert value == value.to_integral_value()
    return str(int(value))


def etherscan_row(n, ts: int, frm: str, to: str, amount: str, block: int | None = None) -> dict:
    return {
        "blockNumber": str(block if block is not None else 20_000_000 + ts // 12 % 1_000_000),
        "timeStamp": str(ts), "hash": tx(n), "from": frm, "contractAddress": LPT, "to": to,
        "value": raw(amount), "tokenName": "Livepeer Token", "tokenSymbol": "LPT", "tokenDecimal": "18",
    }


def load_script(name: str):
    """A module of scripts/ (not a package) by its file name, registered in sys.modules under that name."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def write_csv(path: Path, header: list[str], rows: list[dict | list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow([row.get(c, "") for c in header] if isinstance(row, dict) else row)
    return path


def build(db: Path, *args: str) -> int:
    """Run `cexflow build --db DB ARGS...` in-process and return its exit code, with every data test on every row
    of every table: on an existing database with --full-check, the check that a build without it leaves to make
    test; a new database's build wrote every row, which its data tests read without it. Without --full-check dbt's
    unit tests do not run: they do not read the inputs, and test_dbt_runs.py runs them once (they cost 4 to 5 s,
    a third of a build of the sample)."""
    full_check = ["--full-check"] if Path(db).exists() else []
    return cexflow_main(["build", "--db", str(db), *args, *full_check])


def shared_root(tmp_path_factory) -> Path:
    """A folder of this test run that every pytest-xdist worker sees (the parent of the workers' own temporary
    folders; without xdist, the run's temporary folder)."""
    root = tmp_path_factory.getbasetemp()
    return root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root


@contextlib.contextmanager
def shared_folder(tmp_path_factory, name: str):
    """The folder `name` of shared_root, held under an exclusive file lock while the block runs: the first
    test to get it makes what is in it, the others (in this worker or the other) wait and find it made."""
    folder = shared_root(tmp_path_factory) / "shared" / name
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield folder
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def shared_build(tmp_path_factory, name: str, db_name: str, *args: str, write_inputs=None) -> Path:
    """`build(folder/db_name, *args)` run once per test run for every module that builds the same database
    (the same files and options) and only reads it: a build takes seconds of dbt, so modules share it, also
    across the pytest-xdist workers. `write_inputs(folder)`, when given, writes the build's own input files
    into the shared folder first and returns the build's arguments (then `args` are added after them).
    Tests must not change the database or write beside it; copy it to do so."""
    with shared_folder(tmp_path_factory, name) as folder:
        db, done = folder / db_name, folder / ".built.json"
        if done.exists():
            assert json.loads(done.read_text()) == [db_name, *args], f"{name}: two different builds share the name"
            return db
        assert build(db, *(write_inputs(folder) if write_inputs else []), *args) == 0
        done.write_text(json.dumps([db_name, *args]))
        return db


# --- the builds that several modules read, each made once per test run -----------------------------------

# the real files of tests/data/real (SOURCE.md)
LPT_EXPORT = REAL_DATA / "lpt_transfers_0xf977_2021-06_2025-09.csv"  # the seed project's LPT export of a wallet
ETL_TRANSFERS = REAL_DATA / "erc20_token_transfers_blocks_12600000-12600050.csv"  # every ERC-20 transfer of 51 blocks
ETL_LABELS = REAL_DATA / "exchange_labels_etherscan_2023-06.csv"
ETL_BLOCK0_TIME = 1623202380  # block 12,600,000: 2021-06-09 01:33:00 UTC (about; SOURCE.md)


def write_etl_blocks(path: Path) -> Path:
    """The blocks file of the ethereum-etl file, which has no timestamps: blocks 12,600,000-12,600,050, about
    13 s apart, all on 2021-06-09."""
    return write_csv(path, ["number", "timestamp"], [[12_600_000 + i, ETL_BLOCK0_TIME + 13 * i] for i in range(51)])


def sample_default_db(tmp_path_factory) -> Path:
    """`cexflow build --full-check` of the bundled sample with the project's defaults (sample.duckdb)."""
    return shared_build(tmp_path_factory, "sample_default", "sample.duckdb")


def lpt_export_default_db(tmp_path_factory) -> Path:
    """The real LPT export built with the default settings of dbt_project.yml (lpt.duckdb)."""
    return shared_build(tmp_path_factory, "lpt_export_default", "lpt.duckdb", "--input", str(LPT_EXPORT))


def usdt_one_day_db(tmp_path_factory) -> Path:
    """The real ethereum-etl file (one day, 2021-06-09) built for USDT with its blocks and the 2023 exchange
    labels (usdt.duckdb), without deposit inference: the counts checked on it are of the labelled wallets' own
    transfers (the file's whole-token rows also show about 40 deposit addresses, which inference finds:
    test_deposit_addresses_real.py)."""
    return shared_build(tmp_path_factory, "usdt_one_day", "usdt.duckdb", "--token", "USDT",
                        "--labels", str(ETL_LABELS), "--no-deposit-inference",
                        write_inputs=lambda d: ["--input", str(ETL_TRANSFERS),
                                                "--blocks", str(write_etl_blocks(d / "blocks.csv"))])


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


# --- the Markdown tables of the reports, read back -------------------------------------------------


def tables(text: str) -> list[tuple[str, list[dict]]]:
    """Every Markdown table of `text` as (the last heading before it, rows as {header: cell})."""
    found, heading, lines = [], "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        if line.startswith("|") and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1]):
            header = cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, cells(lines[i]), strict=True)))
                i += 1
            found.append((heading, rows))
            continue
        i += 1
    return found


def cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def table(text: str, heading: str, index: int = 0) -> list[dict]:
    matching = [rows for h, rows in tables(text) if h == heading]
    assert matching, f"no table under heading {heading!r}"
    return matching[index]


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real files of tests/data/real (see its SOURCE.md). They are part of the clone: a missing file is a
    failure, not a skip."""
    assert REAL_DATA.is_dir(), f"missing {REAL_DATA}: the real test data is tracked in the repository"
    return REAL_DATA


# The scopes that take longest run first, so that with pytest-xdist (`make test`: --dist loadscope, a module, or
# a class of test_docs_commands.py, per worker) no worker is left alone with a long one at the end: the
# DuckDB/Spark comparison alone takes minutes. xdist would otherwise order the scopes by their number of
# tests, which says little about their time (pytest_configure turns that off).
# By the time of each module (setup and calls, summed) in a run of the whole suite on two busy cores.
SLOW_MODULES_FIRST = ("test_compare_engines.py", "test_spark_cluster.py", "test_docs_commands.py",
                      "test_multi_token_reports.py", "test_build_real_data.py", "test_dbt_runs.py",
                      "test_multi_token.py", "test_charts.py", "test_evaluate_detection.py", "test_docs_site.py",
                      "test_agent.py", "test_incremental.py", "test_report.py", "test_bad_input.py")


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist's --no-loadscope-reorder
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    def rank(item):
        name = item.path.name
        return SLOW_MODULES_FIRST.index(name) if name in SLOW_MODULES_FIRST else len(SLOW_MODULES_FIRST)

    items.sort(key=rank)  # a stable sort: the order within a module is kept
