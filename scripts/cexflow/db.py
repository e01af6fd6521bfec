"""Read access to the marts: one place that opens the DuckDB file, read-only."""

from __future__ import annotations

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
        raise CexflowError(f"--db {db}: cannot open: {' '.join(str(exc).split())}") from None
