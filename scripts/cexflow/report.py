"""`cexflow report`: charts, Markdown reports and CSV exports of the whole range or a focus (docs/reports.md).
Links are relative only, so the folder can move (GitHub, the docs site)."""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from cexflow import charts, escape, methods, present
from cexflow import db as marts
from cexflow.db import connect, connect_spark
from cexflow.errors import CexflowError
from cexflow.files import write_csv
from cexflow.paths import PROJECT_ROOT, beside, default_db, is_project_db

HELP = (
    "Render charts (PNG), Markdown reports and CSV exports from the marts: the whole range, or a focus "
    "period, exchange or wallet."
)

REPORTS_SUBDIR = "reports"
PROJECT_REPORTS = PROJECT_ROOT / "docs" / "sample-reports"  # the reports of the project's own database (committed)
IMG_DIR = "img"
DATA_DIR = "data"
FOCUS_DIR = "focus"
TOP_DAYS = 5  # largest inflow and outflow days in the summary
TOP_TRANSFERS = 10  # largest transfers in a focus report
REJECTED_SHOWN = 20  # rejected rows listed in the summary


def overview_chart_texts(n_days: int) -> dict[str, str]:
    """What each overview chart of a range of `n_days` shows (templates/shown.j2), its bars' adjective filled in."""
    bars = charts.bar_bins(n_days)[1]
    return {
        c["name"]: c["text"].format(bars=bars)
        for c in [*present.shown().overview_charts, *present.shown().exchange_charts]
    }


RESERVE_CHART = "reserve_by_exchange.png"  # only when the build has balance anchors (cexflow build --balances)

CSV_EXPORTS = ("topk_netflow_total.csv", "topk_netflow_by_exchange.csv", "top_netflow_anomalies.csv")


def load_overview(db_path: Path, scope: present.TokenKey | None = None) -> SimpleNamespace:
    """The whole-range reports' numbers, a field per reader; with `scope`, that token's."""
    db_path = Path(db_path)
    with present.open_marts(db_path, scope) as con:
        present.check_marts(con, db_path)
        summary = marts.build_summary(con)
        total_daily = marts.daily_series(con, "total").drop(columns="series")
        unit = charts.bar_bins(len(total_daily))[2]
        return SimpleNamespace(
            db=db_path,
            token=present.load_token(con),
            method=present.load_method(con),
            first_day=summary["first_flow_date"],
            last_day=summary["last_flow_date"],
            period=present.period_text(summary["first_flow_date"], summary["last_flow_date"]),
            totals=summary,
            total_daily=total_daily,
            total_periodic=marts.periodic_total(con, unit) if unit != "day" else None,
            panels=marts.chart_group_days(con, "panels"),
            panel_groups=marts.chart_groups(con, "panels"),
            lines=marts.chart_group_days(con, "lines"),
            line_groups=marts.chart_groups(con, "lines"),
            exchanges=marts.exchange_period_totals(con),
            largest_inflow_days=marts.largest_netflow_days(con, "inflow", TOP_DAYS),
            largest_outflow_days=marts.largest_netflow_days(con, "outflow", TOP_DAYS),
            topk=marts.topk_days(con),
            anomalies=marts.anomaly_days(con),
            anomaly_counts=marts.anomaly_counts(con),
            reconciliation=marts.input_reconciliation(con),
            rejected_reasons=marts.rejected_reasons(con),
            rejected_rows=marts.rejected_rows(con, REJECTED_SHOWN),
            n_rejected=summary["n_rejected"],
            unpriced=marts.days_without_price(con) if summary["n_priced_days"] else [],
            reserves=marts.reserve_summary(con),
            reserve_days=marts.reserve_chart_days(con),
            reserve_groups=marts.reserve_chart_groups(con),
            reserve_unknown=marts.reserve_unknown(con),
            several=False,  # one of the tokens of a database of several (its reports in a folder of their own)
        )


USD_DAYS_SHOWN = 10  # days without a price listed by name in the summary


