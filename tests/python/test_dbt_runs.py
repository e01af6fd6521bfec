"""How `cexflow build` runs dbt: the progress it shows (a changing line on a terminal, plain lines in a log,
the summary on stdout unchanged), dbt's partial parsing across builds of one database, and the data tests of
the incremental tables, which check the rows a build wrote unless --full-check."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys

import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, PROJECT_ROOT, etherscan_row, query, user, write_csv

from cexflow import dbt_runner
from cexflow.cli import main as cexflow_main
from cexflow.progress import DbtProgress

DAY = 1735689600  # 2025-01-01 UTC


def day_file(path, day: int, n: int = 3):
    """An Etherscan CSV of n deposits into binance14 on day `day` (0 = 2025-01-01)."""
    return write_csv(path, ETHERSCAN_HEADER,
                     [etherscan_row(f"{day}-{i}", DAY + day * 86400 + i, user(i), BINANCE14, str(i + 1))
                      for i in range(n)])


def test_a_quick_build_writes_only_its_summary(tmp_path, capsys):
    # not a terminal, and no step of this build takes seconds: stderr stays empty (so that a failure is the
    # one line on it), the summary is on stdout as before
    f = day_file(tmp_path / "d0.csv", 0)
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), "--input", str(f)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == ("read 3 rows from 1 file(s): 3 transfers kept, 0 duplicates, 0 rejected, "
                                            "0 of other tokens")
    assert captured.err == ""


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def node(kind: str, name: str, status: str = "success") -> dict:
    return {"node_info": {"unique_id": f"{kind}.cexflow.{name}", "node_name": name, "resource_type": kind,
                          "node_status": status}}


def test_a_log_gets_a_line_for_each_slow_step_and_one_at_the_end():
    clock, log = Clock(), io.StringIO()
    shown = DbtProgress(stream=log, live=False, with_unit_tests=False, slow_s=2.0, long_s=10.0, clock=clock)
    shown.on_event("FoundStats", {"stat_line": "3 models, 4 data tests, 1 seed, 500 macros, 6 unit tests"})
    for kind, name, seconds in (("seed", "tokens", 0.1), ("model", "stg_transfers__rows_validated", 9.5),
                                ("test", "not_null_x", 0.2), ("model", "fct_exchange_transfers", 0.4)):
        shown.on_event("NodeStart", node(kind, name))
        clock.now += seconds
        shown.on_event("NodeFinished", node(kind, name))
    shown.close()
    # the one step of 2 s or more, with the counts after it (seeds are models; unit tests not run), and the end
    assert log.getvalue().splitlines() == [
        "dbt build: model stg_transfers__rows_validated success in 9.5 s (2/4 models, 0/4 tests)",
        "dbt build done: 3/4 models, 1/4 tests in 10.2 s",
    ]


def test_a_log_of_a_quick_run_is_empty_and_of_a_long_one_has_its_end():
    for seconds, expected in ((0.5, []), (11.0, ["dbt build stopped: 1 models, 0 tests in 11.0 s"])):
        clock, log = Clock(), io.StringIO()
        shown = DbtProgress(stream=log, live=False, clock=clock)
        shown.on_event("NodeStart", node("model", "a"))
        clock.now += 1.0
        shown.on_event("NodeFinished", node("model", "a"))
        clock.now += seconds - 1.0
        shown.close(success=False)
        assert log.getvalue().splitlines() == expected


def test_a_terminal_gets_one_changing_line(tmp_path):
    f = day_file(tmp_path / "d0.csv", 0)
    main, secondary = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from cexflow.cli import main; sys.exit(main())",
                             "build", "--db", str(tmp_path / "x.duckdb"), "--input", str(f)],
                            cwd=PROJECT_ROOT, stdin=secondary, stdout=secondary, stderr=secondary)
    os.close(secondary)
    output = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        output += chunk
    assert proc.wait(timeout=120) == 0
    text = output.decode()
    shown = [part for part in text.split("\r\x1b[K") if part.startswith("dbt build: ")]
    assert len(shown) > 10  # the line was rewritten as the run went on
    assert any(" models, " in part and " tests" in part and " · " in part for part in shown)  # counts, the step
    assert "dbt build: model " not in text  # no log lines on a terminal
    assert "read 3 rows from 1 file(s)" in text.split("\r\x1b[K")[-1]  # the summary after the cleared line


class EventNames:
    """A progress display that records dbt's event names."""

    def __init__(self):
        self.names: list[str] = []

    def on_event(self, name, data):
        self.names.append(name)

    def close(self, success=True):
        pass


def test_a_rebuild_of_one_database_parses_only_what_changed(tmp_path):
    db = tmp_path / "x.duckdb"
    files = [str(day_file(tmp_path / f"d{day}.csv", day)) for day in range(2)]
    runs = []
    for input_files in ({"etherscan_csv": files[:1]}, {"etherscan_csv": files}):
        events = EventNames()
        dbt_runner.run_dbt(["parse"], db, "duckdb", input_files=input_files, progress=events)
        runs.append(events.names)
    # other input files (the environment, not --vars) do not make dbt parse the whole project again
    assert "PartialParsingEnabled" in runs[1] and "UnableToPartialParse" not in runs[1]


def test_full_check_runs_every_unit_test_of_the_models_yaml_once_and_each_passes(tmp_path, capfd):
    # the one build of the suite that runs dbt's unit tests (conftest.build leaves them out of the others'): on the
    # bundled sample, each unit test named in the models' YAML (read here with yaml, not from dbt's manifest) passes
    # once, and the run ends without an error
    import yaml

    names = sorted(f"{test['model']}::{test['name']}" for path in (PROJECT_ROOT / "models").rglob("*.yml")
                   for test in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("unit_tests", []))
    assert len(names) >= 20
    sample = PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.csv"
    args = ["build", "--db", str(tmp_path / "x.duckdb"), "--input", str(sample), "--full-check", "--verbose"]
    assert cexflow_main(args) == 0
    out = capfd.readouterr().out
    passed = sorted(re.findall(r" PASS (\S+::\S+) ", out))
    assert passed == names
    assert re.search(r"Done\. PASS=\d+ WARN=0 ERROR=0 ", out)


