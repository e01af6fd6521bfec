"""The `cexflow` command line: parses arguments, calls the library, prints.

Each subcommand lives in its own module, which provides `HELP` (one line), `add_arguments(parser)`
and `run(args) -> int`. A `CexflowError` raised anywhere becomes a one-line error on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from cexflow import __version__
from cexflow.errors import CexflowError

# subcommand -> module; the order is the order of `cexflow --help`
SUBCOMMANDS = {
    "build": "cexflow.build",
    "report": "cexflow.report",
    "agent": "cexflow.agent",
    "fetch": "cexflow.fetch",
    "sample": "cexflow.sample",
    "docs": "cexflow.docs",
}


def make_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. With `only`, the other subcommands' modules are not imported (the charts'
    and reports' libraries cost most of a second): they are named, without their help or options."""
    parser = argparse.ArgumentParser(
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
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = make_parser(only=argv[0] if argv and argv[0] in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CexflowError as exc:
        print(f"cexflow {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"cexflow {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
