"""The `cexflow` command line, the one module that sees argparse: it unpacks the arguments into the library's
options (declared in options.yml), calls the library and prints. Only the given subcommand's module is imported
(the charts' and reports' cost most of a second); a `CexflowError`, and an argument error, is one line on stderr
and exit 2."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import inspect
import sys
from pathlib import Path

from cexflow import __version__
from cexflow.errors import CexflowError
from cexflow.methods import ANOMALY_OPTIONS, OFF, AnomalyOption, declared, project_vars, shown
from cexflow.text import plural

# subcommand -> library module (cexflow.<subcommand>); the order is the order of `cexflow --help`
SUBCOMMANDS = {name: f"cexflow.{name}" for name in ("build", "report", "agent", "fetch", "sample", "docs")}


class OneLineErrors(argparse.ArgumentParser):
    """A parser whose error is one line, as every other error of cexflow (`cexflow build: error: argument
    --window: not a valid int: 'x' (see cexflow build --help)`, exit 2); an argument no parser knows is the
    error of the subcommand given (argparse's would be the top parser's)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}  # the subcommands' parsers (make_parser)

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())} (see {self.prog} --help)\n")

    def parse_args(self, args=None, namespace=None):
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            self.commands.get(getattr(parsed, "command", None), self).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
        return parsed


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser; with `only`, the other subcommands are named but their modules not imported."""
    parser = OneLineErrors(
        prog="cexflow",
        description="Exchange inflow/outflow analytics for an ERC-20 token, built with dbt on DuckDB.",
    )
    parser.add_argument("--version", action="version", version=f"cexflow {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module_name in SUBCOMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        p = parser.commands[name] = sub.add_parser(name, help=module.HELP, description=module.HELP)
        arguments(name)(p)
        p.set_defaults(_run=RUNNERS[name])
    return parser


def parse(argv: list[str]) -> argparse.Namespace:
    """The arguments of a command line (`["build", "--input", ...]`), as main() parses them."""
    return make_parser(only=argv[0] if argv and argv[0] in SUBCOMMANDS else None).parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    try:
        return int(args._run(args) or 0)
    except CexflowError as exc:
        print(f"cexflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cexflow {args.command}: interrupted", file=sys.stderr)
        return 130


def _given(args: argparse.Namespace, target) -> dict:
    """The parameters of `target` (a function, or an options dataclass) that the command line gave, by name
    (None: not given, the library's default applies)."""
    given = vars(args)
    return {name: given[name] for name in inspect.signature(target).parameters if given.get(name) is not None}


# --- the options: declared in options.yml, added in one loop ----------------------------------------------


def _choices(option: AnomalyOption) -> str:
    """': one of trailing, inclusive, ...' for an option whose help does not name its choices (a METAVAR hides them)."""
    if not option.choices or all(choice in option.help for choice in option.choices):
        return ""
    return f": one of {', '.join(option.choices)}"


def _anomaly_type(option: AnomalyOption):
    def parse_value(text: str):
        if option.nullable and text.strip().lower() in ("off", "none", "null"):
            return OFF
        try:
            return option.kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a valid {option.kind.__name__}: {text!r}") from None

    return parse_value


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


TYPES = {"int": int, "float": float, "path": Path, "date": _date}
ACTIONS = {"boolean_optional": argparse.BooleanOptionalAction}


def add_options(parser: argparse.ArgumentParser, command: str, context: dict) -> None:
    """Add the options options.yml declares for `command`, in its order, into their argument groups; a value
    `$name` and a help's `{name}` are taken from `context`."""
    groups: dict[str, argparse._ArgumentGroup] = {}
    for section in declared("options.yml")[command]:
        if "include" in section:
            add_options(parser, section["include"], context)
            continue
        name = section.get("group")
        if name is not None and name not in groups:
            groups[name] = parser.add_argument_group(name, declared("options.yml")["groups"].get(name))
        target = parser if name is None else groups[name]
        for spec in section["options"]:
            if spec == "anomaly_options":
                _add_anomaly_options(target, context)
                continue
            settings = {
                key: context[value[1:]] if isinstance(value, str) and value.startswith("$") else value
                for key, value in spec.items()
                if key not in ("flag", "help")
            }
            if "type" in settings:
                settings["type"] = TYPES[settings["type"]]
            if "action" in settings:
                settings["action"] = ACTIONS.get(settings["action"], settings["action"])
            target.add_argument(spec["flag"], help=" ".join(spec["help"].split()).format_map(context), **settings)


def _add_anomaly_options(group, defaults: dict) -> None:
    for option in ANOMALY_OPTIONS:
        group.add_argument(
            option.flag,
            dest=option.dest,
            type=_anomaly_type(option),
            choices=option.choices,
            metavar=option.metavar,
            help=f"{option.help}{_choices(option)} (default: {shown(defaults[option.var])})",
        )


def agent_context() -> dict:
    from cexflow import agent, webhooks

    return project_vars() | {
        "out": agent.DEFAULT_OUT,
        "interval": agent.DEFAULT_INTERVAL,
        "auto": webhooks.AUTO,
        "webhook_formats": (webhooks.AUTO, *webhooks.FORMATS),
    }


def fetch_context() -> dict:
    """The fetch module's constants, FetchOptions' defaults, and the token and chain (FetchOptions leaves None)."""
    from cexflow import fetch

    defaults = {f.name: f.default for f in dataclasses.fields(fetch.FetchOptions)}
    return vars(fetch) | defaults | project_vars() | {"chains": sorted(fetch.CHAIN_IDS)}


def sample_context() -> dict:
    from cexflow import sample

    return vars(sample) | {"rows_per_day": sample.expected_rows_per_day()}


CONTEXTS = {"build": project_vars, "agent": agent_context, "fetch": fetch_context, "sample": sample_context}


def arguments(command: str):
    """The function that adds the options of `command` to a parser (build_arguments, report_arguments)."""

    def add(parser: argparse.ArgumentParser) -> None:
        if command == "agent":
            from cexflow.agent import EPILOG

            parser.epilog = EPILOG
        add_options(parser, command, CONTEXTS.get(command, dict)())

    return add


build_arguments = arguments("build")  # shared with `cexflow agent` and scripts/compare_engines.py
report_arguments = arguments("report")


# --- what each subcommand runs ----------------------------------------------------------------------------


def build_options(args: argparse.Namespace):
    """The BuildOptions of parsed build arguments."""
    from cexflow.build import BuildOptions

    return BuildOptions(**_given(args, BuildOptions))


def run_build(args: argparse.Namespace) -> int:
    from cexflow.build import build

    for line in build(build_options(args)).lines():
        print(line)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from cexflow.report import make_reports

    for line in make_reports(**_given(args, make_reports)).lines():
        print(line)
    return 0


def run_agent(args: argparse.Namespace) -> int:
    from cexflow.agent import agent_options, monitor

    options = agent_options(**_given(args, agent_options))
    return monitor(build_options(args), options, **_given(args, monitor))


def run_fetch(args: argparse.Namespace) -> int:
    from cexflow.fetch import FetchOptions, fetch

    return fetch(FetchOptions(**_given(args, FetchOptions)))


def _number(value: object, option: str, kind: type = int):
    try:
        return kind(str(value))
    except ValueError:
        raise CexflowError(f"{option} must be {'an integer' if kind is int else 'a number'}, got {value!r}") from None


def run_sample(args: argparse.Namespace) -> int:
    from cexflow.sample import write_sample

    days = _number(args.days, "--days")
    scale = _number(args.scale, "--scale", float)
    seed = _number(args.seed, "--seed")
    try:
        start = dt.date.fromisoformat(str(args.start))
    except ValueError:
        raise CexflowError(f"--start must be a date YYYY-MM-DD, got {args.start!r}") from None
    planted = None if args.planted is None else _number(args.planted, "--planted")
    multiple = None if args.planted_multiple is None else _number(args.planted_multiple, "--planted-multiple", float)
    summary = write_sample(args.out, days, scale, seed, start, planted=planted, planted_multiple=multiple)
    end = summary.start + dt.timedelta(days=summary.days - 1)
    print(
        f"wrote {plural(summary.rows, 'row')} ({plural(summary.transfers, 'transfer')}, "
        f"{plural(summary.duplicate_rows, 'wallet-to-wallet row')} twice) for {plural(summary.days, 'day')} "
        f"{summary.start}..{end}, {plural(len(summary.planted), 'planted day')}, to {summary.path} (planted: "
        f"{summary.planted_path})"
    )
    return 0


def run_docs(args: argparse.Namespace) -> int:
    from cexflow.docs import build_site

    index = build_site(**_given(args, build_site))
    print(f"docs site in {index.parent}: open {index}")
    return 0


RUNNERS = {name: globals()[f"run_{name}"] for name in SUBCOMMANDS}

if __name__ == "__main__":
    raise SystemExit(main())
