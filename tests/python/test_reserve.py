"""The exchange reserve (fct_exchange_reserve_daily) against a local Etherscan imitation that knows every
wallet's true balance at every block (tests/python/fake_etherscan.py: genesis balances plus the transfers).

`cexflow fetch --balances` reads the anchors in the middle of a day, more transfers follow (some on the
anchor's own day, after its block), `cexflow fetch` downloads the transfers, and `cexflow build --balances`
must give, for every day, the true end-of-day balances exactly. The expectation is computed here
independently: each wallet's genesis balance plus the cumulative sum of its transfers day by day (received
minus sent), straight from the fake chain's list of transfers. A wallet that moved without an anchor is
reported, and its exchange's reserve left unknown, never filled in.
"""

from __future__ import annotations

import calendar
import csv
import random
import sys
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from conftest import build, query

sys.path.insert(0, str(Path(__file__).parent))

from fake_etherscan import LPT, ZERO, FakeChain, FakeEtherscan  # noqa: E402

from cexflow.cli import main as cli_main  # noqa: E402

KEY = "cexflowRESERVEkey5"
START, DAYS = date(2024, 1, 1), 6
MIDNIGHT = calendar.timegm(START.timetuple())
FIRST_BLOCK = 19_000_000
B0 = FIRST_BLOCK + 1000  # the block at 2024-01-01 00:00:00 UTC (12 s blocks)
PER_DAY = 86_400 // 12
ANCHOR = B0 + 3 * PER_DAY + PER_DAY // 2  # the head when the balances are read: noon of 2024-01-04
UNIT = 10**18

# labelled wallets: A, B of binance and C of kraken are anchored; D (kraken) and E (gate) move without one
A = ("0x28c6c06298d514db089934071355e5743bf21d60", "binance", "binance14")
B = ("0x21a31ee1afc51d94c2efccaa2092ad1028285549", "binance", "binance15")
C = ("0x22af984f13dfb5c80145e3f9ee1050ae5a5fb651", "kraken", "kraken_cold1")
D = ("0xc06f25517e906b7f9b4dec3c7889503bb00b3370", "kraken", "kraken_cold2")
E = ("0x0d0707963952f2fba59dd06f2b425ace40b492fe", "gate", "gate1")
ANCHORED, ALL = [A, B, C], [A, B, C, D, E]
GENESIS = {A[0]: 1_000_000 * UNIT + 1, B[0]: 250_000 * UNIT, C[0]: 75_000 * UNIT + 7, D[0]: 500_000 * UNIT,
           E[0]: 90_000 * UNIT}
GENESIS_SUPPLY = 30_000_000 * UNIT


def day_of(block: int) -> date:
    return START + timedelta(days=(block - B0) // PER_DAY)


def make_chain() -> FakeChain:
    """Six days of deposits and withdrawals of every wallet, an internal move A -> B, a cross-exchange move
    A -> C, a move of a wallet to itself, a mint, and transfers on the anchor's day on both sides of its block."""
    rng = random.Random(15)
    chain = FakeChain(first_block=FIRST_BLOCK, first_timestamp=MIDNIGHT - 12 * 1000, n_blocks=50_000)
    chain.genesis, chain.genesis_supply = dict(GENESIS), GENESIS_SUPPLY
    wallets = [w[0] for w in ALL]

    def user() -> str:
        return f"0x{rng.getrandbits(160):040x}"

    for day in range(DAYS):
        blocks = sorted(rng.sample(range(B0 + day * PER_DAY, B0 + (day + 1) * PER_DAY), 12))
        for i, block in enumerate(blocks):
            wallet = wallets[i % len(wallets)]
            amount = rng.randrange(10**15, 3_000 * UNIT)  # up to 18 decimals of digits
            if i % 3 == 0:
                chain.add(block, wallet, user(), amount)
            else:
                chain.add(block, user(), wallet, amount)
    chain.add(B0 + 100, A[0], B[0], 12_345 * UNIT + 5)  # internal to binance
    chain.add(B0 + PER_DAY + 7, A[0], C[0], 777 * UNIT)  # binance -> kraken
    chain.add(B0 + 2 * PER_DAY + 9, B[0], B[0], 10 * UNIT)  # to itself
    chain.add(B0 + 4 * PER_DAY + 3, ZERO, A[0], 50 * UNIT)  # a mint to A (after the anchor: not in the supply)
    chain.add(ANCHOR - 10, A[0], user(), 321 * UNIT + 9)  # the anchor's day, before its block
    chain.add(ANCHOR + 10, user(), A[0], 4_321 * UNIT + 3)  # ... and after it
    chain.add(ANCHOR + 20, C[0], user(), 11 * UNIT)
    return chain


def true_end_of_day_balances(chain: FakeChain) -> dict[tuple[str, date], Decimal]:
    """(wallet, day) -> the wallet's balance at the end of the day in token units: its genesis balance plus
    the cumulative sum of its received minus sent raw amounts, day by day."""
    moves: dict[tuple[str, date], int] = defaultdict(int)
    for row in chain.transfers:
        day = day_of(int(row["blockNumber"]))
        moves[row["to"], day] += int(row["value"])
        moves[row["from"], day] -= int(row["value"])
    balances = {}
    for address, _, _ in ALL:
        running = GENESIS[address]
        for n in range(DAYS):
            day = START + timedelta(days=n)
            running += moves[address, day]
            balances[address, day] = Decimal(running).scaleb(-18)
    return balances


def write_labels(path: Path, wallets) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["chain", "address", "exchange", "wallet"])
        writer.writerows(["ethereum", *w] for w in wallets)
    return path


