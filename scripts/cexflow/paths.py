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


def default_db() -> Path:
    """The DuckDB file: $CEXFLOW_DB if set, else cexflow.duckdb in the project root."""
    return Path(os.environ.get("CEXFLOW_DB") or PROJECT_ROOT / "cexflow.duckdb")
