"""Read access to the marts: one place that opens the DuckDB file, read-only."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from cexflow.errors import CexflowError


def connect(db: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a built DuckDB file (use it as a context manager)."""
    if not Path(db).exists():
        raise CexflowError(f"--db {db}: no such database; run `cexflow build` first")
    try:
        return duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise CexflowError(lock_conflict(str(exc)) or f"--db {db}: cannot open: {' '.join(str(exc).split())}") from None


# DuckDB's words when another process holds a conflicting lock on the file (with the holder where it knows it)
LOCK_CONFLICT = re.compile(r'Could not set lock on file "(?P<file>[^"]+)"(?:: Conflicting lock is held in '
                           r'(?P<program>.*?) \(PID (?P<pid>\d+)\))?')


def lock_conflict(message: str, opened_read_only: bool = True) -> str | None:
    """One line naming the file, the process that holds it and what to do, when `message` is DuckDB's lock
    conflict; else None. A read-only open (`connect`; a build holds its database so, see cexflow.files)
    conflicts only with a writer: a shell opened without -readonly, dbt run by hand or a script."""
    match = LOCK_CONFLICT.search(message)
    if not match:
        return None
    holder = f" (PID {match['pid']}, {match['program']})" if match["pid"] else ""
    if not opened_read_only:
        return f"--db {match['file']}: another process{holder} has this database open; close it, then run again"
    return (f"--db {match['file']}: another process{holder} has this database open for writing (a DuckDB shell "
            "opened without -readonly, dbt run by hand or a script); close it, then run again (readers opened "
            "read-only, as by duckdb -readonly, do not block)")


SPARK_SCHEMA = "cexflow"  # the schema of the spark output in profiles.yml


def spark_schema_dir(spark_dir: Path) -> Path:
    """The folder of the project's tables in the Spark warehouse of `--spark-dir` (one subfolder per table)."""
    return Path(spark_dir) / "warehouse" / f"{SPARK_SCHEMA}.db"


def spark_tables(spark_dir: Path) -> dict[str, Path]:
    """The tables of a Spark warehouse built by `cexflow build --target spark`: name -> folder of parquet files."""
    schema_dir = spark_schema_dir(spark_dir)
    if not schema_dir.is_dir():
        raise CexflowError(f"--spark-dir {spark_dir}: no Spark warehouse; run `cexflow build --target spark` first")
    return {p.name: p for p in sorted(schema_dir.iterdir()) if p.is_dir()}


def connect_spark(spark_dir: Path, database: str = ":memory:") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection (in memory, or to the new file `database`) with a view per table of a Spark
    warehouse, read from the parquet files that Spark wrote (partition folders such as flow_date=2025-03-01
    become columns again). Reading the files needs no Spark session; a table with no rows and no file is a
    view with no rows and no useful column."""
    con = duckdb.connect(database)
    for name, folder in spark_tables(Path(spark_dir).resolve()).items():
        files = sorted(folder.rglob("*.parquet"))
        if files:
            pattern = f"{folder.as_posix()}/**/*.parquet".replace("'", "''")
            source = f"read_parquet('{pattern}', hive_partitioning = true)"
        else:
            source = "(select null as no_rows where false)"
        con.execute(f'create view "{name}" as select * from {source}')
    return con
