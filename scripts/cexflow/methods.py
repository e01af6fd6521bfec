"""The anomaly methods and their options: one home for their names, what they mean and their defaults.

The defaults are the vars of `dbt_project.yml` (each with its comment there), read from that file, never
repeated here: the detection evaluation (scripts/evaluate_detection.py, docs/detection_quality.md) chose
them, and `cexflow build`, `cexflow agent` and plain `dbt build` share them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import yaml

from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT
from cexflow.text import plural


@dataclass(frozen=True)
class Method:
    """An anomaly method (var zscore_method, --method): what its baseline is, in the words every output uses.
    The texts take `{w}` (the window in calendar days: "112 calendar days"), `{days}` ("112 days") and
    `{window}` (the number)."""

    name: str
    report_text: str  # the reports' description of the baseline and z
    chart_text: str  # a chart's subtitle: the baseline band
    centre: str = "mean"  # the baseline's centre
    spread: str = "σ"  # the baseline's spread as shown (robust: the MAD scaled to a σ)


METHOD_LIST = (
    Method(
        "trailing",
        "the baseline of a day is the mean and the sample standard deviation (σ) of the {w} before it (the "
        "day itself excluded); z = (netflow − mean) / σ",
        "mean and σ of the {days} before each day",
    ),
    Method(
        "inclusive",
        "the seed project's method: mean and population standard deviation (σ) of a window of {days} that "
        "ends on the day itself; z = (netflow − mean) / σ",
        "mean and population σ of a {window}-day window ending on the day",
    ),
    Method(
        "robust",
        "the baseline is the median and the MAD of the {w} before the day; z = 0.6745 · (netflow − median) / "
        "MAD (the spread shown is MAD / 0.6745)",
        "median and MAD/0.6745 of the {days} before each day",
        centre="median",
        spread="MAD/0.6745",
    ),
    Method(
        "screened",
        "the baseline of a day is the mean and the sample standard deviation (σ) of the {w} before it, "
        "leaving out days that were far from their own baseline, so that a spike does not widen the "
        "baselines after it; σ is floored, so that a flat baseline still scores; z = (netflow − mean) / σ",
        "mean and floored σ of the {days} before each day, days far from their own baseline left out",
    ),
)
METHODS_BY_NAME = {method.name: method for method in METHOD_LIST}
METHODS = tuple(METHODS_BY_NAME)


def _method(name: str | None) -> Method:
    """The Method of `name`; an unknown one (a database built otherwise) is described by its name and window."""
    return METHODS_BY_NAME.get(name or "") or Method(
        name or "", "method {name}, window {days}", "{name}, {window}-day window"
    )


def _texts(method: str, window_days: int) -> dict[str, str]:
    days = plural(window_days, "day")
    return {"name": method, "w": plural(window_days, "calendar day"), "days": days, "window": str(window_days)}


def report_text(method: str, window_days: int) -> str:
    """The reports' description of a method's baseline and z."""
    return _method(method).report_text.format(**_texts(method, window_days))


def chart_text(method: str, window_days: int) -> str:
    """A chart's words for a method's baseline band."""
    return _method(method).chart_text.format(**_texts(method, window_days))


def centre_name(method: str | None) -> str:
    return _method(method).centre


def spread_name(method: str | None) -> str:
    return _method(method).spread


OFF = "off"  # a nullable option turned off on the command line (None means: not given)
MATERIALITY_SCALES = ("total_spread", "gross_flow")


@cache
def project_vars() -> dict:
    """The vars block of dbt_project.yml."""
    with open(PROJECT_ROOT / "dbt_project.yml", encoding="utf-8") as fh:
        return dict(yaml.safe_load(fh)["vars"])


@dataclass(frozen=True)
class AnomalyOption:
    """A command-line option that sets one dbt var of the anomaly scores."""

    flag: str
    var: str
    kind: type
    metavar: str
    help: str
    minimum: float | None = None  # the smallest value allowed
    positive: bool = False  # strictly above `minimum`
    nullable: bool = False  # OFF ('off' on the command line) turns it off: the var is null
    choices: tuple[str, ...] | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    def check_kind(self, value) -> None:
        """A value given from Python (None: not given): of the option's kind, one of its choices, OFF only
        where the option can be turned off, and in range; else a CexflowError naming the option."""
        if value is None or (self.nullable and value == OFF):
            return
        numeric = self.kind in (int, float) and not isinstance(value, bool)
        if not (isinstance(value, self.kind) or (numeric and self.kind is float and isinstance(value, int))):
            expected = {int: "a whole number", float: "a number", str: "a text"}[self.kind]
            off = f" or '{OFF}'" if self.nullable else ""
            raise CexflowError(f"{self.flag} {value!r}: must be {expected}{off}")
        if self.choices and value not in self.choices:
            raise CexflowError(f"{self.flag} {value}: must be one of {', '.join(self.choices)}")
        self.check(value)

    def check(self, value) -> None:
        if value is None or self.minimum is None:
            return
        if value < self.minimum or (self.positive and value == self.minimum):
            bound = "positive" if self.positive else f"at least {self.minimum:g}"
            raise CexflowError(f"{self.flag} {value}: must be {bound}")


ANOMALY_OPTIONS = (
    AnomalyOption("--method", "zscore_method", str, "METHOD", "anomaly method", choices=METHODS),
    AnomalyOption("--window", "zscore_window_days", int, "DAYS", "baseline window in days", minimum=2),
    AnomalyOption(
        "--z",
        "zscore_threshold",
        float,
        "THRESHOLD",
        "a day is unusual when |z| >= THRESHOLD",
        minimum=0,
        positive=True,
    ),
    AnomalyOption(
        "--min-history", "zscore_min_history_days", int, "DAYS", "no score before this many baseline days", minimum=1
    ),
    AnomalyOption(
        "--min-materiality",
        "materiality_threshold",
        float,
        "X",
        "a day is material when its deviation from its baseline is at least X times the token's materiality scale",
        minimum=0,
    ),
    AnomalyOption(
        "--min-amount",
        "materiality_min_amount",
        float,
        "TOKENS",
        "a day is material only when its deviation is at least this many token units too",
        minimum=0,
    ),
    AnomalyOption(
        "--min-usd",
        "materiality_min_usd",
        float,
        "USD",
        "a day is material only when its netflow is at least this many USD too (|netflow_usd|, with "
        "--prices; a day without a price is then not material)",
        minimum=0,
    ),
    AnomalyOption(
        "--materiality-scale",
        "materiality_scale",
        str,
        "SCALE",
        "the token's scale: total_spread (std of the total's daily netflow) or gross_flow (mean of "
        "its daily inflow + outflow)",
        choices=MATERIALITY_SCALES,
    ),
    AnomalyOption(
        "--materiality-window",
        "materiality_window_days",
        int,
        "DAYS",
        "days before the day over which the materiality scale is measured",
        minimum=2,
    ),
    AnomalyOption(
        "--exclude-z",
        "zscore_exclude_z",
        float,
        "Z",
        "screened: leave days whose first-pass |z| >= Z out of later baselines ('off': keep them)",
        minimum=0,
        positive=True,
        nullable=True,
    ),
    AnomalyOption(
        "--active-spread-floor",
        "zscore_active_spread_floor",
        float,
        "X",
        "screened: the spread is at least X times the std of the baseline's days with flow",
        minimum=0,
    ),
    AnomalyOption(
        "--spread-floor",
        "zscore_scale_spread_floor",
        float,
        "X",
        "screened: the spread is at least X times the token's materiality scale, so a flat baseline still scores",
        minimum=0,
    ),
    AnomalyOption(
        "--min-active-days",
        "zscore_min_active_days",
        int,
        "N",
        "screened: no z before the baseline has N days with flow",
        minimum=0,
    ),
)


def anomaly_vars(options) -> dict:
    """The dbt vars of the anomaly options of `options` (a cexflow.build.BuildOptions, whose fields are the
    options' `dest`): the given ones, checked, and dbt_project.yml's for the rest."""
    defaults = project_vars()
    out = {}
    for option in ANOMALY_OPTIONS:
        value = getattr(options, option.dest)
        if value is None:
            value = defaults[option.var]
        elif value == OFF:
            value = None
        option.check(value)
        out[option.var] = value
    out["anomaly_requires_materiality"] = (
        False if options.no_materiality else bool(defaults["anomaly_requires_materiality"])
    )
    check_anomalies_possible(out)
    return out


def check_anomalies_possible(anomaly: dict) -> None:
    """Settings (anomaly_vars) under which no day can ever be an anomaly, whatever the data, are an error."""
    method, window = anomaly["zscore_method"], anomaly["zscore_window_days"]
    min_history, z = anomaly["zscore_min_history_days"], anomaly["zscore_threshold"]
    if method != "inclusive" and min_history > window:
        raise CexflowError(
            f"--min-history {min_history}: a day needs {min_history} baseline days, but the baseline is the "
            f"--window {window} days before it, so no day can get a z-score or be an anomaly; use --min-history "
            f"{window} or less, or --window {min_history} or more"
        )
    # the inclusive window holds the day itself: with n rows, |z| <= sqrt(n - 1) (README, "Anomaly methods")
    if method == "inclusive" and z > math.sqrt(window - 1):
        raise CexflowError(
            f"--z {z:g}: with --method inclusive the day is in its own --window {window} baseline, so |z| is at "
            f"most √({window} − 1) = {math.sqrt(window - 1):.3f} and no day can be an anomaly; use a lower --z, "
            f"--window {math.ceil(z * z + 1)} or more, or --method trailing"
        )
    scale_window = anomaly["materiality_window_days"]
    if anomaly["anomaly_requires_materiality"] and min_history > scale_window:
        raise CexflowError(
            f"--materiality-window {scale_window}: the materiality scale needs --min-history {min_history} days "
            f"of it, so no day can be material, and an anomaly must be; use --materiality-window {min_history} or "
            "more, or --no-materiality"
        )
