"""End to end on the real files of tests/data/real, checked against independent computations in plain
Python (csv + Decimal) and pandas, never against the models' own output."""

from __future__ import annotations

import csv
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pandas as pd
import pytest
from conftest import PROJECT_ROOT, build, query, write_csv

from cexflow.cli import main as cexflow_main

USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
LPT = "0x58b6a8a3302369daec383334672404ee733ab239"
ETL_FILE = "erc20_token_transfers_blocks_12600000-12600050.csv"
LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"
BLOCK0_TIME = 1623202380  # block 12,600,000: 2021-06-09 01:33:00 UTC (about; SOURCE.md)


def seed_labels() -> dict[str, tuple[str, str]]:
    """address -> (exchange, wallet) from the project's label seed."""
    with open(PROJECT_ROOT / "seeds" / "exchange_wallets.csv", newline="") as fh:
        return {r["address"]: (r["exchange"], r["wallet"]) for r in csv.DictReader(fh) if r["chain"] == "ethereum"}


# --- the seed project's export format: the real LPT transfers of one Binance wallet -----------------------

@pytest.fixture(scope="module")
def lpt_wallet_db(tmp_path_factory, real_data):
    db = tmp_path_factory.mktemp("lpt") / "lpt.duckdb"
    assert build(db, "--input", str(real_data / LPT_FILE), "--method", "inclusive", "--window", "7",
                 "--z", "2.0") == 0
    return db


