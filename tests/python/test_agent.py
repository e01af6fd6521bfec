"""`cexflow agent` end to end: one alert per episode with its reasons, updates, --since, digests, report links,
webhook formats (each against a local server that checks the request), crash safety, locks, loops.

The base input is a 70-day history of two exchanges built so that only the planted days can be anomalies:
every day binance14 and kraken_cold1 receive 100 + p and 50 + p/2 LPT and send 100 and 50, where p cycles
through (10, -10, 5, -5, 0, 8, -8), so an ordinary day's |z| stays below 1.4 with a 28-day trailing window.
Planted: day 20 (2025-01-21) a 5,000 LPT deposit to binance14 (with a 250 LPT withdrawal and five small
deposits, so that the day has more than five transfers), day 55 (2025-02-25) a 3,000 LPT withdrawal from
kraken_cold1. Each is an anomaly of its exchange and of the total, and the exchange explains the total's
(same direction, its deviation more than half of the total's): four anomaly days, two alerts.

One module-wide build (the agent's build, cexflow build, skips dbt when nothing changed), so every test
that uses the base history with a fresh state runs in a second or two; the scenarios that append days build
again. The settings are given explicitly (conftest.PLAIN_TRAILING, EPISODES), never the defaults.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import (
    BINANCE14,
    ETHERSCAN_HEADER,
    KRAKEN1,
    LPT,
    PLAIN_TRAILING,
    PROJECT_ROOT,
    etherscan_row,
    query,
    table,
    user,
    write_csv,
)

from cexflow import agent, cli, webhooks
from cexflow.build import BuildOptions, build
from cexflow.present import fmt_amount, fmt_signed, fmt_z

DAY0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PATTERN = ("10", "-10", "5", "-5", "0", "8", "-8")
PLANTED = {("binance", "2025-01-21"), ("total", "2025-01-21"), ("kraken", "2025-02-25"), ("total", "2025-02-25")}
ALERT_LINE = re.compile(r"^\[ALERT\] (\d+) new anomal(?:y|ies)\. Report: (.+\.md)$")
# settings under which consecutive spike days stay anomalies (an episode): screened leaves a day whose
# first-pass |z| >= 3 out of later baselines, so the first spike does not hide the next; materiality required
EPISODES = ("--method", "screened", "--window", "28", "--z", "3", "--min-history", "14", "--exclude-z", "3",
            "--spread-floor", "0", "--active-spread-floor", "0", "--min-active-days", "0",
            "--materiality-scale", "total_spread", "--materiality-window", "28", "--min-materiality", "1",
            "--min-amount", "0")
# day 20's transfers into and out of binance14 besides its daily pair (100 + p = 92 in, 100 out)
DAY20_EXTRA = (("spike20", user(99), BINANCE14, "5000"), ("out20", BINANCE14, user(70), "250"),
               ("small1", user(61), BINANCE14, "12.5"), ("small2", user(62), BINANCE14, "7.25"),
               ("small3", user(63), BINANCE14, "3"), ("small4", user(64), BINANCE14, "1.125"),
               ("small5", user(65), BINANCE14, "0.5"))


def day_rows(i: int) -> list[dict]:
    ts = int(DAY0.timestamp()) + i * 86400
    p = Decimal(PATTERN[i % 7])
    return [
        etherscan_row(f"{i}-bi", ts + 3600, user(i % 40), BINANCE14, str(100 + p)),
        etherscan_row(f"{i}-bo", ts + 7200, BINANCE14, user(i % 40 + 1), "100"),
        etherscan_row(f"{i}-ki", ts + 10800, user(i % 40 + 2), KRAKEN1, str(50 + p / 2)),
        etherscan_row(f"{i}-ko", ts + 14400, KRAKEN1, user(i % 40 + 3), "50"),
    ]


def spike(name: str, day: int, frm: str, to: str, amount: str, second: int = 20_000) -> dict:
    return etherscan_row(name, int(DAY0.timestamp()) + day * 86400 + second, frm, to, amount)


def write_history(path: Path) -> Path:
    rows = [r for i in range(70) for r in day_rows(i)]
    rows += [spike(name, 20, frm, to, amount, 20_000 + 100 * k)
             for k, (name, frm, to, amount) in enumerate(DAY20_EXTRA)]
    rows += [spike("spike55", 55, KRAKEN1, user(98), "3000")]
    return write_csv(path, ETHERSCAN_HEADER, rows)


def parse(*argv: str) -> BuildOptions:
    """The build options of a `cexflow agent` command line."""
    return cli.build_options(cli.parse(["agent", *argv]))


def run_agent(capsys, *argv: str) -> tuple[int, list[str], str]:
    """The agent in-process, through the CLI; (exit code, stdout lines, stderr)."""
    code = cli.main(["agent", *argv])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


# the agent as a separate process, for the tests that kill it or signal it
RUNNER = """
import sys
from cexflow import cli
sys.exit(cli.main(["agent", *sys.argv[1:]]))
"""


class Proc:
    """A child process whose stdout lines are read by a thread, so that a test can wait for one."""

    def __init__(self, argv: list[str], env: dict | None = None):
        self.popen = subprocess.Popen([sys.executable, "-u", "-c", RUNNER, *argv], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
                                      cwd=PROJECT_ROOT)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.popen.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, timeout: float = 180) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.popen.poll() is not None and self.lines.empty():
                    break
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        self.kill()
        raise AssertionError(f"no line matching {pattern!r}; got {self.seen}; stderr: {self.popen.stderr.read()}")

    def kill(self):
        if self.popen.poll() is None:
            self.popen.kill()
        self.popen.wait(timeout=30)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """The 70-day history and a database built from it by the agent's build step (with its build record)."""
    d = tmp_path_factory.mktemp("agent_base")
    history = write_history(d / "history.csv")
    db = d / "agent.duckdb"
    assert build(parse("--input", str(history), "--db", str(db), *PLAIN_TRAILING)).ran_dbt
    return {"history": history, "db": db}