def render_overview_charts(ov: SimpleNamespace, reports_dir: Path) -> list[Path]:
    img = reports_dir / IMG_DIR
    common = {"symbol": ov.token.symbol, "chain": ov.token.chain, "period": ov.period}
    m = ov.method
    if m is None:  # no day in the marts: the charts name the project's default settings
        defaults = methods.project_vars()
        m = present.MethodInfo(
            defaults["zscore_method"], defaults["zscore_window_days"], float(defaults["zscore_threshold"]), 0
        )
    band = {"z_threshold": m.z_threshold, "method": m.method}
    panels = {**common, "groups": ov.panel_groups}
    bars, lines = {**common, "periodic": ov.total_periodic}, {**common, "groups": ov.line_groups}
    written = [
        charts.plot_netflow_baseline(ov.total_daily, img / "netflow_total_baseline.png", m, **common),
        charts.plot_inflow_outflow(ov.total_daily, img / "inflow_outflow_total.png", **bars),
        charts.plot_netflow_by_exchange(ov.panels, img / "netflow_by_exchange.png", **panels, **band),
        charts.plot_zscore(ov.total_daily, img / "zscore_total.png", **common, **band, window_days=m.window_days),
        charts.plot_cumulative_netflow(ov.lines, img / "cumulative_netflow_by_exchange.png", **lines),
    ]
    for c in present.shown().exchange_charts:
        written.append(charts.plot_metric_by_exchange(ov.panels, img / f"{c['name']}.png", c, **panels))
    if ov.reserves:
        reserve = {**common, "groups": ov.reserve_groups}
        written.append(charts.plot_reserve_by_exchange(ov.reserve_days, img / RESERVE_CHART, **reserve))
    return written


# the CSV exports' columns, as the seed project named them
TOPK_COLUMNS = (
    "rank flow_date inflow outflow netflow baseline_mean baseline_std baseline_days zscore is_anomaly direction"
)
ANOMALY_COLUMNS = "flow_date series inflow outflow netflow baseline_mean baseline_std baseline_days zscore direction"


def write_csv_exports(ov: SimpleNamespace, reports_dir: Path) -> list[Path]:
    """The top-k and anomaly tables as CSV, under the seed project's file names, exact numbers."""
    m = ov.method
    params = {name: getattr(m, name) if m else "" for name in ("method", "window_days", "z_threshold")}
    total = ov.topk[ov.topk["series"] == "total"]
    by_exchange = ov.topk[ov.topk["series"] != "total"].rename(columns={"series": "exchange"})
    tables = (
        (TOPK_COLUMNS.split(), total),
        (["exchange", *TOPK_COLUMNS.split()], by_exchange),
        (ANOMALY_COLUMNS.split(), ov.anomalies),
    )
    written = []
    for name, (columns, rows) in zip(CSV_EXPORTS, tables, strict=True):
        header = [*columns, *params]
        values = [{c: _csv_value({**row, **params}.get(c)) for c in header} for row in present.records(rows)]
        written.append(write_csv(reports_dir / DATA_DIR / name, header, values))
    return written


def _csv_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):  # a name: text, never a formula in a spreadsheet
        return escape.csv_cell(value)
    return present.fmt_exact(value)


def render_overview(ov: SimpleNamespace, reports_dir: Path) -> list[Path]:
    """The charts, summary.md, topk.md, anomalies.md and the CSV exports; returns the files written."""
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    written = render_overview_charts(ov, reports_dir)
    written += write_csv_exports(ov, reports_dir)
    env = present.template_environment()
    topk = present.records(ov.topk)  # the total's days first, then each exchange's (grouped by topk.md.j2)
    tables = ("exchanges", "largest_inflow_days", "largest_outflow_days", "anomalies")
    context = {
        **vars(ov),
        **{name: present.records(getattr(ov, name)) for name in tables},
        "ov": ov,
        "symbol": ov.token.symbol,
        "period": ov.period,
        "topk_total": [row for row in topk if row["series"] == "total"],
        "topk_exchanges": [row for row in topk if row["series"] != "total"],
        "img": IMG_DIR,
        "data": DATA_DIR,
        "csv_exports": CSV_EXPORTS,
        "chart_text": overview_chart_texts(ov.totals["n_days"]),
        "reserve_chart": RESERVE_CHART,
        "usd_days_shown": USD_DAYS_SHOWN,
    }
    for name in ("summary", "topk", "anomalies"):
        path = reports_dir / f"{name}.md"
        path.write_text(env.get_template(f"{name}.md.j2").render(**context), encoding="utf-8")
        written.append(path)
    return written


