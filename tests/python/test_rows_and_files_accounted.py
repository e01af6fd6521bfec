"""Nothing accepted silently, everything counted: a row with more or fewer fields than its file's header is a
rejected row with that reason (on the real LPT export and on hand-made files of each format), a file with no
data row is a file read, and the line numbers of rejected and kept rows are the files' own, in a file of
several row groups. Every expected number is computed here from the files with csv and Decimal, or by hand
in the comments."""

from __future__ import annotations

import csv
import json
import shutil
from decimal import Decimal

import pytest
from conftest import (
    BINANCE14,
    ETHERSCAN_HEADER,
    LPT,
    REAL_DATA,
    build,
    etherscan_row,
    query,
    raw,
    tx,
    user,
    write_csv,
)

from cexflow.cli import main as cexflow_main
from cexflow.sample import write_sample

LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"
DAY = 1735689600  # 2025-01-01 UTC
TOO_FEW = "too few fields for the header"
TOO_MANY = "too many fields for the header"


def rejected(db) -> list[tuple]:
    return query(db, """select regexp_extract(source_file, '[^/]+$'), line_number, split_part(reason, ' (', 1)
                        from stg_transfers_rejected order by source_file, line_number""")


def reconciliation(db) -> list[tuple]:
    return query(db, """select regexp_extract(source_file, '[^/]+$'), rows_read, transfers_kept, duplicate_rows,
                               rejected_rows, other_token_rows
                        from rpt_input_reconciliation order by source_file""")


# --- the real export with a decimal comma ---------------------------------------------------------------

@pytest.fixture(scope="module")
def edited_export(tmp_path_factory):
    """The real LPT export with the value of its tenth data row (line 11) written with a decimal comma."""
    d = tmp_path_factory.mktemp("edited")
    lines = (REAL_DATA / LPT_FILE).read_text().splitlines()
    fields = lines[10].split(",")
    assert len(fields) == 6 and "." in fields[5]
    whole, fraction = fields[5].split(".")
    lines[10] = ",".join(fields[:5] + [whole, fraction])  # ...,476851,50284911: 7 fields for a 6-column header
    path = d / LPT_FILE
    path.write_text("\n".join(lines) + "\n")
    db = d / "edited.duckdb"
    assert build(db, "--input", str(path)) == 0
    return path, db, fields


def test_a_decimal_comma_in_the_real_export_is_a_rejected_row(edited_export, capsys):
    path, db, fields = edited_export
    assert rejected(db) == [(LPT_FILE, 11, TOO_MANY)]
    reason, raw_value, raw_hash = query(db, "select reason, raw_value, raw_tx_hash from stg_transfers_rejected")[0]
    assert reason.startswith("too many fields for the header (6 columns)")
    # the raw fields as read: the value is the part before the comma
    assert (raw_value, raw_hash) == (fields[5].split(".")[0], fields[0])
    # no transfer of 476851 (or of any amount) was kept from that row
    assert query(db, f"select count(*) from fct_exchange_transfers where tx_hash = '{fields[0]}' "
                     "and source_line_number = 11") == [(0,)]


def test_the_edited_export_still_reconciles(edited_export):
    path, db, _ = edited_export
    # independently: the other 197 rows of the file, counted once per (hash, from, to, amount)
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = [r for r in reader if len(r) == len(header)]
    transfers = {(r[0], r[3].lower(), r[4].lower(), Decimal(r[5])) for r in rows}
    n_rows = sum(1 for _ in open(path)) - 1
    assert n_rows == 198 and len(rows) == 197
    assert reconciliation(db) == [(LPT_FILE, 198, len(transfers), len(rows) - len(transfers), 1, 0)]


