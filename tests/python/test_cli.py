"""The command line: every subcommand has --help and exits 0 on it; `python -m cexflow` works; a dbt failure
surfaces as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cexflow import dbt_runner
from cexflow.cli import SUBCOMMANDS, main
from cexflow.errors import CexflowError

CONTRACT_SUBCOMMANDS = {"build", "report", "agent", "fetch", "sample", "docs"}


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"usage: cexflow {command}" in capsys.readouterr().out


def test_subcommands_are_those_of_the_contract():
    # every subcommand is one the contract names (the contract's list is the target)
    assert set(SUBCOMMANDS) <= CONTRACT_SUBCOMMANDS
    assert {"build", "sample", "fetch"} <= set(SUBCOMMANDS)


def test_python_dash_m_and_console_script():
    console_script = str(Path(sys.executable).with_name("cexflow"))
    for cmd in ([sys.executable, "-m", "cexflow", "--help"], [console_script, "--help"]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert "build" in proc.stdout and "sample" in proc.stdout


def test_build_help_lists_the_contract_options(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    out = capsys.readouterr().out
    for option in ("--input", "--blocks", "--labels", "--token", "--decimals", "--chain", "--db", "--target",
                   "--window", "--z", "--min-history", "--method", "--top-k"):
        assert option in out


def test_a_failing_dbt_command_becomes_one_line(tmp_path):
    with pytest.raises(CexflowError) as error:
        dbt_runner.run_dbt(["run-operation", "no_such_macro_here"], tmp_path / "x.duckdb", "duckdb")
    message = str(error.value)
    assert message.startswith("dbt run-operation failed: ") and "\n" not in message
    assert "no_such_macro_here" in message
