"""Many tokens and chains in one build (issue 15, item 1), end to end.

- The real 51-block ethereum-etl file (tests/data/real) built once with `--token USDT --token USDC` holds, for
  each token, the tables of that token's own build, row for row: every value exactly (amounts are Decimals),
  but floating-point ones (z-scores, baselines, ratios) to 1e-12 of their size, since the order in which a
  window adds doubles may change; the few columns that are the build's rather than the token's are named
  below (BY_DESIGN), and checked against the file with csv + Decimal instead. The same holds for each chain
  of the two-chain build below against that chain's own build (its 86 or 90 days of z-scores and anomalies).
- A hand-made LPT history on Ethereum and Arbitrum One (`two_chain_history`, a deterministic generator in this
  module: an Etherscan CSV for Ethereum, an ethereum-etl file for Arbitrum, a label file with a `chain`
  column, a prices file) built as `--input ETH --input arbitrum=ARB --labels LABELS --token LPT`: both chains'
  daily marts and the cross-chain marts equal an independent computation in pandas and Decimal from the
  generated transfers (never from the models' output); bridge moves are in no flow; each chain has its own
  calendar.
- One-line errors naming the option or file, and `--token all` against the tokens pandas finds in the files.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import math
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import PROJECT_ROOT, build, query, user, write_csv
from test_readme_queries import readme_queries, shell_rows

from cexflow.cli import main as cexflow_main

ETL_FILE = "erc20_token_transfers_blocks_12600000-12600050.csv"
LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"  # the seed project's export format: no token column
LABELS_FILE = "exchange_labels_etherscan_2023-06.csv"
BLOCK0_TIME = 1623202380  # block 12,600,000 (tests/data/real/SOURCE.md); the blocks are about 13 s apart
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
USDC = "0xa0b86991c6218b36c1d19d4a2e9eb0ce3606eb48"
LPT_ETH = "0x58b6a8a3302369daec383334672404ee733ab239"
LPT_ARB = "0x289ba1701c2f088cf0faf8b3705246331cb8a839"
USDC_ARB = "0xaf88d065e77c8cc2239327c5edb3a432268e5831"
ZERO = "0x" + "0" * 40
ATTO = Decimal("1e-18")


def seed_tokens() -> list[dict]:
    with open(PROJECT_ROOT / "seeds" / "tokens.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# --- the real ethereum-etl file: USDT and USDC in one build, each as in its own build -------------------

@pytest.fixture(scope="module")
def etl_options(tmp_path_factory, real_data) -> list[str]:
    blocks = write_csv(tmp_path_factory.mktemp("blocks") / "blocks.csv", ["number", "timestamp"],
                       [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])
    return ["--input", str(real_data / ETL_FILE), "--blocks", str(blocks), "--labels", str(real_data / LABELS_FILE)]


@pytest.fixture(scope="module")
def etl_builds(tmp_path_factory, etl_options) -> dict[str, Path]:
    """The file built three times: USDT alone, USDC alone (as references, without --full-check: a data test
    does not change a table), and both in one build (with every data test on whole tables)."""
    d = tmp_path_factory.mktemp("etl")
    dbs = {name: d / f"{name}.duckdb" for name in ("usdt", "usdc", "both")}
    assert cexflow_main(["build", "--db", str(dbs["usdt"]), *etl_options, "--token", "USDT"]) == 0
    assert cexflow_main(["build", "--db", str(dbs["usdc"]), *etl_options, "--token", "USDC"]) == 0
    assert build(dbs["both"], *etl_options, "--token", "USDT", "--token", "USDC") == 0
    return dbs


def token_tables(db: Path) -> dict[str, list[str]]:
    """Every table and view of the file with both a chain and a token_address column: name -> its columns."""
    rows = query(db, """
        select table_name, list(column_name order by ordinal_position)
        from information_schema.columns where table_schema = 'main'
        group by table_name
        having list_contains(list(column_name), 'chain') and list_contains(list(column_name), 'token_address')
        order by table_name""")
    return dict(rows)


# Columns that differ between a token's rows of the two-token build and of its own build, by design:
BY_DESIGN = {
    # the id of the dbt run that wrote the row: a run of its own in each build
    "*": {"loaded_in_run"},
    # the input's reconciliation and rejections are the build's (a file holds several tokens): the same on
    # every token's row, and checked against the file in test_the_build_wide_columns_are_the_files
    # and the deposit addresses and consolidation wallets inferred are the chain's, across the build's tokens
    # (an address's attribution holds per chain: docs/deposit_addresses.md), the same on each of its tokens' rows:
    # 38 here, 29 of them found in USDT's own build and 9 in USDC's; the flows at them are each token's own
    "rpt_build_summary": {"n_files", "rows_read", "transfers_kept", "duplicate_rows", "rejected_rows",
                          "other_token_rows", "n_rejected", "top_rejection_reason", "top_rejection_rows",
                          "n_deposit_addresses_inferred", "n_consolidation_wallets_inferred"},
    # (rpt_input_reconciliation, a row per file, has no token columns: it is the build's, and its USDC rows,
    # "other token" in USDT's own build, are kept in the two-token build: test_the_build_wide_columns_are_the_files)
    # how many tokens of the build are on the token's chain (a file without a token column needs one): 2 here
    "stg_tokens__selected": {"n_tokens_of_chain"},
}


def token_rows(db: Path, table: str, columns: list[str], chain: str, token: str) -> list[tuple]:
    """The token's rows of a table but the BY_DESIGN columns, sorted, the floating-point values last in each."""
    with duckdb.connect(str(db), read_only=True) as con:
        types = dict(con.execute(f"select column_name, data_type from information_schema.columns "
                                 f"where table_schema = 'main' and table_name = '{table}'").fetchall())
        kept = [c for c in columns if c not in BY_DESIGN["*"] | BY_DESIGN.get(table, set())]
        ordered = [c for c in kept if types[c] != "DOUBLE"] + [c for c in kept if types[c] == "DOUBLE"]
        rows = con.execute(f'select {", ".join(f"{chr(34)}{c}{chr(34)}" for c in ordered)} from "{table}" '
                           "where chain = ? and token_address = ?", [chain, token]).fetchall()
    n_exact = sum(1 for c in kept if types[c] != "DOUBLE")
    return sorted(((row[:n_exact], row[n_exact:]) for row in rows),
                  key=lambda row: tuple((value is None, str(value)) for value in row[0]))