@dataclass(frozen=True)
class FocusSubject:
    kind: str  # 'all', 'exchange' or 'wallet'
    name: str
    exchange: str | None = None
    addresses: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return "all exchanges" if self.kind == "all" else f"{self.kind} {self.name}"  # exchange X, wallet X

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", (self.name if self.kind != "all" else "all-exchanges").lower()).strip("-")


def resolve_focus(con, focus: str | None) -> FocusSubject:
    if not focus:
        return FocusSubject("all", "all exchanges")
    key = focus.strip().lower()
    exchange = marts.exchange_named(con, key)
    if exchange:
        return FocusSubject("exchange", exchange, exchange=exchange)
    rows = marts.wallets_named(con, key)
    if rows:
        names = sorted({r[0] for r in rows})
        return FocusSubject(
            "wallet", names[0] if len(names) == 1 else focus, exchange=rows[0][1], addresses=tuple(r[2] for r in rows)
        )
    raise CexflowError(present.words().no_focus(focus, marts.exchange_names(con)))


def load_focus(
    db: Path, start=None, end=None, focus: str | None = None, scope: present.TokenKey | None = None
) -> SimpleNamespace:
    """A focus report's numbers: of one period, and an exchange or a wallet."""
    db = Path(db)
    start, end = present.parse_date(start, "--start"), present.parse_date(end, "--end")
    with present.open_marts(db, scope) as con:
        present.check_marts(con, db)
        summary = marts.build_summary(con)
        first, last = summary["first_flow_date"], summary["last_flow_date"]
        if first is None:
            raise CexflowError(f"--db {db}: the marts have no days; build them from transfer files first")
        start, end = start or first, end or last
        if start > end:
            raise CexflowError(f"--start {start} is after --end {end}")
        if end < first or start > last:
            raise CexflowError(present.words().no_days_in(start, end, first, last))
        subject = resolve_focus(con, focus)
        series = {"all": "total", "exchange": subject.exchange}.get(subject.kind)
        # each reader takes the parameters its query names ($s, $e, $x, $a, $series)
        params = {"s": start, "e": end, "x": subject.exchange, "a": list(subject.addresses), "series": series or ""}

        def read(reader: str, **more):
            return marts.focus(con, reader, subject.kind, params | more)

        stats, daily = read("stats") | read("totals"), read("daily")
        unit = charts.bar_bins(len(daily))[2]
        return SimpleNamespace(
            token=present.load_token(con),
            method=present.load_method(con),
            subject=subject,
            series=series,
            start=start,
            end=end,
            period=present.period_text(start, end),
            slug=f"{subject.slug}_{start}_{end}",
            data_first_day=first,
            data_last_day=last,
            stats=stats,
            by_flow_type=read("by_direction"),
            daily=daily,
            periodic=read("periodic", period=unit) if unit != "day" else None,
            largest=read("largest", n=TOP_TRANSFERS),
            amounts=read("amounts"),
            anomalies=marts.focus_anomalies(con, series, start, end) if series else pd.DataFrame(),
        )


