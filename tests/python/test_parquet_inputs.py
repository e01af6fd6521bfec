"""Parquet inputs: cryo's erc20_transfers (binary addresses and hashes or 0x text; the amount as value_binary,
a 256-bit big-endian integer, and/or value_string) with the times of cryo's blocks Parquet given to --blocks,
and ethereum-etl's token_transfers as Parquet. Recognised by their columns; amounts exact from the 256-bit
integer; bad rows rejected with file, row and reason; the same transfers given as Parquet of either schema and
as an ethereum-etl CSV build the same marts. (The DuckDB/Spark comparison of test_compare_engines.py builds
write_parquet_edge_cases' files on both engines.)

The files are written here with pyarrow (a dev dependency), as cryo and ethereum-etl write them.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import BINANCE14, BINANCE20, COINBASE10, KRAKEN1, LPT, build, query, tx, user, write_csv

from cexflow.cli import main as cexflow_main
from cexflow.errors import CexflowError
from cexflow.inputs import classify_inputs

DAY = 1740787200  # 2025-03-01 UTC
BLOCK0 = 21_900_000


def block_time(block: int) -> int:
    return DAY + (block - BLOCK0) * 12


def u256(value: int) -> bytes:
    return value.to_bytes(32, "big")


def unhex(text: str) -> bytes:
    return bytes.fromhex(text[2:])


# (block, log index, tx, from, to, raw value): the transfers every format of the equality test holds
TRANSFERS = [
    (BLOCK0 + 0, 0, tx("p1"), user(1), BINANCE14, 1_500_000_000_000_000_000),  # deposit of 1.5
    (BLOCK0 + 1, 3, tx("p2"), BINANCE20, user(2), 7 * 10**18),  # withdrawal of 7
    (BLOCK0 + 7200, 1, tx("p3"), BINANCE14, BINANCE20, 100 * 10**18),  # internal, next day
    (BLOCK0 + 7201, 2, tx("p4"), COINBASE10, KRAKEN1, 1),  # cross-exchange of 10^-18
    (BLOCK0 + 14400, 5, tx("p5"), user(3), COINBASE10, 123_456_789_012_345_678_901),  # 123.456...
]


def cryo_table(rows: list[dict], binary: bool = True, value_binary: bool = True, value_string: bool = True,
               timestamps: bool = False) -> pa.Table:
    """A cryo erc20_transfers table: binary addresses and hashes (cryo's default) or 0x text (--hex)."""
    def addr(text):
        return None if text is None else (unhex(text) if binary else text)

    kind = pa.binary() if binary else pa.string()
    columns = {
        "block_number": pa.array([r["block"] for r in rows], pa.uint32()),
        "transaction_index": pa.array([r.get("tx_index", 0) for r in rows], pa.uint32()),
        "log_index": pa.array([r["log"] for r in rows], pa.uint32()),
        "transaction_hash": pa.array([addr(r["hash"]) for r in rows], kind),
        "erc20": pa.array([addr(r.get("token", LPT)) for r in rows], kind),
        "from_address": pa.array([addr(r["from"]) for r in rows], kind),
        "to_address": pa.array([addr(r["to"]) for r in rows], kind),
    }
    if value_binary:
        columns["value_binary"] = pa.array([None if r["value"] is None else u256(r["value"]) for r in rows],
                                           pa.binary())
    if value_string:
        columns["value_string"] = pa.array([None if r["value"] is None else str(r["value"]) for r in rows])
    columns["chain_id"] = pa.array([r.get("chain_id", 1) for r in rows], pa.uint64())
    if timestamps:
        columns["block_timestamp"] = pa.array([block_time(r["block"]) for r in rows], pa.uint32())
    return pa.table(columns)


def transfer_dicts() -> list[dict]:
    return [{"block": b, "log": li, "hash": h, "from": f, "to": t, "value": v} for b, li, h, f, t, v in TRANSFERS]


def write_cryo_blocks(path: Path, blocks: list[int]) -> Path:
    pq.write_table(pa.table({"block_number": pa.array(blocks, pa.uint32()),
                             "timestamp": pa.array([block_time(b) for b in blocks], pa.uint32())}), path)
    return path


def write_parquet_edge_cases(d: Path) -> dict[str, Path]:
    """A cryo file of edge cases (binary, value_binary only, no block_timestamp: times from the blocks file), the
    blocks Parquet, and an ethereum-etl Parquet file (text columns, a timestamp column)."""
    d.mkdir(parents=True, exist_ok=True)
    rows = [
        # the largest amount DECIMAL(38,18) holds exactly (between two unlabelled addresses: the marts' sums
        # over days would overflow, as with a CSV), and the smallest
        {"block": BLOCK0, "log": 0, "hash": tx("e1"), "from": user(10), "to": user(18), "value": 10**38 - 1},
        {"block": BLOCK0, "log": 1, "hash": tx("e2"), "from": BINANCE14, "to": user(11), "value": 1},
        # past 38 digits (10^38), and the largest 256-bit value: rejected, their digits kept exactly
        {"block": BLOCK0 + 1, "log": 0, "hash": tx("e3"), "from": user(12), "to": BINANCE14, "value": 10**38},
        {"block": BLOCK0 + 1, "log": 1, "hash": tx("e4"), "from": user(13), "to": BINANCE14, "value": 2**256 - 1},
        # a value whose words carry across every base-10^9 digit
        {"block": BLOCK0 + 2, "log": 0, "hash": tx("e5"), "from": user(14), "to": user(19),
         "value": 2**126 + 2**64 + 2**32 - 1},
        # missing fields: no from address, no amount; a block no blocks file lists
        {"block": BLOCK0 + 2, "log": 1, "hash": tx("e6"), "from": None, "to": BINANCE14, "value": 5},
        {"block": BLOCK0 + 2, "log": 2, "hash": tx("e7"), "from": user(15), "to": BINANCE14, "value": None},
        {"block": BLOCK0 + 999_999, "log": 0, "hash": tx("e8"), "from": user(16), "to": BINANCE14, "value": 9},
        # a transfer of another token: counted, neither used nor rejected
        {"block": BLOCK0 + 3, "log": 0, "hash": tx("e9"), "from": user(17), "to": BINANCE14, "value": 3,
         "token": "0xdac17f958d2ee523a2206206994597c13d831ec7"},
    ]
    cryo = d / "cryo_edge.parquet"
    pq.write_table(cryo_table(rows, value_string=False), cryo)
    blocks = write_cryo_blocks(d / "cryo_blocks.parquet", sorted({r["block"] for r in rows} - {BLOCK0 + 999_999}))
    etl = d / "etl_edge.parquet"
    pq.write_table(pa.table({
        "token_address": [LPT, LPT, LPT.upper().replace("0X", "0x")],
        "from_address": [user(20), BINANCE20, user(21)],
        "to_address": [BINANCE20, user(22), BINANCE14],
        "value": ["250000000000000000000", "-5", "12.5"],
        "transaction_hash": [tx("q1"), tx("q2"), tx("q3")],
        "log_index": pa.array([0, 1, 2], pa.int64()),
        "block_number": pa.array([BLOCK0 + 5, BLOCK0 + 5, BLOCK0 + 6], pa.int64()),
        "block_timestamp": pa.array([block_time(BLOCK0 + 5) * 10**6] * 2 + [block_time(BLOCK0 + 6) * 10**6],
                                    pa.timestamp("us", tz="UTC")),
    }), etl)
    return {"cryo": cryo, "blocks": blocks, "etl": etl}


def test_parquet_files_are_recognised_by_their_columns(tmp_path):
    files = write_parquet_edge_cases(tmp_path)
    found = classify_inputs([str(files["cryo"]), str(files["etl"])], blocks=[str(files["blocks"])])
    assert found.by_format == {"cryo_erc20_transfers": [str(files["cryo"])],
                               "ethereum_etl_parquet": [str(files["etl"])]}
    assert found.etl_without_timestamp == [str(files["cryo"])]
    with pytest.raises(CexflowError, match="rows without block_timestamp need a blocks file"):
        classify_inputs([str(files["cryo"])])
    other = tmp_path / "other.parquet"
    pq.write_table(pa.table({"a": [1]}), other)
    with pytest.raises(CexflowError, match=r"other.parquet: unknown Parquet columns 'a'; accepted: cryo"):
        classify_inputs([str(other)])


@pytest.fixture(scope="module")
def edge_build(tmp_path_factory) -> tuple[Path, dict[str, Path]]:
    d = tmp_path_factory.mktemp("parquet-edge")
    files = write_parquet_edge_cases(d / "in")
    db = d / "edge.duckdb"
    assert build(db, "--input", str(files["cryo"]), "--input", str(files["etl"]), "--blocks", str(files["blocks"])) == 0
    return db, files


def test_cryo_amounts_are_exact_and_bad_rows_rejected_with_file_row_and_reason(edge_build):
    db, files = edge_build
    amounts = dict(query(db, "select tx_hash, amount from int_transfers_deduplicated"))
    assert amounts[tx("e1")] == Decimal("99999999999999999999.999999999999999999")
    assert amounts[tx("e2")] == Decimal("0.000000000000000001")
    assert amounts[tx("e5")] == Decimal(f"{2**126 + 2**64 + 2**32 - 1}e-18")
    assert amounts[tx("q1")] == Decimal(250)
    rejected = {(f, n): (reason, value) for f, n, reason, value in query(
        db, "select source_file, line_number, reason, raw_value from stg_transfers_rejected")}
    cryo, etl = str(files["cryo"]), str(files["etl"])
    assert rejected[(cryo, 3)] == ("amount does not fit DECIMAL(38,18) exactly", str(10**38))
    assert rejected[(cryo, 4)] == ("amount does not fit DECIMAL(38,18) exactly", str(2**256 - 1))
    assert rejected[(cryo, 6)][0] == "missing from address"
    assert rejected[(cryo, 7)][0] == "missing amount"
    assert rejected[(cryo, 8)][0].startswith("no time for this block")
    assert rejected[(etl, 2)][0] == "negative amount"
    assert rejected[(etl, 3)][0].startswith("raw amount is not a whole number")
    assert len(rejected) == 7
    assert query(db, "select sum(rows_read), sum(transfers_kept), sum(rejected_rows), sum(other_token_rows) "
                     "from rpt_input_reconciliation") == [(12, 4, 7, 1)]


def test_parquet_of_both_schemas_equals_the_same_transfers_as_csv(tmp_path):
    d = tmp_path
    rows = transfer_dicts()
    blocks = sorted({r["block"] for r in rows})
    etl_header = ["token_address", "from_address", "to_address", "value", "transaction_hash", "log_index",
                  "block_number", "block_timestamp"]
    csv_file = write_csv(d / "etl.csv", etl_header, [
        [LPT, r["from"], r["to"], str(r["value"]), r["hash"], str(r["log"]), str(r["block"]),
         str(block_time(r["block"]))] for r in rows])
    variants = {
        "csv": ["--input", str(csv_file)],
        "cryo_binary": ["--input", str(_write(d / "cryo_bin.parquet", cryo_table(rows, value_string=False))),
                        "--blocks", str(write_cryo_blocks(d / "blocks.parquet", blocks))],
        "cryo_hex": ["--input", str(_write(d / "cryo_hex.parquet",
                                           cryo_table(rows, binary=False, value_binary=False, timestamps=True)))],
        "etl_parquet": ["--input", str(_write(d / "etl.parquet", pa.table({
            "token_address": [LPT] * len(rows), "from_address": [r["from"] for r in rows],
            "to_address": [r["to"] for r in rows], "value": [str(r["value"]) for r in rows],
            "transaction_hash": [r["hash"] for r in rows], "log_index": [r["log"] for r in rows],
            "block_number": [r["block"] for r in rows], "block_timestamp": [block_time(r["block"]) for r in rows]})))],
    }
    results = {}
    for name, args in variants.items():
        db = d / f"{name}.duckdb"
        # without --full-check: a fresh build's data tests run on all its rows anyway, and dbt's unit tests,
        # which --full-check adds, do not depend on the inputs
        assert cexflow_main(["build", "--db", str(db), *args]) == 0, name
        results[name] = (
            # the source differs: a CSV line counts the header line, a Parquet row is its position from 1
            query(db, "select * exclude (source_file, source_line_number, loaded_in_run) from fct_exchange_transfers "
                      "order by transfer_id"),
            query(db, "select * from fct_netflow_daily_total order by all"),
        )
    assert len(results["csv"][0]) == 5
    for name in variants:
        assert results[name] == results["csv"], name


def _write(path: Path, table: pa.Table) -> Path:
    pq.write_table(table, path)
    return path