def base_args(base, tmp_path, *extra: str) -> list[str]:
    return ["--input", str(base["history"]), "--db", str(base["db"]), "--state", str(tmp_path / "state.json"),
            "--out", str(tmp_path / "reports"), *PLAIN_TRAILING, *extra]


def state_of(tmp_path) -> dict:
    return json.loads((tmp_path / "state.json").read_text())


def days_of(state: dict, status: str | None = None) -> set[tuple[str, str]]:
    """(series, day) of the state's days (of one status: alert, update or seen)."""
    return {(k.split(":")[2], k.split(":")[3]) for k, v in state["days"].items() if status in (None, v["as"])}


def report_rows(path: Path) -> list[dict]:
    """The rows of a report's table of every day it holds."""
    return table(Path(path).read_text(), "Every day in this report")


def alerts_printed(lines: list[str]) -> list[tuple[int, Path]]:
    return [(int(m.group(1)), Path(m.group(2))) for m in map(ALERT_LINE.match, lines) if m]


def mart_anomalies(db: Path) -> dict[tuple[str, str], dict]:
    cur_rows = query(db, """select series, cast(flow_date as varchar), netflow, baseline_mean, baseline_std,
                                   baseline_days, zscore, materiality, materiality_scale, explained_by,
                                   episode_series, cast(episode_start_date as varchar), episode_day
                            from rpt_netflow_anomalies""")
    names = ("netflow", "mean", "std", "days", "z", "materiality", "scale", "explained_by", "episode_series",
             "episode_start", "episode_day")
    return {(r[0], r[1]): dict(zip(names, r[2:], strict=True)) for r in cur_rows}


# --- the main scenario ---------------------------------------------------------------------------------


def test_alerts_on_planted_episodes_then_nothing_then_exactly_the_appended_spike(base, tmp_path, capsys):
    # a copy of the base database, with the record of its build inside: the first two runs need no dbt.
    # Same file name: the views inside a DuckDB file name its catalog, which is the file's name.
    db = tmp_path / base["db"].name
    shutil.copy2(base["db"], db)
    argv = ["--input", str(base["history"]), "--db", str(db), "--state", str(tmp_path / "state.json"),
            "--out", str(tmp_path / "reports"), *PLAIN_TRAILING]

    code, out, _ = run_agent(capsys, *argv)
    assert code == 0
    [(n, report)] = alerts_printed(out)
    assert n == 2 and report.exists() and report.parent == tmp_path / "reports"  # two episodes, four days
    rows = report_rows(report)
    assert {(r["series"], r["date"]) for r in rows} == PLANTED and {r["status"] for r in rows} == {"alert"}
    marts = mart_anomalies(db)
    for r in rows:  # the report's numbers are the marts'
        m = marts[(r["series"], r["date"])]
        assert (r["netflow (LPT)"], r["baseline mean (LPT)"], r["spread σ (LPT)"], r["z"], r["threshold"]) == \
            (fmt_signed(m["netflow"]), fmt_signed(m["mean"]), fmt_amount(m["std"]), fmt_z(m["z"]), "3")
        assert (r["materiality"], r["materiality scale (LPT)"]) == (fmt_amount(m["materiality"]),
                                                                   fmt_amount(m["scale"]))
        assert r["episode"] == f"{m['episode_series']} since {m['episode_start']}, day {m['episode_day']}"
    # each alert line quotes the day, the value, the baseline mean and spread, z and threshold, materiality
    line = next(x for x in out if x.startswith("  2025-01-21 binance:"))
    m = marts[("binance", "2025-01-21")]
    assert f"netflow {fmt_signed(m['netflow'])} LPT" in line and f"baseline mean of {fmt_signed(m['mean'])} LPT" in line
    # a z of 100 or more is shown capped, with its exact value and why it is so large
    z = (f"z = {fmt_z(m['z'])}" if abs(m["z"]) < 100 else
         f"z {fmt_z(m['z'])} (exactly {fmt_signed(m['z'])}: the baseline hardly moved)")
    assert f"σ {fmt_amount(m['std'])} LPT over 20 days" in line and f"{z}, threshold |z| ≥ 3" in line
    assert f"materiality {fmt_amount(m['materiality'])} × the token's scale of {fmt_amount(m['scale'])} LPT" in line
    assert days_of(state_of(tmp_path), "alert") == PLANTED

    code, out, _ = run_agent(capsys, *argv)
    assert (code, out) == (0, ["[OK] No new anomalies."])
    assert len(list((tmp_path / "reports").glob("*.md"))) == 1

    # a new file: the next day with a 4,000 LPT withdrawal from binance14, and two unreadable rows
    new_day = day_rows(70) + [spike("spike70", 70, BINANCE14, user(97), "4000")]
    bad = [dict(day_rows(70)[0], hash="0x" + "ab" * 32, value="not-a-number"),
           dict(day_rows(70)[1], hash="0x" + "cd" * 32, **{"from": "0x1234"})]
    new_file = write_csv(tmp_path / "new" / "2025-03-12.csv", ETHERSCAN_HEADER, new_day + bad)
    code, out, err = run_agent(capsys, *argv, "--input", str(new_file))
    assert code == 0
    [(n, report)] = alerts_printed(out)
    assert n == 1
    assert {(r["series"], r["date"], r["direction"]) for r in report_rows(report)} == \
        {("binance", "2025-03-12", "outflow"), ("total", "2025-03-12", "outflow")}
    text = report.read_text()
    assert "**2 input rows were rejected**" in text and "2025-03-12.csv" in text
    assert "[WARN] 2 input row(s) rejected" in err
    assert days_of(state_of(tmp_path)) == PLANTED | {("binance", "2025-03-12"), ("total", "2025-03-12")}


