"""Charts of the netflow marts: pure functions `plot_xxx(frame, out_path, ...) -> Path` on the Agg backend, each
a PNG of a fixed pixel size; `Decimal` amounts are drawn as floats (the reports print them exactly)."""

from __future__ import annotations

import math
import textwrap
import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
# every text of a chart is plain text: names come from label files, and a `$` in one is a dollar sign, not the
# start of a formula (mathtext would draw it as one, or fail on it)
matplotlib.rcParams["text.parse_math"] = False
# a name with a character the font lacks (an emoji) is drawn with a box for it: not worth a warning per chart
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font", category=UserWarning)

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator  # noqa: E402

from cexflow import escape, methods  # noqa: E402
from cexflow.text import plural  # noqa: E402

# Okabe & Ito (2008), "Color Universal Design": distinguishable with the common colour-vision deficiencies.
BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
GREEN = "#009E73"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
GREY = "#8C8C8C"
# lines of the cumulative chart: colours that are close (blue/sky blue, orange/vermillion) differ in style too
LINE_STYLES = [(c, "-") for c in (BLUE, ORANGE, GREEN, PURPLE)] + [(c, "--") for c in (SKY_BLUE, VERMILLION, BLACK)]
LINE_STYLES += [(GREY, "-.")]

INFLOW_COLOUR = VERMILLION  # tokens arriving at exchanges (potential selling pressure)
OUTFLOW_COLOUR = BLUE  # tokens leaving exchanges
NETFLOW_COLOUR = BLACK
BAND_COLOUR = SKY_BLUE

DPI = 100
WIDTH_PX = 1200
HEIGHT_PX = 600
PANEL_HEIGHT_PX = 170  # one panel of the small multiples
PANEL_EXTRA_PX = 140  # title, legend and date axis of the small multiples

plt.rcParams.update(
    {
        "font.size": 10,
        "axes.titlesize": 12,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.color": "#DDDDDD",
        "grid.linewidth": 0.6,
        "legend.frameon": False,
        "savefig.facecolor": "white",
        "figure.facecolor": "white",
    }
)


def figure_height_px(panels: int) -> int:
    """The height of small multiples of `panels` panels."""
    return max(HEIGHT_PX, PANEL_EXTRA_PX + PANEL_HEIGHT_PX * panels)


def _figure(height_px: int = HEIGHT_PX, nrows: int = 1):
    fig, axes = plt.subplots(
        nrows, 1, figsize=(WIDTH_PX / DPI, height_px / DPI), dpi=DPI, sharex=True, squeeze=False, layout="constrained"
    )
    return fig, [row[0] for row in axes]


def _save(fig, out_path: str | Path) -> Path:
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=DPI, format="png")
    plt.close(fig)
    return out


def _floats(values) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype.kind in "fiu":  # already numbers (e.g. the histogram's amounts): no loop
        return array.astype(float)
    return np.array(
        [math.nan if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in values], dtype=float
    )


def _dates(values) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(pd.to_datetime(list(values)))


def _amount_tick(value: float, _pos=None) -> str:
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:,.0f}"
    places = 1 if magnitude >= 1 else 4
    return f"{value:,.{places}f}".rstrip("0").rstrip(".")


AMOUNT_FORMATTER = FuncFormatter(_amount_tick)

SHORT_PERIOD_DAYS = 14  # up to this many days: ticks on days (every day, or every few), labelled with the date
MAX_DAY_TICKS = 7
MARKER_MAX_POINTS = 62  # lines of at most this many days get a marker on each day, so that a lone day shows


