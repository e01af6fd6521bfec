"""End to end on a hand-made set of files: every number below is worked out by hand in the comments.

The scenario (LPT, seed-project wallets; day 1 = 2025-01-01 UTC):
  day 1  t1 user1 -> binance14   100.5      deposit into binance
         t2 binance14 -> user2   40.25      withdrawal from binance (addresses in upper/mixed case)
         t3 binance14 -> binance20  1000    internal to binance (listed twice, as both wallets' exports do)
         t4 binance20 -> kraken_cold1  10   cross-exchange, binance -> kraken
         t5 user3 -> user4       5          touches no labelled wallet: not an exchange transfer
  day 2  nothing                            a zero day on the calendar
  day 3  t6 user1 -> coinbase10  1 wei      deposit into coinbase (exactness: 0.000000000000000001)
         t7 kraken_cold1 -> user5  3        withdrawal from kraken
Files: a_export.csv (Etherscan CSV: t1..t7 with t3 twice = 8 rows), b_page.json (an Etherscan API
response holding t1 again = 1 row), c_seed.csv (the seed's export format holding t7 again = 1 row).
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import (
    BINANCE14,
    BINANCE20,
    COINBASE10,
    ETHERSCAN_HEADER,
    KRAKEN1,
    build,
    etherscan_row,
    query,
    tx,
    user,
    write_csv,
)

DAY1 = 1735689600  # 2025-01-01 00:00:00 UTC
DAY3 = DAY1 + 2 * 86400


@pytest.fixture(scope="module")
def handmade_db(tmp_path_factory):
    d = tmp_path_factory.mktemp("handmade")
    t2 = etherscan_row(2, DAY1 + 3600, BINANCE14.upper().replace("0X", "0x"), user(2).upper(), "40.25")
    t3 = etherscan_row(3, DAY1 + 7200, BINANCE14, BINANCE20, "1000")
    t7 = etherscan_row(7, DAY3 + 60, KRAKEN1, user(5), "3")
    rows = [
        etherscan_row(1, DAY1 + 60, user(1), BINANCE14, "100.5"),
        t2, t3, t3,
        etherscan_row(4, DAY1 + 9000, BINANCE20, KRAKEN1, "10"),
        etherscan_row(5, DAY1 + 9600, user(3), user(4), "5"),
        etherscan_row(6, DAY3, user(1), COINBASE10, "0.000000000000000001"),
        t7,
    ]
    write_csv(d / "a_export.csv", ETHERSCAN_HEADER, rows)
    page = {"status": "1", "message": "OK", "result": [etherscan_row(1, DAY1 + 60, user(1), BINANCE14, "100.5")]}
    (d / "b_page.json").write_text(json.dumps(page))
    write_csv(d / "c_seed.csv", ["hash", "blockNumber", "timeStamp", "from", "to", "value_LPT", "exchange"],
              [[t7["hash"], t7["blockNumber"], t7["timeStamp"], KRAKEN1, user(5), "3", "kraken_cold1"]])
    db = d / "handmade.duckdb"
    assert build(db, "--input", str(d / "*.csv"), "--input", str(d / "b_page.json")) == 0
    return db


def test_total_by_day(handmade_db):
    rows = query(handmade_db, """
        select cast(flow_date as varchar), inflow, outflow, netflow, internal_volume, cross_exchange_volume,
               n_deposits, n_withdrawals
        from fct_netflow_daily_total order by flow_date""")
    assert rows == [
        ("2025-01-01", Decimal("100.5"), Decimal("40.25"), Decimal("60.25"), Decimal("1000"), Decimal("10"), 1, 1),
        ("2025-01-02", 0, 0, 0, 0, 0, 0, 0),
        ("2025-01-03", Decimal("1E-18"), Decimal("3"), Decimal("-2.999999999999999999"), 0, 0, 1, 1),
    ]


def test_by_exchange_on_a_complete_calendar(handmade_db):
    rows = query(handmade_db, """
        select cast(flow_date as varchar), exchange, inflow, outflow, netflow, internal_volume, n_deposits,
               n_withdrawals
        from fct_netflow_daily_by_exchange where inflow <> 0 or outflow <> 0 or internal_volume <> 0
        order by flow_date, exchange""")
    assert rows == [
        # binance: in 100.5; out 40.25 (user) + 10 (to kraken) = 50.25; the 1000 sweep is internal
        ("2025-01-01", "binance", Decimal("100.5"), Decimal("50.25"), Decimal("50.25"), Decimal("1000"), 1, 2),
        ("2025-01-01", "kraken", Decimal("10"), 0, Decimal("10"), 0, 1, 0),
        ("2025-01-03", "coinbase", Decimal("1E-18"), 0, Decimal("1E-18"), 0, 1, 0),
        ("2025-01-03", "kraken", 0, Decimal("3"), Decimal("-3"), 0, 0, 1),
    ]
    # 3 exchanges x 3 calendar days, zero rows included
    assert query(handmade_db, "select count(*) from fct_netflow_daily_by_exchange") == [(9,)]


def test_by_wallet_is_the_seed_projects_view(handmade_db):
    rows = query(handmade_db, """
        select cast(flow_date as varchar), wallet, inflow, outflow, netflow, n_inflows, n_outflows
        from fct_netflow_daily_by_wallet order by flow_date, wallet""")
    assert rows == [
        # binance14: in 100.5; out 40.25 + 1000 (the sweep is an outflow in the wallet view)
        ("2025-01-01", "binance14", Decimal("100.5"), Decimal("1040.25"), Decimal("-939.75"), 1, 2),
        ("2025-01-01", "binance20", Decimal("1000"), Decimal("10"), Decimal("990"), 1, 1),
        ("2025-01-01", "kraken_cold1", Decimal("10"), 0, Decimal("10"), 1, 0),
        ("2025-01-03", "coinbase10", Decimal("1E-18"), 0, Decimal("1E-18"), 1, 0),
        ("2025-01-03", "kraken_cold1", 0, Decimal("3"), Decimal("-3"), 0, 1),
    ]


def test_exchange_transfers_are_classified_and_deduplicated(handmade_db):
    rows = query(handmade_db, """
        select tx_hash, flow_type, amount, from_exchange, to_exchange, source_file like '%a_export.csv'
        from fct_exchange_transfers order by transferred_at""")
    assert rows == [
        (tx(1), "deposit", Decimal("100.5"), None, "binance", True),
        (tx(2), "withdrawal", Decimal("40.25"), "binance", None, True),
        (tx(3), "internal", Decimal("1000"), "binance", "binance", True),
        (tx(4), "cross_exchange", Decimal("10"), "binance", "kraken", True),
        (tx(6), "deposit", Decimal("1E-18"), None, "coinbase", True),
        (tx(7), "withdrawal", Decimal("3"), "kraken", None, True),
    ]
    # amounts stay exact decimals all the way
    assert query(handmade_db, """select data_type from information_schema.columns
        where table_name = 'fct_exchange_transfers' and column_name = 'amount'""") == [("DECIMAL(38,18)",)]


def test_rows_reconcile_per_file(handmade_db):
    rows = query(handmade_db, """
        select regexp_extract(source_file, '[^/]+$'), source_format, rows_read, transfers_kept, duplicate_rows,
               rejected_rows, other_token_rows
        from rpt_input_reconciliation order by source_file""")
    assert rows == [
        # 8 rows: t1..t7 kept, the second t3 a duplicate
        ("a_export.csv", "etherscan_csv", 8, 7, 1, 0, 0),
        # t1 again, kept from a_export.csv (the first file by name)
        ("b_page.json", "etherscan_json", 1, 0, 1, 0, 0),
        # t7 again, in the seed's format: the same transfer across formats counts once
        ("c_seed.csv", "seed_export", 1, 0, 1, 0, 0),
    ]
    assert query(handmade_db, "select count(*) from stg_transfers_rejected") == [(0,)]