def test_an_exchange_that_explains_the_total_is_one_alert(base, tmp_path, capsys):
    # the marts: on both planted days the total's anomaly is explained by the exchange (by hand: day 20's
    # total deviation is binance's plus kraken's ordinary day, the same direction, far more than half)
    marts = mart_anomalies(base["db"])
    assert {k: v["explained_by"] for k, v in marts.items() if k[0] == "total"} == \
        {("total", "2025-01-21"): "binance", ("total", "2025-02-25"): "kraken"}
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path))
    assert alerts_printed(out)[0][0] == 2 and len(marts) == 4
    i = out.index(next(x for x in out if x.startswith("  2025-01-21 binance:")))
    assert out[i + 1].startswith("    2025-01-21 all exchanges (explained by binance): netflow ")
    text = alerts_printed(out)[0][1].read_text()
    assert text.count("### cexflow alert: ") == 2 and "### cexflow alert: LPT net inflow to binance, 2025-01-21" in text


def test_alert_text_quotes_day_value_baseline_z_threshold_and_materiality():
    a = {"chain": "ethereum", "token_address": "0x", "symbol": "LPT", "series": "kraken", "date": "2025-02-25",
         "netflow": "-3004.000000000000000000", "baseline_mean": 0.35714285, "baseline_std": 3.7412,
         "baseline_days": 28, "zscore": -802.85277, "direction": "outflow", "method": "robust",
         "window_days": 28, "z_threshold": 3.5, "materiality": 4.4661, "materiality_scale": 672.6114,
         "materiality_threshold": 1.0, "is_materiality_required": True, "explained_by": None,
         "episode_series": "kraken", "episode_start": "2025-02-24", "episode_day": 2}
    assert agent.alert_text(a) == (
        "2025-02-25 kraken (day 2 of the episode since 2025-02-24): netflow -3,004.00 LPT (net outflow from "
        "kraken) against a baseline median of +0.36 LPT and MAD/0.6745 3.74 LPT over 28 days (robust, 28-day "
        "window): z < -100 (exactly -802.85: the baseline hardly moved), threshold |z| ≥ 3.5; materiality 4.47 × "
        "the token's scale of 672.61 LPT "
        "(threshold 1)")
    total = dict(a, series="total", explained_by="kraken", episode_day=1, materiality=None,
                 is_materiality_required=False)
    assert agent.alert_text(total).startswith("2025-02-25 all exchanges (explained by kraken): netflow -3,004.00 "
                                              "LPT (net outflow from exchanges)")
    assert agent.alert_text(total).endswith("; materiality – (no scale yet) (not required)")


def _day(series: str, date: str, episode_series: str | None = None, start: str | None = None) -> dict:
    episode_series, start = episode_series or series, start or date
    a = {"chain": "ethereum", "token_address": LPT, "series": series, "date": date, "method": "trailing",
         "episode_series": episode_series, "episode_start": start}
    return {**a, "key": agent.day_key(a), "episode_key": agent.episode_key(a)}


def test_plan_sorts_new_days_into_alerts_updates_and_seen_days():
    # binance's episode since 01-21 (with the total it explains that day) and kraken's one-day episode
    b1, t1 = _day("binance", "2025-01-21"), _day("total", "2025-01-21", "binance")
    b2, b3 = _day("binance", "2025-01-22", start="2025-01-21"), _day("binance", "2025-01-23", start="2025-01-21")
    k = _day("kraken", "2025-02-25")
    days = [b1, t1, b2, b3, k]

    def keys(episodes):
        return [[d["key"] for d in ep["days"]] for ep in episodes]

    alerts, updates, seen = agent.plan(days, lambda key: False)  # a first run: one alert per episode
    assert keys(alerts) == [[b1["key"], t1["key"], b2["key"], b3["key"]], [k["key"]]] and updates == seen == []
    assert alerts[0]["series"] == "binance" and alerts[0]["start"] == "2025-01-21"
    alerts, updates, seen = agent.plan(days, {b1["key"], t1["key"], k["key"]}.__contains__)  # days appended
    assert alerts == [] and keys(updates) == [[b2["key"], b3["key"]]] and seen == []
    alerts, updates, seen = agent.plan(days, lambda key: False, since="2025-01-23")
    assert [d["key"] for d in seen] == [b1["key"], t1["key"], b2["key"]]
    assert keys(updates) == [[b3["key"]]] and keys(alerts) == [[k["key"]]]  # a seen day makes its episode known
    assert agent.plan(days, {d["key"] for d in days}.__contains__) == ([], [], [])


def test_rotate_monthly_writes_into_the_month_folder(base, tmp_path, capsys):
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--rotate-monthly"))
    [(n, report)] = alerts_printed(out)
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert (code, n) == (0, 2) and report.parent == tmp_path / "reports" / month


