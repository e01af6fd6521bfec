"""Nothing accepted silently: options that can never give what a build is for are one-line errors (before dbt
runs where the options alone say so), and a build that finishes but is less useful than its exit code says
prints a `warning:` line per reason in its summary (the agent: `[WARN]` lines on stderr, on every run).

Hand-made files: good.csv holds three LPT transfers on three days, 2025-01-01..03 (10 LPT to binance14 from an
unlabelled address, 4 LPT from binance14 to one, 1 LPT to binance14); usdt.csv two USDT transfers; empty.csv
a header only; rejected.csv two rows whose from address is malformed.
"""

from __future__ import annotations

import pytest
from conftest import BINANCE14, ETHERSCAN_HEADER, KRAKEN1, LPT, etherscan_row, query, user, write_csv

from cexflow.cli import main as cexflow_main

DAY = 1735689600  # 2025-01-01 UTC
USDT = "0xdac17f958d2ee523a2206206994597c13d831ec7"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("useless")
    usdt_rows = [etherscan_row(f"u{n}", DAY + n, user(n), BINANCE14, "3") for n in range(2)]
    for row in usdt_rows:
        row.update(contractAddress=USDT, tokenSymbol="USDT", tokenDecimal="6")
    bad_rows = [etherscan_row(f"r{n}", DAY + n, "0x123", BINANCE14, "1") for n in range(2)]
    return {
        "good": write_csv(d / "good.csv", ETHERSCAN_HEADER, [
            etherscan_row(1, DAY + 3600, user(1), BINANCE14, "10"),
            etherscan_row(2, DAY + 86400 + 3600, BINANCE14, user(2), "4"),
            etherscan_row(3, DAY + 2 * 86400 + 3600, user(3), BINANCE14, "1")]),
        "usdt": write_csv(d / "usdt.csv", ETHERSCAN_HEADER, usdt_rows),
        "empty": write_csv(d / "empty.csv", ETHERSCAN_HEADER, []),
        "rejected": write_csv(d / "rejected.csv", ETHERSCAN_HEADER, bad_rows),
        "blocks": write_csv(d / "blocks.csv", ["number", "timestamp"], [["1", str(DAY)]]),
        "kraken_labels": write_csv(d / "kraken_labels.csv", ["address", "exchange"], [[KRAKEN1, "kraken"]]),
    }


def error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return err.rstrip("\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        # the case: the trailing baseline is the 28 days before the day, so 100 days of it never exist
        (["--min-history", "100", "--window", "28"],
         "cexflow build: error: --min-history 100: a day needs 100 baseline days, but the baseline is the --window "
         "28 days before it, so no day can get a z-score or be an anomaly; use --min-history 28 or less, or "
         "--window 100 or more"),
        # the inclusive |z| is at most sqrt(window - 1) = sqrt(6) = 2.449 < 2.5; sqrt(8 - 1) = 2.646 would do
        (["--method", "inclusive", "--window", "7", "--z", "2.5"],
         "cexflow build: error: --z 2.5: with --method inclusive the day is in its own --window 7 baseline, so |z| "
         "is at most √(7 − 1) = 2.449 and no day can be an anomaly; use a lower --z, --window 8 or more, or "
         "--method trailing"),
        # the materiality scale needs --min-history (default 14) of its 10 days: no day is material
        (["--materiality-window", "10"],
         "cexflow build: error: --materiality-window 10: the materiality scale needs --min-history 14 days of it, "
         "so no day can be material, and an anomaly must be; use --materiality-window 14 or more, or "
         "--no-materiality"),
        # LABELS (below) has two addresses and no chain column: both on ethereum, none on arbitrum
        (["--chain", "arbitrum", "--labels", "LABELS"],
         "cexflow build: error: --chain arbitrum: the exchange labels (LABELS: 2 on ethereum) have no address on "
         "arbitrum, so no transfer could count as an exchange flow; pass --labels with addresses on arbitrum (a "
         "chain column), or the chain of your data as --chain"),
    ],
)
def test_options_that_can_never_give_a_useful_build_are_errors_before_dbt(tmp_path, capsys, args, expected):
    labels = write_csv(tmp_path / "labels.csv", ["address", "exchange"], [[BINANCE14, "binance"], [KRAKEN1, "kraken"]])
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), *[str(labels) if a == "LABELS" else a for a in args]]) == 2
    assert error_line(capsys) == expected.replace("LABELS", str(labels))
    assert not db.exists()


