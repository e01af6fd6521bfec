"""`cexflow build` with no --input builds the bundled sample (what `make run` does), and the marts it
leaves can be queried with the DuckDB shell the project installs."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, query, sample_default_db

SAMPLE_PLANTED = PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.planted.csv"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory):
    return sample_default_db(tmp_path_factory)  # build(db), shared with test_sql_in_marts.py


def test_sample_marts_cover_a_complete_calendar(sample_db):
    (first, last, days), = query(sample_db,
                                 "select min(flow_date), max(flow_date), count(*) from fct_netflow_daily_total")
    assert (first, last) == (date(2025, 3, 1), date(2025, 6, 28))  # data/sample/README.md: 120 days
    assert days == (last - first).days + 1
    (exchanges,), = query(sample_db, "select count(distinct exchange) from fct_netflow_daily_by_exchange")
    # the 13 seed wallets belong to 8 exchanges: every exchange has a row on every day
    assert exchanges == 8
    assert query(sample_db, "select count(*) from fct_netflow_daily_by_exchange") == [(8 * days,)]


def test_the_default_flags_the_planted_days_and_nothing_else(sample_db):
    # data/sample's planted file lists the 5 planted days. With the default settings each is an anomaly in its
    # direction on its exchange or, where the exchange's move is below the materiality threshold on its own
    # series (gate's 30,182 LPT on 2025-06-02: 2.34 scales against 2.5), on the total; no other day is.
    with open(SAMPLE_PLANTED, newline="") as fh:
        planted = list(csv.DictReader(fh))
    assert len(planted) == 5
    anomalies = query(sample_db, "select series, cast(flow_date as varchar), direction from rpt_netflow_anomalies")
    for p in planted:
        assert {(s, d) for s, d, direction in anomalies if d == p["flow_date"] and direction == p["direction"]
                } & {(p["exchange"], p["flow_date"]), ("total", p["flow_date"])}, p
    assert {d for _, d, _ in anomalies} == {p["flow_date"] for p in planted}
    # one alert (episode) per planted day: a total's anomaly joins the exchange that explains it
    assert query(sample_db, "select count(distinct (episode_series, episode_start_date)) from rpt_netflow_anomalies"
                 ) == [(5,)]


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


def test_the_readme_quotes_the_sample_builds_summary(sample_db):
    # README's "It prints a short summary" shows the default build of the bundled sample: its anomaly line
    # must be this build's (the count of rpt_netflow_anomalies, the default method, the series)
    from cexflow.methods import project_vars

    (anomalies, series), = query(sample_db, """select (select count(*) from rpt_netflow_anomalies),
        (select count(distinct series) from fct_netflow_zscores)""")
    line = f"\n{anomalies} anomalies ({project_vars()['zscore_method']}) in {series} series; marts in"
    assert line in (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