@pytest.fixture
def fetched(tmp_path, monkeypatch):
    """The balances read at ANCHOR (labels A, B, C), then the six days' transfers of all five wallets."""
    chain = make_chain()
    fake = FakeEtherscan(chain, api_key=KEY, rate_limit=500, head=ANCHOR).start()
    monkeypatch.setenv("ETHERSCAN_API_KEY", KEY)
    api = ["--api-url", fake.url, "--rate", "400", "--timeout", "0.5"]
    try:
        balances = tmp_path / "balances.csv"
        assert cli_main(["fetch", "--balances", "--balances-out", str(balances),
                         "--labels", str(write_labels(tmp_path / "anchored.csv", ANCHORED)), *api]) == 0
        fake.head = chain.last_block  # the chain moves on after the read
        labels = write_labels(tmp_path / "labels.csv", ALL)
        end = START + timedelta(days=DAYS - 1)
        assert cli_main(["fetch", "--start", str(START), "--end", str(end), "--labels", str(labels),
                         "--out", str(tmp_path / "transfers"), "--page-size", "100", *api]) == 0
    finally:
        fake.stop()
    return chain, balances, labels, tmp_path / "transfers"


def test_fetched_anchors_rebuild_the_true_daily_reserve_and_report_the_wallet_without_one(fetched, tmp_path,
                                                                                          capsys):
    chain, balances, labels, transfers = fetched
    with open(balances, newline="") as fh:
        assert {row["block"] for row in csv.DictReader(fh)} == {str(ANCHOR)}
    db = tmp_path / "reserve.duckdb"
    capsys.readouterr()
    assert build(db, "--input", str(transfers / "*.csv"), "--labels", str(labels), "--balances", str(balances)) == 0
    assert ("exchange reserve for 1 exchange(s), unknown for 1 with a wallet that moved and has no balance "
            "anchor; 2 wallet(s) without one (rpt_wallets_without_balance_anchor)") in capsys.readouterr().out

    truth = true_end_of_day_balances(chain)
    days = [START + timedelta(days=n) for n in range(DAYS)]
    rows = query(db, "select flow_date, exchange, reserve, reserve_change, anchor_block, is_reserve_known, "
                     "n_wallets_without_anchor, supply, share_of_supply from fct_exchange_reserve_daily "
                     "order by exchange, flow_date")
    binance = [r for r in rows if r[1] == "binance"]
    assert [r[0] for r in binance] == days
    for flow_date, _, reserve, change, anchor_block, known, missing, supply, share in binance:
        expected = truth[A[0], flow_date] + truth[B[0], flow_date]
        assert reserve == expected, flow_date  # exact: Decimal against Decimal
        before = flow_date - timedelta(days=1)
        previous = (truth[A[0], before] + truth[B[0], before] if flow_date > START
                    else Decimal(GENESIS[A[0]] + GENESIS[B[0]]).scaleb(-18))
        assert change == expected - previous
        assert (anchor_block, known, missing) == (ANCHOR, True, 0)
        assert supply == Decimal(GENESIS_SUPPLY).scaleb(-18)  # the mint came after the anchor
        assert share == pytest.approx(float(expected) / float(supply), rel=1e-12)
    # kraken: C is anchored but D moved without an anchor, so its reserve is not guessed
    kraken = [r for r in rows if r[1] == "kraken"]
    assert len(kraken) == DAYS and all(r[2] is None and r[3] is None and r[5] is False and r[6] == 1 for r in kraken)
    assert {r[1] for r in rows} == {"binance", "kraken"}  # gate has no anchor at all: no row
    assert query(db, "select wallet_address, exchange, has_exchange_other_anchors "
                     "from rpt_wallets_without_balance_anchor order by exchange") == [
        (E[0], "gate", False), (D[0], "kraken", True)]
    # the wallet level, C included: the true balance of every day
    wallet_rows = query(db, "select wallet_address, flow_date, balance from int_wallet_reserve_daily")
    assert len(wallet_rows) == 3 * DAYS
    assert all(balance == truth[address, day] for address, day, balance in wallet_rows)
    assert query(db, "select count(*) from stg_balances_rejected") == [(0,)]


