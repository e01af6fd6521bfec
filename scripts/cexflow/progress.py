"""Progress on stderr. A dbt build's (`DbtProgress`, fed dbt's events by dbt_runner): on a terminal one line that
keeps changing; elsewhere (a cron log) a line per model that took `slow_s` or more and one at the end of a run that
took `long_s` or more, so that a quick build writes nothing and a failure stays one line. A fetch's: `Reporter`
(silent), `LineReporter` (a line per wallet, for logs) or `TqdmReporter` (a progress bar on a terminal).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from cexflow.errors import CexflowError
from cexflow.text import plural

if TYPE_CHECKING:
    from cexflow.inputs import Token, Wallet

REFRESH_S = 0.5  # how often a terminal's line is redrawn
MODEL_TYPES = ("model", "seed", "snapshot")
TEST_TYPES = ("test", "unit_test")
# dbt's "Found 21 models, 60 data tests, 2 seeds, 566 macros, 6 unit tests" (FoundStats)
_STAT = re.compile(r"(\d+) (models?|data tests?|seeds?|snapshots?|unit tests?)\b")


def log_thresholds() -> dict:
    """slow_s and long_s of a build's plain log from $CEXFLOW_PROGRESS_SLOW_S and $CEXFLOW_PROGRESS_LONG_S
    (seconds) when set: a cron job (or a test) that wants no progress lines sets them high."""
    thresholds = {}
    for name, var in (("slow_s", "CEXFLOW_PROGRESS_SLOW_S"), ("long_s", "CEXFLOW_PROGRESS_LONG_S")):
        text = os.environ.get(var)
        if text:
            try:
                thresholds[name] = float(text)
            except ValueError:
                raise CexflowError(f"${var} {text!r}: must be a number of seconds") from None
    return thresholds


class DbtProgress:
    """Counts a dbt run's nodes as they start and finish, and shows it (see the module's docstring)."""

    EVENTS = ("FoundStats", "NodeStart", "NodeFinished")  # the events whose data it reads

    def __init__(
        self,
        stream: TextIO | None = None,
        live: bool | None = None,
        with_unit_tests: bool = True,
        slow_s: float = 2.0,
        long_s: float = 10.0,
        clock=time.monotonic,
    ):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty() if live is None else live
        self.with_unit_tests = with_unit_tests
        self.slow_s, self.long_s, self.clock = slow_s, long_s, clock
        self.models_total: int | None = None  # as dbt's FoundStats counts them
        self.tests_total: int | None = None
        self.lines_written = self.models_done = self.tests_done = 0
        self.running: dict[str, tuple[str, float]] = {}  # unique_id -> (name, started)
        self.started = clock()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._shown = False
        if self.live:
            self._ticker = threading.Thread(target=self._tick, args=(REFRESH_S,), daemon=True)
            self._ticker.start()

    def on_event(self, name: str, data: dict) -> None:
        with self._lock:
            if name == "FoundStats":
                self._count_nodes(data.get("stat_line", ""))
            elif name == "NodeStart":
                node = data.get("node_info") or {}
                self.running[node.get("unique_id", "")] = (node.get("node_name", "?"), self.clock())
            elif name == "NodeFinished":
                self._finished(data.get("node_info") or {})
            else:
                return
            if self.live:
                self._show()

    def _count_nodes(self, stat_line: str) -> None:
        counts = {kind.rstrip("s"): int(number) for number, kind in _STAT.findall(stat_line)}
        self.models_total = counts.get("model", 0) + counts.get("seed", 0) + counts.get("snapshot", 0)
        self.tests_total = counts.get("data test", 0) + (counts.get("unit test", 0) if self.with_unit_tests else 0)

    def _finished(self, node: dict) -> None:
        name, started = self.running.pop(node.get("unique_id", ""), (node.get("node_name", "?"), self.clock()))
        kind = node.get("resource_type", "")
        if kind in MODEL_TYPES:
            self.models_done += 1
            took = self.clock() - started
            if not self.live and took >= self.slow_s:
                status = node.get("node_status") or "done"
                self._write(f"dbt build: {kind} {name} {status} in {took:.1f} s ({self._counts()})\n")
                self.lines_written += 1
        elif kind in TEST_TYPES:
            self.tests_done += 1

    def _counts(self) -> str:
        def of(done: int, total: int | None) -> str:
            return f"{done}/{total}" if total is not None and total >= done else str(done)

        return f"{of(self.models_done, self.models_total)} models, {of(self.tests_done, self.tests_total)} tests"

    def _show(self) -> None:
        now = self.clock()
        step = ""
        if self.running:
            name, started = min(self.running.values(), key=lambda item: item[1])  # the longest running
            more = f" and {len(self.running) - 1} more" if len(self.running) > 1 else ""
            step = f" · {name}{more} ({now - started:.0f} s)"
        line = f"dbt build: {self._counts()}{step}"
        self._write("\r\033[K" + line[:160])
        self._shown = True

    def _tick(self, every_s: float) -> None:
        while not self._stop.wait(every_s):
            with self._lock:
                self._show()

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed stream (the user's pipe went away) stops nothing
            self.stream.write(text)
            self.stream.flush()

    def close(self, success: bool = True) -> None:
        """Stop showing: a live line is cleared; a plain log of a long run gets a last line with the counts."""
        self._stop.set()
        if self._ticker:
            self._ticker.join()
        with self._lock:
            if self.live:
                if self._shown:
                    self._write("\r\033[K")
            elif self.lines_written or self.clock() - self.started >= self.long_s:
                outcome = "done" if success else "stopped"
                self._write(f"dbt build {outcome}: {self._counts()} in {self.clock() - self.started:.1f} s\n")


class Reporter:
    """Progress of a fetch; this one says nothing. See LineReporter and TqdmReporter."""

    def start(self, token: Token, chain: str, n_items: int, item: str = "wallet", note: str = "") -> None: ...
    def item_done(self, index: int, text: str) -> None: ...
    def progress(self, wallet: Wallet, rows: int, calls: int) -> None: ...
    def wallet_done(self, index: int, wallet: Wallet, rows: int, calls: int, path: Path, skipped: bool) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


class LineReporter(Reporter):
    """Plain lines, for logs: one per wallet fetched, one per retry or note."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream
        self.n = self.skipped = 0
        self.item = "wallet"

    def _print(self, text: str) -> None:
        print(f"cexflow fetch: {text}", file=self.stream or sys.stderr, flush=True)

    def start(self, token, chain, n_items, item="wallet", note=""):
        self.n = n_items
        self.item = item
        self._print(f"{token.label} on {chain}: {plural(n_items, item)}" + (f" ({note})" if note else ""))

    def item_done(self, index, text):
        self._print(f"[{index}/{self.n}] {text}")

    def wallet_done(self, index, wallet, rows, calls, path, skipped):
        if skipped:
            self.skipped += 1
            return
        self._print(
            f"[{index}/{self.n}] {wallet.exchange} {wallet.name} {wallet.address}: "
            f"{plural(rows, 'row')}, {plural(calls, 'call')} -> {path.name}"
        )

    def message(self, text):
        self._print(text)

    def close(self):
        if self.skipped:
            self._print(
                f"{plural(self.skipped, self.item)} {'was' if self.skipped == 1 else 'were'} already "
                f"fetched: no calls for {'it' if self.skipped == 1 else 'them'}"
            )


class TqdmReporter(Reporter):
    """A progress bar over the wallets, with the current wallet's rows and calls."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.bar = None

    def start(self, token, chain, n_items, item="wallet", note=""):
        from tqdm import tqdm

        self.bar = tqdm(total=n_items, unit=item, desc=f"{token.label} {chain}", file=self.stream, dynamic_ncols=True)

    def item_done(self, index, text):
        self.bar.set_postfix_str(text)
        self.bar.update(1)

    def progress(self, wallet, rows, calls):
        self.bar.set_postfix_str(f"{wallet.name}: rows={rows} calls={calls}")

    def wallet_done(self, index, wallet, rows, calls, path, skipped):
        self.item_done(index, f"{wallet.name}: rows={rows} calls={calls}")

    def message(self, text):
        self.bar.write(f"cexflow fetch: {text}", file=self.stream)

    def close(self):
        if self.bar is not None:
            self.bar.close()