def _frame_axis(ax, frame: pd.DataFrame, *, left=None, right=None) -> None:
    """The frame's days, half a day either side (one day is a chart of that day), or to weekly bars' edges."""
    dates = _dates(frame["flow_date"])
    first, last, half = dates.min(), dates.max(), pd.Timedelta(hours=12)
    lo = first - half if left is None else min(first - half, pd.Timestamp(left))
    hi = last + half if right is None else max(last + half, pd.Timestamp(right))
    ax.xaxis_date()
    ax.set_xlim(mdates.date2num(lo), mdates.date2num(hi))
    n_days = (last - first).days + 1
    if n_days <= SHORT_PERIOD_DAYS:
        ticks = pd.date_range(first, last, freq=f"{math.ceil(n_days / MAX_DAY_TICKS)}D")
        ax.xaxis.set_major_locator(FixedLocator(mdates.date2num(ticks)))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y-%m-%d"))
    else:
        locator = mdates.AutoDateLocator(minticks=4, maxticks=10)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, show_offset=False))


def _markers(n_points: int, size: float = 4) -> dict:
    # a marker on each point of a short line: a line of one point draws nothing without it
    return {"marker": "o", "markersize": size} if n_points <= MARKER_MAX_POINTS else {}


def _amount_axis(ax, label: str) -> None:
    ax.yaxis.set_major_formatter(AMOUNT_FORMATTER)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=6))
    ax.set_ylabel(label)


SUBTITLE_CHARS = 150  # a subtitle longer than this wraps: one line would run off the chart's right edge
TITLE_CHARS = 160  # a title holds names from label files: one longer than this is cut with an ellipsis


def _title(fig, title: str, subtitle: str | None = None) -> None:
    fig.suptitle(escape.chart(title, TITLE_CHARS), fontsize=13, fontweight="bold", x=0.01, ha="left")
    if subtitle:
        subtitle = textwrap.fill(escape.chart(subtitle, 3 * SUBTITLE_CHARS), SUBTITLE_CHARS)
        fig.axes[0].set_title(subtitle, fontsize=9.5, fontweight="normal", loc="left", color="#444444")


def _legend(fig, ax, ncols: int = 6, handles: list | None = None) -> None:
    """The legend below the plot, where it never hides data."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    else:
        labels = [h.get_label() for h in handles]
    labels = [escape.chart(label, TITLE_CHARS) for label in labels]
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=min(ncols, len(handles)), fontsize=9)


CENTRED = {"ha": "center", "va": "center", "x": 0.5, "y": 0.5}
NO_DATA = "no data in this period"


def _empty(ax, text: str = NO_DATA) -> None:
    """A chart without a day: the reason, and no meaningless 0-1 axes."""
    ax.text(s=text, transform=ax.transAxes, color=GREY, fontsize=12, **CENTRED)
    ax.set_xticks([])
    ax.set_yticks([])


NOTE_BOX = {"facecolor": "white", "edgecolor": GREY, "boxstyle": "round,pad=0.4", "alpha": 0.9}


def _note(ax, text: str) -> None:
    ax.text(s=text, transform=ax.transAxes, color="#555555", fontsize=11, bbox=NOTE_BOX, zorder=10, **CENTRED)


def _all_zero(frame: pd.DataFrame, columns: Sequence[str]) -> bool:
    return all(not np.any(_floats(frame[c])) for c in columns)


def baseline_band(frame: pd.DataFrame, z_threshold: float) -> pd.DataFrame:
    """flow_date, centre, lower, upper = baseline_mean ± z_threshold × baseline_std, on the days with a z-score."""
    scored = ~np.isnan(_floats(frame["zscore"])) if "zscore" in frame.columns else np.ones(len(frame), bool)
    centre = np.where(scored, _floats(frame["baseline_mean"]), np.nan)
    spread = np.where(scored, _floats(frame["baseline_std"]), np.nan)
    lower, upper = centre - z_threshold * spread, centre + z_threshold * spread
    return pd.DataFrame({"flow_date": list(frame["flow_date"]), "centre": centre, "lower": lower, "upper": upper})


def _draw_band(ax, dates, band: pd.DataFrame, label: str | None = None) -> None:
    style = {"color": BAND_COLOUR, "alpha": 0.3, "linewidth": 0, "step": "mid"}
    ax.fill_between(dates, band["lower"], band["upper"], label=label, **style)


def _step_line(ax, part: pd.DataFrame, column: str, linewidth: float = 0.9, drawstyle: str = "steps-mid"):
    dates, values = _dates(part["flow_date"]), _floats(part[column])
    ax.plot(dates, values, color=NETFLOW_COLOUR, linewidth=linewidth, drawstyle=drawstyle, **_markers(len(dates), 3))
    return dates, values


NO_SCORES = "no day of this period has a z-score yet (too little history before it)"

DAILY_BARS_MAX_DAYS = 200  # longer periods: weekly bars, and monthly beyond WEEKLY_BARS_MAX_DAYS
WEEKLY_BARS_MAX_DAYS = 1000


def bar_bins(n_days: int) -> tuple[str, str, str]:
    """(pandas period, adjective, unit) of the bars of `n_days`: a long period's as weekly or monthly sums."""
    if n_days <= DAILY_BARS_MAX_DAYS:
        return "D", "daily", "day"
    if n_days <= WEEKLY_BARS_MAX_DAYS:
        return "W", "weekly", "week"
    return "M", "monthly", "month"


