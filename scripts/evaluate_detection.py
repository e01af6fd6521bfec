"""Detection evaluation: which anomaly setting should `cexflow build` default to, chosen on one set of
synthetic histories by a rule written down first, and how good is it on another set?

    .venv/bin/python scripts/evaluate_detection.py                  # tuning, the choice, held-out: ~15 minutes
    .venv/bin/python scripts/evaluate_detection.py --tuning-only    # the choice alone (never builds held-out)
    .venv/bin/python scripts/evaluate_detection.py --quick --out DIR    # two tiny histories, two models

The full run writes docs/detection_quality.md and docs/detection_quality.png. `--workdir DIR` keeps the
histories and their databases there and reuses them on the next run (only the scoring is redone).

1. Histories (scripts/detection_histories.py): generators of their own laws (log-normal, Pareto, a
   log-normal body with Pareto whales) and `cexflow sample`'s, with planted material and exchange-relative
   days sized in the generator's own units; each history is built with the project's dbt models.
2. Models: for every point of MODELS the model `fct_netflow_zscores` is compiled with that point's vars and
   run read-only on every history. The thresholds (z, materiality) do not change z or materiality, so their
   grid (Z_GRID x M_GRID) is applied here to the columns the model returns.
3. Metrics on the exchange series (the headline), the total, and per alert (episodes, as
   rpt_netflow_anomalies groups them); `choose` applies RULE to the tuning set; the report shows the
   held-out figures.

The metric functions are pure (frames in, numbers out) and tested on hand-made cases in
tests/python/test_evaluate_detection.py.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT / "scripts",):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import detection_histories as hist  # noqa: E402
from cexflow.errors import CexflowError  # noqa: E402

DOCS_DIR = ROOT / "docs"
DOC_NAME = "detection_quality.md"
CHART_NAME = "detection_quality.png"
BUILD_VERSION = 2  # bump when the generators or the planting change: a --workdir's earlier builds are redone

TARGET_RECALL = 0.95  # issue 12: >= 95 % of material planted days, back-to-back second days included,
TARGET_FALSE_ALARMS = 1.0  # <= 1 false alarm per 100 exchange series-days,
TARGET_PRECISION = 0.70  # and a precision >= 70 %


# --- what is compared ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelSpec:
    """One compile of fct_netflow_zscores: the vars that change z or materiality (thresholds do not)."""

    method: str
    window: int
    exclude_z: float | None = None
    scale_floor: float = 0.0
    active_floor: float = 0.0
    min_active: int = 0
    scale: str = "total_spread"
    scale_window: int = 365
    min_history: int = 14

    def __post_init__(self) -> None:
        from cexflow.methods import METHODS

        if self.method not in METHODS:
            raise ValueError(f"method {self.method!r}: not one of cexflow.methods.METHODS {METHODS}")

    @property
    def label(self) -> str:
        text = f"{self.method} {self.window}"
        if self.method == "screened":
            shown = [f"exclude {self.exclude_z:g}" if self.exclude_z else "",
                     f"floor {self.scale_floor:g}" if self.scale_floor else "",
                     f"active floor {self.active_floor:g}" if self.active_floor else "",
                     f"min active {self.min_active}" if self.min_active else ""]
            text += " (" + (", ".join(s for s in shown if s) or "no option") + ")"
        return text + f"; {self.scale} {self.scale_window}"

    @property
    def options_on(self) -> int:
        return sum(1 for v in (self.exclude_z, self.scale_floor, self.active_floor, self.min_active) if v)

    def dbt_vars(self, required: bool = True) -> dict:
        """The vars of this compile (the thresholds are placeholders: they do not change z or materiality;
        `required` does, for screened, through the scale floor)."""
        return {
            "zscore_method": self.method, "zscore_window_days": self.window,
            "zscore_min_history_days": self.min_history, "zscore_threshold": 99.0,
            "zscore_exclude_z": self.exclude_z, "zscore_scale_spread_floor": self.scale_floor,
            "zscore_active_spread_floor": self.active_floor, "zscore_min_active_days": self.min_active,
            "materiality_scale": self.scale, "materiality_window_days": self.scale_window,
            "materiality_threshold": 0.0, "materiality_min_amount": 0, "anomaly_requires_materiality": required,
        }

    def compile_key(self, required: bool) -> tuple[str, bool]:
        """Settings with the same key share a compile: materiality off changes z only through the floor."""
        return self.label, required or not (self.method == "screened" and self.scale_floor)


@dataclass(frozen=True)
class Setting:
    """A model at thresholds: |z| >= z, and (when `required`) materiality >= m."""

    model: ModelSpec
    z: float
    m: float = 0.0
    required: bool = True

    @property
    def label(self) -> str:
        return f"{self.model.label}; z {self.z:g}" + (f", materiality {self.m:g}" if self.required else
                                                       ", no materiality")

    @property
    def key(self) -> tuple[str, bool]:
        return self.model.compile_key(self.required)

    def dbt_vars(self) -> dict:
        """The vars of dbt_project.yml that make this setting the build's."""
        return self.model.dbt_vars(self.required) | {"zscore_threshold": self.z, "materiality_threshold": self.m}


def screened(window: int, exclude_z: float | None = 4.0, scale_floor: float = 0.25, **more) -> ModelSpec:
    return ModelSpec("screened", window, exclude_z, scale_floor, **more)


MODELS = (
    ModelSpec("inclusive", 7),
    ModelSpec("trailing", 28),
    ModelSpec("trailing", 56),
    ModelSpec("trailing", 112),
    ModelSpec("robust", 56),
    screened(28),
    screened(56),
    screened(112),
    screened(56, exclude_z=None),
    screened(56, scale_floor=0.0),
    screened(56, scale_floor=0.1),
    screened(56, scale_floor=0.5),
    screened(56, active_floor=0.75, min_active=2),
    screened(112, scale_floor=0.5),
    screened(56, scale_window=90),
    screened(56, scale_window=180),
    screened(56, scale="gross_flow"),
    screened(112, scale="gross_flow"),
)
Z_GRID = (3.0, 3.5, 4.0, 4.5, 5.0, 6.0)
M_GRID = (0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0)

SEED_METHOD = Setting(ModelSpec("inclusive", 7), 2.0, required=False)  # the seed project's, as it was
FIRST_DEFAULT = Setting(ModelSpec("trailing", 28), 3.0, required=False)  # cexflow's first default
PROVISIONAL = Setting(screened(56), 3.5, 1.0)  # the defaults before this evaluation (issue 12's first model)


