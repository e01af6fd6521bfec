"""The command line: every subcommand has --help and exits 0 on it; `python -m cexflow` works; a dbt failure
surfaces as one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cexflow import dbt_runner, methods
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


@pytest.mark.parametrize(("argv", "expected"), [
    (["build", "--method", "nope"],
     "cexflow build: error: argument --method: invalid choice: 'nope' (choose from 'trailing', 'inclusive', "
     "'robust', 'screened') (see cexflow build --help)"),
    (["build", "--window", "x"], "cexflow build: error: argument --window: not a valid int: 'x' "
                                 "(see cexflow build --help)"),
    # an option no parser knows is the subcommand's error, not the top parser's
    (["build", "--bogus"], "cexflow build: error: unrecognized arguments: --bogus (see cexflow build --help)"),
    (["fetch", "--start", "2024-13-01"], "cexflow fetch: error: argument --start: '2024-13-01' is not a date "
                                         "(YYYY-MM-DD) (see cexflow fetch --help)"),
    (["sample"], "cexflow sample: error: the following arguments are required: --out (see cexflow sample --help)"),
    ([], "cexflow: error: the following arguments are required: COMMAND (see cexflow --help)"),
])
def test_argument_errors_are_one_line_naming_the_option_and_exit_2(argv, expected, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", expected + "\n")  # no usage block


def test_method_help_lists_the_methods(capsys):
    with pytest.raises(SystemExit):
        main(["build", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert f"anomaly method: one of {', '.join(methods.METHODS)} (default: " in help_text
    assert "--materiality-scale SCALE the token's scale: total_spread" in help_text  # its help names its choices