def _binned(frame: pd.DataFrame, columns: Sequence[str], periodic: pd.DataFrame | None) -> tuple:
    """(centres, {column: floats}, width, the x axis's edges) of the bars of `columns`, or of `periodic`'s sums."""
    period, adjective, unit = bar_bins(len(frame))
    span = {"D": 1.0, "W": 7.0, "M": 30.4}[period]  # days of one bar's period
    if period == "D":
        centres, rows = _dates(frame["flow_date"]), frame
    elif periodic is None:
        raise ValueError(f"{len(frame)} days are drawn as {adjective} bars: give their {unit}ly sums")
    else:
        centres, rows = _dates(periodic["period_start"]) + pd.Timedelta(days=span / 2), periodic
    width = span * (0.5 if len(rows) == 1 else 0.8 if len(rows) <= 120 else 0.9)
    half = pd.Timedelta(days=span / 2)
    edges = {"left": centres[0] - half, "right": centres[-1] + half}
    return pd.DatetimeIndex(centres), {c: _floats(rows[c]) for c in columns}, width, edges


def _mark_anomalies(ax, dates, values, is_anomaly, directions, *, size: float = 60, label: bool = True) -> None:
    flags = np.array([bool(a) for a in is_anomaly], dtype=bool)
    dirs = np.array([d or "" for d in directions])
    for direction, marker, colour in (("inflow", "^", INFLOW_COLOUR), ("outflow", "v", OUTFLOW_COLOUR)):
        sel = flags & (dirs == direction)
        if sel.any():
            style = {"color": colour, "edgecolor": BLACK, "linewidth": 0.8, "zorder": 5}
            name = f"anomaly ({direction})" if label else None
            ax.scatter(dates[sel], values[sel], marker=marker, s=size, label=name, **style)


def _bar_chart(
    frame, out_path, periodic, columns, draw, title, ylabel, note, zero=None, empty=NO_DATA, subtitle=None
) -> Path:
    """Bars of `columns` drawn by `draw`; `note` when the `zero` columns are 0 on every day."""
    fig, (ax,) = _figure()
    adjective, unit = bar_bins(len(frame))[1:]
    if frame.empty:
        _empty(ax, empty)
    else:
        centres, sums, width, edges = _binned(frame, columns, periodic)
        draw(fig, ax, centres, sums, width)
        if _all_zero(frame, zero or columns):
            _note(ax, note)
        _frame_axis(ax, frame, **edges)
    _amount_axis(ax, ylabel.format(unit=unit))
    _title(fig, title.format(adjective=adjective), subtitle)
    return _save(fig, out_path)


def _group_parts(frame: pd.DataFrame, groups: list[dict], other: str) -> list[tuple[dict, pd.DataFrame, str]]:
    """(group, its rows, its name) of each chart group in order; the rest's named by its count of `other`."""

    def name(g: dict) -> str:
        return plural(g["n_exchanges"], other) if g["is_other"] else g["exchange_group"]

    return [(g, frame[frame["group_rank"] == g["group_rank"]], name(g)) for g in groups]