def same_rows(got: list[tuple], expected: list[tuple]) -> bool:
    """Exact values equal; floating-point ones (z-scores, baselines, ratios: sums of doubles whose order a
    window may change) to 1e-12 of their size."""
    return len(got) == len(expected) and all(
        g[0] == e[0] and all(a == b or (a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12))
                             for a, b in zip(g[1], e[1], strict=True))
        for g, e in zip(got, expected, strict=True))


def assert_token_is_its_own_build(both: Path, alone: Path, chain: str, token: str) -> dict[str, int]:
    """Every table with chain and token_address columns holds the same rows of the token in `both` (a build of
    several tokens) as in `alone` (the token's own build), but for the BY_DESIGN columns; the rows compared per
    table."""
    tables = token_tables(both)
    assert tables == token_tables(alone)  # the same tables, with the same columns
    compared, differing = {}, []
    for table, columns in tables.items():
        expected = token_rows(alone, table, columns, chain, token)
        got = token_rows(both, table, columns, chain, token)
        if not same_rows(got, expected):
            first = next((g, e) for g, e in itertools.zip_longest(got, expected)
                         if g is None or e is None or not same_rows([g], [e]))
            differing.append(f"{table}: {len(got)} rows, {len(expected)} in the token's own build; first differing "
                             f"(build of several, own build): {first}")
        compared[table] = len(got)
    assert not differing, "\n".join(differing)
    # the comparison covered the marts with rows in them, not empty tables
    for table in ("fct_exchange_transfers", "fct_netflow_daily_total", "fct_netflow_daily_by_exchange",
                  "fct_netflow_daily_by_wallet", "fct_netflow_zscores", "fct_flow_legs", "rpt_build_summary",
                  "stg_tokens__selected", "int_transfers_deduplicated"):
        assert compared[table] > 0, table
    assert len(compared) >= 30
    return compared


@pytest.mark.parametrize(("name", "token"), [("usdt", USDT), ("usdc", USDC)])
def test_each_token_of_a_two_token_build_is_its_own_build(etl_builds, name, token):
    assert_token_is_its_own_build(etl_builds["both"], etl_builds[name], "ethereum", token)


def test_a_two_token_build_holds_the_two_tokens_and_nothing_else(etl_builds):
    both = etl_builds["both"]
    assert query(both, "select chain, token_address, symbol, decimals, kind from stg_tokens__selected "
                       "order by symbol") == [("ethereum", USDC, "USDC", 6, "stablecoin"),
                                              ("ethereum", USDT, "USDT", 6, "stablecoin")]
    for table in token_tables(both):
        if table.startswith(("fct_", "rpt_")):
            others = query(both, f"select count(*) from \"{table}\" where (chain, token_address) not in "
                                 f"(('ethereum', '{USDT}'), ('ethereum', '{USDC}'))")
            assert others == [(0,)], table


