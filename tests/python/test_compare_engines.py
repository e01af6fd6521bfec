"""scripts/compare_engines.py: DuckDB and Spark build the same tables from the same files.

Without Spark (always): the comparison itself, on a DuckDB build and a copy of its tables written out as a
Spark warehouse would be (parquet files, fct_exchange_transfers in flow_date partitions): the copy agrees,
and a copy with one altered row, value, column, type or table does not, naming it.

With Spark (when pyspark, dbt-spark and java are installed; `.ci/run` installs them and sets
CEXFLOW_REQUIRE_SPARK=1, which turns a missing Spark into a failure): one run of the script on the bundled
sample, the real files of tests/data/real (the seed project's LPT export, the ethereum-etl file with
its blocks, the 2023 exchange labels), hand-made files full of edge cases (rejected rows, every decimals
branch, quoting, CRLF, a BOM, a blank line, an API JSON page) and the hand-made Arbitrum One file of
test_multi_token.py (LPT and USDC rows, given as `--input arbitrum=FILE`, with its labels), built as three
tokens on two chains (`--token LPT --token <USDC on Arbitrum>`: LPT on Ethereum and on Arbitrum, USDC on
Arbitrum; the seed project's export, which has no token column, stays the one token of Ethereum), so that
the per-token marts and the cross-chain ones are compared with several tokens and chains in them, and the
deposit address history of test_deposit_addresses.py (inferred deposit addresses, a consolidation wallet,
sweeps); one DuckDB build of them all, and Spark in two runs, the last file (the deposit history's second day,
a transfer listed again) added by an incremental build, so that the comparison also shows Spark's
incremental models equal to a full build; one comparison because a Spark build costs minutes.
tests/python/test_spark_cluster.py builds the same inputs in one run through a Thrift server.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import (
    BINANCE14,
    BINANCE20,
    COINBASE10,
    ETHERSCAN_HEADER,
    KRAKEN1,
    LPT,
    PROJECT_ROOT,
    build,
    etherscan_row,
    raw,
    tx,
    user,
    write_csv,
)
from test_deposit_addresses import HEADER as DEPOSITS_HEADER
from test_deposit_addresses import first_day_rows, second_day_rows
from test_multi_token import BN_ETH_HOT, CB_ETH, KC_ARB_1, KC_ARB_2, KR_BOTH, LPT_ARB, USDC_ARB, write_two_chain_history

sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
import compare_engines  # noqa: E402
from cexflow.db import spark_schema_dir  # noqa: E402

DAY = 1740787200  # 2025-03-01 UTC, inside the bundled sample's range
# 2024-06-15 UTC, a day on which no other input has a transfer (check_many_tokens_build checks it has none left)
QUIET_DAY = 1718409600
LATE_DEPOSIT = user(9030)  # inferred a deposit address by the first Spark run, ruled out by the added file
ETL_FILE = "erc20_token_transfers_blocks_12600000-12600050.csv"
LPT_FILE = "lpt_transfers_0xf977_2021-06_2025-09.csv"
LABELS_FILE = "exchange_labels_etherscan_2023-06.csv"
BLOCK0_TIME = 1623202380
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
GATE1 = "0x0d0707963952f2fba59dd06f2b425ace40b492fe"


# --- hand-made files with the edge cases of reading and typing -------------------------------------------

def write_edge_case_inputs(d: Path) -> list[Path]:
    """Etherscan CSVs (one with CRLF line ends and a BOM) and an API JSON page, with rows of every kind."""
    d.mkdir(parents=True, exist_ok=True)

    def row(n, frm=None, to=BINANCE14, amount="1", day=0, **changes):
        r = etherscan_row(n, DAY + day * 86400 + n, frm or user(n), to, amount)
        r.update(changes)
        return r

    header = ETHERSCAN_HEADER
    rows = [
        row(1, amount="1.5"),                                              # deposit
        row(2, frm=BINANCE14, to=user(2), amount="2.25", day=1),           # withdrawal
        row(3, frm=BINANCE14, to=BINANCE20, amount="3", day=1),            # internal (two Binance wallets)
        row(4, frm=BINANCE14, to=KRAKEN1, amount="4", day=2),              # cross-exchange
        row(5, tokenName="Livepeer, Token"),                               # a quoted comma
        row(6, **{"from": "0x123"}),                                       # malformed from address
        row(7, value="-5"),                                                # negative amount
        row(8, value="1.5e+21"),                                           # scientific notation, raw
        row(9, timeStamp=""),                                              # missing timestamp
        row(10, timeStamp="2025-03-02 10:00:00 UTC"),                      # ISO time
        row(11, value=raw("1.5", 24), tokenDecimal="24"),                  # 24 decimals, exact
        row(12, value="1000000000000000000000001", tokenDecimal="24"),     # 24 decimals, not exact
        row(13, value="7", tokenDecimal="0"),                              # 0 decimals
        row(14, value="1" * 40),                                           # 40 digits: does not fit
        row(15, value=" \t" + raw("100") + " "),                           # blanks around the amount
        row(1, amount="1.5"),                                              # duplicate of the first row
        row(17, contractAddress=USDT, tokenDecimal="6", value="5000000"),  # another token
        row(18, hash=tx(18).upper().replace("0X", "0x")),                  # upper-case hash
        row(19, tokenDecimal="abc"),                                       # malformed tokenDecimal
        row(20, value=raw("0.000000000000000001")),                        # the smallest amount
        row(21, value="99999999999999999999" + "0" * 18, day=-2000),       # the largest whole amount, alone
        row(22, value="100000000000000000000" + "0" * 18),                 # one more: does not fit
    ]
    first = write_csv(d / "edge_cases.csv", header, rows)
    lines = first.read_text().splitlines()
    # a short row, a row with an extra field and a blank line, as an export tool might leave them
    lines.insert(5, "")
    lines.append(",".join(str(row(23)[c]) for c in header[:-1]))
    lines.append(",".join(str(row(24)[c]) for c in header) + ",extra")
    first.write_text("\n".join(lines) + "\n")

    second = d / "edge_cases_crlf_bom.csv"
    crlf_rows = [row(30 + i, amount=str(i + 1), day=i % 3) for i in range(5)]
    write_csv(second, header, crlf_rows)
    second.write_bytes(b"\xef\xbb\xbf" + second.read_bytes().replace(b"\n", b"\r\n"))

    page = d / "page.json"
    result = [row(1, amount="1.5"), row(40, amount="40", day=2), row(41, frm=KRAKEN1, to=user(41), day=2),
              row(42, amount="42", day=-1990)]  # a day no other file has
    result[1]["logIndex"] = "7"
    page.write_text(json.dumps({"status": "1", "message": "OK", "result": result}, indent=1))
    return [first, second, page]


def write_balances_edge_cases(d: Path) -> Path:
    """A balances file over the wallets of the sample and real files (CRLF line ends, a BOM): a block anchor with
    its block_time (coinbase), a date anchor beside an older one (gate-io), one of binance's five moving
    wallets (its reserve stays unknown), a row of Arbitrum without a token (rejected: the build has two tokens
    there), date anchors of both kucoin wallets of the Arbitrum file (LPT; its reserve known), the supply, and
    rejected rows."""
    header = "chain,token,address,kind,balance,block,date,block_time"
    rows = [
        f"ethereum,LPT,{COINBASE10},wallet,1234567.123456789012345678,22384108,,2025-04-29T10:00:00Z",
        f",,{GATE1},,250000,,2025-05-01,",
        f",,{GATE1},wallet,1,,2025-03-15,",
        f"ethereum,{LPT},{BINANCE14},wallet,5000000.000000000000000001,22813834,,",
        f"arbitrum,,{BINANCE20},wallet,7,1,,",
        f"arbitrum,LPT,{KC_ARB_1},wallet,1000.5,,2025-03-01,",
        f"arbitrum,{LPT_ARB},{KC_ARB_2},wallet,250,,2025-02-01,",
        f",,{LPT},supply,33000000.5,22813834,,2025-06-28T23:59:59Z",
        f",,{GATE1},cold,1,1,,",
        f',,{GATE1},wallet,"1,5",1,,',
        f",,{GATE1},wallet,1,1,,,extra",
        f",,{GATE1},wallet,,1,,",
        f",,{GATE1},wallet,1,abc,,",
    ]
    path = d / "balances_edge_cases.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *rows, ""]).encode())
    return path


def write_prices_edge_cases(d: Path) -> Path:
    """A prices file (CRLF line ends, a BOM) over every day from 2019 to 2025 but each fifth (those have no
    price), prices with 12 and with 18 decimals and up to 18 digits before the point (so that the edge cases'
    largest amounts overflow DECIMAL(38,18) in USD: NULL on both engines), a day given twice with the same price,
    rows of another chain and token, USDC on Arbitrum (by symbol) on every day of the Arbitrum file's but each
    seventh, and rejected rows (the day of one of them has no other row)."""
    header = "date,chain,token,price_usd"
    rows = []
    day, i = date(2019, 1, 1), 0
    while day <= date(2025, 12, 31):
        if i % 5 and not date(2025, 3, 2) <= day <= date(2025, 3, 5):
            decimals = f"{(i * 7919) % 10**12:012d}" if i % 3 else f"{(i * 123456789123456789) % 10**18:018d}"
            whole = "123456789012345678" if i % 97 == 1 else str(i % 41)
            rows.append(f"{day},{'ethereum' if i % 2 else ''},{'LPT' if i % 4 else LPT},{whole}.{decimals}")
        day, i = day + timedelta(days=1), i + 1
    rows += [f"{date(2025, 1, 20) + timedelta(days=n)},arbitrum,USDC,{Decimal('0.9990') + n % 9 / Decimal(10_000)}"
             for n in range(86) if n % 7]
    rows += ["2025-03-02,ethereum,LPT,0.000000000000000001", "2025-03-02,,,0.000000000000000001",
             "2025-03-03,arbitrum,LPT,5", "2025-03-03,ethereum,USDT,1",
             "2025-03-04,ethereum,LPT,1,2", "2025-03-05,ethereum,LPT,-1", "2025-03-05,ethereum,LPT,1e3",
             "2025-02-30,ethereum,LPT,1"]
    path = d / "prices_edge_cases.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join([header, *rows, ""]).encode())
    return path


def real_inputs(real_data: Path, d: Path) -> list[str]:
    """Options for the real files: the LPT export, the ethereum-etl file with its blocks, the 2023 labels."""
    blocks = write_csv(d / "blocks.csv", ["number", "timestamp"],
                       [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])
    return ["--input", str(real_data / LPT_FILE), "--input", str(real_data / ETL_FILE),
            "--blocks", str(blocks), "--labels", str(real_data / LABELS_FILE)]


# --- the comparison without Spark --------------------------------------------------------------------------

def write_as_spark_warehouse(db: Path, spark_dir: Path) -> None:
    """The tables of a DuckDB build as parquet files in the layout of a Spark warehouse (fct_flow_legs, a view
    on DuckDB, is a table there)."""
    schema_dir = spark_schema_dir(spark_dir)
    with duckdb.connect(str(db), read_only=True) as con:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main' "
            "and (table_type = 'BASE TABLE' or table_name = 'fct_flow_legs') "
            "and table_name not like 'cexflow\\_%' escape '\\'").fetchall()]
        for table in tables:
            folder = schema_dir / table
            folder.mkdir(parents=True)
            if table == "fct_exchange_transfers":
                con.execute(f"copy {table} to '{folder}' (format parquet, partition_by (flow_date), "
                            "overwrite_or_ignore)")
            else:
                con.execute(f"copy {table} to '{folder / 'part-00000.parquet'}' (format parquet)")


def rewrite_table(spark_dir: Path, table: str, select_sql: str) -> None:
    """Replace a table of the fake warehouse by `select_sql` over its current rows (as the relation t)."""
    folder = spark_schema_dir(spark_dir) / table
    with duckdb.connect() as con:
        con.execute(f"create table t as select * from read_parquet('{folder}/**/*.parquet', hive_partitioning = true)")
        shutil.rmtree(folder)
        folder.mkdir()
        con.execute(f"copy ({select_sql}) to '{folder / 'part-00000.parquet'}' (format parquet)")


@pytest.fixture(scope="module")
def duck_build(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("engines-duck")
    files = write_edge_case_inputs(d / "in")
    db = d / "edge.duckdb"
    assert build(db, *[a for f in files for a in ("--input", str(f))]) == 0
    return db


@pytest.fixture
def fake_spark(duck_build, tmp_path) -> Path:
    spark_dir = tmp_path / "spark"
    write_as_spark_warehouse(duck_build, spark_dir)
    return spark_dir


def test_a_copy_of_the_tables_agrees(duck_build, fake_spark):
    result = compare_engines.compare(duck_build, fake_spark)
    assert result.agree, result.differences
    assert result.tables >= 12 and result.rows > 100
    assert result.summary() == f"engines agree: {result.tables} tables, {result.rows:,} rows"


def test_an_amount_off_by_one_unit_of_the_last_place_is_a_difference(duck_build, fake_spark):
    rewrite_table(fake_spark, "fct_netflow_daily_total", """
        select * replace (case when flow_date = (select min(flow_date) from t)
                          then inflow + 0.000000000000000001 else inflow end as inflow) from t""")
    result = compare_engines.compare(duck_build, fake_spark)
    assert not result.agree
    assert result.differences[0].startswith("fct_netflow_daily_total: a row only on DuckDB: (")
    assert len(result.differences) == 1


def test_zscores_agree_to_1e_9_and_no_further(duck_build, fake_spark):
    with duckdb.connect(str(duck_build), read_only=True) as con:
        (n_scored,) = con.execute("select count(*) from fct_netflow_zscores where zscore is not null").fetchone()
    assert n_scored > 0
    rewrite_table(fake_spark, "fct_netflow_zscores", "select * replace (zscore * (1 + 1e-12) as zscore) from t")
    assert compare_engines.compare(duck_build, fake_spark).agree
    rewrite_table(fake_spark, "fct_netflow_zscores", "select * replace (zscore + 1e-6 as zscore) from t")
    result = compare_engines.compare(duck_build, fake_spark)
    assert [d.split(":")[0] for d in result.differences] == ["fct_netflow_zscores"]
    assert "zscore = " in result.differences[0] and "on Spark" in result.differences[0]


def test_a_missing_row_column_table_or_a_float_amount_is_a_difference(duck_build, fake_spark):
    rewrite_table(fake_spark, "stg_transfers_rejected", "select * from t order by line_number desc offset 1")
    rewrite_table(fake_spark, "fct_netflow_daily_by_wallet", "select * exclude (n_outflows) from t")
    rewrite_table(fake_spark, "fct_exchange_transfers", "select * replace (cast(amount as double) as amount) from t")
    shutil.rmtree(spark_schema_dir(fake_spark) / "rpt_topk_netflow_days")
    differences = compare_engines.compare(duck_build, fake_spark).differences
    assert differences[0] == "tables only on DuckDB: rpt_topk_netflow_days"
    assert "fct_exchange_transfers.amount: type DECIMAL(38,18) on DuckDB, DOUBLE on Spark" in differences
    assert "fct_netflow_daily_by_wallet: columns differ (only on DuckDB: ['n_outflows']; only on Spark: [])" \
        in differences
    rejected = [d for d in differences if d.startswith("stg_transfers_rejected")]
    assert len(rejected) == 1 and "rows on DuckDB" in rejected[0] and "a row only on DuckDB" in rejected[0]


def test_the_script_prints_the_first_difference_and_exits_1(duck_build, fake_spark, monkeypatch, capsys):
    rewrite_table(fake_spark, "fct_exchange_transfers",
                  "select * replace (case when flow_type = 'internal' then 'deposit' else flow_type end "
                  "as flow_type) from t")
    monkeypatch.setattr(compare_engines, "run_builds",
                        lambda args, workdir: (duck_build, fake_spark, {"duckdb": 1.0, "spark": 2.0}))
    assert compare_engines.main([]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("engines differ: fct_exchange_transfers: a row only on ")
    assert "flow_type='internal'" in out[0] or "flow_type='deposit'" in out[0]


def test_the_script_prints_agreement_and_exits_0(duck_build, fake_spark, monkeypatch, capsys):
    monkeypatch.setattr(compare_engines, "run_builds",
                        lambda args, workdir: (duck_build, fake_spark, {"duckdb": 1.0, "spark": 2.0}))
    assert compare_engines.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("engines agree: ") and out[1] == "build times: DuckDB 1.0 s, Spark 2.0 s"


def test_the_edge_cases_reach_every_branch(duck_build):
    # the hand-made files are only worth comparing if they do produce what they are meant to
    with duckdb.connect(str(duck_build), read_only=True) as con:
        reasons = {r.split(" (")[0] for (r,) in con.execute("select reason from stg_transfers_rejected").fetchall()}
        amounts = {a for (a,) in con.execute("select amount from int_transfers_deduplicated").fetchall()}
        kinds = {k for (k,) in con.execute("select flow_type from fct_exchange_transfers").fetchall()}
        reco = con.execute("select sum(duplicate_rows), sum(other_token_rows), count(*) "
                           "from rpt_input_reconciliation").fetchone()
    assert {"malformed from address", "negative amount", "missing timestamp", "malformed tokenDecimal",
            "raw amount is not a whole number", "amount does not fit DECIMAL(38,18) exactly"} <= reasons
    assert {Decimal("1.5"), Decimal("7"), Decimal("100"), Decimal("0.000000000000000001"),
            Decimal("99999999999999999999")} <= amounts
    assert kinds == {"deposit", "withdrawal", "internal", "cross_exchange"}
    assert reco[0] >= 2 and reco[1] == 1 and reco[2] == 3


# --- DuckDB against Spark ------------------------------------------------------------------------------------

def spark_missing() -> str | None:
    for name, module in (("pyspark", "pyspark"), ("dbt-spark", "dbt.adapters.spark")):
        if importlib.util.find_spec(module) is None:
            return f"{name} is not installed"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime (Debian: apt-get install default-jre-headless)"
    return None


# small-data settings for a local Spark: C1-compiled JVM, no adaptive re-planning, few shuffle partitions. C1 alone
# shrinks the JVM's code cache to 48 MB, which Spark's generated code filled in 25 s ("CodeCache is full. Compiler
# has been disabled": the rest ran interpreted), hence the cache of 240 MB the JVM has by default
QUICK_SPARK = {"CEXFLOW_SPARK_JAVA_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m",
               "CEXFLOW_SPARK_ADAPTIVE": "false",
               "CEXFLOW_SPARK_SHUFFLE_PARTITIONS": "2", "CEXFLOW_SPARK_THREADS": "2"}


def require_spark(what: str, thrift: bool = False) -> None:
    """Skip the test without Spark (and, for a Thrift server, PyHive), or fail it when CEXFLOW_REQUIRE_SPARK is
    set (.ci/run)."""
    missing = spark_missing()
    if missing is None and thrift and importlib.util.find_spec("pyhive") is None:
        missing = "PyHive is not installed"
    if missing:
        message = f"{missing}: {what} needs `make install-spark` and Java 17 or 21"
        if os.environ.get("CEXFLOW_REQUIRE_SPARK"):
            pytest.fail(message)
        pytest.skip(message)


def write_added_file(path: Path, edge_cases: Path) -> Path:
    """The file the incremental Spark build adds: the deposit history's second day (the sweep that makes its
    deposit address one, so the class of an earlier run's transfers changes), a transfer of the edge cases listed
    again (this file sorts first, so the transfer's credit moves to it, as in a full build), a rejected row, and a
    new transfer into a labelled wallet a week later; and a transfer that rules out a deposit address the first
    run inferred."""
    with open(edge_cases, newline="") as fh:
        reader = csv.DictReader(line for line in fh if line.strip())
        repeated = next(row for row in reader if row["hash"] == tx(4))  # the cross-exchange transfer, day 2
    rows = [*second_day_rows(BN_ETH_HOT), repeated,
            # LATE_DEPOSIT sends to a user, which rules it out: its receipt, alone on QUIET_DAY, touches no
            # exchange any more, and the day loses all its rows (macros/runs.sql remove_rows_of_reclassified_transfers)
            etherscan_row("late3", QUIET_DAY + 5 * 86400, LATE_DEPOSIT, user(9031), "1"),
            {**etherscan_row(50, DAY + 9 * 86400, user(50), BINANCE14, "5"), "value": "-5"},
            etherscan_row(51, DAY + 9 * 86400 + 1, user(51), BINANCE14, "51")]
    return write_csv(path, ETHERSCAN_HEADER, rows)


def many_tokens_arguments(tmp_path: Path, real_data: Path) -> list[str]:
    """The comparison's inputs: the sample, the real files, the edge cases of every format (CSV and Parquet),
    a second chain with its labels, deposit addresses, balances and prices; written into tmp_path. The last
    `--input` is the file that a two-run comparison (--spark-incremental) adds by an incremental build."""
    from test_parquet_inputs import write_parquet_edge_cases

    files = write_edge_case_inputs(tmp_path / "in")
    parquet = write_parquet_edge_cases(tmp_path / "parquet")
    two_chain = write_two_chain_history(tmp_path / "two_chain")
    # deposit addresses (test_deposit_addresses.py's history, into the two-chain labels' wallets): a deposit address
    # swept after midnight, a consolidation wallet with three deposit addresses behind it, and the confusers; the
    # sweep after midnight comes in the added file (the last input)
    # and LATE_DEPOSIT, which receives 70 at 22:00 on QUIET_DAY and sweeps it into Binance at 02:00 the next day
    files.append(write_csv(tmp_path / "in" / "deposits.csv", DEPOSITS_HEADER,
                           [*first_day_rows(BN_ETH_HOT, KR_BOTH, CB_ETH),
                            etherscan_row("late1", QUIET_DAY + 22 * 3600, user(9032), LATE_DEPOSIT, "70"),
                            etherscan_row("late2", QUIET_DAY + 26 * 3600, LATE_DEPOSIT, BN_ETH_HOT, "70")]))
    added = write_added_file(tmp_path / "in" / "a_added.csv", files[0])
    return ["--input", str(PROJECT_ROOT / "data" / "sample" / "lpt_transfers_sample.csv"),
            *real_inputs(real_data, tmp_path), *[a for f in files for a in ("--input", str(f))],
            # Parquet of both schemas: cryo's edge cases (binary, value_binary, times from cryo's blocks Parquet)
            # and ethereum-etl's
            "--input", str(parquet["cryo"]), "--input", str(parquet["etl"]), "--blocks", str(parquet["blocks"]),
            "--input", f"arbitrum={two_chain.arbitrum}", "--labels", str(two_chain.labels),
            "--token", "LPT", "--token", USDC_ARB,
            "--balances", str(write_balances_edge_cases(tmp_path)), "--prices", str(write_prices_edge_cases(tmp_path)),
            "--input", str(added)]


def check_many_tokens_build(proc: subprocess.CompletedProcess, builds: Path, spark_dir: Path) -> None:
    """What the comparison of many_tokens_arguments' inputs must show: the engines agree on every table, and
    the DuckDB build holds the cases the inputs were made for (so a comparison of empty tables cannot pass)."""
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert proc.stdout.startswith("engines agree: ")
    n_tables = int(proc.stdout.split("engines agree: ")[1].split(" tables")[0])
    assert n_tables >= 28  # every table, the new marts too
    n_rows = int(proc.stdout.split(" tables, ")[1].split(" rows")[0].replace(",", ""))
    assert n_rows > 40_000
    # the reserve tables were compared with rows in them: on Ethereum gate-io known, binance unknown, and
    # coinbase unknown too: the deposit history's sweep on 2025-03-03 moves the two-chain labels' coinbase wallet
    # CB_ETH, which has no balance anchor among the edge cases; on Arbitrum kucoin known; 6 rejected rows, one of
    # them the Arbitrum row without a token
    with duckdb.connect(str(builds / "cexflow.duckdb"), read_only=True) as con:
        assert con.execute("select chain, token_address, exchange, bool_and(is_reserve_known) "
                           "from fct_exchange_reserve_daily group by all order by all").fetchall() == [
            ("arbitrum", LPT_ARB, "kucoin", True), ("ethereum", LPT, "binance", False),
            ("ethereum", LPT, "coinbase", False), ("ethereum", LPT, "gate-io", True)]
        assert con.execute("select wallet_address from rpt_wallets_without_balance_anchor "
                           "where exchange = 'coinbase'").fetchall() == [(CB_ETH,)]
        rejected = con.execute("select line_number, reason from stg_balances_rejected order by 1").fetchall()
        assert len(rejected) == 6 and rejected[0][0] == 6 and "several tokens on arbitrum" in rejected[0][1]
        # ... and the USD columns had values, NULLs and overflows in them (days of a price of 10^17 and more)
        assert con.execute("select count(*) from stg_prices_rejected").fetchone() == (4,)
        # ... the deposit addresses of the deposit history were inferred (with any the other files hold), and swept
        inferred = dict(con.execute("select address_kind, count(*) from dim_exchange_addresses where is_inferred "
                                    "group by 1").fetchall())
        assert inferred.get("deposit", 0) >= 4 and inferred.get("wallet", 0) >= 1
        assert con.execute("select count(*) from fct_exchange_transfers where flow_type = 'sweep'").fetchone()[0] >= 4
        # ... and LATE_DEPOSIT was ruled out: QUIET_DAY has one transfer and no exchange transfer, and the sweep
        # is a deposit from the address (the Spark build, in two runs, inferred it in its first)
        assert con.execute("select count(*) from int_transfers_deduplicated "
                           "where cast(transferred_at as date) = '2024-06-15'").fetchone() == (1,)
        assert con.execute("select count(*) from fct_exchange_transfers "
                           "where flow_date = '2024-06-15'").fetchone() == (0,)
        assert con.execute("select flow_date, flow_type from fct_exchange_transfers "
                           f"where from_address = '{LATE_DEPOSIT}'").fetchall() == [(date(2024, 6, 16), "deposit")]
        priced, unpriced, overflow = con.execute("""
            select count(inflow_usd), count(*) - count(price_usd),
                   count(*) filter (where price_usd is not null and inflow_usd is null)
            from fct_netflow_daily_series""").fetchone()
        assert priced > 0 and unpriced > 0 and overflow > 0
        assert con.execute(f"""select count(inflow_usd) > 0, count(*) > count(inflow_usd) from fct_netflow_daily_total
            where chain = 'arbitrum' and token_address = '{USDC_ARB}'""").fetchone() == (True, True)
    # ... with three tokens on two chains in the daily marts, and both cross-chain marts compared with rows
    result = compare_engines.compare(builds / "cexflow.duckdb", spark_dir)
    assert result.agree, result.differences
    assert {"stg_tokens__selected", "fct_netflow_daily_cross_chain", "fct_netflow_daily_cross_chain_by_exchange",
            "fct_netflow_daily_total", "fct_netflow_daily_by_exchange"} <= set(result.compared)
    with duckdb.connect(str(builds / "cexflow.duckdb"), read_only=True) as con:
        assert con.execute("select distinct chain, token_address from fct_netflow_daily_total "
                           "order by all").fetchall() == [("arbitrum", LPT_ARB), ("arbitrum", USDC_ARB),
                                                          ("ethereum", LPT)]
        assert con.execute("""select symbol, max(n_chains), count(*) filter (where n_chains_with_flow = 2) > 0
            from fct_netflow_daily_cross_chain group by symbol order by symbol""").fetchall() == [
            ("LPT", 2, True), ("USDC", 1, False)]
        assert con.execute("select count(distinct exchange) from fct_netflow_daily_cross_chain_by_exchange "
                           "where symbol = 'LPT' and n_chains = 2").fetchone()[0] >= 1


def test_duckdb_and_spark_agree_on_many_tokens_and_chains(tmp_path, real_data):
    require_spark("the DuckDB/Spark comparison")
    args = many_tokens_arguments(tmp_path, real_data)
    started = time.perf_counter()
    # Spark in two runs (--spark-incremental): the seeds and models on every input but the last, then an
    # incremental build, data tests included, that adds the last; DuckDB in one full build
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "scripts" / "compare_engines.py"), *args,
                           "--spark-incremental", "--workdir", str(tmp_path / "builds")],
                          env={**os.environ, **QUICK_SPARK}, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - started
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "compare_engines.txt").write_text(
        f"{proc.stdout}{proc.stderr}\nwhole comparison: {elapsed:.0f} s\n")
    check_many_tokens_build(proc, tmp_path / "builds", tmp_path / "builds" / "spark")
    # the incremental run reclassified the transfers of LATE_DEPOSIT, which the first run had inferred: its
    # receipt on QUIET_DAY (late1), whose day lost its rows, and its sweep (late2)
    reclassified = spark_schema_dir(tmp_path / "builds" / "spark") / "int_transfers_reclassified"
    with duckdb.connect() as con:
        days = con.execute(f"select flow_date from read_parquet('{reclassified}/*.parquet')").fetchall()
    # (no other input has a transfer on those two days)
    assert (date(2024, 6, 15),) in days and (date(2024, 6, 16),) in days


def test_report_reads_a_spark_warehouse_as_it_reads_the_duckdb_file(tmp_path):
    # `cexflow report --spark-dir` on the tables of a build written as Spark writes them (parquet, flow_date
    # partition folders) gives the same reports, byte for byte, as `--db` on the DuckDB file itself. (Not on
    # the edge-case build: its largest amount overflows the report's sums over all days, a known limit.)
    from cexflow.cli import main as cexflow_main

    files = write_edge_case_inputs(tmp_path / "in")[1:]  # the CRLF file and the API page: 9 transfers, 4 days
    db = tmp_path / "small.duckdb"
    assert build(db, *[a for f in files for a in ("--input", str(f))]) == 0
    write_as_spark_warehouse(db, tmp_path / "spark")
    assert cexflow_main(["report", "--db", str(db), "--out", str(tmp_path / "duck")]) == 0
    assert cexflow_main(["report", "--spark-dir", str(tmp_path / "spark"), "--out", str(tmp_path / "spark_out")]) == 0
    duck_files = sorted(p.relative_to(tmp_path / "duck") for p in (tmp_path / "duck").rglob("*") if p.is_file())
    spark_files = sorted(p.relative_to(tmp_path / "spark_out") for p in (tmp_path / "spark_out").rglob("*")
                         if p.is_file())
    assert duck_files == spark_files and len(duck_files) > 5
    for name in duck_files:
        if name.suffix in (".md", ".csv"):
            assert (tmp_path / "spark_out" / name).read_text() == (tmp_path / "duck" / name).read_text(), name
    assert cexflow_main(["report", "--db", str(db), "--spark-dir", str(tmp_path / "spark"),
                         "--out", str(tmp_path / "both")]) == 2


def test_a_spark_build_adds_to_a_hive_warehouse_and_starts_over_otherwise(tmp_path, monkeypatch):
    # what `cexflow build --target spark` decides before it runs dbt (no Spark needed to check it)
    from cexflow import build as cexflow_build

    old, new = (write_csv(tmp_path / f"{n}.csv", ETHERSCAN_HEADER, [etherscan_row(1, DAY, user(1), BINANCE14, "1")])
                for n in ("old", "new"))
    base = {"labels_files": [], "ethereum_etl_blocks_files": [], "chain": "ethereum", "token": "lpt",
            "token_decimals": None}
    no_files = {"seed_export": [], "etherscan_json": [], "ethereum_etl": []}
    first = {**base, "input_files": {**no_files, "etherscan_csv": [str(old)]}}
    second = {**base, "input_files": {**no_files, "etherscan_csv": [str(old), str(new)]}}
    spark_dir = tmp_path / "spark"
    spark_dir.mkdir()
    monkeypatch.setenv("CEXFLOW_SPARK_CATALOG", "hive")
    assert cexflow_build.spark_plan(spark_dir, second, False)[1:] == (True, "new database")

    cexflow_build.record_build(spark_dir / cexflow_build.SPARK_STATE_FILE, first)
    (spark_schema_dir(spark_dir) / "stg_transfers__rows_validated").mkdir(parents=True)
    assert cexflow_build.spark_plan(spark_dir, second, False)[1:] == (True, "new database")  # no metastore
    cexflow_build.record_build(spark_dir / cexflow_build.SPARK_STATE_FILE, first)
    (spark_dir / "metastore_db").mkdir()
    run_vars, full, reason = cexflow_build.spark_plan(spark_dir, second, False)
    assert (full, reason, run_vars["input_files"]["etherscan_csv"]) == (False, "1 new file(s)", [str(new)])
    assert cexflow_build.spark_plan(spark_dir, second, True)[1:] == (True, "--full-refresh")

    shutil.rmtree(spark_dir / "warehouse")  # the state file alone cannot be added to
    assert cexflow_build.spark_plan(spark_dir, second, False)[1:] == (True, "new database")
    assert not (spark_dir / cexflow_build.SPARK_STATE_FILE).exists()

    cexflow_build.record_build(spark_dir / cexflow_build.SPARK_STATE_FILE, first)
    monkeypatch.setenv("CEXFLOW_SPARK_CATALOG", "in-memory")  # the tables die with the session
    assert cexflow_build.spark_plan(spark_dir, second, False)[1:] == (True, "in-memory catalog")
    assert not (spark_dir / cexflow_build.SPARK_STATE_FILE).exists()  # nor can a later Hive build add to it