def history_set(laws: Sequence[tuple[str, float]], shapes: Sequence[str], lengths: Sequence[int], first_seed: int,
                prefix: str) -> tuple[hist.HistorySpec, ...]:
    """Every law on every shape, lengths taken in turn, seeds first_seed, first_seed + 1, ..."""
    specs = []
    for k, ((family, param), shape) in enumerate((law, shape) for law in laws for shape in shapes):
        specs.append(hist.HistorySpec(f"{prefix}{k:02d}", family, param, shape, lengths[k % len(lengths)],
                                      first_seed + k))
    return tuple(specs)


# The tuning set: two families, five laws, three shapes. The held-out set: other seeds, other parameters of
# the two families, a family of its own (whales), `cexflow sample`'s generator, and a shape (many) that
# the tuning set does not have.
TUNING = (history_set([("lognormal", 1.0), ("lognormal", 1.5), ("lognormal", 2.0), ("pareto", 2.5), ("pareto", 3.0)],
                      ["busy", "mixed", "thin"], [240, 300, 365], 100, "t")
          + history_set([("lognormal", 1.5), ("pareto", 2.5)], ["busy"], [300], 150, "tb"))
HELDOUT = (history_set([("lognormal", 1.25), ("lognormal", 1.75), ("pareto", 2.3), ("pareto", 2.75),
                        ("whales", 1.0), ("whales", 1.5)], ["busy", "mixed", "thin", "many"], [240, 300, 420],
                       500, "h")
           + tuple(hist.HistorySpec(f"hs{k}", "sample", scale, "sample", days, 600 + k)
                   for k, (scale, days) in enumerate([(0.5, 200), (1.0, 150), (1.0, 240), (2.0, 180)])))
QUICK = (hist.HistorySpec("q0", "lognormal", 1.5, "mixed", 90, 7), hist.HistorySpec("q1", "pareto", 2.5, "thin", 90, 8))
QUICK_MODELS = (ModelSpec("trailing", 28), screened(56))

RULE = (
    "Among the settings that require materiality, keep those that on the tuning set have a precision of at "
    "least 80 % and at most 0.5 false alarms per 100 exchange series-days (margins over the targets of 70 % "
    "and 1), and catch at least 90 % of each kind of material planted day (isolated, back-to-back 1st, "
    "back-to-back 2nd, after a quiet spell) and of each family's; among them choose the highest recall of "
    "material planted days on the exchange series (back-to-back second days included); ties go to the fewest "
    "false alarms, then to fewer screened options, the smaller scale floor, the shorter window, the higher z "
    "and the higher materiality threshold.")
RULE_PRECISION, RULE_FALSE_ALARMS, RULE_GROUP_RECALL = 0.80, 0.5, 0.90


# --- building and scoring with the project's dbt models --------------------------------------------------------


class Project:
    """Runs the project's dbt in this process (dbt's start-up is paid once), one DuckDB file per history.

    Every history's file is called history.duckdb (in its own folder), so SQL compiled against one of
    them (whose relations dbt names "history"."main"."...") runs against any of them.
    """

    DB_NAME = "history.duckdb"

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def _invoke(self, db: Path, args: list[str]):
        from cexflow.dbt_runner import run_dbt

        return run_dbt(args, db, "duckdb", target_path=self.workdir / "dbt-target")

    def build(self, csv_path: Path, labels: Path | None, db: Path) -> None:
        """Build what fct_netflow_zscores reads, from one history's files, with the vars `cexflow build
        --input CSV [--labels LABELS]` passes (the data tests run in `make test`)."""
        from cexflow.build import BuildOptions, build_vars

        db.parent.mkdir(parents=True, exist_ok=True)
        for stale in (db, db.with_name(db.name + ".wal")):  # a fresh file: incremental models must not append
            stale.unlink(missing_ok=True)
        options = BuildOptions(input=[csv_path], labels=[labels] if labels else [])
        self._invoke(db, ["build", "--vars", json.dumps(build_vars(options)), "--select",
                          "+fct_netflow_daily_series", "+stg_tokens__selected",
                          "--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"])

    def compile_zscores(self, model: ModelSpec, required: bool = True) -> str:
        """The compiled SQL of the model fct_netflow_zscores with this grid point's vars."""
        scratch = self.workdir / "compile" / self.DB_NAME
        scratch.parent.mkdir(parents=True, exist_ok=True)
        result = self._invoke(scratch, ["compile", "--select", "fct_netflow_zscores",
                                        "--vars", json.dumps(model.dbt_vars(required))])
        return result.result.results[0].node.compiled_code


