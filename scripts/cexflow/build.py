"""`cexflow build`'s library: `build(BuildOptions(...)) -> BuildSummary` checks the options and inputs, runs
`dbt build` with them as vars (incrementally where it can, through cexflow.dbt_runner) and summarises the
marts; `record_build` / `recorded_build` are the record of what was built, kept in the database."""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from cexflow import inputs
from cexflow.db import read_build_record, spark_schema_dir, write_build_record
from cexflow.dbt_runner import run_dbt
from cexflow.errors import CexflowError
from cexflow.files import working_copy
from cexflow.inputs import build_words
from cexflow.methods import ANOMALY_OPTIONS, OFF, options_class, project_vars, shown
from cexflow.paths import EXCHANGE_WALLETS_SEED, PROJECT_ROOT, SAMPLE_INPUT, default_db, default_spark_dir
from cexflow.progress import DbtProgress, log_thresholds
from cexflow.text import plural

HELP = "Build the netflow marts: run dbt build on the input files (default: the bundled sample)."


# the bounds of the build options that are not anomaly options: lowest and highest value, and the error's words
# when they are not "a number from <lowest> to <highest>"
RANGES = {
    "top_k": (1, math.inf, "at least 1"),
    "decimals": (0, 77, "between 0 and 77"),
    "deposit_sweep_max_hours": (0, 24 * 366, None),
    "deposit_amount_tolerance": (0, 1, None),
    "deposit_consolidation_min_sources": (1, 10**9, None),
    "deposit_consolidation_min_share": (0, 1, None),
}
DEPOSIT_SETTINGS = tuple(name for name in RANGES if name.startswith("deposit_"))  # each a var of dbt_project.yml
WHOLE_NUMBERS = ("top_k", "decimals")


def _check(options) -> None:
    for option in ANOMALY_OPTIONS:
        option.check_kind(getattr(options, option.dest))
    for name, (low, high, words) in RANGES.items():
        value, flag = getattr(options, name), "--" + name.replace("_", "-")
        if value is None:
            continue
        if name in WHOLE_NUMBERS and (isinstance(value, bool) or not isinstance(value, int)):
            raise CexflowError(f"{flag} {value!r}: must be a whole number")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise CexflowError(f"{flag} {value!r}: must be {words or f'a number from {low} to {high}'}")
    if options.deposit_inference is None:  # the CLI's flag not given
        object.__setattr__(options, "deposit_inference", True)


BuildOptions = options_class(
    "build",
    """One field per option of options.yml's build section, named by its dest (`--min-history` is `min_history`):
    the files' options a tuple, the flags a bool, the others None for the default (a var of dbt_project.yml, or what
    the option's help says). A bad value is a CexflowError naming the option.""",
    _check,
    target="duckdb",
)


# spark: a local Spark session in the dbt process; spark_thrift: a Spark Thrift server (or Kyuubi) at
# CEXFLOW_SPARK_THRIFT_HOST:CEXFLOW_SPARK_THRIFT_PORT, e.g. the one scripts/spark_cluster.sh starts
SPARK_TARGETS = ("spark", "spark_thrift")


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
    mode: str = ""
    changed: str = ""  # an incremental build's settings that changed since the last build (changed_settings)
    warnings: list[str] = field(default_factory=list)  # what makes the build less useful than it looks
    ran_dbt: bool = True  # False: the marts were up to date
    reserve: str = ""  # the exchange reserve line, when the build read balances
    prices: str = ""  # the USD line, when the build read prices
    deposits: str = ""  # the deposit addresses line(s), build.j2's deposits_line
    tokens: list[dict] = field(default_factory=list)  # a build of several tokens: rpt_build_summary's rows with data

    def lines(self) -> list[str]:
        words = build_words()
        if len(self.tokens) > 1:
            body = [*(words.token_line(row) for row in self.tokens), words.tokens_line(self)]
        else:
            body = [words.days_line(self), words.anomalies_line(self)]
        changed = f"changed since the last build: {self.changed}" if self.changed else ""
        notes = [line for line in (self.reserve, self.prices, self.mode, changed, self.deposits) if line]
        return [words.read_line(self), *body, *notes, *(f"warning: {warning}" for warning in self.warnings)]


