"""Where the project's files are: the package lives in scripts/cexflow/ inside the dbt project."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROJECT_FILE = PROJECT_ROOT / "dbt_project.yml"
SEEDS_DIR = PROJECT_ROOT / "seeds"
EXCHANGE_WALLETS_SEED = SEEDS_DIR / "exchange_wallets.csv"
TOKENS_SEED = SEEDS_DIR / "tokens.csv"
SAMPLE_INPUT = PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.csv"
PROJECT_DB = PROJECT_ROOT / "cexflow.duckdb"  # the project's own database: `make run` builds the sample into it


def default_db() -> Path:
    """The DuckDB file: $CEXFLOW_DB if set, else cexflow.duckdb in the project root."""
    return Path(os.environ.get("CEXFLOW_DB") or PROJECT_DB)


def default_spark_dir() -> Path:
    """The Spark warehouse folder: $CEXFLOW_SPARK_DIR if set, else spark/ in the project root."""
    return Path(os.environ.get("CEXFLOW_SPARK_DIR") or PROJECT_ROOT / "spark")


def is_project_db(db: Path) -> bool:
    """Whether `db` is the project's own database, whose reports are committed (docs/sample-reports/)."""
    return Path(db).resolve() == PROJECT_DB.resolve()


def beside(path: Path, kind: str) -> Path:
    """The folder of `kind` (reports, site) of a database file, next to it: my.duckdb -> my.reports/."""
    path = Path(path).resolve()
    folder = path.with_name(f"{path.stem}.{kind}")
    return folder if folder != path else path.with_name(f"{path.name}.{kind}")