def test_the_five_largest_transfers_are_quoted_as_the_mart_holds_them(base, tmp_path, capsys, hook):
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    report = alerts_printed(out)[0][1]
    got = table(report.read_text(), "2025-01-21 binance")
    mart = query(base["db"], """
        select rank, strftime(transferred_at, '%Y-%m-%d %H:%M:%S'), direction, wallet, wallet_address,
               counterparty_address, coalesce(counterparty_exchange, ''), amount, signed_amount, tx_hash
        from rpt_anomaly_transfers where series = 'binance' and flow_date = date '2025-01-21' order by rank""")
    # by hand: binance14's transfers that day are 5000, 12.5, 7.25, 3, 1.125, 0.5 and 92 in, 250 and 100 out
    assert [(m[2], m[7]) for m in mart] == [("in", Decimal(5000)), ("out", Decimal(250)), ("out", Decimal(100)),
                                            ("in", Decimal(92)), ("in", Decimal("12.5"))]
    assert len(got) == 5
    for r, (rank, at, direction, wallet, address, other, other_exchange, amount, _, tx_hash) in zip(got, mart,
                                                                                                  strict=True):
        assert (int(r["rank"]), r["time (UTC)"], r["direction"], r["wallet"]) == (rank, at, direction, wallet)
        assert (r["wallet address"], r["counterparty"], r["tx hash"]) == (f"`{address}`", f"`{other}`",
                                                                          f"`{tx_hash}`")
        assert r["counterparty exchange"] == other_exchange
        assert Decimal(r["amount (LPT)"].replace(",", "")) == amount  # every digit
    # the webhook's alert names each of them: time, direction, amount, wallet, counterparty, tx hash
    body = next(b for b in hook.accepted if b["series"] == "binance")
    for rank, at, direction, wallet, _, other, _, _, signed, tx_hash in mart:
        flow = "into" if direction == "in" else "out of"
        side = "from" if direction == "in" else "to"
        assert (f"{rank}. {at} UTC: {fmt_signed(signed)} LPT {flow} {wallet} {side} {other}, tx {tx_hash}"
                in body["text"])
    assert "7.25" not in body["text"]
    assert [(t["tx_hash"], Decimal(t["amount"])) for t in body["days"][0]["transfers"]] == \
        [(m[9], m[7]) for m in mart]


# --- crash safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize("checkpoint", ["pending_tmp_written", "pending_saved", "report_tmp_written",
                                        "report_written"])
def test_a_run_killed_mid_write_loses_nothing_and_duplicates_nothing(base, tmp_path, capsys, checkpoint):
    proc = Proc(base_args(base, tmp_path), env={agent.PAUSE_ENV: checkpoint})
    proc.wait_for(rf"^\[PAUSE\] {checkpoint}$")
    proc.kill()  # SIGKILL: no clean-up of any kind

    state = state_of(tmp_path) if (tmp_path / "state.json").exists() else {"days": {}, "pending": []}
    remembered = {e["report"] for e in state["pending"]} | {v["report"] for v in state["days"].values()}
    reports = list((tmp_path / "reports").glob("*.md")) if (tmp_path / "reports").exists() else []
    assert all(str(r) in remembered for r in reports), "a report without its memory entry"
    if checkpoint == "pending_tmp_written":
        assert state["pending"] == [] and reports == []  # the old state: as if the run never happened
    else:
        assert [len(e["alerts"]) for e in state["pending"]] == [2] and not state["days"]
    assert not reports or checkpoint == "report_written"

    code, out, _ = run_agent(capsys, *base_args(base, tmp_path))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 2)
    if state["pending"]:
        assert str(report) == state["pending"][0]["report"]  # the same report, finished
    state = state_of(tmp_path)
    assert state["pending"] == [] and days_of(state, "alert") == PLANTED
    assert list((tmp_path / "reports").glob("*.md")) == [report]
    assert {(r["series"], r["date"]) for r in report_rows(report)} == PLANTED
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    assert run_agent(capsys, *base_args(base, tmp_path))[1] == ["[OK] No new anomalies."]


def test_two_agents_on_one_state_do_not_both_run(base, tmp_path, capsys):
    first = Proc(base_args(base, tmp_path), env={agent.PAUSE_ENV: "locked"})
    try:
        first.wait_for(r"^\[PAUSE\] locked$")
        code, out, err = run_agent(capsys, *base_args(base, tmp_path))
        assert code != 0 and out == []
        assert f"another cexflow agent (pid {first.popen.pid}) is running on this state" in err
        assert len(err.strip().splitlines()) == 1
        assert not (tmp_path / "reports").exists()
    finally:
        first.kill()
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path))  # the lock died with its holder
    assert code == 0 and alerts_printed(out)[0][0] == 2


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_loop_repeats_and_ends_cleanly_on_a_signal(base, tmp_path, signum):
    proc = Proc(base_args(base, tmp_path, "--loop", "--interval", "0.2"))
    proc.wait_for(r"^\[ALERT\] 2 new anomalies")
    proc.wait_for(r"^\[OK\] No new anomalies\.$")  # the second cycle
    proc.popen.send_signal(signum)
    assert proc.popen.wait(timeout=60) == 0
    assert "cexflow agent: stopped" in proc.popen.stderr.read()
    assert days_of(state_of(tmp_path), "alert") == PLANTED


def test_a_corrupt_state_is_a_one_line_error(base, tmp_path, capsys):
    (tmp_path / "state.json").write_text("{not json")
    code, out, err = run_agent(capsys, *base_args(base, tmp_path))
    assert code == 2 and out == []
    assert "state.json: not a cexflow agent state" in err and len(err.strip().splitlines()) == 1


def test_a_version_1_state_is_read_its_alerted_keys_are_seen_days(base, tmp_path, capsys, hook):
    # what the agent's first version wrote after alerting binance's day and the total's, with one post queued
    old_report = str(tmp_path / "reports" / "agent_report_2025-01-22_000000Z.md")
    keys = [f"ethereum:{LPT}:{series}:2025-01-21:trailing" for series in ("binance", "total")]
    legacy = {"text": "cexflow alert: 2025-01-21 binance: netflow ...", "content": "cexflow alert: ...",
              "series": "binance", "date": "2025-01-21", "key": keys[0], "report": old_report}
    (tmp_path / "state.json").write_text(json.dumps({
        "version": 1, "alerted": {k: {"report": old_report, "alerted_at": "2025-01-22T00:00:00+00:00"} for k in keys},
        "pending": [], "webhook_queue": [{"payload": legacy, "attempts": 3, "last_error": "HTTP 503"}]}))
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 1)  # kraken's episode only: binance's was alerted by the first version
    assert {(r["series"], r["date"]) for r in report_rows(report)} == {("kraken", "2025-02-25"),
                                                                       ("total", "2025-02-25")}
    assert hook.accepted[0] == legacy and [b["series"] for b in hook.accepted[1:]] == ["kraken"]
    state = state_of(tmp_path)
    assert state["version"] == agent.STATE_VERSION == 2 and state["webhook_queue"] == []
    assert {k: (v["as"], v["report"]) for k, v in state["days"].items() if k in keys} == \
        {k: ("seen", old_report) for k in keys}