def seed_rows(real_data) -> list[dict]:
    with open(real_data / LPT_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    unique = {(r["hash"], r["from"].lower(), r["to"].lower(), Decimal(r["value_LPT"])): r for r in rows}
    return list(unique.values())


def utc_day(ts: str) -> date:
    return datetime.fromtimestamp(int(ts), UTC).date()


def test_wallet_view_follows_the_seed_rules(lpt_wallet_db, real_data):
    # The seed's rule, computed here from the raw file: a labelled wallet's inflow is what its address
    # receives, its outflow what it sends, per UTC day; netflow = inflow - outflow.
    labels = seed_labels()
    expected: dict = defaultdict(lambda: [Decimal(0), Decimal(0), 0, 0])
    for r in seed_rows(real_data):
        day, amount = utc_day(r["timeStamp"]), Decimal(r["value_LPT"])
        if r["to"].lower() in labels:
            e = expected[(day, r["to"].lower())]
            e[0] += amount
            e[2] += 1
        if r["from"].lower() in labels:
            e = expected[(day, r["from"].lower())]
            e[1] += amount
            e[3] += 1
    got = {(d, a): [i, o, ni, no] for d, a, i, o, n, ni, no in query(lpt_wallet_db, """
        select flow_date, wallet_address, inflow, outflow, netflow, n_inflows, n_outflows
        from fct_netflow_daily_by_wallet""")}
    assert got == {k: v for k, v in expected.items()}
    nets = query(lpt_wallet_db, "select count(*) from fct_netflow_daily_by_wallet where netflow <> inflow - outflow")
    assert nets == [(0,)]
    assert len(got) > 100  # the file has 198 transfers over four years


def test_inclusive_method_reproduces_the_seed_zscores(lpt_wallet_db, real_data):
    # The seed's method, in pandas, on the daily total computed here from the raw file: a deposit (unlabelled
    # -> labelled) adds, a withdrawal subtracts, transfers between labelled wallets cancel. The calendar is
    # complete (zero days are rows), as in the marts.
    labels = seed_labels()
    net: dict = defaultdict(Decimal)
    for r in seed_rows(real_data):
        frm, to = r["from"].lower() in labels, r["to"].lower() in labels
        sign = 1 if (to and not frm) else -1 if (frm and not to) else 0
        net[utc_day(r["timeStamp"])] += sign * Decimal(r["value_LPT"])
    days = pd.date_range(min(net), max(net), freq="D")
    series = pd.Series([float(net.get(d.date(), 0)) for d in days], index=days)
    win = 7
    mean = series.rolling(win, min_periods=max(3, win // 2)).mean()
    std = series.rolling(win, min_periods=max(3, win // 2)).std(ddof=0)
    expected = (series - mean) / std

    got = dict(query(lpt_wallet_db, "select flow_date, zscore from fct_netflow_zscores where series = 'total'"))
    assert len(got) == len(days)
    compared = 0
    for day, z in expected.items():
        mart_z = got[day.date()]
        if math.isfinite(z):
            assert mart_z == pytest.approx(z, rel=1e-9, abs=1e-9), day
            compared += 1
        else:
            assert mart_z is None, day
    assert compared > 50
    # the inclusive |z| can never exceed sqrt(window - 1)
    (max_abs,) = query(lpt_wallet_db, "select max(abs(zscore)) from fct_netflow_zscores")[0]
    assert max_abs <= math.sqrt(win - 1) + 1e-12


# --- ethereum-etl: every ERC-20 transfer of 51 real blocks -----------------------------------------------

@pytest.fixture(scope="module")
def blocks_csv(tmp_path_factory):
    # the file has no timestamps: blocks 12,600,000-12,600,050, about 13 s apart, all on 2021-06-09
    path = tmp_path_factory.mktemp("blocks") / "blocks.csv"
    return write_csv(path, ["number", "timestamp"],
                     [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])


@pytest.fixture(scope="module")
def usdt_db(tmp_path_factory, real_data, blocks_csv):
    db = tmp_path_factory.mktemp("usdt") / "usdt.duckdb"
    assert build(db, "--input", str(real_data / ETL_FILE), "--blocks", str(blocks_csv), "--token", "USDT",
                 "--labels", str(real_data / "exchange_labels_etherscan_2023-06.csv")) == 0
    return db


def test_usdt_flows_match_an_independent_count(usdt_db, real_data):
    with open(real_data / "exchange_labels_etherscan_2023-06.csv", newline="") as fh:
        exchange_of = {r["address"].lower(): r["exchange"] for r in csv.DictReader(fh)}
    with open(real_data / ETL_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    usdt = {(r["transaction_hash"], r["log_index"]): r for r in rows if r["token_address"].lower() == USDT}
    sums = defaultdict(Decimal)
    for r in usdt.values():
        amount = Decimal(r["value"]) / Decimal(10**6)  # Decimal division is exact here (6 places)
        a, b = exchange_of.get(r["from_address"].lower()), exchange_of.get(r["to_address"].lower())
        kind = ("deposit" if a is None else "withdrawal" if b is None else "internal" if a == b
                else "cross_exchange") if (a or b) else None
        if kind:
            sums[kind] += amount
            sums["n_" + kind] += 1
    assert sums["n_deposit"] > 0 and sums["n_withdrawal"] > 0

    total = query(usdt_db, """select cast(flow_date as varchar), inflow, outflow, internal_volume,
        cross_exchange_volume, n_deposits, n_withdrawals from fct_netflow_daily_total""")
    assert total == [("2021-06-09", sums["deposit"], sums["withdrawal"], sums["internal"],
                      sums["cross_exchange"], sums["n_deposit"], sums["n_withdrawal"])]
    reco = query(usdt_db, """select rows_read, transfers_kept, duplicate_rows, rejected_rows, other_token_rows
        from rpt_input_reconciliation""")
    assert reco == [(len(rows), len(usdt), 0, 0, len(rows) - len(usdt))]


def test_lpt_rows_of_the_etl_file(tmp_path, real_data, blocks_csv):
    # SOURCE.md: the file holds 2 LPT rows, one an outflow of 1.56924676 LPT from Binance wallet 0x21a31ee1…5549
    db = tmp_path / "lpt.duckdb"
    assert build(db, "--input", str(real_data / ETL_FILE), "--blocks", str(blocks_csv)) == 0
    assert query(db, "select sum(transfers_kept), sum(other_token_rows) from rpt_input_reconciliation") == [
        (2, 8815)]
    assert query(db, "select from_address, from_wallet, flow_type, amount from fct_exchange_transfers") == [
        ("0x21a31ee1afc51d94c2efccaa2092ad1028285549", "binance15", "withdrawal", Decimal("1.56924676"))]


def test_etl_file_without_times_needs_a_blocks_file(real_data, capsys):
    assert cexflow_main(["build", "--input", str(real_data / ETL_FILE)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert ETL_FILE in err and "--blocks" in err


# --- a recorded Etherscan API V2 tokentx response: 5 real USDC transfers of one address ------------------

def test_a_recorded_api_page_builds_and_matches_its_rows(tmp_path, real_data):
    # the recording wraps the API's body with its request; the body is what `cexflow fetch` saves as a page
    recorded = json.loads((real_data / "etherscan_v2_responses" / "tokentx_page_with_rows.json").read_text())
    page = tmp_path / "page.json"
    page.write_text(json.dumps(recorded["body"]))
    wallet = parse_qs(urlparse(recorded["request_uri_without_key"]).query)["address"][0].lower()
    labels = write_csv(tmp_path / "labels.csv", ["address", "exchange"], [[wallet, "someexchange"]])
    db = tmp_path / "usdc.duckdb"
    assert build(db, "--input", str(page), "--token", "USDC", "--labels", str(labels)) == 0
    # independently: each row's value / 10^tokenDecimal, inflow when the wallet receives, per UTC day
    expected: dict = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for r in recorded["body"]["result"]:
        amount = Decimal(r["value"]) / Decimal(10) ** int(r["tokenDecimal"])
        expected[utc_day(r["timeStamp"])][0 if r["to"].lower() == wallet else 1] += amount
    rows = query(db, "select flow_date, inflow, outflow from fct_netflow_daily_by_exchange where inflow + outflow > 0")
    assert {d: [i, o] for d, i, o in rows} == dict(expected)
    assert query(db, "select sum(rows_read), sum(transfers_kept) from rpt_input_reconciliation") == [(5, 5)]


def test_the_recorded_empty_page_reads_as_no_rows(tmp_path, real_data, capsys):
    # Etherscan answers a wallet without transfers with status "0" and an empty result: no rows, no error
    recorded = json.loads((real_data / "etherscan_v2_responses" / "tokentx_empty_page.json").read_text())
    empty, page = tmp_path / "empty.json", tmp_path / "page.json"
    empty.write_text(json.dumps(recorded["body"]))
    rows = json.loads((real_data / "etherscan_v2_responses" / "tokentx_page_with_rows.json").read_text())
    page.write_text(json.dumps(rows["body"]))
    db = tmp_path / "usdc.duckdb"
    assert build(db, "--input", str(empty), "--input", str(page), "--token", "USDC") == 0
    assert query(db, "select sum(rows_read) from rpt_input_reconciliation") == [(5,)]
