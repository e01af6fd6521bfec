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

from cexflow import charts, escape, methods
from cexflow import db as marts
from cexflow.db import connect, connect_spark
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT, beside, is_project_db
from cexflow.text import netflow_sign_sentence, plural

HELP = ("Render charts (PNG), Markdown reports and CSV exports from the marts: the whole range, or a focus "
        "period, exchange or wallet.")

REPORTS_SUBDIR = "reports"
PROJECT_REPORTS = PROJECT_ROOT / "docs" / "sample-reports"  # the reports of the project's own database (committed)
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
        "whale_ratio_by_exchange": "daily whale ratio by exchange (share of the inflow in the ten largest deposits)",
        "netflow_30d_by_exchange": "30-day net position change by exchange (netflow over the 30 days to each day)",
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


def fmt_ratio(value) -> str:
    """A ratio from 0 to 1 (a float of the marts, e.g. whale_ratio): '0.815'; None -> '–'."""
    number = _to_decimal(value)
    return "–" if number is None else f"{number.quantize(Decimal('0.001'), rounding=ROUND_HALF_EVEN)}"


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
    """Text shown as typed in Markdown, a table cell included (escape.markdown)."""
    return escape.markdown(value)


def _markdown_output(value) -> str:
    """Every `{{ ... }}` of the Markdown templates: text from outside is escaped (escape.markdown), whatever the
    template; what the package wrote as Markdown (escape.Markdown: the number filters, the `md` and `code`
    filters, fragments built in Python) passes as it is."""
    if isinstance(value, escape.Markdown):
        return value
    if isinstance(value, bool | int | float | Decimal | dt.date):
        return str(value)
    return escape.markdown("" if value is None else value)


def _as_markdown(function):
    return lambda *args, **kwargs: escape.Markdown(function(*args, **kwargs))


