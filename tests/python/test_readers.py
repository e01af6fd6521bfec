"""Readers never block the build: `cexflow build` and `cexflow agent` succeed while other processes hold the
database open read-only (a Python reader and the DuckDB shell), the readers' snapshot stays whole while the
build runs, and a reader that opens afterwards reads the new build, every table and view of it; `cexflow
report` and `cexflow docs` work beside them too. Where a lock
cannot be had (another writer, another build), the error is one plain line naming the file and what to do.
A failed build leaves the database as it was; a WAL left beside the database is built on, never replayed onto
the new file (cexflow.files).

The history: days i = 0-29 (2025-01-01..30) each have a deposit of 10 + (i mod 3) LPT to binance14 and a 5 LPT
withdrawal from kraken_cold1; file B adds day 30 with three 10 LPT deposits, file C day 31 with one 1,000 LPT
deposit. Every transfer touches a labelled wallet and none is between two exchanges, so in any whole build
  exchange transfers = transfers kept (rpt_input_reconciliation), the total's netflow = the sum of the
  exchanges' netflows, and the z-scores end on the total's last day;
by hand: A alone holds 60 transfers and a netflow of 30 * (10 - 5) + 10 * (0 + 1 + 2) = 180 over 30 days; A+B
63 transfers, netflow 210, 31 days; A+B+C 64 transfers, netflow 1,210, 32 days.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, KRAKEN1, PROJECT_ROOT, etherscan_row, query, user, write_csv

from cexflow import dbt_runner
from cexflow.cli import main as cexflow_main
from cexflow.files import MIB, wal_of, working_copy, working_folder_of

DAY0 = int(dt.datetime(2025, 1, 1, tzinfo=dt.UTC).timestamp())

# one row of numbers from the marts only, read in one statement (so from one snapshot of the database)
SNAPSHOT = """
select
    (select count(*) from fct_exchange_transfers) as exchange_transfers,
    (select sum(transfers_kept) from rpt_input_reconciliation) as transfers_kept,
    (select count(*) from rpt_input_reconciliation) as files,
    (select count(*) from fct_netflow_daily_total) as days,
    (select cast(max(flow_date) as varchar) from fct_netflow_daily_total) as last_day,
    (select cast(max(flow_date) as varchar) from fct_netflow_zscores) as last_scored_day,
    (select cast(sum(netflow) as varchar) from fct_netflow_daily_total) as total_netflow,
    (select cast(sum(netflow) as varchar) from fct_netflow_daily_by_exchange) as exchanges_netflow
"""
READER = """
import json, sys, time, pathlib, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
stop = pathlib.Path(sys.argv[2])
while True:
    print(json.dumps(con.execute(sys.argv[3]).fetchone()), flush=True)
    if stop.exists():
        break
    time.sleep(0.1)
"""
# a process that has the database open for writing, as a shell opened without -readonly would
WRITER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1])
print("open", flush=True)
sys.stdin.read()
"""
# a process that holds the build lock of the database, as a running `cexflow build` does
BUILD_LOCK_HOLDER = """
import sys
from pathlib import Path
from cexflow.files import exclusive_lock, lock_path_of
with exclusive_lock(lock_path_of(Path(sys.argv[1]))):
    print("locked", flush=True)
    sys.stdin.read()
"""


def day_file(path: Path, rows: list[dict]) -> Path:
    return write_csv(path, ETHERSCAN_HEADER, rows)


def history(d: Path) -> dict[str, Path]:
    a = [r for i in range(30) for r in (
        etherscan_row(f"a{i}-in", DAY0 + i * 86400 + 3600, user(i), BINANCE14, str(10 + i % 3)),
        etherscan_row(f"a{i}-out", DAY0 + i * 86400 + 7200, KRAKEN1, user(100 + i), "5"))]
    b = [etherscan_row(f"b{k}", DAY0 + 30 * 86400 + 3600 * (k + 1), user(200 + k), BINANCE14, "10") for k in range(3)]
    c = [etherscan_row("c0", DAY0 + 31 * 86400 + 3600, user(300), BINANCE14, "1000")]
    return {"a": day_file(d / "a.csv", a), "b": day_file(d / "b.csv", b), "c": day_file(d / "c.csv", c)}