def test_the_build_wide_columns_are_the_files(etl_builds, real_data):
    # independently, with csv: the file's rows, and its USDT and USDC transfers (one per hash and log index)
    with open(real_data / ETL_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    kept = {token: len({(r["transaction_hash"], r["log_index"]) for r in rows if r["token_address"].lower() == token})
            for token in (USDT, USDC)}
    assert kept[USDT] > 1000 and kept[USDC] > 400  # SOURCE.md: 1,338 USDT rows and 417 USDC rows
    summary = query(etl_builds["both"], """select symbol, n_files, rows_read, transfers_kept, duplicate_rows,
        rejected_rows, other_token_rows, n_rejected from rpt_build_summary order by symbol""")
    build_wide = (1, len(rows), kept[USDT] + kept[USDC], 0, 0, len(rows) - kept[USDT] - kept[USDC], 0)
    assert summary == [("USDC", *build_wide), ("USDT", *build_wide)]
    assert query(etl_builds["both"], "select symbol, n_tokens_of_chain from stg_tokens__selected order by 1") == [
        ("USDC", 2), ("USDT", 2)]
    assert query(etl_builds["both"], "select sum(transfers_kept), sum(other_token_rows) "
                                     "from rpt_input_reconciliation") == [build_wide[2:3] + build_wide[5:6]]
    assert query(etl_builds["usdt"], "select transfers_kept, other_token_rows from rpt_build_summary") == [
        (kept[USDT], len(rows) - kept[USDT])]


def test_the_two_token_build_prints_a_line_per_token(etl_options, real_data, tmp_path, capsys):
    # a second build of the same files and settings does not run dbt and prints the database's summary: a line
    # per token, with its transfers touching a labelled wallet counted here with csv (one per hash and log
    # index). Without deposit inference, which would count the transfers into the file's inferred deposit
    # addresses too (test_deposit_addresses_real.py checks those): the words are of labelled wallets.
    with open(real_data / LABELS_FILE, newline="") as fh:
        labelled = {r["address"].lower() for r in csv.DictReader(fh)}
    with open(real_data / ETL_FILE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    touching = {token: len({(r["transaction_hash"], r["log_index"]) for r in rows if r["token_address"].lower() == token
                            and {r["from_address"].lower(), r["to_address"].lower()} & labelled})
                for token in (USDT, USDC)}
    command = ["build", "--db", str(tmp_path / "off.duckdb"), *etl_options, "--token", "USDT", "--token", "USDC",
               "--no-deposit-inference"]
    assert cexflow_main(command) == 0
    capsys.readouterr()
    assert cexflow_main(command) == 0
    out = capsys.readouterr().out.splitlines()
    assert any("dbt did not run" in line for line in out), out
    for symbol, token in (("USDT", USDT), ("USDC", USDC)):
        (line,) = [line for line in out if line.startswith(f"{symbol} on ethereum: ")]
        assert f" {touching[token]:,} transfers touch exchange addresses" in line, line


# --- a hand-made LPT history on Ethereum and Arbitrum One ---------------------------------------------------

def address(name: str) -> str:
    return "0x" + hashlib.sha1(f"two-chain {name}".encode()).hexdigest()


BN_ETH_HOT, BN_ETH_COLD, KR_BOTH, CB_ETH = (address(n) for n in ("binance hot", "binance cold", "kraken", "cb"))
BN_ARB, KC_ARB_1, KC_ARB_2 = (address(n) for n in ("binance arbitrum", "kucoin 1", "kucoin 2"))
L1_GATEWAY = address("arbitrum one L1 gateway escrow")  # on Ethereum; on Arbitrum the bridge mints from ZERO
# (chain, address) -> (exchange, wallet): a wallet is of its chain. KR_BOTH is labelled on both chains;
# BN_ETH_COLD is labelled on Ethereum only, and moves LPT on Arbitrum too, where it is no exchange's.
LABELS = {
    ("ethereum", BN_ETH_HOT): ("binance", "binance hot"),
    ("ethereum", BN_ETH_COLD): ("binance", "binance cold"),
    ("ethereum", KR_BOTH): ("kraken", "kraken 1"),
    ("ethereum", CB_ETH): ("coinbase", "coinbase 1"),
    ("arbitrum", BN_ARB): ("binance", "binance arbitrum"),
    ("arbitrum", KC_ARB_1): ("kucoin", "kucoin 1"),
    ("arbitrum", KC_ARB_2): ("kucoin", "kucoin 2"),
    ("arbitrum", KR_BOTH): ("kraken", "kraken arbitrum"),
}
ETH_DAYS = (date(2025, 1, 1), date(2025, 3, 31))  # 90 days; the last has only a bridge move
ARB_DAYS = (date(2025, 1, 20), date(2025, 4, 15))  # 86 days; the first has only a bridge arrival
BRIDGED_BY_BINANCE = (date(2025, 2, 10), Decimal("50000.123456789012345678"))


@dataclass(frozen=True)
class Transfer:
    chain: str
    token: str
    tx_hash: str
    log_index: int
    at: datetime
    sender: str
    receiver: str
    amount: Decimal  # token units, exact

    @property
    def day(self) -> date:
        return self.at.date()


def two_chain_history(seed: int = 15) -> list[Transfer]:
    """A deterministic LPT history on Ethereum and Arbitrum One (same seed, same transfers): each day deposits
    from users, withdrawals to users, internal sweeps between two wallets of an exchange, cross-exchange
    transfers, user-to-user transfers, bridge moves (a user's LPT into the L1 gateway on Ethereum and minted
    to them on Arbitrum, and back: neither side an exchange), on Arbitrum the Ethereum-only wallet BN_ETH_COLD
    (an unlabelled address there) sending to users and to kucoin, and once binance's Ethereum hot wallet
    withdrawing into the bridge with its LPT arriving in binance's Arbitrum wallet. A few USDC rows on
    Arbitrum are another token's. Amounts have up to 18 decimals."""
    rng = random.Random(seed)
    transfers: list[Transfer] = []
    wallets = {chain: [a for (c, a) in LABELS if c == chain] for chain in ("ethereum", "arbitrum")}
    pairs = {"ethereum": [(BN_ETH_HOT, BN_ETH_COLD)], "arbitrum": [(KC_ARB_1, KC_ARB_2)]}  # one exchange's
    crossing = {"ethereum": [(CB_ETH, BN_ETH_HOT), (KR_BOTH, CB_ETH)], "arbitrum": [(BN_ARB, KC_ARB_1),
                                                                                   (KR_BOTH, BN_ARB)]}
    token = {"ethereum": LPT_ETH, "arbitrum": LPT_ARB}

    def add(chain, at, sender, receiver, amount, token_address=None):
        n = len(transfers)
        transfers.append(Transfer(chain, token_address or token[chain], "0x" + hashlib.sha256(
            f"two-chain {seed} {n}".encode()).hexdigest(), n % 7, at, sender, receiver, amount))

    def amount(top: int = 5000) -> Decimal:
        return Decimal(rng.randint(1, top * 10**18)).scaleb(-18)

    def moment(day: date) -> datetime:
        return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 86_399 - 3600))

    def users() -> str:
        return user(1000 + rng.randint(0, 39))

    day = ETH_DAYS[0]
    while day <= ARB_DAYS[1]:
        for chain, (first, last) in (("ethereum", ETH_DAYS), ("arbitrum", ARB_DAYS)):
            if not first < day < last:  # the first and last days of each chain are set below
                continue
            for _ in range(rng.randint(0, 4)):
                add(chain, moment(day), users(), rng.choice(wallets[chain]), amount())
            for _ in range(rng.randint(0, 3)):
                add(chain, moment(day), rng.choice(wallets[chain]), users(), amount())
            if rng.random() < 0.3:
                a, b = rng.choice(pairs[chain])
                add(chain, moment(day), *((a, b) if rng.random() < 0.5 else (b, a)), amount(20_000))
            if rng.random() < 0.15:
                add(chain, moment(day), *rng.choice(crossing[chain]), amount())
            if rng.random() < 0.2:
                add(chain, moment(day), users(), users(), amount())
            if chain == "arbitrum" and rng.random() < 0.2:
                add(chain, moment(day), BN_ETH_COLD, rng.choice([users(), KC_ARB_1]), amount())
            if chain == "arbitrum" and rng.random() < 0.1:
                add(chain, moment(day), users(), BN_ARB, Decimal(rng.randint(1, 10**10)).scaleb(-6), USDC_ARB)
        if ARB_DAYS[0] <= day < ETH_DAYS[1] and rng.random() < 0.3:  # over the bridge, both ways
            someone, moved, at = users(), amount(), moment(day)
            if rng.random() < 0.6:
                add("ethereum", at, someone, L1_GATEWAY, moved)
                add("arbitrum", at + timedelta(minutes=15), ZERO, someone, moved)
            else:
                add("arbitrum", at, someone, ZERO, moved)
                add("ethereum", at + timedelta(minutes=30), L1_GATEWAY, someone, moved)
        day += timedelta(days=1)
    # each chain's calendar starts and ends with a day that has no exchange flow
    add("ethereum", moment(ETH_DAYS[0]), users(), BN_ETH_HOT, amount())
    add("ethereum", moment(ETH_DAYS[1]), users(), L1_GATEWAY, amount())
    add("arbitrum", moment(ARB_DAYS[0]), ZERO, users(), amount())
    add("arbitrum", moment(ARB_DAYS[1]), KC_ARB_2, users(), amount())
    # binance withdraws into the bridge on Ethereum; the LPT arrives in its Arbitrum wallet
    bridged_day, bridged = BRIDGED_BY_BINANCE
    at = moment(bridged_day)
    add("ethereum", at, BN_ETH_HOT, L1_GATEWAY, bridged)
    add("arbitrum", at + timedelta(minutes=15), ZERO, BN_ARB, bridged)
    return sorted(transfers, key=lambda t: (t.chain, t.at, t.tx_hash))