# --- hand-made files of each format ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def short_and_long_rows(tmp_path_factory):
    d = tmp_path_factory.mktemp("fields")
    good = etherscan_row(1, DAY, user(1), BINANCE14, "2")
    etherscan = d / "etherscan.csv"
    write_csv(etherscan, ETHERSCAN_HEADER, [good, etherscan_row(2, DAY + 2, user(2), BINANCE14, "1")])
    lines = etherscan.read_text().splitlines()
    row3, row4, row5, row6 = (etherscan_row(n, DAY + n, user(n), BINANCE14, "1") for n in (3, 4, 5, 6))
    lines += [
        ",".join(row3[c] for c in ETHERSCAN_HEADER[:-1]),                       # line 4: 9 fields (no tokenDecimal)
        ",".join(row4[c] for c in ETHERSCAN_HEADER).replace("Livepeer Token", "Livepeer, Token"),  # line 5: 11
        ",".join(row5[c] for c in ETHERSCAN_HEADER).replace("Livepeer Token", '"Livepeer, Token"'),  # line 6: 10, kept
        ",".join(row6[c] for c in ETHERSCAN_HEADER[:-1]) + ",",                 # line 7: 10, empty tokenDecimal: kept
    ]
    etherscan.write_text("\n".join(lines) + "\n")

    seed = d / "seed.csv"
    seed_header = ["hash", "blockNumber", "timeStamp", "from", "to", "value_LPT"]
    seed.write_text("\n".join([
        ",".join(seed_header),
        f"{tx(10)},1,{DAY},{user(10)},{BINANCE14},12.5",      # line 2: kept, 12.5
        f"{tx(11)},1,{DAY},{user(11)},{BINANCE14},12,5",      # line 3: 7 fields, the decimal comma
        f"{tx(12)},1,{DAY},{user(12)},{BINANCE14}",           # line 4: 5 fields
        f"{tx(13)},1,{DAY},{user(13)},{BINANCE14},",          # line 5: 6 fields, empty amount: missing amount
    ]) + "\n")

    etl = d / "etl.csv"
    etl_header = ["token_address", "from_address", "to_address", "value", "transaction_hash", "log_index",
                  "block_number", "block_timestamp"]
    etl.write_text("\n".join([
        ",".join(etl_header),
        f"{LPT},{user(20)},{BINANCE14},{raw('3')},{tx(20)},0,21000000,{DAY}",     # line 2: kept, 3
        f"{LPT},{user(21)},{BINANCE14},{raw('3')},{tx(21)},0,21000000",           # line 3: 7 fields
        f"{LPT},{user(22)},{BINANCE14},{raw('3')},{tx(22)},0,21000000,{DAY},x",   # line 4: 9 fields
        f"0xdac17f958d2ee523a2206206994597c13d831ec7,{user(23)},{BINANCE14},5,{tx(23)},1",  # line 5: 6 fields
    ]) + "\n")
    db = d / "fields.duckdb"
    assert build(db, "--input", str(etherscan), "--input", str(seed), "--input", str(etl)) == 0
    return db


def test_rows_with_more_or_fewer_fields_than_the_header_are_rejected_in_every_format(short_and_long_rows):
    assert rejected(short_and_long_rows) == [
        ("etherscan.csv", 4, TOO_FEW), ("etherscan.csv", 5, TOO_MANY),
        ("etl.csv", 3, TOO_FEW), ("etl.csv", 4, TOO_MANY),
        # a short row of another token's is rejected too: its fields cannot be trusted to say the token
        ("etl.csv", 5, TOO_FEW),
        ("seed.csv", 3, TOO_MANY), ("seed.csv", 4, TOO_FEW), ("seed.csv", 5, "missing amount"),
    ]


def test_a_quoted_comma_and_an_empty_last_field_are_fields(short_and_long_rows):
    # etherscan.csv lines 6 (a quoted comma) and 7 (an empty tokenDecimal: the token's 18) are kept
    rows = query(short_and_long_rows, """select source_line_number, amount from fct_exchange_transfers
        where source_file like '%etherscan.csv' order by source_line_number""")
    assert rows == [(2, Decimal("2")), (3, Decimal("1")), (6, Decimal("1")), (7, Decimal("1"))]


