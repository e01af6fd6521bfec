"""Prices and balance anchors in a build of one token on two chains (LPT on Ethereum and on Arbitrum One), and what
a file's chain means for an incremental build. Every expected number is worked by hand in the comments from the
few transfers written here."""

from decimal import Decimal

import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, build, etherscan_row, query, user, write_csv

from cexflow.cli import main as cexflow_main

D1 = 1735689600 + 3600  # 2025-01-01 01:00 UTC
D2 = D1 + 86400  # 2025-01-02
LPT_ARB = "0x289ba1701c2f088cf0faf8b3705246331cb8a839"
ARB_BINANCE = "0xb38e8c17e38363af6ebdcb3dae12e0243582891d"  # seeds/exchange_wallets.csv, chain arbitrum
ARB_KUCOIN = "0xd6216fc19db775df9774a6e33526131da7d19a2c"


def arbitrum_row(n, ts, frm, to, amount):
    return {**etherscan_row(n, ts, frm, to, amount), "contractAddress": LPT_ARB}


@pytest.fixture(scope="module")
def two_chains(tmp_path_factory):
    d = tmp_path_factory.mktemp("two_chains")
    # Ethereum: 10 into Binance on day 1, 4 out of it on day 2. Arbitrum: 3 into Binance on day 1, 2 into KuCoin
    # on day 2. BINANCE14 is labelled on ethereum only, ARB_BINANCE on arbitrum only (the bundled labels).
    eth = write_csv(d / "eth.csv", ETHERSCAN_HEADER, [etherscan_row(1, D1, user(1), BINANCE14, "10"),
                                                      etherscan_row(2, D2, BINANCE14, user(2), "4")])
    arb = write_csv(d / "arb.csv", ETHERSCAN_HEADER, [arbitrum_row(3, D1, user(3), ARB_BINANCE, "3"),
                                                      arbitrum_row(4, D2, user(4), ARB_KUCOIN, "2")])
    prices = write_csv(d / "prices.csv", ["date", "chain", "token", "price_usd"], [
        ["2025-01-01", "ethereum", "LPT", "2.5"],
        ["2025-01-01", "arbitrum", "LPT", "2.6"],  # the symbol, on arbitrum: LPT_ARB
        ["2025-01-02", "", "LPT", "3"],  # no chain: the default chain's (ethereum)
        ["2025-01-02", "arbitrum", LPT_ARB, "3.1"],
        ["2025-01-02", "arbitrum", "USDC", "1"],  # a token not in the build: left alone
    ])
    balances = write_csv(d / "balances.csv", ["address", "balance", "date", "chain", "token"], [
        [BINANCE14, "100", "2025-01-02", "ethereum", "LPT"],
        [ARB_BINANCE, "50", "2025-01-02", "arbitrum", ""],  # no token: arbitrum's one token of the build
    ])
    db = d / "two.duckdb"
    assert build(db, "--input", str(eth), "--input", f"arbitrum={arb}", "--prices", str(prices),
                 "--balances", str(balances)) == 0
    return d, db, eth, arb


def test_usd_is_each_chains_amount_times_its_own_price(two_chains):
    _, db, _, _ = two_chains
    rows = query(db, "select chain, flow_date::varchar, inflow_usd, outflow_usd, netflow_usd "
                     "from fct_netflow_daily_total order by chain, flow_date")
    assert rows == [
        # arbitrum: 3 x 2.6 = 7.8 on day 1; 2 x 3.1 = 6.2 on day 2
        ("arbitrum", "2025-01-01", Decimal("7.8"), Decimal(0), Decimal("7.8")),
        ("arbitrum", "2025-01-02", Decimal("6.2"), Decimal(0), Decimal("6.2")),
        # ethereum: 10 x 2.5 = 25 in on day 1; 4 x 3 = 12 out on day 2
        ("ethereum", "2025-01-01", Decimal(25), Decimal(0), Decimal(25)),
        ("ethereum", "2025-01-02", Decimal(0), Decimal(12), Decimal(-12)),
    ]
    # the cross-chain view sums the two: day 1 25 + 7.8 in; day 2 6.2 in, 12 out
    assert query(db, "select flow_date::varchar, n_chains, inflow, outflow, inflow_usd, outflow_usd, netflow_usd "
                     "from fct_netflow_daily_cross_chain where symbol = 'LPT' order by flow_date") == [
        ("2025-01-01", 2, Decimal(13), Decimal(0), Decimal("32.8"), Decimal(0), Decimal("32.8")),
        ("2025-01-02", 2, Decimal(2), Decimal(4), Decimal("6.2"), Decimal(12), Decimal("-5.8")),
    ]
    # the USDC row is another token's, not a rejected row
    assert query(db, "select count(*) from stg_prices_rejected") == [(0,)]


