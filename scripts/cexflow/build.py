"""`cexflow build`: check the inputs, run `dbt build` with them as vars, print a short summary."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cexflow import inputs
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT, SAMPLE_INPUT, default_db

HELP = "Build the netflow marts: run dbt build on the input files (default: the bundled sample)."
METHODS = ("trailing", "inclusive", "robust")


def add_build_arguments(parser: argparse.ArgumentParser) -> None:
    """The build options, shared with `cexflow agent`."""
    g = parser.add_argument_group("build options")
    g.add_argument("--input", action="append", metavar="PATH_OR_GLOB",
                   help="raw transfer file, directory or glob; repeatable (default: the bundled sample)")
    g.add_argument("--blocks", action="append", metavar="CSV",
                   help="ethereum-etl blocks.csv (number,timestamp) for token_transfers files without "
                        "block_timestamp; repeatable")
    g.add_argument("--labels", action="append", metavar="CSV",
                   help="exchange label CSV (address,exchange[,wallet|name_tag][,chain]); repeatable "
                        "(default: seeds/exchange_wallets.csv)")
    g.add_argument("--token", default="LPT", metavar="SYMBOL_OR_ADDRESS",
                   help="token symbol from seeds/tokens.csv or a 0x address (default: LPT)")
    g.add_argument("--decimals", type=int, metavar="N",
                   help="decimals of the token (default: from seeds/tokens.csv)")
    g.add_argument("--chain", default="ethereum", metavar="NAME", help="chain name (default: ethereum)")
    g.add_argument("--db", type=Path, metavar="PATH",
                   help="DuckDB file to build (default: $CEXFLOW_DB or cexflow.duckdb in the project root)")
    g.add_argument("--target", default="duckdb", choices=("duckdb", "spark"),
                   help="dbt target of profiles.yml (default: duckdb)")
    g.add_argument("--window", type=int, default=28, metavar="DAYS",
                   help="baseline window in days (default: 28)")
    g.add_argument("--z", type=float, default=3.0, metavar="THRESHOLD",
                   help="a day is an anomaly when |z| >= THRESHOLD (default: 3.0)")
    g.add_argument("--min-history", type=int, default=14, metavar="DAYS",
                   help="no score before this many baseline days (default: 14)")
    g.add_argument("--method", default="trailing", choices=METHODS,
                   help="anomaly method (default: trailing)")
    g.add_argument("--top-k", type=int, default=10, metavar="K",
                   help="days per series in the top-k table (default: 10)")
    g.add_argument("--verbose", action="store_true", help="show dbt's own output")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_build_arguments(parser)


@dataclass
class BuildSummary:
    db: Path
    files: int
    rows_read: int
    transfers: int
    duplicates: int
    rejected: int
    other_token: int
    exchange_transfers: int
    first_day: str | None
    last_day: str | None
    days: int
    series: int
    anomalies: int
    method: str

    def lines(self) -> list[str]:
        period = f"{self.first_day} to {self.last_day}" if self.first_day else "no transfers"
        return [
            f"read {self.rows_read:,} rows from {self.files:,} file(s): {self.transfers:,} transfers kept, "
            f"{self.duplicates:,} duplicates, {self.rejected:,} rejected, {self.other_token:,} of other tokens",
            f"{self.days:,} days ({period}), {self.exchange_transfers:,} transfers touch labelled exchange wallets",
            f"{self.anomalies:,} anomalies ({self.method}) in {self.series:,} series; marts in {self.db}",
        ]


def build_vars(args: argparse.Namespace) -> dict:
    """dbt vars from the build options, after checking every file and option."""
    if args.window < 2:
        raise CexflowError(f"--window {args.window}: must be at least 2 days")
    if args.z <= 0:
        raise CexflowError(f"--z {args.z}: must be positive")
    if args.min_history < 1:
        raise CexflowError(f"--min-history {args.min_history}: must be at least 1 day")
    if args.top_k < 1:
        raise CexflowError(f"--top-k {args.top_k}: must be at least 1")
    if args.decimals is not None and not 0 <= args.decimals <= 77:
        raise CexflowError(f"--decimals {args.decimals}: must be between 0 and 77")
    token = inputs.resolve_token(args.token, args.chain, args.decimals)
    files = inputs.classify_inputs(args.input or [str(SAMPLE_INPUT)], args.blocks)
    dbt_vars: dict = files.dbt_vars()
    dbt_vars["ethereum_etl_blocks_files"] = inputs.blocks_files(args.blocks) if args.blocks else []
    dbt_vars["labels_files"] = inputs.label_files(args.labels) if args.labels else []
    dbt_vars.update(
        chain=token.chain,
        token=token.address,
        token_decimals=token.decimals,
        zscore_method=args.method,
        zscore_window_days=args.window,
        zscore_threshold=args.z,
        zscore_min_history_days=args.min_history,
        topk_days=args.top_k,
    )
    return dbt_vars


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(command: list[str], db: Path, target: str, verbose: bool = False) -> None:
    """Run a dbt command in the project with the DuckDB file `db`; a failure becomes a one-line error.

    The default database uses the project's target/ and logs/ (so `dbt docs` and the compiled SQL are where
    dbt users look); any other database gets its own throw-away folders, so that builds of different
    databases (tests, an agent beside an analyst) can run at the same time.
    """
    env = dict(os.environ, CEXFLOW_DB=str(db), DBT_PROFILES_DIR=str(PROJECT_ROOT),
               DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    with tempfile.TemporaryDirectory(prefix="cexflow-dbt-") as scratch:
        target_path = PROJECT_ROOT / "target" if db == default_db().resolve() else Path(scratch) / "target"
        log_path = PROJECT_ROOT / "logs" if db == default_db().resolve() else Path(scratch) / "logs"
        cmd = [dbt_executable(), *command, "--project-dir", str(PROJECT_ROOT), "--target", target,
               "--target-path", str(target_path), "--log-path", str(log_path)]
        proc = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, text=True,
                              stdout=None if verbose else subprocess.PIPE,
                              stderr=subprocess.STDOUT if not verbose else None)
        if proc.returncode != 0:
            raise CexflowError(f"dbt {command[0]} failed: {first_dbt_failure(target_path, proc.stdout)}")


def first_dbt_failure(target_path: Path, output: str | None) -> str:
    """The first failing node of the last dbt run, from run_results.json or dbt's output."""
    try:
        for result in json.loads((target_path / "run_results.json").read_text())["results"]:
            if result["status"] in ("error", "fail"):
                message = " ".join(str(result.get("message") or "").split())
                return f"{result['unique_id']}: {message[:400]}"
    except (OSError, ValueError, KeyError):
        pass
    lines = [line.strip() for line in (output or "").splitlines() if line.strip()]
    # dbt prints "... Compilation Error" and the detail on the next line: keep both
    at = next((i for i, line in enumerate(lines) if "error" in line.lower()), max(len(lines) - 2, 0))
    text = " ".join(lines[at:at + 2]) or "no output"
    return text[:400] + " (rerun with --verbose for dbt's output)"


