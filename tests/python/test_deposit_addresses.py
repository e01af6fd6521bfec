"""Deposit addresses end to end (docs/deposit_addresses.md): on a small whole-token history made here, with every
number worked by hand, a deposit counts at the deposit address on its own day with its depositor, the sweep is
no flow, the reserve holds what is deposited and not swept, an incremental build that learns of a deposit address
from a new file equals a full build, and --no-deposit-inference gives the view before inference."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from conftest import BINANCE14, COINBASE10, KRAKEN1, build, etherscan_row, query, user, write_csv

from cexflow.cli import main

DEPOSIT = user(9001)  # a Binance deposit address
DEPOSITOR = user(9002)
WHALE = user(9003)  # a market maker on two exchanges
FORWARDER = user(9004)  # forwards part of what it gets
CONSOLIDATION = user(9005)  # Kraken's unlabelled consolidation wallet
BEHIND = [user(9010 + i) for i in range(3)]  # Kraken deposit addresses that sweep into it
DAY = datetime(2025, 3, 3, tzinfo=UTC)


def at(days: float, hours: float = 0) -> int:
    return int(DAY.timestamp() + days * 86_400 + hours * 3_600)


def first_day_rows(binance: str = BINANCE14, kraken: str = KRAKEN1, coinbase: str = COINBASE10) -> list[dict]:
    """The first day's transfers, into the given wallets of Binance, Kraken and Coinbase (the seed's by default)."""
    return [
        # the depositor sends 100 to its Binance deposit address at 22:00 on 03-03 ...
        etherscan_row("d1", at(0, 22), DEPOSITOR, DEPOSIT, "100"),
        # a market maker sends to Binance and to Kraken: never a deposit address
        etherscan_row("w0", at(0, 1), user(1), WHALE, "50"),
        etherscan_row("w1", at(0, 2), WHALE, binance, "25"),
        etherscan_row("w2", at(0, 3), WHALE, kraken, "25"),
        # a wallet that forwards 40 of 100 to Coinbase: amounts do not match
        etherscan_row("f0", at(0, 4), user(2), FORWARDER, "100"),
        etherscan_row("f1", at(0, 5), FORWARDER, coinbase, "40"),
        # three Kraken deposit addresses sweep 10, 20, 30 into a consolidation wallet, which forwards 60
        *[etherscan_row(f"k{i}", at(0, 6 + i), user(20 + i), address, str(10 * (i + 1)))
          for i, address in enumerate(BEHIND)],
        *[etherscan_row(f"s{i}", at(0, 10), address, CONSOLIDATION, str(10 * (i + 1)))
          for i, address in enumerate(BEHIND)],
        etherscan_row("c1", at(0, 12), CONSOLIDATION, kraken, "60"),
    ]


def second_day_rows(binance: str = BINANCE14) -> list[dict]:
    # ... and Binance sweeps it into its hot wallet at 02:00 on 03-04, after midnight
    return [etherscan_row("d2", at(1, 2), DEPOSIT, binance, "100"),
            etherscan_row("x1", at(1, 3), user(3), user(4), "1")]


HEADER = list(etherscan_row("h", 0, user(0), user(0), "1"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("deposits")
    return (write_csv(d / "a_first_day.csv", HEADER, first_day_rows()),
            write_csv(d / "b_second_day.csv", HEADER, second_day_rows()))


@pytest.fixture(scope="module")
def full_db(tmp_path_factory, files):
    db = tmp_path_factory.mktemp("full") / "full.duckdb"
    assert build(db, "--input", str(files[0]), "--input", str(files[1])) == 0
    return db


def test_the_deposit_addresses_found(full_db):
    rows = query(full_db, "select address, exchange, address_kind, label_source, consolidation_wallet_address, "
                          "n_sweeps, amount_received, amount_swept from dim_exchange_addresses where is_inferred "
                          "order by exchange, address_kind, address")
    expected = [(DEPOSIT, "binance", "deposit", "inferred", None, 1, Decimal(100), Decimal(100))]
    expected += sorted((a, "kraken", "deposit", "inferred", CONSOLIDATION, 1, Decimal(10 * (i + 1)),
                        Decimal(10 * (i + 1))) for i, a in enumerate(BEHIND))
    expected += [(CONSOLIDATION, "kraken", "wallet", "inferred consolidation wallet", None, 1, Decimal(60),
                  Decimal(60))]
    assert rows == expected


def test_a_deposit_counts_on_its_own_day_with_its_depositor(full_db):
    by_type = dict(query(full_db, "select flow_type, count(*) from fct_exchange_transfers group by 1"))
    # deposits: d1 into the deposit address, w1 and w2 (the market maker's), f1, the three into Kraken's
    # deposit addresses; sweeps: d2 and the three into the consolidation wallet; internal: c1
    assert by_type == {"deposit": 7, "sweep": 4, "internal": 1}
    binance = query(full_db, "select flow_date, inflow, n_deposits, n_depositing_addresses, internal_volume "
                             "from fct_netflow_daily_by_exchange where exchange = 'binance' order by 1")
    # 03-03: d1 (100, from the depositor) and w1 (25, the market maker); 03-04: the sweep, internal only
    assert binance == [(date(2025, 3, 3), Decimal(125), 2, 2, Decimal(0)),
                       (date(2025, 3, 4), Decimal(0), 0, 0, Decimal(100))]
    kraken = query(full_db, "select inflow, internal_volume, n_depositing_addresses "
                            "from fct_netflow_daily_by_exchange where exchange = 'kraken' and flow_date = '2025-03-03'")
    # w2 25 + 10 + 20 + 30 from four depositors; sweeps 60 into the consolidation wallet and 60 on to Kraken
    assert kraken == [(Decimal(85), Decimal(120), 4)]


def test_an_exchanges_deposit_addresses_are_one_wallet_a_day(full_db):
    # by hand from first_day_rows: Kraken's three deposit addresses receive 10, 20 and 30 and sweep them into the
    # consolidation wallet, all on 03-03: one row, inflow 60 in 3, outflow 60 in 3, not a row per address
    rows = query(full_db, "select flow_date, wallet, wallet_address, inflow, outflow, n_inflows, n_outflows "
                          "from fct_netflow_daily_by_wallet where exchange = 'kraken' and wallet like '%deposit%'")
    assert rows == [(date(2025, 3, 3), "kraken deposit addresses", "kraken deposit addresses", Decimal(60),
                     Decimal(60), 3, 3)]
    listed = ", ".join(f"'{a}'" for a in BEHIND)
    assert query(full_db, f"select count(*) from fct_netflow_daily_by_wallet where wallet_address in ({listed})") \
        == [(0,)]


def test_inference_off_counts_at_the_sweep(tmp_path, files):
    db = tmp_path / "off.duckdb"
    assert build(db, "--input", str(files[0]), "--input", str(files[1]), "--no-deposit-inference") == 0
    assert query(db, "select count(*) from dim_exchange_addresses where is_inferred") == [(0,)]
    binance = query(db, "select flow_date, inflow from fct_netflow_daily_by_exchange where exchange = 'binance' "
                        "order by 1")
    assert binance == [(date(2025, 3, 3), Decimal(25)), (date(2025, 3, 4), Decimal(100))]


def test_a_label_files_deposit_address_is_taken_as_given(tmp_path, files):
    labels = write_csv(tmp_path / "labels.csv", ["address", "exchange", "kind"],
                       [[BINANCE14, "binance", "wallet"], [KRAKEN1, "kraken", ""], [COINBASE10, "coinbase", ""],
                        [FORWARDER, "coinbase", "deposit"]])
    db = tmp_path / "given.duckdb"
    assert build(db, "--input", str(files[0]), "--input", str(files[1]), "--labels", str(labels),
                 "--no-deposit-inference") == 0
    assert query(db, "select address, address_kind, is_inferred from dim_exchange_addresses "
                     "where address_kind = 'deposit'") == [(FORWARDER, "deposit", False)]
    # f0 (100) is a deposit of coinbase at the deposit address; f1 (40) its sweep
    assert query(db, "select flow_type, amount from fct_exchange_transfers where to_exchange = 'coinbase' "
                     "order by amount") == [("sweep", Decimal(40)), ("deposit", Decimal(100))]
    bad = write_csv(tmp_path / "bad.csv", ["address", "exchange", "kind"], [[BINANCE14, "binance", "hot"]])
    assert main(["build", "--db", str(tmp_path / "bad.duckdb"), "--labels", str(bad)]) != 0


def test_the_reserve_holds_what_is_deposited_and_not_swept(tmp_path, files):
    balances = write_csv(tmp_path / "balances.csv", ["address", "balance", "date"],
                         [[BINANCE14, "1000", "2025-03-02"]])
    db = tmp_path / "reserve.duckdb"
    assert build(db, "--input", str(files[0]), "--input", str(files[1]), "--balances", str(balances)) == 0
    # the hot wallet: 1000, +25 (w1) on 03-03, +100 (the sweep) on 03-04; the deposit address: +100 on 03-03,
    # -100 on 03-04. The reserve moves with the netflow, at the deposit.
    rows = query(db, "select flow_date, reserve, reserve_change, deposits_not_swept from fct_exchange_reserve_daily "
                     "where exchange = 'binance' order by 1")
    assert rows == [(date(2025, 3, 3), Decimal(1125), Decimal(125), Decimal(100)),
                    (date(2025, 3, 4), Decimal(1125), Decimal(0), Decimal(0))]


MARTS = {
    "fct_exchange_transfers": "transfer_id",
    "fct_netflow_daily_by_wallet": "flow_date, wallet_address",
    "fct_netflow_daily_by_exchange": "flow_date, exchange",
    "fct_netflow_daily_total": "flow_date",
    "dim_exchange_addresses": "address",
    "int_daily_flows": "flow_date, wallet_address, direction, flow_type",
}


def table(db, name: str, key: str) -> list[tuple]:
    columns = [c for (c,) in query(db, f"select column_name from information_schema.columns where table_name = "
                                       f"'{name}' order by ordinal_position") if c != "loaded_in_run"]
    return query(db, f"select {', '.join(columns)} from {name} order by {key}")


def test_an_incremental_build_that_learns_of_a_deposit_address_equals_a_full_build(tmp_path, files, full_db,
                                                                                    capsys):
    # the first day alone: the deposit address has not swept, so d1 touches no exchange address
    db = tmp_path / "incremental.duckdb"
    assert build(db, "--input", str(files[0])) == 0
    assert query(db, f"select count(*) from fct_exchange_transfers where to_address = '{DEPOSIT}'") == [(0,)]
    capsys.readouterr()
    # the second day's file makes it a deposit address: d1, of the first run, becomes a deposit on 03-03
    assert build(db, "--input", str(files[0]), "--input", str(files[1])) == 0
    assert "incremental build (1 new file(s))" in capsys.readouterr().out
    for name, key in MARTS.items():
        assert table(db, name, key) == table(full_db, name, key), name


LATE_DEPOSIT = user(9020)  # a deposit address of a later file, alone on its first day


def test_an_incremental_build_that_rules_out_deposit_addresses_equals_a_full_build(tmp_path, files, capsys):
    # a third file: LATE_DEPOSIT receives 70 at 22:00 on 03-08 (the day's one transfer) and sweeps it into
    # Binance at 02:00 on 03-09, which makes it a deposit address
    late = write_csv(tmp_path / "c_late_deposit.csv", HEADER,
                     [etherscan_row("e1", at(5, 22), user(6), LATE_DEPOSIT, "70"),
                      etherscan_row("e2", at(6, 2), LATE_DEPOSIT, BINANCE14, "70")])
    # a fourth: both deposit addresses send to a user, which rules them out (a deposit address sends only to its
    # exchange): d1 and e1 touch no exchange address any more, so 03-08 has no exchange transfer left; d2 and e2
    # are deposits into Binance's wallet from the addresses
    ruled_out = write_csv(tmp_path / "d_ruled_out.csv", HEADER,
                          [etherscan_row("r1", at(7, 1), DEPOSIT, user(5), "1"),
                           etherscan_row("r2", at(7, 2), LATE_DEPOSIT, user(5), "1")])
    inputs = [files[0], files[1], late, ruled_out]
    db = tmp_path / "incremental.duckdb"
    for n in (2, 3, 4):
        assert build(db, *[a for path in inputs[:n] for a in ("--input", str(path))]) == 0
        assert ("full build (new database)" if n == 2 else "incremental build (1 new file(s))") \
            in capsys.readouterr().out
        if n == 3:  # the third file made LATE_DEPOSIT a deposit address: e1 is a deposit on 03-08
            assert query(db, "select flow_type, amount from fct_exchange_transfers "
                             "where flow_date = '2025-03-08'") == [("deposit", Decimal(70))]
            assert query(db, "select address_kind from dim_exchange_addresses "
                             f"where address = '{LATE_DEPOSIT}'") == [("deposit",)]
        if n == 4:  # the fourth ruled both out: the run reclassified their transfers d1, d2, e1, e2, r1 and r2
            assert query(db, "select flow_date from int_transfers_reclassified order by 1") == [
                (date(2025, 3, 3),), (date(2025, 3, 4),), (date(2025, 3, 8),), (date(2025, 3, 9),),
                (date(2025, 3, 10),), (date(2025, 3, 10),)]
    full = tmp_path / "full.duckdb"
    assert build(full, *[a for path in inputs for a in ("--input", str(path))]) == 0
    assert query(full, "select count(*) from dim_exchange_addresses "
                       f"where address in ('{DEPOSIT}', '{LATE_DEPOSIT}')") == [(0,)]
    assert query(full, "select count(*) from fct_exchange_transfers where flow_date = '2025-03-08'") == [(0,)]
    assert query(full, "select flow_type, amount from fct_exchange_transfers "
                       f"where from_address in ('{DEPOSIT}', '{LATE_DEPOSIT}') and to_address = '{BINANCE14}' "
                       "order by amount") == [("deposit", Decimal(70)), ("deposit", Decimal(100))]
    for name, key in MARTS.items():
        assert table(db, name, key) == table(full, name, key), name
