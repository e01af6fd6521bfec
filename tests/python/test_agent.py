"""`cexflow agent` end to end: alerts once per (series, day, method), survives kills, locks, loops, posts.

The input is a 70-day history of two exchanges built so that only the planted days can be anomalies:
every day binance14 and kraken_cold1 receive 100 + p and 50 + p/2 LPT and send 100 and 50, where p cycles
through (10, -10, 5, -5, 0, 8, -8), so an ordinary day's |z| stays below 1.4 with a 28-day trailing window.
Planted: day 20 (2025-01-21) a 5,000 LPT deposit to binance14, day 55 (2025-02-25) a 3,000 LPT withdrawal
from kraken_cold1; each is an anomaly of its exchange and of the total: four alerts.

One module-wide build (the agent skips dbt when nothing changed, see agent.ensure_built), so every test
that uses the base history with a fresh state runs in a second or two; the end-to-end test builds twice more.
"""

from __future__ import annotations

import argparse
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
    PLAIN_TRAILING,
    PROJECT_ROOT,
    etherscan_row,
    query,
    user,
    write_csv,
)

from cexflow import agent, cli
from cexflow.report import fmt_amount, fmt_signed, fmt_z

DAY0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PATTERN = ("10", "-10", "5", "-5", "0", "8", "-8")
PLANTED = {("binance", "2025-01-21"), ("total", "2025-01-21"), ("kraken", "2025-02-25"), ("total", "2025-02-25")}
ALERT_LINE = re.compile(r"^\[ALERT\] (\d+) new anomalies\. Report: (.+\.md)$")


def day_rows(i: int) -> list[dict]:
    ts = int(DAY0.timestamp()) + i * 86400
    p = Decimal(PATTERN[i % 7])
    return [
        etherscan_row(f"{i}-bi", ts + 3600, user(i % 40), BINANCE14, str(100 + p)),
        etherscan_row(f"{i}-bo", ts + 7200, BINANCE14, user(i % 40 + 1), "100"),
        etherscan_row(f"{i}-ki", ts + 10800, user(i % 40 + 2), KRAKEN1, str(50 + p / 2)),
        etherscan_row(f"{i}-ko", ts + 14400, KRAKEN1, user(i % 40 + 3), "50"),
    ]


def spike(name: str, day: int, frm: str, to: str, amount: str) -> dict:
    return etherscan_row(name, int(DAY0.timestamp()) + day * 86400 + 20_000, frm, to, amount)


def write_history(path: Path) -> Path:
    rows = [r for i in range(70) for r in day_rows(i)]
    rows += [spike("spike20", 20, user(99), BINANCE14, "5000"), spike("spike55", 55, KRAKEN1, user(98), "3000")]
    return write_csv(path, ETHERSCAN_HEADER, rows)


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    agent.add_arguments(parser)
    return parser.parse_args(list(argv))


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

    def wait_for(self, pattern: str, timeout: float = 90) -> str:
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
    """The 70-day history and a database built from it by the agent's build step (with its fingerprint)."""
    d = tmp_path_factory.mktemp("agent_base")
    history = write_history(d / "history.csv")
    db = d / "agent.duckdb"
    built, _ = agent.ensure_built(parse("--input", str(history), "--db", str(db), *PLAIN_TRAILING))
    assert built
    return {"history": history, "db": db}


def base_args(base, tmp_path, *extra: str) -> list[str]:
    return ["--input", str(base["history"]), "--db", str(base["db"]), "--state", str(tmp_path / "state.json"),
            "--out", str(tmp_path / "reports"), *PLAIN_TRAILING, *extra]


def state_of(tmp_path) -> dict:
    return json.loads((tmp_path / "state.json").read_text())


def keys_of(alerts) -> set[tuple[str, str]]:
    return {(k.split(":")[2], k.split(":")[3]) for k in alerts}


def report_rows(path: Path) -> list[dict]:
    """The rows of the alert table of a report."""
    lines = [line for line in Path(path).read_text().splitlines() if line.startswith("| 20")]
    header = ["date", "series", "direction", "netflow", "mean", "spread", "days", "z", "threshold", "inflow",
              "outflow"]
    return [dict(zip(header, [c.strip() for c in line.strip("|").split("|")], strict=True)) for line in lines]


def alerts_printed(lines: list[str]) -> list[tuple[int, Path]]:
    return [(int(m.group(1)), Path(m.group(2))) for m in map(ALERT_LINE.match, lines) if m]


# --- the main scenario ---------------------------------------------------------------------------------