def build_vars(options: BuildOptions) -> dict:
    """dbt vars from the build options, after checking every file and option."""
    defaults = project_vars()
    anomaly = anomaly_vars(options)
    default_chain = (options.chain or defaults["chain"]).strip().lower()
    labels_files = inputs.label_files(list(options.labels)) if options.labels else []
    known = inputs.known_chains(labels_files) | {default_chain}
    specs = [inputs.split_chain(spec, known) for spec in options.input] or [(None, str(SAMPLE_INPUT))]
    files = inputs.classify_inputs(specs, list(options.blocks))
    chains = list(dict.fromkeys([default_chain, *sorted(set(files.chains.values()))]))
    tokens = inputs.resolve_tokens(list(options.token) or [defaults["token"]], chains, options.decimals)
    check_files_on_chains(files, tokens, default_chain)
    for chain in dict.fromkeys(t.chain for t in tokens):
        option = f"--chain {chain}" if chain == default_chain else f"--input {chain}=..."
        check_labels_on_chain(labels_files, chain, option)
    dbt_vars: dict = {"input_files": files.dbt_input_files(), "input_chains": files.dbt_input_chains(default_chain)}
    dbt_vars["ethereum_etl_blocks_files"] = inputs.side_files("--blocks", list(options.blocks))
    dbt_vars["labels_files"] = labels_files
    dbt_vars["balances_files"] = inputs.side_files("--balances", list(options.balances))
    dbt_vars["prices_files"] = inputs.side_files("--prices", list(options.prices))
    if len(tokens) == 1:  # as a single-token build always had them
        dbt_vars.update(chain=default_chain, token=tokens[0].address, token_decimals=tokens[0].decimals)
    else:
        dbt_vars.update(chain=default_chain, token=[t.address for t in tokens], token_decimals=options.decimals)
    dbt_vars.update(topk_days=options.top_k or defaults["topk_days"])
    dbt_vars["deposit_inference"] = bool(options.deposit_inference)
    for name in DEPOSIT_SETTINGS:
        value = getattr(options, name)
        dbt_vars[name] = defaults[name] if value is None else value
    dbt_vars.update(anomaly)
    return dbt_vars


def anomaly_vars(options: BuildOptions) -> dict:
    """The dbt vars of the anomaly options: the given ones, checked, else the defaults; settings under which no
    day can ever be an anomaly, whatever the data, are an error."""
    defaults, anomaly = project_vars(), {}
    for option in ANOMALY_OPTIONS:
        value = getattr(options, option.dest)
        if value is None:
            value = defaults[option.var]
        elif value == OFF:
            value = None
        option.check(value)
        anomaly[option.var] = value
    required = False if options.no_materiality else bool(defaults["anomaly_requires_materiality"])
    anomaly["anomaly_requires_materiality"] = required
    method, window = anomaly["zscore_method"], anomaly["zscore_window_days"]
    min_history, z = anomaly["zscore_min_history_days"], anomaly["zscore_threshold"]
    if method != "inclusive" and min_history > window:
        raise CexflowError(build_words().history_past_window(min_history, window))
    # the inclusive window holds the day itself: with n rows, |z| <= sqrt(n - 1) (docs/anomalies.md)
    if method == "inclusive" and z > math.sqrt(window - 1):
        raise CexflowError(build_words().z_out_of_reach(z, window, math.sqrt(window - 1), math.ceil(z * z + 1)))
    if required and min_history > anomaly["materiality_window_days"]:
        raise CexflowError(build_words().materiality_window_short(anomaly["materiality_window_days"], min_history))
    return anomaly


def build_tokens(dbt_vars: dict) -> list[inputs.Token]:
    """The tokens of a build's vars (var token is one address or a list), as build_vars resolved them."""
    names = [dbt_vars["token"]] if isinstance(dbt_vars["token"], str) else list(dbt_vars["token"])
    chains = list(dict.fromkeys([dbt_vars["chain"], *sorted(dbt_vars.get("input_chains", {}))]))
    return inputs.resolve_tokens(names, chains, dbt_vars["token_decimals"])


