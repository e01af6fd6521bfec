"""What the command line prints says true things in plain words: a count meets its noun in the right number
("1 day", "1 transfer touches", "[ALERT] 1 new anomaly."), a build with no day to score still names the
method it scores with, and a rebuild says what changed since the last build (an anomaly option, the labels).

Hand-made file: one.csv holds one LPT transfer, 10 LPT from an unlabelled address to binance14 on 2025-01-01;
empty.csv a header only.
"""

from __future__ import annotations

import io

import pytest
import yaml
from conftest import BINANCE14, ETHERSCAN_HEADER, LPT, PROJECT_ROOT, etherscan_row, user, write_csv

from cexflow.agent import CycleResult
from cexflow.build import changed_parameters, changed_settings
from cexflow.cli import main as cexflow_main
from cexflow.inputs import Token
from cexflow.progress import LineReporter

DAY = 1735689600  # 2025-01-01 UTC
# the default method, read here from dbt_project.yml itself (not through cexflow.methods)
DEFAULT_METHOD = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["vars"]["zscore_method"]
OTHER_METHOD = "trailing" if DEFAULT_METHOD != "trailing" else "robust"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("words")
    return {"one": write_csv(d / "one.csv", ETHERSCAN_HEADER, [etherscan_row(1, DAY + 3600, user(1), BINANCE14, "10")]),
            "empty": write_csv(d / "empty.csv", ETHERSCAN_HEADER, []),
            "labels": write_csv(d / "labels.csv", ["address", "exchange"], [[BINANCE14, "binance"]])}


def summary(capsys, *args: str) -> list[str]:
    assert cexflow_main(["build", *args]) == 0
    return capsys.readouterr().out.splitlines()