PANEL_LABEL_BOX = {"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5}


def _small_multiples(
    frame, out_path, parts, draw, title, subtitle, ylabel, few_ylabel=None, empty=NO_DATA, amounts=True
):
    """A panel per exchange group drawn by `draw(ax, group, part)`, each with its own y scale (the busiest would
    flatten the others); with fewer than three panels each has `few_ylabel`."""
    fig, axes = _figure(figure_height_px(len(parts)), nrows=max(len(parts), 1))
    if frame.empty:
        _empty(axes[0], empty)
    for ax, (group, part, label) in zip(axes, parts, strict=False):
        draw(ax, group, part)
        panel_label = {"ha": "left", "va": "top", "fontweight": "bold", "bbox": PANEL_LABEL_BOX}
        ax.text(0.005, 0.93, escape.chart(label), transform=ax.transAxes, **panel_label)
        if amounts:
            ax.yaxis.set_major_formatter(AMOUNT_FORMATTER)
        ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
        _frame_axis(ax, part)
    if len(parts) >= 3:
        fig.supylabel(ylabel, fontsize=10)
    else:
        for ax in axes:
            ax.set_ylabel(few_ylabel or ylabel)
    _title(fig, title, subtitle)
    return _save(fig, out_path)


def plot_netflow_baseline(frame, out_path, settings, *, symbol, chain, period, series_name="all exchanges") -> Path:
    """Daily netflow with its baseline and ±z·σ band under the build's `settings` (present.MethodInfo), anomaly
    days marked. `frame`: flow_date, netflow, baseline_mean, baseline_std, zscore, is_anomaly, direction."""
    z_threshold, method = settings.z_threshold, settings.method
    fig, (ax,) = _figure()
    if frame.empty:
        _empty(ax)
    else:
        dates = _dates(frame["flow_date"])
        net = _floats(frame["netflow"])
        band = baseline_band(frame, z_threshold)
        if np.isfinite(band["centre"]).any():
            _draw_band(ax, dates, band, f"baseline ± {z_threshold:g} × {methods.spread_name(method)}")
            centre = {"label": f"baseline {methods.centre_name(method)}", **_markers(len(dates), 3)}
            ax.plot(dates, band["centre"], color=BLUE, linewidth=1.2, linestyle="--", drawstyle="steps-mid", **centre)
        else:
            _note(ax, f"no baseline band: {NO_SCORES}")
        line = {"label": "netflow", "drawstyle": "steps-mid", **_markers(len(dates))}
        ax.plot(dates, net, color=NETFLOW_COLOUR, linewidth=1.0, **line)
        ax.axhline(0, color=GREY, linewidth=0.8)
        _mark_anomalies(ax, dates, net, frame["is_anomaly"], frame["direction"], size=70)
        _legend(fig, ax)
        _frame_axis(ax, frame)
    _amount_axis(ax, f"{symbol} per day (+ into exchanges)")
    subtitle = f"baseline: {methods.chart_text(method, settings.window_days)}; {settings.anomaly_rule(True)}"
    _title(fig, f"{symbol} daily netflow, {series_name} — {chain}, {period}", subtitle)
    return _save(fig, out_path)


def plot_inflow_outflow(
    frame: pd.DataFrame, out_path: str | Path, *, symbol, chain, period, subject="all exchanges", periodic=None
) -> Path:
    """Inflow as bars up, outflow as bars down, netflow as a line. `frame`: flow_date, inflow, outflow, netflow."""
    target = "exchanges" if subject == "all exchanges" else subject

    def draw(fig, ax, centres, sums, width):
        ax.bar(centres, sums["inflow"], width=width, color=INFLOW_COLOUR, label=f"inflow (to {target})")
        outflow = f"outflow (from {target}), drawn down"
        ax.bar(centres, -sums["outflow"], width=width, color=OUTFLOW_COLOUR, label=outflow)
        size = 2.5 if len(centres) > 60 else 4
        line = {"marker": "o", "markersize": size, "label": "netflow (inflow − outflow)"}
        ax.plot(centres, sums["netflow"], color=NETFLOW_COLOUR, linewidth=1.0, **line)
        ax.axhline(0, color=BLACK, linewidth=0.8)
        _legend(fig, ax)

    title = f"{symbol} {{adjective}} inflow and outflow, {subject} — {chain}, {period}"
    texts = title, f"{symbol} per {{unit}} (outflow below 0)", f"no inflow or outflow, {subject}, in this period"
    return _bar_chart(frame, out_path, periodic, ("inflow", "outflow", "netflow"), draw, *texts, ("inflow", "outflow"))


def plot_netflow_by_exchange(
    frame: pd.DataFrame, out_path: str | Path, *, groups, symbol, chain, period, z_threshold=None, method=None
) -> Path:
    """A panel of daily netflow per exchange group, busiest first, the rest summed in a last panel, with the
    baseline band where `frame` has baseline_mean."""
    parts = _group_parts(frame, groups, "other exchange")
    has_band = z_threshold is not None and "baseline_mean" in frame.columns
    bands = {g["group_rank"]: baseline_band(p, z_threshold) for g, p, _ in parts if has_band and not g["is_other"]}
    banded = any(np.isfinite(band["centre"]).any() for band in bands.values())

    def draw(ax, group, part):
        if group["group_rank"] in bands:
            _draw_band(ax, _dates(part["flow_date"]), bands[group["group_rank"]])
        dates, net = _step_line(ax, part, "netflow")
        ax.axhline(0, color=GREY, linewidth=0.7)
        if "is_anomaly" in part.columns and not group["is_other"]:
            _mark_anomalies(ax, dates, net, part["is_anomaly"], part["direction"], size=40, label=False)
        if not group["is_other"] and _all_zero(part, ("inflow", "outflow")):
            _note(ax, "no inflow or outflow in this period")

    subtitle = "each panel has its own y scale; busiest exchange (inflow + outflow) first"
    if banded:
        subtitle += f"; shaded: baseline ± {z_threshold:g} × {methods.spread_name(method)}; ▲▼ anomaly days"
    elif has_band and not frame.empty:
        subtitle += f"; no baseline band: {NO_SCORES}"
    title = f"{symbol} daily netflow by exchange — {chain}, {period}"
    ylabels = f"netflow, {symbol} per day (+ into exchange)", f"{symbol} per day"
    return _small_multiples(frame, out_path, parts, draw, title, subtitle, *ylabels)


def plot_metric_by_exchange(frame, out_path, chart: dict, *, groups, symbol, chain, period) -> Path:
    """A panel per exchange group of one daily metric (`chart`: its entry of shown.j2's `exchange_charts`),
    busiest first; a ratio or a rolling sum cannot be summed, so the rest's group is left out."""
    column, ratio, ylabel = chart["column"], chart["ratio"], chart["ylabel"].format(symbol=symbol)
    parts = _group_parts(frame, groups, "less busy exchange")

    def draw(ax, _group, part):
        _dates_, values = _step_line(ax, part, column)
        if ratio:
            ax.set_ylim(0, 1.05)
        else:
            ax.axhline(0, color=GREY, linewidth=0.7)
        if np.isnan(values).all():
            _note(ax, chart["empty"] or f"no {ylabel} in this period")

    subtitle = f"busiest exchange (inflow + outflow) first; gaps: {chart['gaps']}"
    subtitle += "".join(f"; {label} not shown" for group, _part, label in parts if group["is_other"])
    shown = [p for p in parts if not p[0]["is_other"]]
    title = f"{symbol} {chart['title']} by exchange — {chain}, {period}"
    return _small_multiples(frame, out_path, shown, draw, title, subtitle, ylabel, amounts=not ratio)


def plot_zscore(
    frame, out_path, *, symbol, chain, period, z_threshold, method, window_days, series_name="all exchanges"
) -> Path:
    """The daily netflow's z-score with the ± threshold lines, anomaly days marked; days without a score gaps."""
    fig, (ax,) = _figure()
    if frame.empty:
        _empty(ax, "no z-scores in this period (no days)")
    else:
        dates = _dates(frame["flow_date"])
        z = _floats(frame["zscore"])
        if np.isnan(z).all():
            _note(ax, f"no z-scores: {NO_SCORES}")
        else:
            ax.plot(dates, z, color=NETFLOW_COLOUR, linewidth=0.9, label="z-score", **_markers(len(dates), 3))
        for sign, colour, direction in (("+", INFLOW_COLOUR, "inflow"), ("−", OUTFLOW_COLOUR, "outflow")):
            label = f"{sign}{z_threshold:g} ({direction} anomaly)"
            level = z_threshold if sign == "+" else -z_threshold
            ax.axhline(level, color=colour, linestyle="--", linewidth=1.2, label=label)
        ax.axhline(0, color=GREY, linewidth=0.7)
        _mark_anomalies(ax, dates, z, frame["is_anomaly"], frame["direction"], size=60)
        _legend(fig, ax)
        _frame_axis(ax, frame)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}" if abs(v) >= 10 else f"{v:g}"))
    ax.set_ylabel("z (standard deviations from the baseline)")
    subtitle = f"baseline: {methods.chart_text(method, window_days)}"
    _title(fig, f"{symbol} netflow z-score, {series_name} — {chain}, {period}", subtitle)
    return _save(fig, out_path)