def summarize(db: Path, method: str) -> BuildSummary:
    from cexflow.db import connect

    with connect(db) as con:
        reco = con.execute(
            "select count(*), coalesce(sum(rows_read), 0), coalesce(sum(transfers_kept), 0), "
            "coalesce(sum(duplicate_rows), 0), coalesce(sum(rejected_rows), 0), "
            "coalesce(sum(other_token_rows), 0) from rpt_input_reconciliation"
        ).fetchone()
        days = con.execute(
            "select cast(min(flow_date) as varchar), cast(max(flow_date) as varchar), count(*) "
            "from fct_netflow_daily_total"
        ).fetchone()
        exchange_transfers = con.execute("select count(*) from fct_exchange_transfers").fetchone()[0]
        series, anomalies = con.execute(
            "select count(distinct series), count(*) filter (where is_anomaly) from fct_netflow_zscores"
        ).fetchone()
    return BuildSummary(db, reco[0], reco[1], reco[2], reco[3], reco[4], reco[5], exchange_transfers,
                        days[0], days[1], days[2], series, anomalies, method)


def build(args: argparse.Namespace) -> BuildSummary:
    """Check the options and files, run dbt build, and summarise the marts."""
    dbt_vars = build_vars(args)
    if args.target == "spark":
        raise CexflowError("--target spark: the Spark target is not available yet (see the README)")
    db = (args.db or default_db()).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    run_dbt(["build", "--vars", json.dumps(dbt_vars)], db, args.target, verbose=args.verbose)
    return summarize(db, args.method)


def run(args: argparse.Namespace) -> int:
    summary = build(args)
    for line in summary.lines():
        print(line)
    return 0