def run_zscores(sql: str, db: Path, start: dt.date) -> pd.DataFrame:
    """series, day (0 = the history's first day), zscore, deviation, materiality: the compiled model SQL,
    run read-only on a built history."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        frame = con.execute(f"""
            select series, cast(flow_date - date '{start.isoformat()}' as integer) as day, zscore,
                   deviation, materiality
            from ({sql}) as model""").df()
    return frame


# --- metrics (pure) --------------------------------------------------------------------------------------------

TAGS = ("isolated", "back-to-back 1st", "back-to-back 2nd", "after quiet spell")


def truth_rows(plants: pd.DataFrame, natural: pd.DataFrame) -> pd.DataFrame:
    """What each (history, series, day) is: planted (kind, sign, tag) or natural-material.

    plants: history, exchange, day, direction, kind (material | relative), tag. A material planted day is
    also a planted day of the total (same day and direction); an exchange-relative one is not (it is small
    for the token by construction). natural: history, series, day.
    """
    sign = plants["direction"].map({"inflow": 1, "outflow": -1})
    exchange = plants.assign(series=plants["exchange"], planted_sign=sign)
    total = exchange.loc[exchange["kind"] == "material"].assign(series="total")
    planted = pd.concat([exchange, total], ignore_index=True)[
        ["history", "series", "day", "planted_sign", "kind", "tag"]].rename(columns={"kind": "planted_kind"})
    marked = natural[["history", "series", "day"]].drop_duplicates().assign(is_natural=True)
    return planted.merge(marked, on=["history", "series", "day"], how="outer")


def label_scores(scores: pd.DataFrame, truth: pd.DataFrame, start_day: int = hist.EVAL_START_DAY) -> pd.DataFrame:
    """The scored series-days from start_day on, with what they are (truth_rows): planted_sign 0 and
    planted_kind '' where nothing was planted, is_natural False where the day is not natural-material.
    scores: history, series, day, zscore, deviation, materiality."""
    rows = scores.loc[scores["day"] >= start_day].merge(truth, on=["history", "series", "day"], how="left")
    return rows.assign(planted_sign=rows["planted_sign"].fillna(0).astype(int),
                       planted_kind=rows["planted_kind"].fillna(""), tag=rows["tag"].fillna(""),
                       is_natural=rows["is_natural"].astype("boolean").fillna(False).astype(bool),
                       is_total=rows["series"] == "total")


def flags(rows: pd.DataFrame, z: float, m: float, required: bool) -> np.ndarray:
    """+1 / -1 (an inflow / outflow anomaly) or 0, as is_anomaly and direction of the model: |z| >= z and,
    when required, materiality >= m; no z (or no materiality) is no flag."""
    zscore = rows["zscore"].to_numpy(dtype=float, na_value=np.nan)
    unusual = np.abs(np.nan_to_num(zscore, nan=0.0)) >= z
    if required:
        materiality = rows["materiality"].to_numpy(dtype=float, na_value=np.nan)
        unusual &= np.nan_to_num(materiality, nan=-1.0) >= m
    return np.where(unusual, np.sign(np.nan_to_num(zscore)), 0).astype(int)


def _share(hits: int, n: int) -> float:
    return hits / n if n else float("nan")


def count(rows: pd.DataFrame, flagged: np.ndarray, required: bool) -> dict:
    """The counts and rates of one setting on labelled rows (label_scores) and their flags (flags).

    A flag is *true* when it is on a planted day with the planted sign and of a kind the view is for
    (material; with materiality off, exchange-relative too); a flag on a natural-material day that is not
    true is set apart (neither true nor false); every other flag is a false alarm. Precision = true / (true
    + false). Recall: of the material planted days (by tag too) and of the exchange-relative ones,
    caught = flagged with the planted sign, in either view.
    """
    kinds = ("material", "relative") if not required else ("material",)
    sign = rows["planted_sign"].to_numpy()
    kind = rows["planted_kind"].to_numpy()
    on_sign = (flagged != 0) & (flagged == sign)
    true = on_sign & np.isin(kind, kinds)
    natural = (flagged != 0) & ~true & rows["is_natural"].to_numpy()
    false = (flagged != 0) & ~true & ~natural
    out: dict = {}
    for part, mask in (("ex", ~rows["is_total"].to_numpy()), ("total", rows["is_total"].to_numpy())):
        days = int(mask.sum())
        n_true, n_false = int((true & mask).sum()), int((false & mask).sum())
        material = mask & (kind == "material")
        out |= {
            f"{part}_series_days": days, f"{part}_flags": int(((flagged != 0) & mask).sum()),
            f"{part}_true": n_true, f"{part}_false": n_false, f"{part}_natural": int((natural & mask).sum()),
            f"{part}_fa_per_100": 100.0 * n_false / days if days else float("nan"),
            f"{part}_precision": _share(n_true, n_true + n_false),
            f"{part}_material": int(material.sum()),
            f"{part}_recall": _share(int((on_sign & material).sum()), int(material.sum())),
        }
    ex = ~rows["is_total"].to_numpy()
    tags = rows["tag"].to_numpy()
    for tag in TAGS:
        planted = ex & (kind == "material") & (tags == tag)
        out[f"recall_{tag}"] = _share(int((on_sign & planted).sum()), int(planted.sum()))
        out[f"n_{tag}"] = int(planted.sum())
    relative = ex & (kind == "relative")
    out["relative_planted"] = int(relative.sum())
    out["relative_recall"] = _share(int((on_sign & relative).sum()), int(relative.sum()))
    out["event_rate_per_100"] = 100.0 * out["ex_material"] / out["ex_series_days"] if out["ex_series_days"] else 0.0
    return out


def alerts(rows: pd.DataFrame, flagged: np.ndarray, required: bool) -> pd.DataFrame:
    """The alerts of one setting: one per episode, as rpt_netflow_anomalies groups anomalies.

    A total's anomaly is explained by the exchange whose anomaly that day has the same direction and at
    least half the total's |deviation| (the largest such), and joins that exchange's episode; an episode is
    a run of consecutive days of one episode series. Columns: history, episode_series, start_day, days,
    is_true (one of its rows is a true flag, as in `count`), is_natural (else, one is on a natural-material
    day).
    """
    kinds = ("material", "relative") if not required else ("material",)
    anomalies = rows.assign(flag=flagged).loc[flagged != 0]
    anomalies = anomalies.assign(
        true=(anomalies["flag"] == anomalies["planted_sign"]) & anomalies["planted_kind"].isin(kinds),
        size=anomalies["deviation"].abs())
    exchanges = anomalies.loc[~anomalies["is_total"]]
    totals = anomalies.loc[anomalies["is_total"]]
    pairs = totals.merge(exchanges[["history", "day", "series", "flag", "size"]], on=["history", "day", "flag"],
                         suffixes=("", "_exchange"))
    pairs = pairs.loc[pairs["size_exchange"] >= 0.5 * pairs["size"]]
    best = pairs.sort_values(["size_exchange", "series_exchange"], ascending=[False, True]).drop_duplicates(
        ["history", "day"])
    explained = dict(zip(zip(best["history"], best["day"], strict=True), best["series_exchange"], strict=True))
    episode = [explained.get((h, d), s) if t else s for h, d, s, t in
               zip(anomalies["history"], anomalies["day"], anomalies["series"], anomalies["is_total"], strict=True)]
    anomalies = anomalies.assign(episode_series=episode)
    columns = ["history", "episode_series", "start_day", "days", "is_true", "is_natural"]
    if anomalies.empty:
        return pd.DataFrame(columns=columns)
    days = anomalies.groupby(["history", "episode_series", "day"]).agg(true=("true", "any"),
                                                                        natural=("is_natural", "any")).reset_index()
    days = days.sort_values(["history", "episode_series", "day"])
    new_run = (days["day"].diff() != 1) | (days["episode_series"] != days["episode_series"].shift()) | (
        days["history"] != days["history"].shift())
    days["run"] = new_run.cumsum()
    out = days.groupby("run").agg(history=("history", "first"), episode_series=("episode_series", "first"),
                                  start_day=("day", "min"), days=("day", "size"), is_true=("true", "any"),
                                  natural=("natural", "any")).reset_index(drop=True)
    out["is_natural"] = out["natural"] & ~out["is_true"]
    return out[columns]


def alert_counts(alert_frame: pd.DataFrame, series_days: int) -> dict:
    """Alerts, the true and false ones (natural-material ones apart), false alerts per 100 series-days of
    `series_days` (the exchange series'), and the alerts' precision."""
    n_true = int(alert_frame["is_true"].sum())
    n_natural = int(alert_frame["is_natural"].sum())
    n_false = len(alert_frame) - n_true - n_natural
    return {"alerts": len(alert_frame), "alerts_true": n_true, "alerts_false": n_false, "alerts_natural": n_natural,
            "alerts_false_per_100": 100.0 * n_false / series_days if series_days else float("nan"),
            "alerts_precision": _share(n_true, n_true + n_false)}


# --- the evaluation --------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Built:
    """A built history: its database and what was planted in it."""

    spec: hist.HistorySpec
    db: Path
    start: dt.date
    plants: list[dict]
    natural: list[dict]
    quiet: list[str]
    reused: bool = False  # built by an earlier run in the same --workdir


def build_histories(project: Project, specs: Sequence[hist.HistorySpec], workdir: Path) -> list[Built]:
    """Write and build every history (or reuse one built by an earlier run with the same spec)."""
    started = time.monotonic()
    out = []
    for spec in specs:
        folder = workdir / spec.name
        marker = folder / "built.json"
        key = [asdict(spec), BUILD_VERSION]
        reused = marker.exists() and json.loads(marker.read_text())["key"] == key
        if reused:
            saved = json.loads(marker.read_text())
        else:
            log(f"[{time.monotonic() - started:4.0f} s] history {spec.name}: {spec.label}")
            written = hist.write_any(spec, folder)
            project.build(written.transfers, written.labels, folder / Project.DB_NAME)
            saved = {"key": key, "start": written.start.isoformat(), "quiet": written.quiet,
                     "plants": [asdict(p) for p in written.plants],
                     "natural": [{"series": s, "day": d} for s, d in written.natural]}
            marker.write_text(json.dumps(saved))
            written.transfers.unlink()  # the database holds what the scoring needs
        out.append(Built(spec, folder / Project.DB_NAME, dt.date.fromisoformat(saved["start"]), saved["plants"],
                         saved["natural"], saved["quiet"], reused))
    return out


@dataclass
class Scored:
    """One set of histories scored by every model: labelled rows (label_scores) by compile key."""

    histories: list[Built]
    rows: dict[tuple[str, bool], pd.DataFrame] = field(default_factory=dict)

    def family_of(self) -> dict[str, str]:
        return {b.spec.name: b.spec.family for b in self.histories}

    def plants(self) -> pd.DataFrame:
        return pd.DataFrame([p | {"history": b.spec.name} for b in self.histories for p in b.plants],
                            columns=["history", "exchange", "day", "direction", "kind", "tag", "multiple", "amount"])

    def truth(self) -> pd.DataFrame:
        natural = pd.DataFrame([n | {"history": b.spec.name} for b in self.histories for n in b.natural],
                               columns=["history", "series", "day"])
        return truth_rows(self.plants(), natural)


def score(project: Project, histories: Sequence[Built], settings: Sequence[Setting], sql: dict) -> Scored:
    """Run the compiled SQL of every setting's model on every history and label the rows."""
    scored = Scored(list(histories))
    truth = scored.truth()
    for setting in settings:
        if setting.key in scored.rows:
            continue
        if setting.key not in sql:
            sql[setting.key] = project.compile_zscores(setting.model, setting.key[1])
        frames = [run_zscores(sql[setting.key], b.db, b.start).assign(history=b.spec.name) for b in histories]
        scored.rows[setting.key] = label_scores(pd.concat(frames, ignore_index=True), truth)
    return scored


def settings_of(models: Sequence[ModelSpec]) -> list[Setting]:
    """Every threshold pair on every model (materiality required), and every z with materiality off."""
    out = [Setting(model, z, m) for model in models for z in Z_GRID for m in M_GRID]
    out += [Setting(model, z, required=False) for model in models for z in Z_GRID]
    return out


def table(scored: Scored, settings: Sequence[Setting]) -> pd.DataFrame:
    """One row per setting: its counts (`count`) on the whole set and the material recall per family."""
    family = scored.family_of()
    rows = []
    for setting in settings:
        labelled = scored.rows[setting.key]
        flagged = flags(labelled, setting.z, setting.m, setting.required)
        row = {"setting": setting, "label": setting.label} | count(labelled, flagged, setting.required)
        fam = labelled["history"].map(family).to_numpy()
        for name in sorted(set(family.values())):
            mask = fam == name
            sub = count(labelled.loc[mask], flagged[mask], setting.required)
            row[f"recall_family_{name}"] = sub["ex_recall"]
            row[f"fa_family_{name}"] = sub["ex_fa_per_100"]
        rows.append(row)
    return pd.DataFrame(rows)


def choose(tuning: pd.DataFrame) -> Setting | None:
    """RULE, applied to the table of the tuning set (`table`); None when no setting passes its margins."""
    candidates = tuning.loc[[s.required for s in tuning["setting"]]]
    groups = [f"recall_{tag}" for tag in TAGS] + [c for c in candidates.columns if c.startswith("recall_family_")]
    ok = (candidates["ex_precision"] >= RULE_PRECISION) & (candidates["ex_fa_per_100"] <= RULE_FALSE_ALARMS)
    for column in groups:
        ok &= candidates[column].isna() | (candidates[column] >= RULE_GROUP_RECALL)
    feasible = candidates.loc[ok & candidates["ex_recall"].notna()]
    if feasible.empty:
        return None
    ordered = feasible.assign(
        recall=-feasible["ex_recall"], fa=feasible["ex_fa_per_100"],
        options=[s.model.options_on for s in feasible["setting"]],
        floor=[s.model.scale_floor for s in feasible["setting"]],
        window=[s.model.window for s in feasible["setting"]],
        z=[-s.z for s in feasible["setting"]], m=[-s.m for s in feasible["setting"]],
    ).sort_values(["recall", "fa", "options", "floor", "window", "z", "m"], kind="stable")
    return ordered["setting"].iloc[0]


# --- report --------------------------------------------------------------------------------------------------


def _pct(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{100 * value:.1f} %"


def _fa(value: float) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}"


TEXT_COLUMNS = {"", "setting", "method", "family", "history", "exchange", "tag", "why", "series", "shape", "size"}


def _markdown(frame: pd.DataFrame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" if c in TEXT_COLUMNS else "---:" for c in frame.columns) + "|"
    rows = ["| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def evaluate_setting(scored: Scored, setting: Setting, histories: set[str] | None = None) -> dict:
    """count() and the alerts (alerts, alert_counts) of one setting, on all or some of the histories."""
    rows = scored.rows[setting.key]
    if histories is not None:
        rows = rows.loc[rows["history"].isin(histories)]
    flagged = flags(rows, setting.z, setting.m, setting.required)
    out = count(rows, flagged, setting.required)
    return out | alert_counts(alerts(rows, flagged, setting.required), out["ex_series_days"])


def rule_commit() -> str | None:
    """The first commit of this script that holds RULE (so the doc can say when the rule was fixed)."""
    import subprocess

    try:
        done = subprocess.run(["git", "log", "--reverse", "--format=%h %ad", "--date=short", "-S", "RULE_PRECISION",
                               "--", "scripts/evaluate_detection.py"], cwd=ROOT, capture_output=True, text=True,
                              timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.split("\n") if done.returncode == 0 else []
    return lines[0].strip() or None if lines else None


def project_defaults_differ(setting: Setting) -> list[str]:
    """The vars of dbt_project.yml that are not this setting's."""
    from cexflow.methods import project_vars

    defaults = project_vars()
    return [f"{k}: {defaults.get(k)!r} (chosen {v!r})" for k, v in setting.dbt_vars().items()
            if k in defaults and defaults.get(k) != v and not (isinstance(v, float) and defaults.get(k) == v)]


@dataclass
class Report:
    tuning: Scored
    heldout: Scored
    tuning_table: pd.DataFrame
    models: Sequence[ModelSpec]
    chosen: Setting | None
    seconds: float

    @property
    def default(self) -> Setting:
        return self.chosen or PROVISIONAL

    def featured(self) -> list[tuple[str, Setting]]:
        d = self.default
        out = [("default (the rule's choice)", d),
               ("the default with --no-materiality", Setting(d.model, d.z, required=False)),
               ("plain trailing baseline, same thresholds", Setting(ModelSpec("trailing", d.model.window), d.z, d.m)),
               ("provisional default (before this evaluation)", PROVISIONAL),
               ("cexflow's first default", FIRST_DEFAULT),
               ("the seed project's method", SEED_METHOD)]
        return [(name, s) for name, s in out if s.key in self.heldout.rows]

    def summary(self) -> str:
        d = evaluate_setting(self.heldout, self.default)
        return (f"default: {self.default.label}\nheld-out: recall {_pct(d['ex_recall'])} of "
                f"{d['ex_material']} material days, {_fa(d['ex_fa_per_100'])} false alarms per 100 exchange "
                f"series-days, precision {_pct(d['ex_precision'])} (event rate {d['event_rate_per_100']:.2f} per 100); "
                f"{self.seconds / 60:.1f} minutes")

    # tables

    def featured_table(self) -> pd.DataFrame:
        rows = []
        for name, setting in self.featured():
            r = evaluate_setting(self.heldout, setting)
            rows.append({
                "": name, "setting": setting.label,
                "recall": _pct(r["ex_recall"]), "b2b 2nd": _pct(r["recall_back-to-back 2nd"]),
                "after quiet": _pct(r["recall_after quiet spell"]),
                "FA / 100": _fa(r["ex_fa_per_100"]), "precision": _pct(r["ex_precision"]),
                "total: recall / FA / precision": f"{_pct(r['total_recall'])} / {_fa(r['total_fa_per_100'])} / "
                                                  f"{_pct(r['total_precision'])}",
                "alerts: false / 100, precision": f"{_fa(r['alerts_false_per_100'])}, {_pct(r['alerts_precision'])}",
                "exchange-relative recall": _pct(r["relative_recall"]),
            })
        return pd.DataFrame(rows)

    def counts_table(self) -> pd.DataFrame:
        rows = []
        for name, setting in self.featured()[:2]:
            r = evaluate_setting(self.heldout, setting)
            for part, title in (("ex", "exchange series"), ("total", "total")):
                rows.append({"": name, "series": title, "series-days": f"{r[f'{part}_series_days']:,}",
                             "material planted days": r[f"{part}_material"], "flags": r[f"{part}_flags"],
                             "true": r[f"{part}_true"], "false": r[f"{part}_false"],
                             "natural-material": r[f"{part}_natural"]})
            rows.append({"": name, "series": "alerts (episodes)", "series-days": "", "material planted days": "",
                         "flags": r["alerts"], "true": r["alerts_true"], "false": r["alerts_false"],
                         "natural-material": r["alerts_natural"]})
        return pd.DataFrame(rows)

    def family_table(self) -> pd.DataFrame:
        rows = []
        by_family: dict[str, set[str]] = {}
        for b in self.heldout.histories:
            by_family.setdefault(b.spec.family, set()).add(b.spec.name)
        for family, names in by_family.items():
            r = evaluate_setting(self.heldout, self.default, names)
            rows.append({"family": family, "histories": len(names), "material days": r["ex_material"],
                         "recall": _pct(r["ex_recall"]), "FA / 100": _fa(r["ex_fa_per_100"]),
                         "precision": _pct(r["ex_precision"]), "event rate / 100": f"{r['event_rate_per_100']:.2f}",
                         "alerts: false / 100": _fa(r["alerts_false_per_100"])})
        return pd.DataFrame(rows)

    def size_table(self) -> pd.DataFrame:
        rows = self.heldout.rows[self.default.key]
        flagged = flags(rows, self.default.z, self.default.m, self.default.required)
        material = (rows["planted_kind"] == "material") & ~rows["is_total"]
        caught = (flagged == rows["planted_sign"].to_numpy()) & material.to_numpy()
        plants = self.heldout.plants()
        multiple = rows[["history", "series", "day"]].merge(
            plants.rename(columns={"exchange": "series"})[["history", "series", "day", "multiple"]],
            on=["history", "series", "day"], how="left")["multiple"].to_numpy()
        frame = pd.DataFrame({"multiple": multiple[material.to_numpy()], "caught": caught[material.to_numpy()]})
        out = frame.groupby("multiple")["caught"].agg(["size", "mean"]).reset_index()
        return pd.DataFrame({"size": [f"{m:g}×" for m in out["multiple"]], "planted days": out["size"],
                             "recall": [_pct(v) for v in out["mean"]]})

    def misses(self) -> pd.DataFrame:
        d = self.default
        rows = self.heldout.rows[d.key]
        flagged = flags(rows, d.z, d.m, d.required)
        missed = rows.loc[(rows["planted_kind"] == "material") & ~rows["is_total"]
                          & (flagged != rows["planted_sign"].to_numpy())]
        plants = self.heldout.plants().rename(columns={"exchange": "series"})
        missed = missed.merge(plants[["history", "series", "day", "multiple"]], on=["history", "series", "day"])
        label = {b.spec.name: b.spec.label for b in self.heldout.histories}

        def why(row) -> str:
            if pd.isna(row.zscore):
                return "no z"
            if abs(row.zscore) < d.z:
                return f"|z| below {d.z:g}" + ("" if row.materiality >= d.m else f", materiality below {d.m:g}")
            if row.materiality < d.m:
                return f"materiality below {d.m:g}"
            return "flagged in the other direction"

        ratios = [self._scale_ratios(row.history, row.day, row.deviation, row.materiality)
                  for row in missed.itertuples()]
        return pd.DataFrame({"history": missed["history"].map(label), "exchange": missed["series"],
                             "day": missed["day"], "tag": missed["tag"],
                             "size": [f"{m:g}×" for m in missed["multiple"]],
                             "z": missed["zscore"].map(lambda v: f"{v:.2f}"),
                             "materiality": missed["materiality"].map(lambda v: f"{v:.2f}"),
                             "scale ÷ unit": [f"{a:.2f}" for a, _ in ratios],
                             "without planted days": [f"{b:.2f}" for _, b in ratios],
                             "why": [why(r) for r in missed.itertuples()]})

    def _scale_ratios(self, history: str, day: int, deviation: float, materiality: float) -> tuple[float, float]:
        """The model's materiality scale that day, and the same standard deviation of the total's netflow with
        the planted amounts taken out, both in the generator's unit of that day."""
        import duckdb

        built = next(b for b in self.heldout.histories if b.spec.name == history)
        unit = hist.token_unit(built.spec)[day]
        with duckdb.connect(str(built.db), read_only=True) as con:
            total = dict(con.execute(f"""select cast(flow_date - date '{built.start}' as integer),
                cast(netflow as double) from fct_netflow_daily_total""").fetchall())
        planted: dict[int, float] = {}
        for p in built.plants:
            planted[p["day"]] = planted.get(p["day"], 0.0) + p["amount"] * (1 if p["direction"] == "inflow" else -1)
        window = [d for d in range(day - self.default.model.scale_window, day) if d in total]
        clean = np.std([total[d] - planted.get(d, 0.0) for d in window], ddof=1)
        return abs(deviation) / materiality / unit, float(clean) / unit

    def models_table(self) -> pd.DataFrame:
        """Every model at the thresholds the rule picks for it alone on the tuning set, on the held-out set."""
        rows = []
        for model in self.models:
            mine = self.tuning_table.loc[[s.model == model for s in self.tuning_table["setting"]]]
            setting = choose(mine)
            if setting is None:
                rows.append({"method": model.label, "the rule's thresholds for it": "none passes the rule",
                             "recall": "", "b2b 2nd": "", "FA / 100": "", "precision": "",
                             "no materiality, same z: FA / 100, exchange-relative recall": ""})
                continue
            r = evaluate_setting(self.heldout, setting)
            off = evaluate_setting(self.heldout, Setting(model, setting.z, required=False))
            rows.append({"method": model.label,
                         "the rule's thresholds for it": f"z {setting.z:g}, materiality {setting.m:g}",
                         "recall": _pct(r["ex_recall"]), "b2b 2nd": _pct(r["recall_back-to-back 2nd"]),
                         "FA / 100": _fa(r["ex_fa_per_100"]), "precision": _pct(r["ex_precision"]),
                         "no materiality, same z: FA / 100, exchange-relative recall":
                             f"{_fa(off['ex_fa_per_100'])}, {_pct(off['relative_recall'])}"})
        return pd.DataFrame(rows)

    def history_list(self, scored: Scored) -> str:
        return "; ".join(b.spec.label for b in scored.histories)

    # text

    def targets(self, r: dict) -> list[str]:
        lines = []
        checks = [("recall of material planted days (back-to-back second days included)", r["ex_recall"],
                   TARGET_RECALL, True, _pct),
                  ("false alarms per 100 exchange series-days", r["ex_fa_per_100"], TARGET_FALSE_ALARMS, False, _fa),
                  ("precision", r["ex_precision"], TARGET_PRECISION, True, _pct)]
        for what, value, target, at_least, fmt in checks:
            met = value >= target if at_least else value <= target
            gap = "" if met else f", missed by {fmt(abs(value - target))}"
            lines.append(f"- {what}: {fmt(value)} against {'≥' if at_least else '≤'} {fmt(target)}: "
                         f"**{'met' if met else 'not met'}**{gap}.")
        return lines

    def below_target(self, r: dict) -> str:
        """The parts of the held-out set whose recall is below the target, with the gap."""
        parts = [(tag, r[f"recall_{tag}"]) for tag in TAGS if r[f"n_{tag}"]]
        by_family: dict[str, set[str]] = {}
        for b in self.heldout.histories:
            by_family.setdefault(b.spec.family, set()).add(b.spec.name)
        parts += [(f"the {family} family", evaluate_setting(self.heldout, self.default, names)["ex_recall"])
                  for family, names in by_family.items()]
        low = [f"{what} {_pct(value)} ({100 * (value - TARGET_RECALL):+.1f} points)" for what, value in parts
               if value < TARGET_RECALL]
        return ("- Below 95 % within the pooled recall: " + "; ".join(low) + ". The targets are on the pooled "
                "figure; these parts are where a default would miss first.") if low else ""

    def why_missed(self) -> str:
        misses = self.misses()
        if misses.empty:
            return "The default misses no material planted day of the held-out set."
        d = self.default
        reasons = misses["why"].str.split(",").str[0]
        counts = reasons.value_counts()
        parts = ", ".join(f"{n} with {reason}" for reason, n in counts.items())
        text = [f"The default misses {len(misses)} material planted days of the held-out set ({parts}); they are "
                f"listed below, {(misses['size'] == '5×').sum()} of them of the smallest size, 5×."]
        low = misses.loc[reasons == f"materiality below {d.m:g}"]
        if len(low):
            scale = low["scale ÷ unit"].astype(float)
            clean = low["without planted days"].astype(float)
            text.append(f"Where materiality falls short ({low['materiality'].astype(float).min():.2f}-"
                        f"{low['materiality'].astype(float).max():.2f}), the model's scale that day (the standard "
                        f"deviation of the total's daily netflow over the {d.model.scale_window} days before) was "
                        f"{scale.min():.1f}-{scale.max():.1f} × the generator's unit; without the earlier planted "
                        f"days in its window it would have been {clean.min():.1f}-{clean.max():.1f} × (heavy tails "
                        "doing the rest). The planted days of all exchanges land on the one total: in the `many` "
                        "histories (12 exchanges, held-out only) about 6 % of the total's days are planted, so "
                        "its spread widens most there, and under the heaviest tails (Pareto α 2.3, whales), which "
                        "the tuning set did not have either. A scale that leaves large days out, as `screened` "
                        "does for the baseline, is the evident candidate; it was not evaluated before this "
                        "held-out run, so it is not the default (choosing it now would be choosing on the "
                        "held-out set).")
        if (reasons == f"|z| below {d.z:g}").any():
            text.append("Where |z| stays below the threshold, the exchange carries most of the token's flow: its "
                        "own spread is about the token's, so a 5× day is about 5 of its own spreads, and the "
                        "day's ordinary flow, or a first day of the pair still in the baseline, takes some away.")
        return " ".join(text)

    def render(self, command: str) -> str:
        d = self.default
        r = evaluate_setting(self.heldout, d)
        tuned = evaluate_setting(self.tuning, d)
        relative = evaluate_setting(self.heldout, Setting(d.model, d.z, required=False))
        commit = rule_commit()
        differ = project_defaults_differ(d)
        reused = sum(b.reused for b in self.tuning.histories + self.heldout.histories)
        lines = [
            "# Detection quality of the anomaly methods",
            "",
            f"Written by `{command}` ({dt.date.today().isoformat()}, {self.seconds / 60:.1f} minutes"
            + (f", reusing the builds of {reused} histories from an earlier run" if reused else "")
            + f"); do not edit by hand, run it again. The chart is [{CHART_NAME}]({CHART_NAME}).",
            "",
            "## In short",
            "",
            (f"- **Default: `{d.label}`**, chosen on the tuning set by the rule below"
             if self.chosen else "- **The rule chose nothing on the tuning set**; the figures are the provisional "
             "default's") + "; " + ("it is the default of `dbt_project.yml`'s vars (so of `cexflow build` and "
                                    "`cexflow agent`)." if not differ else
                                    "**dbt_project.yml's vars differ**: " + "; ".join(differ) + "."),
            f"- On the held-out histories (figures below are held-out only): it catches {_pct(r['ex_recall'])} of "
            f"the {r['ex_material']} material planted days on the exchange series ({_pct(r['recall_isolated'])} "
            f"isolated, {_pct(r['recall_back-to-back 1st'])} / {_pct(r['recall_back-to-back 2nd'])} of the first / "
            f"second days of back-to-back pairs, {_pct(r['recall_after quiet spell'])} right after a quiet spell), "
            f"with {_fa(r['ex_fa_per_100'])} false alarms per 100 exchange series-days and a precision of "
            f"{_pct(r['ex_precision'])} at an event rate of {r['event_rate_per_100']:.2f} material planted days "
            f"per 100 exchange series-days (the issue's history: 8 per 1,200 = 0.67). Per alert (episodes, a "
            f"total's anomaly merged into the exchange that explains it): {r['alerts']} alerts, "
            f"{r['alerts_false']} false, precision {_pct(r['alerts_precision'])}. The total series alone: recall "
            f"{_pct(r['total_recall'])}, {_fa(r['total_fa_per_100'])} false alarms per 100 days, precision "
            f"{_pct(r['total_precision'])}.",
            "- The targets of issue 12, on the held-out set:",
            *["  " + line for line in self.targets(r)],
            *(["  " + self.below_target(r)] if self.below_target(r) else []),
            f"- With `--no-materiality` (the same model and z, materiality not required, so the spread is not "
            f"floored by the token's scale) it catches {_pct(relative['relative_recall'])} of the "
            f"{relative['relative_planted']} exchange-relative planted days, at {_fa(relative['ex_fa_per_100'])} "
            f"false alarms per 100 exchange series-days (precision {_pct(relative['ex_precision'])}, counting both "
            "kinds of planted day as true): the view for an analyst who wants every exchange's own unusual days.",
            f"- On the tuning set the same setting had {_pct(tuned['ex_recall'])}, {_fa(tuned['ex_fa_per_100'])} "
            f"and {_pct(tuned['ex_precision'])}: the held-out figures are what to expect on data the choice did "
            "not see.",
            "",
            "## How the default was chosen",
            "",
            "The rule, written before any held-out figure existed"
            + (f" (commit {commit}, the first commit of this script with the rule; the held-out set was "
               "built and scored for the first time after it)" if commit else "") + ":",
            "",
            "> " + RULE,
            "",
            f"The rule sees the tuning set only ({len(self.tuning.histories)} histories); it is applied by "
            "`choose()` to every setting of the grid (every model below × z in "
            f"{', '.join(f'{z:g}' for z in Z_GRID)} × materiality in {', '.join(f'{m:g}' for m in M_GRID)}). "
            "Then the held-out set is built and scored, and only its figures are reported.",
            "",
            "## Set-up",
            "",
            "- **Generators** (scripts/detection_histories.py, written for this evaluation; `cexflow sample`'s "
            "generator is a family of its own, in the held-out set only): `lognormal` (log-normal amounts, σ 1 "
            "to 2; Poisson counts with a market mood shared by the exchanges; the deposit share drawn afresh each "
            "day), `pareto` (Pareto-tailed amounts, α 2.3 to 3; overdispersed counts, a gamma mood per exchange; "
            "a drifting deposit share; a stronger weekly cycle), `whales` (held-out only: a log-normal body with "
            "2 % of transfers from a Pareto tail twenty times the median) and `sample` (held-out only). Every "
            "history has weekly seasonality, a level shift (one active exchange's activity doubles or halves from "
            "a day in its middle third), internal sweeps between wallets of one exchange (not flows), transfers "
            "between exchanges (a flow of each, nothing for the total), exchanges from a few transfers a month "
            "to hundreds a day (shapes `busy`, `mixed`, `thin`: a token whose exchanges are all quiet, and "
            "`many`, 12 exchanges, held-out only). Histories are Etherscan tokentx CSV files with a labels file, "
            "built with the project's dbt models as `cexflow build --input FILE --labels LABELS` builds them.",
            f"- **Tuning set**: {self.history_list(self.tuning)}.",
            f"- **Held-out set** (other seeds, other parameters, two families and a shape of its own): "
            f"{self.history_list(self.heldout)}.",
            "- **Material planted days**: the token's unit is the generator's own model standard deviation of "
            "the total's daily netflow that day (from its rates, amount laws, weekday and level shift; quiet days "
            "count), not a figure the project measures. Material days are 5, 6, 8 or 10 × that unit (5 × most "
            "often), deposits (inflow) or withdrawals (outflow) of 1-3 whale transfers on the exchange's hub "
            "wallet: isolated, back to back (two days, the second in the same direction 2 times in 3), or on a "
            "quiet exchange the first day after 14 days without flow. Isolated and back-to-back days go to any "
            "exchange, busier ones more often (weight √rate). The project's `total_spread` scale estimates the "
            "same unit from a trailing window; the evaluation measures how well its estimates (with heavy tails "
            "and earlier planted days inside the window) and the z-scores do.",
            "- **Exchange-relative planted days**: 5, 6 or 8 × the exchange's own model spread on a day with "
            "flow, on exchanges where that stays below 0.5 × the token's unit: large for the exchange, not for "
            "the token. The default view should not flag them (a flag there counts as false); the "
            "`--no-materiality` view should.",
            f"- **Event rate**: round(0.5 % × exchanges × evaluated days) material planted days per history, "
            f"{r['event_rate_per_100']:.2f} per 100 exchange series-days over the held-out set; events are at "
            "least 5 days apart and none is planted in the first 30 days, which are not counted either.",
            "- **Counting**: a flag is a series-day the model marks as an anomaly at the setting's thresholds "
            "(|z| ≥ z and, by default, materiality ≥ the threshold, from the z and materiality the compiled model "
            "returns). It is *true* on a planted day of the kind the view is for, with the planted direction; a "
            "flag on a *natural-material* day - one whose own background move (nothing planted) reaches 5 × the "
            "token's unit, which heavy-tailed laws draw now and then - is set apart, neither true nor false; "
            "every other flag is a false alarm. Recall: material planted days flagged with their direction. "
            "Precision: true / (true + false). Exchange series are the headline (as in the issue: 44 false "
            "flags in 1,200 exchange series-days = 3.67 per 100, precision 15 %); the total is counted on its "
            "own; alerts are episodes as rpt_netflow_anomalies forms them (consecutive anomaly days of a "
            "series, a total's anomaly joining the exchange that explains it), true when one of their days is.",
            "- **Every figure is the project's own**: the model fct_netflow_zscores is compiled with `dbt "
            "compile` for every model of the grid and run read-only on every history's marts; thresholds are "
            "applied to the z and materiality it returns (they change neither).",
            "",
            "## Held-out results",
            "",
            "Recall: of the material planted days on the exchange series; FA / 100: false alarms per 100 "
            "exchange series-days; exchange-relative recall: of the exchange-relative planted days, in the "
            "setting's own view.",
            "",
            _markdown(self.featured_table()),
            "",
            "The counts behind the first two rows:",
            "",
            _markdown(self.counts_table()),
            "",
            "The default by family of the held-out set:",
            "",
            _markdown(self.family_table()),
            "",
            "By planted size (exchange series):",
            "",
            _markdown(self.size_table()),
            "",
            self.why_missed(),
            "",
            _markdown(self.misses()) if not self.misses().empty else "",
            "",
            "## Every model, held-out",
            "",
            "Each model at the thresholds the rule picks among that model's settings alone on the tuning set "
            "(so `gross_flow`, whose scale is of another size, gets its own materiality threshold), with its "
            "held-out figures. `screened` options: exclude Z (days whose first-pass |z| ≥ Z leave later "
            "baselines), floor X (the spread is at least X × the materiality scale, when materiality is "
            "required), active floor and min active (see models/_docs.md); then the materiality scale and its "
            "window.",
            "",
            _markdown(self.models_table()),
            "",
        ]
        return "\n".join(lines)

    def plot(self, out: Path) -> Path:
        """Held-out recall by planted size (left) and recall against false alarms over z (right)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        colors = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"]  # Okabe-Ito
        fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=100)
        plants = self.heldout.plants().rename(columns={"exchange": "series"})
        for color, (name, setting) in zip(colors, self.featured(), strict=False):
            rows = self.heldout.rows[setting.key]
            material = ((rows["planted_kind"] == "material") & ~rows["is_total"]).to_numpy()
            sub = rows.loc[material, ["history", "series", "day", "planted_sign"]].merge(
                plants[["history", "series", "day", "multiple"]], on=["history", "series", "day"])
            flagged = flags(rows, setting.z, setting.m, setting.required)[material]
            sub = sub.assign(caught=flagged == sub["planted_sign"].to_numpy())
            by_size = sub.groupby("multiple")["caught"].mean()
            left.plot(by_size.index, 100 * by_size.values, marker="o", color=color, label=name)
            points = [evaluate_setting(self.heldout, replace(setting, z=z)) for z in Z_GRID]
            right.plot([p["ex_fa_per_100"] for p in points], [100 * p["ex_recall"] for p in points], marker=".",
                       color=color)
            at = evaluate_setting(self.heldout, setting)
            right.plot([at["ex_fa_per_100"]], [100 * at["ex_recall"]], "o", color=color, markersize=9)
        left.axhline(100 * TARGET_RECALL, color="grey", linewidth=0.8, linestyle=":")
        left.set(xlabel="planted size (× the token's daily spread)", ylabel="recall of material days (%)",
                 title="Held-out recall by planted size", ylim=(0, 102))
        left.legend(fontsize=7, loc="lower right")
        right.axvspan(0, TARGET_FALSE_ALARMS, color="#eeeeee")
        right.axhline(100 * TARGET_RECALL, color="grey", linewidth=0.8, linestyle=":")
        right.set_xscale("symlog", linthresh=0.1)
        ticks = [0, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10]
        right.set_xticks(ticks, [f"{t:g}" for t in ticks])
        right.set(xlabel="false alarms per 100 exchange series-days", ylabel="recall of material days (%)",
                  title=f"Held-out, z {Z_GRID[0]:g} to {Z_GRID[-1]:g} (big dot: the setting's z)", xlim=(0, 10),
                  ylim=(0, 101))
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out)
        plt.close(fig)
        return out

    def write(self, out_dir: Path, command: str) -> tuple[Path, Path]:
        chart = self.plot(out_dir / CHART_NAME)
        doc = out_dir / DOC_NAME
        doc.write_text(self.render(command), encoding="utf-8")
        return doc, chart


# --- command line ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="two tiny histories, two models (for the tests)")
    parser.add_argument("--tuning-only", action="store_true",
                        help="score the tuning set and print the setting the rule chooses; build no held-out history")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help=f"write {DOC_NAME} and {CHART_NAME} here (default: docs/, except with --quick)")
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="keep the histories and databases here and reuse them (default: a temporary folder)")
    args = parser.parse_args(argv)
    tuning_specs, heldout_specs, models = (QUICK[:1], QUICK[1:], QUICK_MODELS) if args.quick else (
        TUNING, HELDOUT, MODELS)
    started = time.monotonic()
    try:
        with contextlib.ExitStack() as stack:
            workdir = args.workdir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cexflow-eval-")))
            project = Project(workdir)
            sql: dict[str, str] = {}
            grid = settings_of(models)
            tuning = score(project, build_histories(project, tuning_specs, workdir), grid, sql)
            tuning_table = table(tuning, grid)
            chosen = choose(tuning_table)
            log(f"[{time.monotonic() - started:4.0f} s] the rule chooses: {chosen.label if chosen else 'nothing'}")
            if args.tuning_only:
                show = tuning_table.sort_values("ex_fa_per_100")
                show = show.loc[show["ex_recall"] >= 0.9]
                with pd.option_context("display.width", 250, "display.max_rows", 200, "display.max_colwidth", 90):
                    print(show[["label", "ex_recall", "ex_fa_per_100", "ex_precision", "total_fa_per_100",
                                "recall_back-to-back 2nd", "recall_after quiet spell"]
                               + [c for c in show.columns if c.startswith("recall_family")]].head(60).to_string())
                return 0
            featured = [SEED_METHOD, FIRST_DEFAULT, PROVISIONAL]
            heldout = score(project, build_histories(project, heldout_specs, workdir), grid + featured, sql)
            report = Report(tuning, heldout, tuning_table, models, chosen, time.monotonic() - started)
            out = args.out or (None if args.quick else DOCS_DIR)
            print(report.summary())
            if out is not None:
                command = "scripts/evaluate_detection.py" + (" --quick" if args.quick else "")
                doc, chart = report.write(out, command)
                print(f"wrote {doc} and {chart}")
    except CexflowError as exc:
        print(f"evaluate_detection: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
