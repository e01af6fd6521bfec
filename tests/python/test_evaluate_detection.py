"""scripts/evaluate_detection.py: its metrics on hand-made z tables (worked out by hand in the comments), its
planting rules, and one small end-to-end run of its core on a tiny history with the project's dbt models."""

from __future__ import annotations

import importlib.util
import math
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import PROJECT_ROOT

from cexflow import sample


def _load():
    path = PROJECT_ROOT / "scripts" / "evaluate_detection.py"
    spec = importlib.util.spec_from_file_location("evaluate_detection", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["evaluate_detection"] = module
    spec.loader.exec_module(module)
    return module


ev = _load()


def z_rows(history: str, series: str, values: dict[int, float], days: range) -> list[dict]:
    return [{"history": history, "series": series, "day": d, "zscore": values.get(d, 0.0)} for d in days]


# --- metrics, by hand -------------------------------------------------------------------------------------

PLANTS = pd.DataFrame([
    # history, exchange, day, direction, multiple, tag
    ("p", "a", 30, "inflow", 5.0, "isolated"),
    ("p", "a", 31, "outflow", 5.0, "back-to-back 2nd"),
    ("p", "a", 40, "inflow", 3.0, "isolated"),
    ("p", "a", 50, "inflow", 5.0, "after quiet spell"),
    ("p", "b", 35, "outflow", 2.0, "isolated"),
], columns=["history", "exchange", "day", "direction", "multiple", "tag"])

PLANTED_Z = pd.DataFrame(
    z_rows("p", "a", {30: 4.0, 31: -3.2, 40: -5.0, 50: float("nan")}, range(60))
    + z_rows("p", "total", {30: 9.0}, range(60))  # the total series is never a planted (exchange, day)
)  # exchange b has no row at all: its planted day is a miss


def test_recall_by_hand():
    recall = ev.recall_table(PLANTED_Z, PLANTS, [3.0, 3.5, 4.0, 5.0])
    caught = {t: set(g.loc[g["caught"], "day"]) for t, g in recall.groupby("threshold")}
    # a/30: z 4.0, inflow: caught up to threshold 4 (|z| >= threshold, equality included).
    # a/31: z -3.2, outflow: caught at 3.0 only. a/40: z -5 but planted inflow: the wrong sign, never.
    # a/50: no z: a miss. b/35: no row: a miss.
    assert caught == {3.0: {30, 31}, 3.5: {30}, 4.0: {30}, 5.0: set()}
    assert len(recall) == 5 * 4

    quiet = pd.DataFrame({"history": ["p", "p"], "exchange": ["a", "b"], "quiet": [False, True]})
    fa = ev.false_alarm_table(pd.DataFrame(z_rows("n", "a", {}, range(40))), [3.0, 3.5, 4.0, 5.0])
    s = ev.summarize(recall, fa, quiet).set_index("threshold")
    # threshold 3: 2 of 5 planted days; of the three 5x days (a/30, a/31, a/50) two; the only 5x
    # back-to-back second (a/31) caught; the only 5x day after a quiet spell (a/50) missed; all three 5x
    # days are on busy exchange a; quiet exchange b has no 5x day.
    assert s.loc[3.0, "recall_all"] == pytest.approx(2 / 5)
    assert s.loc[3.0, "recall_at_target"] == pytest.approx(2 / 3)
    assert s.loc[3.0, "n_at_target"] == 3
    assert s.loc[3.0, "recall_b2b_2nd"] == 1.0
    assert s.loc[3.0, "recall_after_quiet"] == 0.0
    assert s.loc[3.0, "recall_busy"] == pytest.approx(2 / 3)
    assert math.isnan(s.loc[3.0, "recall_quiet"])
    # threshold 3.5 and 4: a/30 only: 1 of 5, 1 of the three 5x days, back-to-back second missed
    for t in (3.5, 4.0):
        assert s.loc[t, "recall_all"] == pytest.approx(1 / 5)
        assert s.loc[t, "recall_at_target"] == pytest.approx(1 / 3)
        assert s.loc[t, "recall_b2b_2nd"] == 0.0
    assert s.loc[5.0, "recall_all"] == 0.0

    by_size = ev.recall_by_size(recall).set_index(["threshold", "multiple"])
    # threshold 3: 5x 2 of 3, 3x (a/40, wrong sign) 0 of 1, 2x (b/35) 0 of 1
    assert by_size.loc[(3.0, 5.0), "recall"] == pytest.approx(2 / 3)
    assert by_size.loc[(3.0, 5.0), "n"] == 3
    assert by_size.loc[(3.0, 3.0), "recall"] == 0.0


def test_false_alarms_by_hand():
    # a no-plant history: series a and total, days 0..39; from day 30 on: 2 series x 10 days = 20 series-days
    null_z = pd.DataFrame(
        z_rows("n", "a", {10: 9.0, 30: 3.5, 35: -3.0}, range(40))  # day 10 is warm-up: not counted
        + z_rows("n", "total", {31: 2.9, 39: float("nan")}, range(40))  # no z: no alarm
    )
    fa = ev.false_alarm_table(null_z, [3.0, 3.5, 4.0]).set_index("threshold")
    # threshold 3: a/30 (3.5) and a/35 (|-3| >= 3): 2 of 20 = 10 per 100; 3.5: a/30: 5 per 100; 4: none
    assert fa["series_days"].tolist() == [20, 20, 20]
    assert fa["alarms"].tolist() == [2, 1, 0]
    assert fa["per_100"].tolist() == [10.0, 5.0, 0.0]
    by_series = ev.false_alarms_by_series(null_z, 3.0)
    assert by_series.to_dict() == {"a": 20.0, "total": 0.0}  # a: 2 of its 10 days


# --- spreads and planting ---------------------------------------------------------------------------------


def test_typical_spread_is_taken_over_days_with_flow():
    netflow = pd.DataFrame({
        "exchange": ["x"] * 6 + ["y"] * 3 + ["w"] * 6 + ["z"] * 3,
        "netflow": [0, 1, 0, 3, 5, 0] + [1, 3, 5] + [0, 0, 0, 0, 7, 9] + [0, 0, 0],
    })
    spreads = ev.typical_spread(netflow)
    # x: days with flow 1, 3, 5: standard deviation 2 (the zero days do not count); y: 1, 3, 5 too;
    # w: 7, 9: sqrt(2); z never moves: no spread, not planted
    assert spreads == pytest.approx({"x": 2.0, "y": 2.0, "w": math.sqrt(2)})
    # quiet: flow on fewer than half the days: w (2 of 6); x has exactly half: not quiet
    assert ev.quiet_exchanges(netflow) == {"w", "z"}


def test_zero_run_ends():
    # days 1..7 are 7 zero days: day 8 is the first day after a quiet spell; day 9 follows a flow day
    assert ev.zero_run_ends([1, 0, 0, 0, 0, 0, 0, 0, 5, 0]) == [8]
    assert ev.zero_run_ends([0] * 9) == [7, 8]  # 7 zeros before day 7, 8 before day 8


def test_plan_plants_follows_its_rules():
    days = 200
    rng = np.random.default_rng(0)
    busy = rng.normal(0, 100, days)
    quiet = np.zeros(days)
    quiet[::11] = [500.0 if i % 2 else -300.0 for i in range(len(quiet[::11]))]  # every 11th day: 10 zero days
    netflow = pd.DataFrame({"exchange": ["busy"] * days + ["quiet"] * days, "day": list(range(days)) * 2,
                            "netflow": np.concatenate([busy, quiet])})
    plants = ev.plan_plants(netflow, days, seed=5, twin=0)
    assert plants == ev.plan_plants(netflow, days, seed=5, twin=0)  # deterministic
    assert plants != ev.plan_plants(netflow, days, seed=5, twin=1)  # a twin has its own days
    quiet_values = netflow.loc[netflow["exchange"] == "quiet", "netflow"].tolist()
    for exchange in ("busy", "quiet"):
        mine = [p for p in plants if p.exchange == exchange]
        assert mine, exchange
        starts = [p.day for p in mine if p.tag != "back-to-back 2nd"]
        assert all(b - a >= ev.GAP_DAYS[0] for a, b in zip(starts, starts[1:], strict=False))
        for p in mine:
            assert ev.EVAL_START_DAY <= p.day < days
            assert p.multiple in ev.SIZES and p.direction in ("inflow", "outflow")
            if p.tag == "back-to-back 2nd":
                first = next(q for q in mine if q.day == p.day - 1)
                assert first.tag == "back-to-back 1st" and first.multiple == p.multiple
            if p.tag == "after quiet spell":
                assert exchange == "quiet"
                assert all(v == 0 for v in quiet_values[p.day - ev.QUIET_SPELL_DAYS:p.day])


def test_planted_specs_are_sized_in_measured_spreads():
    plants = [ev.Plant("coinbase", 40, "outflow", 5.0, "isolated")]
    (spec,) = ev.planted_specs(plants, {"coinbase": 1234.5}, scale=2.0)
    (resolved,) = sample.resolve_plants([spec], days=60, scale=2.0)
    assert resolved.amount == round(5.0 * 1234.5)  # the generator's amount is 5 x the measured spread
    assert (resolved.exchange, resolved.day, resolved.direction) == ("coinbase", 40, "outflow")


# --- end to end on a tiny history -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("evaluate")
    grid = (ev.PREVIOUS_DEFAULT.method, ev.DEFAULT.method)  # trailing 28 and the default screened method
    return ev.evaluate(ev.QUICK_HISTORIES, grid, workdir, twins=1), workdir


def test_end_to_end_planted_rows_are_the_only_difference(quick_run):
    evaluation, workdir = quick_run
    (spec,) = ev.QUICK_HISTORIES
    null = ev.read_series(workdir / spec.name / "none" / ev.Project.DB_NAME)
    planted = ev.read_series(workdir / spec.name / ev.twin_name(spec, 0) / ev.Project.DB_NAME)
    diff = planted.merge(null, on=["series", "day"], suffixes=("_planted", "_none"))
    diff["extra"] = diff["netflow_planted"] - diff["netflow_none"]
    spreads = evaluation.spreads.set_index("exchange")["spread"]
    expected = {(p.exchange, p.day): (1 if p.direction == "inflow" else -1) * round(p.multiple * spreads[p.exchange])
                for p in evaluation.plants.itertuples()}
    assert len(expected) == len(evaluation.plants) > 0
    for row in diff.loc[diff["series"] != "total"].itertuples():
        assert row.extra == pytest.approx(expected.get((row.series, row.day), 0.0), abs=1e-6), row


def test_end_to_end_z_is_the_models_trailing_z(quick_run):
    # the z the evaluation read for `trailing 28` is the contract's trailing z, recomputed here in pandas
    evaluation, workdir = quick_run
    (spec,) = ev.QUICK_HISTORIES
    null = ev.read_series(workdir / spec.name / "none" / ev.Project.DB_NAME)
    expected = []
    for series, frame in null.groupby("series"):
        x = frame.sort_values("day")["netflow"].reset_index(drop=True)
        baseline = x.shift(1).rolling(28, min_periods=14)
        z = (x - baseline.mean()) / baseline.std().where(lambda s: s > 0)
        expected.append(pd.DataFrame({"series": series, "day": frame.sort_values("day")["day"].values, "z": z}))
    got = evaluation.scores[ev.PREVIOUS_DEFAULT.method.label].null_z.merge(pd.concat(expected), on=["series", "day"])
    assert len(got) == len(null)
    assert (got["zscore"].isna() == got["z"].isna()).all()
    assert np.allclose(got["zscore"].dropna(), got["z"].dropna(), rtol=1e-9, atol=1e-9)


def test_end_to_end_metrics_are_consistent(quick_run, tmp_path):
    evaluation, _ = quick_run
    (spec,) = ev.QUICK_HISTORIES
    for label, scores in evaluation.scores.items():
        s = evaluation.summary(label)
        assert s["threshold"].tolist() == list(ev.THRESHOLDS)
        # a higher threshold never catches more nor alarms more
        assert s["false_alarms_per_100"].is_monotonic_decreasing, label
        assert s["recall_all"].is_monotonic_decreasing, label
        n_series = scores.null_z["series"].nunique()
        assert (scores.false_alarms["series_days"] == n_series * (spec.days - ev.EVAL_START_DAY)).all()
        assert len(scores.recall) == len(evaluation.plants) * len(ev.THRESHOLDS)
    doc, chart = ev.write_report(evaluation, tmp_path, "test")
    text = doc.read_text()
    assert "## In short" in text and ev.DEFAULT.method.label in text and ev.REFERENCE_LABEL in text
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