def template_environment() -> jinja2.Environment:
    """The package's jinja2 Environment for `templates/*.md.j2`, with the number filters. Every value a template
    prints is Markdown-escaped unless the package marked it as Markdown (`_markdown_output`)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cexflow", "templates"),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        finalize=_markdown_output,
    )
    filters = dict(amount=fmt_amount, signed=fmt_signed, z=fmt_z, count=fmt_count, ratio=fmt_ratio, plural=plural,
                   md=md_cell, code=escape.markdown_code, url=escape.url, exact=fmt_amount_exact)
    env.filters.update({name: _as_markdown(function) for name, function in filters.items()}, path=project_path)
    env.globals["markdown"] = escape.Markdown  # a fragment the template writes as Markdown: markdown("---:|")
    return env


# --- reading the marts ------------------------------------------------------------------------------


read_frame = marts.read_frame  # older name, used by cexflow.docs


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

    @property
    def label(self) -> str:
        """'LPT on arbitrum': how a build of several tokens names one."""
        return f"{self.symbol} on {self.chain}"


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
    min_usd: float = 0.0  # cexflow build --min-usd: |netflow_usd| at least this too (0: no USD rule)

    def description(self) -> str:
        return f"{methods.report_text(self.method, self.window_days)}; {self.anomaly_rule()}"

    def anomaly_rule(self, short: bool = False) -> str:
        """What makes a day an anomaly under these settings (short: for a chart's subtitle)."""
        z = f"{self.z_threshold:g}"
        if not self.is_materiality_required or self.materiality_threshold is None:
            return f"a day is an anomaly when |z| ≥ {z}" + ("" if short else " (materiality not required)")
        m = f"{self.materiality_threshold:g}"
        floor = f" and at least {plural(self.min_amount, 'token unit')}" if self.min_amount else ""
        if self.min_usd:
            floor += f" and a netflow of at least {self.min_usd:,g} USD (a day without a price is not material)"
        if short:
            return f"an anomaly: |z| ≥ {z} and a deviation ≥ {m} × the token's materiality scale{floor}"
        return (f"a day is an anomaly when |z| ≥ {z} and it is material: its deviation from the baseline is at "
                f"least {m} × the token's materiality scale (its typical daily exchange flow){floor}")

    @property
    def centre_name(self) -> str:
        return methods.centre_name(self.method)

    @property
    def spread_name(self) -> str:
        return methods.spread_name(self.method)


@dataclass(frozen=True)
class TokenKey:
    """One token of a database of several (cexflow.db.tokens): what its reports are filtered on and named by."""

    chain: str
    address: str
    symbol: str | None = None
    kind: str | None = None

    @property
    def label(self) -> str:
        """'LPT on arbitrum' (a token not in seeds/tokens.csv by its address)."""
        return f"{self.symbol or self.address} on {self.chain}"

    @property
    def folder(self) -> str:
        """The folder of its reports: 'lpt-arbitrum', '0x1234...-ethereum' (lower case)."""
        return f"{self.symbol or self.address}-{self.chain}".lower()


def database_tokens(con) -> list[TokenKey]:
    """The tokens with data of the marts (cexflow.db.tokens), by chain and symbol."""
    return [TokenKey(t["chain"], t["token_address"], t["symbol"], t["kind"]) for t in marts.tokens(con)]


def summaries_of(con, tokens: list[TokenKey]) -> list[dict]:
    """Each token's row of rpt_build_summary (cexflow.db.token_summaries), in the order of `tokens`, with its
    `key`, `label`, `folder` and `period`."""
    by_key = {(r["chain"], r["token_address"]): r for r in marts.token_summaries(con)}
    rows = []
    for key in tokens:
        row = by_key[(key.chain, key.address)]
        rows.append({**row, "key": key, "label": key.label, "folder": key.folder,
                     "period": period_text(row["first_flow_date"], row["last_flow_date"])})
    return rows


def select_tokens(tokens: list[TokenKey], token: str | None, chain: str | None) -> list[TokenKey]:
    """The tokens of `cexflow report --token SYMBOL_OR_ADDRESS --chain NAME` (either may be None: every token,
    every chain); a one-line error naming the option when none matches."""
    chosen = [t for t in tokens
              if (token is None or token.strip().lower() in ((t.symbol or "").lower(), t.address.lower()))
              and (chain is None or chain.strip().lower() == t.chain.lower())]
    if not chosen:
        options = " ".join(f"{o} {v}" for o, v in (("--token", token), ("--chain", chain)) if v is not None)
        raise CexflowError(f"{options}: no such token with data in the marts; the marts hold "
                           f"{', '.join(t.label for t in tokens) or 'no token'}")
    return chosen


def token_info(row: tuple) -> TokenInfo:
    """A row (chain, token_address, symbol, decimals, kind, underlying) of stg_tokens__selected."""
    chain, address, symbol, decimals, kind, underlying = row
    return TokenInfo(chain, address, symbol or address[:10], int(decimals), kind, underlying)


def load_token(con) -> TokenInfo:
    row = marts.token_row(con)
    if row is None:
        raise CexflowError("the marts name no token (stg_tokens__selected is empty); rebuild with `cexflow build`")
    return token_info(row)


def load_method(con) -> MethodInfo | None:
    row = marts.method_row(con)
    if row is None:
        return None
    method, window, z, materiality, min_amount, required, top_k, min_usd = row
    return MethodInfo(method, int(window), float(z), int(top_k),
                      None if materiality is None else float(materiality), float(min_amount or 0), bool(required),
                      float(min_usd or 0))


def check_marts(con, db: Path) -> None:
    """A one-line error when the file lacks a mart the reports read."""
    needed = {"fct_exchange_transfers", "fct_netflow_daily_total", "fct_netflow_daily_by_exchange",
              "fct_netflow_daily_by_wallet", "fct_netflow_zscores", "rpt_netflow_anomalies",
              "rpt_topk_netflow_days", "stg_transfers_rejected", "rpt_input_reconciliation", "stg_tokens__selected",
              "rpt_build_summary", "rpt_netflow_daily_series", "rpt_exchange_period_totals",
              "rpt_largest_netflow_days", "rpt_rejected_reasons", "fct_flow_legs"}
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
    usd: dict | None = None  # with prices (cexflow build --prices): USD totals over the priced days (usd_summary)
    several: bool = False  # one of the tokens of a database of several (its reports in a folder of their own)

    @property
    def period(self) -> str:
        return period_text(self.first_day, self.last_day)


def open_marts(db: Path, scope: TokenKey | None = None):
    """A read-only connection to the marts of `db`: all of them, or with `scope` that token's rows only
    (cexflow.db.scoped), so that every reader below reads one token of a database of several."""
    return connect(db) if scope is None else marts.scoped(db, scope.chain, scope.address)


def lone_token(con) -> TokenKey | None:
    """The one token with data of a build that selected several (`--token LPT --token USDC` of LPT's files
    only: rpt_build_summary and stg_tokens__selected have a row of each), whose marts are read scoped to it;
    None for a build of one token (read as it is) or of several with data."""
    tokens = database_tokens(con)
    return tokens[0] if len(tokens) == 1 and len(marts.selected_tokens(con)) > 1 else None


def load_overview(db_path: Path, scope: TokenKey | None = None) -> Overview:
    """The whole-range reports' numbers: each a select from its mart (cexflow.db); with `scope`, that token's."""
    db_path = Path(db_path)
    with open_marts(db_path, scope) as con:
        check_marts(con, db_path)
        token = load_token(con)
        method = load_method(con)
        summary = marts.build_summary(con)
        totals = {key: summary[key] for key in (
            "inflow", "outflow", "netflow", "internal_volume", "cross_exchange_volume", "n_deposits",
            "n_withdrawals", "n_internal", "n_cross_exchange")}
        totals.update(days=summary["n_days"], n_transfers=summary["n_exchange_transfers"],
                      anomalies_total=summary["n_total_anomalies"], anomalies_all=summary["n_anomalies"],
                      n_series=summary["n_series"])
        total_daily = marts.daily_series(con, "total").drop(columns="series")
        by_exchange = marts.daily_series(con, "exchange").rename(columns={"series": "exchange"})
        exchanges = marts.exchange_period_totals(con)
        largest_in = marts.largest_netflow_days(con, "inflow", TOP_DAYS)
        largest_out = marts.largest_netflow_days(con, "outflow", TOP_DAYS)
        topk = marts.topk_days(con)
        anomalies = marts.anomaly_days(con)
        reconciliation = pd.DataFrame(marts.input_reconciliation(con))
        rejected_reasons = pd.DataFrame(marts.rejected_reasons(con), columns=["reason", "n_rows"])
        rejected_rows = pd.DataFrame(marts.rejected_rows(con, REJECTED_SHOWN),
                                     columns=["source_file", "line_number", "reason"])
        reserves = marts.reserve_days(con)
        reserve_unknown = marts.reserve_unknown(con)
        usd = usd_summary(summary, marts.days_without_price(con)) if summary["n_priced_days"] else None
    return Overview(db_path, token, method, summary["first_flow_date"], summary["last_flow_date"], totals,
                    total_daily, by_exchange, exchanges, largest_in, largest_out, topk, anomalies, reconciliation,
                    rejected_reasons, rejected_rows, summary["n_rejected"], reserves, reserve_unknown, usd)


USD_DAYS_SHOWN = 10  # days without a price listed by name in the summary


def usd_summary(summary: dict, unpriced: list) -> dict:
    """The summary report's USD figures: rpt_build_summary's sums over the days with a price, and the days
    without one (the first USD_DAYS_SHOWN named)."""
    return {"n_priced_days": summary["n_priced_days"], "inflow": summary["inflow_usd"],
            "outflow": summary["outflow_usd"], "netflow": summary["netflow_usd"], "n_unpriced": len(unpriced),
            "unpriced_shown": unpriced[:USD_DAYS_SHOWN]}


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
    if ov.method is None:  # no day in the marts: the charts name the project's default settings
        defaults = methods.project_vars()
        m = MethodInfo(defaults["zscore_method"], defaults["zscore_window_days"],
                       float(defaults["zscore_threshold"]), 0)
    else:
        m = ov.method
    z_common = {"z_threshold": m.z_threshold, "method": m.method, "window_days": m.window_days}
    return [
        charts.plot_netflow_baseline(ov.total_daily, img / "netflow_total_baseline.png", **common, **z_common,
                                     anomaly_rule=m.anomaly_rule(short=True)),
        charts.plot_inflow_outflow(ov.total_daily, img / "inflow_outflow_total.png", **common),
        charts.plot_netflow_by_exchange(ov.by_exchange, img / "netflow_by_exchange.png", **common,
                                        z_threshold=m.z_threshold, method=m.method),
        charts.plot_zscore(ov.total_daily, img / "zscore_total.png", **common, **z_common),
        charts.plot_cumulative_netflow(ov.by_exchange, img / "cumulative_netflow_by_exchange.png", **common),
        charts.plot_metric_by_exchange(ov.by_exchange, img / "whale_ratio_by_exchange.png", "whale_ratio", **common,
                                       title="daily whale ratio", ylabel="whale ratio (top 10 deposits / inflow)",
                                       ratio=True),
        charts.plot_metric_by_exchange(ov.by_exchange, img / "netflow_30d_by_exchange.png", "netflow_30d",
                                       **common, title="30-day net position change",
                                       ylabel=f"{ov.token.symbol}, netflow over 30 days"),
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
    if isinstance(value, str):  # a name: text, never a formula in a spreadsheet
        return escape.csv_cell(value)
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
        "usd": ov.usd,
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


def load_focus(db: Path, start=None, end=None, focus: str | None = None, scope: TokenKey | None = None) -> Focus:
    """A focus report's numbers; with `scope`, of that token of a database of several."""
    db = Path(db)
    start, end = parse_date(start, "--start"), parse_date(end, "--end")
    with open_marts(db, scope) as con:
        check_marts(con, db)
        token = load_token(con)
        method = load_method(con)
        summary = marts.build_summary(con)
        first, last = summary["first_flow_date"], summary["last_flow_date"]
        if first is None:
            raise CexflowError(f"--db {db}: the marts have no days; build them from transfer files first")
        start, end = start or first, end or last
        if start > end:
            raise CexflowError(f"--start {start} is after --end {end}")
        if end < first or start > last:
            raise CexflowError(f"--start {start} --end {end}: no days in that period; the marts cover "
                               f"{first} to {last}")
        subject = resolve_focus(con, focus)
        transfers_sql = marts.focus_transfers_sql(subject.kind)
        series = {"all": "total", "exchange": subject.exchange}.get(subject.kind)
        params = {"s": start, "e": end, **({"x": subject.exchange} if subject.kind == "exchange" else {}),
                  **({"a": list(subject.addresses)} if subject.kind == "wallet" else {})}
        stats = marts.focus_stats(con, transfers_sql, params)
        by_flow_type = marts.focus_by_direction(con, transfers_sql, params)
        largest = marts.focus_largest(con, transfers_sql, params, TOP_TRANSFERS)
        amounts = marts.focus_amounts(con, transfers_sql, params)
        daily = marts.focus_daily(con, transfers_sql, subject.kind, {**params, "series": series or ""})
        totals = [sum(daily[c], Decimal(0)) for c in ("inflow", "outflow", "netflow")]
        stats.update(inflow=totals[0], outflow=totals[1], netflow=totals[2], days=len(daily))
        anomalies = read_frame(con, """
            select flow_date, series, netflow, baseline_mean, baseline_std, zscore, direction
            from rpt_netflow_anomalies where series = $series and flow_date between $s and $e
            order by flow_date""", {"s": start, "e": end, "series": series}) if series else pd.DataFrame()
    return Focus(token, method, subject, start, end, stats, by_flow_type, daily, largest, amounts, anomalies,
                 first, last, {"series": series})


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
                 n_days: int = 0, up: str | None = None) -> Path:
    """index.md: the overview reports, charts and CSV files present in the folder, and every focus report.
    `n_days`: the days of the whole range, which the overview charts draw; `up`: the link to the index of
    every token, for a token's folder in the reports of several."""
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
        "up": up,
    }
    path = reports_dir / "index.md"
    path.write_text(template_environment().get_template("index.md.j2").render(**context), encoding="utf-8")
    return path