def check_files_on_chains(files: inputs.InputFiles, tokens: list[inputs.Token], default_chain: str) -> None:
    """A file without a token column (the seed export) needs its chain to have one token in the build; the
    blocks files are of the default chain, so an ethereum-etl file of another chain needs block_timestamp."""
    per_chain = {chain: [t.label for t in tokens if t.chain == chain] for chain in {t.chain for t in tokens}}
    for path in files.by_format.get("seed_export", []):
        chain = files.chains.get(path, default_chain)
        if len(per_chain.get(chain, [])) != 1:
            held = ", ".join(per_chain.get(chain, [])) or "none"
            raise CexflowError(build_words().seed_export_needs_one_token(path, chain, held))
    for path in files.etl_without_timestamp:
        chain = files.chains.get(path, default_chain)
        if chain != default_chain:
            raise CexflowError(build_words().untimed_file_off_chain(path, chain, default_chain))


def check_labels_on_chain(labels_files: list[str], chain: str, option: str) -> None:
    """Labels with no address on a chain of the build's tokens leave every transfer unlabelled: an error."""
    files = labels_files or [str(EXCHANGE_WALLETS_SEED)]
    counts = inputs.label_chains(files)
    if counts.get(chain):
        return
    found = ", ".join(f"{n:,} on {c}" for c, n in counts.items()) or "no address at all"
    raise CexflowError(build_words().labels_off_chain(option, files, found, chain))


def check_spark_installed(target: str = "spark") -> None:
    """--target spark needs dbt-spark, pyspark and Java; spark_thrift dbt-spark and PyHive (Spark is the server)."""
    import importlib.util

    needed = (
        ("dbt-spark", "dbt.adapters.spark"),
        ("PyHive", "pyhive") if target == "spark_thrift" else ("pyspark", "pyspark"),
    )
    missing = [name for name, module in needed if importlib.util.find_spec(module) is None]
    if missing:
        raise CexflowError(build_words().spark_missing(target, missing))
    if target == "spark" and not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        raise CexflowError("--target spark: no Java runtime (java on PATH or JAVA_HOME); Spark needs Java 17")


def summarize(
    db: Path, method: str | None = None, deposit_inference: bool | None = None, spark: bool = False
) -> BuildSummary:
    """The summary of the marts in the DuckDB file `db`, or with `spark` of the Spark warehouse `db`."""
    from cexflow.db import connect, connect_spark

    with (connect_spark if spark else connect)(db) as con:
        return summarize_marts(con, db, method, deposit_inference)


def summarize_marts(con, location: Path, method: str | None = None, deposit_inference: bool | None = None):
    """The summary from a DuckDB connection on which the marts are tables or views."""
    from cexflow.db import build_totals, price_status, reserve_status, token_summaries

    rows, totals = token_summaries(con), build_totals(con)
    reserve, prices = reserve_status(con), price_status(con)
    with_data = [r for r in rows if r["n_days"]]
    row, words = rows[0], build_words()
    first, last = (None if day is None else str(day) for day in (totals["first_flow_date"], totals["last_flow_date"]))
    return BuildSummary(
        location,
        row["n_files"],
        row["rows_read"],
        row["transfers_kept"],
        row["duplicate_rows"],
        row["rejected_rows"],
        row["other_token_rows"],
        totals["n_exchange_transfers"],
        first,
        last,
        totals["n_token_days"],
        totals["n_series"],
        totals["n_anomalies"],
        method or totals["method"] or row["method"],
        reserve=words.reserve_line(**reserve) if reserve["known"] + reserve["unknown"] + reserve["rejected"] else "",
        prices=words.prices_line(**prices) if prices["priced"] + prices["rejected"] else "",
        deposits="" if deposit_inference is None else words.deposits_line(rows, totals, deposit_inference),
        tokens=with_data if len(with_data) > 1 else [],
    )


SPARK_STATE_FILE = "cexflow_build_state.duckdb"  # in --spark-dir: what INPUTS_TABLE and PARAMETERS_TABLE hold


def input_paths(dbt_vars: dict) -> list[str]:
    """Every input file of the build's vars (var input_files: format -> files)."""
    return [path for files in dbt_vars["input_files"].values() for path in files]


def dbt_build_command(run_vars: dict, full_refresh: bool, full_check: bool, with_tests: bool = True) -> list[str]:
    """`dbt build` with the build's vars but its input files (run_dbt passes those in the environment); the data
    tests on the rows the run writes, or with full_check every test on whole tables; or none."""
    dbt_vars = {name: value for name, value in run_vars.items() if name not in RUN_FILE_VARS}
    dbt_vars["data_tests_rows"] = "all" if full_check else "this_run"
    command = ["build", "--vars", json.dumps(dbt_vars, sort_keys=True)] + (["--full-refresh"] if full_refresh else [])
    if not with_tests:
        command += ["--exclude-resource-type", "test", "--exclude-resource-type", "unit_test"]
    elif not full_check:
        command += ["--exclude-resource-type", "unit_test"]
    return command


