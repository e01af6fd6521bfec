"""The DuckDB-shell queries of docs/marts.md work as written: read from the page, typed into the shell that the
project installs (`.venv/bin/duckdb`, the same version as the library that wrote the file), on the bundled
sample plus a file of two bad rows, and their output agrees with the marts read through the library."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import subprocess
import sys
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT, query
from test_docs_site import sample_db_with_rejected_rows

PAGE = "docs/marts.md"
SECTION = "## Ad-hoc queries in the DuckDB shell"
SHELL = Path(sys.executable).with_name("duckdb")
CENT = Decimal("0.01")


def readme_queries(heading: str = SECTION, page: str = PAGE) -> list[str]:
    """The SQL of a section of a page (up to the next heading): in its `sql` blocks, the paragraphs that begin
    with a `--` comment."""
    text = (PROJECT_ROOT / page).read_text(encoding="utf-8")
    assert heading in text, f"{page} has no section {heading!r}"
    section = re.split(r"^#", text.split(heading, 1)[1], maxsplit=1, flags=re.M)[0]
    code = "\n".join(re.findall(r"^```sql\n(.*?)^```", section, flags=re.M | re.S))
    paragraphs = code.split("\n\n")
    return [p.strip() for p in paragraphs if p.strip().startswith("--")]


def shell_rows(db: Path, sql: str) -> list[dict]:
    """Type `sql` into the DuckDB shell on `db` (read-only, as the README says) and read its CSV output."""
    proc = subprocess.run([str(SHELL), "-readonly", "-csv", str(db)], input=sql, text=True, capture_output=True,
                          timeout=60)
    assert proc.returncode == 0 and not proc.stderr, f"the shell failed on:\n{sql}\n{proc.stderr}"
    return list(csv.DictReader(io.StringIO(proc.stdout)))


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return sample_db_with_rejected_rows(tmp_path_factory)


@pytest.fixture(scope="module")
def queries() -> dict[str, str]:
    found = readme_queries()
    assert len(found) == 4, f"expected four queries in {PAGE}, found {len(found)}"
    return dict(zip(("week_by_exchange", "anomalies_30_days", "rejected_rows", "whale_ratio_and_30_days"), found,
                    strict=True))


def test_the_shell_is_the_library_version():
    assert SHELL.exists(), f"{SHELL}: the duckdb shell is not installed (pip package duckdb-cli)"
    out = subprocess.run([str(SHELL), "--version"], capture_output=True, text=True, check=True).stdout
    assert f"v{duckdb.__version__}" in out, f"shell {out.strip()} but library {duckdb.__version__}"


def test_readme_shows_how_to_open_the_database():
    assert "\n.venv/bin/duckdb -readonly cexflow.duckdb\n```\n" in (PROJECT_ROOT / PAGE).read_text()


def test_week_netflow_by_exchange(db, queries):
    rows = shell_rows(db, queries["week_by_exchange"])
    (last,) = query(db, "select max(flow_date) from fct_netflow_daily_by_exchange")[0]
    expected: dict[str, list] = {}
    for exchange, day, inflow, outflow, netflow, deposits, withdrawals in query(db, """
            select exchange, flow_date, inflow, outflow, netflow, n_deposits, n_withdrawals
            from fct_netflow_daily_by_exchange"""):
        sums = expected.setdefault(exchange, [Decimal(0), Decimal(0), Decimal(0), 0, 0])
        if last - dt.timedelta(days=7) < day <= last:
            for i, value in enumerate((inflow, outflow, netflow, deposits, withdrawals)):
                sums[i] += value
    assert [r["exchange"] for r in rows] == sorted(expected, key=lambda e: -expected[e][2])  # every exchange
    for r in rows:
        inflow, outflow, netflow, deposits, withdrawals = expected[r["exchange"]]
        assert Decimal(r["inflow"]) == inflow.quantize(CENT)
        assert Decimal(r["outflow"]) == outflow.quantize(CENT)
        assert Decimal(r["netflow"]) == netflow.quantize(CENT)
        assert (int(r["deposits"]), int(r["withdrawals"])) == (deposits, withdrawals)
    assert sum(int(r["deposits"]) for r in rows) > 0


def test_anomalies_of_the_last_30_days(db, queries):
    rows = shell_rows(db, queries["anomalies_30_days"])
    (last,) = query(db, "select max(flow_date) from fct_netflow_daily_total")[0]
    expected = sorted(((day, series, direction, z) for day, series, direction, z in query(
        db, "select flow_date, series, direction, zscore from rpt_netflow_anomalies")
        if day > last - dt.timedelta(days=30)), key=lambda a: (a[0], abs(a[3])), reverse=True)
    assert expected, "the sample has anomalies in its last 30 days (2025-06-02 gate, 2025-06-21 total, ...)"
    got = [(dt.date.fromisoformat(r["flow_date"]), r["series"], r["direction"], float(r["z"])) for r in rows]
    assert [g[:3] for g in got] == [e[:3] for e in expected]
    assert all(abs(g[3] - round(e[3], 2)) < 1e-9 for g, e in zip(got, expected, strict=True))
    assert {"total", "binance"} <= {g[1] for g in got if g[0] == dt.date(2025, 6, 21)}  # a planted day


def test_rejected_rows_of_the_last_build(db, queries):
    rows = shell_rows(db, queries["rejected_rows"])
    got = [(Path(r["source_file"]).name, int(r["line_number"]), r["reason"]) for r in rows]
    assert [(f, line) for f, line, _ in got] == [("bad_rows.csv", 2), ("bad_rows.csv", 3)]
    assert got[0][2].startswith("malformed to address") and got[1][2].startswith("negative amount")


def test_whale_ratio_and_30_day_net_position_of_the_last_day(db, queries):
    # independently, from the transfers: an exchange's deposits are the transfers into it from outside it, its
    # withdrawals those out of it; the whale ratio is the ten largest deposits of the last day over all of them,
    # the 30-day change the deposits minus the withdrawals of the last 30 days, the day included
    rows = shell_rows(db, queries["whale_ratio_and_30_days"])
    (last,) = query(db, "select max(flow_date) from fct_netflow_daily_by_exchange")[0]
    deposits: dict[str, list[Decimal]] = {}
    change: dict[str, Decimal] = {}
    cumulative: dict[str, Decimal] = {}
    for day, frm, to, amount in query(db, """
            select flow_date, from_exchange, to_exchange, amount from fct_exchange_transfers"""):
        for exchange, sign in ((to, 1), (frm, -1)):
            if exchange is None or frm == to:
                continue
            cumulative[exchange] = cumulative.get(exchange, Decimal(0)) + sign * amount
            if day > last - dt.timedelta(days=30):
                change[exchange] = change.get(exchange, Decimal(0)) + sign * amount
            if day == last and sign == 1:
                deposits.setdefault(exchange, []).append(amount)
    got = {r["exchange"]: r for r in rows}
    assert set(got) == set(cumulative)
    for exchange, r in got.items():
        day_deposits = sorted(deposits.get(exchange, []), reverse=True)
        if day_deposits:
            ratio = float(sum(day_deposits[:10])) / float(sum(day_deposits))
            assert float(r["whale_ratio"]) == pytest.approx(round(ratio, 3), abs=1e-9)
        else:
            assert r["whale_ratio"] == "NULL"  # the shell writes NULL
        assert Decimal(r["netflow_30d"]) == change.get(exchange, Decimal(0)).quantize(CENT, ROUND_HALF_UP)
        assert Decimal(r["since_first_day"]) == cumulative[exchange].quantize(CENT, ROUND_HALF_UP)
    assert [Decimal(r["netflow_30d"]) for r in rows] == sorted((Decimal(r["netflow_30d"]) for r in rows),
                                                              reverse=True)