def plot_cumulative_netflow(
    frame: pd.DataFrame, out_path: str | Path, *, groups: list[dict], symbol: str, chain: str, period: str
) -> Path:
    """Cumulative netflow per exchange group, busiest first. `frame`: group_rank, flow_date, cumulative_netflow."""
    fig, (ax,) = _figure()
    if frame.empty:
        _empty(ax)
    else:
        ends = []
        for i, (_group, part, name) in enumerate(_group_parts(frame, groups, "other")):
            dates = _dates(part["flow_date"])
            cumulative = _floats(part["cumulative_netflow"])
            colour, style = LINE_STYLES[i % len(LINE_STYLES)]
            line = {"label": escape.chart(name), **_markers(len(dates), 4)}
            ax.plot(dates, cumulative, color=colour, linestyle=style, linewidth=1.6, **line)
            ends.append((cumulative[-1], name, colour))
        ax.axhline(0, color=GREY, linewidth=0.8)
        _legend(fig, ax, ncols=8)
        _frame_axis(ax, frame)
        _label_line_ends(fig, ax, dates[-1], ends)
    _amount_axis(ax, f"cumulative netflow, {symbol} (+ into exchange)")
    subtitle = "running sum of daily netflow from the first day shown: "
    subtitle += "the change in the balance of the labelled wallets"
    _title(fig, f"{symbol} cumulative netflow by exchange — {chain}, {period}", subtitle)
    return _save(fig, out_path)