def test_a_header_only_file_names_the_method_not_none(files, tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    out = summary(capsys, "--db", str(db), "--input", str(files["empty"]))
    assert out[:3] == [
        "read 0 rows from 1 file(s): 0 transfers kept, 0 duplicates, 0 rejected, 0 of other tokens",
        "0 days (no transfers), 0 transfers touch exchange addresses",
        f"0 anomalies ({DEFAULT_METHOD}) in 0 series; marts in {db}"]
    assert "None" not in "\n".join(out)


def test_counts_of_one_take_the_singular_and_a_rebuild_says_what_changed(files, tmp_path, capsys):
    db = tmp_path / "x.duckdb"
    base = ["--db", str(db), "--input", str(files["one"]), "--min-history", "1"]
    out = summary(capsys, *base)
    # one transfer into binance14 on one day: the series are the total and binance (2); with one day, no day
    # has the 1 baseline day --min-history 1 asks for
    assert out[:4] == [
        "read 1 row from 1 file(s): 1 transfer kept, 0 duplicates, 0 rejected, 0 of other tokens",
        "1 day (2025-01-01 to 2025-01-01), 1 transfer touches exchange addresses",
        f"0 anomalies ({DEFAULT_METHOD}) in 2 series; marts in {db}",
        "full build (new database)"]
    assert out[-1] == ("warning: no day has a z-score, so none can be an anomaly: the data has 1 day and a day needs "
                       "1 baseline day before it (--min-history)")
    # another method only: the same files, so an incremental build with no new file, which says why it ran
    out = summary(capsys, *base, "--method", OTHER_METHOD)
    assert out[3:5] == ["incremental build (0 new file(s))",
                        f"changed since the last build: --method ({DEFAULT_METHOD} → {OTHER_METHOD})"]
    # labels given as a file (before: the project's seed): a full build, which names them
    out = summary(capsys, *base, "--method", OTHER_METHOD, "--labels", str(files["labels"]))
    assert out[3] == "full build (--labels changed)"
    assert not any(line.startswith("changed since") for line in out)


def test_the_words_of_changed_settings_and_parameters():
    # settings as settings_of writes them (vars by name); each difference in its option's words, in the order
    # of the options (methods.ANOMALY_OPTIONS: --method, --z, ..., --exclude-z), then the others
    before = {"zscore_method": "screened", "zscore_threshold": 4, "zscore_exclude_z": 3.0, "topk_days": 10,
              "anomaly_requires_materiality": True, "prices_files": [], "prices_fingerprints": {}}
    now = {"zscore_method": "trailing", "zscore_threshold": 3.5, "zscore_exclude_z": None, "topk_days": 10,
           "anomaly_requires_materiality": False, "prices_files": ["p.csv"], "prices_fingerprints": {"p.csv": "1:2"}}
    assert changed_settings(before, now) == ("--method (screened → trailing), --z (4 → 3.5), --exclude-z (3 → off), "
                                             "--no-materiality given, --prices (its files)")
    assert changed_settings(before, before) == ""
    # each deposit address setting in its option's words (the var is named as the option)
    assert changed_settings({"deposit_consolidation_min_share": 0.5}, {"deposit_consolidation_min_share": 0.8}) == \
        "--deposit-consolidation-min-share (0.5 → 0.8)"
    # parameters as loaded_parameters writes them
    params = {"chain": "ethereum", "token": LPT, "decimals": 18, "labels": {}, "blocks": {}, "side_files": 0,
              "code": "a"}
    assert changed_parameters(params, {**params, "code": "b"}) == "the models, macros or seeds changed"
    assert changed_parameters(params, {**params, "token": "0x" + "1" * 40, "decimals": 6}) == \
        "--token and --decimals changed"
    assert changed_parameters(params, {**params, "labels": {"l.csv": "1:2"}, "side_files": 1}) == "--labels changed"


def test_the_agents_alert_line_counts_in_the_right_number():
    # the contract's `[ALERT] N new anomalies. Report: PATH`, with the singular for one; an episode without
    # days gives no day lines, so the alert lines alone are printed
    def lines(n_alerts: int) -> list[str]:
        report = {"report": "alerts/r.md", "alerts": [{"days": []}] * n_alerts, "updates": [], "seen": []}
        return CycleResult(reports=[report]).lines()

    assert lines(1) == ["[ALERT] 1 new anomaly. Report: alerts/r.md"]
    assert lines(2) == ["[ALERT] 2 new anomalies. Report: alerts/r.md"]
    assert lines(0) == ["[OK] No new anomalies."]


def test_a_one_day_sample_says_one_day(tmp_path, capsys):
    assert cexflow_main(["sample", "--out", str(tmp_path / "s.csv"), "--days", "1", "--planted", "0",
                         "--start", "2025-03-01"]) == 0
    printed = capsys.readouterr().out
    assert " for 1 day 2025-03-01..2025-03-01, 0 planted days, to " in printed


def test_a_fetchs_progress_lines_count_in_the_right_number():
    token = Token("ethereum", LPT, "LPT", 18)
    for n, start, skipped in ((1, "1 wallet", "1 wallet was already fetched: no calls for it"),
                              (2, "2 wallets", "2 wallets were already fetched: no calls for them")):
        stream = io.StringIO()
        reporter = LineReporter(stream)
        reporter.start(token, "ethereum", n)
        for index in range(1, n + 1):
            reporter.wallet_done(index, None, 0, 0, None, skipped=True)
        reporter.close()
        assert stream.getvalue().splitlines() == [f"cexflow fetch: LPT on ethereum: {start}",
                                                  f"cexflow fetch: {skipped}"]
    stream = io.StringIO()
    LineReporter(stream).start(token, "ethereum", 3, "balance", "the wallets, then the supply")
    assert stream.getvalue() == "cexflow fetch: LPT on ethereum: 3 balances (the wallets, then the supply)\n"


def test_a_dbt_subprocess_counts_its_models_and_tests_from_the_info_log(tmp_path, monkeypatch):
    # A Spark build runs dbt as a subprocess whose JSON log is at dbt's default level, info: no NodeStart or
    # NodeFinished there (debug events), only each node's start and result lines. A stand-in for dbt prints
    # those lines (as dbt 1.10 writes them, cut to the fields read) for two models, a seed and two tests, of
    # the 3 models and 2 tests of the stats line: the last line must say 3/3 models and 2/2 tests.
    import json
    import sys

    from cexflow import dbt_runner
    from cexflow.progress import DbtProgress

    def event(name, **data):
        return json.dumps({"info": {"name": name, "level": "info", "msg": ""}, "data": data})

    def node(kind, name):
        return {"unique_id": f"{kind}.cexflow.{name}", "node_name": name, "resource_type": kind}

    lines = [event("FoundStats", stat_line="2 models, 1 seed, 2 data tests, 0 sources")]
    for kind, name, result in (("seed", "tokens", "LogSeedResult"), ("model", "a", "LogModelResult"),
                               ("model", "b", "LogModelResult"), ("test", "t1", "LogTestResult"),
                               ("test", "t2", "LogTestResult")):
        lines += [event("LogStartLine", node_info=node(kind, name)), event(result, node_info=node(kind, name))]
    fake_dbt = tmp_path / "dbt"
    fake_dbt.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({chr(10).join(lines) + chr(10)!r})\n")
    fake_dbt.chmod(0o755)
    monkeypatch.setattr(dbt_runner, "dbt_executable", lambda: str(fake_dbt))
    stream = io.StringIO()
    progress = DbtProgress(stream=stream, live=False, long_s=0.0)
    success, _, _ = dbt_runner._dbt_subprocess(["build"], {}, False, progress)
    progress.close()
    assert success
    assert stream.getvalue().startswith("dbt build done: 3/3 models, 2/2 tests in ")