def test_every_file_reconciles(short_and_long_rows):
    # etherscan.csv: 6 rows = 4 kept + 2 rejected; etl.csv: 4 = 1 + 3; seed.csv: 4 = 1 + 3
    assert reconciliation(short_and_long_rows) == [
        ("etherscan.csv", 6, 4, 0, 2, 0), ("etl.csv", 4, 1, 0, 3, 0), ("seed.csv", 4, 1, 0, 3, 0)]


# --- files without data rows ------------------------------------------------------------------------------

def test_a_header_only_file_is_a_file_read(tmp_path, capsys):
    empty = write_csv(tmp_path / "empty.csv", ETHERSCAN_HEADER, [])
    assert cexflow_main(["build", "--db", str(tmp_path / "a.duckdb"), "--input", str(empty)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "read 0 rows from 1 file(s): 0 transfers kept, 0 duplicates, 0 rejected, 0 of other tokens"
    some = write_csv(tmp_path / "some.csv", ETHERSCAN_HEADER, [etherscan_row(1, DAY, user(1), BINANCE14, "2")])
    assert build(tmp_path / "b.duckdb", "--input", str(empty), "--input", str(some)) == 0
    assert reconciliation(tmp_path / "b.duckdb") == [("empty.csv", 0, 0, 0, 0, 0), ("some.csv", 1, 1, 0, 0, 0)]


def test_two_api_pages_are_two_files(tmp_path, capsys):
    # the recorded empty page (status 0, no result rows) and the recorded page of 5 USDC transfers
    pages = REAL_DATA / "etherscan_v2_responses"
    for name in ("tokentx_empty_page.json", "tokentx_page_with_rows.json"):
        (tmp_path / name).write_text(json.dumps(json.loads((pages / name).read_text())["body"]))
    args = ["--input", str(tmp_path / "tokentx_empty_page.json"),
            "--input", str(tmp_path / "tokentx_page_with_rows.json"), "--token", "USDC"]
    assert cexflow_main(["build", "--db", str(tmp_path / "pages.duckdb"), *args]) == 0
    assert capsys.readouterr().out.startswith("read 5 rows from 2 file(s): 5 transfers kept")


# --- line numbers in a file of several row groups -----------------------------------------------------------

def test_line_numbers_are_the_files_own_in_a_large_file(tmp_path):
    # a history of about 290,000 rows (DuckDB reads and stores it in row groups of 122,880 rows, on several
    # threads), with a malformed from address written on three known lines, and a second file after it
    big = tmp_path / "a_big.csv"
    write_sample(big, days=120, scale=30, seed=5)
    lines = big.read_text().splitlines()
    bad_lines = [2, 150_001, len(lines)]  # the first data row, one in the second row group, the last row
    for number in bad_lines:
        fields = lines[number - 1].split(",")
        fields[3] = "0x123"
        lines[number - 1] = ",".join(fields)
    big.write_text("\n".join(lines) + "\n")
    small = tmp_path / "b_small.csv"
    shutil.copyfile(REAL_DATA / LPT_FILE, small)  # 198 rows of the seed format
    db = tmp_path / "big.duckdb"
    assert build(db, "--input", str(big), "--input", str(small)) == 0
    assert rejected(db) == [("a_big.csv", n, "malformed from address") for n in bad_lines]
    # every transfer kept from the big file is credited to the first line that carries it (computed here)
    first_line: dict = {}
    with open(big, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        at = {name: i for i, name in enumerate(header)}
        for number, row in enumerate(reader, start=2):
            if number not in bad_lines:
                key = (row[at["hash"]], row[at["from"]], row[at["to"]], row[at["value"]])
                first_line.setdefault(key, number)
    got = query(db, """select tx_hash, from_address, to_address, amount, source_line_number from fct_exchange_transfers
                       where source_file like '%a_big.csv'""")
    assert len(got) == len(first_line) > 250_000
    assert {(h, f, t, raw(a)): n for h, f, t, a, n in got} == first_line
