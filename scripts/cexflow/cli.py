"""The `cexflow` command line: the one module that sees argparse. It parses, unpacks the arguments into the
library's typed options and plain arguments, calls the library, prints.

Each subcommand has here `<name>_arguments(parser)` and `run_<name>(args) -> int`; its library is the module of
SUBCOMMANDS (its `HELP` is the subcommand's one line). Only the module of the subcommand given is imported (the
charts' and reports' libraries cost most of a second). A `CexflowError` raised anywhere becomes a one-line
error on stderr and exit 2, as does an argument error (OneLineErrors). The defaults that are dbt vars are read
from dbt_project.yml (`project_vars`) for the help; the library applies them.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import sys
from pathlib import Path

from cexflow import __version__
from cexflow.errors import CexflowError
from cexflow.methods import ANOMALY_OPTIONS, OFF, AnomalyOption, project_vars
from cexflow.text import plural

# subcommand -> library module; the order is the order of `cexflow --help`
SUBCOMMANDS = {
    "build": "cexflow.build",
    "report": "cexflow.report",
    "agent": "cexflow.agent",
    "fetch": "cexflow.fetch",
    "sample": "cexflow.sample",
    "docs": "cexflow.docs",
}


class OneLineErrors(argparse.ArgumentParser):
    """A parser whose error is one line, as every other error of cexflow: `cexflow build: error: argument
    --window: not a valid int: 'x' (see cexflow build --help)`, exit 2 (argparse's usage block is left out;
    --help shows it). The subcommands' parsers are of the same class, and an argument no parser knows is
    the error of the subcommand given (argparse's would be the top parser's: `cexflow: error: ...`)."""

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
    """The command line's parser. With `only`, the other subcommands' modules are not imported: they are
    named, without their help or options."""
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
        ARGUMENTS[name](p)
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


def _given(args: argparse.Namespace, cls) -> dict:
    """The fields of the options dataclass `cls` that the command line gave (None: not given, the library's
    default applies)."""
    given = vars(args)
    return {f.name: given[f.name] for f in dataclasses.fields(cls) if given.get(f.name) is not None}


def _shown(value) -> str:
    return "off" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


# --- build (and the agent's build options) ----------------------------------------------------------------


def _choices(option: AnomalyOption) -> str:
    """The choices of an option whose help does not name each (a METAVAR hides argparse's own list):
    ': one of trailing, inclusive, robust, screened' for --method."""
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


def build_arguments(parser: argparse.ArgumentParser) -> None:
    """The build options (cexflow.build.BuildOptions), shared with `cexflow agent`."""
    defaults = project_vars()
    g = parser.add_argument_group("build options")
    g.add_argument(
        "--input",
        action="append",
        metavar="[CHAIN=]PATH_OR_GLOB",
        help="raw transfer file, directory or glob; repeatable; CHAIN= (e.g. arbitrum=data/arb/) gives "
        "the chain of its files, else they are of --chain (default: the bundled sample)",
    )
    g.add_argument(
        "--blocks",
        action="append",
        metavar="CSV",
        help="ethereum-etl blocks.csv (number,timestamp) for token_transfers files without block_timestamp; repeatable",
    )
    g.add_argument(
        "--labels",
        action="append",
        metavar="CSV",
        help="exchange label CSV (address,exchange[,wallet|name_tag][,chain]); repeatable "
        "(default: seeds/exchange_wallets.csv)",
    )
    g.add_argument(
        "--balances",
        action="append",
        metavar="CSV",
        help="balance anchors for the exchange reserve (address,balance,block or date[,chain,token,"
        "kind,block_time], as cexflow fetch --balances writes); repeatable, globs; default: none "
        "(fct_exchange_reserve_daily is empty)",
    )
    g.add_argument(
        "--prices",
        action="append",
        metavar="CSV",
        help="daily USD prices (date,chain,token,price_usd, as cexflow fetch --prices writes); "
        "repeatable, globs; rows of another chain or token are left alone; default: none (the "
        "USD columns are NULL)",
    )
    g.add_argument(
        "--token",
        action="append",
        metavar="SYMBOL_OR_ADDRESS",
        help="token symbol from seeds/tokens.csv (on every chain of the build that lists it), a 0x "
        "address, or all (every token of seeds/tokens.csv on the build's chains); repeatable "
        f"(default: {defaults['token']})",
    )
    g.add_argument(
        "--decimals",
        type=int,
        metavar="N",
        help="decimals of a --token address not in seeds/tokens.csv (default: from seeds/tokens.csv)",
    )
    g.add_argument(
        "--chain",
        metavar="NAME",
        help=f"the default chain: of inputs without CHAIN= and of a --token address (default: {defaults['chain']})",
    )
    g.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="DuckDB file to build (default: $CEXFLOW_DB or cexflow.duckdb in the project root)",
    )
    g.add_argument(
        "--target",
        choices=("duckdb", "spark", "spark_thrift"),
        help="dbt target of profiles.yml (default: duckdb); spark (a local Spark session) needs pip "
        "install -e '.[spark]' and Java 17; spark_thrift builds through a Spark Thrift server at "
        "$CEXFLOW_SPARK_THRIFT_HOST:$CEXFLOW_SPARK_THRIFT_PORT (default 127.0.0.1:10000), e.g. "
        "scripts/spark_cluster.sh's",
    )
    g.add_argument(
        "--spark-dir",
        type=Path,
        metavar="DIR",
        help="with --target spark: folder of the Spark warehouse and metastore; with spark_thrift: the "
        "folder of the server's warehouse/ (scripts/spark_cluster.sh's DIR), read back for the "
        "summary and `cexflow report --spark-dir` (default: $CEXFLOW_SPARK_DIR or spark/ in the "
        "project root)",
    )
    for option in ANOMALY_OPTIONS:
        g.add_argument(
            option.flag,
            dest=option.dest,
            type=_anomaly_type(option),
            choices=option.choices,
            metavar=option.metavar,
            help=f"{option.help}{_choices(option)} (default: {_shown(defaults[option.var])})",
        )
    g.add_argument(
        "--no-materiality",
        action="store_true",
        help="flag days that are unusual for their own series, material for the token or not "
        "(default: an anomaly must be material too)",
    )
    g.add_argument(
        "--top-k", type=int, metavar="K", help=f"days per series in the top-k table (default: {defaults['topk_days']})"
    )
    g.add_argument(
        "--no-deposit-inference",
        dest="deposit_inference",
        action="store_false",
        default=None,
        help="deposit addresses from label files only (kind deposit): inflow counted where the labelled "
        "wallets receive it, the view before inference (default: deposit addresses inferred from "
        "the transfers, a deposit counted at the deposit address: docs/deposit_addresses.md)",
    )
    g.add_argument(
        "--deposit-sweep-max-hours",
        type=float,
        metavar="HOURS",
        help="a deposit address sweeps what it received within this many hours (default: "
        f"{defaults['deposit_sweep_max_hours']})",
    )
    g.add_argument(
        "--deposit-amount-tolerance",
        type=float,
        metavar="FRACTION",
        help="what a deposit address sweeps matches what it received within this fraction (default: "
        f"{defaults['deposit_amount_tolerance']})",
    )
    g.add_argument(
        "--deposit-consolidation-min-sources",
        type=int,
        metavar="N",
        help="an unlabelled address that forwards only to one exchange's wallets is that exchange's "
        "consolidation wallet when at least N deposit-like addresses sweep into it (default: "
        f"{defaults['deposit_consolidation_min_sources']})",
    )
    g.add_argument(
        "--deposit-consolidation-min-share",
        type=float,
        metavar="FRACTION",
        help="... and their sweeps bring at least this fraction of what it received (default: "
        f"{defaults['deposit_consolidation_min_share']})",
    )
    g.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild everything from the inputs (by default a build of an existing database reads "
        "only new input files, and rebuilds in full when anything else changed)",
    )
    g.add_argument(
        "--full-check",
        action="store_true",
        help="run every data test on whole tables, and dbt's unit tests (by default the tests of the "
        "incremental tables check the rows the build wrote, and unit tests run in make test)",
    )
    g.add_argument("--verbose", action="store_true", help="show the dbt command and dbt's own output")


def build_options(args: argparse.Namespace):
    """The BuildOptions of parsed build arguments."""
    from cexflow.build import BuildOptions

    return BuildOptions(**_given(args, BuildOptions))


def run_build(args: argparse.Namespace) -> int:
    from cexflow.build import build

    for line in build(build_options(args)).lines():
        print(line)
    return 0


# --- report ---------------------------------------------------------------------------------------------


def report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="DuckDB file with the marts, opened read-only (default: $CEXFLOW_DB or cexflow.duckdb "
        "in the project root)",
    )
    parser.add_argument(
        "--spark-dir",
        type=Path,
        metavar="DIR",
        help="report on the marts of a Spark build (`cexflow build --target spark|spark_thrift "
        "--spark-dir DIR`) instead of a DuckDB file; its parquet files are read with DuckDB",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder to write into; everything goes to DIR/reports/ (default: beside the database, "
        "my.duckdb -> my.reports/, or DIR/reports/ inside --spark-dir DIR; the project's own "
        "cexflow.duckdb -> docs/sample-reports/, the committed sample reports)",
    )
    parser.add_argument("--start", metavar="DATE", help="focus report: first day, YYYY-MM-DD (default: first day)")
    parser.add_argument("--end", metavar="DATE", help="focus report: last day, YYYY-MM-DD (default: last day)")
    parser.add_argument(
        "--focus",
        metavar="EXCHANGE_OR_WALLET",
        help="focus report on one exchange (e.g. binance), wallet name (e.g. binance20) or labelled "
        "wallet address (default with --start/--end: all exchanges)",
    )
    parser.add_argument(
        "--token",
        metavar="SYMBOL_OR_ADDRESS",
        help="of a database of several tokens, report on this one only (a symbol: on every chain "
        "where the marts have it; default: every token, a folder each)",
    )
    parser.add_argument(
        "--chain", metavar="NAME", help="of a database of several tokens, report on the tokens of this chain only"
    )


def run_report(args: argparse.Namespace) -> int:
    from cexflow.report import make_reports

    result = make_reports(
        args.db,
        args.out,
        args.start,
        args.end,
        args.focus,
        spark_dir=args.spark_dir,
        token=args.token,
        chain=args.chain,
    )
    for line in result.lines():
        print(line)
    return 0


# --- agent ----------------------------------------------------------------------------------------------


def agent_arguments(parser: argparse.ArgumentParser) -> None:
    from cexflow import agent, webhooks

    parser.epilog = agent.EPILOG
    build_arguments(parser)
    g = parser.add_argument_group("agent options")
    g.add_argument(
        "--state",
        type=Path,
        metavar="PATH",
        help="the agent's memory of the anomaly days it reported, JSON, written atomically (default: "
        "beside --db, e.g. cexflow.agent-state.json); a lock file PATH.lock keeps a second agent "
        "off it",
    )
    g.add_argument(
        "--out",
        type=Path,
        default=agent.DEFAULT_OUT,
        metavar="DIR",
        help="folder of the alert reports (default: agent_reports/ in the project root)",
    )
    g.add_argument(
        "--loop",
        action="store_true",
        help="repeat every --interval seconds until SIGINT or SIGTERM (which end it between cycles)",
    )
    g.add_argument(
        "--interval",
        type=float,
        default=agent.DEFAULT_INTERVAL,
        metavar="SECONDS",
        help=f"seconds between the starts of two cycles with --loop (default: {agent.DEFAULT_INTERVAL:g})",
    )
    g.add_argument(
        "--webhook",
        metavar="URL",
        help="POST each new alert and each update to this URL in --webhook-format; a failed post is "
        "kept in the state and retried on the next run (at least once); the URL's path and "
        "query, where webhooks keep their secret, are never printed",
    )
    g.add_argument(
        "--webhook-format",
        default=webhooks.AUTO,
        choices=(webhooks.AUTO, *webhooks.FORMATS),
        help='slack ({"text": mrkdwn}), discord ({"content"}, 2,000 characters), telegram (Bot API '
        "sendMessage, the chat on the URL: https://api.telegram.org/bot<token>/sendMessage"
        "?chat_id=<chat id>; 4,096 characters) or json (text and every field); auto (default): "
        "slack for hooks.slack.com, discord for discord.com/api/webhooks/, telegram for "
        "api.telegram.org, json for any other URL",
    )
    g.add_argument(
        "--digest",
        action="store_true",
        help="with --webhook: one message per run with all its new alerts and updates, instead of "
        "one per alert and per update",
    )
    g.add_argument(
        "--since",
        metavar="DATE",
        help="new anomaly days before DATE (YYYY-MM-DD) are marked as seen: listed in the report, "
        "never sent, and later days of their episodes are updates (default: every new anomaly "
        "alerts; a first run reports the whole history)",
    )
    g.add_argument(
        "--report-url",
        metavar="BASE",
        help="alert texts link the report as BASE + its path under --out (e.g. BASE/2025-06/"
        "agent_report_<time>.md with --rotate-monthly), for an --out that is published at BASE "
        "(default: the report's local path)",
    )
    g.add_argument(
        "--rotate-monthly",
        action="store_true",
        help="write the reports into DIR/YYYY-MM/ (the month of the run, UTC); the memory is kept",
    )


def agent_options(args: argparse.Namespace):
    """The agent's Options of parsed agent arguments, checked."""
    from cexflow.agent import agent_options as checked

    return checked(
        args.out, args.webhook, args.webhook_format, args.rotate_monthly, args.since, args.digest, args.report_url
    )


def run_agent(args: argparse.Namespace) -> int:
    from cexflow.agent import monitor

    return monitor(build_options(args), agent_options(args), args.state, loop=args.loop, interval=args.interval)


# --- fetch ----------------------------------------------------------------------------------------------


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def fetch_arguments(parser: argparse.ArgumentParser) -> None:
    from cexflow.etherscan import CHAIN_IDS
    from cexflow.fetch import DEFAULT_HOP_MAX_ADDRESSES, MAX_PAGE_SIZE, WALLET_CHOICES, FetchOptions

    default = {f.name: f.default for f in dataclasses.fields(FetchOptions)}
    defaults = project_vars()
    what = parser.add_argument_group(
        "what to fetch",
        "without any of these, the transfers; with --balances or --prices only what is named "
        "(add --transfers for the transfers too)",
    )
    what.add_argument(
        "--transfers",
        action="store_true",
        help="the token transfers of the labelled wallets (the default when nothing else is named)",
    )
    what.add_argument(
        "--balances",
        action="store_true",
        help="each labelled wallet's balance and the token's supply, each with the block it holds "
        "after (Etherscan tokenbalance, tokensupply; needs no --start/--end)",
    )
    what.add_argument(
        "--prices",
        action="store_true",
        help="daily USD prices from --start to --end (DefiLlama's coins API; needs no key)",
    )
    parser.add_argument(
        "--start",
        type=_date,
        metavar="DATE",
        help="first UTC day to fetch (YYYY-MM-DD); needed for transfers and prices",
    )
    parser.add_argument(
        "--end",
        type=_date,
        metavar="DATE",
        help="last UTC day to fetch, included whole (YYYY-MM-DD); must be a finished day",
    )
    parser.add_argument(
        "--token",
        action="append",
        metavar="SYMBOL_OR_ADDRESS",
        help="a symbol of seeds/tokens.csv or a 0x token address; repeat for several tokens "
        f"(default: {defaults['token']})",
    )
    parser.add_argument(
        "--chain", choices=sorted(CHAIN_IDS), help=f"chain to fetch from (default: {defaults['chain']})"
    )
    parser.add_argument(
        "--labels",
        type=Path,
        metavar="CSV",
        help="exchange wallet labels (default: the project's seeds/exchange_wallets.csv)",
    )
    parser.add_argument(
        "--wallets",
        choices=WALLET_CHOICES,
        help="all labelled wallets of the chain (default), or only those whose label_source "
        "says seed_project (the seed project's 13 wallets)",
    )
    hop = parser.add_argument_group(
        "second hop",
        "the transfers of the unlabelled addresses that sent into labelled wallets (deposit "
        "addresses sweeping, mostly), so that the deposits into them are in the files too",
    )
    hop.add_argument(
        "--second-hop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="after the labelled wallets, fetch the transfers of the addresses that sent into them, "
        "same range, same folder, files hop2_<address>_<start>_<end>.csv (default: on; "
        "--no-second-hop for the labelled wallets only)",
    )
    hop.add_argument(
        "--hop-max-addresses",
        type=int,
        metavar="N",
        help="the second hop fetches at most N addresses, those that sent the most tokens into "
        f"labelled wallets first, and says what it left out (default: {DEFAULT_HOP_MAX_ADDRESSES}"
        ": about one call each)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="transfers' folder (default: data/raw/etherscan/<chain>/<token>/ in the project)",
    )
    parser.add_argument(
        "--balances-out",
        type=Path,
        metavar="CSV",
        help="balances file, all tokens in one (default: one per token, "
        "data/raw/balances/<chain>/<token>/balances_<UTC time>.csv)",
    )
    parser.add_argument(
        "--prices-out",
        type=Path,
        metavar="CSV",
        help="prices file, all tokens in one (default: one per token, "
        "data/raw/prices/<chain>/<token>/prices_<start>_<end>.csv)",
    )
    parser.add_argument("--api-url", metavar="URL", help=f"Etherscan API V2 endpoint (default: {default['api_url']})")
    parser.add_argument("--prices-url", metavar="URL", help=f"DefiLlama coins API (default: {default['prices_url']})")
    parser.add_argument(
        "--rate",
        type=float,
        metavar="CALLS_PER_S",
        help=f"at most this many Etherscan calls per second (default: {default['rate']:g}, the free tier's limit)",
    )
    parser.add_argument(
        "--page-size",
        type=int,
        metavar="ROWS",
        help=f"rows per query (default: {default['page_size']}, the free tier's result window; "
        f"up to {MAX_PAGE_SIZE} on paid plans)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help=f"give up on a call after this long without an answer, and retry (default: {default['timeout']:g})",
    )


def fetch_options(args: argparse.Namespace):
    """The FetchOptions of parsed fetch arguments."""
    from cexflow.fetch import FetchOptions

    return FetchOptions(**_given(args, FetchOptions))


def run_fetch(args: argparse.Namespace) -> int:
    from cexflow.fetch import fetch

    return fetch(fetch_options(args))


# --- sample ---------------------------------------------------------------------------------------------


def sample_arguments(parser: argparse.ArgumentParser) -> None:
    from cexflow import sample as s

    parser.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="CSV file to write; the planted anomalies go beside it, .csv replaced by .planted.csv",
    )
    parser.add_argument(
        "--days", default=str(s.DEFAULT_DAYS), metavar="N", help=f"number of days (default {s.DEFAULT_DAYS})"
    )
    parser.add_argument(
        "--scale",
        default=str(s.DEFAULT_SCALE),
        metavar="X",
        help="multiplies the number of transfers; 1 gives about "
        f"{s.expected_rows_per_day():.0f} rows a day (default 1)",
    )
    parser.add_argument(
        "--seed",
        default=str(s.DEFAULT_SEED),
        metavar="S",
        help=f"random seed: the same arguments give the same bytes (default {s.DEFAULT_SEED})",
    )
    parser.add_argument(
        "--start",
        default=s.DEFAULT_START.isoformat(),
        metavar="DATE",
        help=f"first day, YYYY-MM-DD, UTC (default {s.DEFAULT_START}; block {s.ANCHOR_BLOCK:,} "
        f"at {s.ANCHOR_DATE} 00:00 UTC, one block every {s.BLOCK_SECONDS} s)",
    )
    parser.add_argument(
        "--planted",
        default=None,
        metavar="N",
        help=f"number of planted anomaly days, none in the first {s.BASELINE_DAYS} "
        f"(default one per {s.PLANT_SPACING_DAYS} days after those: 5 for 120 days)",
    )
    parser.add_argument(
        "--planted-multiple",
        default=None,
        metavar="X",
        help="size of each planted day in model standard deviations of the daily netflow "
        "(default random between 8 and 15)",
    )


