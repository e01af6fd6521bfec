"""The anomaly methods and their options: one home for their names, what they mean and their defaults (the
vars of `dbt_project.yml`, read from there, never repeated here; docs/detection_quality.md chose them).
"""

from __future__ import annotations

from dataclasses import dataclass, field, make_dataclass
from functools import cache
from pathlib import Path

import yaml

from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT
from cexflow.text import plural


@cache
def declared(name: str) -> dict:
    """A YAML file beside this module as data: methods.yml (the methods' words and the anomaly options) or
    options.yml (the options of each subcommand, which cexflow.cli adds to its parsers)."""
    with open(Path(__file__).with_name(name), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@dataclass(frozen=True)
class Method:
    """An anomaly method (--method) in the words every output uses (methods.yml)."""

    name: str
    report_text: str
    chart_text: str
    centre: str = "mean"
    spread: str = "σ"


def _folded(entry: dict) -> dict:
    return {key: " ".join(value.split()) if isinstance(value, str) else value for key, value in entry.items()}


METHOD_LIST = tuple(Method(**_folded(entry)) for entry in declared("methods.yml")["methods"])
METHODS_BY_NAME = {method.name: method for method in METHOD_LIST}
METHODS = tuple(METHODS_BY_NAME)


def _method(name: str | None) -> Method:
    # an unknown method (of a database built otherwise) is described by its name and window
    return METHODS_BY_NAME.get(name or "") or Method(
        name or "", "method {name}, window {days}", "{name}, {window}-day window"
    )


def _texts(method: str, window_days: int) -> dict[str, str]:
    days = plural(window_days, "day")
    return {"name": method, "w": plural(window_days, "calendar day"), "days": days, "window": str(window_days)}


def report_text(method: str, window_days: int) -> str:
    return _method(method).report_text.format(**_texts(method, window_days))


def chart_text(method: str, window_days: int) -> str:
    return _method(method).chart_text.format(**_texts(method, window_days))


def centre_name(method: str | None) -> str:
    return _method(method).centre


def spread_name(method: str | None) -> str:
    return _method(method).spread


OFF = "off"  # a nullable option turned off on the command line (None means: not given)


def shown(value) -> str:
    """A setting as the help and the build's summary show it: None is off, a float without trailing zeros."""
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def option_specs(command: str) -> list[dict]:
    """The options options.yml declares for `command`, in its order (`anomaly_options` left as that name)."""
    specs: list = []
    for section in declared("options.yml")[command]:
        specs += option_specs(section["include"]) if "include" in section else section["options"]
    return specs


def options_class(command: str, doc: str, check, **defaults):
    """A frozen dataclass of the options of `command`, a field per option named by its dest: a repeatable
    option's a tuple (default ()), a flag's a bool, any other's None unless `defaults` names it. It turns what it
    is given into those kinds (a path option's into a Path), checks a list of choices, then calls `check`."""
    fields, paths, repeated, choices = [], [], [], {}
    for spec in option_specs(command):
        if spec == "anomaly_options":
            fields += [(option.dest, object, None) for option in ANOMALY_OPTIONS]
            continue
        name = spec.get("dest") or spec["flag"].lstrip("-").replace("-", "_")
        action = spec.get("action")
        default = {"append": (), "store_true": False, "store_false": True}.get(action)
        fields.append((name, object, field(default=defaults.get(name, default))))
        paths += [name] if spec.get("type") == "path" else []
        repeated += [name] if action == "append" else []
        if isinstance(spec.get("choices"), list):
            choices[name] = spec["choices"]

    def post_init(self) -> None:
        for name in repeated:  # a list, a tuple or one
            value = getattr(self, name)
            values = () if value is None else (value,) if isinstance(value, (str, Path)) else tuple(value)
            object.__setattr__(self, name, tuple(str(v) for v in values))
        for name in paths:
            if getattr(self, name) is not None:
                object.__setattr__(self, name, Path(getattr(self, name)))
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                flag = "--" + name.replace("_", "-")
                raise CexflowError(f"{flag} {getattr(self, name)}: must be one of {', '.join(allowed)}")
        check(self)

    namespace = {"__doc__": doc, "__post_init__": post_init, "__module__": check.__module__}
    return make_dataclass(f"{command.title()}Options", fields, frozen=True, namespace=namespace)


@cache
def project_vars() -> dict:
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
        """A value given from Python (None: not given): of the option's kind, one of its choices, in range."""
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


def _option(entry: dict) -> AnomalyOption:
    choices = METHODS if entry.get("choices") == "methods" else entry.get("choices")
    kind = {"int": int, "float": float, "str": str}[entry["kind"]]
    return AnomalyOption(**_folded(entry) | {"kind": kind, "choices": tuple(choices) if choices else None})


ANOMALY_OPTIONS = tuple(_option(entry) for entry in declared("methods.yml")["anomaly_options"])