def test_alerts_on_planted_days_then_nothing_then_exactly_the_appended_spike(base, tmp_path, capsys):
    # a copy of the base database with its build fingerprint: the first two runs need no dbt (copy2 keeps
    # the mtime the fingerprint checks; were it not kept, the agent would just rebuild). Same file name: the
    # views inside a DuckDB file name its catalog, which is the file's name.
    db = tmp_path / base["db"].name
    shutil.copy2(base["db"], db)
    sidecar = ".agent-build.json"
    shutil.copy2(base["db"].with_name(base["db"].name + sidecar), db.with_name(db.name + sidecar))
    argv = ["--input", str(base["history"]), "--db", str(db), "--state", str(tmp_path / "state.json"),
            "--out", str(tmp_path / "reports"), *PLAIN_TRAILING]

    code, out, _ = run_agent(capsys, *argv)
    assert code == 0
    [(n, report)] = alerts_printed(out)
    assert n == 4 and report.exists() and report.parent == tmp_path / "reports"
    rows = report_rows(report)
    assert {(r["series"], r["date"]) for r in rows} == PLANTED
    marts = {(s, str(d)): (net, mean, std, z) for s, d, net, mean, std, z in query(db, """
        select series, flow_date, netflow, baseline_mean, baseline_std, zscore from rpt_netflow_anomalies""")}
    for r in rows:  # the report's numbers are the marts'
        net, mean, std, z = marts[(r["series"], r["date"])]
        assert (r["netflow"], r["mean"], r["z"], r["threshold"]) == (fmt_signed(net), fmt_signed(mean), fmt_z(z), "3")
    # each alert line quotes the day, the value, the baseline mean and spread, z and the threshold
    line = next(x for x in out if x.startswith("  2025-01-21 binance:"))
    net, mean, std, z = marts[("binance", "2025-01-21")]
    assert f"netflow {fmt_signed(net)} LPT" in line and f"baseline mean of {fmt_signed(mean)} LPT" in line
    assert f"σ {fmt_amount(std)} LPT over 20 days" in line and f"z = {fmt_z(z)}, threshold |z| ≥ 3" in line
    assert keys_of(state_of(tmp_path)["alerted"]) == PLANTED

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
    assert n == 2
    assert {(r["series"], r["date"], r["direction"]) for r in report_rows(report)} == \
        {("binance", "2025-03-12", "outflow"), ("total", "2025-03-12", "outflow")}
    text = report.read_text()
    assert "**2 input row(s) were rejected**" in text and "2025-03-12.csv" in text
    assert "[WARN] 2 input row(s) rejected" in err
    assert keys_of(state_of(tmp_path)["alerted"]) == PLANTED | {("binance", "2025-03-12"), ("total", "2025-03-12")}


def test_alert_text_quotes_day_value_baseline_z_and_threshold():
    a = {"chain": "ethereum", "token_address": "0x", "symbol": "LPT", "series": "kraken", "date": "2025-02-25",
         "netflow": "-3004.000000000000000000", "baseline_mean": 0.35714285, "baseline_std": 3.7412,
         "baseline_days": 28, "zscore": -802.85277, "direction": "outflow", "method": "robust",
         "window_days": 28, "z_threshold": 3.5}
    assert agent.alert_text(a) == (
        "2025-02-25 kraken: netflow -3,004.00 LPT (net outflow from kraken) against a baseline median of +0.36 "
        "LPT and MAD/0.6745 3.74 LPT over 28 days (robust, 28-day window): z = -802.85, threshold |z| ≥ 3.5")


def test_rotate_monthly_writes_into_the_month_folder(base, tmp_path, capsys):
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--rotate-monthly"))
    [(n, report)] = alerts_printed(out)
    month = dt.datetime.now(dt.UTC).strftime("%Y-%m")
    assert (code, n) == (0, 4) and report.parent == tmp_path / "reports" / month


# --- crash safety ------------------------------------------------------------------------------------


@pytest.mark.parametrize("checkpoint", ["pending_tmp_written", "pending_saved", "report_tmp_written",
                                        "report_written"])
def test_a_run_killed_mid_write_loses_nothing_and_duplicates_nothing(base, tmp_path, capsys, checkpoint):
    proc = Proc(base_args(base, tmp_path), env={agent.PAUSE_ENV: checkpoint})
    proc.wait_for(rf"^\[PAUSE\] {checkpoint}$")
    proc.kill()  # SIGKILL: no clean-up of any kind

    state = state_of(tmp_path) if (tmp_path / "state.json").exists() else {"alerted": {}, "pending": []}
    remembered = {e["report"] for e in state["pending"]} | {v["report"] for v in state["alerted"].values()}
    reports = list((tmp_path / "reports").glob("*.md")) if (tmp_path / "reports").exists() else []
    assert all(str(r) in remembered for r in reports), "a report without its memory entry"
    if checkpoint == "pending_tmp_written":
        assert state["pending"] == [] and reports == []  # the old state: as if the run never happened
    else:
        assert [len(e["alerts"]) for e in state["pending"]] == [4] and not state["alerted"]
    assert not reports or checkpoint == "report_written"

    code, out, _ = run_agent(capsys, *base_args(base, tmp_path))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 4)
    if state["pending"]:
        assert str(report) == state["pending"][0]["report"]  # the same report, finished
    state = state_of(tmp_path)
    assert state["pending"] == [] and keys_of(state["alerted"]) == PLANTED
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
    assert code == 0 and alerts_printed(out)[0][0] == 4


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_loop_repeats_and_ends_cleanly_on_a_signal(base, tmp_path, signum):
    proc = Proc(base_args(base, tmp_path, "--loop", "--interval", "0.2"))
    proc.wait_for(r"^\[ALERT\] 4 new anomalies")
    proc.wait_for(r"^\[OK\] No new anomalies\.$")  # the second cycle
    proc.popen.send_signal(signum)
    assert proc.popen.wait(timeout=60) == 0
    assert "cexflow agent: stopped" in proc.popen.stderr.read()
    assert keys_of(state_of(tmp_path)["alerted"]) == PLANTED