def _parse_int(value: object, option: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise CexflowError(f"{option} must be an integer, got {value!r}") from None


def _parse_float(value: object, option: str) -> float:
    try:
        return float(str(value))
    except ValueError:
        raise CexflowError(f"{option} must be a number, got {value!r}") from None


def run_sample(args: argparse.Namespace) -> int:
    from cexflow.sample import write_sample

    days = _parse_int(args.days, "--days")
    scale = _parse_float(args.scale, "--scale")
    seed = _parse_int(args.seed, "--seed")
    try:
        start = dt.date.fromisoformat(str(args.start))
    except ValueError:
        raise CexflowError(f"--start must be a date YYYY-MM-DD, got {args.start!r}") from None
    planted = None if args.planted is None else _parse_int(args.planted, "--planted")
    multiple = None if args.planted_multiple is None else _parse_float(args.planted_multiple, "--planted-multiple")
    summary = write_sample(args.out, days, scale, seed, start, planted=planted, planted_multiple=multiple)
    end = summary.start + dt.timedelta(days=summary.days - 1)
    print(
        f"wrote {plural(summary.rows, 'row')} ({plural(summary.transfers, 'transfer')}, "
        f"{plural(summary.duplicate_rows, 'wallet-to-wallet row')} twice) for {plural(summary.days, 'day')} "
        f"{summary.start}..{end}, {plural(len(summary.planted), 'planted day')}, to {summary.path} (planted: "
        f"{summary.planted_path})"
    )
    return 0


# --- docs -----------------------------------------------------------------------------------------------


def docs_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        type=Path,
        metavar="PATH",
        help="DuckDB file with the marts (default: $CEXFLOW_DB or cexflow.duckdb in the project root)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="folder of the site, replaced if it holds an earlier site (default: beside the "
        "database, my.duckdb -> my.site/; the project's own cexflow.duckdb -> site/ in the "
        "project root)",
    )
    parser.add_argument("--verbose", action="store_true", help="show dbt's own output")


def run_docs(args: argparse.Namespace) -> int:
    from cexflow.docs import build_site

    index = build_site(args.db, args.out, verbose=args.verbose)
    print(f"docs site in {index.parent}: open {index}")
    return 0


ARGUMENTS = {
    "build": build_arguments,
    "report": report_arguments,
    "agent": agent_arguments,
    "fetch": fetch_arguments,
    "sample": sample_arguments,
    "docs": docs_arguments,
}
RUNNERS = {
    "build": run_build,
    "report": run_report,
    "agent": run_agent,
    "fetch": run_fetch,
    "sample": run_sample,
    "docs": run_docs,
}


if __name__ == "__main__":
    raise SystemExit(main())
