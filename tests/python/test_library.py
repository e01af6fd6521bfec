"""The typed library under the command line: BuildOptions and FetchOptions are checked with one-line errors
that name the option; `build(BuildOptions(...))` works from Python without argparse; cli.py is the only module
that sees argparse; each concept has one home (the token resolver, the label reader, the methods, the defaults
of dbt_project.yml, the record of what was built)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml
from conftest import BINANCE14, ETHERSCAN_HEADER, etherscan_row, query, user, write_csv

from cexflow import agent, cli, fetch, inputs, methods
from cexflow.build import BuildOptions, build, build_vars, recorded_build
from cexflow.errors import CexflowError
from cexflow.paths import PROJECT_ROOT

SCRIPTS = PROJECT_ROOT / "scripts"
DAY1 = 1735689600  # 2025-01-01 00:00:00 UTC


def dbt_project_vars() -> dict:
    """The vars of dbt_project.yml, read here independently of cexflow.methods.project_vars."""
    return yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]


@pytest.mark.parametrize(("options", "message"), [
    ({"window": "7"}, "--window '7': must be a whole number"),
    ({"window": 1}, "--window 1: must be at least 2"),
    ({"z": 0}, "--z 0: must be positive"),
    ({"method": "nope"}, "--method nope: must be one of trailing, inclusive, robust, screened"),
    ({"exclude_z": "sometimes"}, "--exclude-z 'sometimes': must be a number or 'off'"),
    ({"materiality_scale": "huge"}, "--materiality-scale huge: must be one of total_spread, gross_flow"),
    ({"top_k": 0}, "--top-k 0: must be at least 1"),
    ({"top_k": 2.5}, "--top-k 2.5: must be a whole number"),
    ({"decimals": 99}, "--decimals 99: must be between 0 and 77"),
    ({"target": "postgres"}, "--target postgres: must be one of duckdb, spark, spark_thrift"),
    ({"deposit_amount_tolerance": 1.5}, "--deposit-amount-tolerance 1.5: must be a number from 0 to 1"),
])
def test_build_options_are_checked_with_one_line_errors_naming_the_option(options, message):
    with pytest.raises(CexflowError) as error:
        BuildOptions(**options)
    assert str(error.value) == message and "\n" not in message


def test_valid_build_options_are_kept_as_given():
    options = BuildOptions(input="a.csv", labels=[Path("l.csv")], z=3, exclude_z=methods.OFF, db="x.duckdb")
    assert options.input == ("a.csv",) and options.labels == ("l.csv",) and options.blocks == ()
    assert options.z == 3 and options.exclude_z == methods.OFF and options.db == Path("x.duckdb")


def test_unset_options_are_the_vars_of_dbt_project_yml():
    expected = dbt_project_vars()
    got = build_vars(BuildOptions())  # the bundled sample, the project's labels
    lpt = inputs.resolve_token(expected["token"], expected["chain"])
    assert (got["chain"], got["token"], got["token_decimals"]) == (expected["chain"], lpt.address, 18)
    assert got["topk_days"] == expected["topk_days"]
    for option in methods.ANOMALY_OPTIONS:  # every anomaly var, as dbt_project.yml has it
        assert got[option.var] == expected[option.var], option.flag
    assert got["anomaly_requires_materiality"] is expected["anomaly_requires_materiality"]
    # a given option overrides its var, and only that one
    changed = build_vars(BuildOptions(window=28, no_materiality=True, exclude_z=methods.OFF))
    assert (changed["zscore_window_days"], changed["anomaly_requires_materiality"], changed["zscore_exclude_z"]) \
        == (28, False, None)
    assert changed["zscore_threshold"] == expected["zscore_threshold"]


def test_every_build_option_is_a_field_and_every_field_an_option():
    parser = cli.make_parser(only="build")
    build_parser = next(a for a in parser._subparsers._group_actions[0].choices.values() if a.prog.endswith("build"))
    dests = {a.dest for a in build_parser._actions if a.dest != "help"}
    assert dests == {f.name for f in dataclasses.fields(BuildOptions)}
    options = cli.build_options(cli.parse(["build", "--input", "x.csv", "--window", "28", "--exclude-z", "off"]))
    assert options == BuildOptions(input=("x.csv",), window=28, exclude_z=methods.OFF)


def test_build_from_python_without_argparse(tmp_path):
    # three transfers on 2025-01-01: user1 -> binance14 10 (deposit), binance14 -> user2 4 (withdrawal),
    # user3 -> user4 1 (no labelled wallet): 3 rows read and kept, 2 touch an exchange, netflow 10 - 4 = +6
    rows = [etherscan_row(1, DAY1 + 60, user(1), BINANCE14, "10"),
            etherscan_row(2, DAY1 + 120, BINANCE14, user(2), "4"),
            etherscan_row(3, DAY1 + 180, user(3), user(4), "1")]
    transfers = write_csv(tmp_path / "transfers.csv", ETHERSCAN_HEADER, rows)
    db = tmp_path / "lib.duckdb"
    summary = build(BuildOptions(input=[transfers], db=db))
    assert (summary.rows_read, summary.transfers, summary.exchange_transfers, summary.days) == (3, 3, 2, 1)
    assert summary.ran_dbt and summary.db == db.resolve()
    assert query(db, "select cast(netflow as varchar) from fct_netflow_daily_total") == [("6.000000000000000000",)]
    record = recorded_build(db)  # the record of what was built: the settings of this build
    assert record is not None and record.inputs.keys() == {str(transfers.resolve())}
    assert record.settings_vars()["zscore_method"] == dbt_project_vars()["zscore_method"]
    again = build(BuildOptions(input=[transfers], db=db))
    assert not again.ran_dbt and "dbt did not run" in again.mode


def test_fetch_options_and_agent_options_are_checked_with_one_line_errors():
    with pytest.raises(CexflowError, match=r"^--chain solana: must be one of arbitrum, ethereum$"):
        fetch.FetchOptions(chain="solana")
    with pytest.raises(CexflowError, match=r"^--start '2025-01-01': must be a date"):
        fetch.FetchOptions(start="2025-01-01")
    assert fetch.FetchOptions(token="LPT", start=dt.date(2025, 1, 1)).token == ("LPT",)
    with pytest.raises(CexflowError, match=r"^--digest: .*give --webhook URL too$"):
        agent.agent_options(digest=True)
    with pytest.raises(CexflowError, match=r"^--since 2025-13-01: not a date"):
        agent.agent_options(since="2025-13-01")
    assert agent.agent_options(since="2025-06-20").since == dt.date(2025, 6, 20)


def library_files() -> list[Path]:
    return [p for p in sorted((SCRIPTS / "cexflow").glob("*.py")) if p.name != "cli.py"]


def test_only_cli_py_sees_argparse():
    users = [p.name for p in library_files() if re.search(r"\bargparse\b", p.read_text())]
    assert users == []
    # no script or test builds a Namespace of its own to call the library with
    for path in [*SCRIPTS.glob("*.py"), *(PROJECT_ROOT / "tests" / "python").glob("*.py")]:
        if path != Path(__file__):
            assert "Namespace(" not in path.read_text().replace("SimpleNamespace(", ""), path.name


def test_one_home_for_the_token_the_labels_the_atomic_write_and_dbt():
    text = {p.name: p.read_text() for p in library_files()}
    # the tokens seed is read by inputs.resolve_token only, label files by inputs.read_label_file only
    assert [name for name, t in text.items() if "TOKENS_SEED" in t and "open(" in t] == ["inputs.py"]
    assert [name for name, t in text.items() if "csv.DictReader" in t and "label" in t.lower()
            and "def read_label_file" not in t] == []
    # temporary file + fsync + rename: files.py only; dbt's runner: dbt_runner.py only
    assert [name for name, t in text.items() if "os.fsync(" in t] == ["files.py"]
    assert [name for name, t in text.items() if "dbtRunner" in t or "dbt_executable()" in t] == ["dbt_runner.py"]
    # fetch's resolver is the build's, without the need for decimals: fetch.py resolves no token of its own
    assert "def resolve_token" not in text["fetch.py"] and "inputs.resolve_tokens(" in text["fetch.py"]
    for name in ("LPT", "usdc", "0x58b6a8a3302369daec383334672404ee733ab239"):
        seeded = inputs.resolve_token(name, "ethereum")
        assert inputs.resolve_tokens([name], ["ethereum"], need_decimals=False) == [seeded]


def test_the_method_vocabulary_describes_every_method_that_the_models_know():
    project = (PROJECT_ROOT / "dbt_project.yml").read_text()
    listed = re.search(r"zscore_method: \w+ +# (.*)", project).group(1)
    assert [m.strip() for m in listed.split("(")[0].split("|")] == list(methods.METHODS)
    docs = (PROJECT_ROOT / "models" / "_docs.md").read_text()
    for method in methods.METHOD_LIST:
        assert f"`{method.name}`" in docs
        assert "{w}" in method.report_text or "{days}" in method.report_text
        assert methods.report_text(method.name, 28) != methods.report_text("unknown", 28)
        assert methods.chart_text(method.name, 28) != methods.chart_text("unknown", 28)
    assert (methods.centre_name("robust"), methods.spread_name("robust")) == ("median", "MAD/0.6745")
    assert (methods.centre_name("screened"), methods.spread_name("screened")) == ("mean", "σ")


def test_the_readmes_python_example_runs(tmp_path, capsys, monkeypatch):
    """The code of docs/python.md, run as written but for the database's path."""
    text = (PROJECT_ROOT / "docs" / "python.md").read_text(encoding="utf-8")
    (code,) = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    assert "build(BuildOptions(" in code and "make_reports(" in code
    db = tmp_path / "lib.duckdb"
    monkeypatch.chdir(PROJECT_ROOT)  # "from the project root"
    exec(compile(code.replace("/tmp/lib.duckdb", str(db)), "docs/python.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("read 9,362 rows from 1 file(s)")  # the sample, as the README's summary says
    assert printed[-1] == str(db.with_name("lib.reports"))  # a focus report, beside the database
    assert (db.with_name("lib.reports") / "focus").is_dir()