def plot_reserve_by_exchange(
    frame: pd.DataFrame, out_path: str | Path, *, groups: list[dict], symbol: str, chain: str, period: str
) -> Path:
    """A panel per exchange group of its reserve at the end of each day it is known, largest first."""

    def named(group, label):
        share = group["last_share_of_supply"]
        return label if pd.isna(share) else f"{label} ({float(share):.2%} of supply on the last day)"

    parts = [(group, part, named(group, label)) for group, part, label in _group_parts(frame, groups, "other exchange")]

    def draw(ax, _group, part):
        _step_line(ax, part, "reserve", 1.2, "steps-post")

    title = f"{symbol} exchange reserve by exchange — {chain}, {period}"
    subtitle = "tokens the labelled wallets hold at the end of each day, from balance anchors; each panel has its own "
    subtitle += "y scale; largest reserve first"
    ylabels = f"reserve, {symbol} at the end of the day", f"{symbol} held"
    empty = "no exchange reserve: no balance anchors (cexflow build --balances)"
    return _small_multiples(frame, out_path, parts, draw, title, subtitle, *ylabels, empty=empty)


def _label_line_ends(fig, ax, x_end, ends: list[tuple[float, str, str]]) -> None:
    """Name each line at its right end, labels nudged apart, the x axis widened to keep the longest inside."""
    if not ends:
        return
    lo, hi = min(e[0] for e in ends), max(e[0] for e in ends)
    gap = (hi - lo) * 0.06 or 1.0
    placed: list[float] = []
    labels = []
    for value, name, colour in sorted(ends, key=lambda e: e[0]):
        y = value if not placed else max(value, placed[-1] + gap)
        placed.append(y)
        style = {"ha": "left", "va": "center", "fontsize": 9, "fontweight": "bold", "annotation_clip": False}
        labels.append(
            ax.annotate(
                escape.chart(name), (x_end, y), xytext=(6, 0), textcoords="offset points", color=colour, **style
            )
        )
    fig.canvas.draw()  # the layout, to measure the names in pixels
    box = ax.get_window_extent()
    overhang = max(label.get_window_extent().x1 for label in labels) - box.x1
    if overhang > 0:
        left, right = ax.get_xlim()
        per_pixel = (right - left) / box.width
        ax.set_xlim(left, right + (overhang + 8) * per_pixel * 1.15)  # the axes shrink a little as it widens


