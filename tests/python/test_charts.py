"""What the charts draw, read from each figure just before it is saved (`drawing()`), on the ranges a new user
meets: one day (the real 51-block USDT file), three hand-made days with an internal sweep and a transfer between
two exchanges, and four years (the real LPT export of one Binance wallet). Checked: the x axis is the period and
its ticks are its days, a lone day is drawn, an empty series says so, titles, alt texts and the index say
daily or monthly as drawn, legends name the colours drawn, no text leaves the figure; and the one-day reports,
site and command line count in words ("1 day").
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import shutil
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import matplotlib.colors as mcolors
import matplotlib.dates as mdates
import pytest
from conftest import (
    BINANCE14,
    BINANCE20,
    ETHERSCAN_HEADER,
    KRAKEN1,
    PLAIN_TRAILING,
    build,
    etherscan_row,
    lpt_export_default_db,
    usdt_one_day_db,
    user,
    write_csv,
)
from matplotlib.text import Text
from test_build_real_data import LPT_FILE

from cexflow import charts, docs, report
from cexflow.methods import project_vars
from cexflow.text import plural

# the Okabe-Ito colours by the names the legends use (Okabe & Ito 2008), and the grey of "other"
NAMED_COLOURS = {"vermillion": "#D55E00", "blue": "#0072B2", "reddish purple": "#CC79A7", "grey": "#8C8C8C",
                 "bluish green": "#009E73"}
DATE_CHARTS = ("netflow_total_baseline", "inflow_outflow_total", "netflow_by_exchange", "zscore_total",
               "cumulative_netflow_by_exchange", "daily_volume", "in_vs_out", "netflow")


# --- what a figure drew ---------------------------------------------------------------------------------


@dataclass
class Drawn:
    title: str
    texts: list[str]  # every visible text: titles, notes, legends, tick labels
    outside: list[str]  # texts that leave the figure (cut off in the PNG)
    xlims: list[tuple[dt.datetime, dt.datetime]]  # of each axes with a date axis
    xticks: list[list[str]]  # tick labels of each date axis
    lone_points_without_marker: int  # lines of one point drawn with no marker: invisible
    bars: list[tuple[str, str | None]]  # (colour, hatch) of each bar of the first axes, in drawing order
    legend: list[tuple[str, str, str | None]]  # (text, colour, hatch) of each legend entry

    def has(self, words: str) -> bool:
        return any(words in t for t in self.texts)


def hex_of(colour) -> str:
    return mcolors.to_hex(colour).upper()


def read_figure(fig) -> Drawn:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    # tick labels outside the axis' view are kept by matplotlib but not drawn: leave them out
    undrawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            drawn = {id(label) for tick in axis._update_ticks() for label in (tick.label1, tick.label2)}
            undrawn |= {id(t) for t in axis.get_ticklabels(which="both") if id(t) not in drawn}
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]
    outside = []
    for t in texts:
        e = t.get_window_extent(renderer)
        if e.x0 < box.x0 - 1 or e.x1 > box.x1 + 1 or e.y0 < box.y0 - 1 or e.y1 > box.y1 + 1:
            outside.append(t.get_text())
    xlims, xticks, lone = [], [], 0
    for ax in fig.axes:
        if isinstance(ax.xaxis.get_major_formatter(), (mdates.DateFormatter, mdates.ConciseDateFormatter)):
            lo, hi = ax.get_xlim()
            xlims.append((mdates.num2date(lo).replace(tzinfo=None), mdates.num2date(hi).replace(tzinfo=None)))
            xticks.append([t.get_text() for t in ax.get_xticklabels() if t.get_text()])
        lone += sum(1 for line in ax.lines if len(line.get_xdata()) == 1 and line.get_marker() in ("None", "", None))
    first = fig.axes[0]
    bars = [(hex_of(p.get_facecolor()), p.get_hatch()) for p in first.patches]
    legend = []
    for lg in fig.legends:
        for handle, text in zip(lg.legend_handles, lg.get_texts(), strict=True):
            colour = handle.get_facecolor() if hasattr(handle, "get_hatch") else handle.get_color()
            legend.append((text.get_text(), hex_of(colour), getattr(handle, "get_hatch", lambda: None)()))
    title = fig.get_suptitle()
    return Drawn(title, [t.get_text() for t in texts], outside, xlims, xticks, lone, bars, legend)


@contextmanager
def drawing():
    """{chart file name: Drawn} of every chart saved inside the block."""
    seen: dict[str, Drawn] = {}
    save = charts._save

    def spy(fig, out_path):
        seen[Path(out_path).name] = read_figure(fig)
        return save(fig, out_path)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(charts, "_save", spy)
        yield seen


def is_kind(name: str, kind: str) -> bool:
    """Whether `name` is the overview chart `kind` or a focus chart `kind` (<subject>_<start>_<end>_<kind>.png)."""
    return name == f"{kind}.png" or re.fullmatch(rf"[a-z0-9-]+_[\d-]{{10}}_[\d-]{{10}}_{kind}\.png", name) is not None


def render_drawn(db: Path, out: Path, *focus_reports: dict) -> tuple[Path, dict[str, Drawn]]:
    """The whole-range reports of `db` and a focus report per dict of `render_reports` arguments, in `out`:
    (the reports' folder, what each chart drew)."""
    with drawing() as seen:
        report.make_reports(db, out)
        for arguments in focus_reports:
            report.make_reports(db, out, **arguments)
    return out / "reports", seen


def chart(seen: dict[str, Drawn], kind: str) -> Drawn:
    """The one chart of `kind` (`is_kind`)."""
    found = [d for name, d in seen.items() if is_kind(name, kind)]
    assert len(found) == 1, (kind, sorted(seen))
    return found[0]


def assert_readable(seen: dict[str, Drawn]) -> None:
    for name, d in seen.items():
        assert d.outside == [], f"{name}: text cut off at the figure's edge: {d.outside}"
        assert d.lone_points_without_marker == 0, f"{name}: a day drawn as a line of one point, without a marker"


# --- one day: the real 51-block USDT file ------------------------------------------------------------------


@pytest.fixture(scope="module")
def one_day_db(tmp_path_factory, real_data) -> Path:
    # build(db, "--input", ETL_FILE, "--blocks", <the blocks>, "--token", "USDT", "--labels", <the 2023 labels>),
    # shared with test_build_real_data.py
    return usdt_one_day_db(tmp_path_factory)


@pytest.fixture(scope="module")
def one_day(one_day_db, tmp_path_factory):
    return render_drawn(one_day_db, tmp_path_factory.mktemp("one_day_out"), {"focus": "binance"})


def test_a_one_day_chart_shows_that_day(one_day):
    _, seen = one_day
    assert_readable(seen)
    day = dt.datetime(2021, 6, 9)
    for kind in DATE_CHARTS:
        d = chart(seen, kind)
        assert d.xlims, kind
        for (lo, hi), ticks in zip(d.xlims, d.xticks, strict=True):
            # the day and half a day either side (the cumulative chart a little more to the right, for the
            # names at the lines' ends): not the years 2020 to 2023 matplotlib picks for a single date
            assert lo == day - dt.timedelta(hours=12), (kind, lo)
            assert day + dt.timedelta(hours=12) <= hi < day + dt.timedelta(days=1), (kind, hi)
            assert ticks in ([], ["2021-06-09"]), (kind, ticks)  # small multiples label the bottom panel only
        assert ["2021-06-09"] in d.xticks, kind


def test_an_empty_series_says_so_in_its_chart(one_day):
    _, seen = one_day
    # one day has no baseline before it, so no z-score: the charts say so instead of drawing an empty frame
    baseline = chart(seen, "netflow_total_baseline")
    assert baseline.has("no baseline band: no day of this period has a z-score yet")
    assert [text for text, _, _ in baseline.legend] == ["netflow"]  # no legend entry for a band not drawn
    assert chart(seen, "zscore_total").has("no z-scores: no day of this period has a z-score yet")
    panels = chart(seen, "netflow_by_exchange")
    assert panels.has("no baseline band: no day of this period has a z-score yet")
    assert not panels.has("shaded: baseline")


def test_a_period_without_flow_says_so(tmp_path):
    import pandas as pd

    days = pd.DataFrame({"flow_date": [dt.date(2025, 4, 1), dt.date(2025, 4, 2)], "inflow": [0, 0],
                         "outflow": [0, 0], "netflow": [0, 0], "volume": [0, 0]})
    common = {"symbol": "LPT", "chain": "ethereum", "period": "2025-04-01 to 2025-04-02", "subject": "wallet x"}
    with drawing() as seen:
        charts.plot_inflow_outflow(days, tmp_path / "in_vs_out.png", **common)
        charts.plot_daily_volume(days, tmp_path / "daily_volume.png", **common)
        charts.plot_netflow_bars(days, tmp_path / "netflow.png", **common)
    assert chart(seen, "in_vs_out").has("no inflow or outflow, wallet x, in this period")
    assert chart(seen, "daily_volume").has("no transfers, wallet x, in this period")
    assert chart(seen, "netflow").has("netflow 0 on every day, wallet x, in this period")
    assert chart(seen, "netflow").xticks == [["2025-04-01", "2025-04-02"]]


ONE_DAYS = re.compile(r"(?<![\d.,])1 (\w+ )?(days|rows|files|transfers|anomalies|reports|charts|decimals|models|"
                      r"tests|alerts|updates|deposits|withdrawals|exchanges|others)\b")


def test_one_day_reports_count_in_words(one_day):
    reports_dir, _ = one_day
    summary = (reports_dir / "summary.md").read_text()
    assert "6 decimals) on ethereum, 1 day, 2021-06-09 (UTC)." in summary
    assert "# USDT top-k netflow days by |z|" in (reports_dir / "topk.md").read_text()  # not "top-0"
    assert "0 anomaly days over all series" in (reports_dir / "anomalies.md").read_text()
    for path in reports_dir.rglob("*.md"):
        assert not ONE_DAYS.search(path.read_text()), (path.name, ONE_DAYS.search(path.read_text()))


def test_one_day_site_index_counts_in_words(one_day, one_day_db, tmp_path):
    reports_dir, _ = one_day
    shutil.copytree(reports_dir, tmp_path / "reports")
    dbt = docs.DbtDocs(tmp_path / "dbt" / "index.html", "1.0", [], n_models=1, n_tests=1, n_seeds=1, n_unit_tests=1)
    text = docs.render_site_index(tmp_path, docs.load_build_info(one_day_db), dbt).read_text()
    window = plural(project_vars()["zscore_window_days"], "day")  # the default method's, as the build used
    for words in ("2021-06-09 (1 UTC day)", "the 1 model and", "1 data test", "1 unit test,",
                  "2021-06-09 (1 day, UTC)", "6 decimals", f"window {window},", "no top-k days (no day has a z-score)"):
        assert words in text, words
    assert not ONE_DAYS.search(text), ONE_DAYS.search(text)


@pytest.mark.parametrize(("args", "expected"), [
    ((1, "day"), "1 day"),
    ((2, "day"), "2 days"),
    ((0, "anomaly"), "0 anomalies"),
    ((1, "anomaly day"), "1 anomaly day"),
    ((1234, "input row"), "1,234 input rows"),
    ((9, "series", "series"), "9 series"),
    ((1, "series", "series"), "1 series"),
    ((0.5, "token unit"), "0.5 token units"),
    ((None, "day"), "– days"),
])
def test_plural(args, expected):
    assert plural(*args) == expected


def test_the_command_line_counts_in_words():
    one = report.ReportResult(Path("r"), [Path("r/focus/x.md"), Path("r/focus/img/x.png")])
    assert one.lines()[0] == "wrote 1 report, 1 chart and 0 CSV files to r"
    two = report.ReportResult(Path("r"), [Path("a.md"), Path("b.md"), Path("c.csv"), Path("d.csv")])
    assert two.lines()[0] == "wrote 2 reports, 0 charts and 2 CSV files to r"


# --- three hand-made days: a deposit, an internal sweep, a withdrawal, a transfer between two exchanges ---------


def at(day: int, hour: int) -> int:
    return int(dt.datetime(2025, 4, day, hour, tzinfo=dt.UTC).timestamp())


@pytest.fixture(scope="module")
def three_days_db(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("three_days")
    rows = [
        etherscan_row("deposit500", at(1, 10), user(1), BINANCE14, "500"),
        etherscan_row("sweep900", at(1, 14), BINANCE14, BINANCE20, "900"),  # between two wallets of binance
        etherscan_row("withdrawal300", at(2, 9), BINANCE20, user(2), "300"),
        etherscan_row("cross200", at(3, 12), BINANCE14, KRAKEN1, "200"),  # binance -> kraken
        etherscan_row("deposit50", at(3, 13), user(3), BINANCE14, "50"),
    ]
    db = d / "three_days.duckdb"
    assert build(db, "--input", str(write_csv(d / "transfers.csv", ETHERSCAN_HEADER, rows)), *PLAIN_TRAILING) == 0
    return db


@pytest.fixture(scope="module")
def three_days(three_days_db, tmp_path_factory):
    return render_drawn(three_days_db, tmp_path_factory.mktemp("three_days_out"),
                        *({"start": "2025-04-01", "focus": focus} for focus in ("binance14", "binance", None)))


# by hand from the rows above, largest first: (kind the chart must colour it as) for each subject
LARGEST = {
    "binance14": ["internal", "inflow", "outflow", "inflow"],  # the wallet: sweep out 900, 500 in, 200 out, 50 in
    "binance": ["internal", "inflow", "outflow", "outflow", "inflow"],  # 900, 500, 300 out, 200 to kraken, 50
    "all-exchanges": ["internal", "inflow", "outflow", "other", "inflow"],  # 200 binance -> kraken: between two
}
KIND_COLOUR = {"inflow": "vermillion", "outflow": "blue", "internal": "reddish purple", "other": "grey"}


@pytest.mark.parametrize("subject", LARGEST)
def test_the_largest_transfers_are_coloured_by_kind_and_the_legend_names_the_colours(three_days, subject):
    _, seen = three_days
    assert_readable(seen)
    d = seen[f"{subject}_2025-04-01_2025-04-03_top_transfers.png"]
    kinds = LARGEST[subject]
    assert [colour for colour, _ in d.bars] == [NAMED_COLOURS[KIND_COLOUR[k]] for k in kinds]
    assert [bool(hatch) for _, hatch in d.bars] == [k == "internal" for k in kinds]  # a sweep is hatched too
    # one legend entry per kind drawn, in the order of the bars' kinds, each naming its colour as drawn
    drawn = [k for k in ("inflow", "outflow", "internal", "other") if k in kinds]
    assert len(d.legend) == len(drawn)
    for (text, colour, hatch), kind in zip(d.legend, drawn, strict=True):
        name = KIND_COLOUR[kind]
        assert f"({name}" in text and colour == NAMED_COLOURS[name], (text, colour)
        assert bool(hatch) == (kind == "internal")
    assert not d.has("red:") and not d.has("grey:")
    if subject == "binance14":  # the wallet sees the sweep as its outflow: labelled as a sweep, not a flow
        assert any("sweep out" in t for t in d.texts)


def test_netflow_bars_legend_names_the_colours_drawn(three_days):
    _, seen = three_days
    d = seen["all-exchanges_2025-04-01_2025-04-03_netflow.png"]
    # the total's netflow by hand: day 1 +500 (the sweep is internal), day 2 -300, day 3 +50 (the 200 to kraken
    # stays among exchanges)
    assert [colour for colour, _ in d.bars] == [NAMED_COLOURS[c] for c in ("vermillion", "blue", "vermillion")]
    assert [(name in text, colour) for (text, colour, _), name in zip(d.legend, ("vermillion", "blue"), strict=True)] \
        == [(True, NAMED_COLOURS["vermillion"]), (True, NAMED_COLOURS["blue"])]
    assert not d.has("red:")


def test_volume_is_not_drawn_in_a_flow_colour(three_days):
    _, seen = three_days
    d = seen["binance_2025-04-01_2025-04-03_daily_volume.png"]
    assert {colour for colour, _ in d.bars} == {NAMED_COLOURS["bluish green"]}


def test_a_three_day_chart_has_a_tick_on_each_day(three_days):
    _, seen = three_days
    for kind in DATE_CHARTS:
        for name, d in seen.items():
            if is_kind(name, kind):
                assert ["2025-04-01", "2025-04-02", "2025-04-03"] in d.xticks, (name, d.xticks)
                assert d.xlims[0][0] == dt.datetime(2025, 3, 31, 12), name


# --- four years: the real LPT export of one Binance wallet ------------------------------------------------------


@pytest.fixture(scope="module")
def four_years(tmp_path_factory, real_data):
    d = tmp_path_factory.mktemp("four_years")
    db = lpt_export_default_db(tmp_path_factory)  # build(db, "--input", LPT_FILE), shared with two modules
    return (db, *render_drawn(db, d / "out", {"focus": "binance"}))


def months_of_the_file(path: Path) -> int:
    """Calendar months from the first to the last transfer of the seed-format file, counted from its rows."""
    with open(path, newline="") as fh:
        days = [dt.datetime.fromtimestamp(int(r["timeStamp"]), dt.UTC).date() for r in csv.DictReader(fh)]
    first, last = min(days), max(days)
    return (last.year - first.year) * 12 + last.month - first.month + 1


def test_a_long_range_says_monthly_where_it_draws_months(four_years, real_data, tmp_path):
    db, reports_dir, seen = four_years
    assert_readable(seen)
    months = months_of_the_file(real_data / LPT_FILE)
    assert months == 52  # June 2021 to September 2025
    drawn = chart(seen, "inflow_outflow_total")
    assert drawn.title.startswith("LPT monthly inflow and outflow, all exchanges")
    assert len(drawn.bars) == 2 * months  # an inflow bar and an outflow bar per month
    text = "monthly inflow (up) and outflow (down), all exchanges"
    assert f"![LPT {text}](img/inflow_outflow_total.png)" in (reports_dir / "summary.md").read_text()
    assert f"- [{text}](img/inflow_outflow_total.png)" in (reports_dir / "index.md").read_text()
    assert "daily inflow" not in (reports_dir / "summary.md").read_text() + (reports_dir / "index.md").read_text()
    # the focus report on the whole range: its bar charts are monthly too, and their alt texts say so
    focus = (reports_dir / "focus" / "binance_2021-06-17_2025-09-03.md").read_text()
    for words in ("monthly transfer volume", "monthly inflow and outflow", "monthly netflow"):
        assert f"![LPT {words}, exchange binance]" in focus, words
    assert chart(seen, "in_vs_out").title.startswith("LPT monthly inflow and outflow, exchange binance")
    assert chart(seen, "daily_volume").title.startswith("LPT monthly transfer volume")
    # the line charts stay daily, and say so
    assert chart(seen, "netflow_total_baseline").title.startswith("LPT daily netflow")
    # the docs site's index captions the chart as the report does
    shutil.copytree(reports_dir, tmp_path / "reports")
    dbt = docs.DbtDocs(tmp_path / "dbt" / "index.html", "1.0", [], n_models=2, n_tests=2, n_seeds=2, n_unit_tests=2)
    site = docs.render_site_index(tmp_path, docs.load_build_info(db), dbt).read_text()
    assert f"<figcaption>{text}</figcaption>" in site and f'alt="{text}"' in site