def render_focus(f: SimpleNamespace, reports_dir: Path) -> list[Path]:
    """focus/<subject>_<start>_<end>.md and its charts in focus/img/."""
    focus_dir = Path(reports_dir) / FOCUS_DIR
    img = focus_dir / IMG_DIR
    names = {"symbol": f.token.symbol, "chain": f.token.chain, "period": f.period}
    title = f.subject.title
    common = {**names, "subject": title}
    bars = {**common, "periodic": f.periodic}

    def png(name: str) -> Path:
        return img / f"{f.slug}_{name}.png"

    wallet_view = f.subject.kind == "wallet"
    chart_files = {
        "daily_volume": charts.plot_daily_volume(f.daily, png("daily_volume"), **bars),
        "top_transfers": charts.plot_top_transfers(f.largest, png("top_transfers"), **common, wallet_view=wallet_view),
        "size_histogram": charts.plot_transfer_size_histogram(f.amounts, png("transfer_size_hist"), **common),
        "in_vs_out": charts.plot_inflow_outflow(f.daily, png("in_vs_out"), **bars),
        "netflow": charts.plot_netflow_bars(f.daily, png("netflow"), **bars),
    }
    if f.series and f.method:
        baseline = charts.plot_netflow_baseline(f.daily, png("netflow_baseline"), f.method, **names, series_name=title)
        chart_files["netflow_baseline"] = baseline
    context = {
        **vars(f),
        "f": f,
        "symbol": f.token.symbol,
        "by_flow_type": present.records(f.by_flow_type),
        "largest": present.records(f.largest),
        "anomalies": present.records(f.anomalies),
        "charts": {k: f"{IMG_DIR}/{p.name}" for k, p in chart_files.items()},
        "top_transfers": TOP_TRANSFERS,
        "bars": charts.bar_bins(len(f.daily))[1],
    }
    text = present.template_environment().get_template("focus.md.j2").render(context)
    path = focus_dir / f"{f.slug}.md"
    path.write_text(text, encoding="utf-8")
    return [*chart_files.values(), path]


def chart_links(reports_dir: Path, n_days: int, prefix: str = "") -> list[tuple[str, str]]:
    """(`prefix` + its path, what it shows) of each overview chart in `reports_dir`."""
    texts = overview_chart_texts(n_days).items()
    return [(f"{prefix}{IMG_DIR}/{n}.png", text) for n, text in texts if (reports_dir / IMG_DIR / f"{n}.png").exists()]


def csv_links(reports_dir: Path, prefix: str = "") -> list[str]:
    return [f"{prefix}{DATA_DIR}/{name}" for name in CSV_EXPORTS if (reports_dir / DATA_DIR / name).exists()]


def render_index(
    reports_dir: Path,
    token: present.TokenInfo | None = None,
    period: str | None = None,
    n_days: int = 0,
    up: str | None = None,
) -> Path:
    """index.md: the reports, charts and CSV files present in the folder; `up`: the link to the index of tokens."""
    reports_dir = Path(reports_dir)
    focus_reports = sorted((reports_dir / FOCUS_DIR).glob("*.md")) if (reports_dir / FOCUS_DIR).is_dir() else []
    context = {
        "token": token,
        "period": period,
        "has": {name: (reports_dir / f"{name}.md").exists() for name in ("summary", "topk", "anomalies")},
        "charts": chart_links(reports_dir, n_days),
        "csv_files": csv_links(reports_dir),
        "focus_reports": [(f"{FOCUS_DIR}/{p.name}", p.stem) for p in focus_reports],
        "up": up,
    }
    path = reports_dir / "index.md"
    path.write_text(present.template_environment().get_template("index.md.j2").render(**context), encoding="utf-8")
    return path


@dataclass
class ReportResult:
    reports_dir: Path
    files: list[Path]
    overview: SimpleNamespace | None = None  # of the (last) token rendered
    focus: SimpleNamespace | None = None
    skipped: list[str] = field(default_factory=list)  # tokens of several without the focus asked for, and why

    def lines(self) -> list[str]:
        return present.words().report_lines(self).split("\n")


def default_reports_dir(db: Path) -> Path:
    """Where the reports of `db` go without --out: docs/sample-reports/ for the project's own database, else
    `<name>.reports/` beside it (my.duckdb -> my.reports/)."""
    return PROJECT_REPORTS if is_project_db(db) else beside(db, REPORTS_SUBDIR)