VOLUME_COLOUR = GREEN  # volume of every direction: neither the inflow nor the outflow colour
INTERNAL_COLOUR = PURPLE  # transfers between wallets of one exchange (sweeps): not a flow, hatched
OTHER_COLOUR = GREY  # transfers between two exchanges, seen from all exchanges: neither in nor out of them
NO_TRANSFERS = "no transfers in this period"


def plot_daily_volume(
    frame: pd.DataFrame, out_path: str | Path, *, symbol, chain, period, subject, periodic=None
) -> Path:
    """Transfer volume (all directions) as bars. `frame`: flow_date, volume (every day of the period)."""

    def draw(_fig, ax, centres, sums, width):
        ax.bar(centres, sums["volume"], width=width, color=VOLUME_COLOUR, label="volume")

    title = f"{symbol} {{adjective}} transfer volume, {subject} — {chain}, {period}"
    texts = title, f"{symbol} transferred per {{unit}}", f"no transfers, {subject}, in this period"
    subtitle = "all transfers touching it: deposits, withdrawals, internal and cross-exchange"
    return _bar_chart(frame, out_path, periodic, ("volume",), draw, *texts, empty=NO_TRANSFERS, subtitle=subtitle)


def plot_netflow_bars(
    frame: pd.DataFrame, out_path: str | Path, *, symbol, chain, period, subject, periodic=None
) -> Path:
    """Netflow as bars, vermillion above zero, blue below. `frame`: flow_date, netflow (every day)."""

    def draw(fig, ax, centres, sums, width):
        net = sums["netflow"]
        ax.bar(centres, net, width=width, color=np.where(net >= 0, INFLOW_COLOUR, OUTFLOW_COLOUR))
        ax.axhline(0, color=BLACK, linewidth=0.8)
        inflow = Patch(facecolor=INFLOW_COLOUR, label="net inflow: more arriving than leaving (vermillion, up)")
        _legend(fig, ax, handles=[inflow, Patch(facecolor=OUTFLOW_COLOUR, label="net outflow (blue, down)")])

    title = f"{symbol} {{adjective}} netflow, {subject} — {chain}, {period}"
    texts = title, f"netflow, {symbol} per {{unit}} (+ into it)", f"netflow 0 on every day, {subject}, in this period"
    return _bar_chart(frame, out_path, periodic, ("netflow",), draw, *texts)


def transfer_kind(direction: str, flow_type: str | None, wallet_view: bool) -> tuple[str, str]:
    """(legend key, bar label) of a transfer in the largest-transfers chart."""
    if flow_type in ("internal", "sweep"):
        return "internal", (f"sweep {'in' if direction == 'inflow' else 'out'}" if wallet_view else "internal")
    if direction in ("inflow", "outflow"):
        return direction, direction
    return "other", direction.replace("_", "-")


