"""`cexflow build` with no --input builds the bundled sample (what `make run` does), and the marts it
leaves can be queried with the DuckDB shell the project installs."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, build, query

SAMPLE_PLANTED = PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.planted.csv"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    db = tmp_path_factory.mktemp("sample") / "sample.duckdb"
    assert build(db) == 0
    return db


def test_sample_marts_cover_a_complete_calendar(sample_db):
    (first, last, days), = query(sample_db,
                                 "select min(flow_date), max(flow_date), count(*) from fct_netflow_daily_total")
    assert (first, last) == (date(2025, 3, 1), date(2025, 6, 28))  # data/sample/README.md: 120 days
    assert days == (last - first).days + 1
    (exchanges,), = query(sample_db, "select count(distinct exchange) from fct_netflow_daily_by_exchange")
    # the 13 seed wallets belong to 8 exchanges: every exchange has a row on every day
    assert exchanges == 8
    assert query(sample_db, "select count(*) from fct_netflow_daily_by_exchange") == [(8 * days,)]


def test_planted_days_are_flagged_in_their_direction(sample_db):
    with open(SAMPLE_PLANTED, newline="") as fh:
        planted = list(csv.DictReader(fh))
    assert len(planted) == 5
    for p in planted:
        rows = query(sample_db, f"""select is_anomaly, direction from fct_netflow_zscores
            where series = '{p["exchange"]}' and flow_date = date '{p["flow_date"]}'""")
        assert rows == [(True, p["direction"])], p


def test_duckdb_shell_opens_the_built_file(sample_db):
    # the README's query, through the duckdb shell installed in the venv (same version as the library)
    shell = Path(sys.executable).with_name("duckdb")
    proc = subprocess.run([str(shell), "-readonly", "-csv", str(sample_db), "-c",
                           "from fct_netflow_daily_by_exchange order by flow_date, exchange limit 5"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith("chain,token_address,flow_date,exchange,inflow,outflow,netflow")
    assert len(lines) == 6 and all(",2025-03-01," in line for line in lines[1:])


def test_duckdb_library_and_shell_are_one_version():
    import duckdb

    shell = Path(sys.executable).with_name("duckdb")
    out = subprocess.run([str(shell), "--version"], capture_output=True, text=True).stdout
    assert duckdb.__version__ in out


def test_screened_method_with_the_evaluations_settings_flags_the_planted_days(tmp_path):
    # docs/detection_quality.md recommends --method screened --window 112 --z 3.5: on the bundled sample it
    # still flags each planted day, in its direction
    db = tmp_path / "screened.duckdb"
    assert build(db, "--method", "screened", "--window", "112", "--z", "3.5") == 0
    with open(SAMPLE_PLANTED, newline="") as fh:
        planted = list(csv.DictReader(fh))
    for p in planted:
        rows = query(db, f"""select is_anomaly, direction, method from fct_netflow_zscores
            where series = '{p["exchange"]}' and flow_date = date '{p["flow_date"]}'""")
        assert rows == [(True, p["direction"], "screened")], p
