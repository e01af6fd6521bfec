"""Bad input: a clear one-line error naming the file or option, or a row in stg_transfers_rejected with its
file, line and reason. Nothing is lost: rows read = kept + duplicates + rejected (+ other tokens)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, LPT, build, etherscan_row, query, user, write_csv

from cexflow.cli import main as cexflow_main

DAY = 1735689600  # 2025-01-01 UTC


@pytest.fixture(scope="module")
def bad_rows_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    good = etherscan_row(1, DAY, user(1), BINANCE14, "2")

    def variant(n, **changes):
        row = etherscan_row(n, DAY + n, user(n), BINANCE14, "1")
        row.update(changes)
        return row

    rows = [
        good,                                                       # line 2: kept
        variant(3, **{"from": "0x123"}),                            # line 3: malformed from address
        variant(4, value="-5"),                                     # line 4: negative amount
        variant(5, value="abc"),                                    # line 5: non-numeric amount
        variant(6, value="1.5e+21"),                                # line 6: raw amount in scientific notation
        variant(7, timeStamp=""),                                   # line 7: missing timestamp
        good,                                                       # line 8: duplicate of line 2
        variant(9, **{"from": user(9).upper().replace("0X", "0x"), "to": BINANCE14.upper()}),  # line 9: kept
        variant(10, hash="nothex"),                                 # line 10: malformed hash
        variant(11, contractAddress="0x58b6"),                      # line 11: malformed token address
        variant(12, **{"to": ""}),                                  # line 12: missing to address
        variant(13, value=""),                                      # line 13: missing amount
        variant(14, contractAddress="0xdac17f958d2ee523a2206206994597c13d831ec7"),  # line 14: other token
    ]
    write_csv(d / "etherscan.csv", ETHERSCAN_HEADER, rows)
    seed_header = ["hash", "blockNumber", "timeStamp", "from", "to", "value_LPT"]
    write_csv(d / "seed.csv", seed_header, [
        [etherscan_row(20, 0, "", "", "1")["hash"], "1", str(DAY), user(20), BINANCE14, "1e-05"],  # kept: 0.00001
        [etherscan_row(21, 0, "", "", "1")["hash"], "1", str(DAY), user(21), BINANCE14, "1,000"],  # non-numeric
        [etherscan_row(22, 0, "", "", "1")["hash"], "x", str(DAY), user(22), BINANCE14, "1"],      # bad block
    ])
    db = d / "bad.duckdb"
    assert build(db, "--input", str(d / "etherscan.csv"), "--input", str(d / "seed.csv")) == 0
    return db


def test_each_bad_row_is_rejected_with_its_line_and_reason(bad_rows_db):
    rejected = query(bad_rows_db, """
        select regexp_extract(source_file, '[^/]+$'), line_number, reason from stg_transfers_rejected
        order by source_file, line_number""")
    got = [(f, line, reason.split(" (")[0]) for f, line, reason in rejected]
    assert got == [
        ("etherscan.csv", 3, "malformed from address"),
        ("etherscan.csv", 4, "negative amount"),
        ("etherscan.csv", 5, "non-numeric amount"),
        ("etherscan.csv", 6, "raw amount is not a whole number"),
        ("etherscan.csv", 7, "missing timestamp"),
        ("etherscan.csv", 10, "malformed transaction hash"),
        ("etherscan.csv", 11, "malformed token address"),
        ("etherscan.csv", 12, "missing to address"),
        ("etherscan.csv", 13, "missing amount"),
        ("seed.csv", 3, "non-numeric amount"),
        ("seed.csv", 4, "missing or malformed block number"),
    ]
    # the raw fields are kept beside the reason
    assert query(bad_rows_db, "select raw_value from stg_transfers_rejected where line_number = 6") == [("1.5e+21",)]


def test_rows_reconcile(bad_rows_db):
    rows = query(bad_rows_db, """
        select regexp_extract(source_file, '[^/]+$'), rows_read, transfers_kept, duplicate_rows, rejected_rows,
               other_token_rows
        from rpt_input_reconciliation order by source_file""")
    # etherscan.csv: 13 rows = 2 kept (lines 2, 9) + 1 duplicate (8) + 9 rejected + 1 USDT row (14)
    # seed.csv: 3 rows = 1 kept + 2 rejected
    assert rows == [("etherscan.csv", 13, 2, 1, 9, 1), ("seed.csv", 3, 1, 0, 2, 0)]


def test_upper_case_addresses_and_scientific_decimal_text_are_read_exactly(bad_rows_db):
    rows = query(bad_rows_db, "select from_address, to_wallet, amount from fct_exchange_transfers order by amount")
    assert rows == [
        (user(20), "binance14", Decimal("0.00001")),   # seed export '1e-05', exactly
        (user(9), "binance14", Decimal("1")),          # line 9 had upper-case addresses
        (user(1), "binance14", Decimal("2")),
    ]


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("unknown.csv", "a,b,c\n1,2,3\n", "unknown header 'a,b,c'; accepted headers: seed project export"),
        ("empty.csv", "", "empty file (no header line)"),
        ("missing.csv", "blockNumber,timeStamp,hash,from,to,value,tokenDecimal\n",
         "lacks column(s) contractaddress"),
        ("bad.json", "{not json", "not valid JSON"),
        ("error.json", '{"status":"0","message":"NOTOK","result":"Invalid API Key"}', "an Etherscan error response"),
    ],
)
def test_unreadable_files_give_one_line_naming_the_file(tmp_path, capsys, name, text, expected):
    path = write(tmp_path, name, text)
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), "--input", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert str(path) in err and expected in err
    assert not (tmp_path / "x.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--window", "1"], "--window 1: must be at least 2"),
        (["--z", "0"], "--z 0.0: must be positive"),
        (["--min-history", "0"], "--min-history 0"),
        (["--top-k", "0"], "--top-k 0"),
        (["--exclude-z", "0"], "--exclude-z 0.0: must be positive"),
        (["--min-active-days", "-1"], "--min-active-days -1: must be at least 0"),
        (["--token", "NOPE"], "--token NOPE: unknown on ethereum"),
        (["--token", "0x" + "ab" * 20], "pass its --decimals"),
        (["--input", "/nonexistent/*.csv"], "--input /nonexistent/*.csv: no file matches"),
        (["--labels", "/nonexistent.csv"], "--labels /nonexistent.csv: no such file"),
    ],
)
def test_bad_options_give_one_line_naming_the_option(tmp_path, capsys, args, expected):
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err


def test_bad_label_file_names_the_line(tmp_path, capsys):
    labels = write(tmp_path, "labels.csv", f"address,exchange\n{BINANCE14},binance\n0xnope,kraken\n")
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), "--labels", str(labels)]) == 2
    err = capsys.readouterr().err
    assert f"{labels}, line 3: malformed address '0xnope'" in err


def test_token_given_by_address_with_decimals(tmp_path):
    # LPT's address with --decimals behaves as --token LPT (reads as the seed's token)
    d = tmp_path
    write_csv(d / "in.csv", ETHERSCAN_HEADER, [etherscan_row(1, DAY, user(1), BINANCE14, "7")])
    db = d / "t.duckdb"
    assert build(db, "--input", str(d / "in.csv"), "--token", LPT.upper().replace("0X", "0x")) == 0
    assert query(db, "select inflow from fct_netflow_daily_total") == [(Decimal("7"),)]