def two_chain_prices() -> list[tuple[date, str, str, Decimal]]:
    """Daily LPT prices: every day of Ethereum's calendar, Arbitrum's but each fifth day (those have none)."""
    prices = []
    for chain, (first, last) in (("ethereum", ETH_DAYS), ("arbitrum", ARB_DAYS)):
        for i in range((last - first).days + 1):
            if chain == "ethereum" or i % 5:
                prices.append((first + timedelta(days=i), chain, "LPT", Decimal(f"{5 + i % 11}.{(i * 37) % 1000:03d}")))
    return prices


@dataclass(frozen=True)
class TwoChainFiles:
    ethereum: Path
    arbitrum: Path
    labels: Path
    prices: Path
    transfers: list[Transfer]


def write_two_chain_history(d: Path, seed: int = 15) -> TwoChainFiles:
    """The history as files: Ethereum as Etherscan CSV rows (one transfer listed twice, as two wallets' exports
    would), Arbitrum as ethereum-etl rows with block_timestamp, the labels with a chain column, the prices."""
    transfers = two_chain_history(seed)
    eth_rows = [{"blockNumber": 21_500_000 + int(t.at.timestamp() - 1735689600) // 12,
                 "timeStamp": int(t.at.timestamp()), "hash": t.tx_hash, "from": t.sender,
                 "contractAddress": t.token, "to": t.receiver, "value": str(t.amount.scaleb(18).to_integral_exact()),
                 "tokenName": "Livepeer Token", "tokenSymbol": "LPT", "tokenDecimal": 18}
                for t in transfers if t.chain == "ethereum"]
    eth_rows.insert(10, eth_rows[3])
    decimals = {LPT_ARB: 18, USDC_ARB: 6}
    arb_rows = [{"token_address": t.token, "from_address": t.sender, "to_address": t.receiver,
                 "value": str(t.amount.scaleb(decimals[t.token]).to_integral_exact()), "transaction_hash": t.tx_hash,
                 "log_index": t.log_index, "block_number": 290_000_000 + int(t.at.timestamp() - 1737331200) * 4,
                 "block_timestamp": t.at.strftime("%Y-%m-%d %H:%M:%S UTC")}
                for t in transfers if t.chain == "arbitrum"]
    d.mkdir(parents=True, exist_ok=True)
    return TwoChainFiles(
        ethereum=write_csv(d / "eth" / "lpt_etherscan.csv", list(eth_rows[0]), eth_rows),
        arbitrum=write_csv(d / "arb" / "lpt_token_transfers.csv", list(arb_rows[0]), arb_rows),
        labels=write_csv(d / "labels.csv", ["chain", "address", "exchange", "wallet"],
                         [[c, a, e, w] for (c, a), (e, w) in LABELS.items()]),
        prices=write_csv(d / "prices.csv", ["date", "chain", "token", "price_usd"],
                         [[str(day), chain, symbol, str(p)] for day, chain, symbol, p in two_chain_prices()]),
        transfers=transfers)


# The independent computation: pandas over the generated transfers, amounts as Decimal objects (exact sums).

def classified(transfers: list[Transfer]) -> pd.DataFrame:
    """The LPT transfers, one row each, with each side's exchange on the transfer's own chain and the flow type
    (None: neither side is a labelled wallet of that chain, as on a bridge move)."""
    def flow_type(a, b):
        if a is None and b is None:
            return None
        return "deposit" if a is None else "withdrawal" if b is None else "internal" if a == b else "cross_exchange"

    records = []
    for t in transfers:
        if t.token in (LPT_ETH, LPT_ARB):
            a, b = LABELS.get((t.chain, t.sender), (None,))[0], LABELS.get((t.chain, t.receiver), (None,))[0]
            records.append(t.__dict__ | {"day": t.day, "from_exchange": a, "to_exchange": b,
                                         "flow_type": flow_type(a, b)})
    frame = pd.DataFrame(records)
    return frame


def calendar(frame: pd.DataFrame, chain: str) -> list[date]:
    """A chain's calendar: every day from its first to its last LPT transfer, whatever the transfer."""
    days = frame.loc[frame.chain == chain, "day"]
    return [d.date() for d in pd.date_range(days.min(), days.max(), freq="D")]