def make_reports(
    db: Path | None = None,
    out: Path | None = None,
    start=None,
    end=None,
    focus: str | None = None,
    spark_dir: Path | None = None,
    token: str | None = None,
    chain: str | None = None,
) -> ReportResult:
    """`cexflow report`: the whole-range reports, or with --start/--end/--focus a focus report, of the DuckDB file
    `db` into `out`/reports/ or `default_reports_dir(db)`, or of a Spark build's warehouse `spark_dir` (into it by
    default); of several tokens a folder each and TOKENS_INDEX."""
    if spark_dir is not None:
        if db is not None:
            raise CexflowError("--db and --spark-dir: give one of them")
        # the Spark tables as views in a throw-away DuckDB file, which the report opens like a build's file
        with tempfile.TemporaryDirectory(prefix="cexflow-report-") as scratch:
            views = Path(scratch) / "spark_marts.duckdb"
            connect_spark(spark_dir, str(views)).close()
            return make_reports(views, spark_dir if out is None else out, start, end, focus, None, token, chain)
    db = db or default_db()
    reports_dir = default_reports_dir(db) if out is None else Path(out) / REPORTS_SUBDIR
    # a bad date is one error, not one a token
    first, last = present.parse_date(start, "--start"), present.parse_date(end, "--end")
    if first and last and first > last:
        raise CexflowError(f"--start {first} is after --end {last}")
    with connect(db) as con:
        present.check_marts(con, Path(db))
        tokens, lone = present.database_tokens(con), present.lone_token(con)
    chosen = present.select_tokens(tokens, token, chain) if token is not None or chain is not None else tokens
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


def _render_one(
    db: Path,
    reports_dir: Path,
    start,
    end,
    focus: str | None,
    scope: present.TokenKey | None = None,
    up: str | None = None,
) -> ReportResult:
    """The reports of the one token of `db`, or of the token `scope`, into `reports_dir`."""
    if start or end or focus:
        data = load_focus(db, start, end, focus, scope)
        files = render_focus(data, reports_dir)
        first, last = data.data_first_day, data.data_last_day
        files.append(
            render_index(reports_dir, data.token, present.period_text(first, last), (last - first).days + 1, up)
        )
        return ReportResult(reports_dir, files, focus=data)
    ov = load_overview(db, scope)
    ov.several = up is not None
    files = render_overview(ov, reports_dir)
    files.append(render_index(reports_dir, ov.token, ov.period, ov.totals["n_days"], up))
    return ReportResult(reports_dir, files, overview=ov)


TOKENS_INDEX = "README.md"  # the index of a database of several tokens, beside their folders


def render_tokens_index(db: Path, reports_dir: Path, tokens: list[present.TokenKey]) -> Path:
    """README.md of the reports of several tokens: each token's figures and folder, and a symbol's over chains."""
    with connect(db) as con:
        rows = [
            {**s, "link": f"{s['folder']}/index.md" if (reports_dir / s["folder"] / "index.md").exists() else None}
            for s in present.summaries_of(con, tokens)
        ]
        cross_chain = [
            {
                "symbol": total["symbol"],
                "total": total,
                "period": present.period_text(total["first_flow_date"], total["last_flow_date"]),
                "chains": [r for r in rows if r["key"].symbol == total["symbol"]],
            }
            for total in marts.cross_chain_totals(con)
        ]
        with_data = {(t.chain, t.address) for t in tokens}
        selected = [present.TokenInfo(**row) for row in marts.selected_tokens(con)]
        without = [t.label for t in selected if (t.chain, t.address) not in with_data]
    path = Path(reports_dir) / TOKENS_INDEX
    path.parent.mkdir(parents=True, exist_ok=True)
    page = present.template_environment().get_template("tokens.md.j2")
    has_usd = any(r["n_priced_days"] for r in rows)
    path.write_text(page.render(rows=rows, cross_chain=cross_chain, has_usd=has_usd, without=without), encoding="utf-8")
    return path