@dataclass
class ReportResult:
    reports_dir: Path
    files: list[Path]
    overview: Overview | None = None  # of the (last) token rendered
    focus: Focus | None = None
    skipped: list[str] = field(default_factory=list)  # tokens of several without the focus asked for, and why

    def lines(self) -> list[str]:
        reports = [p for p in self.files if p.suffix == ".md"]
        charts_n = sum(1 for p in self.files if p.suffix == ".png")
        csv_n = sum(1 for p in self.files if p.suffix == ".csv")
        return [f"wrote {plural(len(reports), 'report')}, {plural(charts_n, 'chart')} and "
                f"{plural(csv_n, 'CSV file')} to {self.reports_dir}",
                *(f"  {p}" for p in reports), *(f"  no focus report of {why}" for why in self.skipped)]


def default_reports_dir(db: Path) -> Path:
    """Where the reports of `db` go without --out: docs/reports/ for the project's own database (what `make run`
    renders and commits), `<name>.reports/` beside any other database file (my.duckdb -> my.reports/), so that
    the reports of another database never overwrite the project's."""
    return PROJECT_REPORTS if is_project_db(db) else beside(db, REPORTS_SUBDIR)


def render_reports(db: Path, out: Path | None = None, start=None, end=None, focus: str | None = None,
                   token: str | None = None, chain: str | None = None) -> ReportResult:
    """`cexflow report`: without --start/--end/--focus, the whole-range reports; with any of them, a focus
    report on that period and exchange or wallet (all exchanges by default). The index is rewritten each time.
    Files go to `out`/reports/, or without `out` to `default_reports_dir(db)`.

    A database of several tokens gets a folder per token (`TokenKey.folder`, e.g. lpt-arbitrum/) with that
    token's reports and index, and TOKENS_INDEX listing every token (`render_tokens_index`); `token` and
    `chain` (cexflow report --token, --chain) choose the tokens rendered. A database of one token is rendered
    as it always was, into the folder itself.
    """
    reports_dir = default_reports_dir(db) if out is None else Path(out) / REPORTS_SUBDIR
    first, last = parse_date(start, "--start"), parse_date(end, "--end")  # a bad date is one error, not one a token
    if first and last and first > last:
        raise CexflowError(f"--start {first} is after --end {last}")
    with connect(db) as con:
        check_marts(con, Path(db))
        tokens, lone = database_tokens(con), lone_token(con)
    chosen = select_tokens(tokens, token, chain) if token is not None or chain is not None else tokens
    if len(tokens) <= 1:
        return _render_one(db, reports_dir, start, end, focus, lone)
    files: list[Path] = []
    result = ReportResult(reports_dir, files)
    skipped = []
    for key in chosen:
        try:
            one = _render_one(db, reports_dir / key.folder, start, end, focus, key, up=f"../{TOKENS_INDEX}")
        except CexflowError as exc:
            if not (start or end or focus) or len(chosen) == 1:
                raise CexflowError(f"{key.label}: {exc}") from None
            skipped.append(f"{key.label}: {exc}")  # a focus that is not one of this token's: the others' reports
            continue
        files += one.files
        result.overview, result.focus = one.overview or result.overview, one.focus or result.focus
    if not files:
        raise CexflowError("; ".join(skipped))
    result.skipped = skipped
    files.append(render_tokens_index(db, reports_dir, tokens))
    return result