def dsum(values) -> Decimal:
    return sum(values, Decimal(0))


def usd(amount: Decimal, price: Decimal | None) -> Decimal | None:
    """amount x price rounded half up at the 18th decimal place, as the marts' USD columns are."""
    if price is None:
        return None
    with localcontext() as ctx:
        ctx.prec = 80
        return (amount * price).quantize(ATTO, rounding=ROUND_HALF_UP)


def expected_total(frame: pd.DataFrame, prices: dict, chain: str) -> dict[date, dict]:
    """fct_netflow_daily_total of a chain, by day."""
    rows = {}
    of_chain = frame[frame.chain == chain]
    for day in calendar(frame, chain):
        t = of_chain[of_chain.day == day]
        kind = {k: t[t.flow_type == k] for k in ("deposit", "withdrawal", "internal", "cross_exchange")}
        inflow, outflow = dsum(kind["deposit"].amount), dsum(kind["withdrawal"].amount)
        price = prices.get((chain, day))
        rows[day] = {"inflow": inflow, "outflow": outflow, "netflow": inflow - outflow,
                     "internal_volume": dsum(kind["internal"].amount),
                     "cross_exchange_volume": dsum(kind["cross_exchange"].amount),
                     "n_deposits": len(kind["deposit"]), "n_withdrawals": len(kind["withdrawal"]),
                     "price_usd": price, "inflow_usd": usd(inflow, price), "outflow_usd": usd(outflow, price)}
    return rows


def expected_by_exchange(frame: pd.DataFrame, prices: dict, chain: str) -> dict[tuple[date, str], dict]:
    """fct_netflow_daily_by_exchange of a chain, by (day, exchange): an exchange's deposits come from outside it
    (users or other exchanges), its withdrawals go outside it; a sweep between two of its wallets is internal.
    Every exchange with a transfer on the chain has a row on every day of the chain's calendar."""
    of_chain = frame[frame.chain == chain]
    legs = pd.concat([
        of_chain[of_chain.flow_type.isin(["deposit", "cross_exchange"])].assign(exchange=lambda f: f.to_exchange,
                                                                                 leg="in"),
        of_chain[of_chain.flow_type.isin(["withdrawal", "cross_exchange"])].assign(
            exchange=lambda f: f.from_exchange, leg="out"),
        of_chain[of_chain.flow_type == "internal"].assign(exchange=lambda f: f.to_exchange, leg="internal")])
    rows = {}
    for day in calendar(frame, chain):
        for exchange in sorted(set(legs.exchange)):
            e = legs[(legs.day == day) & (legs.exchange == exchange)]
            inflow, outflow = dsum(e[e.leg == "in"].amount), dsum(e[e.leg == "out"].amount)
            price = prices.get((chain, day))
            rows[(day, exchange)] = {
                "inflow": inflow, "outflow": outflow, "netflow": inflow - outflow,
                "internal_volume": dsum(e[e.leg == "internal"].amount),
                "n_deposits": int((e.leg == "in").sum()), "n_withdrawals": int((e.leg == "out").sum()),
                "price_usd": price, "inflow_usd": usd(inflow, price), "outflow_usd": usd(outflow, price)}
    return rows


def expected_cross_chain(per_chain: dict[str, dict], keys: list, n_chains) -> dict:
    """Sum per-chain rows (by day, or by (day, exchange)) over the chains: a chain's day outside its calendar
    counts 0; the USD columns are NULL when a chain with a row that day has no USD, or none has a row;
    n_chains_with_flow counts the chains with an inflow or outflow that day, n_chains (a function of the key)
    the chains of the series."""
    exact = ("inflow", "outflow", "netflow", "internal_volume", "n_deposits", "n_withdrawals")
    rows = {}
    for key in keys:
        here = [chain_rows[key] for chain_rows in per_chain.values() if key in chain_rows]
        row = {c: sum((r[c] for r in here), Decimal(0) if c not in ("n_deposits", "n_withdrawals") else 0)
               for c in exact}
        if any("cross_exchange_volume" in r for r in here):
            row["cross_exchange_volume"] = dsum(r["cross_exchange_volume"] for r in here)
        row["n_chains_with_flow"] = sum(1 for r in here if r["inflow"] != 0 or r["outflow"] != 0)
        row["n_chains"] = n_chains(key)
        for c in ("inflow_usd", "outflow_usd"):
            # and on a day no chain has a row for (kucoin, of Arbitrum only, before Arbitrum's first day)
            row[c] = None if not here or any(r[c] is None for r in here) else dsum(r[c] for r in here)
        rows[key] = row
    return rows


@pytest.fixture(scope="module")
def two_chain(tmp_path_factory) -> tuple[TwoChainFiles, Path]:
    d = tmp_path_factory.mktemp("two_chain")
    files = write_two_chain_history(d / "in")
    db = d / "lpt.duckdb"
    assert build(db, "--input", str(files.ethereum), "--input", f"arbitrum={files.arbitrum}",
                 "--labels", str(files.labels), "--prices", str(files.prices), "--token", "LPT") == 0
    return files, db


@pytest.fixture(scope="module")
def expected(two_chain) -> dict:
    files, _ = two_chain
    frame = classified(files.transfers)
    prices = {(chain, day): p for day, chain, _, p in two_chain_prices()}
    total = {chain: expected_total(frame, prices, chain) for chain in ("ethereum", "arbitrum")}
    by_exchange = {chain: expected_by_exchange(frame, prices, chain) for chain in ("ethereum", "arbitrum")}
    first = min(min(rows) for rows in total.values())
    last = max(max(rows) for rows in total.values())
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    exchanges = sorted({e for rows in by_exchange.values() for _, e in rows})
    # a cross-chain exchange series is of the chains where the exchange has wallets that moved LPT
    chains_of = {e: sum(1 for rows in by_exchange.values() if any(x == e for _, x in rows)) for e in exchanges}
    return {"frame": frame, "total": total, "by_exchange": by_exchange, "days": days,
            "cross_total": expected_cross_chain(total, days, lambda day: 2),
            "cross_by_exchange": expected_cross_chain(by_exchange, [(d, e) for d in days for e in exchanges],
                                                      lambda key: chains_of[key[1]])}


