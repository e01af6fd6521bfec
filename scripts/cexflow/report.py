"""`cexflow report`: charts (PNG), Markdown reports and CSV exports from the marts.

Library core:

- `render_reports(db, out, start, end, focus) -> ReportResult` does everything `cexflow report` does;
- `load_overview(db)` / `render_overview(overview, reports_dir)` the whole-range reports (period summary,
  top-k days, anomalies, their charts and the CSV exports);
- `load_focus(db, start, end, focus)` / `render_focus(data, reports_dir)` a focus report on one period and
  one exchange, wallet or all exchanges (as the seed project's "May–June 2025 focus" summary);
- `render_index(reports_dir)` the index of everything in the folder;
- `fmt_amount`, `fmt_signed`, `fmt_z`, `fmt_count`: how numbers are printed for people (also used by
  `cexflow agent`), with `cexflow.text.plural` for a count and its noun ("1 day", "2 days"; the templates'
  `plural` filter), and `template_environment()`, the one jinja2 Environment of the package.

Everything is written under `<out>/reports/` (without `out`: `default_reports_dir(db)`, beside the
database), with relative links only, so the folder can move (GitHub, the docs site). Amounts are read from
DuckDB as `Decimal` and printed exactly: rounded half-even to two places with thousands separators, never
through a float (floats are used only to draw).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import re
import tempfile
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import jinja2
import pandas as pd

from cexflow import charts
from cexflow.db import connect, connect_spark
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT, beside, is_project_db
from cexflow.text import netflow_sign_sentence, plural

HELP = ("Render charts (PNG), Markdown reports and CSV exports from the marts: the whole range, or a focus "
        "period, exchange or wallet.")

REPORTS_SUBDIR = "reports"
PROJECT_REPORTS = PROJECT_ROOT / "docs" / REPORTS_SUBDIR  # the reports of the project's own database (committed)
IMG_DIR = "img"
DATA_DIR = "data"
FOCUS_DIR = "focus"
TOP_DAYS = 5  # largest inflow and outflow days in the summary
TOP_TRANSFERS = 10  # largest transfers in a focus report
REJECTED_SHOWN = 20  # rejected rows listed in the summary

CENT = Decimal("0.01")

# Chart files of the overview: the reports and the index link to these names (what each shows:
# `overview_chart_texts`).
OVERVIEW_CHARTS = ("netflow_total_baseline", "inflow_outflow_total", "netflow_by_exchange", "zscore_total",
                   "cumulative_netflow_by_exchange")


def overview_chart_texts(n_days: int) -> dict[str, str]:
    """What each overview chart of a range of `n_days` shows, for the index, the docs site and the reports'
    alt texts: the inflow/outflow bars are daily, weekly or monthly sums by the length of the range
    (`charts.bar_bins`, as the chart's own title says)."""
    bars = charts.bar_bins(n_days)[1]
    return {
        "netflow_total_baseline": "total daily netflow with the baseline band and the anomaly days",
        "inflow_outflow_total": f"{bars} inflow (up) and outflow (down), all exchanges",
        "netflow_by_exchange": "daily netflow by exchange, one panel each",
        "zscore_total": "z-score of the total daily netflow with the ± threshold",
        "cumulative_netflow_by_exchange": "cumulative netflow by exchange (change in balance)",
    }


RESERVE_CHART = "reserve_by_exchange.png"  # only when the build has balance anchors (cexflow build --balances)

CSV_EXPORTS = ("topk_netflow_total.csv", "topk_netflow_by_exchange.csv", "top_netflow_anomalies.csv")


# --- numbers for people ------------------------------------------------------------------------------


def _to_decimal(value) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return None
        return Decimal(repr(value))
    return Decimal(value)


def fmt_amount(value, places: int = 2) -> str:
    """1234567.885 -> '1,234,567.88': exact for Decimals, half-even, thousands separators; None -> '–'."""
    number = _to_decimal(value)
    if number is None:
        return "–"
    quantum = Decimal(1).scaleb(-places)
    rounded = number.quantize(quantum, rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)  # no '-0.00'
    return f"{rounded:,.{places}f}"


def fmt_signed(value, places: int = 2) -> str:
    """fmt_amount with an explicit sign: '+1,234.50', '-17.00', '0.00'."""
    text = fmt_amount(value, places)
    if text == "–" or text.startswith("-") or Decimal(text.replace(",", "")) == 0:
        return text
    return "+" + text


def fmt_amount_exact(value) -> str:
    """Every digit of an amount, with thousands separators and at least 2 places: '5,000.00', '1.125',
    '0.000000000000000001' (the tables of transfers, quoted as the marts hold them)."""
    number = _to_decimal(value)
    if number is None:
        return "–"
    places = max(2, -number.normalize().as_tuple().exponent)
    return fmt_amount(number, places)


def fmt_z(value) -> str:
    """A z-score: '+3.42', '-5.10'; None -> '–'."""
    return fmt_signed(value, 2)


def fmt_count(value) -> str:
    return "–" if value is None else f"{int(value):,}"


def fmt_exact(value) -> str:
    """A number as exact plain text for CSV files: no exponent, no trailing zeros."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    return str(value)


def project_path(value) -> str:
    """A file path as shown in reports: relative to the project root when inside it, so that reports of the
    bundled sample read the same on every machine."""
    path = Path(str(value))
    try:
        return str(path.resolve().relative_to(PROJECT_ROOT))
    except ValueError:
        return str(path)


def md_cell(value) -> str:
    """Text safe inside a Markdown table cell."""
    return str(value).replace("|", "\\|").replace("\n", " ")


def template_environment() -> jinja2.Environment:
    """The package's jinja2 Environment for `templates/*.md.j2`, with the number filters."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cexflow", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )
    env.filters.update(amount=fmt_amount, signed=fmt_signed, z=fmt_z, count=fmt_count, plural=plural, md=md_cell,
                       path=project_path, exact=fmt_amount_exact)
    return env


# --- reading the marts ------------------------------------------------------------------------------


def read_frame(con, sql: str, params: list | dict | None = None) -> pd.DataFrame:
    """A query's rows as a DataFrame that keeps DuckDB's Python values (Decimal, date) as they are."""
    cur = con.execute(sql, params or [])
    columns = [d[0] for d in cur.description]
    return pd.DataFrame.from_records(cur.fetchall(), columns=columns)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts, with pandas' NaN/NaT turned back into None."""
    out = []
    for row in frame.to_dict("records"):
        out.append({k: (None if (isinstance(v, float) and math.isnan(v)) or v is pd.NaT else v)
                    for k, v in row.items()})
    return out


@dataclass(frozen=True)
class TokenInfo:
    chain: str
    address: str
    symbol: str
    decimals: int
    kind: str | None = None  # volatile, stablecoin or wrapped (seeds/tokens.csv); None: unknown
    underlying: str | None = None  # what a wrapped token wraps

    def sign_sentence(self) -> str:
        """The netflow sign in words that fit the token's kind (cexflow.text.netflow_sign_sentence)."""
        return netflow_sign_sentence(self.kind, self.symbol, self.underlying)


@dataclass(frozen=True)
class MethodInfo:
    """The anomaly settings of a build, as fct_netflow_zscores records them."""

    method: str
    window_days: int
    z_threshold: float
    top_k: int
    materiality_threshold: float | None = None
    min_amount: float = 0.0
    is_materiality_required: bool = False

    def description(self) -> str:
        w, days = plural(self.window_days, "calendar day"), plural(self.window_days, "day")
        text = {
            "trailing": f"the baseline of a day is the mean and the sample standard deviation (σ) of the {w} "
                        "before it (the day itself excluded); z = (netflow − mean) / σ",
            "inclusive": f"the seed project's method: mean and population standard deviation (σ) of a window of "
                         f"{days} that ends on the day itself; z = (netflow − mean) / σ",
            "robust": f"the baseline is the median and the MAD of the {w} before the day; "
                      "z = 0.6745 · (netflow − median) / MAD (the spread shown is MAD / 0.6745)",
            "screened": f"the baseline of a day is the mean and the sample standard deviation (σ) of the {w} "
                        "before it, leaving out days that were far from their own baseline, so "
                        "that a spike does not widen the baselines after it; σ is floored, so that a flat "
                        "baseline still scores; z = (netflow − mean) / σ",
        }.get(self.method, f"method {self.method}, window {days}")
        return f"{text}; {self.anomaly_rule()}"

    def anomaly_rule(self, short: bool = False) -> str:
        """What makes a day an anomaly under these settings (short: for a chart's subtitle)."""
        z = f"{self.z_threshold:g}"
        if not self.is_materiality_required or self.materiality_threshold is None:
            return f"a day is an anomaly when |z| ≥ {z}" + ("" if short else " (materiality not required)")
        m = f"{self.materiality_threshold:g}"
        floor = f" and at least {plural(self.min_amount, 'token unit')}" if self.min_amount else ""
        if short:
            return f"an anomaly: |z| ≥ {z} and a deviation ≥ {m} × the token's materiality scale{floor}"
        return (f"a day is an anomaly when |z| ≥ {z} and it is material: its deviation from the baseline is at "
                f"least {m} × the token's materiality scale (its typical daily exchange flow){floor}")

    @property
    def centre_name(self) -> str:
        return "median" if self.method == "robust" else "mean"

    @property
    def spread_name(self) -> str:
        return "MAD/0.6745" if self.method == "robust" else "σ"


def load_token(con) -> TokenInfo:
    row = con.execute("select chain, token_address, symbol, decimals, kind, underlying from stg_tokens__selected "
                      "limit 1").fetchone()
    if row is None:
        raise CexflowError("the marts name no token (stg_tokens__selected is empty); rebuild with `cexflow build`")
    chain, address, symbol, decimals, kind, underlying = row
    return TokenInfo(chain, address, symbol or address[:10], int(decimals), kind, underlying)


def load_method(con) -> MethodInfo | None:
    row = con.execute("""select method, window_days, z_threshold, materiality_threshold, min_amount,
                                is_materiality_required from fct_netflow_zscores limit 1""").fetchone()
    if row is None:
        return None
    top_k = con.execute("select coalesce(max(rank), 0) from rpt_topk_netflow_days").fetchone()[0]
    method, window, z, materiality, min_amount, required = row
    return MethodInfo(method, int(window), float(z), int(top_k),
                      None if materiality is None else float(materiality), float(min_amount or 0), bool(required))


def check_marts(con, db: Path) -> None:
    """A one-line error when the file lacks a mart the reports read."""
    needed = {"fct_exchange_transfers", "fct_netflow_daily_total", "fct_netflow_daily_by_exchange",
              "fct_netflow_daily_by_wallet", "fct_netflow_zscores", "rpt_netflow_anomalies",
              "rpt_topk_netflow_days", "stg_transfers_rejected", "rpt_input_reconciliation", "stg_tokens__selected"}
    present = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main'").fetchall()}
    missing = sorted(needed - present)
    if missing:
        raise CexflowError(f"--db {db}: missing marts {', '.join(missing)}; run `cexflow build` first")


_records = records  # older names, used by cexflow.docs
_check_marts = check_marts


def period_text(first: dt.date | None, last: dt.date | None) -> str:
    if first is None:
        return "no data"
    return f"{first} to {last}" if first != last else str(first)


# --- overview: the whole range ------------------------------------------------------------------------


@dataclass
class Overview:
    """Everything the whole-range reports show, read from the marts."""

    db: Path
    token: TokenInfo
    method: MethodInfo | None
    first_day: dt.date | None
    last_day: dt.date | None
    totals: dict
    total_daily: pd.DataFrame  # fct_netflow_daily_total + the 'total' z-scores
    by_exchange: pd.DataFrame  # fct_netflow_daily_by_exchange + that exchange's z-scores
    exchanges: pd.DataFrame  # one row per exchange: sums over the range
    largest_inflow_days: pd.DataFrame
    largest_outflow_days: pd.DataFrame
    topk: pd.DataFrame  # rpt_topk_netflow_days + inflow, outflow, baseline
    anomalies: pd.DataFrame  # rpt_netflow_anomalies + inflow, outflow
    reconciliation: pd.DataFrame
    rejected_reasons: pd.DataFrame
    rejected_rows: pd.DataFrame
    n_rejected: int
    reserves: pd.DataFrame | None = None  # fct_exchange_reserve_daily where the reserve is known
    reserve_unknown: pd.DataFrame | None = None  # exchanges with anchors whose reserve is unknown, and why

    @property
    def period(self) -> str:
        return period_text(self.first_day, self.last_day)


# inflow and outflow of a (series, flow_date): from the total or from the exchange's daily mart
_SERIES_FLOWS = """
    series_flows as (
        select 'total' as series, flow_date, inflow, outflow from fct_netflow_daily_total
        union all
        select exchange as series, flow_date, inflow, outflow from fct_netflow_daily_by_exchange
    )
"""


def load_overview(db: Path) -> Overview:
    db = Path(db)
    with connect(db) as con:
        check_marts(con, db)
        token = load_token(con)
        method = load_method(con)
        first_day, last_day, n_days = con.execute(
            "select min(flow_date), max(flow_date), count(*) from fct_netflow_daily_total").fetchone()
        totals_frame = read_frame(con, """
            select
                count(*) as days,
                coalesce(sum(inflow), 0) as inflow,
                coalesce(sum(outflow), 0) as outflow,
                coalesce(sum(netflow), 0) as netflow,
                coalesce(sum(internal_volume), 0) as internal_volume,
                coalesce(sum(cross_exchange_volume), 0) as cross_exchange_volume,
                coalesce(sum(n_deposits), 0) as n_deposits,
                coalesce(sum(n_withdrawals), 0) as n_withdrawals,
                coalesce(sum(n_internal), 0) as n_internal,
                coalesce(sum(n_cross_exchange), 0) as n_cross_exchange
            from fct_netflow_daily_total""")
        totals = records(totals_frame)[0]
        totals["n_transfers"] = con.execute("select count(*) from fct_exchange_transfers").fetchone()[0]
        totals["anomalies_total"] = con.execute(
            "select count(*) from rpt_netflow_anomalies where series = 'total'").fetchone()[0]
        totals["anomalies_all"] = con.execute("select count(*) from rpt_netflow_anomalies").fetchone()[0]
        totals["n_series"] = con.execute("select count(distinct series) from fct_netflow_zscores").fetchone()[0]
        total_daily = read_frame(con, """
            select t.flow_date, t.inflow, t.outflow, t.netflow, t.internal_volume, t.cross_exchange_volume,
                   t.n_deposits, t.n_withdrawals, z.baseline_mean, z.baseline_std, z.zscore,
                   coalesce(z.is_anomaly, false) as is_anomaly, z.direction
            from fct_netflow_daily_total as t
            left join fct_netflow_zscores as z on z.series = 'total' and z.flow_date = t.flow_date
            order by t.flow_date""")
        by_exchange = read_frame(con, """
            select e.flow_date, e.exchange, e.inflow, e.outflow, e.netflow, e.internal_volume,
                   z.baseline_mean, z.baseline_std, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly,
                   z.direction
            from fct_netflow_daily_by_exchange as e
            left join fct_netflow_zscores as z on z.series = e.exchange and z.flow_date = e.flow_date
            order by e.exchange, e.flow_date""")
        exchanges = read_frame(con, """
            select
                e.exchange,
                sum(e.inflow) as inflow,
                sum(e.outflow) as outflow,
                sum(e.netflow) as netflow,
                sum(e.inflow) + sum(e.outflow) as gross,
                sum(e.internal_volume) as internal_volume,
                sum(e.n_deposits) as n_deposits,
                sum(e.n_withdrawals) as n_withdrawals,
                (select count(*) from rpt_netflow_anomalies as a where a.series = e.exchange) as anomalies
            from fct_netflow_daily_by_exchange as e
            group by e.exchange
            order by gross desc, e.exchange""")
        day_columns = """
            select t.flow_date, t.netflow, t.inflow, t.outflow, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly
            from fct_netflow_daily_total as t
            left join fct_netflow_zscores as z on z.series = 'total' and z.flow_date = t.flow_date"""
        largest_in = read_frame(con, f"{day_columns} where t.netflow > 0 order by t.netflow desc, t.flow_date "
                                     f"limit {TOP_DAYS}")
        largest_out = read_frame(con, f"{day_columns} where t.netflow < 0 order by t.netflow, t.flow_date "
                                      f"limit {TOP_DAYS}")
        topk = read_frame(con, f"""
            with {_SERIES_FLOWS}
            select k.series, k.rank, k.flow_date, k.netflow, k.zscore, k.is_anomaly, k.direction, k.method,
                   f.inflow, f.outflow, z.baseline_mean, z.baseline_std, z.baseline_days
            from rpt_topk_netflow_days as k
            left join series_flows as f on f.series = k.series and f.flow_date = k.flow_date
            left join fct_netflow_zscores as z on z.series = k.series and z.flow_date = k.flow_date
            order by k.series <> 'total', k.series, k.rank""")
        anomalies = read_frame(con, """
            select flow_date, series, netflow, baseline_mean, baseline_std, baseline_days, zscore, materiality,
                   materiality_scale, direction, method, window_days, z_threshold, inflow, outflow
            from rpt_netflow_anomalies
            order by flow_date, series <> 'total', series""")
        reconciliation = read_frame(con, """
            select source_file, source_format, rows_read, transfers_kept, duplicate_rows, rejected_rows,
                   other_token_rows
            from rpt_input_reconciliation order by source_file""")
        rejected_reasons = read_frame(con, """
            select reason, count(*) as n_rows from stg_transfers_rejected group by reason
            order by n_rows desc, reason""")
        rejected_rows = read_frame(con, f"""
            select source_file, line_number, reason from stg_transfers_rejected
            order by source_file, line_number limit {REJECTED_SHOWN}""")
        n_rejected = con.execute("select count(*) from stg_transfers_rejected").fetchone()[0]
        reserves = read_frame(con, """
            select flow_date, exchange, reserve, reserve_change, share_of_supply, anchor_block, anchor_date
            from fct_exchange_reserve_daily where is_reserve_known order by exchange, flow_date""")
        reserve_unknown = read_frame(con, """
            select exchange, max(n_wallets_without_anchor) as n_wallets_without_anchor
            from fct_exchange_reserve_daily where not is_reserve_known group by exchange order by exchange""")
    totals["days"] = n_days
    return Overview(db, token, method, first_day, last_day, totals, total_daily, by_exchange, exchanges,
                    largest_in, largest_out, topk, anomalies, reconciliation, rejected_reasons, rejected_rows,
                    n_rejected, reserves, reserve_unknown)


def reserve_summary(ov: Overview) -> dict | None:
    """The summary report's exchange reserve section: each exchange's reserve on the first and last day and
    its share of the supply, and the exchanges whose reserve is unknown (None when the build has no anchor)."""
    known = ov.reserves if ov.reserves is not None else pd.DataFrame()
    unknown = ov.reserve_unknown if ov.reserve_unknown is not None else pd.DataFrame()
    if known.empty and unknown.empty:
        return None
    rows = []
    for exchange, part in (known.groupby("exchange", sort=False) if not known.empty else []):
        part = part.sort_values("flow_date")
        first, last = part.iloc[0], part.iloc[-1]
        rows.append({"exchange": exchange, "first_day": first["flow_date"], "first": first["reserve"],
                     "last_day": last["flow_date"], "last": last["reserve"],
                     "change": _to_decimal(last["reserve"]) - _to_decimal(first["reserve"]) + _to_decimal(
                         first["reserve_change"]),
                     "share": last["share_of_supply"], "anchor_block": last["anchor_block"],
                     "anchor_date": last["anchor_date"]})
    rows.sort(key=lambda r: -_to_decimal(r["last"]))
    return {"exchanges": rows, "unknown": records(unknown) if not unknown.empty else []}


def render_overview_charts(ov: Overview, reports_dir: Path) -> list[Path]:
    img = reports_dir / IMG_DIR
    common = {"symbol": ov.token.symbol, "chain": ov.token.chain, "period": ov.period}
    m = ov.method or MethodInfo("trailing", 28, 3.0, 0)
    z_common = {"z_threshold": m.z_threshold, "method": m.method, "window_days": m.window_days}
    return [
        charts.plot_netflow_baseline(ov.total_daily, img / "netflow_total_baseline.png", **common, **z_common,
                                     anomaly_rule=m.anomaly_rule(short=True)),
        charts.plot_inflow_outflow(ov.total_daily, img / "inflow_outflow_total.png", **common),
        charts.plot_netflow_by_exchange(ov.by_exchange, img / "netflow_by_exchange.png", **common,
                                        z_threshold=m.z_threshold, method=m.method),
        charts.plot_zscore(ov.total_daily, img / "zscore_total.png", **common, **z_common),
        charts.plot_cumulative_netflow(ov.by_exchange, img / "cumulative_netflow_by_exchange.png", **common),
    ] + ([charts.plot_reserve_by_exchange(ov.reserves, img / RESERVE_CHART, **common)]
         if ov.reserves is not None and not ov.reserves.empty else [])


def write_csv_exports(ov: Overview, reports_dir: Path) -> list[Path]:
    """The top-k and anomaly tables as CSV, under the seed project's file names, exact numbers."""
    data = reports_dir / DATA_DIR
    data.mkdir(parents=True, exist_ok=True)
    m = ov.method
    params = {"method": m.method if m else "", "window_days": m.window_days if m else "",
              "z_threshold": m.z_threshold if m else ""}
    topk_columns = ["rank", "flow_date", "inflow", "outflow", "netflow", "baseline_mean", "baseline_std",
                    "baseline_days", "zscore", "is_anomaly", "direction"]
    total = ov.topk[ov.topk["series"] == "total"]
    by_exchange = ov.topk[ov.topk["series"] != "total"].rename(columns={"series": "exchange"})
    anomalies = ov.anomalies
    written = [
        _write_csv(data / "topk_netflow_total.csv", topk_columns, records(total), params),
        _write_csv(data / "topk_netflow_by_exchange.csv", ["exchange", *topk_columns], records(by_exchange),
                   params),
        _write_csv(data / "top_netflow_anomalies.csv",
                   ["flow_date", "series", "inflow", "outflow", "netflow", "baseline_mean", "baseline_std",
                    "baseline_days", "zscore", "direction"], records(anomalies), params),
    ]
    return written


def _write_csv(path: Path, columns: list[str], rows: list[dict], params: dict) -> Path:
    header = [*columns, *params]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            values = {**row, **params}
            writer.writerow([_csv_value(values.get(c)) for c in header])
    return path


def _csv_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    return fmt_exact(value)


def render_overview(ov: Overview, reports_dir: Path) -> list[Path]:
    """The charts, summary.md, topk.md, anomalies.md and the CSV exports; returns the files written."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    written = render_overview_charts(ov, reports_dir)
    written += write_csv_exports(ov, reports_dir)
    env = template_environment()
    topk_by_series = {s: records(g) for s, g in ov.topk.groupby("series", sort=False)}
    context = {
        "ov": ov,
        "token": ov.token,
        "symbol": ov.token.symbol,
        "method": ov.method,
        "period": ov.period,
        "totals": ov.totals,
        "exchanges": records(ov.exchanges),
        "largest_inflow_days": records(ov.largest_inflow_days),
        "largest_outflow_days": records(ov.largest_outflow_days),
        "reconciliation": records(ov.reconciliation),
        "rejected_reasons": records(ov.rejected_reasons),
        "rejected_rows": records(ov.rejected_rows),
        "n_rejected": ov.n_rejected,
        "topk_total": topk_by_series.get("total", []),
        "topk_exchanges": {s: rows for s, rows in topk_by_series.items() if s != "total"},
        "anomalies": records(ov.anomalies),
        "anomaly_counts": records(ov.anomalies.groupby("series", sort=False).size().reset_index(name="n"))
        if not ov.anomalies.empty else [],
        "img": IMG_DIR,
        "data": DATA_DIR,
        "csv_exports": CSV_EXPORTS,
        "chart_text": overview_chart_texts(ov.totals["days"]),
        "reserves": reserve_summary(ov),
        "reserve_chart": RESERVE_CHART,
    }
    for name in ("summary", "topk", "anomalies"):
        path = reports_dir / f"{name}.md"
        path.write_text(env.get_template(f"{name}.md.j2").render(**context), encoding="utf-8")
        written.append(path)
    return written


# --- focus: one period, one exchange or wallet ------------------------------------------------------


@dataclass(frozen=True)
class FocusSubject:
    """What a focus report is about: all exchanges, one exchange, or one labelled wallet."""

    kind: str  # 'all', 'exchange' or 'wallet'
    name: str
    exchange: str | None = None
    addresses: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        if self.kind == "all":
            return "all exchanges"
        if self.kind == "exchange":
            return f"exchange {self.name}"
        return f"wallet {self.name}"

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", (self.name if self.kind != "all" else "all-exchanges").lower()).strip("-")


def resolve_focus(con, focus: str | None) -> FocusSubject:
    """--focus: an exchange name, a wallet name or a labelled wallet address (case-insensitive)."""
    if not focus:
        return FocusSubject("all", "all exchanges")
    key = focus.strip().lower()
    row = con.execute("select distinct exchange from fct_netflow_daily_by_exchange where lower(exchange) = ?",
                      [key]).fetchone()
    if row:
        return FocusSubject("exchange", row[0], exchange=row[0])
    rows = con.execute("""
        select distinct wallet, exchange, wallet_address from fct_netflow_daily_by_wallet
        where lower(wallet) = ? or lower(wallet_address) = ? order by wallet_address""", [key, key]).fetchall()
    if rows:
        names = sorted({r[0] for r in rows})
        return FocusSubject("wallet", names[0] if len(names) == 1 else focus, exchange=rows[0][1],
                            addresses=tuple(r[2] for r in rows))
    exchanges = [r[0] for r in con.execute(
        "select distinct exchange from fct_netflow_daily_by_exchange order by 1").fetchall()]
    raise CexflowError(f"--focus {focus}: no exchange, wallet or wallet address of that name moved tokens in the "
                       f"marts; exchanges: {', '.join(exchanges) or 'none'}")


@dataclass
class Focus:
    """Everything a focus report shows."""

    token: TokenInfo
    method: MethodInfo | None
    subject: FocusSubject
    start: dt.date
    end: dt.date
    stats: dict
    by_flow_type: pd.DataFrame
    daily: pd.DataFrame  # every day: inflow, outflow, netflow, volume, n_transfers (+ z columns if a series)
    largest: pd.DataFrame  # the largest transfers
    amounts: object  # numpy array of floats (drawing only)
    anomalies: pd.DataFrame
    data_first_day: dt.date
    data_last_day: dt.date
    extra: dict = field(default_factory=dict)

    @property
    def period(self) -> str:
        return period_text(self.start, self.end)

    @property
    def slug(self) -> str:
        return f"{self.subject.slug}_{self.start}_{self.end}"


def parse_date(value, option: str) -> dt.date | None:
    """A YYYY-MM-DD option (None or '' -> None); anything else is a one-line error naming the option."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise CexflowError(f"{option} {value}: not a date (YYYY-MM-DD)") from None


def _transfer_direction_sql(subject: FocusSubject) -> tuple[str, str, dict]:
    """(direction expression, where clause, params) of the transfers that touch the subject."""
    if subject.kind == "all":
        return ("case flow_type when 'deposit' then 'inflow' when 'withdrawal' then 'outflow' "
                "else flow_type end", "true", {})
    if subject.kind == "exchange":
        x = subject.exchange
        return ("case when to_exchange = $x and from_exchange is distinct from $x then 'inflow' "
                "when from_exchange = $x and to_exchange is distinct from $x then 'outflow' else 'internal' end",
                "(from_exchange = $x or to_exchange = $x)", {"x": x})
    return ("case when list_contains($a, to_address) and not list_contains($a, from_address) then 'inflow' "
            "when list_contains($a, from_address) and not list_contains($a, to_address) then 'outflow' "
            "else 'internal' end",
            "(list_contains($a, from_address) or list_contains($a, to_address))", {"a": list(subject.addresses)})


def load_focus(db: Path, start=None, end=None, focus: str | None = None) -> Focus:
    db = Path(db)
    start, end = parse_date(start, "--start"), parse_date(end, "--end")
    with connect(db) as con:
        check_marts(con, db)
        token = load_token(con)
        method = load_method(con)
        first, last = con.execute("select min(flow_date), max(flow_date) from fct_netflow_daily_total").fetchone()
        if first is None:
            raise CexflowError(f"--db {db}: the marts have no days; build them from transfer files first")
        start, end = start or first, end or last
        if start > end:
            raise CexflowError(f"--start {start} is after --end {end}")
        if end < first or start > last:
            raise CexflowError(f"--start {start} --end {end}: no days in that period; the marts cover "
                               f"{first} to {last}")
        subject = resolve_focus(con, focus)
        direction, where, params = _transfer_direction_sql(subject)
        params = {**params, "s": start, "e": end}
        transfers_sql = f"""
            select tx_hash, log_index, transferred_at, flow_date, from_address, to_address, from_exchange,
                   to_exchange, from_wallet, to_wallet, flow_type, amount, {direction} as direction
            from fct_exchange_transfers
            where flow_date between $s and $e and {where}"""
        stats = records(read_frame(con, f"""
            with t as ({transfers_sql})
            select count(*) as n_transfers, coalesce(sum(amount), 0) as volume, max(amount) as largest,
                   coalesce(sum(amount) filter (where direction = 'inflow'), 0) as transfers_inflow,
                   coalesce(sum(amount) filter (where direction = 'outflow'), 0) as transfers_outflow,
                   count(*) filter (where direction = 'inflow') as n_inflow,
                   count(*) filter (where direction = 'outflow') as n_outflow
            from t""", params))[0]
        by_flow_type = read_frame(con, f"""
            with t as ({transfers_sql})
            select direction, count(*) as n_transfers, sum(amount) as volume from t
            group by direction order by volume desc, direction""", params)
        largest = read_frame(con, f"""
            with t as ({transfers_sql})
            select * from t order by amount desc, transferred_at, tx_hash limit {TOP_TRANSFERS}""", params)
        # floats, for the histogram only (millions of transfers: no Decimal objects)
        amounts = con.execute(f"with t as ({transfers_sql}) select cast(amount as double) as amount from t",
                              params).fetchnumpy()["amount"]
        daily_flows, series = _daily_flows_sql(subject)
        daily = read_frame(con, f"""
            with t as ({transfers_sql}),
            days as (select flow_date from fct_netflow_daily_total where flow_date between $s and $e),
            flows as ({daily_flows}),
            volume as (select flow_date, sum(amount) as volume, count(*) as n_transfers from t group by flow_date)
            select days.flow_date,
                   coalesce(flows.inflow, 0) as inflow, coalesce(flows.outflow, 0) as outflow,
                   coalesce(flows.netflow, 0) as netflow,
                   coalesce(volume.volume, 0) as volume, coalesce(volume.n_transfers, 0) as n_transfers,
                   z.baseline_mean, z.baseline_std, z.zscore, coalesce(z.is_anomaly, false) as is_anomaly,
                   z.direction
            from days
            left join flows on flows.flow_date = days.flow_date
            left join volume on volume.flow_date = days.flow_date
            left join fct_netflow_zscores as z on z.series = $series and z.flow_date = days.flow_date
            order by days.flow_date""", {**params, "series": series or ""})
        totals = [sum(daily[c], Decimal(0)) for c in ("inflow", "outflow", "netflow")]
        stats.update(inflow=totals[0], outflow=totals[1], netflow=totals[2], days=len(daily))
        anomalies = read_frame(con, """
            select flow_date, series, netflow, baseline_mean, baseline_std, zscore, direction
            from rpt_netflow_anomalies where series = $series and flow_date between $s and $e
            order by flow_date""", {"s": start, "e": end, "series": series}) if series else pd.DataFrame()
    return Focus(token, method, subject, start, end, stats, by_flow_type, daily, largest, amounts, anomalies,
                 first, last, {"series": series})


def _daily_flows_sql(subject: FocusSubject) -> tuple[str, str | None]:
    """SQL for (flow_date, inflow, outflow, netflow) of the subject from the daily marts, and its z series."""
    if subject.kind == "all":
        return "select flow_date, inflow, outflow, netflow from fct_netflow_daily_total", "total"
    if subject.kind == "exchange":
        return ("select flow_date, inflow, outflow, netflow from fct_netflow_daily_by_exchange "
                "where exchange = $x"), subject.exchange
    return ("select flow_date, sum(inflow) as inflow, sum(outflow) as outflow, sum(netflow) as netflow "
            "from fct_netflow_daily_by_wallet where list_contains($a, wallet_address) group by flow_date"), None


def render_focus(f: Focus, reports_dir: Path) -> list[Path]:
    """focus/<subject>_<start>_<end>.md and its charts in focus/img/."""
    focus_dir = Path(reports_dir) / FOCUS_DIR
    img = focus_dir / IMG_DIR
    common = {"symbol": f.token.symbol, "chain": f.token.chain, "period": f.period, "subject": f.subject.title}
    chart_files = {
        "daily_volume": charts.plot_daily_volume(f.daily, img / f"{f.slug}_daily_volume.png", **common),
        "top_transfers": charts.plot_top_transfers(f.largest, img / f"{f.slug}_top_transfers.png", **common,
                                                   wallet_view=f.subject.kind == "wallet"),
        "size_histogram": charts.plot_transfer_size_histogram(f.amounts, img / f"{f.slug}_transfer_size_hist.png",
                                                              **common),
        "in_vs_out": charts.plot_inflow_outflow(f.daily, img / f"{f.slug}_in_vs_out.png", **common),
        "netflow": charts.plot_netflow_bars(f.daily, img / f"{f.slug}_netflow.png", **common),
    }
    if f.extra.get("series") and f.method:
        m = f.method
        chart_files["netflow_baseline"] = charts.plot_netflow_baseline(
            f.daily, img / f"{f.slug}_netflow_baseline.png", symbol=f.token.symbol, chain=f.token.chain,
            period=f.period, z_threshold=m.z_threshold, method=m.method, window_days=m.window_days,
            series_name=f.subject.title, anomaly_rule=m.anomaly_rule(short=True))
    env = template_environment()
    path = focus_dir / f"{f.slug}.md"
    text = env.get_template("focus.md.j2").render(
        f=f, token=f.token, symbol=f.token.symbol, method=f.method, subject=f.subject, stats=f.stats,
        by_flow_type=records(f.by_flow_type), largest=records(f.largest), anomalies=records(f.anomalies),
        charts={k: f"{IMG_DIR}/{p.name}" for k, p in chart_files.items()}, top_transfers=TOP_TRANSFERS,
        bars=charts.bar_bins(len(f.daily))[1])
    path.write_text(text, encoding="utf-8")
    return [*chart_files.values(), path]


# --- index and entry point ----------------------------------------------------------------------------


def render_index(reports_dir: Path, token: TokenInfo | None = None, period: str | None = None,
                 n_days: int = 0) -> Path:
    """index.md: the overview reports, charts and CSV files present in the folder, and every focus report.
    `n_days`: the days of the whole range, which the overview charts draw."""
    reports_dir = Path(reports_dir)
    focus_reports = sorted((reports_dir / FOCUS_DIR).glob("*.md")) if (reports_dir / FOCUS_DIR).is_dir() else []
    context = {
        "token": token,
        "period": period,
        "has": {name: (reports_dir / f"{name}.md").exists() for name in ("summary", "topk", "anomalies")},
        "charts": [(f"{IMG_DIR}/{name}.png", text) for name, text in overview_chart_texts(n_days).items()
                   if (reports_dir / IMG_DIR / f"{name}.png").exists()],
        "csv_files": [f"{DATA_DIR}/{name}" for name in CSV_EXPORTS if (reports_dir / DATA_DIR / name).exists()],
        "focus_reports": [(f"{FOCUS_DIR}/{p.name}", p.stem) for p in focus_reports],
    }
    path = reports_dir / "index.md"
    path.write_text(template_environment().get_template("index.md.j2").render(**context), encoding="utf-8")
    return path


@dataclass
class ReportResult:
    reports_dir: Path
    files: list[Path]
    overview: Overview | None = None
    focus: Focus | None = None

    def lines(self) -> list[str]:
        reports = [p for p in self.files if p.suffix == ".md"]
        charts_n = sum(1 for p in self.files if p.suffix == ".png")
        csv_n = sum(1 for p in self.files if p.suffix == ".csv")
        return [f"wrote {plural(len(reports), 'report')}, {plural(charts_n, 'chart')} and "
                f"{plural(csv_n, 'CSV file')} to {self.reports_dir}",
                *(f"  {p}" for p in reports)]


def default_reports_dir(db: Path) -> Path:
    """Where the reports of `db` go without --out: docs/reports/ for the project's own database (what `make run`
    renders and commits), `<name>.reports/` beside any other database file (my.duckdb -> my.reports/), so that
    the reports of another database never overwrite the project's."""
    return PROJECT_REPORTS if is_project_db(db) else beside(db, REPORTS_SUBDIR)


def render_reports(db: Path, out: Path | None = None, start=None, end=None, focus: str | None = None) -> ReportResult:
    """`cexflow report`: without --start/--end/--focus, the whole-range reports; with any of them, a focus
    report on that period and exchange or wallet (all exchanges by default). The index is rewritten each time.
    Files go to `out`/reports/, or without `out` to `default_reports_dir(db)`.
    """
    reports_dir = default_reports_dir(db) if out is None else Path(out) / REPORTS_SUBDIR
    if start or end or focus:
        data = load_focus(db, start, end, focus)
        files = render_focus(data, reports_dir)
        files.append(render_index(reports_dir, data.token, period_text(data.data_first_day, data.data_last_day),
                                  (data.data_last_day - data.data_first_day).days + 1))
        return ReportResult(reports_dir, files, focus=data)
    ov = load_overview(db)
    files = render_overview(ov, reports_dir)
    files.append(render_index(reports_dir, ov.token, ov.period, ov.totals["days"]))
    return ReportResult(reports_dir, files, overview=ov)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", type=Path, metavar="PATH",
                        help="DuckDB file with the marts, opened read-only (default: $CEXFLOW_DB or cexflow.duckdb "
                             "in the project root)")
    parser.add_argument("--spark-dir", type=Path, metavar="DIR",
                        help="report on the marts of a Spark build (`cexflow build --target spark --spark-dir DIR`) "
                             "instead of a DuckDB file; its parquet files are read with DuckDB")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder to write into; everything goes to DIR/reports/ (default: beside the database, "
                             "my.duckdb -> my.reports/, or DIR/reports/ inside --spark-dir DIR; the project's own "
                             "cexflow.duckdb -> docs/reports/, the committed sample reports)")
    parser.add_argument("--start", metavar="DATE", help="focus report: first day, YYYY-MM-DD (default: first day)")
    parser.add_argument("--end", metavar="DATE", help="focus report: last day, YYYY-MM-DD (default: last day)")
    parser.add_argument("--focus", metavar="EXCHANGE_OR_WALLET",
                        help="focus report on one exchange (e.g. binance), wallet name (e.g. binance20) or labelled "
                             "wallet address (default with --start/--end: all exchanges)")


def run(args: argparse.Namespace) -> int:
    from cexflow.paths import default_db

    if args.spark_dir is None:
        result = render_reports(args.db or default_db(), args.out, args.start, args.end, args.focus)
    else:
        if args.db is not None:
            raise CexflowError("--db and --spark-dir: give one of them")
        # the Spark tables as views in a throw-away DuckDB file, which the report opens like a build's file
        with tempfile.TemporaryDirectory(prefix="cexflow-report-") as scratch:
            views = Path(scratch) / "spark_marts.duckdb"
            connect_spark(args.spark_dir, str(views)).close()
            result = render_reports(views, args.spark_dir if args.out is None else args.out, args.start, args.end,
                                    args.focus)
    for line in result.lines():
        print(line)
    return 0