TRANSFER_KINDS = {  # legend key -> (colour, hatch, legend text naming the colour drawn)
    "inflow": (INFLOW_COLOUR, None, "inflow, into it (vermillion)"),
    "outflow": (OUTFLOW_COLOUR, None, "outflow, out of it (blue)"),
    "internal": (INTERNAL_COLOUR, "///", "internal sweep, between wallets of one exchange (reddish purple, hatched)"),
    "other": (OTHER_COLOUR, None, "between two exchanges (grey)"),
}


def plot_top_transfers(
    frame: pd.DataFrame, out_path: str | Path, *, symbol, chain, period, subject, wallet_view=False
) -> Path:
    """The largest transfers as horizontal bars labelled with date, direction and tx hash, coloured by kind."""
    fig, (ax,) = _figure()
    if frame.empty:
        _empty(ax, NO_TRANSFERS)
    else:
        amounts = _floats(frame["amount"])
        kinds = [transfer_kind(d, f, wallet_view) for d, f in zip(frame["direction"], frame["flow_type"], strict=True)]
        labels = [
            f"{pd.Timestamp(t):%Y-%m-%d %H:%M}  {label:<14}  {h[:10]}…"
            for t, (_, label), h in zip(frame["transferred_at"], kinds, frame["tx_hash"], strict=True)
        ]
        y = np.arange(len(amounts))
        for yi, value, (key, _) in zip(y, amounts, kinds, strict=True):
            colour, hatch, _text = TRANSFER_KINDS[key]
            ax.barh(yi, value, color=colour, hatch=hatch, edgecolor="white" if hatch else None, linewidth=0)
        ax.set_yticks(y, labels, fontfamily="monospace", fontsize=9)
        ax.invert_yaxis()
        for yi, value in zip(y, amounts, strict=True):
            ax.text(value, yi, f" {value:,.2f}", va="center", ha="left", fontsize=9)
        ax.set_xlim(0, amounts.max() * 1.18)
        ax.xaxis.set_major_formatter(AMOUNT_FORMATTER)
        ax.set_xlabel(f"amount, {symbol}")
        ax.grid(axis="y", visible=False)
        drawn = [TRANSFER_KINDS[key] for key in TRANSFER_KINDS if key in {k for k, _ in kinds}]
        handles = [Patch(facecolor=c, hatch=h, edgecolor="white" if h else c, label=text) for c, h, text in drawn]
        _legend(fig, ax, ncols=3 if len(drawn) <= 3 else 2, handles=handles)  # four in a row would not fit
    largest = "the largest transfer" if len(frame) == 1 else f"the {len(frame)} largest transfers"
    _title(fig, f"{symbol}: {largest}, {subject} — {chain}, {period}", "UTC times")
    return _save(fig, out_path)


def plot_transfer_size_histogram(
    amounts: Sequence, out_path: str | Path, *, symbol: str, chain: str, period: str, subject: str
) -> Path:
    """Histogram of transfer sizes on logarithmic bins (a log x axis)."""
    fig, (ax,) = _figure()
    values = _floats(amounts)
    values = values[values > 0]
    if values.size == 0:
        _empty(ax, NO_TRANSFERS)
    else:
        lo, hi = math.floor(math.log10(values.min())), math.ceil(math.log10(values.max()))
        hi = max(hi, lo + 1)
        bins = np.logspace(lo, hi, 4 * (hi - lo) + 1)
        ax.hist(values, bins=bins, color=VOLUME_COLOUR, edgecolor="white", linewidth=0.5)
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(AMOUNT_FORMATTER)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:,.0f}"))
    ax.set_xlabel(f"transfer size, {symbol} (log scale, 4 bins per power of ten)")
    ax.set_ylabel("number of transfers")
    _title(fig, f"{symbol} transfer sizes, {subject} — {chain}, {period}", plural(values.size, "transfer"))
    return _save(fig, out_path)
