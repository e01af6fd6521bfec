"""The dbt analyses of analyses/ compile (`dbt compile`) to plain SQL that the DuckDB shell the project installs
runs on a built database, and their output is what the marts and the reports say.

The database is the bundled sample plus two unreadable rows (test_docs_site's shared build). Each analysis is
checked against another reader: the README's queries (themselves checked against the marts in
test_readme_queries), the focus report (checked against the old classification in test_sql_in_marts), the
marts' columns, and sums done here in Python.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, query
from test_docs_site import sample_db_with_rejected_rows
from test_readme_queries import readme_queries, shell_rows

from cexflow import present, report

DBT = Path(sys.executable).with_name("dbt")
ANALYSES = sorted(p.stem for p in (PROJECT_ROOT / "analyses").glob("*.sql"))
FOCUS_VARS = "{focus: binance20, start_date: '2025-05-20', end_date: '2025-06-05', top: 4}"


def compile_analyses(folder: Path, db_name: str, dbt_vars: str | None = None) -> Path:
    """`dbt compile --select path:analyses` into folder/target; the compiled SQL names the tables of a database
    file called `db_name` (dbt-duckdb writes the file's stem as the catalog), which the compile never opens."""
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT_ROOT), "CEXFLOW_DB": str(folder / db_name)}
    cmd = [str(DBT), "compile", "--select", "path:analyses", "--target-path", str(folder / "target"),
           "--log-path", str(folder / "logs"), *(["--vars", dbt_vars] if dbt_vars else [])]
    proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:]
    return folder / "target" / "compiled" / "cexflow" / "analyses"


def cents(value: Decimal) -> Decimal:
    """DuckDB's round(x, 2): half away from zero."""
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    built = sample_db_with_rejected_rows(tmp_path_factory)
    assert built.name == "cexflow.duckdb"
    return built


@pytest.fixture(scope="module")
def compiled(tmp_path_factory, db) -> Path:
    return compile_analyses(tmp_path_factory.mktemp("analyses"), db.name)


@pytest.fixture(scope="module")
def compiled_focus(tmp_path_factory, db) -> Path:
    return compile_analyses(tmp_path_factory.mktemp("analyses_focus"), db.name, FOCUS_VARS)


def run(db: Path, folder: Path, name: str) -> list[dict]:
    return shell_rows(db, (folder / f"{name}.sql").read_text())


def test_every_analysis_compiles_to_sql_the_shell_runs(db, compiled):
    assert {"last_days_by_exchange", "recent_anomalies", "rejected_rows", "focus_in_vs_out",
            "focus_largest_transfers", "exchange_flow_metrics", "weekly_netflow"} <= set(ANALYSES)
    for name in ANALYSES:
        sql = (compiled / f"{name}.sql").read_text()
        assert "{{" not in sql and "ref(" not in sql
        assert run(db, compiled, name), f"{name} gave no rows on the sample"  # rejected_rows has the two bad rows


def test_the_readme_queries_as_analyses_give_the_readme_output(db, compiled):
    week, anomalies, rejected = readme_queries()[:3]
    assert run(db, compiled, "last_days_by_exchange") == shell_rows(db, week)
    assert run(db, compiled, "recent_anomalies") == shell_rows(db, anomalies)
    rows = run(db, compiled, "rejected_rows")
    assert rows == shell_rows(db, rejected)
    assert [(Path(r["source_file"]).name, int(r["line_number"])) for r in rows] == [("bad_rows.csv", 2),
                                                                                    ("bad_rows.csv", 3)]


def test_the_focus_analyses_give_the_focus_report(db, compiled_focus):
    focus = report.load_focus(db, "2025-05-20", "2025-06-05", "binance20")
    rows = run(db, compiled_focus, "focus_in_vs_out")
    expected = {r["direction"]: (r["n_transfers"], cents(r["volume"]))
                for r in present.records(focus.by_flow_type)}
    assert {r["direction"]: (int(r["transfers"]), Decimal(r["volume"])) for r in rows} == expected
    assert all("2025-05-20" <= r["first_day"] <= r["last_day"] <= "2025-06-05" for r in rows)
    largest = run(db, compiled_focus, "focus_largest_transfers")
    assert [(r["tx_hash"], Decimal(r["amount"])) for r in largest] == \
        [(t["tx_hash"], t["amount"]) for t in present.records(focus.largest)[:4]]


def test_the_metrics_analysis_gives_the_marts_metrics_of_the_last_day(db, compiled):
    rows = run(db, compiled, "exchange_flow_metrics")
    marts = {x: (w, n30, cum) for x, w, n30, cum in query(db, """
        select exchange, last_whale_ratio, last_netflow_30d, last_cumulative_netflow
        from rpt_exchange_period_totals""")}
    assert {r["exchange"] for r in rows} == set(marts)
    for r in rows:
        whale, n30, cumulative = marts[r["exchange"]]
        assert (r["whale_ratio"] == "NULL") == (whale is None)  # the shell writes NULL
        if whale is not None:
            assert float(r["whale_ratio"]) == pytest.approx(round(whale, 3), abs=1e-12)
        assert Decimal(r["netflow_30d"]) == cents(n30)
        assert Decimal(r["cumulative_netflow"]) == cents(cumulative)


def test_the_weekly_analysis_sums_to_the_total(db, compiled):
    rows = run(db, compiled, "weekly_netflow")
    days = query(db, "select flow_date, inflow from fct_netflow_daily_total")
    weeks: dict[dt.date, Decimal] = {}
    for day, inflow in days:  # the ISO week by hand: back to its Monday
        monday = day - dt.timedelta(days=day.weekday())
        weeks[monday] = weeks.get(monday, Decimal(0)) + inflow
    assert [(dt.date.fromisoformat(r["week_start"]), Decimal(r["inflow"])) for r in rows] == \
        [(w, cents(v)) for w, v in sorted(weeks.items())]
    assert sum(int(r["n_days"]) for r in rows) == len(days) == 120
