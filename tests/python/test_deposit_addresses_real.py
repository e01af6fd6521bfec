"""What deposit inference finds on the real files of tests/data/real (SOURCE.md), with a few addresses checked by
hand against the raw rows read here in plain Python (csv), never against the models' own output.

- The ethereum-etl file (every ERC-20 transfer of blocks 12,600,000-12,600,050, about eleven minutes of
  2021-06-09), with the 2023 Etherscan exchange labels and every token of seeds/tokens.csv: 44 deposit addresses,
  each receiving a token and sweeping it, the same amount, into one exchange's labelled wallet minutes later.
  By hand, in the raw rows (amounts are USDT, 6 decimals):
    0xa9526d3e... receives 1,999,900 USDT from 0xed150d5e... at block 12,600,032 and sends 1,999,900 to
      0x2faf487a... (labelled ftx) at block 12,600,040, eight blocks (about 1.7 minutes) later; nothing else.
    0x888f43c5... receives 304,355.3392 USDT from 0xc7807e24... at block 12,600,007 and sends the same to
      Huobi 27 (0xeee28d48...) at block 12,600,046. In the same block it also receives 4.5 STORJ (0xb64ef51c...,
      not a token of seeds/tokens.csv, so not in the build) and sends them to another Huobi wallet (Huobi: Old
      Address 10) at block 12,600,047: one deposit address for two tokens, as the rule expects.
    0xe6de1d9e... receives 31,780 USDT from 0xe59cd29b... at block 12,600,023 and sends it to Coinbase 10
      (0x3cd751e6...) at block 12,600,046. 0xe59cd29b... is labelled KuCoin: a withdrawal from KuCoin straight
      into a Coinbase deposit address, which is cross_exchange (KuCoin's outflow, Coinbase's inflow) at block
      12,600,023, where without inference it was a KuCoin withdrawal and, 23 blocks later, a Coinbase deposit.
  Each is the pattern of an exchange deposit address: one receipt, one transfer of exactly that amount to
  one exchange's wallet, minutes later, nothing else in the build's tokens. No consolidation wallet is found
  in eleven minutes.
- The seed project's LPT export (the transfers in and out of Binance wallet 0xf977... only): no deposit address,
  as a fetch of the labelled wallets shows the sweeps but not the deposits. Two senders into the wallet also
  received from it, and by hand are not deposit addresses: 0x505f8c2e... received 250,000 LPT from 0xf977... on
  2021-06-17 and sent 3,587 back on 2022-01-31 (a withdrawal sent back, seven months later, 1.4 % of it);
  0x6a23f494... sent twelve transfers (135,956 LPT) to 0xf977... from 2023-01 to 2025-09 and received 100,000
  from it on 2024-09-19 (its first transfers out have no receipt before them in the file, and it received from
  the exchange it sends to). Both received in the file, so the summary counts no sender it cannot see receive.
"""

from __future__ import annotations

import csv
from decimal import Decimal

import pytest
from conftest import build, query, write_csv

ETL_FILE = "erc20_token_transfers_blocks_12600000-12600050.csv"
LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"
LABELS_FILE = "exchange_labels_etherscan_2023-06.csv"
BLOCK0_TIME = 1623202380
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
BINANCE20 = "0xf977814e90da44bfa03b6295a0616a897441acec"

HAND_CHECKED = {  # deposit address -> (exchange, its sweep's receiver, raw USDT amount)
    "0xa9526d3ef7909916fd9d5e95507fd27d2aacf734":
        ("ftx", "0x2faf487a4414fe77e2327f0bf4ae2a264a776ad2", 1_999_900_000_000),
    "0x888f43c5b4ecc2fe0fc0ae0b689143fdc1dde2c7":
        ("huobi", "0xeee28d484628d41a82d01e21d12e2e78d69920da", 304_355_339_200),
    "0xe6de1d9ef9753a64d71f637f8ea6c09a3b3bdb14":
        ("coinbase", "0x3cd751e6b0078be393132286c442345e5dc49699", 31_780_000_000),
}