def _render_one(db: Path, reports_dir: Path, start, end, focus: str | None, scope: TokenKey | None = None,
                up: str | None = None) -> ReportResult:
    """The reports of the one token of `db`, or of the token `scope`, into `reports_dir`."""
    if start or end or focus:
        data = load_focus(db, start, end, focus, scope)
        files = render_focus(data, reports_dir)
        files.append(render_index(reports_dir, data.token, period_text(data.data_first_day, data.data_last_day),
                                  (data.data_last_day - data.data_first_day).days + 1, up))
        return ReportResult(reports_dir, files, focus=data)
    ov = load_overview(db, scope)
    ov.several = up is not None
    files = render_overview(ov, reports_dir)
    files.append(render_index(reports_dir, ov.token, ov.period, ov.totals["days"], up))
    return ReportResult(reports_dir, files, overview=ov)


TOKENS_INDEX = "README.md"  # the index of a database of several tokens, beside their folders


def render_tokens_index(db: Path, reports_dir: Path, tokens: list[TokenKey]) -> Path:
    """README.md of the reports of several tokens: each token with its period, flows and anomalies (its row of
    rpt_build_summary) and a link to its folder when rendered; and, for a symbol on several chains, its flows
    summed over the chains (fct_netflow_daily_cross_chain) beside each chain's."""
    with connect(db) as con:
        rows = [{"token": s["key"], "summary": s, "period": s["period"],
                 "link": f"{s['folder']}/index.md" if (reports_dir / s["folder"] / "index.md").exists() else None}
                for s in summaries_of(con, tokens)]
        cross = marts.cross_chain_totals(con)
        with_data = {(t.chain, t.address) for t in tokens}
        without = [token_info(row).label for row in marts.selected_tokens(con) if (row[0], row[1]) not in with_data]
    by_symbol = {c["symbol"]: c for c in cross}
    cross_chain = [{"symbol": symbol, "total": total,
                    "period": period_text(total["first_flow_date"], total["last_flow_date"]),
                    "chains": [r for r in rows if r["token"].symbol == symbol]}
                   for symbol, total in by_symbol.items()]
    path = Path(reports_dir) / TOKENS_INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(template_environment().get_template("tokens.md.j2").render(
        rows=rows, cross_chain=cross_chain, has_usd=any(r["summary"]["n_priced_days"] for r in rows),
        without=without),
        encoding="utf-8")
    return path


def make_reports(db: Path | None = None, out: Path | None = None, start=None, end=None, focus: str | None = None,
                 spark_dir: Path | None = None, token: str | None = None, chain: str | None = None) -> ReportResult:
    """render_reports of the DuckDB file `db` (default: $CEXFLOW_DB or cexflow.duckdb in the project root), or
    of the marts of a Spark build's warehouse `spark_dir` (its parquet files read with DuckDB; the reports go
    into it unless `out` is given)."""
    from cexflow.paths import default_db

    if spark_dir is None:
        return render_reports(db or default_db(), out, start, end, focus, token, chain)
    if db is not None:
        raise CexflowError("--db and --spark-dir: give one of them")
    # the Spark tables as views in a throw-away DuckDB file, which the report opens like a build's file
    with tempfile.TemporaryDirectory(prefix="cexflow-report-") as scratch:
        views = Path(scratch) / "spark_marts.duckdb"
        connect_spark(spark_dir, str(views)).close()
        return render_reports(views, spark_dir if out is None else out, start, end, focus, token, chain)
