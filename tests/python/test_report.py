"""`cexflow report`: charts exist at their size, every number of every report equals the marts, links work.

One build of a 75-day synthetic history (`cexflow.sample`, eight exchanges, internal and cross-exchange
transfers, planted anomaly days) plus a file of bad rows; the reports are rendered once per module and read
back: each Markdown table is parsed and compared, cell by cell, with the marts formatted the same way.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import re
import struct
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import (
    BINANCE14,
    ETHERSCAN_HEADER,
    PLAIN_TRAILING,
    PROJECT_ROOT,
    build,
    etherscan_row,
    query,
    table,
    tables,
    user,
    write_csv,
)
from test_agent import day_rows, spike

from cexflow import charts, cli, docs, report
from cexflow.cli import main as cexflow_main
from cexflow.db import spark_schema_dir
from cexflow.errors import CexflowError
from cexflow.present import fmt_amount, fmt_signed, fmt_z, shown
from cexflow.sample import write_sample

START = dt.date(2025, 3, 1)
DAYS = 75


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("report")
    write_sample(d / "sample" / "history.csv", days=DAYS, scale=0.5, seed=11, start=START)
    ts = int(dt.datetime(2025, 4, 2, 12, tzinfo=dt.UTC).timestamp())
    good = etherscan_row("r1", ts, user(1), BINANCE14, "12.5")
    bad_address = dict(etherscan_row("r2", ts, user(2), BINANCE14, "3"), to="0xnot-an-address")
    negative = dict(etherscan_row("r3", ts, user(3), BINANCE14, "3"), value="-5")
    write_csv(d / "inputs" / "late_with_bad_rows.csv", ETHERSCAN_HEADER, [good, bad_address, negative])
    path = d / "marts.duckdb"
    assert build(path, "--input", str(d / "sample" / "history.csv"), "--input", str(d / "inputs"),
                 *PLAIN_TRAILING) == 0
    return path


@pytest.fixture(scope="module")
def out(db, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("out")
    result = report.make_reports(db, out)
    assert result.reports_dir == out / "reports"
    return out / "reports"


# --- reading Markdown back (tables, table: conftest) -----------------------------------------------


def number(cell: str) -> Decimal:
    assert re.fullmatch(r"[+-]?\d{1,3}(,\d{3})*(\.\d+)?", cell), f"not a number for people: {cell!r}"
    return Decimal(cell.replace(",", ""))


def cents(value) -> Decimal:
    """What the report must print for a mart value: exact for DECIMAL, the double rounded to 2 places."""
    return Decimal(fmt_amount(value).replace(",", ""))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


# --- number formatting ------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    (Decimal("1234567.885"), "1,234,567.88"),  # half-even: ...8|5 -> 8
    (Decimal("1234567.895"), "1,234,567.90"),
    (Decimal("0.005"), "0.00"),
    (Decimal("0.015"), "0.02"),
    (Decimal("-0.001"), "0.00"),  # no '-0.00'
    (Decimal("1E+21"), "1,000,000,000,000,000,000,000.00"),  # never scientific notation
    (Decimal("0.000000000000000001"), "0.00"),
    (Decimal("-98765.4321"), "-98,765.43"),
    (1e-7, "0.00"),
    (2.5e16, "25,000,000,000,000,000.00"),
    (None, "–"),
])
def test_amounts_are_formatted_for_people(value, expected):
    assert fmt_amount(value) == expected


def test_signed_and_z_formatting():
    assert fmt_signed(Decimal("1234.5")) == "+1,234.50"
    assert fmt_signed(Decimal("-1234.5")) == "-1,234.50"
    assert fmt_signed(Decimal("0")) == "0.00"
    assert fmt_z(3.14159) == "+3.14"
    assert fmt_z(-12.005) == "-12.00"  # a double is rounded from its shortest repr, half-even
    assert fmt_z(None) == "–"
    # a z in the hundreds or thousands (a baseline that hardly moved) is shown capped; alerts give it exactly
    assert (fmt_z(99.994), fmt_z(100), fmt_z(-8912.3)) == ("+99.99", "> +100", "< -100")


# --- charts -------------------------------------------------------------------------------------------


def test_every_chart_exists_as_a_png_of_the_expected_size(db, out):
    (n_exchanges,), = query(db, "select count(distinct exchange) from fct_netflow_daily_by_exchange")
    expected = {c["name"]: (charts.WIDTH_PX, charts.HEIGHT_PX) for c in shown().overview_charts}
    expected["netflow_by_exchange"] = (charts.WIDTH_PX, charts.figure_height_px(n_exchanges))
    for name, size in expected.items():
        path = out / "img" / f"{name}.png"
        assert png_size(path) == size, name
        assert path.stat().st_size > 20_000, f"{name} looks empty"


def test_charts_of_an_empty_frame_still_render(tmp_path):
    import pandas as pd

    empty = pd.DataFrame(columns=["flow_date", "exchange", "inflow", "outflow", "netflow", "baseline_mean",
                                  "baseline_std", "zscore", "is_anomaly", "direction"])
    common = {"symbol": "LPT", "chain": "ethereum", "period": "no data"}
    paths = [
        charts.plot_inflow_outflow(empty, tmp_path / "a.png", **common),
        charts.plot_netflow_by_exchange(empty, tmp_path / "b.png", groups=[], **common),
        charts.plot_cumulative_netflow(empty, tmp_path / "c.png", groups=[], **common),
        charts.plot_zscore(empty, tmp_path / "d.png", **common, z_threshold=3, method="trailing", window_days=28),
        charts.plot_transfer_size_histogram([], tmp_path / "e.png", **common, subject="x"),
    ]
    for path in paths:
        assert png_size(path)[0] == charts.WIDTH_PX


def test_long_periods_are_drawn_as_weekly_or_monthly_bars():
    assert charts.bar_bins(120)[1] == "daily"
    assert charts.bar_bins(400)[1] == "weekly"
    assert charts.bar_bins(1540)[1] == "monthly"


# --- the reports equal the marts ------------------------------------------------------------------


def test_summary_totals_equal_the_marts(db, out):
    text = (out / "summary.md").read_text()
    rows = {r["measure"]: r["value"] for r in table(text, "Totals")}
    (inflow, outflow, netflow, internal, cross, n_dep, n_wd), = query(db, """
        select sum(inflow), sum(outflow), sum(netflow), sum(internal_volume), sum(cross_exchange_volume),
               sum(n_deposits), sum(n_withdrawals) from fct_netflow_daily_total""")
    assert number(rows["inflow to exchanges (LPT)"]) == cents(inflow)
    assert number(rows["outflow from exchanges (LPT)"]) == cents(outflow)
    assert number(rows["netflow (LPT)"]) == cents(netflow)
    assert number(rows["internal volume, between wallets of one exchange (LPT)"]) == cents(internal)
    assert number(rows["cross-exchange volume, between two exchanges (LPT)"]) == cents(cross)
    assert internal > 0 and cross > 0
    assert number(rows["deposits"]) == n_dep
    assert number(rows["withdrawals"]) == n_wd
    (n_transfers,), = query(db, "select count(*) from fct_exchange_transfers")
    assert number(rows["transfers touching an exchange address"]) == n_transfers
    (n_anomalies,), = query(db, "select count(*) from rpt_netflow_anomalies")
    assert number(rows["anomalies in all 9 series (total and each exchange)"]) == n_anomalies
    assert number(rows["input rows rejected"]) == 2
    assert f"{DAYS} days, 2025-03-01 to 2025-05-14 (UTC)" in text


def test_summary_largest_days_and_busiest_exchanges_equal_the_marts(db, out):
    text = (out / "summary.md").read_text()
    expected = query(db, """
        select t.flow_date, t.netflow, t.inflow, t.outflow, z.zscore from fct_netflow_daily_total as t
        join fct_netflow_zscores as z on z.series = 'total' and z.flow_date = t.flow_date
        where t.netflow > 0 order by t.netflow desc limit 5""")
    got = table(text, "Net inflow to exchanges")
    assert [r["date"] for r in got] == [str(e[0]) for e in expected]
    for r, (_, net, inflow, outflow, z) in zip(got, expected, strict=True):
        assert number(r["netflow (LPT)"]) == cents(net)
        assert (number(r["inflow (LPT)"]), number(r["outflow (LPT)"])) == (cents(inflow), cents(outflow))
        assert r["z"] == fmt_z(z)
    expected = query(db, """
        select exchange, sum(inflow), sum(outflow), sum(netflow), sum(internal_volume), sum(n_deposits),
               sum(n_withdrawals), (select count(*) from rpt_netflow_anomalies a where a.series = e.exchange)
        from fct_netflow_daily_by_exchange e group by exchange order by sum(inflow) + sum(outflow) desc""")
    got = table(text, "Busiest exchanges")
    assert [r["exchange"] for r in got] == [e[0] for e in expected]
    for r, (_, inflow, outflow, net, internal, dep, wd, anomalies) in zip(got, expected, strict=True):
        assert number(r["inflow (LPT)"]) == cents(inflow)
        assert number(r["outflow (LPT)"]) == cents(outflow)
        assert number(r["netflow (LPT)"]) == cents(net)
        assert number(r["internal volume (LPT)"]) == cents(internal)
        assert (number(r["deposits"]), number(r["withdrawals"]), number(r["anomaly days"])) == (dep, wd, anomalies)


def test_summary_reports_the_rejected_rows(db, out):
    text = (out / "summary.md").read_text()
    files = {Path(r["file"].strip("`")).name: r for r in table(text, "Inputs and rejected rows")}
    assert files["late_with_bad_rows.csv"]["rejected"] == "2"
    assert files["late_with_bad_rows.csv"]["transfers kept"] == "1"
    expected = query(db, "select reason, count(*) from stg_transfers_rejected group by reason order by reason")
    got = sorted((r["reason"], int(r["rows"])) for r in table(text, "Inputs and rejected rows", 1))
    assert got == expected
    lines = [(Path(r["file"].strip("`")).name, r["line"]) for r in table(text, "Inputs and rejected rows", 2)]
    assert lines == [("late_with_bad_rows.csv", "3"), ("late_with_bad_rows.csv", "4")]


def test_topk_report_equals_the_marts(db, out):
    text = (out / "topk.md").read_text()
    assert "**Method `trailing`** (window 28 days, threshold |z| ≥ 3)" in text
    series = [s for s, in query(db, "select distinct series from rpt_topk_netflow_days order by series")]
    assert "total" in series and len(series) == 9
    for name in series:
        got = table(text, "All exchanges (total)" if name == "total" else name)
        expected = query(db, f"""
            with flows as (
                select 'total' as series, flow_date, inflow, outflow from fct_netflow_daily_total
                union all select exchange, flow_date, inflow, outflow from fct_netflow_daily_by_exchange)
            select k.rank, k.flow_date, k.netflow, k.zscore, f.inflow, f.outflow, k.is_anomaly, k.direction
            from rpt_topk_netflow_days k join flows f using (series, flow_date)
            where k.series = '{name}' order by k.rank""")
        assert len(got) == len(expected) == 10, name
        for r, (rank, day, net, z, inflow, outflow, is_anomaly, direction) in zip(got, expected, strict=True):
            assert (int(r["rank"]), r["date"]) == (rank, str(day))
            assert number(r["netflow (LPT)"]) == cents(net)
            assert r["z"] == fmt_z(z)
            assert (number(r["inflow (LPT)"]), number(r["outflow (LPT)"])) == (cents(inflow), cents(outflow))
            assert r["anomaly"] == (direction if is_anomaly else "")


def test_anomaly_report_equals_the_marts(db, out):
    text = (out / "anomalies.md").read_text()
    got = table(text, "Every anomaly day")
    expected = query(db, """
        select flow_date, series, direction, netflow, baseline_mean, baseline_std, baseline_days, zscore,
               materiality, materiality_scale, deviation
        from rpt_netflow_anomalies order by flow_date, series <> 'total', series""")
    assert len(got) == len(expected) > 0
    for r, (day, series, direction, net, mean, std, days, z, materiality, scale, deviation) in zip(
            got, expected, strict=True):
        assert (r["date"], r["series"], r["direction"]) == (str(day), series, direction)
        assert number(r["netflow (LPT)"]) == cents(net)
        assert number(r["baseline mean (LPT)"]) == cents(mean)
        assert number(r["spread σ (LPT)"]) == cents(std)
        assert int(r["baseline days"]) == days
        assert r["z"] == fmt_z(z)
        # materiality beside z: |netflow − baseline mean| / the token's scale, checked from the other columns
        assert number(r["materiality"]) == cents(materiality)
        assert number(r["materiality scale (LPT)"]) == cents(scale)
        assert abs(materiality - abs(float(net) - mean) / scale) < 1e-9 and abs(deviation) == abs(float(net) - mean)
    assert "materiality: its deviation from the baseline in units of" in text


SCREENED = ("--method", "screened", "--window", "28", "--z", "3", "--min-history", "14", "--exclude-z", "3",
            "--spread-floor", "0", "--active-spread-floor", "0", "--min-active-days", "0", "--no-materiality")


def test_the_chart_band_is_the_methods_and_a_screened_out_spike_does_not_widen_it(tmp_path):
    # binance14 receives 100 + p and sends 100 each day, p cycling through (10, -10, 5, -5, 0, 8, -8); on day 30
    # (2025-01-31) a 5,000 LPT deposit. Screened leaves that day out of the baselines after it, so the band of
    # the 28 days after it stays as narrow as before; a plain trailing baseline would hold the spike for 28 days.
    rows = [r for i in range(60) for r in day_rows(i)] + [spike("spike30", 30, user(99), BINANCE14, "5000")]
    db = tmp_path / "screened.duckdb"
    assert build(db, "--input", str(write_csv(tmp_path / "history.csv", ETHERSCAN_HEADER, rows)), *SCREENED) == 0
    ov = report.load_overview(db)
    rank = next(g["group_rank"] for g in ov.panel_groups if g["exchange_group"] == "binance")
    frame = ov.panels[ov.panels["group_rank"] == rank].reset_index(drop=True)
    band = charts.baseline_band(frame, ov.method.z_threshold)
    marts = {str(d): (mean, std, z, a) for d, mean, std, z, a in query(db, """select flow_date, baseline_mean,
        baseline_std, zscore, is_anomaly from fct_netflow_zscores where series = 'binance'""")}
    for day, centre, lower, upper in zip(band["flow_date"], band["centre"], band["lower"], band["upper"],
                                         strict=True):
        mean, std, z, _ = marts[str(day)]
        if z is None:  # no band before enough history
            assert np.isnan(centre) and np.isnan(upper)
        else:  # the band is the mart's baseline: mean ± 3 × spread
            assert (centre, lower, upper) == pytest.approx((mean, mean - 3 * std, mean + 3 * std))
    width = dict(zip(map(str, band["flow_date"]), band["upper"] - band["lower"], strict=True))
    before = width["2025-01-31"]  # the spike day's own band: days 2 to 29
    after = [width[str(dt.date(2025, 2, 1) + dt.timedelta(days=k))] for k in range(28)]
    assert max(after) < 1.5 * before
    # by an independent method: a plain trailing σ (numpy, ddof 1) of the 28 days before 2025-02-01 holds the
    # spike: ~945 LPT against the pattern's ~7, a band ~130 times wider
    netflow = np.array([float(n) for n in frame["netflow"]])
    plain = 6 * np.std(netflow[3:31], ddof=1)
    assert plain > 50 * after[0]
    # the markers are the days the marts flag: the spike day only
    flagged = [str(d) for d, a in zip(frame["flow_date"], frame["is_anomaly"], strict=True) if a]
    assert flagged == [d for d, v in marts.items() if v[3]] == ["2025-01-31"]
    assert "leaving out days that were far from their own baseline" in ov.method.description()


def test_planted_days_appear_in_the_anomaly_report(db, out):
    planted_file = db.parent / "sample" / "history.planted.csv"
    with open(planted_file, newline="") as fh:
        planted = list(csv.DictReader(fh))
    assert planted
    rows = {(r["date"], r["series"], r["direction"]) for r in table((out / "anomalies.md").read_text(),
                                                                     "Every anomaly day")}
    for p in planted:
        assert (p["flow_date"], p["exchange"], p["direction"]) in rows


def test_csv_exports_hold_the_exact_mart_values(db, out):
    with open(out / "data" / "topk_netflow_total.csv", newline="") as fh:
        total = list(csv.DictReader(fh))
    expected = query(db, "select rank, flow_date, netflow, zscore from rpt_topk_netflow_days "
                         "where series = 'total' order by rank")
    assert [(int(r["rank"]), r["flow_date"], Decimal(r["netflow"]), float(r["zscore"])) for r in total] == \
        [(rank, str(day), net, z) for rank, day, net, z in expected]
    assert total[0]["method"] == "trailing" and total[0]["window_days"] == "28"
    with open(out / "data" / "topk_netflow_by_exchange.csv", newline="") as fh:
        by_exchange = list(csv.DictReader(fh))
    (n,), = query(db, "select count(*) from rpt_topk_netflow_days where series <> 'total'")
    assert len(by_exchange) == n and {"exchange", "inflow", "outflow"} <= set(by_exchange[0])
    with open(out / "data" / "top_netflow_anomalies.csv", newline="") as fh:
        anomalies = list(csv.DictReader(fh))
    expected = query(db, "select flow_date, series, netflow from rpt_netflow_anomalies "
                         "order by flow_date, series <> 'total', series")
    assert [(r["flow_date"], r["series"], Decimal(r["netflow"])) for r in anomalies] == \
        [(str(d), s, net) for d, s, net in expected]
    for path in (out / "data").glob("*.csv"):
        assert not re.search(r"\d[eE][+-]?\d", path.read_text().replace("0x", "")), f"exponent in {path}"


def test_reports_never_use_scientific_notation_and_links_are_relative(out):
    for path in out.rglob("*.md"):
        text = path.read_text()
        assert not re.search(r"\b\d+(\.\d+)?[eE][+-]?\d+\b", text), path
        for link in re.findall(r"\]\(([^)]+)\)", text):
            assert not link.startswith(("/", "http")), (path, link)
            assert (path.parent / link).exists(), f"{path.name}: broken link {link}"


def test_index_lists_the_reports_charts_and_exports(out):
    text = (out / "index.md").read_text()
    for link in ("summary.md", "topk.md", "anomalies.md", "img/netflow_by_exchange.png",
                 "data/topk_netflow_total.csv", "data/topk_netflow_by_exchange.csv", "data/top_netflow_anomalies.csv"):
        assert f"]({link})" in text


# --- focus reports ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def focus_exchange(db, out):
    result = report.make_reports(db, out.parent, start="2025-04-01", end="2025-04-30", focus="Binance")
    return result.focus, (out / "focus" / "binance_2025-04-01_2025-04-30.md").read_text()


def test_focus_on_an_exchange_equals_the_marts(db, out, focus_exchange):
    focus, text = focus_exchange
    assert focus.subject.kind == "exchange"
    rows = {r["measure"]: r["value"] for r in tables(text)[0][1]}
    period = "flow_date between date '2025-04-01' and date '2025-04-30'"
    (inflow, outflow, net, days), = query(db, f"""select sum(inflow), sum(outflow), sum(netflow), count(*)
        from fct_netflow_daily_by_exchange where exchange = 'binance' and {period}""")
    assert number(rows["inflow (LPT)"]) == cents(inflow)
    assert number(rows["outflow (LPT)"]) == cents(outflow)
    assert number(rows["netflow (LPT)"]) == cents(net)
    assert number(rows["days"]) == days == 30
    (n, volume, largest), = query(db, f"""select count(*), sum(amount), max(amount) from fct_exchange_transfers
        where {period} and 'binance' in (from_exchange, to_exchange)""")
    assert number(rows["transfers"]) == n
    assert number(rows["total volume (LPT)"]) == cents(volume)
    assert number(rows["largest transfer (LPT)"]) == cents(largest)
    top = query(db, f"""select tx_hash, amount from fct_exchange_transfers
        where {period} and 'binance' in (from_exchange, to_exchange)
        order by amount desc, transferred_at, tx_hash limit 10""")
    got = table(text, "Largest transfers")
    assert [(r["tx hash"].strip("`"), number(r["amount (LPT)"])) for r in got] == [(h, cents(a)) for h, a in top]
    for name in ("daily_volume", "top_transfers", "transfer_size_hist", "in_vs_out", "netflow", "netflow_baseline"):
        path = out / "focus" / "img" / f"binance_2025-04-01_2025-04-30_{name}.png"
        assert png_size(path) == (charts.WIDTH_PX, charts.HEIGHT_PX), name


def test_focus_on_a_wallet_address_equals_the_wallet_mart(db, out):
    result = report.make_reports(db, out.parent, start="2025-03-10", end="2025-03-20", focus=BINANCE14.upper())
    focus = result.focus
    assert (focus.subject.kind, focus.subject.name, focus.subject.exchange) == ("wallet", "binance14", "binance")
    text = (out / "focus" / f"{focus.slug}.md").read_text()
    rows = {r["measure"]: r["value"] for r in tables(text)[0][1]}
    (inflow, outflow, net), = query(db, f"""select sum(inflow), sum(outflow), sum(netflow)
        from fct_netflow_daily_by_wallet where wallet_address = '{BINANCE14}'
        and flow_date between date '2025-03-10' and date '2025-03-20'""")
    assert number(rows["inflow (LPT)"]) == cents(inflow)
    assert number(rows["outflow (LPT)"]) == cents(outflow)
    assert number(rows["netflow (LPT)"]) == cents(net)
    index = (out / "index.md").read_text()
    assert f"](focus/{focus.slug}.md)" in index and "](summary.md)" in index


def test_focus_period_without_subject_covers_all_exchanges(db, out):
    result = report.make_reports(db, out.parent, start="2025-05-01")
    assert result.focus.subject.kind == "all"
    assert (result.focus.start, result.focus.end) == (dt.date(2025, 5, 1), dt.date(2025, 5, 14))
    text = (out / "focus" / "all-exchanges_2025-05-01_2025-05-14.md").read_text()
    rows = {r["measure"]: r["value"] for r in tables(text)[0][1]}
    (net,), = query(db, "select sum(netflow) from fct_netflow_daily_total where flow_date >= date '2025-05-01'")
    assert number(rows["netflow (LPT)"]) == cents(net)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"focus": "nosuchexchange"}, "--focus nosuchexchange: no exchange, wallet or wallet address"),
    ({"start": "2025-13-01"}, "--start 2025-13-01: not a date"),
    ({"start": "2025-04-02", "end": "2025-04-01"}, "--start 2025-04-02 is after --end 2025-04-01"),
    ({"start": "2024-01-01", "end": "2024-01-31"}, "no days in that period; the marts cover 2025-03-01 to 2025-05-14"),
])
def test_bad_focus_options_give_one_line_errors(db, tmp_path, kwargs, message):
    with pytest.raises(CexflowError, match=re.escape(message)):
        report.make_reports(db, tmp_path, **kwargs)


def test_missing_database_is_a_one_line_error(tmp_path):
    with pytest.raises(CexflowError, match="no such database"):
        report.make_reports(tmp_path / "nope.duckdb", tmp_path)


def test_run_through_the_subcommand_parser(db, tmp_path, capsys):
    assert cli.run_report(cli.parse(["report", "--db", str(db), "--out", str(tmp_path), "--focus", "kraken"])) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 reports" in printed and "kraken_2025-03-01_2025-05-14.md" in printed


def test_installed_command_renders_and_fails_in_one_line(db, tmp_path):
    exe = Path(sys.executable).with_name("cexflow")
    proc = subprocess.run([str(exe), "report", "--db", str(db), "--out", str(tmp_path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"wrote 4 reports, 7 charts and 3 CSV files to {tmp_path / 'reports'}")
    proc = subprocess.run([str(exe), "report", "--db", str(db), "--out", str(tmp_path), "--focus", "nosuch"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("cexflow report: error: --focus nosuch: no exchange, wallet or wallet address")
    assert len(proc.stderr.strip().splitlines()) == 1


# --- where the reports go without --out -----------------------------------------------------------------


def committed_reports() -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in report.PROJECT_REPORTS.rglob("*") if p.is_file()}


def test_the_reports_of_another_database_go_beside_it(db, monkeypatch, capsys):
    # a new user's `cexflow report --db my.duckdb` (relative, from the folder of the file) and a CEXFLOW_DB
    # pointing elsewhere: the reports go to <name>.reports/ beside the database, and the project's committed
    # sample reports in docs/sample-reports/ stay byte for byte as they were
    before = committed_reports()
    assert (report.PROJECT_REPORTS / "summary.md") in before  # the clone holds the sample's reports
    beside = db.parent / "marts.reports"
    monkeypatch.chdir(db.parent)
    assert cexflow_main(["report", "--db", "marts.duckdb"]) == 0
    assert f" to {beside}\n" in capsys.readouterr().out
    assert {p.name for p in beside.iterdir()} >= {"summary.md", "topk.md", "anomalies.md", "index.md", "img"}
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv("CEXFLOW_DB", str(db))
    assert cexflow_main(["report", "--focus", "kraken"]) == 0
    assert (beside / "focus" / "kraken_2025-03-01_2025-05-14.md").is_file()
    assert committed_reports() == before


def test_the_reports_of_a_spark_build_go_into_its_folder(db, tmp_path, capsys):
    # a Spark warehouse as `cexflow build --target spark` leaves it (a folder of parquet files per table),
    # written here from the DuckDB marts; its reports go to <spark-dir>/reports/
    spark_dir = tmp_path / "spark"
    with duckdb.connect(str(db), read_only=True) as con:
        for (name,) in con.execute("select table_name from information_schema.tables "
                                   "where table_schema = 'main'").fetchall():
            folder = spark_schema_dir(spark_dir) / name
            folder.mkdir(parents=True)
            con.execute(f"copy (from \"{name}\") to '{folder / 'part-0.parquet'}' (format parquet)")
    assert cexflow_main(["report", "--spark-dir", str(spark_dir)]) == 0
    assert f"to {spark_dir / 'reports'}\n" in capsys.readouterr().out
    assert (spark_dir / "reports" / "summary.md").is_file()


def test_default_folders_of_the_projects_database_and_of_others(tmp_path):
    project_db = PROJECT_ROOT / "cexflow.duckdb"
    assert report.default_reports_dir(project_db) == PROJECT_ROOT / "docs" / "sample-reports"  # what `make run` commits
    assert docs.default_site_dir(project_db) == PROJECT_ROOT / "site"
    assert report.default_reports_dir(tmp_path / "my.duckdb") == tmp_path / "my.reports"
    assert docs.default_site_dir(tmp_path / "my.duckdb") == tmp_path / "my.site"
    assert report.default_reports_dir(tmp_path / "x.reports") == tmp_path / "x.reports.reports"  # never the file
    parser = argparse.ArgumentParser()
    cli.report_arguments(parser)
    assert "my.duckdb -> my.reports/" in " ".join(parser.format_help().split())