@pytest.fixture(scope="module")
def etl_db(tmp_path_factory, real_data):
    d = tmp_path_factory.mktemp("etl-deposits")
    blocks = write_csv(d / "blocks.csv", ["number", "timestamp"],
                       [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])
    db = d / "etl.duckdb"
    assert build(db, "--input", str(real_data / ETL_FILE), "--blocks", str(blocks), "--token", "all",
                 "--labels", str(real_data / LABELS_FILE)) == 0
    return db


def test_deposit_addresses_of_eleven_real_minutes(etl_db):
    by_exchange = dict(query(etl_db, "select exchange, count(*) from dim_exchange_addresses "
                                     "where is_inferred and address_kind = 'deposit' group by 1"))
    assert by_exchange == {"coinbase": 19, "ftx": 9, "huobi": 9, "kraken": 5, "gemini": 1, "bitfinex": 1}
    assert query(etl_db, "select count(*) from dim_exchange_addresses "
                         "where is_inferred and address_kind = 'wallet'") == [(0,)]
    # each swept once, within the eleven minutes, all it received
    assert query(etl_db, "select sum(n_sweeps), bool_and(amount_swept = amount_received), "
                         "max(longest_sweep_hours) < 0.2 from dim_exchange_addresses where is_inferred"
                 ) == [(44, True, True)]
    assert query(etl_db, "select count(*) from fct_exchange_transfers where flow_type = 'sweep'") == [(44,)]


def test_three_deposit_addresses_checked_by_hand(etl_db, real_data):
    with open(real_data / ETL_FILE, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["token_address"] == USDT
                and (r["from_address"] in HAND_CHECKED or r["to_address"] in HAND_CHECKED)]
    with open(real_data / LABELS_FILE, newline="") as fh:
        labels = {r["address"].lower(): r["exchange"].lower() for r in csv.DictReader(fh)}
    for address, (exchange, receiver, value) in HAND_CHECKED.items():
        received = [r for r in rows if r["to_address"] == address]
        sent = [r for r in rows if r["from_address"] == address]
        # one receipt and one transfer out, of the same USDT amount, the transfer out later, to the exchange
        assert len(received) == 1 and len(sent) == 1, address
        assert int(received[0]["value"]) == int(sent[0]["value"]) == value
        assert int(received[0]["block_number"]) < int(sent[0]["block_number"])
        assert sent[0]["to_address"] == receiver and labels[receiver] == exchange and address not in labels
        # ... and the build found it, and counts the receipt as the deposit, from its sender (a transfer from
        # another exchange's wallet into it: cross_exchange), the sweep as a sweep
        assert query(etl_db, "select exchange, address_kind from dim_exchange_addresses "
                             f"where address = '{address}'") == [(exchange, "deposit")]
        flows = query(etl_db, f"select flow_type, from_address, to_exchange, amount from fct_exchange_transfers "
                              f"where from_address = '{address}' or to_address = '{address}' order by block_number")
        amount = Decimal(value) / 10**6
        into = "cross_exchange" if received[0]["from_address"] in labels else "deposit"
        assert flows == [(into, received[0]["from_address"], exchange, amount),
                         ("sweep", address, exchange, amount)]


def test_the_binance_wallet_export_shows_no_deposit_address(tmp_path, real_data):
    db = tmp_path / "lpt.duckdb"
    assert build(db, "--input", str(real_data / LPT_FILE)) == 0
    assert query(db, "select count(*) from dim_exchange_addresses where is_inferred") == [(0,)]
    with open(real_data / LPT_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    for sender in ("0x505f8c2ee81f1c6fa0d88e918ef0491222e05818", "0x6a23f4940bd5ba117da261f98aae51a8bffa210a"):
        # by hand: it sends to the Binance wallet and also received from it (a withdrawal)
        assert any(r["from"].lower() == BINANCE20 and r["to"].lower() == sender for r in rows)
        assert any(r["from"].lower() == sender and r["to"].lower() == BINANCE20 for r in rows)
    # every sender of its inflow also received in the file, so none is unseen; no inflow at a deposit address
    assert query(db, "select inflow_at_deposit_addresses, n_deposit_addresses_inferred from rpt_build_summary"
                 ) == [(Decimal(0), 0)]