def test_date_anchors_given_by_hand_and_bad_balances_rows(fetched, tmp_path):
    """A balances file written by hand: date anchors (the balance at the end of 2024-01-02, from the truth
    above), no chain or token column but a kind, a row of another token (not ours: neither used nor
    rejected), and rows that cannot be used, each rejected with its line and reason."""
    chain, _, labels, transfers = fetched
    truth = true_end_of_day_balances(chain)
    anchor_day = START + timedelta(days=1)
    usdc = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
    lines = ["address,kind,balance,date,token"]
    lines += [f"{w[0]},wallet,{truth[w[0], anchor_day]:f},{anchor_day},LPT" for w in (A, B, C, D)]
    lines += [f"{E[0]},wallet,999,{anchor_day},{usdc}",  # another token's balance of E: not an anchor of E
              f"{E[0]},wallet,-1,{anchor_day},",  # line 7: negative
              f"{E[0]},wallet,12,5,{anchor_day},",  # line 8: a decimal comma, one field too many
              f"0x{'12' * 20},wallet,1,{anchor_day},",  # line 9: not a labelled wallet
              f"{E[0]},wallet,1,2024-02-30,",  # line 10: no such date
              f"{LPT},supply,30000000,{anchor_day},"]
    hand = tmp_path / "hand.csv"
    hand.write_text("\n".join(lines) + "\n")
    db = tmp_path / "hand.duckdb"
    assert build(db, "--input", str(transfers / "*.csv"), "--labels", str(labels), "--balances", str(hand)) == 0
    assert query(db, "select line_number, reason from stg_balances_rejected order by line_number") == [
        (7, "negative balance"), (8, "the row has more fields than the header"),
        (9, "the address is not a labelled exchange wallet on ethereum"), (10, "malformed date (want YYYY-MM-DD)")]
    rows = query(db, "select flow_date, exchange, reserve, anchor_block, anchor_date from fct_exchange_reserve_daily "
                     "order by exchange, flow_date")
    assert {r[1] for r in rows} == {"binance", "kraken"}
    for flow_date, exchange, reserve, anchor_block, anchor_date in rows:
        wallets = (A, B) if exchange == "binance" else (C, D)
        assert reserve == sum(truth[w[0], flow_date] for w in wallets), (exchange, flow_date)
        assert (anchor_block, anchor_date) == (None, anchor_day)
    assert query(db, "select wallet_address from rpt_wallets_without_balance_anchor") == [(E[0],)]


def test_without_balances_the_reserve_is_empty_and_every_moving_wallet_lacks_an_anchor(tmp_path):
    from conftest import BINANCE14, ETHERSCAN_HEADER, etherscan_row, user, write_csv

    day = calendar.timegm(date(2025, 3, 1).timetuple())
    rows = [etherscan_row(1, day, user(1), BINANCE14, "2"), etherscan_row(2, day + 86_400, BINANCE14, user(2), "1")]
    db = tmp_path / "none.duckdb"
    assert build(db, "--input", str(write_csv(tmp_path / "t.csv", ETHERSCAN_HEADER, rows))) == 0
    assert query(db, "select count(*) from fct_exchange_reserve_daily") == [(0,)]
    assert query(db, "select wallet_address, n_transfers from rpt_wallets_without_balance_anchor") == [(BINANCE14, 2)]