def with_usd(row: dict) -> dict:
    netflow_usd = None if row["inflow_usd"] is None else row["inflow_usd"] - row["outflow_usd"]
    return row | {"netflow_usd": netflow_usd}


def mart_rows(db: Path, sql: str) -> list[dict]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def test_the_generated_history_has_every_kind_of_move(expected):
    frame = expected["frame"]
    counts = frame.groupby(["chain", frame.flow_type.fillna("none")]).size().to_dict()
    for chain in ("ethereum", "arbitrum"):
        for kind in ("deposit", "withdrawal", "internal", "cross_exchange", "none"):
            assert counts.get((chain, kind), 0) >= 3, (chain, kind, counts)
    bridge = frame[frame.sender.isin([L1_GATEWAY, ZERO]) | frame.receiver.isin([L1_GATEWAY, ZERO])]
    assert (bridge.flow_type.isna()).sum() >= 20  # users' moves over the bridge, on both chains
    assert len(frame) > 600 and 60 <= len(expected["days"]) <= 120


@pytest.mark.parametrize("chain", ["ethereum", "arbitrum"])
def test_each_chains_daily_total_is_the_independent_one(two_chain, expected, chain):
    _, db = two_chain
    token = {"ethereum": LPT_ETH, "arbitrum": LPT_ARB}[chain]
    got = {r.pop("flow_date"): r for r in mart_rows(db, f"""
        select flow_date, inflow, outflow, netflow, internal_volume, cross_exchange_volume, n_deposits,
               n_withdrawals, price_usd, inflow_usd, outflow_usd, netflow_usd
        from fct_netflow_daily_total where chain = '{chain}' and token_address = '{token}'""")}
    want = {day: with_usd(row) for day, row in expected["total"][chain].items()}
    assert sorted(got) == sorted(want)  # the chain's own calendar
    for day in want:
        assert got[day] == want[day], (chain, day)


@pytest.mark.parametrize("chain", ["ethereum", "arbitrum"])
def test_each_chains_daily_by_exchange_is_the_independent_one(two_chain, expected, chain):
    _, db = two_chain
    token = {"ethereum": LPT_ETH, "arbitrum": LPT_ARB}[chain]
    got = {(r.pop("flow_date"), r.pop("exchange")): r for r in mart_rows(db, f"""
        select flow_date, exchange, inflow, outflow, netflow, internal_volume, n_deposits, n_withdrawals,
               price_usd, inflow_usd, outflow_usd, netflow_usd
        from fct_netflow_daily_by_exchange where chain = '{chain}' and token_address = '{token}'""")}
    want = {key: with_usd(row) for key, row in expected["by_exchange"][chain].items()}
    assert sorted(got) == sorted(want)
    for key in want:
        assert got[key] == want[key], (chain, key)
    # the exchanges of each chain: coinbase is on Ethereum only, kucoin on Arbitrum only, kraken on both
    assert {e for _, e in got} == ({"binance", "coinbase", "kraken"} if chain == "ethereum"
                                   else {"binance", "kraken", "kucoin"})


def test_the_cross_chain_total_is_the_sum_of_both_chains(two_chain, expected):
    _, db = two_chain
    got = {r.pop("flow_date"): r for r in mart_rows(db, """
        select flow_date, symbol, n_chains, n_chains_with_flow, inflow, outflow, netflow, internal_volume,
               cross_exchange_volume, n_deposits, n_withdrawals, inflow_usd, outflow_usd, netflow_usd
        from fct_netflow_daily_cross_chain""")}
    assert sorted(got) == expected["days"]  # from Ethereum's first day to Arbitrum's last
    for day, row in expected["cross_total"].items():
        assert got[day] == with_usd(row) | {"symbol": "LPT"}, day
    # the USD is NULL exactly on the days a chain with a row has no price: Arbitrum's each fifth day
    no_usd = {d for d, r in got.items() if r["inflow_usd"] is None}
    assert no_usd == {d for d in expected["days"]
                      if ARB_DAYS[0] <= d <= ARB_DAYS[1] and (d - ARB_DAYS[0]).days % 5 == 0}


def test_the_cross_chain_by_exchange_is_the_sum_of_both_chains(two_chain, expected):
    _, db = two_chain
    got = {(r.pop("flow_date"), r.pop("exchange")): r for r in mart_rows(db, """
        select flow_date, exchange, symbol, n_chains, n_chains_with_flow, inflow, outflow, netflow,
               internal_volume, n_deposits, n_withdrawals, inflow_usd, outflow_usd, netflow_usd
        from fct_netflow_daily_cross_chain_by_exchange""")}
    want = expected["cross_by_exchange"]
    assert sorted(got) == sorted(want)
    for key, row in want.items():
        assert got[key] == with_usd(row) | {"symbol": "LPT"}, key
    # coinbase has wallets on Ethereum only, kucoin on Arbitrum only, binance and kraken on both
    assert dict(query(db, "select exchange, max(n_chains) from fct_netflow_daily_cross_chain_by_exchange "
                          "group by exchange")) == {"binance": 2, "coinbase": 1, "kraken": 2, "kucoin": 1}


