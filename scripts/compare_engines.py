"""Build the same inputs on DuckDB and on Spark and compare every table row by row.

    .venv/bin/python scripts/compare_engines.py                       # the bundled sample
    .venv/bin/python scripts/compare_engines.py --input 'exports/*.csv' --token USDT --labels labels.csv
    .venv/bin/python scripts/compare_engines.py --input eth/lpt.csv --input arbitrum=arb/lpt.csv --token LPT

Takes the options of `cexflow build` (inputs, token, labels, anomaly method, ...). It runs `cexflow build
--target duckdb` into a DuckDB file and `cexflow build --target spark` into a Spark warehouse, both in a
temporary folder (`--workdir DIR` keeps them there), then compares every table that dbt built (seeds,
staging tables and marts): the same tables, the same columns with the same types, and the same rows -
amounts and every other value exactly (DECIMAL(38,18) against DECIMAL(38,18)), floating-point columns
(z-scores, baseline mean and spread) to 1e-9 (absolute below 1, relative above). The Spark tables are read
from the parquet files Spark wrote, with DuckDB; `loaded_in_run` (the dbt run's id) differs by
construction and is left out.

`--target spark_thrift` builds Spark through a Spark Thrift server instead of a local session
(CEXFLOW_SPARK_THRIFT_HOST/_PORT, as `cexflow build --target spark_thrift`), such as the one
`scripts/spark_cluster.sh start DIR` starts; `--spark-dir DIR` names the folder of its warehouse (that DIR),
whose parquet files are compared (default $CEXFLOW_SPARK_DIR). That build is a full one (--full-refresh).

The Spark build runs every model and test (`--spark-models-only`: seeds and models, a minute less on
small inputs; `--spark-select SELECTOR...`: only those dbt nodes, whose tables are compared), with an
in-memory catalog (CEXFLOW_SPARK_CATALOG). `--spark-incremental` builds Spark in two
runs instead - every --input but the last, then an incremental run adding the last - so the comparison also
shows that Spark's incremental models (flow_date partitions rewritten by insert_overwrite) equal a full
build. Prints `engines agree: N tables, M rows`
and the build times, or the first difference, and exits 1 when the engines differ (2 on a build error).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(ROOT / "scripts"))

from cexflow import build as cexflow_build  # noqa: E402
from cexflow import cli  # noqa: E402
from cexflow.db import connect_spark  # noqa: E402
from cexflow.errors import CexflowError  # noqa: E402

TOLERANCE = 1e-9
IGNORED_COLUMNS = {"loaded_in_run"}  # the id of the dbt run that wrote the row
# what one run changed, not what the data is: the transfers an incremental run reclassified (empty after a full
# build), like the inferred addresses' version before the run (<name>_previous)
RUN_TABLES = ["int_transfers_reclassified"]
FLOAT_TYPES = {"DOUBLE", "FLOAT", "REAL"}
# integer widths differ between engines (Spark's count(*) is BIGINT, like DuckDB's, but a CASE of
# integer literals is INTEGER in one and BIGINT in the other); their values are still compared exactly
INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}


@dataclass
class Comparison:
    tables: int = 0
    rows: int = 0
    differences: list[str] = field(default_factory=list)
    compared: list[str] = field(default_factory=list)  # the tables compared (on both engines), by name

    @property
    def agree(self) -> bool:
        return not self.differences

    def summary(self) -> str:
        if self.agree:
            return f"engines agree: {self.tables} tables, {self.rows:,} rows"
        return f"engines differ: {self.differences[0]}"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def columns_of(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    """column name -> type of a table or view."""
    return {name: str(dtype) for name, dtype, *_ in con.execute(f"describe {relation}").fetchall()}


def comparable_type(dtype: str) -> str:
    return "INTEGER" if dtype in INTEGER_TYPES else dtype


def duckdb_tables(con: duckdb.DuckDBPyConnection, catalog: str, spark_names: list[str] = ()) -> list[str]:
    """The tables dbt built in the DuckDB file (not cexflow's own bookkeeping tables), and its views that are
    tables on Spark (fct_flow_legs: a view on DuckDB, a table in the Spark warehouse)."""
    return [name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_catalog = ? "
        "and table_schema = 'main' and (table_type = 'BASE TABLE' or list_contains(?, table_name)) "
        "and table_name not like 'cexflow\\_%' escape '\\' and not suffix(table_name, '_previous') "
        "and not list_contains(?, table_name) order by table_name",
        [catalog, list(spark_names), RUN_TABLES]).fetchall()]


def first_rows(con, sql: str, limit: int = 1) -> list[tuple]:
    return con.execute(f"{sql} limit {limit}").fetchall()


def compare_table(con: duckdb.DuckDBPyConnection, name: str, catalog: str) -> tuple[int, str | None]:
    """Compare <catalog>.main.<name> (the DuckDB file) with the view <name> of the Spark tables: (rows, first
    difference or None)."""
    duck, spark = f"{quote(catalog)}.main.{quote(name)}", f"main.{quote(name)}"
    duck_columns = {c: t for c, t in columns_of(con, duck).items() if c not in IGNORED_COLUMNS}
    spark_columns = {c: t for c, t in columns_of(con, spark).items() if c not in IGNORED_COLUMNS}
    (n_duck,) = con.execute(f"select count(*) from {duck}").fetchone()
    (n_spark,) = con.execute(f"select count(*) from {spark}").fetchone()
    if n_duck == 0 and n_spark == 0:
        return 0, None  # an empty Spark table may have no file, hence no columns to compare
    if set(duck_columns) != set(spark_columns):
        only_duck = sorted(set(duck_columns) - set(spark_columns))
        only_spark = sorted(set(spark_columns) - set(duck_columns))
        return n_duck, f"{name}: columns differ (only on DuckDB: {only_duck}; only on Spark: {only_spark})"
    for column, dtype in duck_columns.items():
        if comparable_type(dtype) != comparable_type(spark_columns[column]):
            return n_duck, f"{name}.{column}: type {dtype} on DuckDB, {spark_columns[column]} on Spark"
    if n_duck != n_spark:
        detail = row_difference(con, name, duck, spark, duck_columns)
        return n_duck, f"{name}: {n_duck:,} rows on DuckDB, {n_spark:,} on Spark" + (f"; {detail}" if detail else "")
    detail = row_difference(con, name, duck, spark, duck_columns)
    return n_duck, (f"{name}: {detail}" if detail else None)


def row_difference(con, name: str, duck: str, spark: str, columns: dict[str, str]) -> str | None:
    """The first row that differs, or None. Rows are matched on their exact columns; float columns must then
    agree to the tolerance."""
    exact = [c for c, t in columns.items() if t not in FLOAT_TYPES]
    floats = [c for c, t in columns.items() if t in FLOAT_TYPES]
    exact_list = ", ".join(quote(c) for c in exact)
    order = ", ".join(str(i + 1) for i in range(len(exact)))
    # rows whose exact columns are on one side only (EXCEPT ALL counts duplicates)
    for side, left, right in (("DuckDB", duck, spark), ("Spark", spark, duck)):
        rows = first_rows(con, f"select {exact_list} from {left} except all select {exact_list} from {right} "
                               f"order by {order}")
        if rows:
            return f"a row only on {side}: " + describe_row(exact, rows[0])
    if not floats:
        return None
    (n_keys,) = con.execute(f"select count(*) from (select distinct {exact_list} from {duck})").fetchone()
    (n_rows,) = con.execute(f"select count(*) from {duck}").fetchone()
    if n_keys != n_rows:
        return f"cannot match rows: the columns other than {floats} are not a key"
    join = " and ".join(f"d.{quote(c)} is not distinct from s.{quote(c)}" for c in exact)
    off = " or ".join(
        f"not (d.{quote(c)} is not distinct from s.{quote(c)} or abs(d.{quote(c)} - s.{quote(c)}) <= "
        f"{TOLERANCE} * greatest(1, abs(d.{quote(c)}), abs(s.{quote(c)})))" for c in floats)
    picked = ", ".join([f"d.{quote(c)}" for c in exact] + [f"d.{quote(c)}, s.{quote(c)}" for c in floats])
    rows = first_rows(con, f"select {picked} from {duck} as d inner join {spark} as s on {join} where {off} "
                           f"order by {order}")
    if not rows:
        return None
    row = rows[0]
    key = describe_row(exact, row[:len(exact)])
    values = row[len(exact):]
    diffs = [f"{c} = {values[2 * i]!r} on DuckDB, {values[2 * i + 1]!r} on Spark" for i, c in enumerate(floats)
             if not close(values[2 * i], values[2 * i + 1])]
    return f"at {key}: " + "; ".join(diffs)


def close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(a - b) <= TOLERANCE * max(1.0, abs(a), abs(b))


def describe_row(columns: list[str], values: tuple) -> str:
    text = ", ".join(f"{c}={v!r}" for c, v in zip(columns, values, strict=True))
    return "(" + (text if len(text) <= 600 else text[:600] + " ...") + ")"


def compare(duckdb_file: Path, spark_dir: Path, spark_built_only: bool = False) -> Comparison:
    """Compare the tables of a DuckDB build with those of a Spark warehouse (read from its parquet files);
    `spark_built_only`: the tables the Spark warehouse has (a build of some nodes, --spark-select), not every
    table of the DuckDB build."""
    result = Comparison()
    with connect_spark(spark_dir) as con:
        # attached under its own name, the catalog its views (fct_flow_legs) name
        catalog = Path(duckdb_file).stem
        con.execute(f"attach '{str(duckdb_file).replace(chr(39), chr(39) * 2)}' as {quote(catalog)} (read_only)")
        # (not the version of the inferred addresses that an incremental run keeps of the build before it:
        # keep_previous_version; a full build has none; nor RUN_TABLES)
        spark_names = [name for (name,) in con.execute(
            "select view_name from duckdb_views() where database_name = 'memory' and not internal "
            "and not suffix(view_name, '_previous') and not list_contains(?, view_name) order by view_name",
            [RUN_TABLES]).fetchall()]
        duck_names = duckdb_tables(con, catalog, spark_names)
        if spark_built_only:
            duck_names = [name for name in duck_names if name in spark_names]
        missing_on_spark = sorted(set(duck_names) - set(spark_names))
        missing_on_duckdb = sorted(set(spark_names) - set(duck_names))
        if missing_on_spark:
            result.differences.append(f"tables only on DuckDB: {', '.join(missing_on_spark)}")
        if missing_on_duckdb:
            result.differences.append(f"tables only on Spark: {', '.join(missing_on_duckdb)}")
        for name in sorted(set(duck_names) & set(spark_names)):
            rows, difference = compare_table(con, name, catalog)
            result.tables += 1
            result.compared.append(name)
            result.rows += rows
            if difference:
                result.differences.append(difference)
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    cli.build_arguments(parser)  # its --target: spark (default) or spark_thrift, the Spark build's
    parser.add_argument("--workdir", type=Path, metavar="DIR",
                        help="build into DIR (cexflow.duckdb and spark/, replaced if there) and keep them "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--spark-incremental", action="store_true",
                        help="build on Spark in two runs: seeds and models on every --input but the last, then "
                             "an incremental build that adds the last (compared with one full DuckDB build)")
    parser.add_argument("--spark-select", nargs="+", metavar="SELECTOR",
                        help="build only these dbt nodes on Spark (e.g. +fct_netflow_daily_total: the mart and "
                             "what it reads), without tests, and compare the tables Spark built; for a quick check "
                             "of a Spark deployment whose models the full comparison already checks")
    parser.add_argument("--spark-models-only", action="store_true",
                        help="build only seeds and models on Spark, not the data and unit tests (they run on "
                             "DuckDB; a Spark test costs about a second)")
    return parser.parse_args(argv)


def run_builds(args: argparse.Namespace, workdir: Path) -> tuple[Path, Path, dict[str, float]]:
    """Build on DuckDB and on Spark from the same options; the two locations and the build times.

    The Spark build uses an in-memory catalog unless CEXFLOW_SPARK_CATALOG says otherwise: the comparison
    reads the parquet files, so no metastore has to outlive the build. With --spark-incremental it is two
    builds in a Hive catalog: the seeds and models on every --input but the last, then an incremental build
    (checked to be one) that adds the last."""
    times = {}
    options = cli.build_options(args)
    thrift = options.target == "spark_thrift"
    db, spark_dir = workdir / "cexflow.duckdb", workdir / "spark"
    if thrift:
        if args.spark_incremental:
            raise CexflowError("--spark-incremental: not with --target spark_thrift")
        spark_dir = (options.spark_dir or cexflow_build.default_spark_dir()).resolve()
    else:
        shutil.rmtree(spark_dir, ignore_errors=True)
    db.unlink(missing_ok=True)
    started = time.perf_counter()
    cexflow_build.build(dataclasses.replace(options, target="duckdb", db=db, full_refresh=True))
    times["duckdb"] = time.perf_counter() - started
    spark_options = dataclasses.replace(options, target="spark_thrift" if thrift else "spark", spark_dir=spark_dir,
                                        full_refresh=thrift)
    if args.spark_incremental:
        if len(options.input) < 2:
            raise CexflowError("--spark-incremental needs two or more --input options (the last one is added "
                               "by the incremental build)")
        os.environ["CEXFLOW_SPARK_CATALOG"] = "hive"
        first = dataclasses.replace(spark_options, input=options.input[:-1])
        started = time.perf_counter()
        cexflow_build.build_spark(first, cexflow_build.build_vars(first), with_tests=False)
        times["spark first"] = time.perf_counter() - started
    else:
        os.environ.setdefault("CEXFLOW_SPARK_CATALOG", "in-memory")
    started = time.perf_counter()
    summary = cexflow_build.build_spark(spark_options, cexflow_build.build_vars(spark_options),
                                        with_tests=not (args.spark_models_only or args.spark_select),
                                        select=args.spark_select)
    times["spark"] = time.perf_counter() - started
    if args.spark_incremental and not summary.mode.startswith("incremental"):
        raise CexflowError(f"--spark-incremental: the second Spark build was not incremental: {summary.mode}")
    return db, spark_dir, times


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="cexflow-engines-") as scratch:
            workdir = (args.workdir or Path(scratch)).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            duckdb_file, spark_dir, times = run_builds(args, workdir)
            result = compare(duckdb_file, spark_dir, spark_built_only=bool(args.spark_select))
    except CexflowError as exc:
        print(f"compare_engines: error: {exc}", file=sys.stderr)
        return 2
    print(result.summary())
    spark_time = (f"Spark {times['spark first']:.1f} s + {times['spark']:.1f} s (incremental)"
                  if "spark first" in times else f"Spark {times['spark']:.1f} s")
    print(f"build times: DuckDB {times['duckdb']:.1f} s, {spark_time}")
    for difference in result.differences[1:6]:
        print(f"  also: {difference}")
    return 0 if result.agree else 1


if __name__ == "__main__":
    sys.exit(main())