# the vars that name a run's input files: cexflow passes them to dbt in the environment (run_dbt), not in --vars
RUN_FILE_VARS = ("input_files", "input_chains")


def file_fingerprint(path: str) -> str:
    stat = Path(path).stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}"


def input_fingerprints(dbt_vars: dict) -> dict[str, str]:
    """Each input file's fingerprint, with its chain when not the default's (a file moved to a chain has changed)."""
    chain_of = {path: chain for chain, paths in dbt_vars.get("input_chains", {}).items() for path in paths}
    return {f: file_fingerprint(f) + (f"@{chain_of[f]}" if f in chain_of else "") for f in input_paths(dbt_vars)}


def code_fingerprint() -> str:
    """A hash of everything that decides what the incremental models hold: the dbt code and the seeds."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode() + b"\0" + path.read_bytes())
    digest.update((PROJECT_ROOT / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def loaded_parameters(dbt_vars: dict) -> str:
    """What must be unchanged for an incremental build (the deposit rule decides the class of every transfer)."""
    side_files = dbt_vars["labels_files"] + dbt_vars["ethereum_etl_blocks_files"]
    return json.dumps(
        {
            "chain": dbt_vars["chain"],
            "token": dbt_vars["token"],
            "decimals": dbt_vars["token_decimals"],
            "labels": {f: file_fingerprint(f) for f in dbt_vars["labels_files"]},
            "blocks": {f: file_fingerprint(f) for f in dbt_vars["ethereum_etl_blocks_files"]},
            "side_files": len(side_files),
            "code": code_fingerprint(),
            "deposits": {name: dbt_vars.get(name) for name in ("deposit_inference", *DEPOSIT_SETTINGS)},
        },
        sort_keys=True,
    )


@dataclass(frozen=True)
class BuildRecord:
    """What a database records of its last successful build, for the next build and the docs site."""

    parameters: str  # loaded_parameters: what must be unchanged for an incremental build
    settings: str  # settings_of: every var but the input files
    inputs: dict[str, str]  # input file -> its fingerprint when loaded

    def settings_vars(self) -> dict:
        """The vars of that build but its input files."""
        return json.loads(self.settings)


def recorded_build(db: Path) -> BuildRecord | None:
    """The record of the last build in the DuckDB file `db`; None without one (e.g. built by dbt alone)."""
    record = read_build_record(db) if Path(db).exists() else None
    return BuildRecord(*record) if record else None


def plan_build(db: Path, dbt_vars: dict, full_refresh: bool) -> tuple[dict, bool, str]:
    """The vars and the mode of this build: incremental (only new input files) when the database holds
    a build of the same parameters whose every input file is unchanged, else a full refresh."""
    current = input_fingerprints(dbt_vars)
    if full_refresh:
        return dbt_vars, True, "--full-refresh"
    if not db.exists():
        return dbt_vars, True, "new database"
    record, parameters = recorded_build(db), loaded_parameters(dbt_vars)
    if record is None:
        return dbt_vars, True, "no earlier build recorded"
    if record.parameters != parameters:
        return dbt_vars, True, changed_parameters(json.loads(record.parameters), json.loads(parameters))
    for path, fingerprint in record.inputs.items():
        if current.get(path) != fingerprint:
            return dbt_vars, True, f"{path} changed or is no longer an input"
    incremental = dict(dbt_vars)
    incremental["input_files"] = {
        fmt: [f for f in files if f not in record.inputs] for fmt, files in dbt_vars["input_files"].items()
    }
    new_files = len(input_paths(incremental))
    return incremental, False, f"{new_files} new file(s)"


def settings_of(dbt_vars: dict) -> str:
    """Every var of a build but its input files (the anomaly settings included), as text to compare."""
    settings = {name: value for name, value in dbt_vars.items() if name not in RUN_FILE_VARS}
    settings["balances_fingerprints"] = {f: file_fingerprint(f) for f in dbt_vars.get("balances_files", [])}
    settings["prices_fingerprints"] = {f: file_fingerprint(f) for f in dbt_vars.get("prices_files", [])}
    return json.dumps(settings, sort_keys=True)


# the words of the changes that make a build rebuild: the option that sets each parameter and setting
PARAMETER_WORDS = {
    "chain": "--chain",
    "token": "--token",
    "decimals": "--decimals",
    "labels": "--labels",
    "blocks": "--blocks",
    "side_files": "--labels or --blocks",
    "code": "the models, macros or seeds",
    "deposits": "--no-deposit-inference or a deposit address setting",
}
SETTING_FLAGS = (
    {option.var: option.flag for option in ANOMALY_OPTIONS}
    | {
        "anomaly_requires_materiality": "--no-materiality",
        "topk_days": "--top-k",
        "balances_files": "--balances",
        "balances_fingerprints": "--balances",
        "prices_files": "--prices",
        "prices_fingerprints": "--prices",
        "labels_files": "--labels",
        "ethereum_etl_blocks_files": "--blocks",
        "chain": "--chain",
        "token": "--token",
        "token_decimals": "--decimals",
        "deposit_inference": "--no-deposit-inference",
    }
    | {name: "--" + name.replace("_", "-") for name in DEPOSIT_SETTINGS}
)


def changed_parameters(before: dict, now: dict) -> str:
    """Why a full build is needed (loaded_parameters of the last build and this one): "--token changed"."""
    names = [name for name in PARAMETER_WORDS if before.get(name) != now.get(name)]
    if {"labels", "blocks"} & set(names):  # side_files counts their files: said already
        names = [name for name in names if name != "side_files"]
    return f"{' and '.join(PARAMETER_WORDS[name] for name in names) or 'the build parameters'} changed"


def changed_settings(before: dict, now: dict) -> str:
    """The settings (settings_of) that differ between the last build and this one, in the words of their
    options, in the order of SETTING_FLAGS: "--method (trailing → screened), --z (4 → 3.5)"; a file option
    "--prices (its files)"; "" when none."""
    changes: dict[str, None] = {}
    for name in [*SETTING_FLAGS, *sorted((set(before) | set(now)) - set(SETTING_FLAGS))]:
        old, new = before.get(name), now.get(name)
        if old == new:
            continue
        if name == "anomaly_requires_materiality":
            changes["--no-materiality " + ("given" if old else "left out")] = None
        elif isinstance(old, list | dict) or isinstance(new, list | dict):
            changes[f"{SETTING_FLAGS.get(name, name)} (its files)"] = None
        else:
            changes[f"{SETTING_FLAGS.get(name, name)} ({shown(old)} → {shown(new)})"] = None
    return ", ".join(changes)


def recorded_settings_changes(db: Path, dbt_vars: dict) -> str:
    """changed_settings of the build recorded in `db` and these vars; "" without a record."""
    record = recorded_build(db)
    return "" if record is None else changed_settings(record.settings_vars(), json.loads(settings_of(dbt_vars)))


def record_build(db: Path, dbt_vars: dict) -> None:
    """Record the parameters and input files of a successful build in the database, for the next one."""
    write_build_record(db, loaded_parameters(dbt_vars), settings_of(dbt_vars), input_fingerprints(dbt_vars))


def spark_plan(spark_dir: Path, dbt_vars: dict, full_refresh: bool, target: str = "spark") -> tuple[dict, bool, str]:
    """plan_build for a Spark warehouse, whose record is a small DuckDB file beside it. An in-memory catalog
    forgets its tables with the session, and a warehouse without the staging rows table (or a Thrift server's
    whose warehouse is not in --spark-dir) cannot be added to: both build in full."""
    state = spark_dir / SPARK_STATE_FILE
    if not hive_catalog(target):
        state.unlink(missing_ok=True)
        return dbt_vars, True, "in-memory catalog"
    if not (
        (spark_schema_dir(spark_dir) / "stg_transfers__rows_validated").is_dir()
        and (spark_dir / "metastore_db").is_dir()
    ):
        state.unlink(missing_ok=True)
    return plan_build(state, dbt_vars, full_refresh)


def hive_catalog(target: str = "spark") -> bool:
    """Whether the Spark target keeps its tables in a metastore (CEXFLOW_SPARK_CATALOG; a Thrift server does)."""
    return target == "spark_thrift" or os.environ.get("CEXFLOW_SPARK_CATALOG", "hive") == "hive"


def build_spark(
    options: BuildOptions, dbt_vars: dict, with_tests: bool = True, select: list[str] | None = None
) -> BuildSummary | None:
    """dbt build on a Spark target into the warehouse of --spark-dir, incrementally where it can (docs/scale.md);
    with `select` only those nodes, so no summary (None) and no record."""
    target = options.target if options.target in SPARK_TARGETS else "spark"
    check_spark_installed(target)
    spark_dir = (options.spark_dir or default_spark_dir()).resolve()
    spark_dir.mkdir(parents=True, exist_ok=True)
    run_vars, full_refresh, reason = spark_plan(spark_dir, dbt_vars, options.full_refresh, target)
    changed = "" if full_refresh else recorded_settings_changes(spark_dir / SPARK_STATE_FILE, dbt_vars)
    (spark_dir / SPARK_STATE_FILE).unlink(missing_ok=True)  # a failed build leaves no state to add to
    if not hive_catalog(target):
        # an in-memory catalog does not know the tables of an earlier session, so it would not drop them,
        # and Spark refuses to create a table in a folder that is not empty
        shutil.rmtree(spark_schema_dir(spark_dir), ignore_errors=True)
    run_build(options, spark_dir, target, run_vars, full_refresh, with_tests=with_tests, select=select)
    if select:
        return None
    where = "Spark" if target == "spark" else "the Spark Thrift server " + thrift_address()
    if not (spark_schema_dir(spark_dir) / "rpt_build_summary").is_dir():
        # a Thrift server whose warehouse is elsewhere (HDFS, S3, another machine): nothing to summarise here
        raise CexflowError(build_words().spark_tables_elsewhere(where, spark_schema_dir(spark_dir)))
    if hive_catalog(target):
        record_build(spark_dir / SPARK_STATE_FILE, dbt_vars)
    summary = summarize(spark_dir, dbt_vars["zscore_method"], dbt_vars["deposit_inference"], spark=True)
    summary.mode = f"{'full' if full_refresh else 'incremental'} build on {where} ({reason})" + (
        "" if with_tests else ", no tests"
    )
    summary.changed = changed
    return summary


def run_build(
    options: BuildOptions,
    db: Path,
    target: str,
    run_vars: dict,
    full_refresh: bool,
    *,
    with_tests: bool = True,
    select: list[str] | None = None,
    write_to: Path | None = None,
) -> None:
    """Run dbt build with these vars (dbt_build_command; with `select` only those nodes), showing its progress."""
    command = dbt_build_command(run_vars, full_refresh, options.full_check, with_tests=with_tests)
    progress = (
        None if options.verbose else DbtProgress(with_unit_tests=with_tests and options.full_check, **log_thresholds())
    )
    run_dbt(
        command + (["--select", *select] if select else []),
        db,
        target,
        verbose=options.verbose,
        write_to=write_to,
        input_files=run_vars["input_files"],
        input_chains=run_vars.get("input_chains"),
        progress=progress,
    )


def thrift_address() -> str:
    """host:port of the Spark Thrift server of --target spark_thrift (profiles.yml reads the same variables)."""
    env = os.environ.get
    return f"{env('CEXFLOW_SPARK_THRIFT_HOST') or '127.0.0.1'}:{env('CEXFLOW_SPARK_THRIFT_PORT') or '10000'}"


def build(options: BuildOptions) -> BuildSummary:
    """Check the options and files, run dbt build (incrementally where it can) on a working copy of the
    database, check and summarise the result, and move it into place: readers of the database never block the
    build nor see half of it (cexflow.files). A failed build leaves the database as it was."""
    dbt_vars = build_vars(options)
    if options.target in SPARK_TARGETS:
        return build_spark(options, dbt_vars)
    db = (options.db or default_db()).resolve()
    db.parent.mkdir(parents=True, exist_ok=True)
    method, inference = dbt_vars["zscore_method"], dbt_vars["deposit_inference"]
    plans = [plan_build(db, dbt_vars, options.full_refresh)]
    run_vars, full_refresh, _ = plans[0]
    if not (full_refresh or options.full_check or input_paths(run_vars)) and (
        recorded_build(db).settings == settings_of(dbt_vars)
    ):  # the database holds this build already: dbt would have nothing to do
        summary = summarize(db, method, inference)
        summary.warnings = build_warnings(db, summary, dbt_vars)
        summary.mode = "nothing new: the marts are up to date (dbt did not run)"
        summary.ran_dbt = False
        return summary

    def copy_if(current: Path) -> bool:
        """Planned again once the lock is held (another build may have finished since); a full build writes
        every table anew: it starts from no file rather than a copy of the database."""
        plans.append(plan_build(current, dbt_vars, options.full_refresh))
        return not plans[-1][1]

    with working_copy(db, copy_if=copy_if) as work:
        run_vars, full_refresh, reason = plans[-1]
        changed = "" if full_refresh else recorded_settings_changes(db, dbt_vars)
        run_build(options, db, options.target, run_vars, full_refresh, write_to=work)
        record_build(work, dbt_vars)
        summary = summarize(work, method, inference)  # also when no day has a z-score
        summary.warnings = build_warnings(work, summary, dbt_vars)  # or an error: then db stays as it was
    summary.db = db
    summary.mode = f"{'full' if full_refresh else 'incremental'} build ({reason})"
    summary.changed = changed
    return summary


def build_warnings(db: Path, summary: BuildSummary, dbt_vars: dict) -> list[str]:
    """What makes a finished build less useful than its exit code says, one line each; a build whose every row
    is of another token is an error instead."""
    from cexflow.db import connect, exchanges_anchored_after_data, input_reconciliation, token_summaries

    words, tokens = build_words(), build_tokens(dbt_vars)

    def text(token: inputs.Token) -> str:
        return f"{token.label} on {token.chain}" + ("" if token.label == token.address else f" ({token.address})")

    tokens_text = " and ".join(text(t) for t in tokens)
    if summary.rows_read and summary.other_token == summary.rows_read:
        options = " ".join(dict.fromkeys(f"--token {t.label}" for t in tokens))
        raise CexflowError(words.all_other_tokens(options, dbt_vars["chain"], summary.rows_read, tokens_text))
    with connect(db) as con:
        per_file = input_reconciliation(con)
        rows = {(r["chain"], r["token_address"]): r for r in token_summaries(con)}
        late_anchors = exchanges_anchored_after_data(con)
    first = next(iter(rows.values()))
    top_reason = (first["top_rejection_reason"], first["top_rejection_rows"]) if first["top_rejection_reason"] else None
    warnings = []
    if dbt_vars["ethereum_etl_blocks_files"] and not any(
        dbt_vars["input_files"].get(fmt) for fmt in inputs.TIMED_BY_BLOCKS
    ):
        warnings.append(words.blocks_unread())
    if late_anchors:
        warnings.append(words.late_anchors(late_anchors))
    if not summary.rows_read:
        return warnings + [words.no_rows()]
    with_rows = {f["source_file"] for f in per_file if f["rows_read"]}
    warnings += [words.empty_file(path) for path in sorted(f for f in input_paths(dbt_vars) if f not in with_rows)]
    if not summary.transfers:
        return warnings + [words.none_kept(tokens_text, summary, top_reason)]
    warnings += [
        words.file_of_other_tokens(f, tokens_text)
        for f in per_file
        if f["rows_read"] and not f["transfers_kept"] and not f["duplicate_rows"]
    ]
    asked_all = "all" in ([dbt_vars["token"]] if isinstance(dbt_vars["token"], str) else dbt_vars["token"])
    several = len(tokens) > 1
    for token in tokens:
        row = rows.get((token.chain, token.address))
        if row is None or not row["n_days"]:
            if several and not asked_all:
                warnings.append(words.token_without_rows(text(token)))
            continue
        prefix = f"{token.label} on {token.chain}: " if several else ""
        if not row["n_exchange_transfers"]:
            labels = ", ".join(dbt_vars["labels_files"]) or "seeds/exchange_wallets.csv"
            count = "transfers" if several else plural(summary.transfers, "transfer")
            warnings.append(words.unlabelled(prefix, count, token.chain, labels))
        elif not row["n_scored_days"]:
            window, min_history = dbt_vars["zscore_window_days"], dbt_vars["zscore_min_history_days"]
            warnings.append(prefix + words.no_zscore(row["n_days"], dbt_vars["zscore_method"], window, min_history))
    return warnings