# --- episodes across runs --------------------------------------------------------------------------------


def episode_day_file(folder: Path, day: int, *extra: dict) -> Path:
    """One day's file: the ordinary transfers, a 5,000 LPT deposit to binance14 and `extra`."""
    rows = day_rows(day) + [spike(f"episode{day}", day, user(90 + day % 5), BINANCE14, "5000"), *extra]
    return write_csv(folder / f"day{day:02d}.csv", ETHERSCAN_HEADER, rows)


def test_an_episode_of_three_days_is_one_alert_then_two_updates_even_across_a_restart(tmp_path, capsys, hook):
    # binance14 receives 5,000 LPT on three consecutive days, 30 to 32 (2025-01-31 to 2025-02-02), one day
    # per run; under EPISODES each is an anomaly of binance and of the total (explained by binance), so the
    # marts hold one episode, binance since 2025-01-31, and the agent: day 30 an alert, 31 and 32 updates.
    # Day 32 also has a 3,000 LPT withdrawal from kraken_cold1: a new episode, a new alert.
    inputs = tmp_path / "inputs"
    write_csv(inputs / "history.csv", ETHERSCAN_HEADER, [r for i in range(30) for r in day_rows(i)])
    episode_day_file(inputs, 30)
    argv = ["--input", str(inputs), "--db", str(tmp_path / "episode.duckdb"), "--state", str(tmp_path / "state.json"),
            "--out", str(tmp_path / "reports"), "--webhook", hook.url, *EPISODES]

    code, out, _ = run_agent(capsys, *argv)  # run 1: the episode's first day
    [(n, first_report)] = alerts_printed(out)
    assert (code, n) == (0, 1) and len(out) == 3
    assert out[1].startswith("  2025-01-31 binance: netflow ") and \
        out[2].startswith("    2025-01-31 all exchanges (explained by binance): ")
    assert [b["kind"] for b in hook.accepted] == ["alert"]

    # run 2: day 31, killed once its pending entry is saved (before its report); the restart finishes it
    episode_day_file(inputs, 31)
    proc = Proc(argv, env={agent.PAUSE_ENV: "pending_saved"})
    proc.wait_for(r"^\[PAUSE\] pending_saved$")
    proc.kill()
    [pending] = state_of(tmp_path)["pending"]
    assert (len(pending["alerts"]), len(pending["updates"])) == (0, 1)
    code, out, _ = run_agent(capsys, *argv)
    assert code == 0 and out[:2] == ["[OK] No new anomalies.",
                                     f"  1 update of a known episode. Report: {pending['report']}"]
    assert [x.split(":")[0] for x in out[2:]] == ["  update", "  update"]
    assert out[2].startswith("  update: 2025-02-01 binance (day 2 of the episode since 2025-01-31): netflow ")
    assert out[3].startswith("  update: 2025-02-01 all exchanges (explained by binance; day 2 of the binance "
                             "episode since 2025-01-31): ")
    assert run_agent(capsys, *argv)[1] == ["[OK] No new anomalies."]  # nothing new after the restart
    assert [b["kind"] for b in hook.accepted] == ["alert", "update"]
    update = hook.accepted[1]
    assert update["episode"] == {"key": f"ethereum:{LPT}:binance:2025-01-31:screened", "series": "binance",
                                 "start": "2025-01-31"}
    assert update["text"].startswith("cexflow update: LPT net inflow to binance goes on, 2025-02-01 (episode "
                                     "since 2025-01-31)")

    # run 3: day 32 with kraken's withdrawal, as a digest; killed after its report, then restarted
    episode_day_file(inputs, 32, spike("kraken32", 32, KRAKEN1, user(98), "3000", second=30_000))
    proc = Proc([*argv, "--digest"], env={agent.PAUSE_ENV: "report_written"})
    proc.wait_for(r"^\[PAUSE\] report_written$")
    proc.kill()
    code, out, _ = run_agent(capsys, *argv, "--digest")
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 1)
    assert out[1].startswith("  2025-02-02 kraken: netflow ")
    assert [x for x in out if x.startswith("  update: ")][0].startswith(
        "  update: 2025-02-02 binance (day 3 of the episode since 2025-01-31)")
    assert [b["kind"] for b in hook.accepted] == ["alert", "update", "digest"]
    digest = hook.accepted[2]
    assert [a["series"] for a in digest["alerts"]] == ["kraken"] and [u["series"] for u in digest["updates"]] \
        == ["binance"]
    assert digest["text"].startswith("cexflow: 1 new alert, 1 update — LPT on ethereum")
    assert run_agent(capsys, *argv)[1] == ["[OK] No new anomalies."] and len(hook.accepted) == 3

    # the marts hold one binance episode of three days, and the state remembers it as one alert, two updates
    marts = mart_anomalies(tmp_path / "episode.duckdb")
    binance = {d: m["episode_day"] for (s, d), m in marts.items() if s == "binance"}
    assert binance == {"2025-01-31": 1, "2025-02-01": 2, "2025-02-02": 3}
    assert {m["episode_start"] for (s, _), m in marts.items() if m["episode_series"] == "binance"} == {"2025-01-31"}
    state = state_of(tmp_path)
    by_status = {status: sorted(days_of(state, status)) for status in ("alert", "update")}
    assert by_status == {
        "alert": sorted([("binance", "2025-01-31"), ("total", "2025-01-31"), ("kraken", "2025-02-02")]),
        "update": sorted([("binance", "2025-02-01"), ("total", "2025-02-01"), ("binance", "2025-02-02"),
                          ("total", "2025-02-02")])}
    rows = {(r["series"], r["date"]): (r["status"], r["episode"]) for r in report_rows(report)}
    assert rows[("binance", "2025-02-02")] == ("update", "binance since 2025-01-31, day 3")
    assert rows[("kraken", "2025-02-02")] == ("alert", "kraken since 2025-02-02, day 1")
    assert len(list((tmp_path / "reports").glob("*.md"))) == 3 and first_report.exists()