def test_bridge_moves_are_in_no_flow(two_chain, expected):
    _, db = two_chain
    frame = expected["frame"]
    flows = {(c, h): (t, f, to) for c, h, t, f, to in query(db, """
        select chain, tx_hash, flow_type, from_exchange, to_exchange from fct_exchange_transfers""")}
    users_bridge = frame[(frame.sender.isin([L1_GATEWAY, ZERO]) | frame.receiver.isin([L1_GATEWAY, ZERO]))
                         & frame.flow_type.isna()]
    assert len(users_bridge) >= 20
    assert not {(c, h) for c, h in zip(users_bridge.chain, users_bridge.tx_hash, strict=True)} & set(flows)
    # binance's own move over the bridge: a withdrawal on Ethereum, a deposit on Arbitrum One
    day, amount = BRIDGED_BY_BINANCE
    moved = frame[frame.amount == amount]
    assert sorted((c, flows[(c, h)]) for c, h in zip(moved.chain, moved.tx_hash, strict=True)) == [
        ("arbitrum", ("deposit", None, "binance")), ("ethereum", ("withdrawal", "binance", None))]
    # the cross-chain view counts both: binance's outflow on Ethereum and its inflow on Arbitrum, that day
    (cross,) = query(db, f"""select inflow, outflow from fct_netflow_daily_cross_chain_by_exchange
        where exchange = 'binance' and flow_date = '{day}'""")
    assert cross[0] >= amount and cross[1] >= amount
    # every transfer in the marts has a labelled side on its own chain
    assert query(db, "select count(*) from fct_exchange_transfers where from_exchange is null "
                     "and to_exchange is null") == [(0,)]


def test_a_wallet_is_its_chain_and_address(two_chain, expected):
    _, db = two_chain
    frame = expected["frame"]
    # kraken's address is labelled on both chains: a wallet on each, with that chain's moves
    wallets = query(db, f"""select chain, wallet, sum(n_inflows + n_outflows) from fct_netflow_daily_by_wallet
        where wallet_address = '{KR_BOTH}' group by chain, wallet order by chain""")
    kraken = frame[(frame.sender == KR_BOTH) | (frame.receiver == KR_BOTH)]
    assert wallets == [(c, w, int((kraken.chain == c).sum())) for c, w in
                       (("arbitrum", "kraken arbitrum"), ("ethereum", "kraken 1"))]
    # binance's Ethereum cold wallet is unlabelled on Arbitrum: its moves there to users are no flow, and to
    # kucoin they are deposits from outside every exchange
    got = query(db, f"""select flow_type, from_exchange, to_exchange, count(*) from fct_exchange_transfers
        where chain = 'arbitrum' and from_address = '{BN_ETH_COLD}' group by all order by all""")
    on_arbitrum = frame[(frame.chain == "arbitrum") & (frame.sender == BN_ETH_COLD)]
    assert got == [("deposit", None, "kucoin", int((on_arbitrum.receiver == KC_ARB_1).sum()))]
    assert (on_arbitrum.receiver != KC_ARB_1).sum() > 0


def test_each_chain_has_its_own_calendar(two_chain):
    _, db = two_chain
    assert query(db, """select chain, min(flow_date), max(flow_date), count(*) from fct_netflow_daily_total
        group by chain order by chain""") == [("arbitrum", *ARB_DAYS, 86), ("ethereum", *ETH_DAYS, 90)]
    # the z-scores of each chain's series run on its calendar
    assert query(db, """select chain, series, min(flow_date), max(flow_date) from fct_netflow_zscores
        where series = 'total' group by all order by chain""") == [
        ("arbitrum", "total", *ARB_DAYS), ("ethereum", "total", *ETH_DAYS)]


@pytest.mark.parametrize(("chain", "token"), [("ethereum", LPT_ETH), ("arbitrum", LPT_ARB)])
def test_each_chain_of_the_two_chain_build_is_its_own_build(two_chain, tmp_path, chain, token):
    # the chain's file alone, on --chain CHAIN: every table, z-scores, top-k days and anomalies over its 86 or 90
    # days included, holds the same rows of the chain's LPT
    files, both = two_chain
    alone = tmp_path / f"{chain}.duckdb"
    assert cexflow_main(["build", "--db", str(alone), "--input", str(getattr(files, chain)), "--chain", chain,
                         "--labels", str(files.labels), "--prices", str(files.prices), "--token", "LPT"]) == 0
    compared = assert_token_is_its_own_build(both, alone, chain, token)
    assert compared["fct_netflow_zscores"] >= 4 * 86 and compared["rpt_netflow_anomalies"] > 0


def test_the_inputs_reconcile_per_file(two_chain):
    files, db = two_chain
    n_usdc = sum(1 for t in files.transfers if t.token == USDC_ARB)
    n_eth = sum(1 for t in files.transfers if t.chain == "ethereum")
    n_arb = sum(1 for t in files.transfers if t.chain == "arbitrum")
    rows = query(db, """select regexp_extract(source_file, '[^/]+$'), sum(rows_read), sum(transfers_kept),
        sum(duplicate_rows), sum(rejected_rows), sum(other_token_rows) from rpt_input_reconciliation
        group by 1 order by 1""")
    assert rows == [("lpt_etherscan.csv", n_eth + 1, n_eth, 1, 0, 0),
                    ("lpt_token_transfers.csv", n_arb, n_arb - n_usdc, 0, 0, n_usdc)]


# --- errors, and --token all ----------------------------------------------------------------------------

def test_an_input_prefix_that_is_no_chain_is_an_error(tmp_path, capsys):
    files = write_two_chain_history(tmp_path / "in")
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", f"nochain={files.arbitrum}",
                         "--labels", str(files.labels)]) == 2
    err = one_line_error(capsys)
    assert "--input" in err and "nochain" in err, err
    assert not db.exists()


def test_one_file_on_two_chains_is_an_error(tmp_path, capsys):
    files = write_two_chain_history(tmp_path / "in")
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files.arbitrum), "--input",
                         f"arbitrum={files.arbitrum.parent}", "--labels", str(files.labels)]) == 2
    err = one_line_error(capsys)
    assert str(files.arbitrum) in err and "two chains" in err, err
    assert not db.exists()