def snapshot(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(SNAPSHOT)
        names = [c[0] for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def as_dict(row: list) -> dict:
    names = ["exchange_transfers", "transfers_kept", "files", "days", "last_day", "last_scored_day",
             "total_netflow", "exchanges_netflow"]
    return dict(zip(names, row, strict=True))


def expected(transfers: int, files: int, days: int, netflow: str) -> dict:
    last = (dt.date(2025, 1, 1) + dt.timedelta(days=days - 1)).isoformat()
    return {"exchange_transfers": transfers, "transfers_kept": transfers, "files": files, "days": days,
            "last_day": last, "last_scored_day": last, "total_netflow": netflow, "exchanges_netflow": netflow}


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (.venv/bin/duckdb runs the shell's binary as its child)."""
    found, stack = [], [pid]
    while stack:
        p = stack.pop()
        found.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            stack += [int(c) for c in (task / "children").read_text().split()]
    return found


def holds_open(pid: int, db: Path) -> bool:
    """Whether process `pid` or one of its descendants has the file `db` open (their /proc fd links)."""
    for p in process_tree(pid):
        for fd in Path(f"/proc/{p}/fd").iterdir():
            try:
                if Path(os.readlink(fd)) == db:
                    return True
            except OSError:
                continue
    return False


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def spawn(code: str, *argv: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-u", "-c", code, *argv], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT, **kwargs)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "\x1b" not in err
    return err


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return history(tmp_path_factory.mktemp("readers_history"))


def test_build_and_agent_succeed_beside_readers_whose_snapshot_stays_whole(files, tmp_path, capsys):
    db = tmp_path / "marts.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["a"])]) == 0
    before = expected(60, 1, 30, "180.000000000000000000")
    assert snapshot(db) == before

    stop = tmp_path / "stop"
    reader = spawn(READER, str(db), str(stop), SNAPSHOT)
    shell = subprocess.Popen([str(Path(sys.executable).with_name("duckdb")), "-readonly", "-csv", "-noheader",
                              str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        first = reader.stdout.readline()
        assert as_dict(json.loads(first)) == before, reader.stderr.read()
        wait_until(lambda: holds_open(shell.pid, db), "the DuckDB shell to open the database")

        # cexflow build adds file B while both readers hold the database open
        assert cexflow_main(["build", "--db", str(db), "--input", str(files["a"]), "--input", str(files["b"])]) == 0
        out = capsys.readouterr().out
        assert "incremental build (1 new file(s))" in out and "warning:" not in out
        after_build = expected(63, 2, 31, "210.000000000000000000")
        assert snapshot(db) == after_build  # a reader that opens now reads the new build

        # the agent rebuilds through the same build, with file C, the readers still there
        state, reports = tmp_path / "state.json", tmp_path / "reports"
        argv = ["agent", "--db", str(db), "--state", str(state), "--out", str(reports)]
        assert cexflow_main([*argv, *(f"--input={files[k]}" for k in "abc")]) == 0
        agent_out = capsys.readouterr().out.splitlines()
        after_agent = expected(64, 3, 32, "1210.000000000000000000")
        assert snapshot(db) == after_agent
        # it alerted on the anomalies of the new build, among them the 1,000 LPT day (day 31, 2025-02-01): one
        # alert per episode of the marts
        anomalies = {(s, d.isoformat()) for s, d in query(db, "select series, flow_date from rpt_netflow_anomalies")}
        assert {("binance", "2025-02-01"), ("total", "2025-02-01")} <= anomalies
        ((episodes,),) = query(db, "select count(distinct (episode_series, episode_start_date)) "
                                   "from rpt_netflow_anomalies")
        assert agent_out[0].startswith(f"[ALERT] {episodes} new anomalies. Report: ")

        # the readers of the project read beside them too: the reports, and the docs site (its dbt reads a copy)
        assert cexflow_main(["report", "--db", str(db), "--out", str(tmp_path / "report")]) == 0
        assert (tmp_path / "report" / "reports" / "anomalies.md").is_file()
        assert cexflow_main(["docs", "--db", str(db), "--out", str(tmp_path / "site")]) == 0
        assert (tmp_path / "site" / "index.html").is_file() and (tmp_path / "site" / "dbt" / "index.html").is_file()
        capsys.readouterr()

        # the shell still reads the database it opened: the first build's
        shell_out, shell_err = shell.communicate("select count(*), sum(netflow) from fct_netflow_daily_total;\n",
                                                 timeout=60)
        assert shell_out.split() == ["30,180.000000000000000000"], shell_err
    finally:
        stop.touch()
        reader_out, reader_err = reader.communicate(timeout=60)
        if shell.poll() is None:  # the test failed before the shell's turn: end it and its binary
            for pid in reversed(process_tree(shell.pid)):
                os.kill(pid, 9)
            shell.wait(timeout=30)
    seen = [as_dict(json.loads(line)) for line in [first, *reader_out.splitlines()]]
    assert reader.returncode == 0, reader_err
    # the reader sampled every 0.1 s through both builds (each takes seconds) and always saw the first build
    assert len(seen) > 10
    assert all(s == before for s in seen)

    # a fresh reader reads every table and view of the new database: the views name the database's catalog
    with duckdb.connect(str(db), read_only=True) as con:
        relations = con.execute("select table_name, table_type from information_schema.tables "
                                "where table_schema = 'main' order by table_name").fetchall()
        for name, _ in relations:
            con.execute(f'select count(*) from "{name}"').fetchone()
    kinds = {kind for _, kind in relations}
    assert kinds == {"BASE TABLE", "VIEW"}
    assert {"fct_exchange_transfers", "fct_netflow_zscores", "rpt_input_reconciliation"} <= {n for n, _ in relations}
    # nothing of the builds is left beside the database but their lock file (the agent keeps no fingerprint
    # file beside it: the database records its build, cexflow.build.recorded_build)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(db.name)) == [
        "marts.duckdb", "marts.duckdb.lock"]


@pytest.fixture(scope="module")
def built(files, tmp_path_factory):
    db = tmp_path_factory.mktemp("readers_built") / "marts.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["a"])]) == 0
    return db


def stamp(db: Path) -> tuple[int, int, int]:
    st = db.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def test_a_second_writer_is_one_clean_line_naming_the_file_and_what_to_do(built, files, capsys):
    capsys.readouterr()
    before = stamp(built)
    writer = spawn(WRITER, str(built))
    try:
        assert writer.stdout.readline() == "open\n", writer.stderr.read()
        agent_options = ["--state", str(built.with_name("state.json")), "--out", str(built.parent)]
        for command, extra in (("build", []), ("agent", agent_options)):
            assert cexflow_main([command, "--db", str(built), "--input", str(files["b"]), *extra]) == 2
            err = one_line_error(capsys)
            assert err.startswith(f"cexflow {command}: error: --db {built}: another process (PID {writer.pid}, ")
            assert "has this database open for writing" in err and "close it, then run again" in err
    finally:
        writer.communicate("", timeout=30)
    assert stamp(built) == before
    assert not working_folder_of(built).exists()


def test_a_second_build_of_one_database_is_one_clean_line(built, files, capsys):
    capsys.readouterr()
    holder = spawn(BUILD_LOCK_HOLDER, str(built))
    try:
        assert holder.stdout.readline() == "locked\n", holder.stderr.read()
        assert cexflow_main(["build", "--db", str(built), "--input", str(files["b"])]) == 2
        err = one_line_error(capsys)
        assert err == (f"cexflow build: error: --db {built}: another cexflow build (pid {holder.pid}) is building "
                       f"this database (lock {built}.lock); wait for it to finish, then run again\n")
    finally:
        holder.communicate("", timeout=30)


def test_a_failed_build_leaves_the_database_and_no_working_copy(built, files, capsys, monkeypatch):
    # a killed build's leftovers are in the way; then dbt fails for memory (DuckDB limited to 2 MB)
    leftovers = working_folder_of(built)
    leftovers.mkdir()
    (leftovers / built.name).write_text("half a database")
    before, rows = stamp(built), snapshot(built)
    capsys.readouterr()
    monkeypatch.setenv("CEXFLOW_DUCKDB_MEMORY", "2MB")
    assert cexflow_main(["build", "--db", str(built), "--input", str(files["a"]), "--full-refresh"]) == 2
    err = one_line_error(capsys)
    assert err.startswith("cexflow build: error: dbt build failed: model.cexflow.") and "(models/" in err
    assert "Out of Memory Error" in err and "CEXFLOW_DUCKDB_MEMORY=4GB" in err
    assert stamp(built) == before and snapshot(built) == rows
    assert not leftovers.exists()


def test_too_little_disk_for_the_working_copy_is_one_line_before_any_work(built, files, capsys, monkeypatch):
    size = built.stat().st_size  # an incremental build's copy needs this much beside the database (no WAL)
    assert not wal_of(built).exists()
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10 * MIB, used=9 * MIB, free=MIB))
    before = stamp(built)
    capsys.readouterr()
    assert cexflow_main(["build", "--db", str(built), "--input", str(files["a"]), "--input", str(files["b"])]) == 2
    assert one_line_error(capsys) == (
        f"cexflow build: error: --db {built}: a build writes a copy of the database beside it and needs "
        f"{size / MIB:,.0f} MiB free there (and room to grow), but {built.parent} has 1 MiB free; free some disk "
        "space, then run again\n")
    assert stamp(built) == before and not working_folder_of(built).exists()


def test_a_full_build_writes_a_new_file_the_size_of_a_fresh_build(tmp_path):
    # the bundled sample, built twice in full into one database (--full-refresh) and once into a new one: the
    # rebuilt file is the fresh one's size, not the first build's plus the space its dropped tables held
    db, fresh = tmp_path / "again.duckdb", tmp_path / "fresh.duckdb"
    assert cexflow_main(["build", "--db", str(db)]) == 0
    first = db.stat().st_size
    assert cexflow_main(["build", "--db", str(db), "--full-refresh"]) == 0
    assert cexflow_main(["build", "--db", str(fresh)]) == 0
    assert abs(db.stat().st_size - fresh.stat().st_size) <= fresh.stat().st_size // 10
    assert abs(db.stat().st_size - first) <= first // 10
    assert snapshot(db) == snapshot(fresh)


def test_a_wal_beside_the_database_is_built_on_and_never_replayed_onto_the_new_file(tmp_path):
    # a writer killed before its checkpoint leaves its last transaction in the WAL only
    db = tmp_path / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create table t as select 1 as a")
    subprocess.run([sys.executable, "-c", "import duckdb, os, sys; con = duckdb.connect(sys.argv[1]); "
                    "con.execute('insert into t values (2)'); os._exit(0)", str(db)], check=True)
    assert wal_of(db).exists()

    # a failed build leaves both files as they were
    with pytest.raises(RuntimeError), working_copy(db):
        raise RuntimeError("the build failed")
    assert query(db, "select a from t order by a") == [(1,), (2,)]

    with working_copy(db) as work:
        with duckdb.connect(str(work)) as con:
            assert con.execute("select a from t order by a").fetchall() == [(1,), (2,)]  # the copy has the WAL's row
            con.execute("insert into t values (3)")
    # had the old WAL stayed beside the new file, opening it would insert 2 a second time
    assert not wal_of(db).exists() and not working_folder_of(db).exists()
    assert query(db, "select a from t order by a") == [(1,), (2,), (3,)]


ISSUE_OUTPUT = (  # dbt's output when another process held the file (issue 13), colours and times included
    "\x1b[0m07:30:43  Running with dbt=1.11.16\n"
    "\x1b[0m07:30:43  Finished running  in 0 hours 0 minutes and 0.04 seconds (0.04s).\n"
    "\x1b[0m07:30:43  Encountered an error:\n"
    'IO Error: Could not set lock on file "/data/cexflow.duckdb": Conflicting lock is held in /usr/bin/duckdb '
    "(PID 4242). See also https://duckdb.org/docs/stable/connect/concurrency\n"
    "\x1b[0m07:30:43  Traceback (most recent call last):\n"
    '  File "dbt/adapters/duckdb/connections.py", line 110, in exception_handler\n'
)


def test_dbt_failures_are_one_plain_line_naming_the_node_or_file_and_what_to_do(tmp_path):
    assert dbt_runner.first_dbt_failure(tmp_path, ISSUE_OUTPUT) == (
        "--db /data/cexflow.duckdb: another process (PID 4242, /usr/bin/duckdb) has this database open; close "
        "it, then run again")
    compile_error = ("\x1b[0m07:30:43  Encountered an error:\nCompilation Error\n"
                     "  dbt could not find a macro with the name 'x' in any package.\n")
    assert dbt_runner.first_dbt_failure(tmp_path, compile_error) == (
        "Encountered an error: Compilation Error dbt could not find a macro with the name 'x' in any package.; "
        "rerun with --verbose for dbt's output")
    # a failed data test: its node from run_results.json, its file from manifest.json
    uid = "test.cexflow.assert_netflow_reconciles_to_transfers"
    (tmp_path / "run_results.json").write_text(json.dumps({"results": [
        {"unique_id": "model.cexflow.stg_transfers", "status": "success", "message": "OK"},
        {"unique_id": uid, "status": "fail", "message": "\x1b[31mGot 2 results, configured to fail if != 0\x1b[0m"},
    ]}))
    (tmp_path / "manifest.json").write_text(json.dumps({"nodes": {
        uid: {"original_file_path": "tests/assert_netflow_reconciles_to_transfers.sql"}}}))
    assert dbt_runner.first_dbt_failure(tmp_path, "") == (
        f"{uid} (tests/assert_netflow_reconciles_to_transfers.sql): Got 2 results, configured to fail if != 0; "
        "a data test failed on these inputs: rerun with --verbose for dbt's output and the failing test")
