"""--no-deposit-inference gives the marts of the project before deposit inference, exactly: every table and view
of a build with it equals, on the columns the build before inference had, the same build of main without deposit
inference (commit 087854c, main when inference was merged into it), on the bundled sample and on a whole-token
file (every USDT transfer of the real 51-block ethereum-etl file, with the real Etherscan labels). The builds of
that commit are kept here as fingerprints (row count and an MD5 of the sorted rows, file paths reduced to their
names) in tests/data/inference_off/, made in a clone of main at that commit with its own .venv (`make install`):

    cexflow build --db sample.duckdb
    cexflow build --db usdt_51_blocks.duckdb --token USDT --blocks blocks.csv \
        --input tests/data/real/erc20_token_transfers_blocks_12600000-12600050.csv \
        --labels tests/data/real/exchange_labels_etherscan_2023-06.csv

(blocks.csv as blocks_csv below writes it), then, here, `python tests/python/test_inference_off.py CASE DB COMMIT`
for each (CASE sample or usdt_51_blocks), which writes CASE.json from the database DB."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import REAL_DATA, build, write_csv

FINGERPRINTS = Path(__file__).resolve().parents[1] / "data" / "inference_off"
BLOCK0_TIME = 1623202380  # as test_build_real_data: blocks 12,600,000-12,600,050, 13 s apart


def relations(con) -> list[str]:
    return [name for (name,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'main' "
        "and table_name not like 'cexflow_%' order by 1").fetchall()]


def columns_of(con, name: str) -> list[str]:
    return [c for (c,) in con.execute(
        "select column_name from information_schema.columns where table_schema = 'main' and table_name = ? "
        "order by ordinal_position", [name]).fetchall() if c != "loaded_in_run"]


def fingerprint(con, name: str, columns: list[str]) -> dict:
    """Rows and an MD5 of the sorted rows as text; a column naming a file holds the file's name only."""
    def text(column: str) -> str:
        value = f'cast("{column}" as varchar)'
        if "file" in column or column == "label_source":
            value = f"regexp_replace({value}, '.*/', '')"
        return f"coalesce({value}, '<null>')"

    row = " || '|' || ".join(text(c) for c in columns)
    n, digest = con.execute(f'select count(*), md5(coalesce(string_agg({row}, chr(10) order by {row}), \'\')) '
                            f'from "{name}"').fetchone()
    return {"columns": columns, "rows": n, "md5": digest}


def fingerprints(db: Path) -> dict:
    with duckdb.connect(str(db), read_only=True) as con:
        return {name: fingerprint(con, name, columns_of(con, name)) for name in relations(con)}


def blocks_csv(folder: Path) -> Path:
    return write_csv(folder / "blocks.csv", ["number", "timestamp"],
                     [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])


CASES = {
    "sample": lambda folder: [],
    "usdt_51_blocks": lambda folder: [
        "--input", str(REAL_DATA / "erc20_token_transfers_blocks_12600000-12600050.csv"),
        "--blocks", str(blocks_csv(folder)), "--token", "USDT",
        "--labels", str(REAL_DATA / "exchange_labels_etherscan_2023-06.csv")],
}


@pytest.mark.parametrize(("case", "flags"), [(case, ("--no-deposit-inference",)) for case in sorted(CASES)]
                         + [("sample", ())])
def test_inference_off_gives_the_marts_before_inference(case, flags, tmp_path):
    # and the sample, whose synthetic users include no deposit address, has the same marts with inference on
    # (so its reports are those of before inference)
    before = json.loads((FINGERPRINTS / f"{case}.json").read_text())["tables"]
    db = tmp_path / "off.duckdb"
    assert build(db, *CASES[case](tmp_path), *flags) == 0
    with duckdb.connect(str(db), read_only=True) as con:
        now = set(relations(con))
        for name, fp in before.items():
            assert name in now, name
            assert fingerprint(con, name, fp["columns"]) == fp, name


if __name__ == "__main__":  # python tests/python/test_inference_off.py CASE DB [COMMIT]
    case, db = sys.argv[1], Path(sys.argv[2])
    FINGERPRINTS.mkdir(parents=True, exist_ok=True)
    (FINGERPRINTS / f"{case}.json").write_text(json.dumps(
        {"commit": sys.argv[3] if len(sys.argv) > 3 else None, "tables": fingerprints(db)}, indent=1,
        sort_keys=True) + "\n")