def test_a_balances_file_without_an_anchor_column_is_a_one_line_error(tmp_path, capsys):
    bad = tmp_path / "b.csv"
    bad.write_text("address,balance\n0x28c6c06298d514db089934071355e5743bf21d60,1\n")
    assert cli_main(["build", "--db", str(tmp_path / "x.duckdb"), "--balances", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (f"cexflow build: error: {bad}: a balances file needs columns address, balance and block or "
                   "date; missing block or date")


def test_block_times_are_utc_days():
    # the fixture's arithmetic, checked by hand: ANCHOR is noon of 2024-01-04
    assert datetime.fromtimestamp(MIDNIGHT - 12 * 1000 + 12 * (ANCHOR - FIRST_BLOCK), UTC) == datetime(
        2024, 1, 4, 12, tzinfo=UTC)
    assert day_of(ANCHOR) == date(2024, 1, 4)


def one_deposit_and_an_anchor(d: Path, balance: str, anchor_day: str) -> tuple[Path, Path]:
    """A transfer file of one deposit of 2 LPT into binance14 on 2025-03-01, and a balances file of a date
    anchor of binance14."""
    from conftest import BINANCE14, ETHERSCAN_HEADER, etherscan_row, user, write_csv

    day = calendar.timegm(date(2025, 3, 1).timetuple())
    transfers = write_csv(d / "t.csv", ETHERSCAN_HEADER, [etherscan_row(1, day, user(1), BINANCE14, "2")])
    balances = d / "b.csv"
    balances.write_text(f"address,balance,date\n{BINANCE14},{balance},{anchor_day}\n")
    return transfers, balances


def test_a_changed_balances_file_is_built_again(tmp_path, capsys):
    # the reserve is a plain table: a build with new anchors and the same transfers must run dbt again, not
    # say "nothing new" (the balances files' fingerprints are part of the build's settings)
    transfers, balances = one_deposit_and_an_anchor(tmp_path, "10", "2025-03-01")
    db = tmp_path / "again.duckdb"
    args = ["build", "--db", str(db), "--input", str(transfers), "--balances", str(balances)]
    assert cli_main(args) == 0
    assert "nothing new" not in capsys.readouterr().out
    assert cli_main(args) == 0
    assert "nothing new: the marts are up to date" in capsys.readouterr().out
    one_deposit_and_an_anchor(tmp_path, "12.5", "2025-03-01")
    assert cli_main(args) == 0
    assert "nothing new" not in capsys.readouterr().out
    assert query(db, "select reserve from fct_exchange_reserve_daily") == [(Decimal("12.5"),)]


def test_an_anchor_after_the_data_is_flagged_and_warned_about(tmp_path, capsys):
    # transfers on 2025-03-01 only, the balance read at the end of 2025-03-05: whatever moved on 03-02..03-05 is
    # not in the inputs, so the reserve (here the anchor, 10) is exact only if nothing did
    transfers, balances = one_deposit_and_an_anchor(tmp_path, "10", "2025-03-05")
    db = tmp_path / "late.duckdb"
    assert build(db, "--input", str(transfers), "--balances", str(balances)) == 0
    assert ("warning: the balance anchors of binance lie after the last transfer of the inputs: their reserve is "
            "exact only if no wallet moved in between") in capsys.readouterr().out
    assert query(db, "select reserve, is_anchored_after_data from fct_exchange_reserve_daily") == [
        (Decimal("10"), True)]


def test_the_latest_anchors_are_a_view_without_balances_files_and_a_table_with_them(tmp_path):
    # without balances files int_balance_anchors_latest stays a view of no rows, which Spark's planner sees is
    # empty, so the reserve's models read no transfers; with them a table, planned once (docs/scale.md). The same
    # database built without, with, then without again switches the relation's type each time, and the reserve
    # follows: 10 LPT anchored at the end of the deposit's day, then nothing
    transfers, balances = one_deposit_and_an_anchor(tmp_path, "10", "2025-03-01")
    db = tmp_path / "switch.duckdb"
    kind = ("select table_type from information_schema.tables "
            "where table_schema = 'main' and table_name = 'int_balance_anchors_latest'")
    assert build(db, "--input", str(transfers)) == 0
    assert query(db, kind) == [("VIEW",)]
    assert query(db, "select count(*) from fct_exchange_reserve_daily") == [(0,)]
    assert build(db, "--input", str(transfers), "--balances", str(balances)) == 0
    assert query(db, kind) == [("BASE TABLE",)]
    assert query(db, "select reserve from fct_exchange_reserve_daily") == [(Decimal("10"),)]
    assert build(db, "--input", str(transfers)) == 0
    assert query(db, kind) == [("VIEW",)]
    assert query(db, "select count(*) from fct_exchange_reserve_daily") == [(0,)]
