"""Reports, alerts and the docs site of one database of several tokens and chains.

One build holds LPT on Ethereum (the bundled sample and the two LPT rows of the real ethereum-etl file), LPT on
Arbitrum One (the sample's transfers from 2025-04-15 on, under the Arbitrum LPT contract and other transaction
hashes) and USDT (the real ethereum-etl file's). The independent methods:

- each token's reports equal, byte for byte, those of a build of that token alone from its own files (the
  three single-token builds below): the charts, the CSV exports, the top-k and anomaly pages, and the summary
  up to its input files (the build of several reads more files; that section is checked against the build's
  reconciliation); each token's index differs by its link to the index of every token;
- the index's figures are sums the test makes of the daily marts of the token's rows, and for LPT on Arbitrum
  of the raw file with the labels (plain csv and Decimal);
- the agent's alerts are the single-token agents' alerts, each line naming its token and chain, and a state
  written by a single-token agent reads: its anomalies are not alerted again.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from conftest import PROJECT_ROOT, build, query, table, write_csv

from cexflow import agent, cli, db, docs, report
from cexflow.cli import main as cexflow_main
from cexflow.errors import CexflowError
from cexflow.paths import SAMPLE_INPUT

LPT_ETH = "0x58b6a8a3302369daec383334672404ee733ab239"
LPT_ARB = "0x289ba1701c2f088cf0faf8b3705246331cb8a839"
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"
ETL_FILE = PROJECT_ROOT / "tests" / "data" / "real" / "erc20_token_transfers_blocks_12600000-12600050.csv"
BLOCK0_TIME = 1623202380  # block 12,600,000 (tests/data/real/SOURCE.md): the file's blocks are 13 s apart
ARB_FROM = dt.datetime(2025, 4, 15, tzinfo=dt.UTC)
FOLDERS = {"lpt-arbitrum": ("arbitrum", LPT_ARB), "lpt-ethereum": ("ethereum", LPT_ETH),
           "usdt-ethereum": ("ethereum", USDT)}
ALERT_LINE = re.compile(r"^\[ALERT\] (\d+) new anomalies\. Report: (.+\.md)$")


# --- the files and builds -------------------------------------------------------------------------------


def arbitrum_copy(path: Path) -> Path:
    """The sample's rows from ARB_FROM on, as LPT on Arbitrum One: the Arbitrum contract, other tx hashes."""
    with open(SAMPLE_INPUT, newline="") as fh:
        reader = csv.DictReader(fh)
        header, rows = reader.fieldnames, list(reader)
    kept = []
    for r in rows:
        if int(r["timeStamp"]) >= ARB_FROM.timestamp():
            kept.append({**r, "contractAddress": LPT_ARB,
                         "hash": "0x" + hashlib.sha256(("arbitrum" + r["hash"]).encode()).hexdigest()})
    return write_csv(path, header, kept)