# --- webhooks --------------------------------------------------------------------------------------------


class Hook:
    """A local webhook on 127.0.0.1: records every request (method, path, content type, JSON body); answers
    with the queued statuses, then with `default` (`ok_body` on success)."""

    def __init__(self):
        self.statuses: list[int] = []
        self.default = 200
        self.ok_body = b"ok"
        self.requests: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = None
                status = hook.statuses.pop(0) if hook.statuses else hook.default
                hook.requests.append({"status": status, "method": self.command, "path": self.path,
                                      "content_type": self.headers.get("Content-Type"), "body": body})
                self.send_response(status)
                self.end_headers()
                if status != 204:
                    self.wfile.write(hook.ok_body if status < 300 else b"error")

            do_POST = do_PUT = do_GET = _answer  # noqa: N815 (a wrong method is recorded, not refused unseen)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.url = f"{self.base}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def accepted(self) -> list[dict]:
        return [r["body"] for r in self.requests if r["status"] < 300]


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def fast_retries(monkeypatch):
    monkeypatch.setattr(agent, "WEBHOOK_BACKOFF", 0.01)


def test_webhook_gets_each_alert_as_json_with_a_retry_after_a_500(base, tmp_path, capsys, hook, fast_retries):
    hook.statuses = [500]
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))  # json: from the URL
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 2)
    assert [r["status"] for r in hook.requests] == [500, 200, 200]
    assert hook.requests[0]["body"] == hook.requests[1]["body"]  # the retry re-sends the same alert
    bodies = {(b["series"], b["date"]): b for b in hook.accepted}
    assert set(bodies) == {("binance", "2025-01-21"), ("kraken", "2025-02-25")}
    (net, mean, std, z, days, materiality, scale, threshold), = query(base["db"], """select netflow,
        baseline_mean, baseline_std, zscore, baseline_days, materiality, materiality_scale, materiality_threshold
        from rpt_netflow_anomalies where series = 'kraken'""")
    b = bodies[("kraken", "2025-02-25")]
    assert Decimal(b["netflow"]) == net and b["z"] == z and b["direction"] == "outflow"
    assert b["baseline"] == {"mean": mean, "std": std, "days": days, "method": "trailing", "window_days": 28}
    assert b["materiality"] == {"value": materiality, "scale": scale, "threshold": threshold, "required": False}
    assert b["threshold"] == 3.0 and b["report"] == str(report) and b["token"] == "LPT" and b["kind"] == "alert"
    assert b["episode"]["series"] == "kraken" and b["episode"]["start"] == "2025-02-25"
    assert [(d["series"], d["date"]) for d in b["days"]] == [("kraken", "2025-02-25"), ("total", "2025-02-25")]
    assert b["text"].startswith("cexflow alert: LPT net outflow from kraken, 2025-02-25\n\n2025-02-25 kraken: "
                                "netflow -3,004.00")
    assert b["text"].endswith(f"Report: {report}") and len(b["content"]) <= 2000
    assert state_of(tmp_path)["webhook_queue"] == []


# each format: what its server must receive (keys of the JSON body, where the text is, its limit)
FORMATS = {
    "slack": ({"text"}, "text", 4000, "*cexflow alert: LPT net inflow to binance, 2025-01-21*"),
    "discord": ({"content", "allowed_mentions"}, "content", 2000,
                "**cexflow alert: LPT net inflow to binance, 2025-01-21**"),
    "telegram": ({"chat_id", "text"}, "text", 4096, "cexflow alert: LPT net inflow to binance, 2025-01-21"),
    "json": ({"text", "content", "allowed_mentions", "kind", "episode", "series", "date", "netflow", "z", "baseline",
              "threshold", "materiality", "direction", "token", "chain", "report", "key", "days"}, "text", None,
             "cexflow alert: LPT net inflow to binance, 2025-01-21"),
}
TELEGRAM_PATH = "/bot123456:SECRET-bot-token/sendMessage"


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_webhook_format_is_the_request_its_server_expects(base, tmp_path, capsys, hook, fmt):
    keys, field, limit, title = FORMATS[fmt]
    if fmt == "discord":
        hook.default = 204  # Discord answers an accepted message with 204 No Content
    if fmt == "telegram":
        hook.ok_body = b'{"ok":true,"result":{"message_id":1}}'
    url = f"{hook.base}{TELEGRAM_PATH}?chat_id=-1001234" if fmt == "telegram" else hook.url
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", url, "--webhook-format", fmt))
    report = alerts_printed(out)[0][1]
    assert code == 0 and len(hook.requests) == 2 and all(r["status"] < 300 for r in hook.requests)
    for r in hook.requests:
        assert (r["method"], r["content_type"]) == ("POST", "application/json")
        # Telegram: the chat id leaves the URL for the body (an int: Telegram's numeric chat id)
        assert r["path"] == (TELEGRAM_PATH if fmt == "telegram" else "/hooks/alerts")
        assert set(r["body"]) == keys if fmt != "json" else keys <= set(r["body"])
        text = r["body"][field]
        assert isinstance(text, str) and (limit is None or len(text) <= limit)
        assert text.endswith(f"Report: `{report}`" if fmt == "discord" else f"Report: {report}")
    if fmt == "telegram":
        assert {r["body"]["chat_id"] for r in hook.requests} == {-1001234}
    binance, kraken = (r["body"][field] for r in hook.requests)
    assert binance.startswith(title) and "LPT net outflow from kraken, 2025-02-25" in kraken.splitlines()[0]
    (top_hash,), = query(base["db"], """select tx_hash from rpt_anomaly_transfers where series = 'binance'
        and flow_date = date '2025-01-21' and rank = 1""")
    assert f"tx {top_hash}" in binance
    escaped = ("\\|z\\|", "kraken\\_cold1") if fmt == "discord" else ("|z|", "kraken_cold1")  # Discord markdown
    assert f"threshold {escaped[0]} ≥ 3" in binance and escaped[1] in kraken
    assert "SECRET-bot-token" not in "\n".join(out) + err