def test_a_corrupt_state_is_a_one_line_error(base, tmp_path, capsys):
    (tmp_path / "state.json").write_text("{not json")
    code, out, err = run_agent(capsys, *base_args(base, tmp_path))
    assert code == 2 and out == []
    assert "state.json: not a cexflow agent state" in err and len(err.strip().splitlines()) == 1


# --- webhooks --------------------------------------------------------------------------------------------


class Hook:
    """A local webhook: records every POST; answers with the queued statuses, then with `default`."""

    def __init__(self):
        self.statuses: list[int] = []
        self.default = 200
        self.requests: list[tuple[int, dict]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                status = hook.statuses.pop(0) if hook.statuses else hook.default
                hook.requests.append((status, body))
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def accepted(self) -> list[dict]:
        return [body for status, body in self.requests if status == 200]


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
    code, out, _ = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 4)
    assert [status for status, _ in hook.requests] == [500, 200, 200, 200, 200]
    assert hook.requests[0][1] == hook.requests[1][1]  # the retry re-sends the same alert
    bodies = {(b["series"], b["date"]): b for b in hook.accepted}
    assert set(bodies) == PLANTED
    (net, mean, std, z, days), = query(base["db"], """select netflow, baseline_mean, baseline_std, zscore,
        baseline_days from rpt_netflow_anomalies where series = 'kraken'""")
    b = bodies[("kraken", "2025-02-25")]
    assert Decimal(b["netflow"]) == net and b["z"] == z and b["direction"] == "outflow"
    assert b["baseline"] == {"mean": mean, "std": std, "days": days, "method": "trailing", "window_days": 28}
    assert b["threshold"] == 3.0 and b["report"] == str(report) and b["token"] == "LPT"
    assert b["text"] == b["content"] and b["text"].startswith("cexflow alert: 2025-02-25 kraken: netflow -3,004.00")
    assert state_of(tmp_path)["webhook_queue"] == []


def test_failed_posts_wait_in_the_state_and_go_out_on_the_next_run(base, tmp_path, capsys, hook, fast_retries):
    hook.default = 503
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    [(n, report)] = alerts_printed(out)
    assert (code, n) == (0, 4) and report.exists()  # the report does not wait for the webhook
    assert len(hook.requests) == 4 * agent.WEBHOOK_ATTEMPTS and not hook.accepted
    assert "[WARN] 4 webhook post(s) queued for the next run: HTTP 503" in err
    assert len(state_of(tmp_path)["webhook_queue"]) == 4

    hook.default = 200
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", hook.url))
    assert (code, out) == (0, ["[OK] No new anomalies."]) and "webhook" not in err
    assert {(b["series"], b["date"]) for b in hook.accepted} == PLANTED
    assert state_of(tmp_path)["webhook_queue"] == []


def test_an_unreachable_webhook_does_not_hold_up_the_run(base, tmp_path, capsys, fast_retries):
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    code, out, err = run_agent(capsys, *base_args(base, tmp_path, "--webhook", f"http://127.0.0.1:{port}/x"))
    assert code == 0 and alerts_printed(out)[0][0] == 4
    assert time.monotonic() - started < 30
    assert "[WARN] 4 webhook post(s) queued for the next run: cannot reach" in err
    queued = state_of(tmp_path)["webhook_queue"]
    assert [q["attempts"] for q in queued] == [agent.WEBHOOK_ATTEMPTS, 0, 0, 0]  # the rest waited


def test_bad_options_give_one_line_errors(base, tmp_path, capsys):
    for extra, message in ((["--interval", "0"], "--interval 0: must be a positive"),
                           (["--webhook", "ftp://x"], "--webhook ftp://x: must be an http"),
                           (["--target", "spark"], "--target spark: the agent reads its marts from a DuckDB")):
        code, out, err = run_agent(capsys, *base_args(base, tmp_path, *extra))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_default_state_sits_beside_the_database():
    assert agent.default_state(Path("/x/cexflow.duckdb")) == Path("/x/cexflow.agent-state.json")


def test_installed_command_runs_the_agent(base, tmp_path):
    exe = Path(sys.executable).with_name("cexflow")
    proc = subprocess.run([str(exe), "agent", *base_args(base, tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert ALERT_LINE.match(proc.stdout.splitlines()[0]).group(1) == "4"
    proc = subprocess.run([str(exe), "agent", "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--rotate-monthly" in proc.stdout and "--webhook URL" in proc.stdout