def test_each_chains_reserve_rests_on_its_own_anchor(two_chains):
    _, db, _, _ = two_chains
    # ethereum Binance: 100 at the end of day 2, after -4 that day: 104 at the end of day 1. arbitrum Binance: 50
    # at the end of day 2, with no flow that day: 50 on both days. KuCoin on arbitrum has no anchor: no row.
    assert query(db, "select chain, exchange, flow_date::varchar, reserve from fct_exchange_reserve_daily "
                     "order by chain, exchange, flow_date") == [
        ("arbitrum", "binance", "2025-01-01", Decimal(50)),
        ("arbitrum", "binance", "2025-01-02", Decimal(50)),
        ("ethereum", "binance", "2025-01-01", Decimal(104)),
        ("ethereum", "binance", "2025-01-02", Decimal(100)),
    ]
    assert query(db, "select chain, exchange, wallet_address from rpt_wallets_without_balance_anchor") == [
        ("arbitrum", "kucoin", ARB_KUCOIN)]


def test_a_row_without_a_token_on_a_chain_of_several_tokens_is_rejected(two_chains, tmp_path):
    d, _, eth, _ = two_chains
    prices = write_csv(tmp_path / "prices.csv", ["date", "chain", "token", "price_usd"],
                       [["2025-01-01", "ethereum", "", "2.5"], ["2025-01-01", "ethereum", "LPT", "2.5"]])
    db = tmp_path / "two_tokens.duckdb"
    assert build(db, "--input", str(eth), "--token", "LPT", "--token", "USDC", "--prices", str(prices)) == 0
    assert query(db, "select line_number, reason from stg_prices_rejected") == [
        (2, "no token given, and the build has several tokens on ethereum: name the token")]
    assert query(db, "select count(*) from int_prices_daily") == [(1,)]


def test_a_file_given_on_another_chain_is_a_changed_file(two_chains, tmp_path, capsys):
    _, _, eth, arb = two_chains
    db = tmp_path / "again.duckdb"
    first = ["build", "--db", str(db), "--chain", "arbitrum", "--input", f"ethereum={eth}"]
    assert cexflow_main([*first, "--input", str(arb)]) == 0
    capsys.readouterr()
    # the same files and tokens (LPT on both chains), the Arbitrum file now given as ethereum's: it was loaded as
    # arbitrum, so the build starts over, and its rows (LPT of Arbitrum's address) are of another token there
    assert cexflow_main([*first, "--input", f"ethereum={arb}"]) == 0
    out = capsys.readouterr().out
    assert f"full build ({arb} changed or is no longer an input)" in out
    assert query(db, "select chain, count(*) from fct_exchange_transfers group by chain") == [("ethereum", 2)]
    assert query(db, f"select other_token_rows from rpt_input_reconciliation where source_file = '{arb}'") == [(2,)]


def test_an_unknown_chain_prefix_is_a_one_line_error(tmp_path, capsys):
    path = write_csv(tmp_path / "in.csv", ETHERSCAN_HEADER, [etherscan_row(1, D1, user(1), BINANCE14, "1")])
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), "--input", f"solana={path}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith(f"cexflow build: error: --input solana={path}: unknown chain 'solana' (known: arbitrum, ")