@pytest.mark.parametrize("fmt", ["discord", "telegram"])
def test_digest_sends_one_message_per_run_within_the_format_limit(base, tmp_path, capsys, hook, fmt):
    if fmt == "discord":
        hook.default = 204
    url = f"{hook.base}{TELEGRAM_PATH}?chat_id=42" if fmt == "telegram" else hook.url
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", url, "--webhook-format", fmt,
                                                "--digest"))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 2)
    [request] = hook.requests
    text = request["body"]["content" if fmt == "discord" else "text"]
    head = "cexflow: 2 new alerts, 0 updates — LPT on ethereum"
    assert text.startswith(f"**{head}**" if fmt == "discord" else head)
    assert "New alert: LPT net inflow to binance, 2025-01-21" in text
    assert "New alert: LPT net outflow from kraken, 2025-02-25" in text and webhooks.CUT_NOTE not in text
    (top_hash,), = query(base["db"], """select tx_hash from rpt_anomaly_transfers where series = 'kraken'
        and flow_date = date '2025-02-25' and rank = 1""")
    if fmt == "telegram":  # 4,096 characters hold both alerts whole, with their transfers
        assert len(text) <= 4096 and f"tx {top_hash}" in text and webhooks.SHORT_NOTE not in text
        assert text.endswith(f"Report: {report}")
    else:  # 2,000 do not: the reasons of both alerts, without the transfers, and the report's path last
        assert len(text) <= 2000 and "tx 0x" not in text and webhooks.SHORT_NOTE in text
        # z = +12.34, or capped: z > +100 (Discord's text escapes the > and <)
        assert len(re.findall(r" z \\?[=<>] ", text)) == 4 and text.endswith(f"Report: `{report}`")
    assert run_agent(capsys, *base_args(base, tmp_path, "--webhook", url, "--webhook-format", fmt, "--digest"))[1] \
        == ["[OK] No new anomalies."] and len(hook.requests) == 1


def test_a_text_over_the_limit_is_cut_at_a_line_and_keeps_the_report_link():
    line = "2025-01-21 binance: " + "netflow and its reasons " * 6
    message = {"kind": "digest", "title": "cexflow: 40 new alerts, 0 updates — LPT on ethereum", "data": {},
               "blocks": [[f"New alert {i}", line, line] for i in range(40)],
               "link": "https://reports.example.org/lpt/agent_report_2025-01-22_000000Z.md"}
    for fmt, limit in webhooks.LIMITS.items():
        whole = webhooks.render_text(message, fmt)
        text = webhooks.render_text(message, fmt, limit)
        assert len(whole) > limit >= len(text) > limit - 200  # cut, and not far below the limit
        assert webhooks.CUT_NOTE in text and webhooks.CUT_NOTE not in whole
        body = text.split("\n…\n")[0].splitlines()
        assert body == whole.splitlines()[:len(body)]  # whole lines from the start
        assert text.endswith({"slack": "|agent_report_2025-01-22_000000Z.md>",
                              "discord": f"<{message['link']}>", "telegram": message["link"]}[fmt])
    # with short blocks (the reasons without the transfers) that fit, those are sent whole instead
    short = dict(message, blocks=message["blocks"][:8], short_blocks=[block[:2] for block in message["blocks"][:8]])
    text = webhooks.render_text(short, "discord", 2000)
    assert len(webhooks.render_text(short, "discord")) > 2000 >= len(text)
    assert webhooks.SHORT_NOTE in text and webhooks.CUT_NOTE not in text
    assert text.count("New alert ") == 8 and line.strip() in text


def test_the_webhook_format_follows_the_url_and_urls_are_printed_without_their_secret():
    assert webhooks.detect_format("https://hooks.slack.com/services/T0/B0/XYZ") == "slack"
    assert webhooks.detect_format("https://discord.com/api/webhooks/123/abc") == "discord"
    assert webhooks.detect_format("https://api.telegram.org/bot1:AA/sendMessage?chat_id=5") == "telegram"
    assert webhooks.detect_format("https://example.org/hooks/cexflow") == "json"
    assert webhooks.redact("https://hooks.slack.com/services/T0/B0/XYZSECRET") == "https://hooks.slack.com/…"
    assert webhooks.redact("http://127.0.0.1:8080/bot1:SECRET/sendMessage?chat_id=1") == "http://127.0.0.1:8080/…"
    assert webhooks.redact("ftp://x") == "ftp://x"
    assert webhooks.telegram_target("https://api.telegram.org/bot1:AA/sendMessage?chat_id=-100&x=1") == \
        ("https://api.telegram.org/bot1:AA/sendMessage?x=1", -100)
    assert webhooks.telegram_target("https://api.telegram.org/bot1:AA/sendMessage?chat_id=@lpt_alerts")[1] == \
        "@lpt_alerts"


def test_a_secret_in_the_webhook_url_is_never_printed_or_stored(base, tmp_path, capsys, fast_retries):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/bot123456:TOPSECRET/sendMessage?chat_id=42"
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", url, "--webhook-format", "telegram"))
    assert code == 0 and f"queued for the next run: cannot reach http://127.0.0.1:{port}/…" in err
    assert "TOPSECRET" not in "\n".join(out) + err + (tmp_path / "state.json").read_text()
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", "htps://hooks.slack.com/services/T/B/"
                                                                               "TOPSECRET"))
    assert code == 2 and "--webhook htps://hooks.slack.com/…: must be an http:// or https:// URL" in err
    assert "TOPSECRET" not in err