def test_the_inclusive_bound_is_not_an_error_where_it_can_be_reached(tmp_path, capsys):
    # window 7, z 2.449 <= sqrt(6): possible (only the option checks run: the input does not exist)
    assert cexflow_main(["build", "--db", str(tmp_path / "x.duckdb"), "--method", "inclusive", "--window", "7",
                         "--z", "2.449", "--input", str(tmp_path / "none.csv")]) == 2
    assert "--input" in error_line(capsys)


def test_every_row_of_another_token_is_an_error_and_the_database_stays(files, tmp_path, capsys):
    # the case, --chain arbitrum on an Ethereum file (the project's labels have arbitrum addresses too)
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["good"])]) == 0
    before = query(db, "select count(*), sum(netflow) from fct_netflow_daily_total")
    capsys.readouterr()
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["good"]), "--chain", "arbitrum"]) == 2
    assert error_line(capsys) == (
        "cexflow build: error: --token LPT --chain arbitrum: none of the 3 rows read is a transfer of LPT on "
        "arbitrum (0x289ba1701c2f088cf0faf8b3705246331cb8a839), all are of other tokens; check --token and --chain "
        "(the database was left as it was)")
    assert query(db, "select count(*), sum(netflow) from fct_netflow_daily_total") == before


def test_a_build_that_is_less_useful_than_it_looks_says_why(files, tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["good"]), "--input", str(files["usdt"]),
                         "--input", str(files["empty"]), "--blocks", str(files["blocks"])]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: --blocks: no input is an ethereum-etl token_transfers or cryo erc20_transfers file, so the blocks "
        "files were not read",
        f"warning: {files['empty']}: the file holds no rows",
        f"warning: {files['usdt']}: none of its 2 rows is a transfer of LPT on ethereum ({LPT}) (0 rejected, "
        "2 of other tokens)",
        # 3 days of data: the last day has 2 baseline days before it, the default --min-history is 14
        "warning: no day has a z-score, so none can be an anomaly: the data has 3 days and a day needs 14 "
        "baseline days before it (--min-history)",
    ]
    assert query(db, "select count(zscore) from fct_netflow_zscores") == [(0,)]


def test_every_row_rejected_is_a_warning_pointing_at_the_rejected_rows(files, tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    assert cexflow_main(["build", "--db", str(db), "--input", str(files["rejected"])]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if line.startswith("warning:")]
    assert warnings == [
        f"warning: no transfer of LPT on ethereum ({LPT}) was kept: of 2 rows read, 2 were rejected (most often: "
        "malformed from address (want 0x and 40 hex digits), 2 rows) and 0 are of other tokens; the rejected rows "
        "are in stg_transfers_rejected"]
    assert query(db, "select count(*) from stg_transfers_rejected") == [(2,)]  # the build was kept: read them


def test_the_agent_warns_on_every_run_when_no_transfer_touches_a_labelled_wallet(files, tmp_path, capsys):
    # kraken_labels.csv labels kraken_cold1 only; good.csv's transfers all touch binance14
    argv = ["agent", "--db", str(tmp_path / "x.duckdb"), "--input", str(files["good"]), "--labels",
            str(files["kraken_labels"]), "--state", str(tmp_path / "state.json"), "--out", str(tmp_path / "out")]
    expected = (f"[WARN] none of the 3 transfers touches a labelled exchange wallet on ethereum (labels: "
                f"{files['kraken_labels']}), so every netflow is zero; check --labels")
    for _ in range(2):  # the second run skips dbt (nothing changed) and still says so
        assert cexflow_main(argv) == 0
        captured = capsys.readouterr()
        assert captured.out.splitlines() == ["[OK] No new anomalies."]
        assert captured.err.splitlines() == [expected]