def two_chain_labels(path: Path) -> Path:
    """The project's Ethereum labels, and the same addresses labelled on Arbitrum One too."""
    with open(PROJECT_ROOT / "seeds" / "exchange_wallets.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["chain"] == "ethereum"]
    header = ["chain", "address", "exchange", "wallet"]
    return write_csv(path, header, rows + [{**r, "chain": "arbitrum"} for r in rows])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("multi_files")
    blocks = write_csv(d / "blocks.csv", ["number", "timestamp"],
                       [[12_600_000 + i, BLOCK0_TIME + 13 * i] for i in range(51)])
    return {"arb": arbitrum_copy(d / "lpt_arbitrum.csv"), "labels": two_chain_labels(d / "labels.csv"),
            "blocks": blocks}


def multi_args(files) -> list[str]:
    return ["--input", str(SAMPLE_INPUT), "--input", f"arbitrum={files['arb']}", "--input", str(ETL_FILE),
            "--blocks", str(files["blocks"]), "--labels", str(files["labels"]), "--token", "LPT", "--token", "USDT"]


def single_args(files) -> dict[str, list[str]]:
    """The build of each token alone, from the files that hold it."""
    labels = ["--labels", str(files["labels"])]
    return {
        "lpt-ethereum": ["--input", str(SAMPLE_INPUT), "--input", str(ETL_FILE), "--blocks", str(files["blocks"]),
                         "--token", "LPT", *labels],
        "lpt-arbitrum": ["--chain", "arbitrum", "--input", str(files["arb"]), "--token", "LPT", *labels],
        "usdt-ethereum": ["--input", str(ETL_FILE), "--blocks", str(files["blocks"]), "--token", "USDT", *labels],
    }


@pytest.fixture(scope="module")
def multi_db(tmp_path_factory, files) -> Path:
    database = tmp_path_factory.mktemp("multi") / "multi.duckdb"
    assert build(database, *multi_args(files)) == 0
    return database


@pytest.fixture(scope="module")
def single_dbs(tmp_path_factory, files) -> dict[str, Path]:
    out = {}
    for folder, args in single_args(files).items():
        database = tmp_path_factory.mktemp(folder) / f"{folder}.duckdb"
        assert cexflow_main(["build", "--db", str(database), *args]) == 0
        out[folder] = database
    return out


@pytest.fixture(scope="module")
def reports(tmp_path_factory, multi_db) -> Path:
    out = tmp_path_factory.mktemp("multi_reports")
    report.make_reports(db=multi_db, out=out)
    return out / "reports"


def token_rows(database: Path, table_name: str, chain: str, token: str, columns: str) -> list[tuple]:
    return query(database, f"select {columns} from {table_name} where chain = '{chain}' "
                           f"and token_address = '{token}' order by all")


# --- db.tokens and db.scoped ------------------------------------------------------------------------------


def test_tokens_are_the_builds_tokens_with_data(multi_db):
    with db.connect(multi_db) as con:
        tokens = db.tokens(con)
    assert [(t["chain"], t["token_address"], t["symbol"], t["kind"]) for t in tokens] == [
        ("arbitrum", LPT_ARB, "LPT", "volatile"), ("ethereum", LPT_ETH, "LPT", "volatile"),
        ("ethereum", USDT, "USDT", "stablecoin")]


def test_scoped_shows_one_tokens_rows_of_every_table_that_has_them(multi_db):
    with db.connect(multi_db) as con:
        keyed = [name for (name,) in con.execute("""
            select table_name from information_schema.columns where column_name in ('chain', 'token_address')
            group by table_name having count(distinct column_name) = 2""").fetchall()]
    assert {"fct_netflow_daily_total", "fct_flow_legs", "rpt_build_summary", "rpt_netflow_anomalies"} <= set(keyed)
    counted = ["fct_exchange_transfers", "fct_flow_legs", "fct_netflow_daily_total", "fct_netflow_daily_by_exchange",
               "fct_netflow_zscores", "rpt_netflow_anomalies", "rpt_topk_netflow_days", "rpt_build_summary"]
    for chain, token in FOLDERS.values():
        with db.scoped(multi_db, chain, token) as con:
            for name in counted:
                (n, others) = con.execute(f"select count(*), count(*) filter (where chain <> '{chain}' or "
                                          f"token_address <> '{token}') from {name}").fetchone()
                assert others == 0, name
                # the same count as the test's own where clause on the file
                assert [(n,)] == query(multi_db, f"select count(*) from {name} where chain = '{chain}' and "
                                                 f"token_address = '{token}'"), name
            # a table without the two columns is the file's whole table
            assert con.execute("select count(*) from rpt_input_reconciliation").fetchone() == query(
                multi_db, "select count(*) from rpt_input_reconciliation")[0]


def test_scoped_says_why_a_view_of_the_file_cannot_be_read(tmp_path):
    # a view of the file over an input file that is gone (as a staging view is once its file moved): reading it
    # through scoped is an error naming it, never the view's rows of every token
    source = write_csv(tmp_path / "rows.csv", ["chain", "token_address", "amount"],
                       [["ethereum", LPT_ETH, "1"], ["arbitrum", LPT_ARB, "2"]])
    database = tmp_path / "gone.duckdb"
    with duckdb.connect(str(database)) as con:
        con.execute(f"create view rows_of_file as select * from read_csv('{source}')")
        con.execute("create table kept as select * from rows_of_file")
    source.unlink()
    with db.scoped(database, "arbitrum", LPT_ARB) as con:
        assert con.execute("select chain, amount from kept").fetchall() == [("arbitrum", 2)]
        with pytest.raises(duckdb.Error, match=r"rows_of_file of .*gone\.duckdb cannot be read: .*rows\.csv"):
            con.execute("select count(*) from rows_of_file").fetchall()


# --- reports --------------------------------------------------------------------------------------------


def files_under(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


INPUTS = "## Inputs and rejected rows"
FLOAT_COLUMNS = ("baseline_mean", "baseline_std", "zscore")  # DOUBLEs of the z-score window (the rest exact)


def csv_cells(data: bytes) -> list[list]:
    """A CSV export's cells, the z-score window's DOUBLEs to 12 significant digits: a window's sum of doubles
    can end in another last bit in another build (the engine comparison allows 1e-9), the amounts are exact."""
    rows = list(csv.reader(data.decode().splitlines()))
    floats = [i for i, name in enumerate(rows[0]) if name in FLOAT_COLUMNS]
    return [rows[0]] + [[f"{float(c):.12g}" if i in floats and c else c for i, c in enumerate(row)]
                        for row in rows[1:]]


def same_picture(a: bytes, b: bytes) -> bool:
    """The same PNG, or (a last bit of a DOUBLE drawn elsewhere) the same size with under 0.1% of its pixels
    different."""
    if a == b:
        return True
    import io

    import matplotlib.image

    x, y = (matplotlib.image.imread(io.BytesIO(d), format="png") for d in (a, b))
    return x.shape == y.shape and (x != y).any(axis=-1).mean() < 1e-3


def test_each_tokens_reports_equal_those_of_its_single_token_build(reports, single_dbs, tmp_path):
    assert sorted(p.name for p in reports.iterdir()) == ["README.md", *sorted(FOLDERS)]
    for folder, single_db in single_dbs.items():
        single = report.make_reports(db=single_db, out=tmp_path / folder).reports_dir
        got, expected = files_under(reports / folder), files_under(single)
        assert sorted(got) == sorted(expected), folder
        for name, data in expected.items():
            if name == "index.md":  # the link to every token's index, after the whole range
                lines = got[name].decode().splitlines(keepends=True)
                assert lines[3] == "Every token of the build: [index](../README.md).\n"
                assert "".join(lines[:3] + lines[4:]).encode() == data, folder
            elif name == "summary.md":
                mine, theirs = got[name].decode(), data.decode()
                assert mine.split(INPUTS)[0] == theirs.split(INPUTS)[0], folder
            elif name.endswith(".csv"):
                assert csv_cells(got[name]) == csv_cells(data), f"{folder}/{name}"
            elif name.endswith(".png"):
                assert same_picture(got[name], data), f"{folder}/{name}"
            else:
                assert got[name] == data, f"{folder}/{name}"


def test_a_tokens_summary_lists_the_files_of_the_build(reports, multi_db):
    expected = query(multi_db, "select source_file, rows_read, transfers_kept from rpt_input_reconciliation "
                               "order by source_file")
    assert len(expected) == 3
    for folder in FOLDERS:
        text = (reports / folder / "summary.md").read_text()
        assert "files of the whole build, which holds several tokens ([all of them](../README.md))" in text
        rows = table(text, INPUTS.lstrip("# "))
        shown = sorted((r["file"].strip("`"), int(r["rows read"].replace(",", "")),
                        int(r["transfers kept"].replace(",", ""))) for r in rows)
        assert shown == sorted((report.project_path(f), n, k) for f, n, k in expected), folder


def amount(text: str) -> Decimal:
    return Decimal(text.replace(",", "").replace("+", ""))


def cents(value) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


def test_the_index_gives_each_tokens_period_flows_anomalies_and_link(reports, multi_db):
    rows = {(r["token"], r["chain"]): r for r in table((reports / "README.md").read_text(),
                                                        "cexflow reports: 3 tokens")}
    assert sorted(rows) == [("LPT", "arbitrum"), ("LPT", "ethereum"), ("USDT", "ethereum")]
    for folder, (chain, token) in FOLDERS.items():
        r = rows[(folder.split("-")[0].upper(), chain)]
        days = token_rows(multi_db, "fct_netflow_daily_total", chain, token, "flow_date, inflow, outflow")
        inflow, outflow = sum(d[1] for d in days), sum(d[2] for d in days)
        (n_anomalies,) = query(multi_db, f"select count(*) from rpt_netflow_anomalies where chain = '{chain}' "
                                         f"and token_address = '{token}'")[0]
        first, last = days[0][0], days[-1][0]
        assert r["period"] == (f"{first} to {last}" if first != last else str(first))
        assert int(r["days"].replace(",", "")) == len(days) == (last - first).days + 1
        assert (amount(r["inflow"]), amount(r["outflow"]), amount(r["netflow"])) == (
            cents(inflow), cents(outflow), cents(inflow - outflow))
        assert int(r["anomalies"]) == n_anomalies
        assert r["reports"] == f"[{folder}]({folder}/index.md)"
        assert (reports / folder / "index.md").exists()
    assert int(rows[("LPT", "arbitrum")]["anomalies"]) > 0 and int(rows[("LPT", "ethereum")]["anomalies"]) > 0
    # --token USDT is USDT on every chain of the build (seeds/tokens.csv): on Arbitrum One it has no transfer
    assert query(multi_db, "select chain, symbol from stg_tokens__selected order by all") == [
        ("arbitrum", "LPT"), ("arbitrum", "USDT"), ("ethereum", "LPT"), ("ethereum", "USDT")]
    assert ("Tokens of the build without a transfer in the inputs (no rows, no reports): USDT on arbitrum."
            in (reports / "README.md").read_text())


def raw_total_flows(path: Path, labels: Path, decimals: int = 18) -> tuple[Decimal, Decimal, set]:
    """(inflow, outflow, days) of all exchanges from a raw Etherscan file: a transfer from an unlabelled address
    to a labelled wallet is inflow, the reverse outflow; a row listed twice counts once."""
    with open(labels, newline="") as fh:
        labelled = {r["address"].lower() for r in csv.DictReader(fh) if r["chain"] == "arbitrum"}
    with open(path, newline="") as fh:
        rows = {(r["hash"], r["from"].lower(), r["to"].lower(), r["value"], r["timeStamp"])
                for r in csv.DictReader(fh)}
    inflow = outflow = Decimal(0)
    days = set()
    for _, frm, to, value, ts in rows:
        days.add(dt.datetime.fromtimestamp(int(ts), dt.UTC).date())
        tokens = Decimal(value).scaleb(-decimals)
        if to in labelled and frm not in labelled:
            inflow += tokens
        elif frm in labelled and to not in labelled:
            outflow += tokens
    return inflow, outflow, days


def test_lpt_on_arbitrum_in_the_index_is_the_raw_files_flows(reports, files):
    inflow, outflow, days = raw_total_flows(files["arb"], files["labels"])
    r = {(r["token"], r["chain"]): r for r in table((reports / "README.md").read_text(),
                                                     "cexflow reports: 3 tokens")}[("LPT", "arbitrum")]
    assert (amount(r["inflow"]), amount(r["outflow"]), amount(r["netflow"])) == (
        cents(inflow), cents(outflow), cents(inflow - outflow))
    assert r["period"] == f"{min(days)} to {max(days)}"


def test_the_cross_chain_table_sums_a_symbols_chains(reports, single_dbs):
    rows = table((reports / "README.md").read_text(), "Across chains")
    assert [(r["symbol"], r["chain"]) for r in rows] == [("LPT", "all 2 chains"), ("LPT", "arbitrum"),
                                                          ("LPT", "ethereum")]
    # independent: each chain's daily total of its own single-token build, summed by the test
    sums, periods = {}, {}
    for folder in ("lpt-arbitrum", "lpt-ethereum"):
        days = query(single_dbs[folder], "select flow_date, inflow, outflow from fct_netflow_daily_total "
                                         "order by flow_date")
        sums[folder] = (sum(d[1] for d in days), sum(d[2] for d in days))
        periods[folder] = (days[0][0], days[-1][0])
    inflow = sums["lpt-arbitrum"][0] + sums["lpt-ethereum"][0]
    outflow = sums["lpt-arbitrum"][1] + sums["lpt-ethereum"][1]
    first = min(p[0] for p in periods.values())
    last = max(p[1] for p in periods.values())
    total = rows[0]
    assert total["period"] == f"{first} to {last}"
    assert int(total["days"].replace(",", "")) == (last - first).days + 1
    assert (amount(total["inflow"]), amount(total["outflow"]), amount(total["netflow"])) == (
        cents(inflow), cents(outflow), cents(inflow - outflow))
    for r in rows[1:]:
        folder = f"lpt-{r['chain']}"
        i, o = sums[folder]
        assert (amount(r["inflow"]), amount(r["outflow"]), amount(r["netflow"])) == (cents(i), cents(o),
                                                                                    cents(i - o))
        assert r["period"] == f"{periods[folder][0]} to {periods[folder][1]}"


def test_focus_is_per_token_and_skips_a_token_without_the_period(multi_db, single_dbs, tmp_path):
    # binance on 2025-05-20..2025-06-05: LPT on both chains has it; USDT's one day is 2021-06-09
    result = report.make_reports(db=multi_db, out=tmp_path / "multi", start="2025-05-20", end="2025-06-05",
                                 focus="binance")
    name = "binance_2025-05-20_2025-06-05.md"
    written = sorted(p.relative_to(result.reports_dir).as_posix() for p in result.files if p.suffix == ".md")
    assert written == ["README.md", f"lpt-arbitrum/focus/{name}", "lpt-arbitrum/index.md",
                       f"lpt-ethereum/focus/{name}", "lpt-ethereum/index.md"]
    assert len(result.skipped) == 1 and result.skipped[0].startswith("USDT on ethereum: --start 2025-05-20")
    for folder in ("lpt-arbitrum", "lpt-ethereum"):
        single = report.make_reports(db=single_dbs[folder], out=tmp_path / folder, start="2025-05-20",
                                     end="2025-06-05", focus="binance").reports_dir
        assert files_under(result.reports_dir / folder / "focus") == files_under(single / "focus"), folder
    # one token of the two chains
    one = report.make_reports(db=multi_db, out=tmp_path / "one", start="2025-05-20", end="2025-06-05",
                              focus="binance", token="lpt", chain="arbitrum")
    assert sorted(p.parent.parent.name for p in one.files if p.parent.name == "focus" and p.suffix == ".md") == [
        "lpt-arbitrum"]


def same_files(got: dict[str, bytes], expected: dict[str, bytes]) -> None:
    assert sorted(got) == sorted(expected)
    for name, data in expected.items():
        if name.endswith(".csv"):
            assert csv_cells(got[name]) == csv_cells(data), name
        elif name.endswith(".png"):
            assert same_picture(got[name], data), name
        else:
            assert got[name] == data, name


def test_a_build_of_several_tokens_one_with_data_reads_as_a_build_of_that_one(tmp_path):
    # the bundled sample with --token LPT --token USDC: USDC has a row of rpt_build_summary without days, and
    # every reader reads LPT's marts only: the reports are the committed sample reports of docs/sample-reports/, the
    # alerts do not name the token
    database = tmp_path / "lone.duckdb"
    assert cexflow_main(["build", "--db", str(database), "--token", "LPT", "--token", "USDC"]) == 0
    assert query(database, "select symbol, n_days from rpt_build_summary order by symbol") == [
        ("LPT", 120), ("USDC", 0)]
    # USDC's rows first, so that a reader taking the first row of either table would read USDC's
    with duckdb.connect(str(database)) as con:
        for name in ("rpt_build_summary", "stg_tokens__selected"):
            con.execute(f"create or replace table {name} as select * from {name} order by symbol desc")
    assert [row[0] for row in query(database, "select symbol from rpt_build_summary")] == ["USDC", "LPT"]
    assert [row[0] for row in query(database, "select symbol from stg_tokens__selected")] == ["USDC", "LPT"]
    out = report.make_reports(db=database, out=tmp_path).reports_dir
    same_files(files_under(out), files_under(PROJECT_ROOT / "docs" / "sample-reports"))
    days, context = agent.read_anomalies(database)
    assert (context["symbol"], context["first_day"], "tokens" in context) == ("LPT", "2025-03-01", False)
    assert days and all("token_label" not in d for d in days)
    assert all(" on ethereum" not in agent.alert_text(d).split(": netflow")[0] for d in days)
    info = docs.load_build_info(database)
    assert (info.token.symbol, info.days, info.tokens, info.subtitle) == (
        "LPT", 120, [], "LPT on ethereum, 2025-03-01 to 2025-06-28")


def test_report_token_options_choose_tokens_and_name_a_missing_one(multi_db, tmp_path, capsys):
    out = tmp_path / "usdt"
    assert cexflow_main(["report", "--db", str(multi_db), "--out", str(out), "--token", USDT.upper()]) == 0
    assert sorted(p.name for p in (out / "reports").iterdir()) == ["README.md", "usdt-ethereum"]
    readme = (out / "reports" / "README.md").read_text()
    assert "| LPT | arbitrum |" in readme and "not rendered |" in readme  # every token listed, linked if rendered
    capsys.readouterr()
    assert cexflow_main(["report", "--db", str(multi_db), "--out", str(out), "--token", "DAI"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("cexflow report: error: --token DAI: no such token with data in the marts; the marts hold "
                   "LPT on arbitrum, LPT on ethereum, USDT on ethereum")
    with pytest.raises(CexflowError, match="^--token USDT --chain arbitrum: no such token"):
        report.make_reports(db=multi_db, out=out, token="USDT", chain="arbitrum")


def test_the_reports_of_a_spark_warehouse_of_several_tokens_are_the_same(multi_db, reports, tmp_path):
    # the build's tables as Spark writes them (parquet files; fct_flow_legs a table), read by `cexflow report
    # --spark-dir` through db.scoped on its views: the same folders and the same Markdown and CSV files
    from test_compare_engines import write_as_spark_warehouse

    write_as_spark_warehouse(multi_db, tmp_path / "spark")
    assert cexflow_main(["report", "--spark-dir", str(tmp_path / "spark"), "--out", str(tmp_path / "out")]) == 0
    spark, duck = files_under(tmp_path / "out" / "reports"), files_under(reports)
    assert sorted(spark) == sorted(duck)
    texts = [name for name in duck if name.endswith((".md", ".csv"))]
    assert len(texts) > 15 and all(spark[name] == duck[name] for name in texts)


# --- the agent ------------------------------------------------------------------------------------------


def copy_db(database: Path, folder: Path) -> Path:
    """A copy under the same file name (the views in a DuckDB file name its catalog, the file's name)."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(database, folder / database.name)
    return folder / database.name


def run_agent(capsys, database: Path, args: list[str], state: Path, out: Path) -> list[str]:
    assert cli.main(["agent", "--db", str(database), *args, "--state", str(state), "--out", str(out)]) == 0
    return capsys.readouterr().out.splitlines()


def alert_days(lines: list[str]) -> list[str]:
    """The alert day lines of the agent's output (after its [ALERT] line)."""
    return [line.strip() for line in lines if line.startswith("  ") and not line.startswith("  update")
            and "marked as seen" not in line]


def with_token(line: str, label: str) -> str:
    """A single-token alert line as the build of several writes it: the token after the day."""
    day, rest = line.split(" ", 1)
    return f"{day} {label}, {rest}"


@pytest.fixture(scope="module")
def single_alerts(tmp_path_factory, single_dbs, files) -> dict[str, dict]:
    """Each single-token build's first agent run: its alert lines and its state file."""
    out = {}
    for folder in ("lpt-arbitrum", "lpt-ethereum"):
        d = tmp_path_factory.mktemp(f"agent_{folder}")
        database = copy_db(single_dbs[folder], d / "db")
        state = d / "state.json"
        result = agent.run_cycle(cli.build_options(cli.parse(["agent", "--db", str(database),
                                                              *single_args(files)[folder]])),
                                 state, agent.agent_options(out=d / "alerts"))
        out[folder] = {"lines": result.lines(), "state": state, "result": result}
    return out


def test_alerts_of_several_tokens_are_each_tokens_alerts_named(multi_db, files, single_alerts, tmp_path, capsys):
    database = copy_db(multi_db, tmp_path / "db")
    lines = run_agent(capsys, database, multi_args(files), tmp_path / "state.json", tmp_path / "alerts")
    headers = [ALERT_LINE.match(line) for line in lines if line.startswith("[ALERT]")]
    assert len(headers) == 1
    expected = []
    for folder, label in (("lpt-arbitrum", "LPT on arbitrum"), ("lpt-ethereum", "LPT on ethereum")):
        single = single_alerts[folder]
        expected += [with_token(line, label) for line in alert_days(single["lines"])]
    assert alert_days(lines) == expected
    n_single = sum(len(single_alerts[f]["result"].reports[0]["alerts"]) for f in ("lpt-arbitrum", "lpt-ethereum"))
    assert int(headers[0].group(1)) == n_single > 2
    # one episode per (chain, token, series, start): the single-token agents' episodes, and no other
    state = json.loads((tmp_path / "state.json").read_text())
    episodes = {v["episode"] for v in state["days"].values()}
    single_episodes = set()
    for folder in ("lpt-arbitrum", "lpt-ethereum"):
        single_episodes |= {v["episode"] for v in json.loads(single_alerts[folder]["state"].read_text())[
            "days"].values()}
    assert episodes == single_episodes
    assert {e.split(":")[0] for e in episodes} == {"arbitrum", "ethereum"}
    # the alert report names the tokens and gives each row's token
    text = Path(headers[0].group(2)).read_text()
    assert text.splitlines()[0].endswith("— LPT on arbitrum, LPT on ethereum")
    rows = table(text, "Every day in this report")
    assert sorted({r["token"] for r in rows}) == ["LPT on arbitrum", "LPT on ethereum"]
    assert len(rows) == len(state["days"])
    # each token of the build with data, its period (of its own daily mart) and its sign in its kind's words
    assert "(data 2021-06-09 to 2025-06-28, UTC days). The build holds 3 tokens with data;" in " ".join(text.split())
    for label, (chain, token) in (("LPT on arbitrum", FOLDERS["lpt-arbitrum"]),
                                  ("USDT on ethereum", FOLDERS["usdt-ethereum"])):
        days = token_rows(multi_db, "fct_netflow_daily_total", chain, token, "flow_date")
        period = f"{days[0][0]} to {days[-1][0]}" if len(days) > 1 else str(days[0][0])
        assert f"- {label} ({period}): positive is a net inflow to exchanges (tokens arriving: " in text
    assert "(tokens arriving: buying power arriving" in text.split("- USDT on ethereum")[1].splitlines()[0]


def test_messages_and_digest_name_the_token(multi_db, files, tmp_path):
    database = copy_db(multi_db, tmp_path / "db")
    result = agent.run_cycle(cli.build_options(cli.parse(["agent", "--db", str(database), *multi_args(files)])),
                             tmp_path / "state.json", agent.agent_options(out=tmp_path / "alerts"))
    entry = result.reports[0]
    titles = [m["title"] for m in agent.messages(entry, digest=False)]
    assert titles and all(re.match(r"cexflow alert: LPT on (arbitrum|ethereum) net (inflow to|outflow from) ", t)
                          for t in titles)
    assert {t.split(" ")[4] for t in titles} == {"arbitrum", "ethereum"}
    (digest,) = agent.messages(entry, digest=True)
    assert digest["title"].endswith("— LPT on arbitrum, LPT on ethereum")
    assert all(d["token"] == "LPT" and d["chain"] in ("arbitrum", "ethereum") for d in digest["data"]["alerts"])


def test_a_single_token_state_reads_its_anomalies_stay_known(multi_db, files, single_alerts, tmp_path, capsys):
    # the state of an agent that watched LPT on Ethereum alone, then the build of several tokens: only LPT on
    # Arbitrum's episodes are new
    database = copy_db(multi_db, tmp_path / "db")
    state = tmp_path / "state.json"
    shutil.copy(single_alerts["lpt-ethereum"]["state"], state)
    lines = run_agent(capsys, database, multi_args(files), state, tmp_path / "alerts")
    expected = [with_token(line, "LPT on arbitrum") for line in alert_days(single_alerts["lpt-arbitrum"]["lines"])]
    assert alert_days(lines) == expected
    again = run_agent(capsys, database, multi_args(files), state, tmp_path / "alerts")
    assert again == ["[OK] No new anomalies."]


# --- the docs site --------------------------------------------------------------------------------------


def test_the_docs_site_lists_each_token_and_its_pages(multi_db, tmp_path):
    index = docs.build_site(multi_db, tmp_path / "site")
    site = index.parent
    html = index.read_text()
    assert "<h1>Flows of 3 tokens into and out of centralized exchanges</h1>" in html
    for folder in FOLDERS:
        for page in ("summary", "topk", "anomalies"):
            assert f'href="reports/{folder}/{page}.html"' in html
            assert (site / "reports" / folder / f"{page}.html").exists()
    assert (site / "reports" / "README.html").exists()
    for label in ("LPT on arbitrum", "LPT on ethereum", "USDT on ethereum"):
        assert f"<li>{label}: " in html
    # a token's pages are headed by it and link its own reports
    page = (site / "reports" / "lpt-arbitrum" / "summary.html").read_text()
    assert '<span class="subtitle">LPT on arbitrum, ' in page
    assert '<a href="../../reports/lpt-arbitrum/topk.html">Top-k days</a>' in page
    # every relative link of the index and the token pages points at a file of the site
    for path in [index, *site.glob("reports/*/*.html"), site / "reports" / "README.html"]:
        for link in re.findall(r'href="([^"#:]+)(?:#[^"]*)?"', path.read_text()):
            assert (path.parent / link).resolve().exists(), (path, link)