@pytest.fixture
def corrupted_history(tmp_path):
    """A database of one day, one of whose stored input rows was stored twice, and a second day's file."""
    db = tmp_path / "x.duckdb"
    first, second = day_file(tmp_path / "d0.csv", 0), day_file(tmp_path / "d1.csv", 1)
    assert cexflow_main(["build", "--db", str(db), "--input", str(first)]) == 0
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("insert into stg_transfers__rows_validated select * from stg_transfers__rows_validated "
                    "where line_number = 3")
    return db, [str(first), str(second)]


def test_an_incremental_build_checks_the_rows_it_wrote(corrupted_history, capsys):
    db, files = corrupted_history
    args = ["build", "--db", str(db), *[a for f in files for a in ("--input", f)]]
    assert cexflow_main(args) == 0  # the day it added is sound; the stored rows of the first day are not re-read
    assert "incremental build (1 new file(s))" in capsys.readouterr().out
    assert query(db, "select count(*) from stg_transfers__rows_validated where line_number = 3 "
                     "and source_file like '%d0.csv'") == [(2,)]


def test_full_check_tests_whole_tables(corrupted_history, capsys):
    db, files = corrupted_history
    assert cexflow_main(["build", "--db", str(db), "--input", files[0], "--full-check"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    # the row stored twice breaks the grain of the stored rows, and makes its transfer appear twice
    assert err.startswith("cexflow build: error: dbt build failed: test.cexflow.")
    assert ("grain_stg_transfers__rows_validated_source_file__line_number" in err
            or "unique_int_transfers_deduplicated_transfer_id" in err)


def test_the_netflow_reconciliation_of_an_incremental_build_reads_the_days_it_rewrote(tmp_path, capsys):
    # day 0 built; one of its exchange transfers altered in the stored table, so that day 0 no longer reconciles
    # with the daily marts (which a build computes from the classified transfers, not from fct_exchange_transfers)
    db = tmp_path / "x.duckdb"
    files = [day_file(tmp_path / f"d{day}.csv", day) for day in range(2)]
    assert cexflow_main(["build", "--db", str(db), "--input", str(files[0])]) == 0
    import duckdb

    with duckdb.connect(str(db)) as con:
        con.execute("update fct_exchange_transfers set amount = amount + 1 where transfer_id = "
                    "(select min(transfer_id) from fct_exchange_transfers)")
    # the build that adds day 1 checks day 1 (the day it rewrote) and passes
    args = ["build", "--db", str(db), *[a for f in files for a in ("--input", str(f))]]
    assert cexflow_main(args) == 0
    assert "incremental build (1 new file(s))" in capsys.readouterr().out
    # a file with a transfer on day 0 makes day 0 one the build rewrites: its check reads day 0 and fails
    late = write_csv(tmp_path / "late.csv", ETHERSCAN_HEADER,
                     [etherscan_row("late", DAY + 3600, user(9), BINANCE14, "5")])
    assert cexflow_main([*args, "--input", str(late)]) == 2
    assert "assert_netflow_reconciles_to_transfers" in capsys.readouterr().err.strip().splitlines()[-1]
    # and --full-check, which reads every day, fails on it too
    assert cexflow_main([*args, "--input", str(late), "--full-check"]) == 2
    assert "assert_netflow_reconciles_to_transfers" in capsys.readouterr().err.strip().splitlines()[-1]


def test_a_build_with_nothing_new_does_not_run_dbt(tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    args = ["build", "--db", str(db), "--input", str(day_file(tmp_path / "d0.csv", 0))]
    assert cexflow_main(args) == 0
    first = capsys.readouterr().out.splitlines()
    stamp = db.stat().st_mtime_ns
    assert cexflow_main(args) == 0
    again = capsys.readouterr().out.splitlines()
    # the same summary from the same file, which was not rewritten
    assert again[:3] == first[:3] and again[3] == "nothing new: the marts are up to date (dbt did not run)"
    assert db.stat().st_mtime_ns == stamp
    # another anomaly setting, --full-check or --full-refresh do run dbt
    for extra, mode in ((["--z", "3.5"], "incremental build (0 new file(s))"),
                        (["--full-check"], "incremental build (0 new file(s))"),
                        (["--full-refresh"], "full build (--full-refresh)")):
        assert cexflow_main([*args, *extra]) == 0
        assert capsys.readouterr().out.splitlines()[3] == mode, extra


def test_the_log_thresholds_come_from_the_environment(monkeypatch):
    from cexflow.errors import CexflowError
    from cexflow.progress import log_thresholds

    monkeypatch.setenv("CEXFLOW_PROGRESS_SLOW_S", "0.5")
    monkeypatch.setenv("CEXFLOW_PROGRESS_LONG_S", "45")
    assert log_thresholds() == {"slow_s": 0.5, "long_s": 45.0}
    monkeypatch.delenv("CEXFLOW_PROGRESS_SLOW_S")
    monkeypatch.delenv("CEXFLOW_PROGRESS_LONG_S")
    assert log_thresholds() == {}  # DbtProgress's own defaults (2 s and 10 s) then
    monkeypatch.setenv("CEXFLOW_PROGRESS_LONG_S", "soon")
    with pytest.raises(CexflowError, match=r"^\$CEXFLOW_PROGRESS_LONG_S 'soon': must be a number of seconds$"):
        log_thresholds()