def test_a_file_named_like_a_prefix_is_a_file(tmp_path, monkeypatch):
    # `nochain=lpt.csv` is no chain prefix when a file of that literal name exists: it is read as a path
    files = write_two_chain_history(tmp_path / "in")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nochain=lpt.csv").write_bytes(files.ethereum.read_bytes())
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", "nochain=lpt.csv", "--labels", str(files.labels)]) == 0
    n_eth = sum(1 for t in files.transfers if t.chain == "ethereum")
    assert query(db, "select chain, token_address, sum(transfers_kept) from rpt_build_summary group by all") == [
        ("ethereum", LPT_ETH, n_eth)]


def test_a_token_no_chain_of_the_build_has_is_an_error(tmp_path, capsys):
    files = write_two_chain_history(tmp_path / "in")
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files.ethereum), "--input",
                         f"arbitrum={files.arbitrum}", "--labels", str(files.labels), "--token", "LPT",
                         "--token", "XYZ"]) == 2
    err = one_line_error(capsys)
    assert "--token XYZ" in err, err
    assert not db.exists()


def test_a_seed_export_in_a_build_with_two_tokens_on_its_chain_is_an_error(tmp_path, real_data, capsys):
    # the seed project's export has no token column: its rows are of the one token of its chain
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(real_data / LPT_FILE), "--token", "LPT",
                         "--token", "USDT"]) == 2
    err = one_line_error(capsys)
    assert LPT_FILE in err and "--token" in err, err
    assert not db.exists()


def test_token_all_builds_every_seed_token_found_in_the_inputs(tmp_path, real_data, etl_options, capsys):
    files = write_two_chain_history(tmp_path / "in")
    db = tmp_path / "all.duckdb"
    assert cexflow_main(["build", "--db", str(db), *etl_options, "--input", f"arbitrum={files.arbitrum}",
                         "--labels", str(files.labels), "--token", "all"]) == 0
    # independently, with pandas: the seed's tokens with rows in each file, and their transfers (one per hash
    # and log index)
    etl = pd.read_csv(real_data / ETL_FILE, dtype=str)
    arb = pd.read_csv(files.arbitrum, dtype=str)
    found = {}
    for chain, rows in (("ethereum", etl), ("arbitrum", arb)):
        rows = rows.assign(token_address=rows.token_address.str.lower()).drop_duplicates(
            ["token_address", "transaction_hash", "log_index"])
        counts = rows.groupby("token_address").size()
        for token in seed_tokens():
            if token["chain"] == chain and token["token_address"] in counts:
                found[(chain, token["token_address"])] = int(counts[token["token_address"]])
    assert len(found) == 7  # five tokens in the 51 blocks, LPT and USDC in the Arbitrum file
    # every seed token of the two chains is a token of the build; those with transfers have rows
    assert sorted(query(db, "select chain, token_address from stg_tokens__selected")) == sorted(
        (t["chain"], t["token_address"]) for t in seed_tokens())
    assert dict(((c, a), n) for c, a, n in query(db, """select chain, token_address, count(*)
        from int_transfers_deduplicated group by all""")) == found
    assert sorted(query(db, "select chain, token_address from rpt_build_summary where n_days > 0")) == sorted(found)
    assert sorted(query(db, "select distinct chain, token_address from fct_netflow_daily_total")) == sorted(found)
    # and a summary line each, named by symbol and chain
    symbol_of = {(t["chain"], t["token_address"]): t["symbol"] for t in seed_tokens()}
    # (the deposits line of each token with inflow starts with its name too, then an amount: "... of ... inflow")
    token_line = re.compile(r"^(\w+ on \w+): [\d,]+ days? \(")
    lines = [m[1] for m in map(token_line.match, capsys.readouterr().out.splitlines()) if m]
    assert sorted(lines) == sorted(f"{symbol_of[key]} on {key[0]}" for key in found)


# --- the README's multi-token queries, typed into the DuckDB shell ----------------------------------------

README_SECTION = "# Many tokens and chains"  # the page docs/tokens_and_chains.md
CENT = Decimal("0.01")


def multi_token_queries() -> list[str]:
    found = readme_queries(README_SECTION, "docs/tokens_and_chains.md")
    assert len(found) == 2, f"expected two queries in docs/tokens_and_chains.md, found {len(found)}"
    return found


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)  # DuckDB's round(): half away from zero


def test_the_readmes_week_per_token_and_chain(two_chain, expected):
    # independently: the last 7 days of each chain's calendar, summed from the pandas computation above
    _, db = two_chain
    rows = shell_rows(db, multi_token_queries()[0])
    want = []
    for chain in ("arbitrum", "ethereum"):
        days = sorted(expected["total"][chain])[-7:]
        week = [expected["total"][chain][d] for d in days]
        want.append({"symbol": "LPT", "chain": chain, "first_day": str(days[0]), "last_day": str(days[-1]),
                     **{c: cents(dsum(r[c] for r in week)) for c in ("inflow", "outflow", "netflow")}})
    got = [r | {c: Decimal(r[c]) for c in ("inflow", "outflow", "netflow")} for r in rows]
    assert got == want
    assert all(w["inflow"] > 0 for w in want)  # each chain's week has flows: the query sums something


def test_the_readmes_cross_chain_week(two_chain, expected):
    _, db = two_chain
    rows = shell_rows(db, multi_token_queries()[1])
    days = expected["days"][-7:]
    cross = expected["cross_total"]
    want = [{"symbol": "LPT", "flow_date": str(d), "n_chains_with_flow": str(cross[d]["n_chains_with_flow"]),
             **{c: cents(cross[d][c]) for c in ("inflow", "outflow", "netflow")}} for d in days]
    got = [r | {c: Decimal(r[c]) for c in ("inflow", "outflow", "netflow")} for r in rows]
    assert got == want