def test_failed_posts_wait_in_the_state_and_go_out_on_the_next_run(base, tmp_path, capsys, hook, fast_retries):
    hook.default = 503
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 2) and report.exists()  # the report does not wait for the webhook
    assert len(hook.requests) == 2 * agent.WEBHOOK_ATTEMPTS and not hook.accepted
    assert "[WARN] 2 webhook post(s) queued for the next run: HTTP 503" in err
    assert len(state_of(tmp_path)["webhook_queue"]) == 2

    hook.default = 200
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    assert (code, out) == (0, ["[OK] No new anomalies."]) and "webhook" not in err
    assert {(b["series"], b["date"]) for b in hook.accepted} == {("binance", "2025-01-21"), ("kraken", "2025-02-25")}
    assert state_of(tmp_path)["webhook_queue"] == []


def test_an_unreachable_webhook_does_not_hold_up_the_run(base, tmp_path, capsys, fast_retries):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", f"http://127.0.0.1:{port}/x"))
    assert code == 0 and alerts_printed(out)[0][0] == 2
    assert "[WARN] 2 webhook post(s) queued for the next run: cannot reach" in err
    queued = state_of(tmp_path)["webhook_queue"]
    assert [q["attempts"] for q in queued] == [agent.WEBHOOK_ATTEMPTS, 0]  # the rest waited


# --- --since and --report-url --------------------------------------------------------------------------


def test_since_marks_older_anomalies_as_seen_listed_not_sent(base, tmp_path, capsys, hook):
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url, "--since", "2025-02-01"))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 1)
    assert out[-1] == "  2 anomaly day(s) before --since 2025-02-01 marked as seen (listed in the report, not sent)"
    assert [(b["series"], b["date"]) for b in hook.accepted] == [("kraken", "2025-02-25")]
    rows = {(r["series"], r["date"]): r["status"] for r in report_rows(report)}
    assert rows == {("binance", "2025-01-21"): "seen", ("total", "2025-01-21"): "seen",
                    ("kraken", "2025-02-25"): "alert", ("total", "2025-02-25"): "alert"}
    assert "## Seen, not sent" in report.read_text()
    state = state_of(tmp_path)
    assert days_of(state, "seen") == {("binance", "2025-01-21"), ("total", "2025-01-21")}
    # seen is remembered: without --since nothing is new
    assert run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))[1] == ["[OK] No new anomalies."]
    assert len(hook.accepted) == 1

    # a first run with --since after every anomaly: nothing sent, the report lists the four days
    fresh = tmp_path / "fresh"
    code, out, _ = run_agent(capsys, *base_args(base, fresh, "--webhook", hook.url, "--since", "2025-03-01"))
    assert out[0] == "[OK] No new anomalies." and len(out) == 2
    assert out[1].startswith("  4 anomaly day(s) before --since 2025-03-01 marked as seen (listed in the report, "
                             "not sent). Report: ")
    seen_report = Path(out[1].split(". Report: ")[1])
    assert {r["status"] for r in report_rows(seen_report)} == {"seen"} and len(hook.accepted) == 1


def test_report_url_links_the_report_instead_of_its_path(base, tmp_path, capsys, hook):
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url, "--rotate-monthly",
                                                "--report-url", "https://alerts.example.org/cexflow/"))
    report = alerts_printed(out)[0][1]  # the printed line keeps the local path
    relative = report.relative_to(tmp_path / "reports").as_posix()  # e.g. 2026-06/agent_report_<time>.md
    assert relative.count("/") == 1
    link = f"https://alerts.example.org/cexflow/{relative}"
    for body in hook.accepted:
        assert body["report"] == link and body["text"].endswith(f"Report: {link}")
        assert str(report) not in body["text"] and str(report) not in body["content"]


def test_bad_options_give_one_line_errors(base, tmp_path, capsys):
    for extra, message in (
            (["--interval", "0"], "--interval 0: must be a positive"),
            (["--webhook", "ftp://x"], "--webhook ftp://x: must be an http"),
            (["--target", "spark"], "--target spark: the agent reads its marts from a DuckDB"),
            (["--since", "2025-13-01"], "--since 2025-13-01: not a date (YYYY-MM-DD)"),
            (["--report-url", "alerts.example.org/x"], "--report-url alerts.example.org/…: must be an http"),
            (["--digest"], "--digest: groups the webhook's messages; give --webhook URL too"),
            (["--webhook-format", "slack"], "--webhook-format slack: needs --webhook URL"),
            (["--webhook", "https://api.telegram.org/bot1:SECRET/sendMessage", "--webhook-format", "telegram"],
             "--webhook https://api.telegram.org/…: a Telegram webhook is the Bot API's sendMessage with the chat on "
             "the URL")):
        code, out, err = run_agent(capsys, *base_args(base, tmp_path, *extra))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (extra, err)
        assert "SECRET" not in err


def test_default_state_sits_beside_the_database():
    assert agent.default_state(Path("/x/cexflow.duckdb")) == Path("/x/cexflow.agent-state.json")


def test_installed_command_runs_the_agent(base, tmp_path):
    exe = Path(sys.executable).with_name("cexflow")
    proc = subprocess.run([str(exe), "agent", *base_args(base, tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert ALERT_LINE.match(proc.stdout.splitlines()[0]).group(1) == "2"
    proc = subprocess.run([str(exe), "agent", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0
    for option in ("--rotate-monthly", "--webhook URL", "--webhook-format", "--since DATE", "--digest",
                   "--report-url BASE"):
        assert option in proc.stdout, option


